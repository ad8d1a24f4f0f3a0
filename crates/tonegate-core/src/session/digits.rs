//! Digits: numbering, deduplicating in-band tones against platform reports (the
//! platform hold), and reporting digit ends.

use std::time::Duration;

use super::{DigitEvent, Error, EventKind, Seen, Session};
use tonegate_dsp::dsp::{Digit, dtmf};

/// How many recent digits are kept for deduplication and end reports.
pub(super) const RECENT_KEPT: usize = 32;

pub(super) struct Recent {
    pub(super) sequence_id: u64,
    pub(super) digit: Digit,
    pub(super) participant: usize,
    pub(super) start: f64,
    pub(super) end: Option<f64>,
    pub(super) released_at: Duration,
    pub(super) platform: bool,
    pub(super) end_reported: bool,
}

pub(super) struct Pending {
    pub(super) digit: Digit,
    pub(super) position: f64,
    pub(super) due_time: Duration,
    pub(super) caused_at: Duration,
}

impl Session {
    pub(super) fn handle_detector_event(&mut self, index: usize, event: dtmf::Event) {
        let offset = self.participants[index].offset as f64;
        match event {
            dtmf::Event::Pressed(k) => {
                let start = offset + k.start;
                let window = self.window_samples();
                let matched = self
                    .pending
                    .iter()
                    .position(|p| p.digit == k.digit && p.position + window >= start);
                let source = match matched {
                    Some(i) => {
                        self.pending.remove(i);
                        Seen::Both
                    }
                    None => Seen::Inband,
                };
                let sequence_id = self.take_sequence_id();
                if self.recent.len() == RECENT_KEPT
                    && self.recent.pop_front().is_some_and(|r| !r.end_reported)
                {
                    self.ends_pending -= 1;
                }
                self.ends_pending += 1;
                self.recent.push_back(Recent {
                    sequence_id,
                    digit: k.digit,
                    participant: index,
                    start,
                    end: None,
                    released_at: Duration::MAX,
                    platform: source == Seen::Both,
                    end_reported: false,
                });
                let event = DigitEvent {
                    digit: k.digit,
                    sequence_id,
                    participant: self.participants[index].id.clone(),
                    start_ms: self.to_ms(start),
                    detected_ms: self.to_ms(offset + k.detected as f64),
                    level_dbm0: Some((k.level_dbm0() * 10.0).round() / 10.0),
                    source,
                };
                let participant = event.participant.clone();
                self.emit(EventKind::Dtmf(event));
                self.route_digit(k.digit, participant);
            }
            dtmf::Event::Released { keypress, end } => {
                let start = offset + keypress.start;
                let now = self.now;
                if let Some(r) = self
                    .recent
                    .iter_mut()
                    .rev()
                    .find(|r| r.participant == index && r.start == start && r.end.is_none())
                {
                    r.end = Some(offset + end);
                    r.released_at = now;
                }
            }
        }
    }

    pub(super) fn window_samples(&self) -> f64 {
        self.config.dedupe_window.as_secs_f64() * f64::from(self.rate().hz())
    }

    pub(super) fn take_sequence_id(&mut self) -> u64 {
        let id = self.next_sequence_id;
        self.next_sequence_id += 1;
        id
    }

    pub(super) fn handle_platform_digit(&mut self, digit: Digit) -> Result<(), Error> {
        if self.format.is_none() {
            return Err(Error::NotStarted);
        }
        let position = self.position() as f64;
        let window = self.window_samples();
        if let Some(r) = self.recent.iter_mut().rev().find(|r| {
            r.digit == digit
                && !r.platform
                && r.start - window <= position
                && r.end.is_none_or(|end| position <= end + window)
        }) {
            r.platform = true;
            return Ok(());
        }
        self.pending.push_back(Pending {
            digit,
            position,
            due_time: self.now + self.config.platform_hold,
            caused_at: self.now,
        });
        Ok(())
    }

    pub(super) fn emit_platform_only(&mut self, p: Pending) {
        let sequence_id = self.take_sequence_id();
        let ms = self.to_ms(p.position);
        let saved = self.now;
        self.now = p.caused_at;
        self.emit(EventKind::Dtmf(DigitEvent {
            digit: p.digit,
            sequence_id,
            participant: None,
            start_ms: ms,
            detected_ms: ms,
            level_dbm0: None,
            source: Seen::Platform,
        }));
        self.now = saved;
        self.route_digit(p.digit, None);
    }

    /// Where the digits whose `dtmfEnd` is not reported yet sit in `recent`, newest
    /// first. They are the last few of those kept: the search stops once it has seen all
    /// `ends_pending` of them, instead of reading every digit kept.
    pub(super) fn unreported_ends(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.recent.len())
            .rev()
            .filter(|&i| !self.recent[i].end_reported)
            .take(self.ends_pending)
    }

    /// Emits `dtmfEnd` for released digits whose dedupe window has passed.
    pub(super) fn report_ends(&mut self, all: bool) {
        // Per frame, with no digit between its press and its `dtmfEnd`: nothing to look at.
        if self.ends_pending == 0 {
            return;
        }
        let position = self.position() as f64;
        let window = self.window_samples();
        let window_time = self.config.dedupe_window;
        let now = self.now;
        let due: Vec<(usize, f64)> = (self.unreported_ends())
            .filter_map(|i| {
                let r = &self.recent[i];
                let end = r.end?;
                let due = all
                    || r.platform
                    || position >= end + window
                    || now >= r.released_at + window_time;
                due.then_some((i, end))
            })
            .collect();
        // Every due digit marked first, then reported, oldest first.
        let mut ready = Vec::with_capacity(due.len());
        for &(i, end) in due.iter().rev() {
            let r = &mut self.recent[i];
            r.end_reported = true;
            self.ends_pending -= 1;
            let source = if r.platform { Seen::Both } else { Seen::Inband };
            ready.push((r.digit, r.sequence_id, end, source));
        }
        for (digit, sequence_id, end, source) in ready {
            let end_ms = self.to_ms(end);
            self.emit(EventKind::DtmfEnd {
                digit,
                sequence_id,
                end_ms,
                source,
            });
        }
    }

    /// Reports platform digits whose hold has passed without an in-band match.
    pub(super) fn release_platform_digits(&mut self) {
        let now = self.now;
        let position = self.position() as f64;
        let hold = self.config.platform_hold.as_secs_f64() * f64::from(self.rate().hz());
        while let Some(p) = self.pending.front() {
            if now >= p.due_time || position >= p.position + hold {
                let p = self.pending.pop_front().expect("front exists");
                self.emit_platform_only(p);
            } else {
                break;
            }
        }
    }
}
