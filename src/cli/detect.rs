//! `tonegate detect`: digits in files, printed as they end.

use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use tonegate::SampleRate;
use tonegate::dsp::dtmf::{self, Event};
use tonegate::receiver::Receiver;

use super::input::Input;
use super::output::{DigitRow, DigitWriter, tenth};
use super::{ChannelSelection, DetectArgs, DetectFormat};

/// Frames read per step: a multiple of the 160 samples (five 4 ms blocks) the detector
/// analyses in one batch, so 8 kHz input never falls back to block-by-block work.
const CHUNK_FRAMES: usize = 4_000;
/// Files shorter than this many frames get no progress bar.
const PROGRESS_MIN_FRAMES: u64 = 8_000 * 120;

/// Why processing stopped early.
enum Stop {
    /// Standard output is gone (e.g. piped into `head`): stop quietly.
    OutputClosed,
    /// The input failed; the message names the reason.
    Input(anyhow::Error),
}

/// Runs `detect` over every file; a failing file is reported and the rest still run.
pub(super) fn run(args: &DetectArgs) -> anyhow::Result<ExitCode> {
    let raw = match (args.raw, args.rate, args.encoding) {
        (true, Some(rate), Some(encoding)) => Some((SampleRate::new(rate)?, encoding)),
        (true, _, _) => bail!("--raw needs --rate and --encoding"),
        (false, _, _) => None,
    };
    // Rows go out as they come where someone may be waiting for them (a terminal, or
    // audio streaming in on standard input); into a file or pipe they go in batches,
    // one write per 64 KiB rather than one per digit.
    if args.plot.is_some() && args.files.len() > 1 {
        bail!("--plot draws one input file");
    }
    if let Some(path) = &args.plot {
        tonegate_plot::Format::from_path(path)?;
    }
    let live = io::stdout().is_terminal() || args.files.iter().any(|f| f.as_os_str() == "-");
    let stdout = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let mut writer = DigitWriter::new(stdout, args.format, live);
    let mut failed = false;
    for path in &args.files {
        let name = path.display().to_string();
        match detect_file(path, &name, raw, args, &mut writer) {
            Ok(()) => {}
            Err(Stop::OutputClosed) => return Ok(ExitCode::SUCCESS),
            Err(Stop::Input(error)) => {
                eprintln!("tonegate: {name}: {}", super::error_line(&error));
                failed = true;
            }
        }
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn detect_file<W: Write>(
    path: &Path,
    name: &str,
    raw: Option<(SampleRate, tonegate::codec::Encoding)>,
    args: &DetectArgs,
    writer: &mut DigitWriter<W>,
) -> Result<(), Stop> {
    let mut input = Input::open(path, raw).map_err(Stop::Input)?;
    let channels = input.channels();
    let selected: Vec<u16> = match args.channel {
        ChannelSelection::All => (0..channels).collect(),
        ChannelSelection::One(channel) if channel < channels => vec![channel],
        ChannelSelection::One(channel) => {
            return Err(Stop::Input(anyhow::anyhow!(
                "has no channel {channel} (it has {channels})"
            )));
        }
    };
    let rate = input.rate();
    let mut receivers = Vec::with_capacity(selected.len());
    for _ in &selected {
        let receiver = Receiver::new(rate, dtmf::Config::for_profile(args.profile))
            .map_err(|e| Stop::Input(e.into()))?;
        receivers.push(receiver);
    }
    let mut plot = args
        .plot
        .as_ref()
        .map(|path| (path, tonegate_plot::Recorder::new(rate), Vec::new()));
    let progress = progress_bar(&input, args.format);
    let mut frames = vec![0.0f32; CHUNK_FRAMES * usize::from(channels)];
    let mut channel_samples = vec![0.0f32; CHUNK_FRAMES];
    let mut output = Ok(());
    let mut found = 0usize;
    let mut emit = |channel: u16, event: Event, output: &mut io::Result<()>| {
        if let Event::Released { keypress, end } = event
            && output.is_ok()
        {
            found += 1;
            let ms = |samples: f64| tenth(rate.samples_to_ms(samples));
            *output = writer.write(&DigitRow {
                file: name,
                channel,
                digit: keypress.digit.as_char(),
                start_ms: ms(keypress.start),
                end_ms: ms(end),
                detected_ms: ms(keypress.detected as f64),
                level_dbm0: tenth(f64::from(keypress.level_dbm0())),
            });
        }
    };
    let read_result = loop {
        let read = match input.read_frames(&mut frames) {
            Ok(0) => break Ok(()),
            Ok(read) => read,
            Err(error) => break Err(error),
        };
        for (index, (receiver, &channel)) in receivers.iter_mut().zip(&selected).enumerate() {
            let samples = if channels == 1 {
                &frames[..read]
            } else {
                let samples = &mut channel_samples[..read];
                let interleaved = frames.chunks_exact(usize::from(channels));
                for (sample, frame) in samples.iter_mut().zip(interleaved) {
                    *sample = frame[usize::from(channel)];
                }
                samples
            };
            match &mut plot {
                Some((_, recorder, blocks)) if index == 0 => {
                    recorder
                        .add_samples(samples)
                        .map_err(|e| Stop::Input(e.into()))?;
                    receiver.process_observed(
                        samples,
                        &mut |event| {
                            recorder.add_event(event);
                            emit(channel, event, &mut output)
                        },
                        &mut |block| blocks.push(*block),
                    );
                    for block in blocks.drain(..) {
                        recorder.add_block(&block);
                    }
                }
                _ => receiver.process(samples, &mut |event| emit(channel, event, &mut output)),
            }
        }
        if let Some(bar) = &progress {
            bar.inc(read as u64);
        }
        if output.is_err() {
            break Ok(());
        }
    };
    // A cut or damaged input still yields the digits found before the damage.
    for (index, (receiver, &channel)) in receivers.iter_mut().zip(&selected).enumerate() {
        receiver.flush(&mut |event| {
            if let Some((_, recorder, _)) = plot.as_mut().filter(|_| index == 0) {
                recorder.add_event(event);
            }
            emit(channel, event, &mut output)
        });
    }
    if let Some((path, recorder, _)) = plot {
        let title = format!("{name}, channel {}", selected[0]);
        super::plot::write(&recorder.finish(), &title, path).map_err(Stop::Input)?;
    }
    if output.is_ok() {
        output = writer.flush();
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if found == 0 && output.is_ok() && read_result.is_ok() {
        output = writer.write_none(name);
    }
    match output {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => return Err(Stop::OutputClosed),
        Err(error) => {
            return Err(Stop::Input(
                anyhow::Error::new(error).context("cannot write output"),
            ));
        }
        Ok(()) => {}
    }
    read_result.map_err(Stop::Input)
}

/// A progress bar on stderr for long inputs, only for people watching a terminal.
fn progress_bar(input: &Input, format: DetectFormat) -> Option<ProgressBar> {
    let frames = input.len_frames()?;
    if format != DetectFormat::Text || frames < PROGRESS_MIN_FRAMES || !io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(frames);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {percent:>3}% {eta} left")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Some(bar)
}
