//! `wav_read`: the WAV reader on arbitrary bytes.

use std::io::Cursor;

use tonegate_dsp::wav::{self, SampleFormat, WavReader};

/// Smallest RIFF file with a data chunk: RIFF/WAVE (12), fmt chunk header and its
/// 16-byte minimum (24), data chunk header (8).
const MIN_WAV_HEADER: usize = 44;

/// How one read of a whole file ended.
#[derive(Debug, PartialEq)]
struct WavRead {
    /// Every sample delivered, as bits.
    samples: Vec<u32>,
    /// Frames delivered.
    frames: u64,
    /// The error that ended the read, rendered (`wav::Error` is not `PartialEq`).
    error: Option<String>,
}

/// `WavReader` on arbitrary bytes never panics and always terminates; every sample it
/// delivers is finite (and within full scale unless the file is float); the frames it
/// delivers fit in the bytes given and never exceed what the header announces; a
/// `Truncated` error counts the frames actually delivered and comes once, followed by
/// `Ok(0)`; and the samples and the final error do not depend on the caller's buffer
/// size (one frame at a time versus an input-derived size that need not be a whole
/// number of frames).
pub fn wav_read(data: &[u8]) {
    let Ok(reader) = WavReader::new(Cursor::new(data)) else {
        return;
    };
    let channels = usize::from(reader.channels());
    assert!(channels >= 1, "a reader with zero channels");
    drop(reader);

    let one_frame = read_wav(data, channels);
    // Up to 97 frames plus a partial frame, at most about a million samples.
    let frames = 1 + data.len() % 97;
    let frames = frames.min((1 << 20) / channels).max(1);
    let buffer_len = channels * frames + data.len() % channels;
    let many_frames = read_wav(data, buffer_len);
    assert_eq!(
        one_frame, many_frames,
        "wav_read: result depends on the buffer size (1 frame vs {buffer_len} samples)"
    );
}

/// Reads `data` to the end with a `buffer_len`-sample buffer, checking each call.
fn read_wav(data: &[u8], buffer_len: usize) -> WavRead {
    let mut reader = WavReader::new(Cursor::new(data)).expect("the same bytes opened before");
    let header = *reader.header();
    let channels = usize::from(reader.channels());
    let block_align = u64::from(header.block_align());
    assert!(block_align >= 1, "block align 0");
    let announced = reader.len_frames();
    assert_eq!(announced, u64::from(header.data_len()) / block_align);
    // The data chunk starts after at least MIN_WAV_HEADER bytes.
    let room = data.len().saturating_sub(MIN_WAV_HEADER) as u64 / block_align;
    let bounded = reader.sample_format() != SampleFormat::Float;

    let mut buf = vec![0.0f32; buffer_len];
    let mut read = WavRead {
        samples: Vec::new(),
        frames: 0,
        error: None,
    };
    let mut calls = 0u64;
    loop {
        calls += 1;
        // Each productive call delivers a frame, so this bounds the loop.
        assert!(
            calls <= room + 2,
            "wav_read: read_frames does not terminate"
        );
        match reader.read_frames(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                assert!(
                    n * channels <= buf.len(),
                    "wav_read: {n} frames of {channels} channels claimed in a {}-sample buffer",
                    buf.len()
                );
                for &sample in &buf[..n * channels] {
                    assert!(sample.is_finite(), "wav_read: sample {sample}");
                    assert!(
                        !bounded || sample.abs() <= 1.0,
                        "wav_read: integer sample {sample} beyond full scale"
                    );
                    read.samples.push(sample.to_bits());
                }
                read.frames += n as u64;
                assert!(
                    read.frames <= announced,
                    "wav_read: {} frames delivered, {announced} announced",
                    read.frames
                );
                assert!(
                    read.frames <= room,
                    "wav_read: {} frames of {block_align} bytes from {} bytes",
                    read.frames,
                    data.len()
                );
            }
            Err(e) => {
                if let wav::Error::Truncated {
                    frames_read,
                    frames_expected,
                } = e
                {
                    assert_eq!(frames_read, read.frames, "wav_read: Truncated miscounts");
                    assert_eq!(frames_expected, announced, "wav_read: Truncated miscounts");
                    assert!(read.frames < announced, "wav_read: Truncated but complete");
                }
                read.error = Some(e.to_string());
                break;
            }
        }
    }
    // Documented: after the end or an error, calls return Ok(0).
    for _ in 0..2 {
        assert_eq!(
            reader.read_frames(&mut buf).ok(),
            Some(0),
            "wav_read: reading past the end or an error must give Ok(0)"
        );
    }
    read
}
