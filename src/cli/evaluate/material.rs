//! Recordings for the robustness rows: every 8 kHz WAV file under a directory, as one
//! signal.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use tonegate::media::wav::WavReader;

/// Most material read from one directory, samples (20 minutes at 8 kHz).
const MAX_SAMPLES: usize = 20 * 60 * 8_000;

/// Reads the first channel of every 8 kHz WAV file under `dir` (recursively, in name
/// order), end to end, up to [`MAX_SAMPLES`]. Files at other rates are skipped.
pub(super) fn read_dir(dir: &Path) -> anyhow::Result<Vec<f32>> {
    let mut files = Vec::new();
    wav_files(dir, &mut files).with_context(|| format!("cannot list {}", dir.display()))?;
    files.sort();
    let mut samples = Vec::new();
    for path in files {
        if samples.len() >= MAX_SAMPLES {
            break;
        }
        let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut reader = WavReader::new(BufReader::new(file))
            .with_context(|| format!("cannot read {}", path.display()))?;
        if reader.sample_rate() != 8_000 {
            continue;
        }
        let channels = usize::from(reader.channels());
        let mut frames = vec![0.0; 4_096 * channels];
        loop {
            let read = reader
                .read_frames(&mut frames)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if read == 0 {
                break;
            }
            samples.extend(frames[..read * channels].iter().step_by(channels));
        }
    }
    samples.truncate(MAX_SAMPLES);
    if samples.is_empty() {
        bail!("no 8 kHz WAV files under {}", dir.display());
    }
    Ok(samples)
}

fn wav_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            wav_files(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("wav"))
        {
            out.push(path);
        }
    }
    Ok(())
}
