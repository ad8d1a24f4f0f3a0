//! `tonegate evaluate`: the compliance suite's report.

use std::io::{self, Write};
use std::process::ExitCode;

use tonegate::SampleRate;
use tonegate::dsp::dtmf;
use tonegate::evaluate::{self, Report};

use super::{EvaluateArgs, ReportFormat};

/// Runs the suite; exit code 0 when every condition passes, 1 otherwise.
pub fn run(args: &EvaluateArgs) -> anyhow::Result<ExitCode> {
    let rate = SampleRate::new(args.rate)?;
    let report = evaluate::run(rate, &dtmf::Config::default())?;
    let mut out = io::stdout().lock();
    match args.format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        ReportFormat::Text => write_table(&mut out, &report)?,
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn write_table(out: &mut impl Write, report: &Report) -> io::Result<()> {
    let ms = |value: Option<f64>| value.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    writeln!(out, "DTMF receiver compliance at {} Hz", report.rate_hz)?;
    writeln!(
        out,
        "{:<42} {:>6} {:>6} {:>8} {:>6} {:>6} {:>8} {:>8}  result",
        "condition", "expect", "tones", "detected", "false", "split", "p50 ms", "p99 ms"
    )?;
    for c in &report.conditions {
        let expect = match c.expectation {
            evaluate::Expectation::Accept => "accept",
            evaluate::Expectation::Reject => "reject",
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
