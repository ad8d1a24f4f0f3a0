//! Outbound audio engine for one call: a queue of prompts, DTMF digit sequences and
//! marks, played out in frames the caller asks for.
//!
//! [`Prompt`]s are decoded once (any WAV tonegate reads: PCM, float, G.711; any rate; the
//! channels mixed down) and converted to the stream's rate when they are made; the
//! [`Player`] then only copies samples. Encoding to the wire and pacing belong to the
//! session; the player reports where in each frame an item started, ended or a mark
//! passed, as sample offsets.

use std::collections::VecDeque;
use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use tonegate_dsp::SampleRate;
use tonegate_dsp::codec::Encoding;
use tonegate_dsp::dsp::Digit;
use tonegate_dsp::dsp::tone::{Cadence, DigitSender};
use tonegate_dsp::wav;

/// Why a prompt could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The WAV file could not be read.
    #[error(transparent)]
    Wav(#[from] wav::Error),
    /// The file's rate is outside 8-48 kHz.
    #[error("unsupported sample rate {0} Hz")]
    Rate(u32),
    /// The digit level is not finite.
    #[error(transparent)]
    Tone(#[from] tonegate_dsp::dsp::tone::Error),
    /// The file holds more audio than allowed (found from its header, before decoding).
    #[error("prompt of {ms} ms is longer than the {max_ms} ms allowed")]
    TooLong {
        /// Length of the audio the file holds, ms.
        ms: u64,
        /// The limit, ms.
        max_ms: u64,
    },
}

/// Audio ready to play at one stream rate (mono, f32, full scale 1.0). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Prompt {
    samples: Arc<[f32]>,
    rate: SampleRate,
}

impl PartialEq for Prompt {
    /// Same rate and samples.
    fn eq(&self, other: &Prompt) -> bool {
        self.rate == other.rate
            && (Arc::ptr_eq(&self.samples, &other.samples) || self.samples == other.samples)
    }
}

impl Prompt {
    /// Wraps samples already at `rate`.
    pub fn from_samples(samples: impl Into<Arc<[f32]>>, rate: SampleRate) -> Prompt {
        Prompt {
            samples: samples.into(),
            rate,
        }
    }

    /// Decodes a whole WAV file of any length and converts it to mono at `rate` (for
    /// trusted files; see [`Prompt::from_wav_within`] for files peers choose).
    pub fn from_wav(bytes: &[u8], rate: SampleRate) -> Result<Prompt, Error> {
        Prompt::from_wav_within(bytes, rate, Duration::MAX)
    }

    /// Decodes a whole WAV file and converts it to mono at `rate`, refusing with
    /// [`Error::TooLong`] (before decoding) a file of more than `max_len` of audio.
    pub fn from_wav_within(
        bytes: &[u8],
        rate: SampleRate,
        max_len: Duration,
    ) -> Result<Prompt, Error> {
        let decoded = Prompt::decode_wav(bytes, max_len)?;
        let samples = convert_rate(&decoded.samples, decoded.rate, rate);
        Ok(Prompt::from_samples(samples, rate))
    }

    /// Decodes a whole WAV file to mono at the file's own rate, refusing with
    /// [`Error::TooLong`] (before decoding) a file of more than `max_len` of audio.
    pub fn decode_wav(bytes: &[u8], max_len: Duration) -> Result<Prompt, Error> {
        // The reader decodes every WAV flavour: linear PCM, float, mu-law and A-law.
        let mut reader = wav::WavReader::new(Cursor::new(bytes))?;
        let channels = usize::from(reader.channels());
        let file_rate =
            SampleRate::new(reader.sample_rate()).map_err(|_| Error::Rate(reader.sample_rate()))?;
        // The reader stops at the announced length, and a frame takes `block_align`
        // bytes of the file: the smaller bound is the most audio decoding can yield.
        let frames = reader
            .len_frames()
            .min(bytes.len() as u64 / u64::from(reader.header().block_align()));
        let ms = frames.saturating_mul(1_000) / u64::from(file_rate.hz());
        let max_ms = u64::try_from(max_len.as_millis()).unwrap_or(u64::MAX);
        if ms > max_ms {
            return Err(Error::TooLong { ms, max_ms });
        }
        let mut interleaved = Vec::new();
        let mut buf = vec![0.0; 4_096 * channels];
        loop {
            let frames = reader.read_frames(&mut buf)?;
            if frames == 0 {
                break;
            }
            interleaved.extend_from_slice(&buf[..frames * channels]);
        }
        Ok(Prompt::from_samples(
            mix_down(&interleaved, channels),
            file_rate,
        ))
    }

    /// The samples.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// The rate the samples are at.
    pub fn rate(&self) -> SampleRate {
        self.rate
    }

    /// Length in samples.
    pub fn len_samples(&self) -> usize {
        self.samples.len()
    }
}

/// Converts a whole buffer from one rate to another with [`tonegate_dsp::resample::Resampler`]
/// (allocates; for prompts, not the hot path). The output is `len * to / from` samples,
/// aligned with the input (the filter delay is removed).
pub fn convert_rate(samples: &[f32], from: SampleRate, to: SampleRate) -> Vec<f32> {
    if from == to {
        return samples.to_vec();
    }
    let Ok(mut resampler) = tonegate_dsp::resample::Resampler::new(from, to) else {
        return samples.to_vec();
    };
    let mut out = vec![0.0; resampler.max_output_len(samples.len()) + resampler.max_flush_len()];
    let mut n = resampler.process(samples, &mut out);
    n += resampler.flush(&mut out[n..]);
    out.truncate(n);
    out
}

fn mix_down(interleaved: &[f32], channels: usize) -> Vec<f32> {
    if channels <= 1 {
        return interleaved.to_vec();
    }
    interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect()
}

/// What a queued item plays.
#[derive(Debug, Clone)]
pub enum Source {
    /// A prompt.
    Prompt(Prompt),
    /// A DTMF digit sequence.
    Digits(DigitSender),
}

impl Source {
    /// A digit sequence at `rate` with `cadence`.
    pub fn digits(digits: &[Digit], cadence: Cadence, rate: SampleRate) -> Result<Source, Error> {
        Ok(Source::Digits(DigitSender::new(digits, cadence, rate)?))
    }

    /// Length in samples (of one pass, for a looped item).
    pub fn len_samples(&self) -> usize {
        match self {
            Source::Prompt(p) => p.len_samples(),
            Source::Digits(d) => d.len_samples(),
        }
    }
}

/// Who queued an item, and so who hears about its start, end and cancellation: the
/// call's client (a raw `play` or `sendDigits`, under the id the client chose) or a
/// media operation. A tag, not an id convention: a client may pick any id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    /// The client, under its own id.
    Client(Arc<str>),
    /// A media operation of the session.
    Operation(OperationId),
}

/// The number a session gives one media operation's audio (from 1, per call).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperationId(pub u64);

impl std::fmt::Display for OperationId {
    /// `tonegate-op-<n>` (names the audio in Twilio marks and logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tonegate-op-{}", self.0)
    }
}

impl std::fmt::Display for Owner {
    /// The client's id, or the operation's [`OperationId`] name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Client(id) => f.write_str(id),
            Owner::Operation(op) => op.fmt(f),
        }
    }
}

/// Something that happened while filling a frame; `offset` is the sample offset within
/// the buffer given to [`Player::fill`] (or 0 for [`Player::clear`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The item's first sample was written.
    Started {
        /// Who queued the item.
        owner: Owner,
    },
    /// The item's last sample was written; it ends `offset` samples into the buffer.
    Finished {
        /// Who queued the item.
        owner: Owner,
        /// Offset of the end.
        offset: usize,
    },
    /// The audio before the mark ends `offset` samples into the buffer.
    Mark {
        /// Mark name.
        name: Arc<str>,
        /// Offset of the mark.
        offset: usize,
    },
    /// The item was dropped by [`Player::clear`] before it finished.
    Canceled {
        /// Who queued the item.
        owner: Owner,
    },
}

#[derive(Debug)]
enum Entry {
    Play {
        owner: Owner,
        source: Source,
        looped: bool,
        position: usize,
        started: bool,
    },
    Mark(Arc<str>),
}

/// The queue of outbound audio of one call.
#[derive(Debug)]
pub struct Player {
    rate: SampleRate,
    queue: VecDeque<Entry>,
}

impl Player {
    /// An empty player at the stream's rate.
    pub fn new(rate: SampleRate) -> Player {
        Player {
            rate,
            queue: VecDeque::new(),
        }
    }

    /// The stream rate.
    pub fn rate(&self) -> SampleRate {
        self.rate
    }

    /// Queues an item of `owner`. A looped item plays until [`Player::clear`]; an empty
    /// one is never looped.
    pub fn enqueue(&mut self, owner: Owner, source: Source, looped: bool) {
        let looped = looped && source.len_samples() > 0;
        self.queue.push_back(Entry::Play {
            owner,
            source,
            looped,
            position: 0,
            started: false,
        });
    }

    /// Queues a mark, reported when the audio queued before it has been written.
    pub fn enqueue_mark(&mut self, name: Arc<str>) {
        self.queue.push_back(Entry::Mark(name));
    }

    /// Whether nothing is queued.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Samples still to play (a looped item counts once).
    pub fn queued_samples(&self) -> u64 {
        self.queue
            .iter()
            .map(|e| match e {
                Entry::Play {
                    source, position, ..
                } => source.len_samples().saturating_sub(*position) as u64,
                Entry::Mark(_) => 0,
            })
            .sum()
    }

    /// Writes the next `out.len()` samples (silence after the queue runs out) and
    /// returns how many came from queued items; 0 means the player was idle and `out`
    /// is silence.
    pub fn fill(&mut self, out: &mut [f32], on_event: &mut impl FnMut(Event)) -> usize {
        let mut written = 0;
        while written < out.len() {
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            match front {
                Entry::Mark(name) => {
                    on_event(Event::Mark {
                        name: name.clone(),
                        offset: written,
                    });
                    self.queue.pop_front();
                }
                Entry::Play {
                    owner,
                    source,
                    looped,
                    position,
                    started,
                } => {
                    if !*started {
                        *started = true;
                        on_event(Event::Started {
                            owner: owner.clone(),
                        });
                    }
                    let space = &mut out[written..];
                    let n = match source {
                        Source::Prompt(p) => {
                            let rest = &p.samples()[(*position).min(p.len_samples())..];
                            let n = rest.len().min(space.len());
                            space[..n].copy_from_slice(&rest[..n]);
                            n
                        }
                        Source::Digits(d) => d.process(space),
                    };
                    written += n;
                    *position += n;
                    if *position >= source.len_samples() {
                        if *looped {
                            *position = 0;
                        } else {
                            on_event(Event::Finished {
                                owner: owner.clone(),
                                offset: written,
                            });
                            self.queue.pop_front();
                        }
                    }
                }
            }
        }
        out[written..].fill(0.0);
        written
    }

    /// Drops everything queued: `Canceled` for each play item, `Mark` (offset 0) for
    /// each mark, in queue order.
    pub fn clear(&mut self, on_event: &mut impl FnMut(Event)) {
        for entry in self.queue.drain(..) {
            match entry {
                Entry::Play { owner, .. } => on_event(Event::Canceled { owner }),
                Entry::Mark(name) => on_event(Event::Mark { name, offset: 0 }),
            }
        }
    }
}

/// Bytes of one encoded frame of `samples` samples.
pub fn encoded_len(encoding: Encoding, samples: usize) -> usize {
    samples * encoding.bytes_per_sample()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn client(s: &str) -> Owner {
        Owner::Client(id(s))
    }

    #[test]
    fn plays_items_back_to_back_and_reports_offsets() {
        let rate = SampleRate::HZ_8000;
        let mut player = Player::new(rate);
        player.enqueue(
            client("a"),
            Source::Prompt(Prompt::from_samples(vec![0.5; 250], rate)),
            false,
        );
        player.enqueue_mark(id("m"));
        player.enqueue(
            client("b"),
            Source::Prompt(Prompt::from_samples(vec![0.25; 10], rate)),
            false,
        );
        let mut out = [0.0; 160];
        let mut events = Vec::new();
        assert_eq!(player.fill(&mut out, &mut |e| events.push(e)), 160);
        assert_eq!(events, vec![Event::Started { owner: client("a") }]);
        events.clear();
        assert_eq!(player.fill(&mut out, &mut |e| events.push(e)), 100);
        assert_eq!(out[89], 0.5);
        assert_eq!(out[90], 0.25);
        assert_eq!(out[99], 0.25);
        assert_eq!(out[100], 0.0);
        assert_eq!(
            events,
            vec![
                Event::Finished {
                    owner: client("a"),
                    offset: 90
                },
                Event::Mark {
                    name: id("m"),
                    offset: 90
                },
                Event::Started { owner: client("b") },
                Event::Finished {
                    owner: client("b"),
                    offset: 100
                },
            ]
        );
        assert!(player.is_idle());
        assert_eq!(player.fill(&mut out, &mut |_| {}), 0);
    }

    #[test]
    fn loops_until_cleared() {
        let rate = SampleRate::HZ_8000;
        let mut player = Player::new(rate);
        player.enqueue(
            client("l"),
            Source::Prompt(Prompt::from_samples(vec![0.1; 7], rate)),
            true,
        );
        let mut out = [0.0; 160];
        for _ in 0..5 {
            assert_eq!(player.fill(&mut out, &mut |_| {}), 160);
        }
        let mut events = Vec::new();
        player.clear(&mut |e| events.push(e));
        assert_eq!(events, vec![Event::Canceled { owner: client("l") }]);
        assert!(player.is_idle());
    }

    #[test]
    fn reads_wav_prompts_at_another_rate() {
        let mut file = Vec::new();
        wav::write_wav(&mut file, 8_000, 1, Encoding::Ulaw, &[0.0; 800]).unwrap();
        let prompt = Prompt::from_wav(&file, SampleRate::HZ_16000).unwrap();
        assert_eq!(prompt.len_samples(), 1_600);
        assert!(Prompt::from_wav(b"garbage", SampleRate::HZ_8000).is_err());
    }

    #[test]
    fn refuses_too_long_prompts_from_the_header() {
        // 2 s of 8 kHz mu-law: 16 kB that would become 96 000 samples at 48 kHz.
        let mut file = Vec::new();
        wav::write_wav(&mut file, 8_000, 1, Encoding::Ulaw, &[0.0; 16_000]).unwrap();
        let within =
            |ms| Prompt::from_wav_within(&file, SampleRate::HZ_48000, Duration::from_millis(ms));
        assert!(matches!(
            within(1_999),
            Err(Error::TooLong {
                ms: 2_000,
                max_ms: 1_999
            })
        ));
        assert_eq!(within(2_000).unwrap().len_samples(), 96_000);
        // A header announcing more than the file holds is judged by the bytes present
        // (the header's own bytes counted as audio too).
        let mut lying = file.clone();
        let len = lying.len();
        lying[len - 16_000 - 4..len - 16_000].copy_from_slice(&u32::MAX.to_le_bytes());
        let decode = |ms| Prompt::decode_wav(&lying, Duration::from_millis(ms));
        assert!(matches!(decode(1_999), Err(Error::TooLong { .. })));
        assert!(!matches!(decode(2_100), Err(Error::TooLong { .. })));
    }
}
