//! Draws a [`Recording`] onto any plotters backend, in the pixel positions of its
//! [`Layout`].

use plotters::coord::Shift;
use plotters::element::BitMapElement;
use plotters::prelude::*;
use tonegate_dsp::dsp::dtmf::Rejection;
use tonegate_dsp::dsp::keypad::{COLUMN_HZ, ROW_HZ};

use crate::layout::Layout;
use crate::recording::{BINS, HOP_MS, Recording, RejectedWindow};
use crate::{Colour, DIGIT_COLOUR, REPORT_COLOUR, rejection_colour};

/// The font family the embedded font is registered as.
const FONT: &str = "sans-serif";
/// Spectrogram levels drawn from black (at the bottom) to pale yellow (at the top), dB.
const SPECTROGRAM_DB: (f32, f32) = (-90.0, 0.0);
/// Colours of the eight tone lines (rows, then columns) and their names.
const TONE_COLOURS: [Colour; 8] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
];

/// What drawing on a backend `DB` gives.
type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Draws `recording` with `title` on `root`, which is [`crate::WIDTH`] by
/// [`crate::HEIGHT`] pixels.
pub(crate) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    recording: &Recording,
    title: &str,
) -> Drawn<DB> {
    let layout = Layout::new(recording.duration_ms);
    root.fill(&WHITE)?;
    root.draw(&Text::new(
        title.to_owned(),
        (layout.plot_x.start, 12),
        text_style(16),
    ))?;
    spectrogram(root, &layout, recording)?;
    levels(root, &layout, recording)?;
    digits(root, &layout, recording)?;
    rejections(root, &layout, &recording.rejected)?;
    time_axis(root, &layout)?;
    legend(root, &layout)?;
    root.present()
}

fn rgb((r, g, b): Colour) -> RGBColor {
    RGBColor(r, g, b)
}

fn text_style(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

fn spectrogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    layout: &Layout,
    recording: &Recording,
) -> Drawn<DB> {
    let (x0, y0) = (layout.plot_x.start, layout.spectrogram_y.start);
    let width = (layout.plot_x.end - x0) as u32;
    let height = (layout.spectrogram_y.end - y0) as u32;
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    let columns = &recording.spectrogram;
    // Column i is the frame ending at (i + 1) hops; it is drawn where its middle falls.
    let column_at = |ms: f64| ((ms + 16.0) / HOP_MS).round() as i64 - 1;
    for x in 0..width {
        let px = x0 + x as i32;
        let first = column_at(layout.ms_of_x(px)).max(0);
        let last = column_at(layout.ms_of_x(px + 1)).max(first);
        let end = (last as usize + 1).min(columns.len());
        let range = (first as usize).min(end)..end;
        for y in 0..height {
            let bin = ((height - 1 - y) as usize * BINS) / height as usize;
            let db = columns[range.clone()]
                .iter()
                .map(|column| column[bin])
                .fold(-120.0f32, f32::max);
            let colour = heat(db);
            let at = ((y * width + x) * 3) as usize;
            pixels[at..at + 3].copy_from_slice(&[colour.0, colour.1, colour.2]);
        }
    }
    if let Some(image) = BitMapElement::with_owned_buffer((x0, y0), (width, height), pixels) {
        root.draw(&image)?;
    }
    for hz in ROW_HZ.into_iter().chain(COLUMN_HZ) {
        let y = layout.y_of_hz(hz);
        root.draw(&PathElement::new(
            vec![(x0 - 6, y), (x0, y)],
            BLACK.stroke_width(1),
        ))?;
        root.draw(&PathElement::new(
            vec![(x0, y), (layout.plot_x.end, y)],
            WHITE.mix(0.35).stroke_width(1),
        ))?;
        root.draw(&Text::new(
            format!("{hz:.0}"),
            (x0 - 40, y - 5),
            text_style(10),
        ))?;
    }
    root.draw(&Text::new(
        "Hz".to_owned(),
        (x0 - 30, layout.spectrogram_y.start - 14),
        text_style(11),
    ))?;
    Ok(())
}

/// The spectrogram's colour for `db`: black, blue, red, orange, pale yellow.
fn heat(db: f32) -> Colour {
    const STOPS: [Colour; 5] = [
        (0, 0, 0),
        (40, 40, 160),
        (190, 40, 90),
        (250, 150, 40),
        (255, 250, 200),
    ];
    let (low, high) = SPECTROGRAM_DB;
    let t = ((db - low) / (high - low)).clamp(0.0, 1.0) * (STOPS.len() - 1) as f32;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f32;
    let mix = |a: u8, b: u8| (f32::from(a) + (f32::from(b) - f32::from(a)) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn levels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    layout: &Layout,
    recording: &Recording,
) -> Drawn<DB> {
    let (x0, x1) = (layout.plot_x.start, layout.plot_x.end);
    for window in &recording.rejected {
        let colour = rgb(rejection_colour(window.reason)).mix(0.18);
        root.draw(&Rectangle::new(
            [
                (layout.x_of_ms(window.start_ms), layout.levels_y.start),
                (layout.x_of_ms(window.end_ms), layout.levels_y.end),
            ],
            colour.filled(),
        ))?;
    }
    for db in [0.0f32, -20.0, -40.0, -60.0, -80.0] {
        let y = layout.y_of_db(db);
        root.draw(&PathElement::new(
            vec![(x0, y), (x1, y)],
            BLACK.mix(0.15).stroke_width(1),
        ))?;
        root.draw(&Text::new(
            format!("{db:.0} dB"),
            (x0 - 50, y - 5),
            text_style(10),
        ))?;
    }
    for (lane, colour) in TONE_COLOURS.into_iter().enumerate() {
        let points = column_peaks(layout, recording, |b| b.tone_db[lane]);
        root.draw(&PathElement::new(points, rgb(colour).stroke_width(1)))?;
    }
    let broadband = column_peaks(layout, recording, |b| b.level_db);
    root.draw(&PathElement::new(broadband, BLACK.stroke_width(1)))?;
    root.draw(&Rectangle::new(
        [(x0, layout.levels_y.start), (x1, layout.levels_y.end)],
        BLACK.stroke_width(1),
    ))?;
    Ok(())
}

/// One point per plot column that holds blocks: the loudest of them by `level`.
fn column_peaks(
    layout: &Layout,
    recording: &Recording,
    level: impl Fn(&crate::recording::BlockLevels) -> f32,
) -> Vec<(i32, i32)> {
    let mut points: Vec<(i32, f32)> = Vec::new();
    for block in &recording.blocks {
        let x = layout.x_of_ms(block.end_ms - 2.0);
        let db = level(block);
        match points.last_mut() {
            Some((last_x, peak)) if *last_x == x => *peak = peak.max(db),
            _ => points.push((x, db)),
        }
    }
    points
        .into_iter()
        .map(|(x, db)| (x, layout.y_of_db(db)))
        .collect()
}

fn digits<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    layout: &Layout,
    recording: &Recording,
) -> Drawn<DB> {
    let (top, bottom) = (layout.digits_y.start, layout.digits_y.end);
    root.draw(&Text::new(
        "digits".to_owned(),
        (layout.plot_x.start - 80, top + 22),
        text_style(11),
    ))?;
    for span in &recording.digits {
        let (left, right) = (layout.x_of_ms(span.start_ms), layout.x_of_ms(span.end_ms));
        root.draw(&Rectangle::new(
            [(left, top), (right.max(left + 1), bottom)],
            rgb(DIGIT_COLOUR).filled(),
        ))?;
        root.draw(&Text::new(
            format!("{} {:.0}", span.digit, span.level_dbm0),
            (left + 2, top + 2),
            text_style(11).color(&WHITE),
        ))?;
        let x = layout.x_of_ms(span.detected_ms);
        root.draw(&Rectangle::new(
            [(x - 1, top - 6), (x + 1, bottom + 6)],
            rgb(REPORT_COLOUR).filled(),
        ))?;
    }
    Ok(())
}

fn rejections<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    layout: &Layout,
    rejected: &[RejectedWindow],
) -> Drawn<DB> {
    let (top, bottom) = (layout.rejections_y.start, layout.rejections_y.end);
    root.draw(&Text::new(
        "rejected".to_owned(),
        (layout.plot_x.start - 80, top + 12),
        text_style(11),
    ))?;
    let mut labelled_until = i32::MIN;
    for window in rejected {
        let (left, right) = (
            layout.x_of_ms(window.start_ms),
            layout.x_of_ms(window.end_ms),
        );
        root.draw(&Rectangle::new(
            [(left, top), (right.max(left + 1), bottom)],
            rgb(rejection_colour(window.reason)).filled(),
        ))?;
        if left > labelled_until {
            let label = format!("{}? {}", window.digit, window.reason);
            root.draw(&Text::new(label, (left, bottom + 4), text_style(10)))?;
            labelled_until = left + 110;
        }
    }
    Ok(())
}

fn time_axis<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, layout: &Layout) -> Drawn<DB> {
    let y = layout.rejections_y.end + 22;
    for ms in layout.time_ticks() {
        let x = layout.x_of_ms(ms);
        root.draw(&PathElement::new(
            vec![(x, y), (x, y + 5)],
            BLACK.stroke_width(1),
        ))?;
        let label = if layout.duration_ms >= 2_000.0 {
            format!("{:.1} s", ms / 1_000.0)
        } else {
            format!("{ms:.0} ms")
        };
        root.draw(&Text::new(label, (x - 12, y + 8), text_style(10)))?;
    }
    Ok(())
}

fn legend<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, layout: &Layout) -> Drawn<DB> {
    let mut entries: Vec<(String, Colour)> = ROW_HZ
        .into_iter()
        .chain(COLUMN_HZ)
        .zip(TONE_COLOURS)
        .map(|(hz, colour)| (format!("{hz:.0} Hz"), colour))
        .collect();
    entries.push(("broadband".to_owned(), (0, 0, 0)));
    entries.push(("digit (onset to release)".to_owned(), DIGIT_COLOUR));
    entries.push(("report point".to_owned(), REPORT_COLOUR));
    for reason in Rejection::ALL {
        entries.push((format!("rejected: {reason}"), rejection_colour(reason)));
    }
    let per_row = 6;
    for (n, (name, colour)) in entries.into_iter().enumerate() {
        let x = layout.plot_x.start + (n % per_row) as i32 * 240;
        let y = layout.legend_y.start + (n / per_row) as i32 * 22;
        root.draw(&Rectangle::new(
            [(x, y), (x + 14, y + 12)],
            rgb(colour).filled(),
        ))?;
        root.draw(&Text::new(name, (x + 20, y), text_style(11)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heat_runs_from_black_to_pale_yellow() {
        assert_eq!(heat(-200.0), (0, 0, 0));
        assert_eq!(heat(10.0), (255, 250, 200));
        let middle = heat(-45.0);
        assert!(middle.0 > 100 && middle.2 > 40, "{middle:?}");
    }
}
