//! A DTMF receiver for one channel at any supported input rate.
//!
//! It converts the input to the detector's 8 kHz analysis rate and maps every position
//! the detector reports back to input time, accounting for the resampler's delay. Events
//! are [`dtmf::Event`]s whose positions are in *input* samples:
//! - `start` / `end`: estimated tone onset and release in input time;
//! - `detected`: input samples consumed when the digit was emitted, so
//!   `detected - start` is the true onset-to-report latency, every delay included.
//!
//! The digits and the `detected` positions are the same whatever chunking the caller uses,
//! and `detected` is exactly the input position at which a real-time caller would have
//! seen the event. At 8 kHz and the integer ratios (16, 24, 48 kHz) the resampler writes
//! each output as soon as its input is in, at a known input position
//! ([`Resampler::input_at_output`]): input goes through in pieces of any length, and an
//! event is dated by the position at which the last sample the detector had seen when it
//! reported appeared. Other rates go through rubato's fixed chunks: input is handed over
//! in pieces that end on those chunks. Input already at the analysis rate (8 kHz) goes to
//! the detector whole, with no resampler and no copy: there input and analysis positions
//! are the same, and the detector's own `detected` is the input position.

use crate::SampleRate;
use crate::dsp::dtmf::{self, ANALYSIS_RATE, Block, Detector, Event};
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
    detector: Detector,
    /// The way to the analysis rate; `None` for input already at it.
    resampled: Option<Resampled>,
}

/// A resampler in front of the detector, and the positions that map its output back to
/// input time.
#[derive(Debug)]
struct Resampled {
    resampler: Resampler,
    /// How input is cut into pieces for the resampler.
    pieces: Pieces,
    /// Input samples consumed since the start of the stream.
    consumed: u64,
    /// Input position at which the sounding digit was reported.
    reported_at: u64,
}

/// Room for the resampler's output of one piece, or of its flush, on the stack: a buffer
/// of each call's own would be out of the cache by its next frame. Rubato's pieces are
/// 1 ms of input (at most 9 outputs for the analysis rate), its flush a few of those.
const SCRATCH_LEN: usize = EXACT_PIECE_LEN / 2 + 1;

impl Receiver {
    /// Builds a receiver for input at `rate` with the given detector settings.
    pub fn new(rate: SampleRate, config: dtmf::Config) -> Result<Receiver, Error> {
        let detector = Detector::new(config)?;
        let analysis = SampleRate::new(ANALYSIS_RATE).expect("analysis rate is supported");
        let resampled = if rate == analysis {
            None
        } else {
            Some(Resampled::new(Resampler::with_filter(
                rate,
                analysis,
                Filter::Detection,
            )?))
        };
        Ok(Receiver {
            detector,
            resampled,
        })
    }

    /// Consumes `samples` at the input rate and calls `on_event` for each event, in order.
    /// Allocation-free.
    pub fn process(&mut self, samples: &[f32], on_event: &mut impl FnMut(Event)) {
        self.process_with(samples, on_event, None::<&mut fn(&Block)>);
    }

    /// [`Self::process`], also calling `on_block` with each analysed block (see
    /// [`Detector::process_observed`]), its `end` mapped to input samples.
    /// Allocation-free.
    pub fn process_observed(
        &mut self,
        samples: &[f32],
        on_event: &mut impl FnMut(Event),
        on_block: &mut impl FnMut(&Block),
    ) {
        self.process_with(samples, on_event, Some(on_block));
    }

    /// [`Self::process`], with an observer of each block when `on_block` is given (see
    /// [`Detector::process_with`]: without one no block summary is computed).
    fn process_with(
        &mut self,
        samples: &[f32],
        on_event: &mut impl FnMut(Event),
        on_block: Option<&mut impl FnMut(&Block)>,
    ) {
        match &mut self.resampled {
            None => self.detector.process_with(samples, on_event, on_block),
            Some(resampled) => resampled.process(&mut self.detector, samples, on_event, on_block),
        }
    }

    /// Ends the stream: drains the resampler, ends a sounding digit, and resets.
    pub fn flush(&mut self, on_event: &mut impl FnMut(Event)) {
        match &mut self.resampled {
            None => self.detector.flush(on_event),
            Some(resampled) => resampled.flush(&mut self.detector, on_event),
        }
    }
}

impl Resampled {
    fn new(resampler: Resampler) -> Resampled {
        let pieces = match resampler.input_at_output(1) {
            Some(_) => Pieces::Exact,
            None => Pieces::Chunks(resampler.chunk_len()),
        };
        debug_assert!(resampler.max_output_len(pieces.max_len()) <= SCRATCH_LEN);
        debug_assert!(resampler.max_flush_len() <= SCRATCH_LEN);
        Resampled {
            resampler,
            pieces,
            consumed: 0,
            reported_at: 0,
        }
    }

    fn process(
        &mut self,
        detector: &mut Detector,
        samples: &[f32],
        on_event: &mut impl FnMut(Event),
        mut on_block: Option<&mut impl FnMut(&Block)>,
    ) {
        let mut scratch = [0.0; SCRATCH_LEN];
        let mut rest = samples;
        while !rest.is_empty() {
            let take = match self.pieces {
                Pieces::Exact => rest.len().min(EXACT_PIECE_LEN),
                Pieces::Chunks(chunk) => {
                    let until_boundary = chunk - (self.consumed % chunk as u64) as usize;
                    rest.len().min(until_boundary)
                }
            };
            let (piece, tail) = rest.split_at(take);
            let produced = self.resampler.process(piece, &mut scratch);
            self.consumed += take as u64;
            self.detect(detector, &scratch[..produced], on_event, on_block.as_mut());
            rest = tail;
        }
    }

    fn flush(&mut self, detector: &mut Detector, on_event: &mut impl FnMut(Event)) {
        let mut scratch = [0.0; SCRATCH_LEN];
        let produced = self.resampler.flush(&mut scratch);
        self.detect(
            detector,
            &scratch[..produced],
            on_event,
            None::<&mut fn(&Block)>,
        );
        let mut clock = InputClock {
            resampler: &self.resampler,
            consumed: self.consumed,
            reported_at: &mut self.reported_at,
        };
        detector.flush(&mut |event| on_event(clock.map_event(event)));
        self.resampler.reset();
        self.consumed = 0;
    }

    /// Hands the resampler's `outputs` to the detector, its events in input time.
    fn detect(
        &mut self,
        detector: &mut Detector,
        outputs: &[f32],
        on_event: &mut impl FnMut(Event),
        mut on_block: Option<&mut impl FnMut(&Block)>,
    ) {
        let mut clock = InputClock {
            resampler: &self.resampler,
            consumed: self.consumed,
            reported_at: &mut self.reported_at,
        };
        let resampler = &self.resampler;
        let mut in_input_time = on_block.as_mut().map(|on_block| {
            |block: &Block| {
                let end = resampler.output_to_input_position(block.end).max(0.0);
                on_block(&Block { end, ..*block })
            }
        });
        detector.process_with(
            outputs,
            &mut |event| on_event(clock.map_event(event)),
            in_input_time.as_mut(),
        );
    }
}

/// Most input samples handed to an exact resampler at once (bounds the scratch buffer):
/// a 20 ms frame at 32 kHz.
const EXACT_PIECE_LEN: usize = 640;

/// How a receiver cuts its input for the resampler, so that event positions do not depend
/// on the caller's chunking.
#[derive(Debug, Clone, Copy)]
enum Pieces {
    /// Outputs appear at known input positions: any cut will do.
    Exact,
    /// rubato's fixed chunks of this many input samples: cut at their ends.
    Chunks(usize),
}

impl Pieces {
    /// Most input samples in one piece.
    fn max_len(self) -> usize {
        match self {
            Pieces::Exact => EXACT_PIECE_LEN,
            Pieces::Chunks(chunk) => chunk,
        }
    }
}

/// Maps detector events from analysis time to input time.
struct InputClock<'a> {
    resampler: &'a Resampler,
    /// Input samples consumed: the position of events whose analysis position the
    /// resampler cannot map (rubato's chunks, or outputs of a flush, which appear at the
    /// end of the input).
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
                // Where the last output the detector had seen appeared.
                let seen = resampler
                    .input_at_output(keypress.detected)
                    .map_or(self.consumed, |at| at.min(self.consumed));
                keypress.detected = seen;
                *self.reported_at = seen;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_of_a_piece_or_a_flush_fits_the_scratch_at_every_rate() {
        let odd = [8_001, 11_025, 22_050, 44_100, 47_999];
        let rates = (8_000..=48_000)
            .step_by(997)
            .chain((16_000..=48_000).step_by(8_000));
        for hz in rates.chain(odd) {
            let rate = SampleRate::new(hz).unwrap();
            let receiver = Receiver::new(rate, dtmf::Config::default()).unwrap();
            let Some(Resampled {
                resampler, pieces, ..
            }) = &receiver.resampled
            else {
                continue;
            };
            let longest = resampler.max_output_len(pieces.max_len());
            assert!(longest <= SCRATCH_LEN, "{hz} Hz: {longest}");
            let flush = resampler.max_flush_len();
            assert!(flush <= SCRATCH_LEN, "{hz} Hz: flush {flush}");
        }
    }
}
