//! Server settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::stream_auth::Mode;
use tonegate_core::player::Prompt;
use tonegate_core::{budget, connection, session};
use tonegate_dsp::dsp::dtmf::{self, Profile};
use tonegate_dsp::dsp::tone::Cadence;

/// Everything the server can be told. Units are in the field names; every field has a
/// default (see [`Config::default`]), so an empty TOML file is a valid configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Most concurrent audio sockets; more are refused with HTTP 503 (and `Retry-After`).
    /// Default 500 per core the process may use (1000 on 2 cores): what the box carries
    /// at 16 kHz; load-based admission (`admission_*`) refuses earlier when it must.
    pub max_sessions: usize,
    /// Largest accepted WebSocket message, bytes; larger ones close the socket with
    /// 1009. Default 1 MiB.
    pub max_frame_bytes: usize,
    /// Sustained inbound frames per second per socket before it is closed as a flood
    /// (1008). Default 500 (10x real time at 20 ms frames).
    pub max_frames_per_second: u32,
    /// Frames a socket may send in a burst above the sustained rate. Default 3000 (a
    /// minute of 20 ms frames, so uploads faster than real time work).
    pub max_frame_burst: u32,
    /// Most outbound audio queued per call, ms. Default 600000 (10 min).
    pub max_queued_audio_ms: u64,
    /// Largest prompt file, bytes. Default 50 MiB.
    pub max_prompt_bytes: u64,
    /// A socket that sends nothing for this long is closed (1001), ms. Default 30000.
    pub idle_timeout_ms: u64,
    /// How long shutdown waits for sessions to flush and close, ms. Default 5000.
    pub shutdown_grace_ms: u64,
    /// How far ahead of real time outbound audio is sent, ms. Default 100.
    pub lead_ms: u64,
    /// How long a platform-reported digit waits for the same key in-band, ms. Default 250.
    pub platform_hold_ms: u64,
    /// How far apart a platform report and an in-band tone may be to count as one
    /// keypress, ms. Default 300.
    pub dedupe_window_ms: u64,
    /// Digits kept for the next recognize while none runs (tonegate's DTMF buffering);
    /// 0 restores strict Call Automation behaviour. Default 32.
    pub dtmf_buffer_digits: usize,
    /// WAV file a hold without `playSourceInfo` loops (any WAV tonegate reads; read once
    /// at start). Default none: silence.
    pub hold_music: Option<PathBuf>,
    /// How long each sent digit sounds (`sendDtmfTones`, a raw `sendDigits`), ms
    /// (40-1000). Default 70.
    pub send_dtmf_on_ms: u64,
    /// Silence after each sent digit, ms (40-1000). Default 70.
    pub send_dtmf_off_ms: u64,
    /// Level of each of a sent digit's two frequencies, dBm0 (-30 to 0). Default -10.
    pub send_dtmf_level_dbm0: f32,
    /// Directory prompt file names are resolved in; names may not leave it. Default `.`.
    pub prompt_dir: PathBuf,
    /// Events buffered per SSE subscriber; one further behind is cut off, told the id
    /// to resume from (a last `lagged` event). Default 1024.
    pub event_buffer: usize,
    /// PEM certificate chain (leaf first); with `tls_key`, the port serves only HTTPS and
    /// WSS. Default none (plain HTTP and WS).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the certificate. Default none.
    pub tls_key: Option<PathBuf>,
    /// Access key of the media-operation API (base64, as in an ACS connection string
    /// `endpoint=...;accesskey=<key>`). Requests are checked with HMAC-SHA256 against it
    /// and webhook bodies are signed with it. Unset: the API answers 401. Default none.
    pub access_key: Option<String>,
    /// Where events of operations without an `operationCallbackUri` go, unless the call
    /// gave its own (raw `start` frame field `callbackUri`). Default none (SSE only).
    pub callback_uri: Option<String>,
    /// Largest play source downloaded over http(s), bytes. Default 50 MiB.
    pub max_download_bytes: u64,
    /// Time allowed for one play-source download, ms. Default 30000.
    pub download_timeout_ms: u64,
    /// Downloaded play sources kept (by `playSourceCacheId`, else URI), bytes in total.
    /// Default 256 MiB.
    pub play_cache_bytes: u64,
    /// How long one event's webhook delivery is retried (exponential backoff from 250
    /// ms, at most 10 s apart) before it is dropped, ms. Default 60000.
    pub webhook_retry_ms: u64,
    /// Time allowed for one webhook POST, ms. Default 10000.
    pub webhook_timeout_ms: u64,
    /// Events queued for webhook delivery per call before new ones are dropped.
    /// Default 1024.
    pub webhook_queue: usize,
    /// PEM file of extra CA certificates (one or more) trusted, beside the system's, for
    /// outgoing HTTPS: webhook POSTs and play-source downloads. Default none.
    pub http_ca_certs: Option<PathBuf>,
    /// A TLS handshake not finished within this long is dropped, ms. Default 10000.
    pub tls_handshake_timeout_ms: u64,
    /// Most TLS handshakes worked on at once. A connection takes a turn only once its
    /// client has sent its first bytes (silent ones take none), and waits for one within
    /// `tls_handshake_timeout_ms`; accepting never waits. Default 256.
    pub max_tls_handshakes: usize,
    /// How audio sockets authenticate their upgrade: `none`, `jwt` (`Authorization:
    /// Bearer <JWT>` as ACS sends it, RS256 checked against `stream_auth_jwks`) or
    /// `token` (`Authorization: Bearer <stream_auth_token>`). Refused upgrades get 401.
    /// Default `none`.
    pub stream_auth: Mode,
    /// `jwt`: the JWKS document of the signing keys, an `http://` or `https://` URL or a
    /// file path. Required in `jwt` mode. Default none.
    pub stream_auth_jwks: Option<String>,
    /// `jwt`: the required `iss` claim. Default
    /// `https://acscallautomation.communication.azure.com`.
    pub stream_auth_issuer: String,
    /// `jwt`: the required `aud` claim, the ACS resource's immutable ID. Required in `jwt`
    /// mode. Default none.
    pub stream_auth_audience: Option<String>,
    /// `jwt`: how long fetched keys are used before the next upgrade fetches the JWKS
    /// again, ms. Default 3600000 (1 h).
    pub stream_auth_jwks_refresh_ms: u64,
    /// `jwt`: least time between two JWKS fetches (a token with an unknown `kid`, or a
    /// failed fetch, triggers one no sooner), ms. Default 10000.
    pub stream_auth_jwks_min_interval_ms: u64,
    /// `jwt`: time allowed for one JWKS fetch, ms. Default 5000.
    pub stream_auth_jwks_timeout_ms: u64,
    /// `token`: the static bearer token audio clients must send. Required in `token`
    /// mode. Default none.
    pub stream_auth_token: Option<String>,
    /// The Twilio account's auth token. When set, upgrades to `/media/twilio` must carry
    /// a valid `X-Twilio-Signature` (base64 HMAC-SHA1 of the URL Twilio was given; see
    /// `public_url`) instead of passing `stream_auth`, and an upgrade to any other audio
    /// path that carries that header must verify too. Refused upgrades get 401. Default
    /// none: signatures are not checked.
    pub twilio_auth_token: Option<String>,
    /// The base URL clients reach tonegate at, `ws://` or `wss://` with host, optional
    /// port and optional path prefix (e.g. `wss://ivr.example.com` behind a
    /// TLS-terminating proxy). The URL Twilio signed is this, then the request's path
    /// and query. Default none: `wss://` (if tonegate serves TLS) or `ws://`, then the
    /// request's `Host` header.
    pub public_url: Option<String>,
    /// A connection that has not sent a whole request head within this long of opening
    /// (after its TLS handshake), or of its previous response when kept alive, is closed,
    /// ms. Default 10000.
    pub header_read_timeout_ms: u64,
    /// Most open connections (HTTP, SSE, audio sockets and TLS handshakes together);
    /// connections over it are closed as soon as they are accepted. Lowered at start to
    /// stay well below the process's open-file limit (which is first raised to its hard
    /// limit where allowed). Default 4096.
    pub max_connections: usize,
    /// Most connections from one peer (an IPv4 address or an IPv6 /64) that have not yet
    /// finished their TLS handshake and first request head; more from that peer are
    /// closed as soon as they are accepted. Default 64.
    pub max_pending_connections_per_ip: usize,
    /// Sustained inbound audio per socket, in multiples of real time for each participant
    /// heard (ACS unmixed audio carries up to four); a socket over it is closed (1008).
    /// Default 4.
    pub max_audio_speed: u32,
    /// Audio a socket may send above the sustained rate at once, ms of stream time.
    /// Default 60000 (a minute, so uploads faster than real time work).
    pub max_audio_burst_ms: u64,
    /// Largest request head (request line and headers) read, bytes, at least 8192;
    /// larger ones are answered 431. Default 32768.
    pub max_request_head_bytes: usize,
    /// Where callback URIs named by audio sockets (URL query `callbackUri`, raw `start`
    /// field, Twilio custom parameter) may point; only authenticated sockets may name
    /// one. Entries: a host (`app.example.com`, `10.0.0.5`, `[::1]`), `*.domain` (its
    /// subdomains), `*` (any host), or a URL prefix (`https://app.example.com/events/`).
    /// Non-public addresses (loopback, private, link-local, ...) must be listed exactly,
    /// as a host or a prefix's host. Default empty: the host of `callback_uri` (none if
    /// that is unset).
    pub callback_allow: Vec<String>,
    /// Most webhook bytes (serialized events) queued for delivery across all calls;
    /// beyond it new events are dropped (logged, counted). Default 64 MiB.
    pub webhook_queue_bytes: u64,
    /// Write digits, tones, `operationContext` and raw client ids into the log. They are
    /// a caller's secrets (card numbers, PINs): leave this off in production. Default
    /// `false`: log lines name the call and the event, never the digits.
    pub log_digits: bool,
    /// Log line format on stderr: `text` (human-readable) or `json` (one JSON object per
    /// line). Default `text`.
    pub log_format: LogFormat,
    /// Let prompt file names resolve through symbolic links inside `prompt_dir` (still
    /// never to a file outside it). Default `false`: a name with a symlink anywhere on
    /// its path is not played.
    pub prompt_follow_symlinks: bool,
    /// Longest prompt, ms of audio: checked from the WAV header before a file, download
    /// or hold music is decoded or converted to the call's rate. Default 600000 (10 min).
    pub max_prompt_ms: u64,
    /// Bearer token that reads every call's event stream (`GET /v1/events` and
    /// `/v1/calls/{id}/events`), sent as `Authorization: Bearer <token>` or as the
    /// `access_token` query parameter. Once this or `access_key` is set, the event
    /// streams need credentials (also on loopback). Default none.
    pub event_token: Option<String>,
    /// Most bytes of events buffered for one SSE subscriber that does not read; beyond
    /// it the subscriber is cut off, told the id to resume from. Default 1 MiB.
    pub event_subscriber_bytes: usize,
    /// Most SSE subscribers at once; more are refused with 503. Default 64.
    pub max_event_subscribers: usize,
    /// Signatures of signed requests remembered (each for the 5 min its date is valid) to
    /// refuse replays; while this many are still valid, new signed requests are refused
    /// with 503. Default 100000.
    pub replay_cache_entries: usize,
    /// Start on a non-loopback listen address without audio socket or event stream
    /// authentication (logged as a warning at start). Default false: such a server
    /// refuses to start.
    pub insecure_allow_unauthenticated: bool,
    /// Detector settings for every call: `default` (tuned for real calls: twist to +10 /
    /// -12 dB, zero false digits on the talk-off corpus), `strict` (closer to ITU-T
    /// Q.24's limits) or `noisy` (catches tones near 0 dB S/N, at some risk of false
    /// digits from speech and music). Default `default`.
    pub detector_profile: Profile,
    /// Refuse new audio sockets (HTTP 503, `Retry-After`) while the event loop runs this
    /// late: the 90th percentile, over the last second, of how late a probe task woke
    /// every 10 ms; ms, 0 turns the check off. Default 20 (one frame's time).
    pub admission_max_lag_ms: u64,
    /// Refuse new audio sockets while the process used this share of the cores it may
    /// use over the last second; percent, 0 turns the check off (as on platforms without
    /// `/proc`). Default 90.
    pub admission_max_cpu_percent: u32,
    /// How long an idle runtime worker lingers before it sleeps until a socket is ready,
    /// µs: the frames that arrive meanwhile are served in one wake-up rather than one
    /// each (3 to 6 % less CPU at 1,000 calls). Anything arriving while every worker
    /// lingers waits up to this long. At most 20000 (one frame); 0 turns it off, for the
    /// lowest latency on a lightly loaded box. Default 2000.
    pub wake_coalesce_us: u64,
    /// Most events the event log keeps for SSE streams to resume from (`Last-Event-ID`);
    /// a client resuming from an older id is told how many it missed. Default 10000.
    pub event_log_max_events: usize,
    /// Most bytes of events (JSON) the event log keeps for resuming. Default 16 MiB.
    pub event_log_max_bytes: usize,
    /// Directory of the durable event log and webhook outbox (`tonegate.redb`, created if
    /// missing): events and unsettled webhook deliveries survive a restart or a crash,
    /// and SSE ids go on where they stopped. Default none: both only in memory.
    pub state_dir: Option<PathBuf>,
    /// Text-to-speech engine of `TextSource` / `SsmlSource` play sources and raw `play`
    /// requests with `text` or `ssml`: `espeak` (espeak-ng, run as a separate program),
    /// `http` (an OpenAI-compatible speech service at `tts_http_url`) or `off` (such
    /// plays fail with 400/8565). Default `espeak`.
    pub tts_engine: TtsEngine,
    /// `espeak`: the espeak-ng program, a name looked up on `PATH` or a path. A missing
    /// program fails each speech play (400/8565), not the start. Default `espeak-ng`.
    pub tts_espeak_program: PathBuf,
    /// Voice when a request names none (nor a locale tonegate maps): an espeak-ng voice
    /// (`en-us` if unset) or the HTTP service's (`alloy` if unset). Default none.
    pub tts_voice: Option<String>,
    /// Longest wait for a synthesis slot, and longest synthesis, ms (400/8565 after
    /// that: 429 busy, 408 timed out). Default 10000.
    pub tts_timeout_ms: u64,
    /// Most syntheses at once (espeak-ng processes or HTTP requests). Default 4.
    pub tts_max_concurrent: usize,
    /// Largest synthesised WAV read from the engine, bytes. Default 16 MiB (about six
    /// minutes of espeak-ng's 22.05 kHz audio).
    pub tts_max_output_bytes: u64,
    /// Synthesised WAVs kept (by engine, voice and text), bytes in total; the oldest
    /// go first. Default 64 MiB.
    pub tts_cache_bytes: u64,
    /// `http`: the speech service's base URL; requests go to
    /// `{tts_http_url}/v1/audio/speech`. Required with `tts_engine = "http"`. Default
    /// none.
    pub tts_http_url: Option<String>,
    /// `http`: sent as `Authorization: Bearer <key>`. Default none.
    pub tts_http_api_key: Option<String>,
    /// `http`: the `model` of each request. Default `tts-1`.
    pub tts_http_model: String,
    /// `http`: voices a request's `voiceName` may choose; others speak `tts_voice`.
    /// Default empty.
    pub tts_http_voices: Vec<String>,
    /// Speech recogniser for `choices`, `speech` and `speechOrDtmf` recognizes:
    /// `pocketsphinx` (its program, run once per utterance, with the US English model)
    /// or `off`. Where the program or model is missing, speech recognizes are refused
    /// with 400 naming what is missing. Default `pocketsphinx`.
    pub speech_recognizer: SpeechRecognizer,
    /// The pocketsphinx program (5prealpha's `pocketsphinx_continuous`), a path or a
    /// name looked up in `PATH`. Default `pocketsphinx_continuous`.
    pub pocketsphinx_program: PathBuf,
    /// The pocketsphinx US English model: a directory holding `en-us/` (acoustic model),
    /// `en-us.lm.bin` and `cmudict-en-us.dict`. Default
    /// `/usr/share/pocketsphinx/model/en-us` (Debian's `pocketsphinx-en-us`).
    pub pocketsphinx_model_dir: PathBuf,
    /// Most utterances recognised at once, each on a worker thread (a recognition keeps
    /// a core busy while it runs); an utterance that finds none free fails its
    /// recognize with 503/8583. Default 2.
    pub max_recognitions: usize,
    /// Serve the live monitor: the page at `/monitor` and its data at `/v1/monitor/...`
    /// (with the event streams' credentials). Default true.
    pub monitor: bool,
    /// Feature messages (one per inbound socket message, about 20 ms of audio) queued
    /// for one monitor watcher; one further behind loses the oldest and is told so
    /// (event `lagged`). Default 100 (2 s).
    pub monitor_buffer_frames: usize,
    /// Most monitor feature streams open at once; more are refused with 503. Default 16.
    pub max_monitor_watchers: usize,
    /// NATS server of cluster mode (`nats://host:4222`; several comma-separated; user and
    /// password may be given in the URL). Set, this node joins the cluster of every node
    /// with the same NATS and `cluster_prefix`, and answers the API for any of their calls
    /// (docs/cluster.md); needs a build with the `cluster` feature. Default none: one
    /// node, no broker.
    pub cluster_nats_url: Option<String>,
    /// This node's id in the cluster, 1-64 characters of `A-Z a-z 0-9 -`, unique among
    /// live nodes. Default none: `<host name>-<process id>-<4 hex digits>`.
    pub cluster_node_id: Option<String>,
    /// Prefix of the cluster's NATS subjects and key-value buckets, 1-32 characters of
    /// `A-Z a-z 0-9 -`: several clusters can share one NATS. Default `tonegate`.
    pub cluster_prefix: String,
    /// How long a request forwarded to a call's owner, or a key-value operation, may
    /// take, ms. Default 2000.
    pub cluster_request_timeout_ms: u64,
    /// How often a node renews its liveness key, ms. Default 2000.
    pub cluster_heartbeat_ms: u64,
    /// How long a node's liveness key lasts unrenewed, ms (at least twice
    /// `cluster_heartbeat_ms`): after this a node counts as dead, and a node that could
    /// not renew for this less one heartbeat fences itself. Default 10000.
    pub cluster_node_ttl_ms: u64,
    /// Copies JetStream keeps of the cluster's buckets (1-5): 3 on a three-server NATS
    /// cluster. Default 1.
    pub cluster_replicas: usize,
    /// WebSocket URL (`ws://` or `wss://`) live transcripts are sent to: each
    /// `startTranscription` opens its own connection here and sends the
    /// `TranscriptionMetadata` and `TranscriptionData` frames. An operator setting only:
    /// no request or socket can name another. Default none (`startTranscription`
    /// answers 400).
    pub transcription_url: Option<String>,
    /// How long the cluster's event stream keeps an event, ms (at least 1000): how far
    /// back a client resumes on any node. Default 900000 (15 minutes).
    pub cluster_event_retention_ms: u64,
    /// Most bytes the cluster's event stream keeps; the oldest events go first. Default
    /// 1073741824 (1 GiB).
    pub cluster_event_max_bytes: u64,
    /// Most bytes of this node's events waiting to be stored in the cluster's event
    /// stream (while NATS is away); an event beyond is dropped, logged and counted in
    /// `tonegate_cluster_events_dropped_total`. Default 67108864 (64 MiB).
    pub cluster_event_outbox_bytes: usize,
}

/// Which engine speaks text and SSML ([`Config::tts_engine`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TtsEngine {
    /// espeak-ng, run as a separate program ([`Config::tts_espeak_program`]).
    #[default]
    Espeak,
    /// An OpenAI-compatible speech service at [`Config::tts_http_url`].
    Http,
    /// None: text and SSML plays fail with PlayFailed 400/8565.
    Off,
}

/// Which speech recogniser runs ([`Config::speech_recognizer`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpeechRecognizer {
    /// pocketsphinx, run as a separate program.
    #[default]
    Pocketsphinx,
    /// None: speech recognizes are refused.
    Off,
}

/// How log lines are written ([`Config::log_format`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `2026-01-01T00:00:00Z  INFO tonegate_server: stream started call_id=...`.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`).
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_sessions: super::admission::default_max_sessions(),
            max_frame_bytes: 1 << 20,
            max_frames_per_second: 500,
            max_frame_burst: 3_000,
            max_queued_audio_ms: 600_000,
            max_prompt_bytes: 50 << 20,
            idle_timeout_ms: 30_000,
            shutdown_grace_ms: 5_000,
            lead_ms: 100,
            platform_hold_ms: 250,
            dedupe_window_ms: 300,
            dtmf_buffer_digits: 32,
            hold_music: None,
            send_dtmf_on_ms: 70,
            send_dtmf_off_ms: 70,
            send_dtmf_level_dbm0: -10.0,
            prompt_dir: PathBuf::from("."),
            event_buffer: 1_024,
            tls_cert: None,
            tls_key: None,
            access_key: None,
            callback_uri: None,
            max_download_bytes: 50 << 20,
            download_timeout_ms: 30_000,
            play_cache_bytes: 256 << 20,
            webhook_retry_ms: 60_000,
            webhook_timeout_ms: 10_000,
            webhook_queue: 1_024,
            http_ca_certs: None,
            tls_handshake_timeout_ms: 10_000,
            max_tls_handshakes: 256,
            stream_auth: Mode::None,
            stream_auth_jwks: None,
            stream_auth_issuer: tonegate_core::auth::jwt::ACS_ISSUER.to_owned(),
            stream_auth_audience: None,
            stream_auth_jwks_refresh_ms: 3_600_000,
            stream_auth_jwks_min_interval_ms: 10_000,
            stream_auth_jwks_timeout_ms: 5_000,
            stream_auth_token: None,
            twilio_auth_token: None,
            public_url: None,
            header_read_timeout_ms: 10_000,
            max_connections: 4_096,
            max_pending_connections_per_ip: 64,
            max_audio_speed: 4,
            max_audio_burst_ms: 60_000,
            max_request_head_bytes: 32 << 10,
            callback_allow: Vec::new(),
            webhook_queue_bytes: 64 << 20,
            log_digits: false,
            log_format: LogFormat::Text,
            prompt_follow_symlinks: false,
            max_prompt_ms: 600_000,
            event_token: None,
            event_subscriber_bytes: 1 << 20,
            max_event_subscribers: 64,
            replay_cache_entries: 100_000,
            insecure_allow_unauthenticated: false,
            detector_profile: Profile::Default,
            admission_max_lag_ms: 20,
            admission_max_cpu_percent: 90,
            wake_coalesce_us: 2_000,
            event_log_max_events: 10_000,
            event_log_max_bytes: 16 << 20,
            state_dir: None,
            tts_engine: TtsEngine::Espeak,
            tts_espeak_program: PathBuf::from("espeak-ng"),
            tts_voice: None,
            tts_timeout_ms: 10_000,
            tts_max_concurrent: 4,
            tts_max_output_bytes: 16 << 20,
            tts_cache_bytes: 64 << 20,
            tts_http_url: None,
            tts_http_api_key: None,
            tts_http_model: "tts-1".to_owned(),
            tts_http_voices: Vec::new(),
            speech_recognizer: SpeechRecognizer::Pocketsphinx,
            pocketsphinx_program: PathBuf::from("pocketsphinx_continuous"),
            pocketsphinx_model_dir: PathBuf::from("/usr/share/pocketsphinx/model/en-us"),
            max_recognitions: 2,
            monitor: true,
            monitor_buffer_frames: 100,
            max_monitor_watchers: 16,
            cluster_nats_url: None,
            cluster_node_id: None,
            cluster_prefix: "tonegate".to_owned(),
            cluster_request_timeout_ms: 2_000,
            cluster_heartbeat_ms: 2_000,
            cluster_node_ttl_ms: 10_000,
            cluster_replicas: 1,
            transcription_url: None,
            cluster_event_retention_ms: 900_000,
            cluster_event_max_bytes: 1 << 30,
            cluster_event_outbox_bytes: 64 << 20,
        }
    }
}

impl Config {
    /// The decoded [`Config::access_key`], if set; the error names the setting.
    pub fn access_key_bytes(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(key) = &self.access_key else {
            return Ok(None);
        };
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| "access_key must be base64".to_owned())?;
        if bytes.is_empty() {
            return Err("access_key is empty".to_owned());
        }
        Ok(Some(bytes))
    }

    /// Every audio socket's settings, from these: its session's ([`Config::session`]),
    /// flood control, the idle timeout and the message size limit.
    pub fn connection(&self) -> Result<connection::Config, String> {
        Ok(connection::Config {
            session: Arc::new(self.session()?),
            budget: budget::Limits {
                max_frames_per_second: self.max_frames_per_second,
                max_frame_burst: self.max_frame_burst,
                max_audio_speed: self.max_audio_speed,
                max_audio_burst: Duration::from_millis(self.max_audio_burst_ms),
            },
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            max_frame_bytes: self.max_frame_bytes,
            max_pending_requests: connection::MAX_PENDING_REQUESTS,
        })
    }

    /// The session settings these imply (reads `hold_music`); the error names the
    /// setting at fault.
    pub fn session(&self) -> Result<session::Config, String> {
        let cadence_ms = 40..=1_000;
        if !cadence_ms.contains(&self.send_dtmf_on_ms)
            || !cadence_ms.contains(&self.send_dtmf_off_ms)
        {
            return Err("send_dtmf_on_ms and send_dtmf_off_ms must be 40 to 1000".to_owned());
        }
        if !(-30.0..=0.0).contains(&self.send_dtmf_level_dbm0) {
            return Err("send_dtmf_level_dbm0 must be -30 to 0".to_owned());
        }
        let hold_music = match &self.hold_music {
            None => None,
            Some(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("hold_music {}: {e}", path.display()))?;
                let music = Prompt::decode_wav(&bytes, Duration::from_millis(self.max_prompt_ms))
                    .map_err(|e| format!("hold_music {}: {e}", path.display()))?;
                Some(music)
            }
        };
        Ok(session::Config {
            lead: Duration::from_millis(self.lead_ms),
            platform_hold: Duration::from_millis(self.platform_hold_ms),
            dedupe_window: Duration::from_millis(self.dedupe_window_ms),
            max_queued_audio: Duration::from_millis(self.max_queued_audio_ms),
            dtmf: dtmf::Config::for_profile(self.detector_profile),
            cadence: Cadence {
                on: Duration::from_millis(self.send_dtmf_on_ms),
                off: Duration::from_millis(self.send_dtmf_off_ms),
                level_dbm0: self.send_dtmf_level_dbm0,
            },
            operations: session::OperationsConfig {
                dtmf_buffer: self.dtmf_buffer_digits,
                hold_music,
                ..session::OperationsConfig::default()
            },
            ..session::Config::default()
        })
    }
}

impl Config {
    /// Checks the connection and audio limits; the error names the setting at fault.
    pub(super) fn check_connection_limits(&self) -> Result<(), String> {
        let at_least_one = [
            ("header_read_timeout_ms", self.header_read_timeout_ms),
            ("max_connections", self.max_connections as u64),
            (
                "max_pending_connections_per_ip",
                self.max_pending_connections_per_ip as u64,
            ),
            ("max_audio_speed", u64::from(self.max_audio_speed)),
            ("max_audio_burst_ms", self.max_audio_burst_ms),
            ("max_recognitions", self.max_recognitions as u64),
        ];
        if let Some((name, _)) = at_least_one.iter().find(|(_, value)| *value == 0) {
            return Err(format!("{name} must be at least 1"));
        }
        let most_coalesce = super::runtime::MAX_WAKE_COALESCE.as_micros();
        if u128::from(self.wake_coalesce_us) > most_coalesce {
            return Err(format!("wake_coalesce_us must be at most {most_coalesce}"));
        }
        if self.max_request_head_bytes < 8_192 {
            return Err("max_request_head_bytes must be at least 8192".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonegate_dsp::codec::Encoding;
    use tonegate_dsp::wav::write_wav;

    fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tonegate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn defaults_give_the_session_defaults_for_sending_and_hold() {
        let session = Config::default().session().unwrap();
        assert_eq!(session.cadence, session::Config::default().cadence);
        assert!(session.operations.hold_music.is_none());
    }

    #[test]
    fn send_dtmf_cadence_and_hold_music_are_applied() {
        let mut wav = Vec::new();
        write_wav(&mut wav, 22_050, 2, Encoding::S16le, &[0.25; 2 * 2_205]).unwrap();
        let config = Config {
            send_dtmf_on_ms: 90,
            send_dtmf_off_ms: 60,
            send_dtmf_level_dbm0: -6.0,
            hold_music: Some(temp_file("music.wav", &wav)),
            ..Config::default()
        };
        let session = config.session().unwrap();
        let cadence = session.cadence;
        assert_eq!(cadence.on, Duration::from_millis(90));
        assert_eq!(cadence.off, Duration::from_millis(60));
        assert_eq!(cadence.level_dbm0, -6.0);
        let music = session.operations.hold_music.unwrap();
        assert_eq!(music.rate().hz(), 22_050);
        assert_eq!(music.samples().len(), 2_205, "stereo mixed down to mono");
    }

    #[test]
    fn bad_settings_name_themselves() {
        let cases = [
            (
                Config {
                    send_dtmf_on_ms: 20,
                    ..Config::default()
                },
                "send_dtmf_on_ms",
            ),
            (
                Config {
                    send_dtmf_level_dbm0: 3.0,
                    ..Config::default()
                },
                "send_dtmf_level_dbm0",
            ),
            (
                Config {
                    hold_music: Some(PathBuf::from("/no/such/music.wav")),
                    ..Config::default()
                },
                "hold_music /no/such/music.wav",
            ),
            (
                Config {
                    hold_music: Some(temp_file("not-a.wav", b"RIFF junk")),
                    ..Config::default()
                },
                "hold_music",
            ),
        ];
        for (config, name) in cases {
            let err = config.session().unwrap_err();
            assert!(err.contains(name), "{err} should name {name}");
        }
    }

    #[test]
    fn zero_connection_limits_name_themselves() {
        assert_eq!(Config::default().check_connection_limits(), Ok(()));
        let zero_speed = Config {
            max_audio_speed: 0,
            ..Config::default()
        };
        let err = zero_speed.check_connection_limits().unwrap_err();
        assert!(err.contains("max_audio_speed"), "{err}");
        let long_linger = Config {
            wake_coalesce_us: 20_001,
            ..Config::default()
        };
        let err = long_linger.check_connection_limits().unwrap_err();
        assert!(
            err.contains("wake_coalesce_us must be at most 20000"),
            "{err}"
        );
        let small_head = Config {
            max_request_head_bytes: 1_024,
            ..Config::default()
        };
        let err = small_head.check_connection_limits().unwrap_err();
        assert!(err.contains("max_request_head_bytes"), "{err}");
    }
}
