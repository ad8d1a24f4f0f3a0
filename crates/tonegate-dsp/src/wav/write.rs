//! [`write_wav`]: WAV output in 16-bit PCM, mu-law or A-law, with the header sox writes.

use std::io::Write;

use super::{Error, FORMAT_ALAW, FORMAT_EXTENSIBLE, FORMAT_MULAW, FORMAT_PCM, SUBFORMAT_GUID_TAIL};
use crate::SampleRate;
use crate::codec::Encoding;

/// The longest header written: RIFF (12), extensible fmt (8 + 40), fact (8 + 4) and the
/// data chunk header (8).
const MAX_HEADER_LEN: usize = 80;

/// Samples encoded per write.
const CHUNK_SAMPLES: usize = 1_024;

/// Writes `samples` (interleaved, full scale 1.0) as a WAV file in `encoding`.
///
/// Samples are coded by [`Encoding::encode`]: rounded to 16 bits (to nearest, ties to
/// even, saturating; NaN becomes 0), then G.711-coded for [`Encoding::Ulaw`] and
/// [`Encoding::Alaw`]. The layout is what sox 14.4 writes:
///
/// - [`Encoding::S16le`]: format tag 1 with a 16-byte fmt chunk (44-byte header); above
///   two channels `WAVE_FORMAT_EXTENSIBLE` (40-byte fmt, no channel mask) and a `fact`
///   chunk.
/// - [`Encoding::Ulaw`], [`Encoding::Alaw`]: format tag 7 or 6 with an 18-byte fmt chunk
///   (`cbSize` 0) and the `fact` chunk non-PCM formats need (58-byte header).
///
/// An odd-sized data chunk is followed by its pad byte. Fails before writing anything on
/// a rate outside 8 to 48 kHz, zero channels, too many channels for the encoding, a
/// sample count that is not a whole number of frames, or more than 4 GiB of data. Writes
/// in pieces of a few KiB without allocating; `out` need not be buffered or seekable.
pub fn write_wav<W: Write>(
    mut out: W,
    rate: u32,
    channels: u16,
    encoding: Encoding,
    samples: &[f32],
) -> Result<(), Error> {
    let rate = SampleRate::new(rate)?;
    if channels == 0 {
        return Err(Error::ZeroChannels);
    }
    if !samples.len().is_multiple_of(usize::from(channels)) {
        return Err(Error::PartialFrame {
            samples: samples.len(),
            channels,
        });
    }
    let sample_size = encoding.bytes_per_sample();
    let block_align = u16::try_from(usize::from(channels) * sample_size)
        .map_err(|_| Error::TooManyChannels { channels })?;
    let frames = samples.len() / usize::from(channels);
    let (header, header_len) =
        header(rate, channels, block_align, encoding, frames).ok_or(Error::TooLong {
            samples: samples.len(),
        })?;

    out.write_all(&header[..header_len])?;
    let mut bytes = [0u8; 2 * CHUNK_SAMPLES];
    for chunk in samples.chunks(CHUNK_SAMPLES) {
        let len = encoding
            .encode(chunk, &mut bytes)
            .expect("the buffer holds CHUNK_SAMPLES samples of any encoding");
        out.write_all(&bytes[..len])?;
    }
    if samples.len() * sample_size % 2 == 1 {
        out.write_all(&[0])?;
    }
    out.flush()?;
    Ok(())
}

/// Fixed-size header bytes, appended field by field.
struct HeaderBytes {
    bytes: [u8; MAX_HEADER_LEN],
    len: usize,
}

impl HeaderBytes {
    fn put(&mut self, field: &[u8]) -> &mut Self {
        self.bytes[self.len..self.len + field.len()].copy_from_slice(field);
        self.len += field.len();
        self
    }
}

/// The header for `frames` frames, and its length; `None` when the file would exceed the
/// 32-bit RIFF size.
fn header(
    rate: SampleRate,
    channels: u16,
    block_align: u16,
    encoding: Encoding,
    frames: usize,
) -> Option<([u8; MAX_HEADER_LEN], usize)> {
    let extensible = encoding == Encoding::S16le && channels > 2;
    let (tag, fmt_len, has_fact) = match encoding {
        Encoding::S16le if extensible => (FORMAT_EXTENSIBLE, 40u32, true),
        Encoding::S16le => (FORMAT_PCM, 16, false),
        Encoding::Ulaw => (FORMAT_MULAW, 18, true),
        Encoding::Alaw => (FORMAT_ALAW, 18, true),
    };
    let bits = 8 * encoding.bytes_per_sample() as u16;
    let fact_len = if has_fact { 12 } else { 0 };
    let header_len = 12 + 8 + fmt_len + fact_len + 8;

    let data_len = u32::try_from(frames as u64 * u64::from(block_align)).ok()?;
    let riff_len = (header_len - 8)
        .checked_add(data_len)?
        .checked_add(data_len % 2)?;
    // At most 48 000 x 65 535.
    let byte_rate = rate.hz() * u32::from(block_align);

    let mut header = HeaderBytes {
        bytes: [0; MAX_HEADER_LEN],
        len: 0,
    };
    header
        .put(b"RIFF")
        .put(&riff_len.to_le_bytes())
        .put(b"WAVE")
        .put(b"fmt ")
        .put(&fmt_len.to_le_bytes())
        .put(&tag.to_le_bytes())
        .put(&channels.to_le_bytes())
        .put(&rate.hz().to_le_bytes())
        .put(&byte_rate.to_le_bytes())
        .put(&block_align.to_le_bytes())
        .put(&bits.to_le_bytes());
    if fmt_len > 16 {
        let extra_len = fmt_len as u16 - 18;
        header.put(&extra_len.to_le_bytes());
    }
    if extensible {
        header
            .put(&bits.to_le_bytes()) // valid bits per sample
            .put(&0u32.to_le_bytes()) // channel mask: no speaker positions
            .put(&FORMAT_PCM.to_le_bytes())
            .put(&SUBFORMAT_GUID_TAIL);
    }
    if has_fact {
        // Frames fit: they are fewer than the data bytes.
        header
            .put(b"fact")
            .put(&4u32.to_le_bytes())
            .put(&(frames as u32).to_le_bytes());
    }
    header.put(b"data").put(&data_len.to_le_bytes());
    debug_assert_eq!(header.len, header_len as usize);
    Some((header.bytes, header.len))
}

#[cfg(test)]
mod tests {
    use std::io::{self, Cursor};

    use super::*;
    use crate::codec::{g711, pcm};
    use crate::wav::{SampleFormat, WavReader};

    const SOX_ULAW_MONO: &[u8] = include_bytes!("../../../../testdata/g711/sine1k_ulaw_mono.wav");
    const SOX_ALAW_STEREO: &[u8] =
        include_bytes!("../../../../testdata/g711/sine1k_alaw_stereo.wav");
    const SOX_ALAW_ODD: &[u8] = include_bytes!("../../../../testdata/g711/sine1k_alaw_odd.wav");

    /// `sox -D -r 8000 -n -e signed -b 16 -c 1 f.wav synth 3s sine 1000` (sox 14.4.2).
    const SOX_S16_MONO: &[u8] = &[
        0x52, 0x49, 0x46, 0x46, 0x2A, 0x00, 0x00, 0x00, 0x57, 0x41, 0x56, 0x45, //
        0x66, 0x6D, 0x74, 0x20, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, //
        0x40, 0x1F, 0x00, 0x00, 0x80, 0x3E, 0x00, 0x00, 0x02, 0x00, 0x10, 0x00, //
        0x64, 0x61, 0x74, 0x61, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x82, 0x5A, //
        0xFF, 0x7F,
    ];
    /// The same with `-c 2`.
    const SOX_S16_STEREO: &[u8] = &[
        0x52, 0x49, 0x46, 0x46, 0x30, 0x00, 0x00, 0x00, 0x57, 0x41, 0x56, 0x45, //
        0x66, 0x6D, 0x74, 0x20, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, 0x00, //
        0x40, 0x1F, 0x00, 0x00, 0x00, 0x7D, 0x00, 0x00, 0x04, 0x00, 0x10, 0x00, //
        0x64, 0x61, 0x74, 0x61, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x82, 0x5A, 0x82, 0x5A, 0xFF, 0x7F, 0xFF, 0x7F,
    ];
    /// The same with `-c 3`: `WAVE_FORMAT_EXTENSIBLE` and a `fact` chunk.
    const SOX_S16_3CH: &[u8] = &[
        0x52, 0x49, 0x46, 0x46, 0x5A, 0x00, 0x00, 0x00, 0x57, 0x41, 0x56, 0x45, //
        0x66, 0x6D, 0x74, 0x20, 0x28, 0x00, 0x00, 0x00, 0xFE, 0xFF, 0x03, 0x00, //
        0x40, 0x1F, 0x00, 0x00, 0x80, 0xBB, 0x00, 0x00, 0x06, 0x00, 0x10, 0x00, //
        0x16, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71, //
        0x66, 0x61, 0x63, 0x74, 0x04, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, //
        0x64, 0x61, 0x74, 0x61, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x00, 0x00, 0x82, 0x5A, 0x82, 0x5A, 0x82, 0x5A, 0xFF, 0x7F, 0xFF, 0x7F, //
        0xFF, 0x7F,
    ];

    fn written(rate: u32, channels: u16, encoding: Encoding, samples: &[f32]) -> Vec<u8> {
        let mut file = Vec::new();
        write_wav(&mut file, rate, channels, encoding, samples).unwrap();
        file
    }

    /// Reads a whole file back: its format and samples. It must not be truncated.
    fn read_back(file: &[u8]) -> (SampleFormat, u32, u16, Vec<f32>) {
        let mut reader = WavReader::new(Cursor::new(file)).unwrap();
        let mut samples = vec![0.0; reader.len_frames() as usize * usize::from(reader.channels())];
        assert_eq!(
            reader.read_frames(&mut samples).unwrap() as u64,
            reader.len_frames()
        );
        assert_eq!(reader.read_frames(&mut [0.0; 8]).unwrap(), 0);
        (
            reader.sample_format(),
            reader.sample_rate(),
            reader.channels(),
            samples,
        )
    }

    #[test]
    fn writes_the_bytes_sox_writes() {
        for (file, encoding, channels) in [
            (SOX_ULAW_MONO, Encoding::Ulaw, 1),
            (SOX_ALAW_STEREO, Encoding::Alaw, 2),
            (SOX_ALAW_ODD, Encoding::Alaw, 1),
            (SOX_S16_MONO, Encoding::S16le, 1),
            (SOX_S16_STEREO, Encoding::S16le, 2),
            (SOX_S16_3CH, Encoding::S16le, 3),
        ] {
            let (_, rate, read_channels, samples) = read_back(file);
            assert_eq!((rate, read_channels), (8_000, channels));
            // Decoding and re-encoding is exact for every code these files hold.
            assert_eq!(
                written(rate, channels, encoding, &samples),
                file,
                "{encoding}, {channels} channels"
            );
        }
    }

    /// Signal covering zero, the extremes, beyond full scale, NaN and a ramp.
    fn signal(len: usize) -> Vec<f32> {
        let mut signal = vec![0.0, 1.0, -1.0, 1.5, -1.5, f32::NAN, 0.25, -0.3];
        signal.extend((0..len).map(|i| ((i * 7_919) % 2_001) as f32 / 1_000.0 - 1.0));
        signal.truncate(len);
        signal
    }

    #[test]
    fn every_encoding_round_trips_through_the_reader() {
        for encoding in Encoding::ALL {
            let code = |x: f32| -> f32 {
                let linear = pcm::f32_to_i16(x);
                pcm::i16_to_f32(match encoding {
                    Encoding::S16le => linear,
                    Encoding::Ulaw => g711::ulaw_to_linear(g711::linear_to_ulaw(linear)),
                    Encoding::Alaw => g711::alaw_to_linear(g711::linear_to_alaw(linear)),
                })
            };
            for (rate, channels, frames) in [
                (8_000, 1, 0),
                (8_000, 1, 7),
                (11_025, 2, 160),
                (16_000, 3, 101),
                (48_000, 1, 3 * CHUNK_SAMPLES + 5),
            ] {
                let samples = signal(frames * usize::from(channels));
                let file = written(rate, channels, encoding, &samples);
                let data_len = samples.len() * encoding.bytes_per_sample();
                let header_len = match (encoding, channels) {
                    (Encoding::S16le, 1 | 2) => 44,
                    (Encoding::S16le, _) => 80,
                    _ => 58,
                };
                assert_eq!(file.len(), header_len + data_len + data_len % 2);
                let format = match encoding {
                    Encoding::S16le => SampleFormat::Pcm { bits: 16 },
                    Encoding::Ulaw => SampleFormat::Ulaw,
                    Encoding::Alaw => SampleFormat::Alaw,
                };
                let expected: Vec<f32> = samples.iter().map(|&x| code(x)).collect();
                assert_eq!(
                    read_back(&file),
                    (format, rate, channels, expected),
                    "{encoding} {rate} {channels} {frames}"
                );
            }
        }
    }

    #[test]
    fn s16le_rounds_to_nearest_even_saturates_and_hound_agrees() {
        let samples = [
            0.0,
            1.0,
            -1.0,
            1.5,
            -1.5,
            f32::NAN,
            0.5 / 32_768.0,
            -0.5 / 32_768.0,
            1.5 / 32_768.0,
            0.25,
            1.4 / 32_768.0,
        ];
        let expected = [0i16, 32_767, -32_768, 32_767, -32_768, 0, 0, 0, 2, 8_192, 1];
        for channels in [1u16, 11] {
            let samples: Vec<f32> = samples
                .iter()
                .flat_map(|&s| std::iter::repeat_n(s, usize::from(channels)))
                .collect();
            let file = written(16_000, channels, Encoding::S16le, &samples);
            let mut hound_reader = hound::WavReader::new(Cursor::new(&file)).unwrap();
            let spec = hound_reader.spec();
            assert_eq!(
                (spec.channels, spec.sample_rate, spec.bits_per_sample),
                (channels, 16_000, 16)
            );
            let read: Vec<i16> = hound_reader.samples::<i16>().map(Result::unwrap).collect();
            let frames: Vec<i16> = read
                .iter()
                .step_by(usize::from(channels))
                .copied()
                .collect();
            assert_eq!(frames, expected);
        }
    }

    #[test]
    fn bad_arguments_write_nothing() {
        let fails = |rate, channels, encoding, samples: &[f32]| {
            let mut out = Vec::new();
            let err = write_wav(&mut out, rate, channels, encoding, samples).unwrap_err();
            assert!(out.is_empty());
            err
        };
        for encoding in Encoding::ALL {
            assert!(matches!(
                fails(8_000, 0, encoding, &[]),
                Error::ZeroChannels
            ));
            assert!(matches!(
                fails(4_000, 1, encoding, &[]),
                Error::UnsupportedRate(_)
            ));
            assert!(matches!(
                fails(8_000, 2, encoding, &[0.0; 3]),
                Error::PartialFrame {
                    samples: 3,
                    channels: 2
                }
            ));
        }
        assert!(matches!(
            fails(8_000, 32_768, Encoding::S16le, &[]),
            Error::TooManyChannels { channels: 32_768 }
        ));
        assert_eq!(written(8_000, u16::MAX, Encoding::Ulaw, &[]).len(), 58);
        assert_eq!(written(8_000, 32_767, Encoding::S16le, &[]).len(), 80);
    }

    #[test]
    fn writer_failures_are_reported() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = write_wav(Broken, 8_000, 1, Encoding::Alaw, &[0.0; 4]).unwrap_err();
        assert!(matches!(err, Error::Io(e) if e.kind() == io::ErrorKind::BrokenPipe));
    }
}
