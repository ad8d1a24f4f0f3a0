//! WAV files holding G.711 audio (format tag 6, A-law, or 7, mu-law), which hound cannot
//! read or write.
//!
//! [`parse`] looks at a whole file already in memory and says where its samples are; it
//! never copies them and never panics, whatever the bytes. It accepts the plain `fmt `
//! layouts (16 or 18 bytes and longer) and `WAVE_FORMAT_EXTENSIBLE` with a G.711
//! sub-format. A file whose format is anything else gives [`Error::NotG711`], so a caller
//! can hand it to hound instead:
//!
//! ```
//! use tonegate::media::g711_wav::{self, Error};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut file = Vec::new();
//! g711_wav::write(&mut file, tonegate::codec::Encoding::Ulaw, 8_000, 1, &[0xFF; 160])?;
//! match g711_wav::parse(&file) {
//!     Ok(wav) => assert_eq!(file[wav.data].len(), 160),
//!     Err(Error::NotG711) => { /* read it with hound */ }
//!     Err(e) => return Err(e.into()),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Leniency, as real telephony files need: the RIFF size is not trusted (streaming writers
//! leave it 0 or 0xFFFFFFFF); chunks may come in any order and unknown ones are skipped; the
//! byte rate field is ignored; a data chunk that claims more bytes than the file has is cut
//! to the whole sample frames present, and only counts as [`Error::TruncatedData`] when not
//! one frame is left. Big-endian `RIFX` and 64-bit `RF64` files are not read
//! ([`Error::NotWave`]).

use std::io;
use std::ops::Range;

use crate::codec::Encoding;

/// `WAVE_FORMAT_ALAW`.
const TAG_ALAW: u16 = 6;
/// `WAVE_FORMAT_MULAW`.
const TAG_MULAW: u16 = 7;
/// `WAVE_FORMAT_EXTENSIBLE`: the real format is in the sub-format GUID.
const TAG_EXTENSIBLE: u16 = 0xFFFE;
/// Bytes 2..16 of every `KSDATAFORMAT_SUBTYPE_*` GUID that wraps a format tag (the tag
/// itself is in bytes 0..2, then two zero bytes).
const SUBFORMAT_GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];
/// Size of the `fmt ` chunk [`write`] produces: 16 bytes plus `cbSize` = 0.
const FMT_SIZE: u32 = 18;
/// Bytes before the samples in a file made by [`write`]: RIFF header (12), `fmt ` (8 + 18),
/// `fact` (8 + 4) and the `data` chunk header (8).
const HEADER_SIZE: usize = 58;

/// Where the G.711 samples of a WAV file are, and how to play them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct G711Wav {
    /// [`Encoding::Ulaw`] or [`Encoding::Alaw`].
    pub encoding: Encoding,
    /// Samples per second per channel, as the header says (never 0).
    pub sample_rate: u32,
    /// Interleaved channels (never 0).
    pub channels: u16,
    /// Byte range of the samples within the parsed input: whole frames only (a multiple of
    /// `channels` bytes), one byte per sample.
    pub data: Range<usize>,
}

/// Why [`parse`] rejected its input. Details are plain numbers, so making one never
/// allocates.
#[derive(Debug, thiserror::Error, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The input does not start with a `RIFF` ... `WAVE` header.
    #[error("not a RIFF/WAVE file")]
    NotWave,
    /// A WAV file, but its format is not G.711 (tag 6 or 7); try a general WAV reader.
    #[error("WAV format is not G.711 A-law or mu-law")]
    NotG711,
    /// The file ends inside the RIFF header or inside the `fmt ` chunk.
    #[error("WAV header truncated: the file ends inside the RIFF header or fmt chunk")]
    TruncatedHeader,
    /// No `fmt ` chunk was found.
    #[error("WAV file has no fmt chunk")]
    MissingFmt,
    /// No `data` chunk was found.
    #[error("WAV file has no data chunk")]
    MissingData,
    /// The `fmt ` chunk is shorter than its format needs (16 bytes, or 40 for
    /// `WAVE_FORMAT_EXTENSIBLE`).
    #[error("WAV fmt chunk is {size} bytes, too short for its format")]
    FmtTooShort {
        /// Size the chunk declares.
        size: u32,
    },
    /// The header says there are no channels.
    #[error("WAV header has 0 channels")]
    ZeroChannels,
    /// The header says the sample rate is 0 Hz.
    #[error("WAV header has a sample rate of 0 Hz")]
    ZeroSampleRate,
    /// G.711 samples are 8 bits; the header says otherwise.
    #[error("G.711 WAV has {bits} bits per sample; expected 8")]
    BitsPerSample {
        /// Bits per sample in the header.
        bits: u16,
    },
    /// The block alignment does not equal the channel count (one byte per sample).
    #[error("G.711 WAV has block align {found}; expected {expected} (one byte per channel)")]
    BlockAlign {
        /// The channel count.
        expected: u16,
        /// Block align in the header.
        found: u16,
    },
    /// The data chunk declares samples but the file ends before one whole frame of them.
    #[error("WAV data chunk declares {declared} bytes but the file holds no whole frame of them")]
    TruncatedData {
        /// Size the data chunk declares.
        declared: u32,
    },
}

/// What the `fmt ` chunk says, once checked.
struct Format {
    encoding: Encoding,
    sample_rate: u32,
    channels: u16,
}

/// Finds the G.711 samples in a whole WAV file. Never panics; see the module docs for what
/// is accepted.
pub fn parse(bytes: &[u8]) -> Result<G711Wav, Error> {
    let header = bytes.get(..12).ok_or(if is_wave_prefix(bytes) {
        Error::TruncatedHeader
    } else {
        Error::NotWave
    })?;
    if &header[..4] != b"RIFF" || &header[8..12] != b"WAVE" {
        return Err(Error::NotWave);
    }

    let mut format = None;
    let mut data = None;
    let mut pos: usize = 12;
    while format.is_none() || data.is_none() {
        let Some(chunk) = bytes.get(pos..pos.saturating_add(8)) else {
            break;
        };
        let id = &chunk[..4];
        let size = read_u32(&chunk[4..]);
        let start = pos + 8;
        let declared_end = start.saturating_add(size as usize);
        match id {
            b"fmt " if format.is_none() => {
                let body = bytes
                    .get(start..declared_end)
                    .ok_or(Error::TruncatedHeader)?;
                format = Some(parse_fmt(body, size)?);
            }
            b"data" if data.is_none() => {
                data = Some((start..declared_end.min(bytes.len()), size));
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        pos = declared_end.saturating_add(size as usize & 1);
    }

    let format = format.ok_or(Error::MissingFmt)?;
    let (mut range, declared) = data.ok_or(Error::MissingData)?;
    let channels = usize::from(format.channels);
    range.end -= range.len() % channels;
    if range.is_empty() && declared != 0 {
        return Err(Error::TruncatedData { declared });
    }
    Ok(G711Wav {
        encoding: format.encoding,
        sample_rate: format.sample_rate,
        channels: format.channels,
        data: range,
    })
}

/// True when `bytes` (shorter than 12) could be the start of a RIFF/WAVE header.
fn is_wave_prefix(bytes: &[u8]) -> bool {
    let riff = &bytes[..bytes.len().min(4)];
    let wave = bytes.get(8..).unwrap_or(&[]);
    !bytes.is_empty() && b"RIFF".starts_with(riff) && b"WAVE".starts_with(wave)
}

/// Checks the body of a `fmt ` chunk of declared `size`.
fn parse_fmt(body: &[u8], size: u32) -> Result<Format, Error> {
    let fields = body.get(..16).ok_or(Error::FmtTooShort { size })?;
    let mut tag = read_u16(&fields[0..]);
    let channels = read_u16(&fields[2..]);
    let sample_rate = read_u32(&fields[4..]);
    let block_align = read_u16(&fields[12..]);
    let bits = read_u16(&fields[14..]);
    if tag == TAG_EXTENSIBLE {
        // cbSize (2), valid bits (2), channel mask (4), then the sub-format GUID.
        let guid = body.get(24..40).ok_or(Error::FmtTooShort { size })?;
        if guid[2..] != SUBFORMAT_GUID_TAIL {
            return Err(Error::NotG711);
        }
        tag = read_u16(guid);
    }
    let encoding = match tag {
        TAG_MULAW => Encoding::Ulaw,
        TAG_ALAW => Encoding::Alaw,
        _ => return Err(Error::NotG711),
    };
    if channels == 0 {
        return Err(Error::ZeroChannels);
    }
    if sample_rate == 0 {
        return Err(Error::ZeroSampleRate);
    }
    if bits != 8 {
        return Err(Error::BitsPerSample { bits });
    }
    if block_align != channels {
        return Err(Error::BlockAlign {
            expected: channels,
            found: block_align,
        });
    }
    Ok(Format {
        encoding,
        sample_rate,
        channels,
    })
}

/// Little-endian `u16` from the first two bytes (callers pass at least two).
fn read_u16(bytes: &[u8]) -> u16 {
    u16::from_le_bytes([bytes[0], bytes[1]])
}

/// Little-endian `u32` from the first four bytes (callers pass at least four).
fn read_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Writes a G.711 WAV file: RIFF header, an 18-byte `fmt ` chunk (`cbSize` = 0), the
/// `fact` chunk (sample frames) that non-PCM formats require, and `data` (plus its pad
/// byte when `data.len()` is odd).
///
/// `data` holds interleaved G.711 codes, one byte per sample. Fails with
/// [`io::ErrorKind::InvalidInput`] before writing anything when `encoding` is not G.711,
/// `sample_rate` or `channels` is 0, `data` is not a whole number of frames, or the file
/// would exceed the 4 GiB RIFF limit.
pub fn write<W: io::Write>(
    mut out: W,
    encoding: Encoding,
    sample_rate: u32,
    channels: u16,
    data: &[u8],
) -> io::Result<()> {
    let invalid = |message| io::Error::new(io::ErrorKind::InvalidInput, message);
    let tag = match encoding {
        Encoding::Ulaw => TAG_MULAW,
        Encoding::Alaw => TAG_ALAW,
        Encoding::S16le => return Err(invalid("G.711 WAV needs mu-law or A-law data")),
    };
    if channels == 0 || sample_rate == 0 {
        return Err(invalid(
            "G.711 WAV needs at least one channel and a sample rate",
        ));
    }
    if data.len() % usize::from(channels) != 0 {
        return Err(invalid("G.711 WAV data is not a whole number of frames"));
    }
    let pad = data.len() & 1;
    let (Ok(data_len), Ok(riff_len)) = (
        u32::try_from(data.len()),
        u32::try_from(HEADER_SIZE - 8 + data.len() + pad),
    ) else {
        return Err(invalid("G.711 WAV data exceeds the 4 GiB RIFF limit"));
    };
    let frames = data_len / u32::from(channels);
    let byte_rate = u64::from(sample_rate) * u64::from(channels);
    let byte_rate =
        u32::try_from(byte_rate).map_err(|_| invalid("G.711 WAV byte rate exceeds 32 bits"))?;

    let mut header = [0; HEADER_SIZE];
    let fields: [&[u8]; 17] = [
        b"RIFF",
        &riff_len.to_le_bytes(),
        b"WAVE",
        b"fmt ",
        &FMT_SIZE.to_le_bytes(),
        &tag.to_le_bytes(),
        &channels.to_le_bytes(),
        &sample_rate.to_le_bytes(),
        &byte_rate.to_le_bytes(),
        &channels.to_le_bytes(), // block align: one byte per channel
        &8u16.to_le_bytes(),     // bits per sample
        &0u16.to_le_bytes(),     // cbSize
        b"fact",
        &4u32.to_le_bytes(),
        &frames.to_le_bytes(),
        b"data",
        &data_len.to_le_bytes(),
    ];
    let mut pos = 0;
    for field in fields {
        header[pos..pos + field.len()].copy_from_slice(field);
        pos += field.len();
    }
    debug_assert_eq!(pos, HEADER_SIZE);
    out.write_all(&header)?;
    out.write_all(data)?;
    out.write_all(&[0; 1][..pad])?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOX_ULAW_MONO: &[u8] = include_bytes!("../../testdata/g711/sine1k_ulaw_mono.wav");
    const SOX_ALAW_STEREO: &[u8] = include_bytes!("../../testdata/g711/sine1k_alaw_stereo.wav");
    const SOX_ALAW_ODD: &[u8] = include_bytes!("../../testdata/g711/sine1k_alaw_odd.wav");

    fn written(encoding: Encoding, rate: u32, channels: u16, data: &[u8]) -> Vec<u8> {
        let mut file = Vec::new();
        write(&mut file, encoding, rate, channels, data).unwrap();
        file
    }

    /// A RIFF/WAVE file made of the given chunks, padded as the spec says.
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

    fn fmt(tag: u16, channels: u16, rate: u32, block_align: u16, bits: u16) -> Vec<u8> {
        let mut fmt = Vec::new();
        fmt.extend_from_slice(&tag.to_le_bytes());
        fmt.extend_from_slice(&channels.to_le_bytes());
        fmt.extend_from_slice(&rate.to_le_bytes());
        fmt.extend_from_slice(&(rate * u32::from(channels)).to_le_bytes());
        fmt.extend_from_slice(&block_align.to_le_bytes());
        fmt.extend_from_slice(&bits.to_le_bytes());
        fmt
    }

    #[test]
    fn write_then_parse_round_trips() {
        for encoding in [Encoding::Ulaw, Encoding::Alaw] {
            for (rate, channels, len) in [
                (8_000, 1, 160),
                (16_000, 2, 320),
                (8_000, 1, 7),
                (8_000, 3, 0),
            ] {
                let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                let file = written(encoding, rate, channels, &data);
                assert_eq!(file.len(), HEADER_SIZE + len + len % 2);
                let wav = parse(&file).unwrap();
                assert_eq!(
                    wav,
                    G711Wav {
                        encoding,
                        sample_rate: rate,
                        channels,
                        data: HEADER_SIZE..HEADER_SIZE + len,
                    }
                );
                assert_eq!(file[wav.data], data[..]);
            }
        }
    }

    #[test]
    fn writes_the_header_sox_writes() {
        // sox writes the same layout: fmt of 18 bytes, fact, data.
        let wav = parse(SOX_ULAW_MONO).unwrap();
        let data = &SOX_ULAW_MONO[wav.data];
        assert_eq!(written(Encoding::Ulaw, 8_000, 1, data), SOX_ULAW_MONO);
        let wav = parse(SOX_ALAW_STEREO).unwrap();
        let data = &SOX_ALAW_STEREO[wav.data];
        assert_eq!(written(Encoding::Alaw, 8_000, 2, data), SOX_ALAW_STEREO);
    }

    #[test]
    fn files_made_by_sox_parse() {
        assert_eq!(
            parse(SOX_ULAW_MONO),
            Ok(G711Wav {
                encoding: Encoding::Ulaw,
                sample_rate: 8_000,
                channels: 1,
                data: 58..858,
            })
        );
        assert_eq!(
            parse(SOX_ALAW_STEREO),
            Ok(G711Wav {
                encoding: Encoding::Alaw,
                sample_rate: 8_000,
                channels: 2,
                data: 58..258,
            })
        );
        // 101 samples: the data chunk is followed by a pad byte.
        assert_eq!(
            parse(SOX_ALAW_ODD),
            Ok(G711Wav {
                encoding: Encoding::Alaw,
                sample_rate: 8_000,
                channels: 1,
                data: 58..159,
            })
        );
        assert_eq!(SOX_ALAW_ODD.len(), 160);
    }

    #[test]
    fn the_sox_sine_decodes_to_a_sine() {
        let wav = parse(SOX_ULAW_MONO).unwrap();
        let mut samples = vec![0.0; wav.data.len()];
        Encoding::Ulaw
            .decode(&SOX_ULAW_MONO[wav.data], &mut samples)
            .unwrap();
        // 1 kHz at 8 kHz: period of 8 samples, peak near full scale.
        let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        assert!((0.9..=1.0).contains(&peak), "{peak}");
        for pair in samples.windows(9) {
            assert!((pair[0] - pair[8]).abs() < 0.05);
        }
    }

    #[test]
    fn other_formats_are_not_g711() {
        let pcm = riff(&[(b"fmt ", &fmt(1, 1, 8_000, 2, 16)), (b"data", &[0; 4])]);
        assert_eq!(parse(&pcm), Err(Error::NotG711));
        let float = riff(&[(b"fmt ", &fmt(3, 1, 8_000, 4, 32)), (b"data", &[0; 4])]);
        assert_eq!(parse(&float), Err(Error::NotG711));
        // A PCM file with a bad data chunk still goes to the general reader.
        let mut cut = riff(&[(b"fmt ", &fmt(1, 1, 8_000, 2, 16)), (b"data", &[0; 4])]);
        cut.truncate(cut.len() - 4);
        assert_eq!(parse(&cut), Err(Error::NotG711));
    }

    fn extensible(subformat_tag: u16, tail: [u8; 14]) -> Vec<u8> {
        let mut body = fmt(TAG_EXTENSIBLE, 1, 8_000, 1, 8);
        body.extend_from_slice(&22u16.to_le_bytes()); // cbSize
        body.extend_from_slice(&8u16.to_le_bytes()); // valid bits
        body.extend_from_slice(&4u32.to_le_bytes()); // channel mask
        body.extend_from_slice(&subformat_tag.to_le_bytes());
        body.extend_from_slice(&tail);
        riff(&[(b"fmt ", &body), (b"data", &[0xFF; 8])])
    }

    #[test]
    fn extensible_with_a_g711_subformat_parses() {
        let wav = parse(&extensible(TAG_MULAW, SUBFORMAT_GUID_TAIL)).unwrap();
        assert_eq!(wav.encoding, Encoding::Ulaw);
        assert_eq!(wav.data.len(), 8);
        let wav = parse(&extensible(TAG_ALAW, SUBFORMAT_GUID_TAIL)).unwrap();
        assert_eq!(wav.encoding, Encoding::Alaw);
        assert_eq!(
            parse(&extensible(1, SUBFORMAT_GUID_TAIL)),
            Err(Error::NotG711)
        );
        let mut other = SUBFORMAT_GUID_TAIL;
        other[13] ^= 1;
        assert_eq!(parse(&extensible(TAG_MULAW, other)), Err(Error::NotG711));
        let short = riff(&[
            (b"fmt ", &fmt(TAG_EXTENSIBLE, 1, 8_000, 1, 8)),
            (b"data", &[0; 2]),
        ]);
        assert_eq!(parse(&short), Err(Error::FmtTooShort { size: 16 }));
    }

    #[test]
    fn chunks_in_any_order_with_odd_sizes_and_unknown_ids() {
        let file = riff(&[
            (b"LIST", b"INFOICMT odd"),
            (b"junk", &[1, 2, 3]),
            (b"data", &[0xD5, 0x55, 0xD5]),
            (b"fact", &3u32.to_le_bytes()),
            (b"fmt ", &fmt(TAG_ALAW, 1, 8_000, 1, 8)),
        ]);
        let wav = parse(&file).unwrap();
        assert_eq!(wav.encoding, Encoding::Alaw);
        assert_eq!(file[wav.data], [0xD5, 0x55, 0xD5]);
    }

    #[test]
    fn first_fmt_and_data_chunks_win() {
        let file = riff(&[
            (b"fmt ", &fmt(TAG_MULAW, 1, 8_000, 1, 8)),
            (b"data", &[1, 2]),
            (b"fmt ", &fmt(1, 1, 8_000, 2, 16)),
            (b"data", &[3, 4, 5, 6]),
        ]);
        let wav = parse(&file).unwrap();
        assert_eq!(file[wav.data], [1, 2]);
    }

    #[test]
    fn fmt_of_18_or_more_bytes_parses() {
        let mut body = fmt(TAG_MULAW, 1, 8_000, 1, 8);
        body.extend_from_slice(&[0, 0, 0xAB]);
        let wav = parse(&riff(&[(b"fmt ", &body), (b"data", &[0xFF])])).unwrap();
        assert_eq!(wav.data.len(), 1);
    }

    #[test]
    fn riff_size_is_not_trusted() {
        for riff_size in [0, 4, 0xFFFF_FFFF] {
            let mut file = written(Encoding::Ulaw, 8_000, 1, &[0xFF; 10]);
            file[4..8].copy_from_slice(&u32::to_le_bytes(riff_size));
            assert_eq!(parse(&file).unwrap().data, HEADER_SIZE..HEADER_SIZE + 10);
        }
    }

    #[test]
    fn data_past_the_end_is_cut_to_whole_frames() {
        let mut file = written(Encoding::Alaw, 8_000, 2, &[0xD5; 10]);
        file.truncate(file.len() - 3);
        assert_eq!(parse(&file).unwrap().data, HEADER_SIZE..HEADER_SIZE + 6);
        // Streaming writers that do not know the length write 0xFFFFFFFF.
        file[HEADER_SIZE - 4..HEADER_SIZE].copy_from_slice(&[0xFF; 4]);
        assert_eq!(parse(&file).unwrap().data, HEADER_SIZE..HEADER_SIZE + 6);
        file.truncate(HEADER_SIZE + 1);
        assert_eq!(
            parse(&file),
            Err(Error::TruncatedData {
                declared: 0xFFFF_FFFF
            })
        );
        file.truncate(HEADER_SIZE);
        assert_eq!(
            parse(&file),
            Err(Error::TruncatedData {
                declared: 0xFFFF_FFFF
            })
        );
    }

    #[test]
    fn empty_data_is_not_truncation() {
        let file = written(Encoding::Ulaw, 8_000, 1, &[]);
        assert_eq!(parse(&file).unwrap().data, HEADER_SIZE..HEADER_SIZE);
    }

    #[test]
    fn absurd_headers_are_rejected() {
        let case = |body: Vec<u8>| parse(&riff(&[(b"fmt ", &body), (b"data", &[0; 4])]));
        assert_eq!(
            case(fmt(TAG_MULAW, 0, 8_000, 0, 8)),
            Err(Error::ZeroChannels)
        );
        assert_eq!(case(fmt(TAG_MULAW, 1, 0, 1, 8)), Err(Error::ZeroSampleRate));
        assert_eq!(
            case(fmt(TAG_ALAW, 1, 8_000, 1, 16)),
            Err(Error::BitsPerSample { bits: 16 })
        );
        assert_eq!(
            case(fmt(TAG_ALAW, 2, 8_000, 1, 8)),
            Err(Error::BlockAlign {
                expected: 2,
                found: 1
            })
        );
        assert_eq!(
            case(fmt(TAG_ALAW, 1, 8_000, 1, 8)[..14].to_vec()),
            Err(Error::FmtTooShort { size: 14 })
        );
    }

    #[test]
    fn missing_chunks_are_reported() {
        let no_data = riff(&[(b"fmt ", &fmt(TAG_MULAW, 1, 8_000, 1, 8))]);
        assert_eq!(parse(&no_data), Err(Error::MissingData));
        let no_fmt = riff(&[(b"data", &[0; 4])]);
        assert_eq!(parse(&no_fmt), Err(Error::MissingFmt));
        assert_eq!(parse(b"RIFF\0\0\0\0WAVE"), Err(Error::MissingFmt));
    }

    #[test]
    fn garbage_is_not_a_wave() {
        for garbage in [
            &b""[..],
            b"x",
            b"RIFX\0\0\0\0WAVEfmt ",
            b"RIFF\0\0\0\0AVI LIST",
            &[0xFF; 64],
        ] {
            assert_eq!(parse(garbage), Err(Error::NotWave), "{garbage:?}");
        }
        assert_eq!(parse(b"RIFF\x10\0\0\0WA"), Err(Error::TruncatedHeader));
    }

    #[test]
    fn every_truncation_of_a_file_gives_a_clear_answer() {
        let file = written(Encoding::Ulaw, 8_000, 1, &[0xFF; 9]);
        for len in 0..file.len() {
            let result = parse(&file[..len]);
            match len {
                0 => assert_eq!(result, Err(Error::NotWave)),
                1..12 => assert_eq!(result, Err(Error::TruncatedHeader), "{len}"),
                12..20 => assert_eq!(result, Err(Error::MissingFmt), "{len}"),
                20..38 => assert_eq!(result, Err(Error::TruncatedHeader), "{len}"),
                38..58 => assert_eq!(result, Err(Error::MissingData), "{len}"),
                58 => assert_eq!(result, Err(Error::TruncatedData { declared: 9 })),
                _ => assert_eq!(result.unwrap().data, 58..len.min(67), "{len}"),
            }
        }
    }

    #[test]
    fn mutated_files_never_panic() {
        // xorshift: deterministic, no extra dependency.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let seeds = [
            SOX_ALAW_ODD.to_vec(),
            extensible(TAG_MULAW, SUBFORMAT_GUID_TAIL),
            riff(&[
                (b"LIST", b"abc"),
                (b"data", &[1; 5]),
                (b"fmt ", &fmt(TAG_ALAW, 1, 8_000, 1, 8)),
            ]),
        ];
        for _ in 0..20_000 {
            let mut file = seeds[next() as usize % seeds.len()].clone();
            for _ in 0..1 + next() % 4 {
                let at = next() as usize % file.len();
                file[at] = next() as u8;
            }
            file.truncate(next() as usize % (file.len() + 1));
            if let Ok(wav) = parse(&file) {
                assert!(wav.data.end <= file.len());
                assert!(wav.data.start >= 12);
                assert_eq!(wav.data.len() % usize::from(wav.channels), 0);
                assert!(wav.sample_rate > 0);
            }
        }
    }

    #[test]
    fn write_rejects_bad_arguments() {
        let fails = |encoding, rate, channels, data: &[u8]| {
            let mut out = Vec::new();
            let err = write(&mut out, encoding, rate, channels, data).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(out.is_empty());
        };
        fails(Encoding::S16le, 8_000, 1, &[0; 2]);
        fails(Encoding::Ulaw, 0, 1, &[0; 2]);
        fails(Encoding::Ulaw, 8_000, 0, &[0; 2]);
        fails(Encoding::Ulaw, 8_000, 2, &[0; 3]);
        fails(Encoding::Ulaw, u32::MAX, 2, &[0; 2]);
    }
}
