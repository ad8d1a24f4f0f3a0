//! How `detect` prints digits: a table for people, JSON lines for programs.

use std::io::{self, Write};

use super::DetectFormat;

/// One detected digit, positions in milliseconds from the start of the input.
#[derive(Debug)]
#[cfg_attr(test, derive(serde::Serialize))]
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
    /// The JSON line being put together, reused from row to row.
    line: Vec<u8>,
    /// The last file name written and its JSON string (quoted and escaped), so a file's
    /// name is escaped once rather than on every row.
    file_json: (String, String),
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
            line: Vec::with_capacity(256),
            file_json: (String::new(), "\"\"".to_owned()),
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
                self.json_line(row)?;
                self.out.write_all(&self.line)?;
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

    /// Puts `row` together in `line` as one JSON object and a newline: the bytes
    /// `serde_json` writes for it, without its per-field and float-formatting work (a
    /// tenth of `detect`'s time on a file dense with digits).
    fn json_line(&mut self, row: &DigitRow<'_>) -> io::Result<()> {
        if self.file_json.0 != row.file {
            self.file_json = (row.file.to_owned(), serde_json::to_string(row.file)?);
        }
        let line = &mut self.line;
        line.clear();
        line.extend_from_slice(b"{\"file\":");
        line.extend_from_slice(self.file_json.1.as_bytes());
        line.extend_from_slice(b",\"channel\":");
        line.extend_from_slice(itoa::Buffer::new().format(row.channel).as_bytes());
        line.extend_from_slice(b",\"digit\":");
        let mut digit = [0u8; 4];
        if row.digit.is_ascii_alphanumeric() || "*#".contains(row.digit) {
            line.push(b'"');
            line.extend_from_slice(row.digit.encode_utf8(&mut digit).as_bytes());
            line.push(b'"');
        } else {
            serde_json::to_writer(&mut *line, &row.digit)?;
        }
        for (name, value) in [
            (&b",\"start_ms\":"[..], row.start_ms),
            (b",\"end_ms\":", row.end_ms),
            (b",\"detected_ms\":", row.detected_ms),
            (b",\"level_dbm0\":", row.level_dbm0),
        ] {
            line.extend_from_slice(name);
            write_tenths(line, value)?;
        }
        line.extend_from_slice(b"}\n");
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

/// Tenths beyond this many are left to `serde_json` (no figure of `detect` comes near).
const MAX_PLAIN_TENTHS: f64 = 1e15;

/// Writes `value` as `serde_json` does (the shortest decimal that reads back as it, with
/// `.0` on whole numbers): for a whole number of tenths, as [`tenth`] makes them, that is
/// its integer part and one decimal, put together here with `itoa`. Anything else goes
/// through `serde_json`.
fn write_tenths(line: &mut Vec<u8>, value: f64) -> io::Result<()> {
    let tenths = (value * 10.0).round();
    if tenths.abs() >= MAX_PLAIN_TENTHS || tenths / 10.0 != value {
        return Ok(serde_json::to_writer(line, &value)?);
    }
    if value.is_sign_negative() {
        line.push(b'-');
    }
    let tenths = tenths.abs() as u64;
    line.extend_from_slice(itoa::Buffer::new().format(tenths / 10).as_bytes());
    line.push(b'.');
    line.push(b'0' + (tenths % 10) as u8);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_line(row: &DigitRow<'_>) -> String {
        let mut writer = DigitWriter::new(Vec::new(), DetectFormat::Jsonl, false);
        writer.write(row).unwrap();
        String::from_utf8(writer.out).unwrap()
    }

    fn row(file: &str, digit: char, value: f64) -> DigitRow<'_> {
        DigitRow {
            file,
            channel: 3,
            digit,
            start_ms: value,
            end_ms: tenth(value + 70.04),
            detected_ms: tenth(-value),
            level_dbm0: value / 7.0,
        }
    }

    #[test]
    fn json_rows_are_the_bytes_serde_json_writes() {
        let mut values: Vec<f64> = (-20_000..20_000).map(|k| f64::from(k) / 10.0).collect();
        for scale in [1e3, 1e6, 1e9, 1e12, 1e13, 1e14, 1e15, 1e16, 1e20] {
            values.extend([scale, scale + 0.1, scale * 3.7, -scale * 9.9, scale / 3.0]);
        }
        values.extend([
            -0.0,
            0.05,
            1e-7,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::NAN,
            f64::INFINITY,
        ]);
        values.extend((0..5_000).map(|n| tenth(f64::from(n) * 1_234.567)));
        let files = [
            "keys.wav",
            "a \"quoted\" name\\with\ttabs",
            "caf\u{e9}.wav",
            "\u{1}",
        ];
        for (n, &value) in values.iter().enumerate() {
            let file = files[n % files.len()];
            let digit = ['1', '#', '*', 'D', '\'', '\u{e9}'][n % 6];
            let row = row(file, digit, value);
            let expected = serde_json::to_string(&row).unwrap() + "\n";
            assert_eq!(json_line(&row), expected, "{value:?}");
        }
    }

    #[test]
    fn a_new_file_name_is_escaped_afresh() {
        let mut writer = DigitWriter::new(Vec::new(), DetectFormat::Jsonl, false);
        for file in ["one.wav", "two \"2\".wav", "one.wav"] {
            writer.write(&row(file, '5', 12.3)).unwrap();
        }
        let text = String::from_utf8(writer.out).unwrap();
        let files: Vec<String> = text
            .lines()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).unwrap()["file"].to_string()
            })
            .collect();
        assert_eq!(
            files,
            [r#""one.wav""#, r#""two \"2\".wav""#, r#""one.wav""#]
        );
    }
}
