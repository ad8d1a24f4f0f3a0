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
//! real-time caller would have seen the event. Input already at the analysis rate goes
//! to the detector whole, with no resampler and no copy: there input and analysis
//! positions are the same, and the detector's own `detected` is the input position.

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
    /// `None` for input at the analysis rate.
    resampler: Option<Resampler>,
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
        let detector = Detector::new(config)?;
        let analysis = SampleRate::new(ANALYSIS_RATE).expect("analysis rate is supported");
        if rate == analysis {
            return Ok(Receiver {
                resampler: None,
                detector,
                scratch: Vec::new(),
                step_len: 0,
                consumed: 0,
                reported_at: 0,
            });
        }
        let resampler = Resampler::with_filter(rate, analysis, Filter::Detection)?;
        // Pieces end where the resampler produces output; one without such boundaries
        // gets pieces of a half block (where the detector may report a digit).
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
            resampler: Some(resampler),
            detector,
            scratch,
            step_len,
            consumed: 0,
            reported_at: 0,
        })
    }

    /// Consumes `samples` at the input rate and calls `on_event` for each event, in order.
    /// Allocation-free.
    pub fn process(&mut self, samples: &[f32], on_event: &mut impl FnMut(Event)) {
        let Some(resampler) = &mut self.resampler else {
            self.detector.process(samples, on_event);
            return;
        };
        let mut rest = samples;
        while !rest.is_empty() {
            let until_boundary = self.step_len - (self.consumed % self.step_len as u64) as usize;
            let take = rest.len().min(until_boundary);
            let (piece, tail) = rest.split_at(take);
            let produced = resampler.process(piece, &mut self.scratch);
            self.consumed += take as u64;
            let mut clock = InputClock {
                resampler,
                consumed: self.consumed,
                reported_at: &mut self.reported_at,
            };
            self.detector
                .process(&self.scratch[..produced], &mut |event| {
                    on_event(clock.map_event(event))
                });
            rest = tail;
        }
    }

    /// Ends the stream: drains the resampler, ends a sounding digit, and resets.
    pub fn flush(&mut self, on_event: &mut impl FnMut(Event)) {
        let Some(resampler) = &mut self.resampler else {
            self.detector.flush(on_event);
            return;
        };
        let produced = resampler.flush(&mut self.scratch);
        let mut clock = InputClock {
            resampler,
            consumed: self.consumed,
            reported_at: &mut self.reported_at,
        };
        let mut on_event = |event| on_event(clock.map_event(event));
        self.detector
            .process(&self.scratch[..produced], &mut on_event);
        self.detector.flush(&mut on_event);
        resampler.reset();
        self.consumed = 0;
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
