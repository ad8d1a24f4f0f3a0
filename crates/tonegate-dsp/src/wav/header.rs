//! [`Header`]: the RIFF walk up to the samples, the fmt chunk, and the checks that
//! say which encoding a file holds.

use std::io::{self, Read};

use super::{
    Error, FORMAT_ALAW, FORMAT_EXTENSIBLE, FORMAT_IEEE_FLOAT, FORMAT_MULAW, FORMAT_PCM,
    SUBFORMAT_GUID_TAIL, SampleFormat,
};
use crate::SampleRate;

/// The format a WAV file's header declares, with its RIFF structure checked.
///
/// [`Header::read`] guarantees at least one channel, a supported sample rate and a
/// non-zero block align; whether the encoding is one [`WavReader`] decodes is what
/// [`Header::sample_format`] says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub(super) format_tag: u16,
    pub(super) channels: u16,
    pub(super) sample_rate: SampleRate,
    pub(super) block_align: u16,
    pub(super) container_bits: u16,
    pub(super) bits_per_sample: u16,
    pub(super) data_len: u32,
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
pub(super) fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, Error> {
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
