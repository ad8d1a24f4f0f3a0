//! The load client of `scripts/load-bench` (until `tonegate replay --calls N` takes
//! over): N ACS calls at 16 kHz, each sending a 20 ms `AudioData` frame every 20 ms (the
//! calls' clocks spread over the 20 ms), opened at 200 calls a second. Each call keys one
//! 80 ms digit every 2 s (both tones -10 dBm0, onsets 0/5/10/15 ms into their frame) in
//! -50 dBm0 noise, cycling through the 16 keys. With `--events`, one SSE connection, read
//! on its own thread, collects the digits.
//!
//! After `--settle` seconds it measures for `--window` seconds, and prints one JSON line:
//! calls connected and refused (503), the server's CPU per second of audio sent (from
//! `/proc/PID/stat`, all threads), its memory per call (VmRSS growth / calls), digits
//! expected / found / missed / wrong / extra, latency (event read - send of the frame
//! holding the onset) p50 / p99 / max, and the client's own send lag p99.
//!
//! `cargo run --release --example load_client -- --url ws://127.0.0.1:8080/media/acs
//!  --events 127.0.0.1:8080 --pid PID --calls 100`

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Command line.
#[derive(Parser, Debug)]
struct Args {
    /// Audio socket URL.
    #[arg(long, default_value = "ws://127.0.0.1:8080/media/acs")]
    url: String,
    /// `HOST:PORT` serving `GET /v1/events`; none: no digits are checked.
    #[arg(long)]
    events: Option<String>,
    /// Server process to measure.
    #[arg(long)]
    pid: u32,
    /// Calls offered.
    #[arg(long, default_value_t = 100)]
    calls: usize,
    /// Seconds from the last call opened to the window.
    #[arg(long, default_value_t = 3.0)]
    settle: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 30.0)]
    window: f64,
    /// Name of the server in the output.
    #[arg(long, default_value = "server")]
    name: String,
}

const RATE: usize = 16_000;
const FRAME: usize = RATE / 50;
/// Frames per digit cycle (2 s); the onset lies in frame [`ONSET_FRAME`].
const CYCLE: u64 = 100;
const ONSET_FRAME: u64 = 50;
const TONE_FRAMES: u64 = 5;
/// Level of a full-scale sine, dBm0 (G.711 mu-law).
const FULL_SCALE_DBM0: f64 = 3.17;
const KEYS: &[u8; 16] = b"123A456B789C*0#D";
const LOW: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const HIGH: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// Precomputed `AudioData` messages: a noise cycle and the tone frames of every key and
/// onset offset.
struct Frames {
    noise: Vec<Message>,
    /// `[key][offset][frame - ONSET_FRAME]`.
    tones: Vec<Vec<Vec<Message>>>,
}

impl Frames {
    fn new() -> Frames {
        // Amplitude of a sine at -10 dBm0 (a full-scale s16 sine is +3.17 dBm0) and the
        // RMS of -50 dBm0 noise.
        let tone_amp = 32_767.0 * 10f64.powf((-10.0 - FULL_SCALE_DBM0) / 20.0);
        let noise_rms = 32_767.0 / 2f64.sqrt() * 10f64.powf((-50.0 - FULL_SCALE_DBM0) / 20.0);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let cycle_len = CYCLE as usize * FRAME;
        let noise: Vec<f64> = (0..cycle_len)
            .map(|_| {
                seed ^= seed >> 12;
                seed ^= seed << 25;
                seed ^= seed >> 27;
                let u =
                    (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
                (u - 0.5) * noise_rms * 12f64.sqrt()
            })
            .collect();
        let message = |samples: &[f64]| {
            let bytes: Vec<u8> = samples
                .iter()
                .flat_map(|&v| (v.round().clamp(-32_768.0, 32_767.0) as i16).to_le_bytes())
                .collect();
            let data = base64::engine::general_purpose::STANDARD.encode(bytes);
            Message::text(format!(
                r#"{{"kind":"AudioData","audioData":{{"timestamp":"2026-11-30T00:00:00Z","participantRawID":"8:acs:load","data":"{data}","silent":false}}}}"#
            ))
        };
        let noise_frames = noise.chunks(FRAME).map(message).collect();
        let tones = (0..16)
            .map(|key| {
                (0..4)
                    .map(|offset| {
                        let onset = ONSET_FRAME as usize * FRAME + offset * 5 * RATE / 1_000;
                        let len = 80 * RATE / 1_000;
                        let (low, high) = (LOW[key / 4], HIGH[key % 4]);
                        let start = ONSET_FRAME as usize * FRAME;
                        let end = start + TONE_FRAMES as usize * FRAME;
                        let samples: Vec<f64> = (start..end)
                            .map(|n| {
                                let t = n.wrapping_sub(onset) as f64 / RATE as f64;
                                let tone = if (onset..onset + len).contains(&n) {
                                    tone_amp
                                        * ((std::f64::consts::TAU * low * t).sin()
                                            + (std::f64::consts::TAU * high * t).sin())
                                } else {
                                    0.0
                                };
                                noise[n] + tone
                            })
                            .collect();
                        samples.chunks(FRAME).map(message).collect()
                    })
                    .collect()
            })
            .collect();
        Frames {
            noise: noise_frames,
            tones,
        }
    }

    fn get(&self, call: usize, index: u64) -> &Message {
        let (cycle, frame) = (index / CYCLE, index % CYCLE);
        if (ONSET_FRAME..ONSET_FRAME + TONE_FRAMES).contains(&frame) {
            &self.tones[key_of(call, cycle)][call % 4][(frame - ONSET_FRAME) as usize]
        } else {
            &self.noise[frame as usize]
        }
    }
}

/// The key call `call` presses in cycle `cycle`.
fn key_of(call: usize, cycle: u64) -> usize {
    (call + cycle as usize) % 16
}

/// What one call saw.
#[derive(Default)]
struct CallLog {
    /// When the frame holding cycle `k`'s onset was sent.
    onsets: Vec<Instant>,
    /// Cycles whose whole tone was sent (a call stopped mid-tone owes no digit).
    complete: usize,
    /// How late each frame's tick fired, µs.
    send_lag_us: Vec<u32>,
}

/// Shared counters.
#[derive(Default)]
struct Counters {
    connected: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    frames: AtomicU64,
}

/// A digit the SSE stream reported.
struct Seen {
    call: usize,
    digit: u8,
    start_ms: f64,
    at: Instant,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let summary = runtime.block_on(run(&args));
    println!("{summary}");
}

async fn run(args: &Args) -> serde_json::Value {
    let frames = Arc::new(Frames::new());
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let sse_stop = Arc::new(AtomicBool::new(false));
    let sse = args.events.clone().map(|addr| {
        let (seen, sse_stop) = (seen.clone(), sse_stop.clone());
        std::thread::spawn(move || read_events(&addr, &seen, &sse_stop))
    });
    let rss_before = rss_kib(args.pid);
    let epoch = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for call in 0..args.calls {
        let opens = epoch + Duration::from_secs_f64(call as f64 / 200.0);
        let phase =
            Duration::from_micros((call as u64 * 20_000 / args.calls.max(1) as u64) % 20_000);
        let (frames, counters, stop) = (frames.clone(), counters.clone(), stop.clone());
        let url = args.url.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(opens).await;
            stream_call(call, &url, phase, &frames, &counters, &stop).await
        }));
    }
    let ramp = Duration::from_secs_f64(args.calls as f64 / 200.0);
    tokio::time::sleep_until(epoch + ramp + Duration::from_secs_f64(args.settle)).await;
    let (cpu0, frames0) = (cpu_ms(args.pid), counters.frames.load(Ordering::Relaxed));
    tokio::time::sleep(Duration::from_secs_f64(args.window)).await;
    let (cpu1, frames1) = (cpu_ms(args.pid), counters.frames.load(Ordering::Relaxed));
    let rss_after = rss_kib(args.pid);
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for task in tasks {
        logs.push(task.await.unwrap_or_default());
    }
    // Events of the last digits.
    tokio::time::sleep(Duration::from_secs(1)).await;
    sse_stop.store(true, Ordering::Relaxed);
    if let Some(thread) = sse {
        let _ = thread.join();
    }
    let connected = counters.connected.load(Ordering::Relaxed);
    let audio_seconds = (frames1 - frames0) as f64 * 0.02;
    let mut summary = serde_json::json!({
        "server": args.name,
        "offered": args.calls,
        "connected": connected,
        "refused": counters.refused.load(Ordering::Relaxed),
        "failed": counters.failed.load(Ordering::Relaxed),
        "cpu_ms_per_call_s": (cpu1 - cpu0) as f64 / audio_seconds.max(1e-9),
        "rss_kib_per_call": (rss_after as f64 - rss_before as f64) / connected.max(1) as f64,
        "send_lag_p99_ms": percentile(
            &mut logs.iter().flat_map(|l| l.send_lag_us.iter().map(|&u| f64::from(u) / 1e3)).collect::<Vec<_>>(),
            0.99,
        ),
    });
    if args.events.is_some() {
        let seen = std::mem::take(&mut *seen.lock().unwrap());
        let digits = score(&logs, &seen);
        summary
            .as_object_mut()
            .unwrap()
            .extend(digits.as_object().unwrap().clone());
    }
    summary
}

/// Streams one call until `stop`; returns its log.
async fn stream_call(
    call: usize,
    url: &str,
    phase: Duration,
    frames: &Frames,
    counters: &Counters,
    stop: &AtomicBool,
) -> CallLog {
    let mut log = CallLog::default();
    let mut request = url.into_client_request().expect("url");
    request.headers_mut().insert(
        "x-ms-call-connection-id",
        format!("load-{call}").parse().expect("header"),
    );
    let ws = match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => ws,
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) if response.status() == 503 => {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            return log;
        }
        Err(_) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            return log;
        }
    };
    counters.connected.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut source) = ws.split();
    // Whatever the server sends is read and dropped.
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = source.next().await {} });
    let metadata = r#"{"kind":"AudioMetadata","audioMetadata":{"subscriptionId":"load","encoding":"PCM","sampleRate":16000,"channels":1,"length":640}}"#;
    if sink.send(Message::text(metadata)).await.is_err() {
        counters.failed.fetch_add(1, Ordering::Relaxed);
        return log;
    }
    let start = tokio::time::Instant::now() + phase;
    let mut ticker = tokio::time::interval_at(start, Duration::from_millis(20));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut index = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let due = ticker.tick().await;
        log.send_lag_us
            .push(due.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        if sink.send(frames.get(call, index).clone()).await.is_err() {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            break;
        }
        counters.frames.fetch_add(1, Ordering::Relaxed);
        if index % CYCLE == ONSET_FRAME {
            #[allow(clippy::disallowed_methods)] // a load client measures wall time
            log.onsets.push(Instant::now());
        }
        if index % CYCLE == ONSET_FRAME + TONE_FRAMES - 1 {
            log.complete += 1;
        }
        index += 1;
    }
    let _ = sink.close().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    log
}

/// Reads `GET /v1/events` until `stop`, noting every `dtmf` event.
fn read_events(addr: &str, seen: &Mutex<Vec<Seen>>, stop: &AtomicBool) {
    let mut tcp = std::net::TcpStream::connect(addr).expect("events connect");
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = write!(
        tcp,
        "GET /v1/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    );
    let mut reader = BufReader::new(tcp);
    let mut line = String::new();
    while !stop.load(Ordering::Relaxed) {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => break,
        }
        #[allow(clippy::disallowed_methods)] // a load client measures wall time
        let at = Instant::now();
        let Some(data) = line.trim_end().strip_prefix("data: ") else {
            continue;
        };
        let Ok(event) = serde_json::from_str::<serde_json::Value>(data) else {
            continue;
        };
        if event["type"] != "dtmf" {
            continue;
        }
        let call = event["callId"]
            .as_str()
            .and_then(|c| c.strip_prefix("load-"))
            .and_then(|c| c.parse().ok());
        let digit = event["digit"].as_str().and_then(|d| d.bytes().next());
        if let (Some(call), Some(digit), Some(start_ms)) = (call, digit, event["startMs"].as_f64())
        {
            seen.lock().unwrap().push(Seen {
                call,
                digit,
                start_ms,
                at,
            });
        }
    }
}

/// Digits expected, found, missed, wrong and extra, and latency percentiles.
fn score(logs: &[CallLog], seen: &[Seen]) -> serde_json::Value {
    let mut found: HashMap<(usize, usize), &Seen> = HashMap::new();
    let (mut wrong, mut extra) = (0, 0);
    for s in seen {
        let cycle = (s.start_ms / 2_000.0).floor().max(0.0) as usize;
        let expected = KEYS[key_of(s.call, cycle as u64)];
        let Some(log) = logs.get(s.call) else {
            extra += 1;
            continue;
        };
        if cycle >= log.complete && cycle < log.onsets.len() {
            // A tone cut short by the end of the call: neither owed nor extra.
            continue;
        }
        if cycle >= log.onsets.len() {
            extra += 1;
        } else if s.digit != expected {
            wrong += 1;
        } else if found.insert((s.call, cycle), s).is_some() {
            extra += 1;
        }
    }
    let expected: usize = logs.iter().map(|l| l.complete).sum();
    let mut latency: Vec<f64> = found
        .iter()
        .map(|(&(call, cycle), s)| {
            s.at.saturating_duration_since(logs[call].onsets[cycle])
                .as_secs_f64()
                * 1e3
        })
        .collect();
    serde_json::json!({
        "digits_expected": expected,
        "digits_found": found.len(),
        "digits_missed": expected - found.len(),
        "digits_wrong": wrong,
        "digits_extra": extra,
        "latency_p50_ms": percentile(&mut latency, 0.5),
        "latency_p99_ms": percentile(&mut latency, 0.99),
        "latency_max_ms": percentile(&mut latency, 1.0),
    })
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[((values.len() - 1) as f64 * p).round() as usize]
}

/// User + system CPU time of process `pid`, ms (`/proc/PID/stat`, 100 ticks a second).
fn cpu_ms(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_ascii_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    ticks * 10
}

/// VmRSS of process `pid`, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
