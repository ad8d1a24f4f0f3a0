//! `tonegate replay`: plays a call into a server (tonegate or another) as ACS, Twilio or
//! raw would, from WAV files or generated digits, and reports which digits came back and
//! how fast. With `--calls N` it is a load generator: the audio is encoded once and its
//! frames are shared by every call; each call is one tokio task.
//!
//! - [`args`]: the flags;
//! - [`script`]: the audio and the digits in it;
//! - [`wire`] with [`acs`], [`twilio`], [`raw`]: each dialect's frames and upgrade;
//! - [`call`]: one call's connection, pacing and events ([`events`]);
//! - [`latency`]: matching digits, percentiles; [`summary`]: the report.

mod acs;
pub(super) mod args;
mod call;
mod clock;
mod events;
mod latency;
mod raw;
mod script;
mod summary;
mod tls;
mod twilio;
mod wire;

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use base64::Engine;
use tonegate::auth::call_token::{self, Scope};

use args::{Args, EventSource, SummaryFormat};
use call::{Events, Report, Shared, SseSource};
use events::{Inbox, Sse};
use script::Script;
use summary::Summary;
use wire::{Call, Wire};

/// Failing calls named on stderr; the rest are counted.
const NAMED_FAILURES: usize = 5;
/// How long minted tokens are valid.
const TOKEN_TTL: Duration = Duration::from_secs(3_600);

/// Runs the calls and prints the report.
pub(super) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    ensure!(
        args.speed.is_finite() && args.speed > 0.0 && args.speed <= 1_000.0,
        "--speed must be above 0 and at most 1000"
    );
    let format = script::wire_format(args)?;
    let script = Arc::new(Script::build(args, format)?);
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| format!("ws://127.0.0.1:8080/media/{}", args.dialect.as_str()));
    let tls = url.starts_with("wss://");
    ensure!(
        tls || url.starts_with("ws://"),
        "--url must start with ws:// or wss://, got {url}"
    );
    let extra_roots = match &args.ca_cert {
        Some(path) => tls::read_ca(path)?,
        None => Vec::new(),
    };
    let sse_source = || -> anyhow::Result<SseSource> {
        Ok(SseSource {
            client: tls::http_client(&extra_roots)?,
            base: events_base(args.events_url.as_deref(), &url)?,
        })
    };
    // `--events all`: the calls' inbox, and the stream one task reads into it.
    let mut all_calls = None;
    let events = match (args.events, args.dialect) {
        (EventSource::Sse, _) | (EventSource::Auto, args::Dialect::Acs | args::Dialect::Twilio) => {
            Events::PerCall(sse_source()?)
        }
        (EventSource::All, _) => {
            let inbox = Arc::new(Inbox::default());
            all_calls = Some((sse_source()?, inbox.clone()));
            Events::Shared(inbox)
        }
        (EventSource::None, _) => Events::Ignored,
        (EventSource::Auto | EventSource::Inband, _) => Events::InBand,
    };
    let key = access_key(args.access_key.as_deref())?;
    let summary_format = args.summary_format();
    let shared = Arc::new(Shared {
        wire: Wire::new(
            args.dialect,
            url,
            args.twilio_auth_token.clone(),
            script.clone(),
        ),
        script,
        connector: if tls {
            Some(tls::connector(&extra_roots)?)
        } else {
            None
        },
        events,
        speed: (!args.no_pace).then_some(args.speed),
        wait: Duration::from_millis(args.wait_ms),
        print_events: args.calls == 1 && summary_format == SummaryFormat::Text,
        epoch: clock::now(),
    });
    let base_id = args
        .call_id
        .clone()
        .unwrap_or_else(|| format!("replay-{}", std::process::id()));
    let calls: Vec<Call> = (1..=args.calls)
        .map(|n| {
            let phase = script::FRAME * (n - 1) / args.calls;
            let id = if args.calls == 1 {
                base_id.clone()
            } else {
                format!("{base_id}-{n}")
            };
            let minted = |scope| key.as_ref().map(|key| mint(key, scope, &id)).transpose();
            Ok(Call {
                token: match &args.token {
                    Some(token) => Some(token.clone()),
                    None => minted(Scope::Stream)?,
                },
                events_token: match (&args.events_token, &args.token) {
                    (Some(t), _) => Some(t.clone()),
                    (None, _) if key.is_some() => minted(Scope::Events)?,
                    (None, token) => token.clone(),
                },
                id,
                phase,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    // Each call holds a socket (and an event stream): raise the open-file limit to the
    // hard limit, as the server does, so thousands of calls fit.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let ramp = Duration::from_millis(args.ramp_ms);
    let events_token = args.events_token.as_deref().or(args.token.as_deref());
    let reports = runtime.block_on(async {
        // The all-calls stream opens before the first call, so it sees every event.
        let reader = match all_calls {
            Some((source, inbox)) => {
                let sse = Sse::open(&source.client, &source.base, None, events_token).await?;
                Some(tokio::spawn(async move { inbox.fill(sse).await }))
            }
            None => None,
        };
        let reports = run_calls(calls, shared, ramp).await;
        if let Some(reader) = reader {
            if reader.is_finished() {
                eprintln!("tonegate: the event stream ended before the calls did");
            }
            reader.abort();
            if let Ok(Err(e)) = reader.await {
                eprintln!(
                    "tonegate: the event stream failed: {}",
                    crate::cli::error_line(&e)
                );
            }
        }
        anyhow::Ok(reports)
    })?;
    report_failures(&reports);
    let summary = Summary::new(reports.into_iter().map(|(_, r)| r).collect());
    let mut out = io::stdout().lock();
    let written = match summary_format {
        SummaryFormat::Json => summary.write_json(&mut out),
        SummaryFormat::Text => summary.write_text(&mut out, args.calls == 1),
    };
    match written.and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        other => other.context("cannot write the report")?,
    }
    Ok(if !summary.all_ran() {
        ExitCode::from(2)
    } else if !summary.exact() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs every call, one task each, their starts spread over `ramp`.
async fn run_calls(calls: Vec<Call>, shared: Arc<Shared>, ramp: Duration) -> Vec<(String, Report)> {
    let count = calls.len() as u32;
    let start = clock::now();
    let tasks: Vec<_> = calls
        .into_iter()
        .enumerate()
        .map(|(i, call)| {
            let shared = shared.clone();
            let at = start + ramp.mul_f64(i as f64 / f64::from(count.max(1)));
            tokio::spawn(async move {
                tokio::time::sleep_until(at).await;
                let id = call.id.clone();
                (id, call::run(call, shared).await)
            })
        })
        .collect();
    let mut reports = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(report) => reports.push(report),
            Err(e) => eprintln!("tonegate: a call's task failed: {e}"),
        }
    }
    reports
}

/// Names the first failing calls on stderr and counts the rest.
fn report_failures(reports: &[(String, Report)]) {
    let failed: Vec<_> = reports
        .iter()
        .filter_map(|(id, r)| r.failure.as_ref().map(|f| (id, f)))
        .collect();
    for (id, failure) in failed.iter().take(NAMED_FAILURES) {
        let message = match failure {
            call::Failure::Connect(m) | call::Failure::Busy(m) | call::Failure::Stream(m) => m,
        };
        eprintln!("tonegate: call {id}: {message}");
    }
    if failed.len() > NAMED_FAILURES {
        eprintln!(
            "tonegate: {} more calls failed",
            failed.len() - NAMED_FAILURES
        );
    }
}

/// `http(s)://host:port` of the event streams: `--events-url`, else the socket URL's
/// origin.
fn events_base(given: Option<&str>, socket_url: &str) -> anyhow::Result<String> {
    if let Some(base) = given {
        ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "--events-url must start with http:// or https://, got {base}"
        );
        return Ok(base.to_owned());
    }
    let url = reqwest::Url::parse(socket_url).with_context(|| format!("bad --url {socket_url}"))?;
    let scheme = if url.scheme() == "wss" {
        "https"
    } else {
        "http"
    };
    let Some(host) = url.host_str() else {
        bail!("--url {socket_url} has no host");
    };
    Ok(match url.port() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

/// The decoded `--access-key`.
fn access_key(text: Option<&str>) -> anyhow::Result<Option<Vec<u8>>> {
    text.map(|t| {
        base64::engine::general_purpose::STANDARD
            .decode(t.trim())
            .context("--access-key (TONEGATE_ACCESS_KEY) is not base64")
    })
    .transpose()
}

/// A call token for `call_id`, valid for [`TOKEN_TTL`].
fn mint(key: &[u8], scope: Scope, call_id: &str) -> anyhow::Result<String> {
    let expires = (clock::wall_now() + TOKEN_TTL)
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    Ok(call_token::mint(key, scope, call_id, expires))
}
