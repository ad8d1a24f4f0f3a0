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

mod header;
mod read;
#[cfg(test)]
mod tests;
mod write;

use std::fmt;
use std::io;

use crate::SampleRateError;

pub use header::Header;
pub use read::WavReader;
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
