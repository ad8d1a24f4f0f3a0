//! WAV files: a streaming reader for linear PCM, float and G.711 audio, and a writer for
//! 16-bit PCM, mu-law and A-law.
//!
//! [`WavReader`] reads 8/16/24/32-bit integer and 32-bit float PCM (plain or
//! `WAVE_FORMAT_EXTENSIBLE`) and G.711 mu-law and A-law (format tags 7 and 6, plain or
//! extensible), any number of channels, at the rates tonegate supports, frame by frame into
//! caller buffers, without loading the file. [`Header::sample_format`] says which of these
//! a file holds. [`write_wav`] writes any [`Encoding`] with the header sox writes for it.
//!
//! ```
//! use std::io::Cursor;
//!
//! use tonegate_dsp::codec::Encoding;
//! use tonegate_dsp::wav::{self, SampleFormat, WavReader};
//!
//! # fn main() -> Result<(), wav::Error> {
//! let tone: Vec<f32> = (0..160).map(|i| (i as f32 * 0.3).sin() * 0.5).collect();
//! let mut file = Vec::new();
//! wav::write_wav(&mut file, 8_000, 1, Encoding::Ulaw, &tone)?;
//!
//! let mut reader = WavReader::new(Cursor::new(file))?;
//! assert_eq!(reader.sample_format(), SampleFormat::Ulaw);
//! println!("{} Hz, {} ch, {}", reader.sample_rate(), reader.channels(), reader.sample_format());
//! let mut frame = [0.0f32; 160];
//! assert_eq!(reader.read_frames(&mut frame)?, 160);
//! assert!((frame[10] - tone[10]).abs() < 0.02);
//! # Ok(())
//! # }
//! ```
//!
//! # Untrusted input
//! Hound's header parser has had panics on malformed headers, ignores RIFF pad bytes and
//! `fact` chunk sizes, and trusts field combinations it cannot decode, so the reader does
//! not hand it the file's header. [`Header::read`] walks the RIFF chunks itself with
//! fixed-size buffers (streaming past unknown chunks, honouring pad bytes whether or not
//! the writer put them in), the layout is validated field by field, and then either hound
//! decodes linear samples behind a canonical 44-byte header built from the validated
//! values, or G.711 codes go straight from the read buffer through [`Encoding::decode`].
//! No input makes the reader panic, and nothing it allocates depends on a size the header
//! claims. Where the header is redundant the reader is more lenient than hound: the RIFF
//! size and byte-rate fields are not checked, and a data chunk that is not a whole number
//! of frames loses only its trailing partial frame. Being a single forward pass, it needs
//! the fmt chunk before the data chunk, as every writer puts it.
//!
//! # Truncated files
//! A data chunk that announces more frames than the file holds (a cut recording, or a
//! streaming writer's 0xFFFFFFFF length) still gives all of its complete frames:
//! [`WavReader::read_frames`] delivers them, the next call returns [`Error::Truncated`]
//! once, and later calls return `Ok(0)`. A partial frame at the cut is dropped. Callers
//! that want whatever audio there is can report the error as a warning and keep the
//! results.

mod write;

use std::fmt;
use std::io::{self, BufRead, BufReader, Cursor, Read};

use crate::codec::Encoding;
use crate::{SampleRate, SampleRateError};

pub use write::write_wav;

/// `WAVE_FORMAT_PCM`: linear integer samples.
pub const FORMAT_PCM: u16 = 0x0001;
/// `WAVE_FORMAT_IEEE_FLOAT`: floating-point samples.
pub const FORMAT_IEEE_FLOAT: u16 = 0x0003;
/// `WAVE_FORMAT_ALAW`: G.711 A-law.
pub const FORMAT_ALAW: u16 = 0x0006;
/// `WAVE_FORMAT_MULAW`: G.711 mu-law.
pub const FORMAT_MULAW: u16 = 0x0007;
/// `WAVE_FORMAT_EXTENSIBLE`: the real format is in the sub-format GUID.
const FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// Bytes 2..16 of every `KSDATAFORMAT_SUBTYPE_*` GUID that wraps a plain format tag (the
/// tag itself is in bytes 0..2).
const SUBFORMAT_GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

/// Size of the canonical header hound decodes behind.
const CANONICAL_HEADER_LEN: usize = 44;

/// What can go wrong reading or writing a WAV file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input does not start with a RIFF/WAVE header.
    #[error("not a WAV file (no RIFF/WAVE header)")]
    NotWav,
    /// The RIFF structure is broken: no fmt chunk, a short fmt chunk, or the file ends
    /// before the data chunk.
    #[error("corrupt WAV header: {0}")]
    CorruptHeader(&'static str),
    /// A well-formed header for an encoding this reader does not decode (ADPCM, 64-bit
    /// float, 12-bit PCM, 16-bit containers of G.711, ...). A reader for that encoding can
    /// take over.
    #[error(
        "unsupported WAV encoding (format tag {format_tag:#06x}, {bits_per_sample} bits per sample)"
    )]
    UnsupportedFormat {
        /// The format tag, resolved through `WAVE_FORMAT_EXTENSIBLE`'s sub-format when it
        /// wraps a plain tag (so an extensible ADPCM file reports 0x0002).
        format_tag: u16,
        /// Bits per sample as the header declares them.
        bits_per_sample: u16,
    },
    /// The sample rate is outside 8 to 48 kHz.
    #[error(transparent)]
    UnsupportedRate(#[from] SampleRateError),
    /// The header declares zero channels, or [`write_wav`] was asked for zero.
    #[error("WAV header declares zero channels")]
    ZeroChannels,
    /// Header fields that contradict each other or make no sense.
    #[error("absurd WAV header: {0}")]
    AbsurdHeader(&'static str),
    /// The file ends before the number of frames its data chunk announces.
    #[error("WAV data truncated: {frames_read} of {frames_expected} frames present")]
    Truncated {
        /// Complete frames delivered before the end of the file.
        frames_read: u64,
        /// Frames the data chunk announced.
        frames_expected: u64,
    },
    /// [`write_wav`] was given a sample count that is not a whole number of frames.
    #[error("{samples} samples are not a whole number of {channels}-channel frames")]
    PartialFrame {
        /// Samples given.
        samples: usize,
        /// Channels per frame.
        channels: u16,
    },
    /// [`write_wav`] was asked for more channels than the 16-bit block-align field can
    /// hold in the chosen encoding (32 767 for 16-bit PCM).
    #[error("{channels} channels do not fit a WAV frame in this encoding")]
    TooManyChannels {
        /// Channels asked for.
        channels: u16,
    },
    /// [`write_wav`] was given more samples than a WAV file can hold.
    #[error("{samples} samples exceed the 4 GiB WAV size limit")]
    TooLong {
        /// Samples given.
        samples: usize,
    },
    /// The underlying reader or writer failed.
    #[error("WAV I/O error: {0}")]
    Io(#[from] io::Error),
}

/// How a WAV file stores its samples, among the encodings [`WavReader`] decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleFormat {
    /// Linear integer PCM: 8-bit unsigned, or 16, 24 (in 3 or 4 bytes) or 32-bit signed.
    Pcm {
        /// Significant bits per sample: 8, 16, 24 or 32.
        bits: u16,
    },
    /// 32-bit IEEE float.
    Float,
    /// G.711 mu-law, one byte per sample (format tag 7).
    Ulaw,
    /// G.711 A-law, one byte per sample (format tag 6).
    Alaw,
}

impl fmt::Display for SampleFormat {
    /// Prints a short description: `16-bit PCM`, `32-bit float`, `G.711 mu-law` or
    /// `G.711 A-law`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SampleFormat::Pcm { bits } => write!(f, "{bits}-bit PCM"),
            SampleFormat::Float => f.write_str("32-bit float"),
            SampleFormat::Ulaw => f.write_str("G.711 mu-law"),
            SampleFormat::Alaw => f.write_str("G.711 A-law"),
        }
    }
}

/// The format a WAV file's header declares, with its RIFF structure checked.
///
/// [`Header::read`] guarantees at least one channel, a supported sample rate and a
/// non-zero block align; whether the encoding is one [`WavReader`] decodes is what
/// [`Header::sample_format`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    format_tag: u16,
    channels: u16,
    sample_rate: SampleRate,
    block_align: u16,
    container_bits: u16,
    bits_per_sample: u16,
    data_len: u32,
}

/// The fields of a fmt chunk, before validation.
struct Fmt {
    format_tag: u16,
    channels: u16,
    sample_rate: u32,
    block_align: u16,
    container_bits: u16,
    valid_bits: u16,
}

impl Header {
    /// Reads the RIFF header and chunks up to the first byte of the data chunk's samples.
    ///
    /// Unknown chunks (`LIST`, `fact`, `bext`, ...) are skipped by reading past them; the
    /// last fmt chunk before the data chunk counts. Memory use is fixed whatever the
    /// chunk sizes say. Reads unbuffered in small pieces; pass a buffered reader.
    pub fn read<R: Read>(reader: &mut R) -> Result<Header, Error> {
        let mut riff = [0u8; 12];
        match read_full(reader, &mut riff)? {
            12 if &riff[0..4] == b"RIFF" && &riff[8..12] == b"WAVE" => {}
            _ => return Err(Error::NotWav),
        }

        let mut fmt = None;
        let mut pad_pending = false;
        loop {
            let mut chunk = [0u8; 8];
            let mut start = 0;
            if pad_pending {
                // RIFF pads odd-sized chunks to even size, but some writers omit the pad
                // byte. Chunk ids are printable ASCII, so a zero byte can only be padding.
                if read_full(reader, &mut chunk[..1])? == 1 && chunk[0] != 0 {
                    start = 1;
                }
            }
            if start + read_full(reader, &mut chunk[start..])? < chunk.len() {
                return Err(Error::CorruptHeader("file ends before the data chunk"));
            }
            let len = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            match &chunk[0..4] {
                b"fmt " => fmt = Some(read_fmt(reader, len)?),
                b"data" => {
                    let fmt = fmt.ok_or(Error::CorruptHeader("data chunk before fmt chunk"))?;
                    return Header::validate(fmt, len);
                }
                _ => skip(reader, u64::from(len))?,
            }
            pad_pending = len % 2 == 1;
        }
    }

    fn validate(fmt: Fmt, data_len: u32) -> Result<Header, Error> {
        if fmt.channels == 0 {
            return Err(Error::ZeroChannels);
        }
        let sample_rate = SampleRate::new(fmt.sample_rate)?;
        if fmt.block_align == 0 {
            return Err(Error::AbsurdHeader("block align is 0"));
        }
        let bits_per_sample = if fmt.valid_bits > 0 {
            fmt.valid_bits
        } else {
            fmt.container_bits
        };
        Ok(Header {
            format_tag: fmt.format_tag,
            channels: fmt.channels,
            sample_rate,
            block_align: fmt.block_align,
            container_bits: fmt.container_bits,
            bits_per_sample,
            data_len,
        })
    }

    /// The format tag ([`FORMAT_PCM`], [`FORMAT_MULAW`], ...), resolved through
    /// `WAVE_FORMAT_EXTENSIBLE`'s sub-format when that wraps a plain tag; `0xFFFE` when
    /// the sub-format is some other GUID.
    pub fn format_tag(&self) -> u16 {
        self.format_tag
    }

    /// Channels per frame (at least 1).
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// The sample rate.
    pub fn sample_rate(&self) -> SampleRate {
        self.sample_rate
    }

    /// Bytes per frame (at least 1).
    pub fn block_align(&self) -> u16 {
        self.block_align
    }

    /// Significant bits per sample: `wValidBitsPerSample` for an extensible header that
    /// sets it, otherwise `wBitsPerSample`.
    pub fn bits_per_sample(&self) -> u16 {
        self.bits_per_sample
    }

    /// Length of the data chunk in bytes, as announced.
    pub fn data_len(&self) -> u32 {
        self.data_len
    }

    /// Whole frames the data chunk announces (a trailing partial frame does not count).
    pub fn len_frames(&self) -> u64 {
        u64::from(self.data_len / u32::from(self.block_align))
    }

    /// The sample encoding, when it is one [`WavReader`] decodes.
    ///
    /// Fails with [`Error::UnsupportedFormat`] for a consistent layout of another encoding
    /// and with [`Error::AbsurdHeader`] when the layout contradicts itself (zero or more
    /// than 32 bits per sample, a block align that does not hold them). G.711 needs one
    /// byte per sample. Does not allocate.
    pub fn sample_format(&self) -> Result<SampleFormat, Error> {
        let unsupported = || Error::UnsupportedFormat {
            format_tag: self.format_tag,
            bits_per_sample: self.bits_per_sample,
        };
        let tag = self.format_tag;
        if !matches!(
            tag,
            FORMAT_PCM | FORMAT_IEEE_FLOAT | FORMAT_MULAW | FORMAT_ALAW
        ) {
            return Err(unsupported());
        }
        let container = self.container_bits;
        if container == 0 {
            return Err(Error::AbsurdHeader("bits per sample is 0"));
        }
        if tag == FORMAT_IEEE_FLOAT && container == 64 {
            return Err(unsupported());
        }
        if container > 32 {
            return Err(Error::AbsurdHeader("bits per sample above 32"));
        }
        if !self.block_align.is_multiple_of(self.channels) {
            return Err(Error::AbsurdHeader(
                "block align is not a whole number of bytes per channel",
            ));
        }
        let bytes = self.block_align / self.channels;
        if u32::from(bytes) * 8 < u32::from(container) {
            return Err(Error::AbsurdHeader(
                "block align too small for bits per sample",
            ));
        }
        let bits = self.bits_per_sample;
        if bits > container {
            return Err(Error::AbsurdHeader(
                "valid bits per sample exceed bits per sample",
            ));
        }
        match (tag, bytes, bits) {
            (FORMAT_PCM, 1, 8)
            | (FORMAT_PCM, 2, 16)
            | (FORMAT_PCM, 3 | 4, 24)
            | (FORMAT_PCM, 4, 32) => Ok(SampleFormat::Pcm { bits }),
            (FORMAT_IEEE_FLOAT, 4, 32) => Ok(SampleFormat::Float),
            (FORMAT_MULAW, 1, 8) => Ok(SampleFormat::Ulaw),
            (FORMAT_ALAW, 1, 8) => Ok(SampleFormat::Alaw),
            _ => Err(unsupported()),
        }
    }
}

/// Reads a fmt chunk of `len` bytes, keeping the first 40 (the extensible layout).
fn read_fmt<R: Read>(reader: &mut R, len: u32) -> Result<Fmt, Error> {
    if len < 16 {
        return Err(Error::CorruptHeader("fmt chunk shorter than 16 bytes"));
    }
    let mut bytes = [0u8; 40];
    let kept = bytes.len().min(len as usize);
    if read_full(reader, &mut bytes[..kept])? < kept {
        return Err(Error::CorruptHeader("file ends inside the fmt chunk"));
    }
    skip(reader, u64::from(len) - kept as u64)?;

    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let mut fmt = Fmt {
        format_tag: u16_at(0),
        channels: u16_at(2),
        sample_rate: u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        block_align: u16_at(12),
        container_bits: u16_at(14),
        valid_bits: 0,
    };
    if fmt.format_tag == FORMAT_EXTENSIBLE {
        if kept < 40 {
            return Err(Error::CorruptHeader(
                "WAVE_FORMAT_EXTENSIBLE fmt chunk shorter than 40 bytes",
            ));
        }
        fmt.valid_bits = u16_at(18);
        if bytes[26..40] == SUBFORMAT_GUID_TAIL {
            fmt.format_tag = u16_at(24);
        }
    }
    Ok(fmt)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, Error> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io(e)),
        }
    }
    Ok(filled)
}

/// Reads past `len` bytes of a chunk without storing them.
fn skip<R: Read>(reader: &mut R, len: u64) -> Result<(), Error> {
    if io::copy(&mut reader.take(len), &mut io::sink())? < len {
        return Err(Error::CorruptHeader("file ends before the data chunk"));
    }
    Ok(())
}

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
/// Construction allocates a fixed 8 KiB read buffer (the reader need not be buffered);
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
        let mut buffered = BufReader::new(reader);
        let header = Header::read(&mut buffered)?;
        Self::with_buffer(header, buffered)
    }

    /// Continues from a header already read with [`Header::read`]; `reader` must be at the
    /// first byte of the data chunk's samples. Fails as [`Header::sample_format`] does
    /// for encodings other than those listed on [`WavReader`].
    pub fn from_header(header: Header, reader: R) -> Result<Self, Error> {
        Self::with_buffer(header, BufReader::new(reader))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::g711;

    const SOX_ULAW_MONO: &[u8] = include_bytes!("../../../testdata/g711/sine1k_ulaw_mono.wav");
    const SOX_ALAW_STEREO: &[u8] = include_bytes!("../../../testdata/g711/sine1k_alaw_stereo.wav");
    const SOX_ALAW_ODD: &[u8] = include_bytes!("../../../testdata/g711/sine1k_alaw_odd.wav");
    /// Bytes before the samples in sox's G.711 files: RIFF (12), fmt (8 + 18), fact
    /// (8 + 4) and the data chunk header (8).
    const SOX_G711_HEADER_LEN: usize = 58;

    /// Little-endian fmt chunk body (16 bytes).
    fn fmt16(tag: u16, channels: u16, rate: u32, block_align: u16, bits: u16) -> Vec<u8> {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&tag.to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&rate.to_le_bytes());
        fmt.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
        fmt.extend_from_slice(&block_align.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        fmt
    }

    /// A 40-byte extensible fmt body wrapping `sub_tag`.
    fn fmt_extensible(channels: u16, block_align: u16, bits: u16, valid: u16, sub: u16) -> Vec<u8> {
        let mut fmt = fmt16(FORMAT_EXTENSIBLE, channels, 8_000, block_align, bits);
        fmt.extend_from_slice(&22u16.to_le_bytes());
        fmt.extend_from_slice(&valid.to_le_bytes());
        fmt.extend_from_slice(&0u32.to_le_bytes());
        fmt.extend_from_slice(&sub.to_le_bytes());
        fmt.extend_from_slice(&SUBFORMAT_GUID_TAIL);
        fmt
    }

    /// A RIFF/WAVE file of the given chunks.
    fn riff(chunks: &[(&[u8; 4], &[u8])]) -> Vec<u8> {
        let mut body = b"WAVE".to_vec();
        for (id, data) in chunks {
            body.extend_from_slice(*id);
            body.extend_from_slice(&(data.len() as u32).to_le_bytes());
            body.extend_from_slice(data);
            if data.len() % 2 == 1 {
                body.push(0);
            }
        }
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend_from_slice(&body);
        file
    }

    /// Reads a whole file with a small, odd-sized buffer; returns the samples and the
    /// error that ended the read, if any.
    fn read_all(bytes: &[u8]) -> Result<(Vec<f32>, Option<Error>), Error> {
        read_all_from(Cursor::new(bytes))
    }

    /// The samples of a file that must read to its announced end without error.
    fn read_whole(bytes: &[u8]) -> Vec<f32> {
        match read_all(bytes) {
            Ok((samples, None)) => samples,
            Ok((_, Some(e))) | Err(e) => panic!("{e}"),
        }
    }

    /// [`read_all`] from any reader.
    fn read_all_from(input: impl Read) -> Result<(Vec<f32>, Option<Error>), Error> {
        let mut reader = WavReader::new(input)?;
        let channels = usize::from(reader.channels());
        let mut buf = vec![0.0; channels * 7];
        let mut samples = Vec::new();
        loop {
            match reader.read_frames(&mut buf) {
                Ok(0) => return Ok((samples, None)),
                Ok(n) => samples.extend_from_slice(&buf[..n * channels]),
                Err(e) => {
                    assert_eq!(
                        reader.read_frames(&mut buf).unwrap(),
                        0,
                        "ends after an error"
                    );
                    return Ok((samples, Some(e)));
                }
            }
        }
    }

    /// Integer test signal covering the extremes of a `bits`-bit sample.
    fn int_signal(bits: u32, len: usize) -> Vec<i32> {
        let max = ((1i64 << (bits - 1)) - 1) as i32;
        let min = -max - 1;
        let mut signal = vec![0, max, min, 1, -1];
        signal.extend((0..len as i32).map(|i| (i * 7919 - 500) % max));
        signal
    }

    /// A file written by hound with `bytes_per_sample` bytes per container.
    fn hound_file<S: hound::Sample + Copy>(
        spec: hound::WavSpec,
        bytes_per_sample: u16,
        samples: &[S],
    ) -> Vec<u8> {
        let mut cursor = Cursor::new(Vec::new());
        let spec_ex = hound::WavSpecEx {
            spec,
            bytes_per_sample,
        };
        let mut writer = hound::WavWriter::new_with_spec_ex(&mut cursor, spec_ex).unwrap();
        for &sample in samples {
            writer.write_sample(sample).unwrap();
        }
        writer.finalize().unwrap();
        cursor.into_inner()
    }

    #[test]
    fn reads_every_integer_depth_and_channel_count_hound_writes() {
        for (bits, bytes) in [(8, 1), (16, 2), (24, 3), (24, 4), (32, 4)] {
            for channels in [1u16, 2, 3] {
                let len = 60 * usize::from(channels);
                let signal = int_signal(bits, len - 5);
                let spec = hound::WavSpec {
                    channels,
                    sample_rate: 16_000,
                    bits_per_sample: bits as u16,
                    sample_format: hound::SampleFormat::Int,
                };
                let file = hound_file(spec, bytes, &signal);
                let reader = WavReader::new(Cursor::new(&file)).unwrap();
                assert_eq!(reader.sample_rate(), 16_000);
                assert_eq!(reader.channels(), channels);
                assert_eq!(reader.len_frames(), 60);
                let (samples, error) = read_all(&file).unwrap();
                assert!(error.is_none(), "{bits}/{bytes}/{channels}: {error:?}");
                let scale = (1u64 << (bits - 1)) as f64;
                let expected: Vec<f32> = signal
                    .iter()
                    .map(|&s| (f64::from(s) / scale) as f32)
                    .collect();
                assert_eq!(
                    samples, expected,
                    "{bits} bits in {bytes} bytes, {channels} ch"
                );
            }
        }
    }

    #[test]
    fn reads_float_plain_and_extensible() {
        let signal = [0.0f32, 0.5, -1.0, 1.0, 1.75, -0.25, f32::NAN, f32::INFINITY];
        let expected = [0.0f32, 0.5, -1.0, 1.0, 1.75, -0.25, 0.0, 0.0];
        for channels in [1u16, 2] {
            let spec = hound::WavSpec {
                channels,
                sample_rate: 48_000,
                bits_per_sample: 32,
                sample_format: hound::SampleFormat::Float,
            };
            let extensible = hound_file(spec, 4, &signal);
            assert_eq!(read_all(&extensible).unwrap().0, expected);
        }
        let data: Vec<u8> = signal.iter().flat_map(|s| s.to_le_bytes()).collect();
        let plain = riff(&[
            (b"fmt ", &fmt16(FORMAT_IEEE_FLOAT, 1, 8_000, 4, 32)),
            (b"data", &data),
        ]);
        assert_eq!(read_all(&plain).unwrap().0, expected);
    }

    /// G.711 `codes` decoded the reference way: the scalar decoder, then / 32 768.
    fn g711_decoded(format: SampleFormat, codes: &[u8]) -> Vec<f32> {
        let decode = match format {
            SampleFormat::Ulaw => g711::ulaw_to_linear,
            SampleFormat::Alaw => g711::alaw_to_linear,
            other => panic!("{other} is not G.711"),
        };
        codes
            .iter()
            .map(|&code| f32::from(decode(code)) / 32_768.0)
            .collect()
    }

    #[test]
    fn reads_the_g711_files_sox_makes_exactly() {
        for (file, format, tag, channels, frames) in [
            (SOX_ULAW_MONO, SampleFormat::Ulaw, FORMAT_MULAW, 1, 800),
            (SOX_ALAW_STEREO, SampleFormat::Alaw, FORMAT_ALAW, 2, 100),
            // 101 samples: the data chunk is followed by a pad byte.
            (SOX_ALAW_ODD, SampleFormat::Alaw, FORMAT_ALAW, 1, 101),
        ] {
            let reader = WavReader::new(Cursor::new(file)).unwrap();
            let header = reader.header();
            assert_eq!(reader.sample_format(), format);
            assert_eq!(header.sample_format().unwrap(), format);
            assert_eq!(header.format_tag(), tag);
            assert_eq!(header.bits_per_sample(), 8);
            assert_eq!(header.block_align(), channels);
            assert_eq!(reader.sample_rate(), 8_000);
            assert_eq!(reader.channels(), channels);
            assert_eq!(reader.len_frames(), frames);
            let len = usize::from(channels) * frames as usize;
            assert_eq!(header.data_len() as usize, len);
            assert_eq!(file.len(), SOX_G711_HEADER_LEN + len + len % 2);

            let codes = &file[SOX_G711_HEADER_LEN..SOX_G711_HEADER_LEN + len];
            let (samples, error) = read_all(file).unwrap();
            assert!(error.is_none(), "{error:?}");
            assert_eq!(samples, g711_decoded(format, codes));
        }
    }

    #[test]
    fn the_sox_mu_law_sine_reads_as_a_sine() {
        let samples = read_all(SOX_ULAW_MONO).unwrap().0;
        // 1 kHz at 8 kHz: a period of 8 samples, peak near full scale.
        let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((0.9..=1.0).contains(&peak), "{peak}");
        for pair in samples.windows(9) {
            assert!((pair[0] - pair[8]).abs() < 0.05);
        }
    }

    #[test]
    fn reads_g711_at_any_rate_and_channel_count_in_every_fmt_layout() {
        let codes: Vec<u8> = (0..=255).collect();
        for (format, tag) in [
            (SampleFormat::Ulaw, FORMAT_MULAW),
            (SampleFormat::Alaw, FORMAT_ALAW),
        ] {
            for channels in [1u16, 2, 3] {
                let data = &codes[..256 / usize::from(channels) * usize::from(channels)];
                let expected = g711_decoded(format, data);
                let mut fmt18 = fmt16(tag, channels, 8_000, channels, 8);
                fmt18.extend_from_slice(&[0, 0]);
                let frames = (data.len() / usize::from(channels)) as u32;
                let files = [
                    riff(&[
                        (b"fmt ", &fmt16(tag, channels, 8_000, channels, 8)),
                        (b"data", data),
                    ]),
                    riff(&[
                        (b"fmt ", &fmt16(tag, channels, 16_000, channels, 8)),
                        (b"data", data),
                    ]),
                    riff(&[
                        (b"fmt ", &fmt16(tag, channels, 48_000, channels, 8)),
                        (b"data", data),
                    ]),
                    riff(&[
                        (b"fmt ", &fmt18),
                        (b"fact", &frames.to_le_bytes()),
                        (b"data", data),
                    ]),
                    riff(&[
                        (b"fmt ", &fmt_extensible(channels, channels, 8, 8, tag)),
                        (b"fact", &frames.to_le_bytes()),
                        (b"data", data),
                    ]),
                    riff(&[
                        (b"fmt ", &fmt_extensible(channels, channels, 8, 0, tag)),
                        (b"data", data),
                    ]),
                ];
                for (i, file) in files.iter().enumerate() {
                    let reader = WavReader::new(Cursor::new(file)).unwrap();
                    assert_eq!(reader.sample_format(), format, "{i}");
                    assert_eq!(reader.header().format_tag(), tag, "{i}");
                    let (samples, error) = read_all(file).unwrap();
                    assert!(
                        error.is_none(),
                        "{format} {channels} ch, file {i}: {error:?}"
                    );
                    assert_eq!(samples, expected, "{format} {channels} ch, file {i}");
                }
            }
        }
    }

    /// Hands out at most 3 bytes per read, and fails every fourth read with `Interrupted`.
    struct Trickle<'a> {
        bytes: &'a [u8],
        calls: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(4) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = buf.len().min(3).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn short_and_interrupted_reads_give_the_same_samples() {
        let pcm = riff(&[
            (b"fmt ", &fmt16(FORMAT_PCM, 2, 8_000, 4, 16)),
            (b"data", &(0..=255).collect::<Vec<u8>>()),
        ]);
        for file in [SOX_ULAW_MONO, SOX_ALAW_STEREO, SOX_ALAW_ODD, &pcm] {
            let whole = read_all(file).unwrap();
            let trickled = read_all_from(Trickle {
                bytes: file,
                calls: 0,
            })
            .unwrap();
            assert_eq!(trickled.0, whole.0);
            assert!(trickled.1.is_none() && whole.1.is_none());
            // Cut inside the data: the same frames, then the same error.
            let cut = &file[..file.len() - 7];
            let (whole, whole_error) = read_all(cut).unwrap();
            let (trickled, trickled_error) = read_all_from(Trickle {
                bytes: cut,
                calls: 0,
            })
            .unwrap();
            assert_eq!(trickled, whole);
            assert_eq!(format!("{trickled_error:?}"), format!("{whole_error:?}"));
        }
    }

    #[test]
    fn a_g711_reader_continues_from_a_header_read_separately() {
        let mut input = BufReader::new(Cursor::new(SOX_ALAW_STEREO));
        let header = Header::read(&mut input).unwrap();
        assert_eq!(header.sample_format().unwrap(), SampleFormat::Alaw);
        let mut reader = WavReader::from_header(header, input).unwrap();
        let mut buf = [0.0; 2 * 100];
        assert_eq!(reader.read_frames(&mut buf).unwrap(), 100);
        let codes = &SOX_ALAW_STEREO[SOX_G711_HEADER_LEN..];
        assert_eq!(buf[..], g711_decoded(SampleFormat::Alaw, codes)[..]);
        assert_eq!(reader.read_frames(&mut buf).unwrap(), 0);
    }

    #[test]
    fn every_cut_of_a_g711_file_gives_its_whole_frames_then_one_error() {
        let file = SOX_ALAW_STEREO;
        let codes = &file[SOX_G711_HEADER_LEN..];
        let expected = g711_decoded(SampleFormat::Alaw, codes);
        for len in 0..=file.len() {
            let cut = &file[..len];
            match read_all(cut) {
                Err(Error::NotWav) => assert!(len < 12, "{len}"),
                Err(Error::CorruptHeader(_)) => {
                    assert!((12..SOX_G711_HEADER_LEN).contains(&len), "{len}")
                }
                Ok((samples, error)) => {
                    let frames = (len - SOX_G711_HEADER_LEN) / 2;
                    assert_eq!(samples, expected[..2 * frames], "{len}");
                    match error {
                        None => assert_eq!(frames, 100),
                        Some(Error::Truncated {
                            frames_read,
                            frames_expected: 100,
                        }) => assert_eq!(frames_read, frames as u64),
                        Some(other) => panic!("{len}: {other}"),
                    }
                }
                Err(other) => panic!("{len}: {other}"),
            }
        }
    }

    #[test]
    fn g711_data_of_unknown_or_no_length_reads_what_is_there() {
        // Streaming writers that do not know the length write 0xFFFFFFFF.
        let mut file = SOX_ULAW_MONO.to_vec();
        file[SOX_G711_HEADER_LEN - 4..SOX_G711_HEADER_LEN].copy_from_slice(&[0xFF; 4]);
        let (samples, error) = read_all(&file).unwrap();
        assert_eq!(samples, read_all(SOX_ULAW_MONO).unwrap().0);
        assert!(matches!(
            error,
            Some(Error::Truncated {
                frames_read: 800,
                frames_expected: 0xFFFF_FFFF
            })
        ));
        // An empty data chunk is an empty file, not a truncated one.
        let empty = riff(&[
            (b"fmt ", &fmt16(FORMAT_MULAW, 1, 8_000, 1, 8)),
            (b"data", &[]),
        ]);
        assert!(read_whole(&empty).is_empty());
    }

    #[test]
    fn g711_headers_are_read_leniently() {
        // The RIFF size is not trusted.
        for riff_size in [0u32, 4, 0xFFFF_FFFF] {
            let mut file = SOX_ALAW_ODD.to_vec();
            file[4..8].copy_from_slice(&riff_size.to_le_bytes());
            assert_eq!(read_whole(&file), read_whole(SOX_ALAW_ODD));
        }
        // Odd-sized unknown chunks, the last fmt before the data counting, a fmt chunk
        // longer than 18 bytes, and chunks after the data.
        let mut long_fmt = fmt16(FORMAT_ALAW, 1, 8_000, 1, 8);
        long_fmt.extend_from_slice(&[3, 0, 0xAB, 0xCD, 0xEF]);
        let file = riff(&[
            (b"LIST", b"INFOICMT odd"),
            (b"fmt ", &fmt16(FORMAT_PCM, 1, 8_000, 2, 16)),
            (b"junk", &[1, 2, 3]),
            (b"fmt ", &long_fmt),
            (b"fact", &3u32.to_le_bytes()),
            (b"data", &[0xD5, 0x55, 0xD5]),
            (b"data", &[1, 2, 3, 4]),
            (b"fmt ", &fmt16(FORMAT_MULAW, 1, 8_000, 1, 8)),
        ]);
        let reader = WavReader::new(Cursor::new(&file)).unwrap();
        assert_eq!(reader.sample_format(), SampleFormat::Alaw);
        assert_eq!(
            read_whole(&file),
            g711_decoded(SampleFormat::Alaw, &[0xD5, 0x55, 0xD5])
        );
    }

    #[test]
    fn sample_formats_print_for_people() {
        for (format, text) in [
            (SampleFormat::Pcm { bits: 8 }, "8-bit PCM"),
            (SampleFormat::Pcm { bits: 24 }, "24-bit PCM"),
            (SampleFormat::Float, "32-bit float"),
            (SampleFormat::Ulaw, "G.711 mu-law"),
            (SampleFormat::Alaw, "G.711 A-law"),
        ] {
            assert_eq!(format.to_string(), text);
        }
    }

    #[test]
    fn skips_unknown_chunks_with_or_without_pad_bytes() {
        let data = [0x00, 0x40, 0x00, 0xC0]; // 0.5, -0.5
        let fmt = fmt16(FORMAT_PCM, 1, 8_000, 2, 16);
        let padded = riff(&[
            (b"LIST", b"odd"),
            (b"fmt ", &fmt),
            (b"fact", &[0; 4]),
            (b"data", &data),
        ]);
        assert_eq!(read_all(&padded).unwrap().0, [0.5, -0.5]);
        // The same file without the pad byte after the odd-sized chunk.
        let mut unpadded = padded.clone();
        unpadded.remove(12 + 8 + 3);
        assert_eq!(read_all(&unpadded).unwrap().0, [0.5, -0.5]);
        // An extensible fmt chunk longer than 40 bytes.
        let mut long_fmt = fmt_extensible(1, 2, 16, 16, FORMAT_PCM);
        long_fmt[16] = 24; // cbSize
        long_fmt.extend_from_slice(&[0xAB, 0xCD]);
        let file = riff(&[(b"fmt ", &long_fmt), (b"data", &data)]);
        assert_eq!(read_all(&file).unwrap().0, [0.5, -0.5]);
    }

    #[test]
    fn truncated_data_gives_its_frames_then_one_error() {
        let signal: Vec<i16> = (0..100).map(|i| i * 100).collect();
        let data: Vec<u8> = signal.iter().flat_map(|s| s.to_le_bytes()).collect();
        let file = riff(&[
            (b"fmt ", &fmt16(FORMAT_PCM, 2, 8_000, 4, 16)),
            (b"data", &data),
        ]);
        // Cut after 20 whole frames and half a sample more.
        let cut = &file[..44 + 20 * 4 + 1];
        let (samples, error) = read_all(cut).unwrap();
        assert_eq!(samples.len(), 40);
        assert_eq!(samples[39], 3_900.0 / 32_768.0);
        match error {
            Some(Error::Truncated {
                frames_read: 20,
                frames_expected: 50,
            }) => {}
            other => panic!("{other:?}"),
        }
        // A cut right after the header: the first call already reports it.
        let mut reader = WavReader::new(Cursor::new(&file[..44])).unwrap();
        let mut buf = [0.0; 8];
        assert!(matches!(
            reader.read_frames(&mut buf),
            Err(Error::Truncated { frames_read: 0, .. })
        ));
        assert_eq!(reader.read_frames(&mut buf).unwrap(), 0);
    }

    #[test]
    fn a_trailing_partial_frame_is_ignored() {
        let file = riff(&[
            (b"fmt ", &fmt16(FORMAT_PCM, 2, 8_000, 4, 16)),
            (b"data", &[0, 64, 0, 192, 9, 9]),
        ]);
        let reader = WavReader::new(Cursor::new(&file)).unwrap();
        assert_eq!(reader.len_frames(), 1);
        assert_eq!(read_all(&file).unwrap().0, [0.5, -0.5]);
    }

    #[test]
    fn reports_each_kind_of_bad_header() {
        let data = [0u8; 8];
        let with_fmt = |fmt: &[u8]| riff(&[(b"fmt ", fmt), (b"data", &data)]);
        let error = |bytes: &[u8]| WavReader::new(Cursor::new(bytes)).err().expect("an error");

        assert!(matches!(error(b""), Error::NotWav));
        assert!(matches!(error(b"RIFX\0\0\0\0WAVE"), Error::NotWav));
        assert!(matches!(error(b"RIFF\0\0\0\0AVI fmt "), Error::NotWav));
        assert!(matches!(
            error(&riff(&[(b"data", &data)])),
            Error::CorruptHeader(_)
        ));
        assert!(matches!(
            error(&riff(&[(b"fmt ", &fmt16(1, 1, 8_000, 2, 16))])),
            Error::CorruptHeader(_)
        ));
        assert!(matches!(
            error(&with_fmt(&[1, 0, 1, 0])),
            Error::CorruptHeader(_)
        ));

        let mulaw16 = error(&with_fmt(&fmt16(FORMAT_MULAW, 1, 8_000, 2, 16)));
        assert!(matches!(
            mulaw16,
            Error::UnsupportedFormat {
                format_tag: FORMAT_MULAW,
                bits_per_sample: 16
            }
        ));
        let alaw_padded = error(&with_fmt(&fmt16(FORMAT_ALAW, 1, 8_000, 2, 8)));
        assert!(matches!(
            alaw_padded,
            Error::UnsupportedFormat {
                format_tag: FORMAT_ALAW,
                bits_per_sample: 8
            }
        ));
        let alaw4 = error(&with_fmt(&fmt_extensible(1, 1, 8, 4, FORMAT_ALAW)));
        assert!(matches!(
            alaw4,
            Error::UnsupportedFormat {
                format_tag: FORMAT_ALAW,
                bits_per_sample: 4
            }
        ));
        let mut other_guid = fmt_extensible(1, 1, 8, 8, FORMAT_MULAW);
        other_guid[39] ^= 1;
        assert!(matches!(
            error(&with_fmt(&other_guid)),
            Error::UnsupportedFormat {
                format_tag: FORMAT_EXTENSIBLE,
                ..
            }
        ));
        assert!(matches!(
            error(&with_fmt(&fmt16(FORMAT_MULAW, 2, 8_000, 1, 8))),
            Error::AbsurdHeader(_)
        ));
        assert!(matches!(
            error(&with_fmt(&fmt16(FORMAT_ALAW, 0, 8_000, 1, 8))),
            Error::ZeroChannels
        ));
        assert!(matches!(
            error(&with_fmt(&fmt16(FORMAT_MULAW, 1, 0, 1, 8))),
            Error::UnsupportedRate(_)
        ));
        assert!(matches!(
            error(&with_fmt(&fmt16(FORMAT_MULAW, 1, 8_000, 1, 8)[..14])),
            Error::CorruptHeader(_)
        ));
        let float64 = error(&with_fmt(&fmt16(FORMAT_IEEE_FLOAT, 1, 8_000, 8, 64)));
        assert!(matches!(float64, Error::UnsupportedFormat { .. }));
        let pcm12 = error(&with_fmt(&fmt_extensible(1, 2, 16, 12, FORMAT_PCM)));
        assert!(matches!(
            pcm12,
            Error::UnsupportedFormat {
                bits_per_sample: 12,
                ..
            }
        ));

        let rate = error(&with_fmt(&fmt16(FORMAT_PCM, 1, 96_000, 2, 16)));
        assert!(matches!(rate, Error::UnsupportedRate(_)));
        assert!(rate.to_string().contains("96000"), "{rate}");
        assert!(matches!(
            error(&with_fmt(&fmt16(FORMAT_PCM, 0, 8_000, 2, 16))),
            Error::ZeroChannels
        ));
        for (channels, block_align, bits) in
            [(1, 2, 0), (1, 8, 40), (2, 3, 8), (1, 1, 16), (1, 0, 16)]
        {
            let absurd = error(&with_fmt(&fmt16(
                FORMAT_PCM,
                channels,
                8_000,
                block_align,
                bits,
            )));
            assert!(
                matches!(absurd, Error::AbsurdHeader(_)),
                "{channels} {block_align} {bits}: {absurd}"
            );
        }
        let valid_above_container = error(&with_fmt(&fmt_extensible(1, 2, 16, 24, FORMAT_PCM)));
        assert!(matches!(valid_above_container, Error::AbsurdHeader(_)));
    }

    #[test]
    fn error_messages_are_one_line() {
        let errors = [
            Error::NotWav,
            Error::CorruptHeader("x"),
            Error::UnsupportedFormat {
                format_tag: 7,
                bits_per_sample: 8,
            },
            Error::UnsupportedRate(SampleRateError(96_000)),
            Error::ZeroChannels,
            Error::AbsurdHeader("x"),
            Error::Truncated {
                frames_read: 1,
                frames_expected: 2,
            },
            Error::PartialFrame {
                samples: 3,
                channels: 2,
            },
            Error::TooManyChannels { channels: 40_000 },
            Error::TooLong { samples: 1 },
            Error::Io(io::ErrorKind::Other.into()),
        ];
        for error in errors {
            let message = error.to_string();
            assert!(
                !message.is_empty() && !message.contains('\n'),
                "{message:?}"
            );
        }
    }

    /// Reads `bytes` to the end the way a fuzz target would; must never panic or loop.
    fn drain(bytes: &[u8]) {
        let Ok(mut reader) = WavReader::new(Cursor::new(bytes)) else {
            return;
        };
        let channels = usize::from(reader.channels());
        let mut buf = [0.0f32; 64];
        let mut frames = 0;
        loop {
            match reader.read_frames(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    assert!(n * channels <= buf.len());
                    assert!(buf[..n * channels].iter().all(|s| s.is_finite()));
                    frames += n;
                    assert!(frames <= bytes.len(), "more frames than bytes");
                }
            }
        }
    }

    /// Valid files of every layout, for the mutation sweeps.
    fn sweep_bases() -> Vec<Vec<u8>> {
        let pcm: Vec<u8> = (0..64u8).collect();
        vec![
            riff(&[
                (b"fmt ", &fmt16(FORMAT_PCM, 2, 8_000, 4, 16)),
                (b"data", &pcm),
            ]),
            riff(&[
                (b"LIST", b"abc"),
                (b"fmt ", &fmt_extensible(2, 8, 32, 24, FORMAT_PCM)),
                (b"data", &pcm),
            ]),
            riff(&[
                (b"fmt ", &fmt16(FORMAT_IEEE_FLOAT, 1, 48_000, 4, 32)),
                (b"fact", &[4, 0, 0, 0]),
                (b"data", &pcm),
            ]),
            riff(&[
                (b"fmt ", &fmt16(FORMAT_PCM, 1, 8_000, 1, 8)),
                (b"data", &pcm[..7]),
            ]),
            SOX_ALAW_ODD.to_vec(),
            riff(&[
                (b"LIST", b"abc"),
                (b"fmt ", &fmt_extensible(2, 2, 8, 8, FORMAT_MULAW)),
                (b"fact", &[16, 0, 0, 0]),
                (b"data", &pcm[..33]),
            ]),
        ]
    }

    #[test]
    fn no_mutation_or_truncation_of_valid_files_panics() {
        let bases = sweep_bases();
        for base in &bases {
            assert!(!read_whole(base).is_empty(), "bases are valid files");
            drain(base);
            for cut in 0..base.len() {
                drain(&base[..cut]);
            }
            for position in 0..base.len() {
                let byte = base[position];
                for value in [
                    0x00,
                    0xFF,
                    0x80,
                    0x7F,
                    byte ^ 0x01,
                    byte ^ 0x80,
                    byte.wrapping_add(1),
                    byte.wrapping_sub(1),
                ] {
                    let mut mutated = base.clone();
                    mutated[position] = value;
                    drain(&mutated);
                    // The mutation together with a cut right after it.
                    drain(&mutated[..=position]);
                }
            }
        }
    }

    #[test]
    fn random_multi_byte_mutations_never_panic() {
        // xorshift: deterministic, no extra dependency.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let bases = sweep_bases();
        for _ in 0..5_000 {
            let mut file = bases[next() as usize % bases.len()].clone();
            for _ in 0..2 + next() % 4 {
                let at = next() as usize % file.len();
                file[at] = next() as u8;
            }
            file.truncate(next() as usize % (file.len() + 1));
            drain(&file);
        }
    }

    #[test]
    fn huge_announced_sizes_end_at_the_real_data() {
        // A data chunk claiming 4 GiB over 4 real bytes, and a 4 GiB unknown chunk.
        let mut file = riff(&[
            (b"fmt ", &fmt16(FORMAT_PCM, 1, 8_000, 2, 16)),
            (b"data", &[0, 64, 0, 192]),
        ]);
        let len = file.len();
        file[len - 8..len - 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let (samples, error) = read_all(&file).unwrap();
        assert_eq!(samples, [0.5, -0.5]);
        assert!(matches!(
            error,
            Some(Error::Truncated {
                frames_read: 2,
                frames_expected: 2_147_483_647
            })
        ));
        let mut junk = b"RIFF\0\0\0\0WAVEjunk".to_vec();
        junk.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            WavReader::new(Cursor::new(junk)).err(),
            Some(Error::CorruptHeader(_))
        ));
    }
}
