//! `tonegate evaluate`: the compliance suite's report.

use std::io::{self, Write};
use std::process::ExitCode;

use tonegate::SampleRate;
use tonegate::dsp::dtmf;
use tonegate::evaluate::{self, Extras, Report, Transcode};

use super::{EvaluateArgs, ReportFormat};

mod material;
mod sox;

/// Runs the suite; exit code 0 when every condition passes, 1 otherwise.
pub(super) fn run(args: &EvaluateArgs) -> anyhow::Result<ExitCode> {
    let rate = SampleRate::new(args.rate)?;
    let speech = args.speech.as_deref().map(material::read_dir).transpose()?;
    let music = args.music.as_deref().map(material::read_dir).transpose()?;
    if args.codecs {
        sox::check()?;
    }
    let round_trips: Vec<(&str, Box<Transcode>)> = if args.codecs {
        sox::CODECS
            .iter()
            .map(|codec| {
                let round_trip = move |samples: &[f32]| codec.transcode(samples);
                (codec.name, Box::new(round_trip) as Box<Transcode>)
            })
            .collect()
    } else {
        Vec::new()
    };
    let extras = Extras {
        speech: speech.as_deref(),
        music: music.as_deref(),
        codecs: round_trips
            .iter()
            .map(|(name, round_trip)| (*name, round_trip.as_ref()))
            .collect(),
    };
    let config = dtmf::Config::for_profile(args.profile);
    let report = match &args.plot {
        None => evaluate::run_with(rate, &config, &extras)?,
        Some(dir) => super::plot::evaluate(dir, &config, |on_signal| {
            evaluate::run_observed(rate, &config, &extras, on_signal)
        })?,
    };
    let mut out = io::stdout().lock();
    match args.format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        ReportFormat::Text => write_table(&mut out, &report, args.profile)?,
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn write_table(out: &mut impl Write, report: &Report, profile: dtmf::Profile) -> io::Result<()> {
    let ms = |value: Option<f64>| value.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    writeln!(
        out,
        "DTMF receiver compliance at {} Hz, profile {profile}",
        report.rate_hz
    )?;
    writeln!(
        out,
        "{:<42} {:>6} {:>6} {:>8} {:>6} {:>6} {:>8} {:>8}  result",
        "condition", "expect", "tones", "detected", "false", "split", "p50 ms", "p99 ms"
    )?;
    for c in &report.conditions {
        let expect = match c.expectation {
            evaluate::Expectation::Accept => "accept",
            evaluate::Expectation::Reject => "reject",
            evaluate::Expectation::Measure => "sweep",
        };
        writeln!(
            out,
            "{:<42} {:>6} {:>6} {:>8} {:>6} {:>6} {:>8} {:>8}  {}",
            c.name,
            expect,
            c.tones,
            c.detected,
            c.false_digits,
            c.split,
            ms(c.latency_p50_ms),
            ms(c.latency_p99_ms),
            if c.passed { "pass" } else { "FAIL" }
        )?;
    }
    writeln!(
        out,
        "latency over accept conditions without dropouts: p50 {} ms, p99 {} ms",
        ms(report.latency_p50_ms),
        ms(report.latency_p99_ms)
    )?;
    writeln!(
        out,
        "{}",
        if report.passed {
            "all conditions pass"
        } else {
            "SOME CONDITIONS FAIL"
        }
    )
}
