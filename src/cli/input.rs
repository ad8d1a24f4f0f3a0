//! Opening what `detect` reads: WAV files in any format the WAV reader knows, or
//! headerless audio, from a path or standard input.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, bail};
use tonegate::codec::Encoding;
use tonegate::media::wav::{self, WavReader};
use tonegate::{SampleRate, SampleRateError};

/// Bytes read per call from headerless input.
const RAW_READ_BYTES: usize = 16 * 1024;
/// Bytes a WAV file is read by per call: an hour of 8 kHz audio in under a thousand.
const READ_BYTES: usize = 64 * 1024;

/// An open audio input delivering interleaved frames as `f32`.
pub(super) struct Input {
    rate: SampleRate,
    channels: u16,
    len_frames: Option<u64>,
    source: Source,
}

enum Source {
    Wav(WavReader<Box<dyn Read>>),
    Raw(RawReader),
}

/// Headerless mono audio in one of the wire encodings.
struct RawReader {
    reader: Box<dyn Read>,
    encoding: Encoding,
    bytes: Vec<u8>,
    /// Bytes of an incomplete sample carried to the next read.
    carried: usize,
}

impl Input {
    /// Opens `path` (`-` for standard input). `raw` gives the rate and encoding of
    /// headerless input; without it the input must be a WAV file.
    pub(super) fn open(path: &Path, raw: Option<(SampleRate, Encoding)>) -> anyhow::Result<Input> {
        let reader: Box<dyn Read> = if path == Path::new("-") {
            Box::new(io::stdin().lock())
        } else {
            let file = File::open(path).context("cannot open")?;
            if file.metadata().map(|m| m.len() == 0).unwrap_or(false) {
                bail!("file is empty");
            }
            // Both readers below buffer their input themselves.
            Box::new(file)
        };
        match raw {
            Some((rate, encoding)) => {
                let mut reader = BufReader::new(reader);
                if starts_with_riff(&mut reader)? {
                    bail!(
                        "starts with a RIFF header: this is a WAV file, not headerless audio; \
                         leave out --raw, --rate and --encoding (the header gives them)"
                    );
                }
                Ok(Input {
                    rate,
                    channels: 1,
                    len_frames: None,
                    source: Source::Raw(RawReader {
                        reader: Box::new(reader),
                        encoding,
                        bytes: vec![0; RAW_READ_BYTES],
                        carried: 0,
                    }),
                })
            }
            None => {
                let wav = WavReader::with_capacity(READ_BYTES, reader).map_err(explain_low_rate)?;
                Ok(Input {
                    rate: SampleRate::new(wav.sample_rate())?,
                    channels: wav.channels(),
                    len_frames: Some(wav.len_frames()),
                    source: Source::Wav(wav),
                })
            }
        }
    }

    /// Sample rate.
    pub(super) fn rate(&self) -> SampleRate {
        self.rate
    }

    /// Channels per frame.
    pub(super) fn channels(&self) -> u16 {
        self.channels
    }

    /// Frames the header announces, when there is a header.
    pub(super) fn len_frames(&self) -> Option<u64> {
        self.len_frames
    }

    /// Reads interleaved frames into `out`; returns frames read, 0 at the end.
    pub(super) fn read_frames(&mut self, out: &mut [f32]) -> anyhow::Result<usize> {
        match &mut self.source {
            Source::Wav(wav) => Ok(wav.read_frames(out)?),
            Source::Raw(raw) => raw.read_samples(out),
        }
    }
}

/// Whether the input begins with `RIFF`, read without consuming it.
fn starts_with_riff(reader: &mut impl BufRead) -> anyhow::Result<bool> {
    let head = loop {
        match reader.fill_buf() {
            Ok(head) => break head,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error).context("read failed"),
        }
    };
    Ok(head.starts_with(b"RIFF"))
}

/// Says what to do with a file below 8 kHz (a 4 kHz recording, say): the receiver takes
/// the rates live streams use, 8 to 48 kHz, and leaves upsampling to a tool made for it.
fn explain_low_rate(error: wav::Error) -> anyhow::Error {
    match error {
        wav::Error::UnsupportedRate(SampleRateError(hz)) if hz < SampleRate::MIN => {
            anyhow::anyhow!(
                "{error}; the detector reads 8 to 48 kHz, so upsample it first, e.g. \
             `sox in.wav -r 8000 out.wav`"
            )
        }
        error => error.into(),
    }
}

impl RawReader {
    fn read_samples(&mut self, out: &mut [f32]) -> anyhow::Result<usize> {
        let sample_size = self.encoding.bytes_per_sample();
        let capacity = (out.len() * sample_size).min(self.bytes.len());
        loop {
            let read = match self.reader.read(&mut self.bytes[self.carried..capacity]) {
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error).context("read failed"),
            };
            if read == 0 {
                if self.carried > 0 {
                    bail!(
                        "input ends inside a sample ({} stray byte(s) for {})",
                        self.carried,
                        self.encoding
                    );
                }
                return Ok(0);
            }
            let available = self.carried + read;
            let whole = available - available % sample_size;
            if whole == 0 {
                self.carried = available;
                continue;
            }
            let samples = self.encoding.decode(&self.bytes[..whole], out)?;
            self.bytes.copy_within(whole..available, 0);
            self.carried = available - whole;
            return Ok(samples);
        }
    }
}
