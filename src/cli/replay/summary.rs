//! The outcome of a run: per-digit lines and totals, as text or JSON.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use super::call::{Failure, Report};
use super::latency::{DigitResult, Percentiles};

/// The totals of a run.
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    /// Calls started.
    pub calls: usize,
    /// Calls whose socket (and event stream) could not be opened.
    pub connect_errors: usize,
    /// Of those, upgrades the server refused with 503 (busy: admission control).
    pub refused: usize,
    /// Calls whose stream broke or was closed with an error.
    pub stream_errors: usize,
    /// Digits in the audio of all calls.
    pub digits_sent: usize,
    /// Sent digits that came back.
    pub digits_found: usize,
    /// Sent digits that did not.
    pub digits_missed: usize,
    /// Reported digits that match none sent.
    pub digits_extra: usize,
    /// End-to-end latency of the found digits, ms.
    pub latency_ms: Percentiles,
    /// Each failure's message and how many calls had it.
    pub errors: BTreeMap<String, usize>,
    /// Every sent digit.
    pub digits: Vec<DigitResult>,
}

impl Summary {
    /// Totals of `reports`.
    pub(crate) fn new(reports: Vec<Report>) -> Summary {
        let mut summary = Summary {
            calls: reports.len(),
            connect_errors: 0,
            refused: 0,
            stream_errors: 0,
            digits_sent: 0,
            digits_found: 0,
            digits_missed: 0,
            digits_extra: 0,
            latency_ms: Percentiles::default(),
            errors: BTreeMap::new(),
            digits: Vec::new(),
        };
        for report in reports {
            if let Some(failure) = &report.failure {
                let message = match failure {
                    Failure::Connect(m) => {
                        summary.connect_errors += 1;
                        m
                    }
                    Failure::Busy(m) => {
                        summary.connect_errors += 1;
                        summary.refused += 1;
                        m
                    }
                    Failure::Stream(m) => {
                        summary.stream_errors += 1;
                        m
                    }
                };
                *summary.errors.entry(message.clone()).or_default() += 1;
            }
            summary.digits_extra += report.matched.extra;
            summary.digits.extend(report.matched.digits);
        }
        summary.digits_sent = summary.digits.len();
        let latencies: Vec<f64> = summary.digits.iter().filter_map(|d| d.latency_ms).collect();
        summary.digits_found = latencies.len();
        summary.digits_missed = summary.digits_sent - summary.digits_found;
        summary.latency_ms = Percentiles::of(latencies);
        summary
    }

    /// Whether every call ran.
    pub(crate) fn all_ran(&self) -> bool {
        self.connect_errors == 0 && self.stream_errors == 0
    }

    /// Whether every sent digit came back once and nothing else did.
    pub(crate) fn exact(&self) -> bool {
        self.digits_missed == 0 && self.digits_extra == 0
    }

    /// One JSON document.
    pub(crate) fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self)?;
        writeln!(out)
    }

    /// Each digit (with `per_digit`), then the totals.
    pub(crate) fn write_text(&self, out: &mut impl Write, per_digit: bool) -> io::Result<()> {
        if per_digit {
            for d in &self.digits {
                match d.latency_ms {
                    Some(ms) => writeln!(
                        out,
                        "digit {}  onset {:>9.1} ms  latency {:>7.1} ms",
                        d.digit, d.onset_ms, ms
                    )?,
                    None => writeln!(
                        out,
                        "digit {}  onset {:>9.1} ms  missed",
                        d.digit, d.onset_ms
                    )?,
                }
            }
        }
        writeln!(
            out,
            "calls {}: {} connect errors ({} refused as busy), {} stream errors",
            self.calls, self.connect_errors, self.refused, self.stream_errors
        )?;
        writeln!(
            out,
            "digits: {} sent, {} found, {} missed, {} extra",
            self.digits_sent, self.digits_found, self.digits_missed, self.digits_extra
        )?;
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        writeln!(
            out,
            "latency ms: p50 {}  p99 {}  max {}",
            ms(self.latency_ms.p50),
            ms(self.latency_ms.p99),
            ms(self.latency_ms.max)
        )
    }
}
