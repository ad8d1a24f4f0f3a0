//! `tonegate generate`: a WAV file of DTMF digits.

use std::fs::File;
use std::io::BufWriter;
use std::time::Duration;

use anyhow::Context;
use tonegate::SampleRate;
use tonegate::dsp::Digit;
use tonegate::dsp::tone::{Cadence, render_digits};
use tonegate::media::wav::write_wav;

use super::GenerateArgs;

/// Renders the digits and writes the file.
pub(super) fn run(args: &GenerateArgs) -> anyhow::Result<()> {
    let digits = args
        .digits
        .chars()
        .map(Digit::from_char)
        .collect::<Result<Vec<_>, _>>()?;
    let duration = |ms: f64, what: &str| {
        anyhow::ensure!(
            ms.is_finite() && (0.0..=60_000.0).contains(&ms),
            "--{what} must be 0 to 60000 ms"
        );
        Ok(Duration::from_secs_f64(ms / 1000.0))
    };
    anyhow::ensure!(
        args.level_dbm0.is_finite() && (-60.0..=3.0).contains(&args.level_dbm0),
        "--level-dbm0 must be -60 to 3"
    );
    let cadence = Cadence {
        on: duration(args.on_ms, "on-ms")?,
        off: duration(args.off_ms, "off-ms")?,
        level_dbm0: args.level_dbm0,
    };
    let rate = SampleRate::new(args.rate)?;
    let samples = render_digits(&digits, cadence, rate)?;
    let name = args.output.display();
    let file = File::create(&args.output).with_context(|| format!("{name}: cannot create"))?;
    write_wav(BufWriter::new(file), rate.hz(), 1, args.encoding, &samples)
        .with_context(|| format!("{name}: cannot write"))?;
    Ok(())
}
