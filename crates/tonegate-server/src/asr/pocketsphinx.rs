//! The local engine: CMU pocketsphinx with its US English model, both from Debian
//! (`pocketsphinx`, `pocketsphinx-en-us`; BSD licence).
//!
//! Debian ships pocketsphinx 5prealpha: the library and the `pocketsphinx_continuous`
//! program. tonegate runs the program, once per utterance, rather than binding the C
//! library: the Rust bindings on crates.io are unmaintained and would make building
//! tonegate need the library's headers, while the program keeps the server buildable
//! and startable without it and keeps a crash in C code out of the server's process.
//! Loading the model costs about 0.1 s per utterance, small next to the end silence
//! that ends the utterance.
//!
//! Choices become a JSGF grammar of their phrases (`-jsgf`); free speech uses the
//! model's trigram language model (`-lm`). A grammar always yields one of its phrases,
//! so a choice is only accepted when its words span most of the voiced audio: speech
//! much longer than the phrase it was forced onto is no match.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Engine, Error, Recognition, Utterance, Word, match_choice};
use tonegate_core::session::speech::Grammar;

/// Share of the voiced audio a choice's words must span to count as said.
const MIN_COVERAGE: f64 = 0.6;
/// One analysis frame of the engine: 10 ms at 16 kHz.
const FRAME: usize = 160;

/// pocketsphinx run as a program.
pub struct Pocketsphinx {
    program: PathBuf,
    acoustic_model: PathBuf,
    language_model: PathBuf,
    dictionary: PathBuf,
    /// The dictionary's words: a grammar with any other word would not load.
    words: HashSet<String>,
}

impl Pocketsphinx {
    /// The engine, once the program and the model are found; else what is missing.
    pub fn new(program: &Path, model_dir: &Path) -> Result<Pocketsphinx, String> {
        let program = find_program(program).ok_or_else(|| {
            format!(
                "the speech recogniser {} was not found (install Debian's pocketsphinx)",
                program.display()
            )
        })?;
        let acoustic_model = model_dir.join("en-us");
        let language_model = model_dir.join("en-us.lm.bin");
        let dictionary = model_dir.join("cmudict-en-us.dict");
        for path in [&acoustic_model, &language_model, &dictionary] {
            if !path.exists() {
                return Err(format!(
                    "the speech model file {} was not found (install Debian's pocketsphinx-en-us)",
                    path.display()
                ));
            }
        }
        let text = std::fs::read_to_string(&dictionary)
            .map_err(|e| format!("cannot read {}: {e}", dictionary.display()))?;
        let words = text
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|w| !w.contains('('))
            .map(str::to_owned)
            .collect();
        Ok(Pocketsphinx {
            program,
            acoustic_model,
            language_model,
            dictionary,
            words,
        })
    }

    /// The JSGF grammar of the phrases the dictionary can spell (others are left out:
    /// the engine cannot hear them).
    fn grammar(&self, choices: &[Vec<String>]) -> Option<String> {
        let phrases: Vec<&str> = choices
            .iter()
            .flatten()
            .filter(|p| p.split_whitespace().all(|w| self.words.contains(w)))
            .map(String::as_str)
            .collect();
        if phrases.is_empty() {
            return None;
        }
        Some(format!(
            "#JSGF V1.0;\ngrammar choices;\npublic <choice> = {};\n",
            phrases.join(" | ")
        ))
    }

    fn run(&self, samples: &[i16], search: &[&std::ffi::OsStr]) -> Result<Decoded, Error> {
        let dir =
            tempfile::tempdir().map_err(|e| Error::Failed(format!("scratch directory: {e}")))?;
        let audio = dir.path().join("utterance.raw");
        let mut file = std::fs::File::create(&audio)
            .map_err(|e| Error::Failed(format!("scratch file: {e}")))?;
        let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        file.write_all(&bytes)
            .map_err(|e| Error::Failed(format!("scratch file: {e}")))?;
        drop(file);
        let output = Command::new(&self.program)
            .arg("-hmm")
            .arg(&self.acoustic_model)
            .arg("-dict")
            .arg(&self.dictionary)
            .args(search)
            .arg("-infile")
            .arg(&audio)
            .args(["-time", "yes", "-logfn", "/dev/null"])
            .output()
            .map_err(|e| Error::Failed(format!("cannot run {}: {e}", self.program.display())))?;
        if !output.status.success() {
            return Err(Error::Failed(format!(
                "{} exited with {}",
                self.program.display(),
                output.status
            )));
        }
        Ok(Decoded::parse(&String::from_utf8_lossy(&output.stdout)))
    }
}

impl Engine for Pocketsphinx {
    fn recognize(&self, utterance: &Utterance<'_>) -> Result<Recognition, Error> {
        if let Some(language) = utterance.language
            && !language.to_ascii_lowercase().starts_with("en")
        {
            return Err(Error::Language(language.to_owned()));
        }
        match utterance.grammar {
            Grammar::Choices(choices) => {
                let grammar = self.grammar(choices).ok_or_else(|| {
                    Error::Failed("no choice phrase has words the recogniser knows".to_owned())
                })?;
                let dir = tempfile::tempdir()
                    .map_err(|e| Error::Failed(format!("scratch directory: {e}")))?;
                let path = dir.path().join("choices.jsgf");
                std::fs::write(&path, grammar)
                    .map_err(|e| Error::Failed(format!("scratch file: {e}")))?;
                let decoded = self.run(utterance.samples, &["-jsgf".as_ref(), path.as_os_str()])?;
                let voiced = voiced_frames(utterance.samples);
                let coverage = match (decoded.span, voiced) {
                    (Some((s, e)), Some((vs, ve))) => {
                        (e.min(ve) + 1).saturating_sub(s.max(vs)) as f64 / (ve + 1 - vs) as f64
                    }
                    _ => 0.0,
                };
                match match_choice(choices, &decoded.text) {
                    Some((index, phrase)) if coverage >= MIN_COVERAGE => Ok(Recognition::Choice {
                        index,
                        phrase,
                        confidence: (coverage.min(1.0) * 100.0).round() / 100.0,
                    }),
                    _ => Ok(Recognition::NoMatch),
                }
            }
            Grammar::FreeText => {
                let decoded = self.run(
                    utterance.samples,
                    &["-lm".as_ref(), self.language_model.as_os_str()],
                )?;
                Ok(Recognition::Text {
                    text: decoded.text,
                    confidence: decoded.confidence,
                    words: decoded.words,
                })
            }
        }
    }
}

/// The program itself if `program` is a path, else its first match in `PATH`.
fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_owned());
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// First and last voiced 10 ms frames: within 30 dB of the loudest frame.
fn voiced_frames(samples: &[i16]) -> Option<(u64, u64)> {
    let energies: Vec<f64> = samples
        .chunks(FRAME)
        .map(|c| c.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / c.len() as f64)
        .collect();
    let loudest = energies.iter().copied().fold(0.0, f64::max);
    if loudest <= 0.0 {
        return None;
    }
    let voiced = |e: &f64| *e >= loudest / 1_000.0;
    let first = energies.iter().position(voiced)?;
    let last = energies.iter().rposition(voiced)?;
    Some((first as u64, last as u64))
}

/// What the program printed: the words of every utterance it found, their span in
/// frames, their mean posterior probability and each word's time.
#[derive(Debug, Default, PartialEq)]
struct Decoded {
    text: String,
    span: Option<(u64, u64)>,
    confidence: f64,
    words: Vec<Word>,
}

impl Decoded {
    /// Parses `-time yes` output: a hypothesis line, then `word start end prob` per
    /// segment (seconds).
    fn parse(stdout: &str) -> Decoded {
        let mut words = Vec::new();
        let mut timed = Vec::new();
        let mut span: Option<(u64, u64)> = None;
        let mut probabilities = Vec::new();
        for line in stdout.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [word, start, end, prob] = fields[..] else {
                continue;
            };
            let (Ok(start), Ok(end), Ok(prob)) = (
                start.parse::<f64>(),
                end.parse::<f64>(),
                prob.parse::<f64>(),
            ) else {
                continue;
            };
            if word.starts_with('<') || word.starts_with('[') || word.starts_with("++") {
                continue;
            }
            let (s, e) = ((start * 100.0).round() as u64, (end * 100.0).round() as u64);
            span = Some(span.map_or((s, e), |(a, b)| (a.min(s), b.max(e))));
            let word = word.split('(').next().unwrap_or(word).to_owned();
            let offset = std::time::Duration::from_millis(s * 10);
            let duration = std::time::Duration::from_millis((e + 1).saturating_sub(s) * 10);
            timed.push(Word {
                text: word.clone(),
                offset,
                duration,
            });
            words.push(word);
            probabilities.push(prob.clamp(0.0, 1.0));
        }
        let confidence = if probabilities.is_empty() {
            0.0
        } else {
            probabilities.iter().sum::<f64>() / probabilities.len() as f64
        };
        Decoded {
            text: words.join(" "),
            span,
            confidence: (confidence * 100.0).round() / 100.0,
            words: timed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_program_output_gives_words_span_and_confidence() {
        let out = "i want\n<s> 0.380 0.480 0.999700\ni 0.490 0.570 0.5\n<sil> 0.580 0.610 0.69\n\
                   want(2) 0.620 0.830 0.3\n</s> 0.940 1.480 1.000000\n";
        assert_eq!(
            Decoded::parse(out),
            Decoded {
                text: "i want".to_owned(),
                span: Some((49, 83)),
                confidence: 0.4,
                words: vec![
                    Word {
                        text: "i".to_owned(),
                        offset: Duration::from_millis(490),
                        duration: Duration::from_millis(90),
                    },
                    Word {
                        text: "want".to_owned(),
                        offset: Duration::from_millis(620),
                        duration: Duration::from_millis(220),
                    },
                ],
            }
        );
        assert_eq!(Decoded::parse(""), Decoded::default());
    }

    #[test]
    fn voiced_frames_are_found_against_the_loudest() {
        let mut samples = vec![0i16; 16_000];
        for s in &mut samples[3_200..8_000] {
            *s = 8_000;
        }
        assert_eq!(voiced_frames(&samples), Some((20, 49)));
        assert_eq!(voiced_frames(&[0; 800]), None);
    }
}
