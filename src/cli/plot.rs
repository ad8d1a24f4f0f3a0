//! `--plot` of `detect` and `evaluate`: the pictures tonegate-plot draws, written where
//! the command line says.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tonegate::SampleRate;
use tonegate::dsp::dtmf;
use tonegate::evaluate::{self, Report};
use tonegate_plot::Recording;

/// Draws `recording` into `path` (`.svg` or `.png`).
pub(super) fn write(recording: &Recording, title: &str, path: &Path) -> anyhow::Result<()> {
    tonegate_plot::write(recording, title, path)
        .with_context(|| format!("cannot write the plot {}", path.display()))
}

/// Runs the evaluate suite through `run`, drawing each condition's signal into a PNG
/// in `dir` (created if missing) with the detector settings `config`.
pub(super) fn evaluate(
    dir: &Path,
    config: &dtmf::Config,
    run: impl FnOnce(&mut dyn FnMut(&str, SampleRate, &[f32])) -> Result<Report, evaluate::Error>,
) -> anyhow::Result<Report> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the plot directory {}", dir.display()))?;
    let mut index = 0;
    let mut failure = None;
    let report = run(&mut |name, rate, samples| {
        index += 1;
        if failure.is_some() {
            return;
        }
        let path = condition_file(dir, index, name);
        let drawn = Recording::analyse(samples, rate, config.clone())
            .map_err(anyhow::Error::from)
            .and_then(|recording| write(&recording, name, &path));
        failure = drawn.err();
    })?;
    match failure {
        Some(error) => Err(error),
        None => Ok(report),
    }
}

/// The PNG file in `dir` for the evaluate condition `name`: its characters other than
/// letters, digits, `+`, `-` and `.` become `_`.
pub(super) fn condition_file(dir: &Path, index: usize, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{index:03}_{safe}.png"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_names_become_safe_file_names() {
        let path = condition_file(Path::new("out"), 7, "twist +4 dB / 1.5% deviation");
        assert_eq!(path, Path::new("out/007_twist_+4_dB___1.5__deviation.png"));
    }
}
