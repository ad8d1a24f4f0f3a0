//! [`WavReader`]: samples out of the data chunk as `f32` frames, through hound for the
//! rarer layouts and straight from the read buffer for 16-bit PCM and G.711.

use std::io::{self, BufRead, BufReader, Cursor, Read};

use super::header::read_full;
use super::{Error, FORMAT_IEEE_FLOAT, FORMAT_PCM, Header, SampleFormat};
use crate::codec::Encoding;

/// Bytes [`WavReader::new`] buffers.
const READ_BUFFER_LEN: usize = 8 * 1024;

/// Size of the canonical header hound decodes behind.
const CANONICAL_HEADER_LEN: usize = 44;

/// The caller's reader, buffered, ending in an error rather than `Ok(0)`: hound only
/// reads inside the announced data chunk, so running out there means truncation.
struct Source<R> {
    inner: BufReader<R>,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(0) if !buf.is_empty() => return Err(io::ErrorKind::UnexpectedEof.into()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

/// hound decoding linear samples behind the canonical header.
type HoundReader<R> = hound::WavReader<io::Chain<Cursor<[u8; CANONICAL_HEADER_LEN]>, Source<R>>>;

/// Where a [`WavReader`]'s samples come from, and how they become `f32`.
enum Samples<R> {
    /// Integer PCM through hound; multiply by the scale to get full scale 1.0.
    Int(HoundReader<R>, f32),
    /// 32-bit float through hound, used as they are.
    Float(HoundReader<R>),
    /// 16-bit PCM or G.711 codes straight from the read buffer, decoded by
    /// [`Encoding::decode`]: the common formats skip hound's per-sample path.
    Codes(BufReader<R>, Encoding),
}

/// Why a read of samples stopped before filling its buffer.
enum Stop {
    /// The input ended (inside the announced data chunk).
    End,
    /// The reader failed.
    Io(io::Error),
    /// hound refused the sample layout.
    Rejected,
}

/// A streaming WAV reader: 8/16/24/32-bit integer or 32-bit float PCM and G.711 mu-law
/// or A-law, any channel count, 8 to 48 kHz, out as interleaved `f32` frames with full
/// scale at 1.0.
///
/// Scaling: 8-bit (unsigned, centred at 128) divides by 128, 16-bit by 32 768, 24-bit
/// by 8 388 608, 32-bit by 2 147 483 648; G.711 codes decode to their 16-bit linear
/// value ([`crate::codec::g711`]) divided by 32 768; float samples pass unchanged (values
/// beyond ±1.0 included), except that NaN and infinities read as 0.0 so they cannot
/// poison a filter downstream.
///
/// Construction allocates a fixed 8 KiB read buffer, or the size given to
/// [`WavReader::with_capacity`] (the reader need not be buffered);
/// [`WavReader::read_frames`] does not allocate.
pub struct WavReader<R> {
    samples: Samples<R>,
    header: Header,
    format: SampleFormat,
    frames_read: u64,
    pending: Option<Error>,
    finished: bool,
}

impl<R: Read> WavReader<R> {
    /// Reads and validates the header; the reader is then at the first sample.
    pub fn new(reader: R) -> Result<Self, Error> {
        Self::with_capacity(READ_BUFFER_LEN, reader)
    }

    /// [`WavReader::new`] with a read buffer of `capacity` bytes: a large file read in
    /// large pieces takes fewer system calls.
    pub fn with_capacity(capacity: usize, reader: R) -> Result<Self, Error> {
        let mut buffered = BufReader::with_capacity(capacity, reader);
        let header = Header::read(&mut buffered)?;
        Self::with_buffer(header, buffered)
    }

    /// Continues from a header already read with [`Header::read`]; `reader` must be at the
    /// first byte of the data chunk's samples. Fails as [`Header::sample_format`] does
    /// for encodings other than those listed on [`WavReader`].
    pub fn from_header(header: Header, reader: R) -> Result<Self, Error> {
        Self::with_buffer(header, BufReader::with_capacity(READ_BUFFER_LEN, reader))
    }

    fn with_buffer(header: Header, buffered: BufReader<R>) -> Result<Self, Error> {
        let format = header.sample_format()?;
        let samples = match format {
            SampleFormat::Pcm { bits: 16 } => Samples::Codes(buffered, Encoding::S16le),
            SampleFormat::Pcm { bits } => Samples::Int(
                hound_reader(&header, FORMAT_PCM, buffered)?,
                1.0 / (1u32 << (bits - 1)) as f32,
            ),
            SampleFormat::Float => {
                Samples::Float(hound_reader(&header, FORMAT_IEEE_FLOAT, buffered)?)
            }
            SampleFormat::Ulaw => Samples::Codes(buffered, Encoding::Ulaw),
            SampleFormat::Alaw => Samples::Codes(buffered, Encoding::Alaw),
        };
        Ok(WavReader {
            samples,
            header,
            format,
            frames_read: 0,
            pending: None,
            finished: false,
        })
    }

    /// The header as read.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// How the file stores its samples.
    pub fn sample_format(&self) -> SampleFormat {
        self.format
    }

    /// Sample rate in hertz (8 000 to 48 000).
    pub fn sample_rate(&self) -> u32 {
        self.header.sample_rate.hz()
    }

    /// Channels per frame (at least 1).
    pub fn channels(&self) -> u16 {
        self.header.channels
    }

    /// Frames the header announces; a truncated file holds fewer.
    pub fn len_frames(&self) -> u64 {
        self.header.len_frames()
    }

    /// Reads up to `out.len() / channels` whole frames, interleaved, as `f32` with full
    /// scale 1.0; returns the frames read, 0 at the end of the data (or when `out` holds
    /// less than one frame).
    ///
    /// If the file ends early (or the reader fails), the complete frames before that point
    /// are returned first; the following call returns [`Error::Truncated`] (or
    /// [`Error::Io`]) once, and calls after that return `Ok(0)`. Samples written to `out`
    /// beyond the returned frames are unspecified.
    pub fn read_frames(&mut self, out: &mut [f32]) -> Result<usize, Error> {
        if let Some(err) = self.pending.take() {
            return Err(err);
        }
        if self.finished {
            return Ok(0);
        }
        let channels = usize::from(self.header.channels);
        let remaining = self.len_frames() - self.frames_read;
        let frames = (out.len() / channels).min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let out = &mut out[..frames * channels];

        let (filled, stop) = match &mut self.samples {
            Samples::Int(samples, scale) => {
                let scale = *scale;
                fill(out, samples.samples::<i32>(), |s| s as f32 * scale)
            }
            Samples::Float(samples) => fill(out, samples.samples::<f32>(), |s| {
                if s.is_finite() { s } else { 0.0 }
            }),
            Samples::Codes(source, encoding) => decode_codes(source, *encoding, out),
        };
        let frames = filled / channels;
        self.frames_read += frames as u64;

        let Some(stop) = stop else {
            return Ok(frames);
        };
        self.finished = true;
        let err = match stop {
            Stop::End => Error::Truncated {
                frames_read: self.frames_read,
                frames_expected: self.len_frames(),
            },
            Stop::Io(e) => Error::Io(e),
            Stop::Rejected => Error::CorruptHeader("sample layout rejected by the decoder"),
        };
        if frames == 0 {
            Err(err)
        } else {
            self.pending = Some(err);
            Ok(frames)
        }
    }
}

/// Puts hound behind a canonical header with format tag `tag` for the validated layout.
fn hound_reader<R: Read>(
    header: &Header,
    tag: u16,
    buffered: BufReader<R>,
) -> Result<HoundReader<R>, Error> {
    let canonical = canonical_header(header, tag);
    let source = Source { inner: buffered };
    hound::WavReader::new(Cursor::new(canonical).chain(source)).map_err(|e| match e {
        hound::Error::IoError(e) => Error::Io(e),
        hound::Error::FormatError(reason) => Error::CorruptHeader(reason),
        _ => Error::UnsupportedFormat {
            format_tag: header.format_tag,
            bits_per_sample: header.bits_per_sample,
        },
    })
}

/// Converts samples into `out` until it is full or a sample fails; returns the samples
/// written and why it stopped short.
fn fill<S>(
    out: &mut [f32],
    mut samples: impl Iterator<Item = Result<S, hound::Error>>,
    convert: impl Fn(S) -> f32,
) -> (usize, Option<Stop>) {
    for (i, slot) in out.iter_mut().enumerate() {
        match samples.next() {
            Some(Ok(sample)) => *slot = convert(sample),
            Some(Err(hound::Error::IoError(e))) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return (i, Some(Stop::End));
            }
            Some(Err(hound::Error::IoError(e))) => return (i, Some(Stop::Io(e))),
            Some(Err(_)) => return (i, Some(Stop::Rejected)),
            None => return (i, None),
        }
    }
    (out.len(), None)
}

/// Decodes samples of `encoding` from `source` into `out` until it is full or the input
/// ends; returns the samples written and why it stopped short. Whole samples are decoded
/// straight from the read buffer; a sample split across two refills is put together.
fn decode_codes<R: Read>(
    source: &mut BufReader<R>,
    encoding: Encoding,
    out: &mut [f32],
) -> (usize, Option<Stop>) {
    let size = encoding.bytes_per_sample();
    let mut filled = 0;
    while filled < out.len() {
        let bytes = match source.fill_buf() {
            Ok([]) => return (filled, Some(Stop::End)),
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (filled, Some(Stop::Io(e))),
        };
        let whole = (bytes.len() / size).min(out.len() - filled);
        if whole == 0 {
            let mut split = [0u8; 2];
            match read_full(source, &mut split[..size]) {
                Ok(read) if read == size => {}
                Ok(_) => return (filled, Some(Stop::End)),
                Err(Error::Io(e)) => return (filled, Some(Stop::Io(e))),
                Err(_) => return (filled, Some(Stop::End)),
            }
            encoding
                .decode(&split[..size], &mut out[filled..filled + 1])
                .expect("one sample fits one slot");
            filled += 1;
            continue;
        }
        let decoded = encoding
            .decode(&bytes[..whole * size], &mut out[filled..filled + whole])
            .expect("whole samples fit their slots");
        source.consume(decoded * size);
        filled += decoded;
    }
    (filled, None)
}

/// A plain 16-byte-fmt header with format tag `tag` that hound accepts for the
/// validated layout.
fn canonical_header(header: &Header, tag: u16) -> [u8; CANONICAL_HEADER_LEN] {
    let rate = header.sample_rate.hz();
    let block_align = u32::from(header.block_align);
    // Both fit: at most 48 000 x 65 535, and at most the announced data length.
    let byte_rate = rate * block_align;
    let data_len = header.len_frames() as u32 * block_align;

    let mut bytes = [0u8; CANONICAL_HEADER_LEN];
    bytes[0..4].copy_from_slice(b"RIFF");
    bytes[4..8].copy_from_slice(&data_len.saturating_add(36).to_le_bytes());
    bytes[8..12].copy_from_slice(b"WAVE");
    bytes[12..16].copy_from_slice(b"fmt ");
    bytes[16..20].copy_from_slice(&16u32.to_le_bytes());
    bytes[20..22].copy_from_slice(&tag.to_le_bytes());
    bytes[22..24].copy_from_slice(&header.channels.to_le_bytes());
    bytes[24..28].copy_from_slice(&rate.to_le_bytes());
    bytes[28..32].copy_from_slice(&byte_rate.to_le_bytes());
    bytes[32..34].copy_from_slice(&header.block_align.to_le_bytes());
    bytes[34..36].copy_from_slice(&header.bits_per_sample.to_le_bytes());
    bytes[36..40].copy_from_slice(b"data");
    bytes[40..44].copy_from_slice(&data_len.to_le_bytes());
    bytes
}
