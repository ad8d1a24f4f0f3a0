//! How `detect` prints digits: a table for people, JSON lines for programs.

use std::io::{self, Write};

use serde::Serialize;

use super::DetectFormat;

/// One detected digit, positions in milliseconds from the start of the input.
#[derive(Debug, Serialize)]
pub(super) struct DigitRow<'a> {
    /// The input's name as given on the command line.
    pub file: &'a str,
    /// Channel index, 0-based.
    pub channel: u16,
    /// The key.
    pub digit: char,
    /// Estimated tone onset.
    pub start_ms: f64,
    /// Estimated tone release.
    pub end_ms: f64,
    /// Input position when the digit was reported.
    pub detected_ms: f64,
    /// Mean level of the two tones, dBm0.
    pub level_dbm0: f64,
}

/// Writes rows in the chosen format.
pub(super) struct DigitWriter<W: Write> {
    out: W,
    format: DetectFormat,
    header_written: bool,
    flush_each_row: bool,
}

impl<W: Write> DigitWriter<W> {
    /// A writer for `format` onto `out`. With `flush_each_row`, each row is flushed as
    /// it is written (for someone or something reading live); otherwise rows wait in
    /// `out`'s buffer until [`Self::flush`].
    pub(super) fn new(out: W, format: DetectFormat, flush_each_row: bool) -> Self {
        DigitWriter {
            out,
            format,
            header_written: false,
            flush_each_row,
        }
    }

    /// Writes the table's header, once.
    fn write_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            writeln!(
                self.out,
                "{:<24} {:>3} {:>5} {:>10} {:>10} {:>12} {:>11}",
                "file", "ch", "digit", "start_ms", "end_ms", "detected_ms", "level_dbm0"
            )?;
            self.header_written = true;
        }
        Ok(())
    }

    /// Says that `file` holds no digits: a table row (JSON lines have none to write).
    pub(super) fn write_none(&mut self, file: &str) -> io::Result<()> {
        if self.format == DetectFormat::Text {
            self.write_header()?;
            writeln!(self.out, "{file:<24}  no digits")?;
        }
        self.out.flush()
    }

    /// Writes one digit.
    pub(super) fn write(&mut self, row: &DigitRow<'_>) -> io::Result<()> {
        match self.format {
            DetectFormat::Jsonl => {
                serde_json::to_writer(&mut self.out, row)?;
                writeln!(self.out)?;
            }
            DetectFormat::Text => {
                self.write_header()?;
                writeln!(
                    self.out,
                    "{:<24} {:>3} {:>5} {:>10.1} {:>10.1} {:>12.1} {:>11.1}",
                    row.file,
                    row.channel,
                    row.digit,
                    row.start_ms,
                    row.end_ms,
                    row.detected_ms,
                    row.level_dbm0
                )?;
            }
        }
        if self.flush_each_row {
            self.out.flush()?;
        }
        Ok(())
    }

    /// Writes out the rows still buffered.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Rounds to one decimal, the precision every figure is printed with.
pub(super) fn tenth(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}
