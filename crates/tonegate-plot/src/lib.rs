//! Pictures of what tonegate's DTMF detector heard, for `tonegate detect --plot` and
//! `tonegate evaluate --plot`: the input's spectrogram with the eight keypad frequencies
//! marked, the per-block tone levels, every detected digit as a span from onset to
//! release with its report point and level, and the windows that looked like a digit
//! but were rejected, shaded in the colour of the reason.
//!
//! [`Recorder`] gathers a [`Recording`] while a receiver runs (any chunking gives the
//! same recording); [`write`] draws it as SVG or PNG. Positions follow [`Layout`], which
//! depends only on the input's length, so where a moment is drawn can be computed. Text
//! uses an embedded DejaVu Sans (Bitstream Vera licence, `fonts/`): no system font is
//! read.

mod draw;
mod layout;
mod recording;

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use tonegate_dsp::dsp::dtmf::Rejection;

pub use layout::{HEIGHT, Layout, WIDTH};
pub use recording::{
    BINS, BlockLevels, DigitSpan, HOP_MS, MAX_DURATION_MS, Recorder, Recording, RejectedWindow,
    TOP_HZ,
};

/// An RGB colour.
pub type Colour = (u8, u8, u8);

/// Fill of a digit's span in the digit lane.
pub const DIGIT_COLOUR: Colour = (40, 110, 220);
/// The mark at a digit's report point.
pub const REPORT_COLOUR: Colour = (220, 30, 30);

/// Fill of a window rejected for `reason` in the rejection lane (and, faintly, behind
/// the tone levels).
pub fn rejection_colour(reason: Rejection) -> Colour {
    match reason {
        Rejection::FrequencyOffset => (230, 160, 20),
        Rejection::Level => (130, 130, 130),
        Rejection::Twist => (190, 60, 190),
        Rejection::EnergyShare => (20, 160, 150),
        Rejection::Harmonics => (240, 90, 40),
        Rejection::TooShort => (120, 80, 30),
    }
}

/// Why a plot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file name ends in neither `.svg` nor `.png`.
    #[error("a plot is written as .svg or .png, not `{0}`")]
    Format(String),
    /// The input is longer than a plot draws.
    #[error("a plot draws at most {max_minutes} minutes of input")]
    TooLong {
        /// [`MAX_DURATION_MS`] in minutes.
        max_minutes: u32,
    },
    /// The receiver could not be built.
    #[error(transparent)]
    Receiver(#[from] tonegate_dsp::receiver::Error),
    /// Drawing or writing the file failed.
    #[error("cannot draw the plot: {0}")]
    Draw(String),
}

/// The picture formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Scalable vector graphics (the spectrogram inside it is an embedded PNG).
    Svg,
    /// A PNG image.
    Png,
}

impl Format {
    /// The format a file name asks for, by its extension.
    pub fn from_path(path: &Path) -> Result<Format, Error> {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match extension.to_ascii_lowercase().as_str() {
            "svg" => Ok(Format::Svg),
            "png" => Ok(Format::Png),
            _ => Err(Error::Format(path.display().to_string())),
        }
    }
}

/// Draws `recording` with `title` into `path`, as its extension says.
pub fn write(recording: &Recording, title: &str, path: &Path) -> Result<(), Error> {
    register_font();
    let failed = |e: &dyn std::fmt::Display| Error::Draw(e.to_string());
    match Format::from_path(path)? {
        Format::Svg => {
            let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
            draw::draw(&root, recording, title).map_err(|e| failed(&e))
        }
        Format::Png => {
            let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
            draw::draw(&root, recording, title).map_err(|e| failed(&e))
        }
    }
}

/// Makes the embedded font the plots' `sans-serif`, once per process.
fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        let font = include_bytes!("../fonts/DejaVuSans.ttf");
        // The bytes are a valid font, fixed at build time; the unit test below checks.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, font);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_font_loads() {
        let font = include_bytes!("../fonts/DejaVuSans.ttf");
        assert!(plotters::style::register_font("test", FontStyle::Normal, font).is_ok());
    }

    #[test]
    fn the_format_comes_from_the_extension() {
        assert_eq!(
            Format::from_path(Path::new("a/b.SVG")).unwrap(),
            Format::Svg
        );
        assert_eq!(Format::from_path(Path::new("b.png")).unwrap(), Format::Png);
        assert!(Format::from_path(Path::new("b.jpg")).is_err());
    }
}
