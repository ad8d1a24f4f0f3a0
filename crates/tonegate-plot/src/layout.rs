//! Where everything sits in a plot, in pixels: fixed panels and a linear time axis, so
//! a reader (or a test) can say where a moment of the input is drawn without looking
//! at fonts or the picture.

use std::ops::Range;

/// Picture width, pixels.
pub const WIDTH: u32 = 1_600;
/// Picture height, pixels.
pub const HEIGHT: u32 = 900;

/// The panels of a plot and its time axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Length of the input the time axis spans, ms.
    pub duration_ms: f64,
    /// Columns of the plotting area (every panel shares them).
    pub plot_x: Range<i32>,
    /// Rows of the spectrogram (0 Hz at the bottom, [`crate::TOP_HZ`] at the top).
    pub spectrogram_y: Range<i32>,
    /// Rows of the per-block tone levels ([`Layout::LEVEL_RANGE_DB`]).
    pub levels_y: Range<i32>,
    /// Rows of the digit lane: each digit a span from onset to release, its report
    /// point a vertical mark.
    pub digits_y: Range<i32>,
    /// Rows of the rejection lane: each rejected window shaded in its reason's colour.
    pub rejections_y: Range<i32>,
    /// Rows of the legend.
    pub legend_y: Range<i32>,
}

impl Layout {
    /// Levels the tone panel spans, dB relative to a full-scale sine (bottom, top).
    pub const LEVEL_RANGE_DB: (f32, f32) = (-80.0, 0.0);

    /// The layout of a plot of `duration_ms` of input.
    pub fn new(duration_ms: f64) -> Layout {
        Layout {
            duration_ms: duration_ms.max(1.0),
            plot_x: 90..(WIDTH as i32 - 30),
            spectrogram_y: 40..340,
            levels_y: 360..580,
            digits_y: 600..660,
            rejections_y: 670..710,
            legend_y: 760..(HEIGHT as i32 - 10),
        }
    }

    /// The column where time `ms` is drawn (clamped to the plotting area).
    pub fn x_of_ms(&self, ms: f64) -> i32 {
        let width = f64::from(self.plot_x.end - self.plot_x.start);
        let x = f64::from(self.plot_x.start) + (ms / self.duration_ms) * width;
        (x.round() as i32).clamp(self.plot_x.start, self.plot_x.end)
    }

    /// The time at the left edge of column `x`, ms.
    pub fn ms_of_x(&self, x: i32) -> f64 {
        let width = f64::from(self.plot_x.end - self.plot_x.start);
        f64::from(x - self.plot_x.start) / width * self.duration_ms
    }

    /// The row of frequency `hz` in the spectrogram.
    pub fn y_of_hz(&self, hz: f32) -> i32 {
        let height = (self.spectrogram_y.end - self.spectrogram_y.start) as f32;
        let y = self.spectrogram_y.end as f32 - hz / crate::TOP_HZ * height;
        (y.round() as i32).clamp(self.spectrogram_y.start, self.spectrogram_y.end)
    }

    /// The row of level `db` in the tone panel.
    pub fn y_of_db(&self, db: f32) -> i32 {
        let (low, high) = Self::LEVEL_RANGE_DB;
        let height = (self.levels_y.end - self.levels_y.start) as f32;
        let share = (db.clamp(low, high) - low) / (high - low);
        (self.levels_y.end as f32 - share * height).round() as i32
    }

    /// Ticks for the time axis: a round step giving at most 16 of them, ms.
    pub fn time_ticks(&self) -> impl Iterator<Item = f64> {
        const STEPS: [f64; 12] = [
            10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0, 10_000.0, 30_000.0,
            60_000.0,
        ];
        let step = STEPS
            .into_iter()
            .find(|step| self.duration_ms / step <= 16.0)
            .unwrap_or(120_000.0);
        let count = (self.duration_ms / step).floor() as u32;
        (0..=count).map(move |n| f64::from(n) * step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_maps_linearly_onto_the_plotting_area() {
        let layout = Layout::new(2_000.0);
        assert_eq!(layout.x_of_ms(0.0), layout.plot_x.start);
        assert_eq!(layout.x_of_ms(2_000.0), layout.plot_x.end);
        let middle = layout.x_of_ms(1_000.0);
        assert_eq!(middle, (layout.plot_x.start + layout.plot_x.end) / 2);
        assert!((layout.ms_of_x(middle) - 1_000.0).abs() < 1.0);
        assert_eq!(layout.time_ticks().count(), 11);
    }

    #[test]
    fn levels_and_frequencies_map_upwards() {
        let layout = Layout::new(1_000.0);
        assert_eq!(layout.y_of_db(0.0), layout.levels_y.start);
        assert_eq!(layout.y_of_db(-200.0), layout.levels_y.end);
        assert!(layout.y_of_hz(1_633.0) < layout.y_of_hz(697.0));
    }
}
