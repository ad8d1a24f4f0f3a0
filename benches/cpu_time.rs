//! Throughput by CPU time: the detector and the receiver at 8, 16, 24 and 48 kHz over
//! 30 s of keyed digits in faint noise, and the path of `tonegate detect` on a 16-bit
//! WAV file (reading and decoding the file from memory, then the receiver), timed with
//! this thread's CPU clock, so the figures hold on a machine busy with other work
//! (criterion's wall-clock figures in `benches/detector.rs` do not). Prints samples per
//! second and x real time per core.
//!
//! Last, the load's cache behaviour: many 16 kHz receivers fed round-robin one 20 ms frame
//! each, as a server's calls are, so each call's state has left the core's caches when
//! its next frame comes. Prints milliseconds of CPU per second of call audio. Then the
//! same for whole connections (the server's per-frame work without the socket): each
//! call's ACS JSON frame parsed, its base64 decoded, the session and the receiver run
//! and the outputs drained.
//!
//! `cargo bench --bench cpu_time`

mod common;

use std::io::Cursor;
use std::time::Duration;

use base64::Engine;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::connection::{Connection, Host, Message, Output};
use tonegate::dsp::Digit;
use tonegate::dsp::dtmf::{Config, Detector};
use tonegate::dsp::tone::{Cadence, render_digits};
use tonegate::media::wav::{self, WavReader};
use tonegate::proto::Dialect;
use tonegate::receiver::Receiver;

const SECONDS: usize = 30;

/// CPU time this thread has used, in seconds.
#[allow(unsafe_code)] // One libc call; see SAFETY below.
fn thread_cpu_seconds() -> f64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "thread CPU clock unavailable");
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}

fn report(name: &str, rate: SampleRate, samples: usize, seconds: f64, digits: usize) {
    let per_second = samples as f64 / seconds;
    println!(
        "{name:<24} {per_second:>10.3e} input samples/s  {:>8.0}x real time  ({digits} digits)",
        per_second / f64::from(rate.hz())
    );
}

fn main() {
    let rate = SampleRate::HZ_8000;
    let samples = common::keyed_digits(rate, SECONDS);
    let mut detector = Detector::new(Config::default()).unwrap();
    let mut digits = 0;
    let start = thread_cpu_seconds();
    detector.process(&samples, &mut |_| digits += 1);
    report(
        "detector 8000 Hz",
        rate,
        samples.len(),
        thread_cpu_seconds() - start,
        digits / 2,
    );
    // The file path: a 16-bit WAV in memory, read 4 096 frames at a time as `detect` does.
    let mut file = Vec::new();
    wav::write_wav(&mut file, rate.hz(), 1, Encoding::S16le, &samples).unwrap();
    let mut receiver = Receiver::new(rate, Config::default()).unwrap();
    let mut frames = vec![0.0f32; 4_096];
    let mut digits = 0;
    let start = thread_cpu_seconds();
    let mut reader = WavReader::new(Cursor::new(&file)).unwrap();
    loop {
        let read = reader.read_frames(&mut frames).unwrap();
        if read == 0 {
            break;
        }
        receiver.process(&frames[..read], &mut |_| digits += 1);
    }
    receiver.flush(&mut |_| digits += 1);
    report(
        "s16 WAV + receiver 8000",
        rate,
        samples.len(),
        thread_cpu_seconds() - start,
        digits / 2,
    );
    for hz in [8_000, 16_000, 24_000, 48_000] {
        let rate = SampleRate::new(hz).unwrap();
        let samples = common::keyed_digits(rate, SECONDS);
        let mut receiver = Receiver::new(rate, Config::default()).unwrap();
        let mut digits = 0;
        let start = thread_cpu_seconds();
        for frame in samples.chunks(hz as usize / 50) {
            receiver.process(frame, &mut |_| digits += 1);
        }
        let name = format!("receiver {hz} Hz");
        report(
            &name,
            rate,
            samples.len(),
            thread_cpu_seconds() - start,
            digits / 2,
        );
    }
    for calls in [1_000, 4_000] {
        round_robin(calls);
    }
    for calls in [1_000, 4_000] {
        connections_round_robin(calls);
    }
}

/// Seconds of audio each call of [`round_robin`] gets.
const ROUND_ROBIN_SECONDS: usize = 10;

/// `calls` receivers at 16 kHz, each fed one 20 ms frame in turn (all calls hear the same
/// keyed digits): prints the CPU per second of call audio and the digits found per call.
fn round_robin(calls: usize) {
    let rate = SampleRate::HZ_16000;
    let samples = common::keyed_digits(rate, ROUND_ROBIN_SECONDS);
    let mut receivers: Vec<Receiver> = (0..calls)
        .map(|_| Receiver::new(rate, Config::default()).unwrap())
        .collect();
    let mut events = 0usize;
    let start = thread_cpu_seconds();
    for frame in samples.chunks(rate.hz() as usize / 50) {
        for receiver in &mut receivers {
            receiver.process(frame, &mut |_| events += 1);
        }
    }
    let seconds = thread_cpu_seconds() - start;
    let call_seconds = (calls * samples.len()) as f64 / f64::from(rate.hz());
    let name = format!("{calls} calls 16000 Hz");
    report_per_call(&name, seconds, call_seconds, events / 2 / calls);
}

/// Prints a round-robin row: CPU `seconds` spent on `call_seconds` of call audio.
fn report_per_call(name: &str, seconds: f64, call_seconds: f64, digits_per_call: usize) {
    println!(
        "{name:<24} {:>10.4} ms CPU per call-second  ({digits_per_call} digits per call)",
        seconds * 1e3 / call_seconds,
    );
}

/// Accepts every callback URI (the frames name none).
struct AcceptAll;

impl Host for AcceptAll {
    type Refusal = &'static str;
    fn check_callback(&mut self, uri: &str) -> Result<String, &'static str> {
        Ok(uri.to_owned())
    }
}

/// `calls` ACS connections at 16 kHz with the server's default settings, each handed one
/// 20 ms `AudioData` frame in turn (all calls hear the load bench's audio: one key every
/// 2 s in faint noise), outputs drained after each: prints the CPU per second of call
/// audio and the digits found per call.
fn connections_round_robin(calls: usize) {
    let rate = SampleRate::HZ_16000;
    let samples = sparse_digits(rate, 2 * ROUND_ROBIN_SECONDS);
    let config = tonegate::server::Config::default().connection().unwrap();
    let metadata = serde_json::json!({
        "kind": "AudioMetadata",
        "audioMetadata": {"encoding": "PCM", "sampleRate": rate.hz(), "channels": 1, "length": 640},
    })
    .to_string();
    let frames: Vec<String> = samples
        .chunks(rate.hz() as usize / 50)
        .map(|frame| {
            let pcm: Vec<u8> = frame
                .iter()
                .flat_map(|x| ((x * 32_767.0) as i16).to_le_bytes())
                .collect();
            serde_json::json!({
                "kind": "AudioData",
                "audioData": {
                    "data": base64::engine::general_purpose::STANDARD.encode(pcm),
                    "participantRawID": "4:+15550100000",
                    "silent": false,
                },
            })
            .to_string()
        })
        .collect();
    let mut connections: Vec<Connection> = (0..calls)
        .map(|i| {
            let call = Some(format!("call-{i}"));
            let now = std::time::Duration::ZERO;
            let mut c = Connection::new(
                config.clone(),
                Some(Dialect::Acs),
                call,
                i.to_string(),
                None,
                now,
            );
            c.handle_message(now, Message::Text(&metadata), &mut AcceptAll);
            c
        })
        .collect();
    let mut digits = 0usize;
    let mut drain = |c: &mut Connection| loop {
        match c.poll_output() {
            Output::Timeout(_) => break,
            Output::Event(event) => {
                digits += usize::from(matches!(event.kind, tonegate::session::EventKind::Dtmf(_)))
            }
            Output::Close(close) => panic!("closed: {close:?}"),
            Output::Transmit(_) | Output::Load(_) => {}
        }
    };
    connections.iter_mut().for_each(&mut drain);
    let start = thread_cpu_seconds();
    for (n, frame) in frames.iter().enumerate() {
        let now = std::time::Duration::from_millis(20 * n as u64);
        for c in &mut connections {
            // As the server's socket task does when the socket wakes.
            tonegate_dsp::cache::prefetch(&*c);
            c.prefetch_participants();
            c.handle_message(now, Message::Text(frame), &mut AcceptAll);
            drain(c);
        }
    }
    let seconds = thread_cpu_seconds() - start;
    let call_seconds = (calls * samples.len()) as f64 / f64::from(rate.hz());
    let name = format!("{calls} connections ACS");
    report_per_call(&name, seconds, call_seconds, digits / calls);
}

/// `seconds` of a load-bench call: one 80 ms key (both tones at -10 dBm0) every 2 s in
/// white noise at -50 dBm0 over 0-4 kHz (uniform, seeded), at `rate`.
fn sparse_digits(rate: SampleRate, seconds: usize) -> Vec<f32> {
    let cadence = Cadence {
        on: Duration::from_millis(80),
        off: Duration::from_millis(0),
        level_dbm0: -10.0,
    };
    let period = rate.hz() as usize * 2;
    let band_power = tonegate::dsp::level::dbm0_to_peak(-50.0).powi(2) / 2.0;
    let amplitude = (3.0 * band_power * rate.hz() as f32 / 8_000.0).sqrt();
    let mut seed = 0x9e37_79b9_u32;
    let mut samples = Vec::with_capacity(rate.hz() as usize * seconds);
    for n in 0..seconds.div_ceil(2) {
        let digit = Digit::from_char(b"0123456789*#ABCD"[n % 16] as char).unwrap();
        let mut period_samples = render_digits(&[digit], cadence, rate).unwrap();
        period_samples.resize(period, 0.0);
        samples.extend(period_samples.iter().map(|x| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            x + ((seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0) * amplitude
        }));
    }
    samples.truncate(rate.hz() as usize * seconds);
    samples
}
