//! Unit tests of the WAV reader and header parser.

use std::io::{BufReader, Cursor, Read};

use super::*;
use crate::codec::g711;

const SOX_ULAW_MONO: &[u8] = include_bytes!("../../../../testdata/g711/sine1k_ulaw_mono.wav");
const SOX_ALAW_STEREO: &[u8] = include_bytes!("../../../../testdata/g711/sine1k_alaw_stereo.wav");
const SOX_ALAW_ODD: &[u8] = include_bytes!("../../../../testdata/g711/sine1k_alaw_odd.wav");
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
    for (channels, block_align, bits) in [(1, 2, 0), (1, 8, 40), (2, 3, 8), (1, 1, 16), (1, 0, 16)]
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
