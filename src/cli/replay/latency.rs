//! Matching the digits a call sent with the digits that came back, and the latency of
//! each: from the moment the frame holding the tone onset was written to the socket to
//! the moment the digit's event arrived.

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;
use tonegate::dsp::Digit;

use super::events::{Meaning, Received};
use super::script::Expected;

/// A reported digit is taken for a sent one when its onset estimate is this close.
const ONSET_TOLERANCE: Duration = Duration::from_millis(150);

/// The fate of one sent digit.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DigitResult {
    /// The call.
    pub call: String,
    /// The key.
    pub digit: char,
    /// Tone onset, ms of stream time.
    pub onset_ms: f64,
    /// End-to-end latency, ms; `None` when the digit was missed.
    pub latency_ms: Option<f64>,
}

/// The digits of one call, matched.
#[derive(Debug, Default)]
pub(crate) struct Matched {
    /// Every sent digit, in order.
    pub digits: Vec<DigitResult>,
    /// Reported digits that match no sent one.
    pub extra: usize,
}

/// Matches `received` digits to `expected` ones (`sent_at[i]`: when the frame holding
/// digit i's onset was written, if it was). A report matches the first unmatched sent
/// digit of the same key whose onset frame had gone out, the closest in onset when the
/// report carries one.
pub(crate) fn match_digits(
    call: &str,
    expected: &[Expected],
    sent_at: &[Option<Instant>],
    received: &[Received],
) -> Matched {
    let mut found: Vec<Option<Duration>> = vec![None; expected.len()];
    let mut extra = 0;
    for event in received {
        let Meaning::Digit { digit, start_ms } = event.meaning else {
            continue;
        };
        let candidate = candidates(expected, sent_at, &found, digit, event.at).min_by_key(|&i| {
            start_ms.map_or(Duration::ZERO, |ms| {
                expected[i]
                    .onset
                    .abs_diff(Duration::from_secs_f64(ms.max(0.0) / 1000.0))
            })
        });
        let close_enough = |i: usize| {
            start_ms.is_none_or(|ms| {
                let reported = Duration::from_secs_f64(ms.max(0.0) / 1000.0);
                expected[i].onset.abs_diff(reported) <= ONSET_TOLERANCE
            })
        };
        match candidate.filter(|&i| close_enough(i)) {
            Some(i) => {
                let sent = sent_at[i].unwrap_or(event.at);
                found[i] = Some(event.at.saturating_duration_since(sent));
            }
            None => extra += 1,
        }
    }
    let digits = expected
        .iter()
        .zip(&found)
        .map(|(e, latency)| DigitResult {
            call: call.to_owned(),
            digit: e.digit.as_char(),
            onset_ms: e.onset.as_secs_f64() * 1000.0,
            latency_ms: latency.map(|d| d.as_secs_f64() * 1000.0),
        })
        .collect();
    Matched { digits, extra }
}

/// Indices of sent digits `digit` could be: same key, not matched, onset sent before
/// `at`.
fn candidates<'a>(
    expected: &'a [Expected],
    sent_at: &'a [Option<Instant>],
    found: &'a [Option<Duration>],
    digit: Digit,
    at: Instant,
) -> impl Iterator<Item = usize> + 'a {
    (0..expected.len()).filter(move |&i| {
        expected[i].digit == digit && found[i].is_none() && sent_at[i].is_some_and(|s| s <= at)
    })
}

/// Latency percentiles, ms.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Percentiles {
    /// Median.
    pub p50: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Largest.
    pub max: Option<f64>,
}

impl Percentiles {
    /// Nearest-rank percentiles of `values` (sorted here).
    pub(crate) fn of(mut values: Vec<f64>) -> Percentiles {
        values.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let n = values.len();
            (n > 0).then(|| values[((p * n as f64).ceil() as usize).clamp(1, n) - 1])
        };
        Percentiles {
            p50: rank(0.50),
            p99: rank(0.99),
            max: values.last().copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: char) -> Digit {
        Digit::from_char(c).unwrap()
    }

    #[test]
    fn matches_by_key_and_onset_and_counts_the_rest() {
        let t0 = Instant::now();
        let ms = |n: u64| Duration::from_millis(n);
        let expected = [
            Expected {
                digit: key('1'),
                onset: ms(300),
                frame: 15,
            },
            Expected {
                digit: key('1'),
                onset: ms(440),
                frame: 22,
            },
            Expected {
                digit: key('2'),
                onset: ms(580),
                frame: 29,
            },
        ];
        let sent_at = [Some(t0), Some(t0 + ms(140)), Some(t0 + ms(280))];
        let event = |digit, start_ms: Option<f64>, after: u64| Received {
            at: t0 + ms(after),
            meaning: Meaning::Digit { digit, start_ms },
            text: String::new(),
        };
        let received = [
            // The second 1 first, by its onset estimate.
            event(key('1'), Some(441.0), 180),
            event(key('1'), None, 200),
            // A 9 nobody sent.
            event(key('9'), None, 210),
        ];
        let matched = match_digits("c", &expected, &sent_at, &received);
        let latencies: Vec<_> = matched.digits.iter().map(|d| d.latency_ms).collect();
        assert_eq!(latencies, [Some(200.0), Some(40.0), None]);
        assert_eq!(matched.extra, 1);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=100).rev().map(f64::from).collect());
        assert_eq!((p.p50, p.p99, p.max), (Some(50.0), Some(99.0), Some(100.0)));
        let none = Percentiles::of(Vec::new());
        assert_eq!((none.p50, none.max), (None, None));
    }
}
