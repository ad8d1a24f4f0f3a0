//! `tonegate detect --plot` on committed vectors: the picture has its size, each digit's
//! span and report point sit where the jsonl rows say (by the axis mapping
//! `tonegate::plot::Layout` exposes), and the windows of a talk-off vector that the
//! detector rejected are shaded in their reason's colour. Pixels are read back, but no
//! golden image is compared: fonts and colours of the rest may change freely.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use tonegate::SampleRate;
use tonegate::dsp::dtmf;
use tonegate::media::wav;
use tonegate::plot::{
    Colour, DIGIT_COLOUR, HEIGHT, Layout, REPORT_COLOUR, Recording, WIDTH, rejection_colour,
};

const TONEGATE: &str = env!("CARGO_BIN_EXE_tonegate");

#[derive(Debug, Deserialize)]
struct Row {
    digit: String,
    start_ms: f64,
    end_ms: f64,
    detected_ms: f64,
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plot_detect");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `detect --format jsonl --plot plot` on `input`: the rows.
fn detect(input: &Path, plot: &Path) -> Vec<Row> {
    let output = Command::new(TONEGATE)
        .args(["detect", "--format", "jsonl", "--plot"])
        .arg(plot)
        .arg(input)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// A decoded RGB(A) picture.
struct Picture {
    width: u32,
    height: u32,
    channels: usize,
    pixels: Vec<u8>,
}

impl Picture {
    fn read(path: &Path) -> Picture {
        let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        Picture {
            width: info.width,
            height: info.height,
            channels: info.color_type.samples(),
            pixels,
        }
    }

    fn at(&self, x: i32, y: i32) -> Colour {
        let i = (y as usize * self.width as usize + x as usize) * self.channels;
        (self.pixels[i], self.pixels[i + 1], self.pixels[i + 2])
    }
}

/// The input's duration, ms, as the plot's time axis spans it.
fn duration_ms(input: &Path) -> f64 {
    let (samples, rate) = mono(input);
    rate.samples_to_ms(samples.len() as f64)
}

/// A mono WAV file's samples and rate.
fn mono(input: &Path) -> (Vec<f32>, SampleRate) {
    let mut reader = wav::WavReader::new(std::fs::File::open(input).unwrap()).unwrap();
    assert_eq!(reader.channels(), 1);
    let mut samples = vec![0.0; reader.len_frames() as usize];
    let read = reader.read_frames(&mut samples).unwrap();
    samples.truncate(read);
    (samples, SampleRate::new(reader.sample_rate()).unwrap())
}

#[test]
fn every_digit_span_and_report_point_sits_where_the_jsonl_says() {
    let input = testdata("robustness/nominal.wav");
    let plot = out_dir().join("nominal.png");
    let rows = detect(&input, &plot);
    assert_eq!(rows.len(), 4);
    let picture = Picture::read(&plot);
    assert_eq!((picture.width, picture.height), (WIDTH, HEIGHT));
    let layout = Layout::new(duration_ms(&input));
    let lane_bottom = layout.digits_y.end - 4;
    for row in &rows {
        let report = layout.x_of_ms(row.detected_ms);
        assert_eq!(picture.at(report, lane_bottom), REPORT_COLOUR, "{row:?}");
        let (left, right) = (layout.x_of_ms(row.start_ms), layout.x_of_ms(row.end_ms));
        for x in [left + 2, (left + right) / 2, right - 2] {
            if (x - report).abs() > 2 {
                assert_eq!(picture.at(x, lane_bottom), DIGIT_COLOUR, "{row:?} at {x}");
            }
        }
        assert_eq!(
            picture.at(left - 3, lane_bottom),
            (255, 255, 255),
            "{row:?}"
        );
        assert_eq!(
            picture.at(right + 3, lane_bottom),
            (255, 255, 255),
            "{row:?}"
        );
    }
}

#[test]
fn rejected_talk_off_windows_are_shaded_in_their_reasons_colour() {
    let input = testdata("plot/talk_off.wav");
    let plot = out_dir().join("talk_off.png");
    let rows = detect(&input, &plot);
    let digits: Vec<&str> = rows.iter().map(|r| r.digit.as_str()).collect();
    assert_eq!(digits, ["5"], "the talk-off sounds give no digit");
    // What the detector rejected, from the same analysis the binary ran.
    let (samples, rate) = mono(&input);
    let recording = Recording::analyse(&samples, rate, dtmf::Config::default()).unwrap();
    let reasons_in = |from_ms: f64, to_ms: f64| -> Vec<dtmf::Rejection> {
        let mut reasons: Vec<_> = recording
            .rejected
            .iter()
            .filter(|w| w.end_ms > from_ms && w.start_ms < to_ms)
            .map(|w| w.reason)
            .collect();
        reasons.dedup();
        reasons
    };
    assert!(
        reasons_in(100.0, 300.0).contains(&dtmf::Rejection::Harmonics),
        "{:?}",
        reasons_in(100.0, 300.0)
    );
    assert_eq!(reasons_in(400.0, 560.0), [dtmf::Rejection::Twist]);
    assert!(
        reasons_in(780.0, 900.0).is_empty(),
        "the key is not rejected"
    );

    let picture = Picture::read(&plot);
    let layout = Layout::new(recording.duration_ms);
    let y = layout.rejections_y.start + 4;
    for window in &recording.rejected {
        let x = layout.x_of_ms((window.start_ms + window.end_ms) / 2.0);
        // Later windows are drawn over earlier ones.
        let on_top = recording
            .rejected
            .iter()
            .rev()
            .find(|w| layout.x_of_ms(w.start_ms) <= x && x <= layout.x_of_ms(w.end_ms))
            .unwrap();
        assert_eq!(
            picture.at(x, y),
            rejection_colour(on_top.reason),
            "{window:?}"
        );
    }
    // Where nothing was rejected, the lane is blank.
    let quiet = layout.x_of_ms(700.0);
    assert_eq!(picture.at(quiet, y), (255, 255, 255));
}

#[test]
fn the_svg_has_the_size_and_the_digit_spans_at_their_times() {
    let input = testdata("robustness/nominal.wav");
    let plot = out_dir().join("nominal.svg");
    let rows = detect(&input, &plot);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(
        svg.contains(&format!(r#"width="{WIDTH}" height="{HEIGHT}""#)),
        "{}",
        &svg[..200]
    );
    let (r, g, b) = DIGIT_COLOUR;
    let fill = format!(r##"fill="#{r:02X}{g:02X}{b:02X}""##);
    let layout = Layout::new(duration_ms(&input));
    // The digit lane's rectangles of the span colour (the legend has one too).
    let span_xs: Vec<i32> = svg
        .lines()
        .filter(|line| line.starts_with("<rect") && line.contains(&fill))
        .filter(|line| attribute(line, "y") == layout.digits_y.start)
        .map(|line| attribute(line, "x"))
        .collect();
    let expected: Vec<i32> = rows.iter().map(|r| layout.x_of_ms(r.start_ms)).collect();
    assert_eq!(span_xs, expected);
}

/// The integer value of attribute `name` of an SVG element written on one line.
fn attribute(line: &str, name: &str) -> i32 {
    let key = format!(" {name}=\"");
    let start = line.find(&key).unwrap() + key.len();
    let end = start + line[start..].find('"').unwrap();
    line[start..end].parse().unwrap()
}

#[test]
fn the_picture_does_not_depend_on_chunking() {
    let input = testdata("plot/talk_off.wav");
    let (samples, rate) = mono(&input);
    let whole = Recording::analyse(&samples, rate, dtmf::Config::default()).unwrap();
    let mut receiver = tonegate::receiver::Receiver::new(rate, dtmf::Config::default()).unwrap();
    let mut recorder = tonegate::plot::Recorder::new(rate);
    for chunk in samples.chunks(77) {
        recorder.process(&mut receiver, chunk).unwrap();
    }
    recorder.flush(&mut receiver);
    let pieces = recorder.finish();
    assert_eq!(whole.spectrogram, pieces.spectrogram);
    assert_eq!(whole.blocks, pieces.blocks);
    assert_eq!(whole.digits, pieces.digits);
    assert_eq!(whole.rejected, pieces.rejected);
}
