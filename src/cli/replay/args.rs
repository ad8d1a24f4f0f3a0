//! The flags of `tonegate replay`.

use std::path::PathBuf;

use clap::ValueEnum;
use tonegate::codec::Encoding;

/// Which platform `replay` plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Dialect {
    /// Azure Communication Services media streaming: JSON `AudioMetadata`/`AudioData`,
    /// 16-bit PCM at 16 kHz (or --rate 24000), call id in `x-ms-call-connection-id`.
    Acs,
    /// Twilio Media Streams: JSON `connected`/`start`/`media`/`stop`, mu-law at 8 kHz.
    Twilio,
    /// tonegate's raw dialect: a JSON `start`, then binary audio.
    Raw,
}

impl Dialect {
    /// Lower-case name, as in tonegate's socket paths (`/media/{name}`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Dialect::Acs => "acs",
            Dialect::Twilio => "twilio",
            Dialect::Raw => "raw",
        }
    }
}

/// Where `replay` reads the events of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EventSource {
    /// `inband` for raw, `sse` for acs and twilio (tonegate sends no events on those
    /// sockets).
    Auto,
    /// On the audio socket, as the dialect gives them (raw events, ACS `DtmfData`,
    /// Twilio `dtmf`).
    Inband,
    /// Server-sent events from `GET /v1/calls/{id}/events`, one stream per call.
    Sse,
    /// One server-sent event stream of every call, `GET /v1/events`, read by one task
    /// (a load run: the server keeps one subscriber, not one per call).
    All,
    /// No events are read and no digit is checked (a server that reports none, such as
    /// a bare-transport baseline).
    None,
}

/// How `replay` prints its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SummaryFormat {
    /// Events as they arrive (one call), each digit's latency, then a summary.
    Text,
    /// One JSON document: the summary and every digit.
    Json,
}

/// Flags of `tonegate replay`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Latency is measured per digit from the moment the audio frame holding the digit's \
tone onset was written to the socket to the moment its `dtmf` event arrived. Digits of \
WAV files are found with tonegate's own detector before the call starts.

Exit status: 0 when every call ran and every digit was found once; 1 when digits were \
missed or extra ones reported; 2 when a call could not connect or stream, or on bad \
arguments.")]
pub(crate) struct Args {
    /// WAV files to stream, one after the other, in one call (any rate, width or
    /// encoding tonegate reads; channel 0 of multi-channel files).
    #[arg(required_unless_present = "digits", conflicts_with = "digits")]
    pub files: Vec<PathBuf>,
    /// Generate these digits instead of reading files (0-9, *, #, A-D; `,` pauses 500
    /// ms, as in a dial string).
    #[arg(long)]
    pub digits: Option<String>,
    /// The platform to play.
    #[arg(long, value_enum, default_value_t = Dialect::Raw)]
    pub dialect: Dialect,
    /// The audio WebSocket URL (`ws://` or `wss://`) [default:
    /// ws://127.0.0.1:8080/media/<dialect>].
    #[arg(long)]
    pub url: Option<String>,
    /// Where to read events (see the values).
    #[arg(long, value_enum, default_value_t = EventSource::Auto)]
    pub events: EventSource,
    /// Base URL of the event streams (`http(s)://host:port`) [default: the socket URL's
    /// host and port, https for wss].
    #[arg(long)]
    pub events_url: Option<String>,
    /// Calls to run at once, each its own connection. Their frame clocks are spread
    /// evenly over one 20 ms frame, so the server sees a steady stream, not bursts.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub calls: u32,
    /// Spread the calls' starts evenly over this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub ramp_ms: u64,
    /// Call id (ACS call connection id, Twilio callSid, raw callId); with --calls N,
    /// `-1` ... `-N` is appended [default: replay-<process id>].
    #[arg(long)]
    pub call_id: Option<String>,
    /// Play this many times real time.
    #[arg(long, default_value_t = 1.0, conflicts_with = "no_pace")]
    pub speed: f64,
    /// Send audio as fast as the connection takes it.
    #[arg(long)]
    pub no_pace: bool,
    /// Sample rate on the wire, Hz [default: raw: the file's rate, or 8000 for
    /// --digits; acs: 16000; twilio: 8000 (the only rate)].
    #[arg(long)]
    pub rate: Option<u32>,
    /// Encoding on the wire, raw only (acs is s16le, twilio ulaw).
    #[arg(long, value_parser = ["s16le", "ulaw", "alaw"], default_value = "s16le")]
    pub encoding: String,
    /// Silence before the audio, ms.
    #[arg(long, default_value_t = 300)]
    pub lead_ms: u64,
    /// Silence after the audio, ms (lets the detector see the last digit end).
    #[arg(long, default_value_t = 300)]
    pub tail_ms: u64,
    /// --digits: tone duration per digit, ms.
    #[arg(long, default_value_t = 70)]
    pub on_ms: u64,
    /// --digits: silence after each digit, ms.
    #[arg(long, default_value_t = 70)]
    pub off_ms: u64,
    /// --digits: level of each of the two tones, dBm0.
    #[arg(long, default_value_t = -10.0, allow_negative_numbers = true)]
    pub level_dbm0: f32,
    /// Add white noise of this level (dBm0, over 0-4 kHz) under the whole call.
    #[arg(long, allow_negative_numbers = true)]
    pub noise_dbm0: Option<f32>,
    /// How long to wait for the last events after the audio ends, ms.
    #[arg(long, default_value_t = 3_000)]
    pub wait_ms: u64,
    /// Bearer token of the audio socket (ACS and raw: the `stream_auth` token, a call
    /// token or a JWT) and, unless --events-token is given, of the event stream.
    #[arg(long, env = "TONEGATE_REPLAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Bearer token of the event streams (`event_token`, or a call token of scope
    /// `events`).
    #[arg(long, env = "TONEGATE_REPLAY_EVENTS_TOKEN", hide_env_values = true)]
    pub events_token: Option<String>,
    /// The server's access key (base64): mints each call's tokens (scope `stream` for
    /// the socket unless --token, `events` for SSE unless --events-token).
    #[arg(long, env = "TONEGATE_ACCESS_KEY", hide_env_values = true)]
    pub access_key: Option<String>,
    /// Twilio account auth token: signs each Twilio upgrade with `X-Twilio-Signature`.
    #[arg(long, env = "TONEGATE_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub twilio_auth_token: Option<String>,
    /// PEM file of CA certificates to trust for wss:// and https:// besides the system's
    /// (e.g. a private CA or a self-signed certificate).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
    /// Same as --format json.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// The wire encoding asked for (raw).
    pub(crate) fn raw_encoding(&self) -> Encoding {
        self.encoding.parse().unwrap_or(Encoding::S16le)
    }

    /// The summary format, `--json` included.
    pub(crate) fn summary_format(&self) -> SummaryFormat {
        if self.json {
            SummaryFormat::Json
        } else {
            self.format
        }
    }
}
