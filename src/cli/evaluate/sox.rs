//! Codec round trips through `sox` for the robustness rows: AMR-NB (the mobile
//! networks' codec) at its lowest rate, 4.75 kbit/s (sox's default mode), and at its
//! highest, 12.2 kbit/s (what a good radio link runs), GSM-FR and IMA ADPCM, all at
//! 8 kHz.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::bail;
use tonegate::codec::Encoding;

/// A codec sox can write and read back.
pub(super) struct Codec {
    /// Row label.
    pub name: &'static str,
    /// File extension of the coded file.
    extension: &'static str,
    /// sox output options that select the codec.
    options: &'static [&'static str],
}

/// The codecs of the robustness rows (new ones go last, so the rows before them keep
/// their seeds).
pub(super) const CODECS: [Codec; 4] = [
    Codec {
        name: "AMR-NB",
        extension: "amr-nb",
        // sox's default mode: 4.75 kbit/s.
        options: &["-t", "amr-nb"],
    },
    Codec {
        name: "GSM-FR",
        extension: "gsm",
        options: &["-t", "gsm"],
    },
    Codec {
        name: "IMA ADPCM",
        extension: "wav",
        options: &["-t", "wav", "-e", "ima-adpcm"],
    },
    Codec {
        name: "AMR-NB 12.2",
        extension: "amr-nb",
        options: &["-t", "amr-nb", "-C", "7"],
    },
];

/// Raw 8 kHz mono s16le, as sox options.
const RAW_8K: [&str; 10] = [
    "-t",
    "raw",
    "-r",
    "8000",
    "-e",
    "signed-integer",
    "-b",
    "16",
    "-c",
    "1",
];

/// Fails with a clear message unless sox runs and writes every codec (Debian's plain
/// `sox` lacks AMR-NB; `libsox-fmt-all` adds it).
pub(super) fn check() -> anyhow::Result<()> {
    let probe = [0.0f32; 1_600];
    for codec in &CODECS {
        if let Err(reason) = codec.transcode(&probe) {
            bail!(
                "--codecs: sox cannot code {} ({reason}); on Debian: apt-get install sox libsox-fmt-all",
                codec.name
            );
        }
    }
    Ok(())
}

impl Codec {
    /// Encodes and decodes `samples` (8 kHz, full scale 1.0).
    pub(super) fn transcode(&self, samples: &[f32]) -> Result<Vec<f32>, String> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let stem = std::env::temp_dir().join(format!(
            "tonegate-sox-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let input = stem.with_extension("in.raw");
        let coded = stem.with_extension(self.extension);
        let output = stem.with_extension("out.raw");
        let result = self.run(samples, &input, &coded, &output);
        for path in [&input, &coded, &output] {
            let _ = std::fs::remove_file(path);
        }
        result
    }

    fn run(
        &self,
        samples: &[f32],
        input: &Path,
        coded: &Path,
        output: &Path,
    ) -> Result<Vec<f32>, String> {
        let mut bytes = vec![0u8; samples.len() * 2];
        Encoding::S16le
            .encode(samples, &mut bytes)
            .map_err(|e| e.to_string())?;
        std::fs::write(input, &bytes).map_err(|e| e.to_string())?;
        let sox = |args: Vec<&OsStr>| -> Result<(), String> {
            let status = Command::new("sox")
                .args(args)
                .output()
                .map_err(|e| format!("cannot run sox: {e}"))?;
            if status.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&status.stderr).trim().to_string())
            }
        };
        let mut encode: Vec<&OsStr> = RAW_8K.iter().map(OsStr::new).collect();
        encode.push(input.as_os_str());
        encode.extend(self.options.iter().map(OsStr::new));
        encode.push(coded.as_os_str());
        sox(encode)?;
        let mut decode: Vec<&OsStr> = vec![coded.as_os_str()];
        decode.extend(RAW_8K.iter().map(OsStr::new));
        decode.push(output.as_os_str());
        sox(decode)?;
        let bytes = std::fs::read(output).map_err(|e| e.to_string())?;
        let mut decoded = vec![0.0; bytes.len() / 2];
        Encoding::S16le
            .decode(&bytes[..decoded.len() * 2], &mut decoded)
            .map_err(|e| e.to_string())?;
        Ok(decoded)
    }
}
