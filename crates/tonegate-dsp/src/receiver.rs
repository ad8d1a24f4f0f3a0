//! A DTMF receiver for one channel at any supported input rate.
//!
//! It converts the input to the detector's 8 kHz analysis rate and maps every position
//! the detector reports back to input time, accounting for the resampler's delay. Events
//! are [`dtmf::Event`]s whose positions are in *input* samples:
//! - `start` / `end`: estimated tone onset and release in input time;
//! - `detected`: input samples consumed when the digit was emitted, so
//!   `detected - start` is the true onset-to-report latency, every delay included.
//!
//! Input is handed to the resampler in pieces that end on the resampler's own processing
//! boundaries, so both the digits and the `detected` positions are the same whatever
//! chunking the caller uses, and `detected` is exactly the input position at which a
//! real-time caller would have seen the event.

use crate::SampleRate;
use crate::dsp::dtmf::{self, ANALYSIS_RATE, Detector, Event};
use crate::resample::{self, Filter, Resampler};

/// Why a receiver could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The detector configuration is invalid.
    #[error(transparent)]
    Config(#[from] dtmf::ConfigError),
    /// The resampler could not be built for this rate.
    #[error(transparent)]
    Resample(#[from] resample::Error),
}

/// DTMF receiver for one channel: resampler plus detector.
#[derive(Debug)]
pub struct Receiver {
    resampler: Resampler,
    detector: Detector,
    scratch: Vec<f32>,
    /// Input samples per piece handed to the resampler.
    step_len: usize,
    /// Input samples consumed since the start of the stream.
    consumed: u64,
    /// Input position at which the sounding digit was reported.
    reported_at: u64,
}

impl Receiver {
    /// Builds a receiver for input at `rate` with the given detector settings.
    pub fn new(rate: SampleRate, config: dtmf::Config) -> Result<Receiver, Error> {
        let analysis = SampleRate::new(ANALYSIS_RATE).expect("analysis rate is supported");
        let resampler = Resampler::with_filter(rate, analysis, Filter::Detection)?;
        // Pieces end where the resampler produces output; a pass-through has no such
        // boundaries, so its pieces end where the detector finishes a half block (where
        // it may report a digit).
        let step_len = match resampler.chunk_len() {
            0 | 1 => dtmf::HALF_BLOCK,
            chunk => chunk,
        };
        let scratch = vec![
            0.0;
            resampler
                .max_output_len(step_len)
                .max(resampler.max_flush_len())
        ];
        Ok(Receiver {
            resampler,
            detector: Detector::new(config)?,
            scratch,
            step_len,
            consumed: 0,
            reported_at: 0,
        })
    }

    /// Consumes `samples` at the input rate and calls `on_event` for each event, in order.
    /// Allocation-free.
    pub fn process(&mut self, samples: &[f32], on_event: &mut impl FnMut(Event)) {
        let mut rest = samples;
        while !rest.is_empty() {
            let until_boundary = self.step_len - (self.consumed % self.step_len as u64) as usize;
            let take = rest.len().min(until_boundary);
            let (piece, tail) = rest.split_at(take);
            let produced = self.resampler.process(piece, &mut self.scratch);
            self.consumed += take as u64;
            self.detect(produced, on_event);
            rest = tail;
        }
    }

    /// Ends the stream: drains the resampler, ends a sounding digit, and resets.
    pub fn flush(&mut self, on_event: &mut impl FnMut(Event)) {
        let produced = self.resampler.flush(&mut self.scratch);
        self.detect(produced, on_event);
        let mut clock = InputClock {
            resampler: &self.resampler,
            consumed: self.consumed,
            reported_at: &mut self.reported_at,
        };
        self.detector
            .flush(&mut |event| on_event(clock.map_event(event)));
        self.resampler.reset();
        self.consumed = 0;
    }

    fn detect(&mut self, produced: usize, on_event: &mut impl FnMut(Event)) {
        let mut clock = InputClock {
            resampler: &self.resampler,
            consumed: self.consumed,
            reported_at: &mut self.reported_at,
        };
        self.detector
            .process(&self.scratch[..produced], &mut |event| {
                on_event(clock.map_event(event))
            });
    }
}

/// Maps detector events from analysis time to input time.
struct InputClock<'a> {
    resampler: &'a Resampler,
    /// Input position at which events are being emitted.
    consumed: u64,
    reported_at: &'a mut u64,
}

impl InputClock<'_> {
    fn map_event(&mut self, event: Event) -> Event {
        let resampler = self.resampler;
        let start =
            |keypress: &dtmf::Keypress| resampler.output_to_input_position(keypress.start).max(0.0);
        match event {
            Event::Pressed(mut keypress) => {
                keypress.start = start(&keypress);
                keypress.detected = self.consumed;
                *self.reported_at = self.consumed;
                Event::Pressed(keypress)
            }
            Event::Released { mut keypress, end } => {
                keypress.start = start(&keypress);
                keypress.detected = *self.reported_at;
                Event::Released {
                    keypress,
                    end: resampler.output_to_input_position(end).max(0.0),
                }
            }
        }
    }
}
