//! The feature tap: what the detector saw in each 4 ms block of inbound audio, and the
//! level of each outbound frame, packed into [`RECORD_LEN`]-byte records for the live
//! monitor. Off unless someone watches
//! ([`Session::set_feature_tap`](super::Session::set_feature_tap)): then no record is
//! built and the receivers run their plain `process`. On, records go into a buffer
//! allocated once, which the shell drains after every input; records that do not fit
//! (a shell that does not drain) are counted, not kept.
//!
//! A record, all integers little-endian:
//!
//! | bytes | what |
//! |---|---|
//! | 0 | participant index (in the order first heard) |
//! | 1-4 | end of the block, ms of stream time (u32) |
//! | 5-12 | level of each keypad tone (697, 770, 852, 941, 1209, 1336, 1477, 1633 Hz), dB above -120 relative to a full-scale sine (0 = -120 dB or less, 120 = 0 dB) |
//! | 13 | broadband level, same scale |
//! | 14 | verdict: bits 0-1 kind (0 nothing, 1 qualified, 2 holding a digit, 3 rejected), bits 2-4 the rejection reason (0 frequency offset, 1 level, 2 twist, 3 energy share, 4 harmonics, 5 too short) |
//! | 15 | the verdict's key as an ASCII character, or 0 |
//!
//! Outbound audio (what the session plays: prompts, tones, hold music) leaves one record
//! per 20 ms frame it sends, in the same layout: byte 0 is [`OUTBOUND`], bytes 1-4 the
//! end of the frame on the outbound clock (ms of session time), byte 13 the frame's
//! level (same scale), the tone levels and the verdict zero.

use tonegate_dsp::SampleRate;
use tonegate_dsp::dsp::dtmf::{Block, Rejection, Verdict};

/// Bytes per block record.
pub const RECORD_LEN: usize = 16;

/// Participant byte of an outbound record (no participant is ever numbered 255: the
/// index is capped at 254).
pub const OUTBOUND: u8 = 255;

/// Records kept between drains: 1 s of one participant's blocks and of outbound frames.
const CAPACITY: usize = 300;

/// The records not yet drained.
pub(super) struct FeatureTap {
    bytes: Vec<u8>,
    /// Records that did not fit since the last drain.
    dropped: u64,
}

impl FeatureTap {
    pub(super) fn new() -> FeatureTap {
        FeatureTap {
            bytes: Vec::with_capacity(CAPACITY * RECORD_LEN),
            dropped: 0,
        }
    }

    /// Adds `block` of participant `participant`, whose first sample is at call
    /// position `offset` (samples at `rate`).
    pub(super) fn push(
        &mut self,
        participant: usize,
        offset: u64,
        rate: SampleRate,
        block: &Block,
    ) {
        if self.bytes.len() + RECORD_LEN > self.bytes.capacity() {
            self.dropped += 1;
            return;
        }
        let end_ms = rate.samples_to_ms(offset as f64 + block.end).max(0.0) as u32;
        let (kind, reason, digit) = match block.verdict {
            Verdict::Nothing => (0, 0, 0),
            Verdict::Qualified(d) => (1, 0, d.as_char() as u8),
            Verdict::Holding(d) => (2, 0, d.as_char() as u8),
            Verdict::Rejected { digit, reason } => (3, reason_code(reason), digit.as_char() as u8),
        };
        let mut record = [0u8; RECORD_LEN];
        record[0] = participant.min(usize::from(OUTBOUND) - 1) as u8;
        record[1..5].copy_from_slice(&end_ms.to_le_bytes());
        for (lane, byte) in record[5..13].iter_mut().enumerate() {
            *byte = quantise(block.tone_db(lane));
        }
        record[13] = quantise(block.level_db());
        record[14] = kind | reason << 2;
        record[15] = digit;
        self.bytes.extend_from_slice(&record);
    }

    /// Adds one outbound frame of `samples` that ends `end` into the session.
    pub(super) fn push_outbound(&mut self, end: std::time::Duration, samples: &[f32]) {
        if self.bytes.len() + RECORD_LEN > self.bytes.capacity() {
            self.dropped += 1;
            return;
        }
        let power: f32 = samples.iter().map(|s| s * s).sum();
        // A full-scale sine's mean square is 1/2: that is 0 dB, as for the inbound level.
        let ratio = 2.0 * power / samples.len().max(1) as f32;
        let mut record = [0u8; RECORD_LEN];
        record[0] = OUTBOUND;
        record[1..5]
            .copy_from_slice(&(end.as_millis().min(u128::from(u32::MAX)) as u32).to_le_bytes());
        record[13] = quantise(10.0 * ratio.log10());
        self.bytes.extend_from_slice(&record);
    }

    /// Moves the records into `out` (appended); returns how many records were dropped
    /// for want of room since the last drain.
    pub(super) fn drain(&mut self, out: &mut Vec<u8>) -> u64 {
        out.extend_from_slice(&self.bytes);
        self.bytes.clear();
        std::mem::take(&mut self.dropped)
    }
}

/// A level in dB as one byte: whole dB above -120, so 0 dB full scale is 120.
fn quantise(db: f32) -> u8 {
    (db.clamp(-120.0, 135.0) + 120.0).round() as u8
}

/// The number a rejection reason travels as.
fn reason_code(reason: Rejection) -> u8 {
    match reason {
        Rejection::FrequencyOffset => 0,
        Rejection::Level => 1,
        Rejection::Twist => 2,
        Rejection::EnergyShare => 3,
        Rejection::Harmonics => 4,
        Rejection::TooShort => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonegate_dsp::dsp::Digit;

    fn block(end: f64, verdict: Verdict) -> Block {
        Block {
            end,
            tone_power: [256.0, 0.0, 2.56, 0.0, 0.0, 0.0, 0.0, 0.0],
            energy: 16.0,
            verdict,
        }
    }

    #[test]
    fn a_block_packs_into_one_record() {
        let mut tap = FeatureTap::new();
        let rate = SampleRate::new(16_000).unwrap();
        let verdict = Verdict::Rejected {
            digit: Digit::from_char('5').unwrap(),
            reason: Rejection::Twist,
        };
        tap.push(1, 16_000, rate, &block(64.0, verdict));
        let mut out = Vec::new();
        assert_eq!(tap.drain(&mut out), 0);
        assert_eq!(out.len(), RECORD_LEN);
        assert_eq!(out[0], 1);
        assert_eq!(u32::from_le_bytes(out[1..5].try_into().unwrap()), 1_004);
        assert_eq!(out[5], 120, "a full-scale tone is 0 dB");
        assert_eq!(out[7], 100, "20 dB below full scale");
        assert_eq!(out[6], 0, "silence is the floor");
        assert_eq!(out[13], 120);
        assert_eq!(out[14], 3 | 2 << 2);
        assert_eq!(out[15], b'5');
        tap.drain(&mut out);
        assert_eq!(out.len(), RECORD_LEN, "a drain empties the tap");
    }

    #[test]
    fn an_outbound_frame_packs_its_level_into_an_outbound_record() {
        let mut tap = FeatureTap::new();
        let sine: Vec<f32> = (0..160)
            .map(|n| 0.1 * (std::f32::consts::TAU * 1_000.0 * n as f32 / 8_000.0).sin())
            .collect();
        tap.push_outbound(std::time::Duration::from_millis(1_020), &sine);
        tap.push_outbound(std::time::Duration::from_millis(1_040), &[0.0; 160]);
        let mut out = Vec::new();
        tap.drain(&mut out);
        assert_eq!(out.len(), 2 * RECORD_LEN);
        assert_eq!(out[0], OUTBOUND);
        assert_eq!(u32::from_le_bytes(out[1..5].try_into().unwrap()), 1_020);
        assert_eq!(out[13], 100, "a sine at 0.1 of full scale is -20 dB");
        assert!(out[5..13].iter().all(|&b| b == 0) && out[14] == 0 && out[15] == 0);
        assert_eq!(out[RECORD_LEN], OUTBOUND);
        assert_eq!(out[RECORD_LEN + 13], 0, "silence is the floor");
    }

    #[test]
    fn records_past_the_capacity_are_counted_not_kept() {
        let mut tap = FeatureTap::new();
        for n in 0..CAPACITY + 3 {
            tap.push(
                0,
                0,
                SampleRate::HZ_8000,
                &block(n as f64, Verdict::Nothing),
            );
        }
        let mut out = Vec::new();
        assert_eq!(tap.drain(&mut out), 3);
        assert_eq!(out.len(), CAPACITY * RECORD_LEN);
    }
}
