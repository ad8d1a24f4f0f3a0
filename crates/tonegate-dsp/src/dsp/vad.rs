//! Voice activity detection: where a caller starts and stops speaking.
//!
//! Energy per 10 ms block against an adaptive noise floor, with a zero-crossing check
//! that keeps hiss from counting as voice: voiced speech crosses zero at its low
//! formants' rate, broadband noise at nearly every other sample. Speech starts after
//! [`Config::onset`] of voiced blocks (reported at the first of them) and ends after
//! `end_silence` without any (reported at the end of the last). A steady tone loud
//! enough counts as voice: DTMF is told apart by the DTMF detector, not here; the caller
//! feeds what that detector found to be a tone through [`Detector::process_masked`]. Positions are samples at the detector's rate from the first sample fed, so
//! a file and a live stream give the same answers. Allocation-free after construction.

use std::time::Duration;

use super::level;
use crate::SampleRate;

/// Detector thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// A block is voiced when its level is this far above the noise floor. Default 12 dB.
    pub above_floor_db: f32,
    /// ... and at least this loud. Default -45 dBm0.
    pub min_level_dbm0: f32,
    /// Voiced time before speech counts as started. Default 60 ms.
    pub onset: Duration,
    /// Silence after speech before it counts as ended. Default 1 s (Call Automation's
    /// `endSilenceTimeoutInMs` sets it per recognize).
    pub end_silence: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            above_floor_db: 12.0,
            min_level_dbm0: -45.0,
            onset: Duration::from_millis(60),
            end_silence: Duration::from_secs(1),
        }
    }
}

/// What the detector found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Speech started at this sample position.
    Started(u64),
    /// Speech ended at this sample position (the end of its last voiced block).
    Ended(u64),
}

/// Block length: 10 ms.
const BLOCK_MS: f64 = 10.0;
/// The noise floor follows quieter blocks at once and louder non-speech blocks by this
/// share of the difference (in dB) per block.
const FLOOR_RISE: f32 = 0.02;
/// Zero crossings per sample above which a block is hiss, not voice (white noise
/// crosses at about 0.5).
const MAX_VOICED_CROSSINGS: f32 = 0.35;
/// The floor never drops below this (digital silence would make any click speech).
const FLOOR_MIN_DBM0: f32 = -70.0;

/// A voice activity detector for one stream.
#[derive(Debug, Clone)]
pub struct Detector {
    config: Config,
    block_len: usize,
    onset_blocks: u32,
    end_blocks: u32,
    /// Current block: energy sum, zero crossings, samples, last sample's sign.
    energy: f64,
    crossings: u32,
    filled: usize,
    last_positive: bool,
    floor_db: f32,
    position: u64,
    voiced_run: u32,
    run_start: u64,
    silent_run: u32,
    speaking: bool,
    last_voiced_end: u64,
    /// The samples being fed are known not to be voice.
    masked: bool,
}

impl Detector {
    /// A detector at `rate`.
    pub fn new(config: Config, rate: SampleRate) -> Detector {
        let block_len = rate.ms_to_samples(BLOCK_MS).max(1);
        let blocks = |d: Duration| ((d.as_secs_f64() * 1000.0 / BLOCK_MS).ceil() as u32).max(1);
        Detector {
            onset_blocks: blocks(config.onset),
            end_blocks: blocks(config.end_silence),
            config,
            block_len,
            energy: 0.0,
            crossings: 0,
            filled: 0,
            last_positive: false,
            floor_db: FLOOR_MIN_DBM0,
            position: 0,
            voiced_run: 0,
            run_start: 0,
            silent_run: 0,
            speaking: false,
            last_voiced_end: 0,
            masked: false,
        }
    }

    /// Whether speech is going on (started and not yet ended).
    pub fn is_speaking(&self) -> bool {
        self.speaking
    }

    /// Samples fed so far.
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Feeds samples (full scale 1.0); `emit` gets what they reveal, in order.
    pub fn process(&mut self, samples: &[f32], emit: &mut impl FnMut(Event)) {
        for &s in samples {
            self.energy += f64::from(s) * f64::from(s);
            let positive = s >= 0.0;
            if positive != self.last_positive {
                self.crossings += 1;
                self.last_positive = positive;
            }
            self.filled += 1;
            self.position += 1;
            if self.filled == self.block_len {
                self.end_block(emit);
            }
        }
    }

    /// Feeds samples known not to be voice (a DTMF tone the DTMF detector found): their
    /// blocks count as silence, end a voiced run that had begun, and leave the noise
    /// floor where it was (a tone is no measure of the line's noise).
    pub fn process_masked(&mut self, samples: &[f32], emit: &mut impl FnMut(Event)) {
        self.masked = true;
        self.process(samples, emit);
        self.masked = false;
    }

    fn end_block(&mut self, emit: &mut impl FnMut(Event)) {
        let mean = (self.energy / self.block_len as f64) as f32;
        // RMS of a sine is peak / sqrt(2): compare with the 0 dBm0 sine's RMS.
        let rms = mean.sqrt() * std::f32::consts::SQRT_2;
        let level_db = level::peak_to_dbm0(rms);
        let crossings = self.crossings;
        self.energy = 0.0;
        self.crossings = 0;
        self.filled = 0;
        let loud = level_db >= self.config.min_level_dbm0
            && level_db >= self.floor_db + self.config.above_floor_db;
        let hiss = crossings as f32 > MAX_VOICED_CROSSINGS * self.block_len as f32;
        let voiced = loud && !hiss && !self.masked;
        let block_start = self.position - self.block_len as u64;
        if voiced {
            if self.voiced_run == 0 {
                self.run_start = block_start;
            }
            self.voiced_run += 1;
            self.silent_run = 0;
            self.last_voiced_end = self.position;
            if !self.speaking && self.voiced_run >= self.onset_blocks {
                self.speaking = true;
                emit(Event::Started(self.run_start));
            }
        } else {
            self.voiced_run = 0;
            if !loud && !self.masked {
                self.follow_floor(level_db);
            }
            if self.speaking {
                self.silent_run += 1;
                if self.silent_run >= self.end_blocks {
                    self.speaking = false;
                    self.silent_run = 0;
                    emit(Event::Ended(self.last_voiced_end));
                }
            }
        }
    }

    fn follow_floor(&mut self, level_db: f32) {
        let level_db = level_db.max(FLOOR_MIN_DBM0);
        self.floor_db = if level_db < self.floor_db {
            level_db
        } else {
            self.floor_db + FLOOR_RISE * (level_db - self.floor_db)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: SampleRate = SampleRate::HZ_8000;

    /// A voice-like signal: a 140 Hz buzz with harmonics whose pitch wanders, at about
    /// -20 dBm0.
    fn voice(ms: u32, seed: u32) -> Vec<f32> {
        let n = RATE.ms_to_samples(f64::from(ms));
        let mut phase = 0.0f32;
        (0..n)
            .map(|i| {
                let t = i as f32 / 8_000.0;
                let pitch = 140.0 + 30.0 * (t * 3.0 + seed as f32).sin();
                phase += 2.0 * std::f32::consts::PI * pitch / 8_000.0;
                let s: f32 = (1..8).map(|h| (phase * h as f32).sin() / h as f32).sum();
                s * 0.05 * (1.0 + 0.5 * (t * 7.0).sin())
            })
            .collect()
    }

    fn silence(ms: u32) -> Vec<f32> {
        vec![0.0; RATE.ms_to_samples(f64::from(ms))]
    }

    fn run(detector: &mut Detector, parts: &[Vec<f32>], chunk: usize) -> Vec<Event> {
        let all: Vec<f32> = parts.concat();
        let mut events = Vec::new();
        for c in all.chunks(chunk) {
            detector.process(c, &mut |e| events.push(e));
        }
        events
    }

    #[test]
    fn speech_starts_at_its_onset_and_ends_after_the_end_silence() {
        let mut d = Detector::new(Config::default(), RATE);
        let events = run(&mut d, &[silence(500), voice(800, 1), silence(1_500)], 160);
        assert_eq!(events.len(), 2, "{events:?}");
        let Event::Started(start) = events[0] else {
            panic!("{events:?}")
        };
        let Event::Ended(end) = events[1] else {
            panic!("{events:?}")
        };
        let ms = |s: u64| s as f64 / 8.0;
        assert!((ms(start) - 500.0).abs() <= 20.0, "start {}", ms(start));
        assert!((ms(end) - 1_300.0).abs() <= 20.0, "end {}", ms(end));
        assert!(!d.is_speaking());
    }

    #[test]
    fn a_pause_shorter_than_the_end_silence_does_not_end_speech() {
        let config = Config {
            end_silence: Duration::from_millis(700),
            ..Config::default()
        };
        let mut d = Detector::new(config, RATE);
        let events = run(
            &mut d,
            &[
                silence(300),
                voice(400, 1),
                silence(400),
                voice(400, 2),
                silence(300),
            ],
            80,
        );
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(d.is_speaking());
    }

    #[test]
    fn chunk_sizes_do_not_change_the_answer() {
        let parts = [
            silence(250),
            voice(600, 3),
            silence(1_200),
            voice(300, 4),
            silence(1_100),
        ];
        let whole = run(
            &mut Detector::new(Config::default(), RATE),
            &parts,
            usize::MAX,
        );
        for chunk in [1, 7, 160, 333] {
            let events = run(&mut Detector::new(Config::default(), RATE), &parts, chunk);
            assert_eq!(events, whole, "chunk {chunk}");
        }
        assert_eq!(whole.len(), 4);
    }

    #[test]
    fn silence_a_noise_floor_and_loud_hiss_are_not_speech() {
        let mut d = Detector::new(Config::default(), RATE);
        let n = RATE.ms_to_samples(2_000.0);
        let mut noise_state = 1u32;
        let mut noise = |scale: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    noise_state = noise_state
                        .wrapping_mul(1_664_525)
                        .wrapping_add(1_013_904_223);
                    ((noise_state >> 8) as f32 / (1u32 << 23) as f32 - 1.0) * scale
                })
                .collect()
        };
        let (floor, hiss) = (noise(0.001), noise(0.1));
        let events = run(&mut d, &[silence(1_000), floor, hiss], 160);
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn a_masked_tone_is_not_speech_and_leaves_the_floor() {
        let tone: Vec<f32> = (0..RATE.ms_to_samples(300.0))
            .map(|i| {
                let t = i as f32 / 8_000.0;
                let w = 2.0 * std::f32::consts::PI * t;
                0.2 * ((697.0 * w).sin() + (1_209.0 * w).sin())
            })
            .collect();
        let mut plain = Detector::new(Config::default(), RATE);
        let events = run(&mut plain, &[silence(200), tone.clone()], 160);
        assert!(matches!(events[..], [Event::Started(_)]), "{events:?}");

        let mut d = Detector::new(Config::default(), RATE);
        let mut events = Vec::new();
        d.process(&silence(200), &mut |e| events.push(e));
        let floor = d.floor_db;
        d.process_masked(&tone, &mut |e| events.push(e));
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(d.floor_db, floor);
        // Voice after it is still heard.
        d.process(&voice(500, 2), &mut |e| events.push(e));
        assert!(matches!(events[..], [Event::Started(_)]), "{events:?}");
    }
}
