//! `tonegate serve`: settings from defaults, then `--config FILE` (TOML), then
//! `TONEGATE_*` environment variables, then flags. A bad value is reported with where
//! it came from (the file, the variable or the flag) and its key; an environment
//! variable that names no setting is warned about, not fatal (another program's
//! `TONEGATE_VERSION` must not stop the server).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};

use super::logging;
use tonegate::server::{self, Config};

/// Environment variables with the `TONEGATE_` prefix that are not server settings.
const OTHER_VARIABLES: [&str; 3] = [
    "TONEGATE_LOG",
    "TONEGATE_REPLAY_TOKEN",
    "TONEGATE_REPLAY_EVENTS_TOKEN",
];

/// Flags of `tonegate serve`. Every setting can also come from `--config` or a
/// `TONEGATE_<KEY>` environment variable (see docs/serving.md); flags win.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Address to listen on, IP or host name with a port [default: 127.0.0.1:8080]
    /// [env: TONEGATE_LISTEN].
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// TOML file with server settings: the keys of docs/serving.md, e.g.
    /// `max_sessions = 200`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// PEM certificate chain for TLS [env: TONEGATE_TLS_CERT].
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS [env: TONEGATE_TLS_KEY].
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Directory prompt files are read from [default: .] [env: TONEGATE_PROMPT_DIR].
    #[arg(long)]
    prompt_dir: Option<PathBuf>,
}

impl Args {
    /// No flags but `--config`: the settings of the file and the environment.
    pub(super) fn with_config(config: Option<PathBuf>) -> Args {
        Args {
            listen: None,
            config,
            tls_cert: None,
            tls_key: None,
            prompt_dir: None,
        }
    }
}

/// The settings, and warnings to log once logging runs.
#[derive(Debug)]
pub(super) struct Loaded {
    /// The settings.
    pub config: Config,
    /// Environment variables that were ignored, one message each.
    pub warnings: Vec<String>,
}

/// Builds the configuration: defaults < file < environment < flags.
pub(super) fn load_config(
    args: &Args,
    env: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<Loaded> {
    let known = setting_names();
    let mut warnings = Vec::new();
    let mut table = match &args.config {
        Some(path) => {
            let name = path.display();
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {name}"))?;
            let table = text
                .parse::<toml::Table>()
                .map_err(|e| anyhow!("{name}: {}", one_line(e.message())))?;
            table
                .into_iter()
                .map(|(key, value)| {
                    let value = check_setting(&key, value).map_err(|e| anyhow!("{name}: {e}"))?;
                    Ok((key, value))
                })
                .collect::<anyhow::Result<_>>()?
        }
        None => toml::Table::new(),
    };
    let mut env: Vec<_> = env.collect();
    env.sort();
    for (variable, value) in env {
        let Some(key) = setting_name(&variable) else {
            continue;
        };
        if !known.contains(&key) {
            warnings.push(format!(
                "ignoring the environment variable {variable}: no setting `{key}`"
            ));
            continue;
        }
        // A number or boolean if it reads as one, else a string.
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(value));
        let value = check_setting(&key, parsed)
            .map_err(|e| anyhow!("environment variable {variable}: {e}"))?;
        table.insert(key, value);
    }
    let mut config: Config =
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                anyhow!("invalid server settings: {}", one_line(e.message()))
            })?;
    if let Some(listen) = &args.listen {
        config.listen = resolve(listen).map_err(|e| anyhow!("--listen {listen}: {e}"))?;
    }
    if let Some(p) = &args.tls_cert {
        config.tls_cert = Some(p.clone());
    }
    if let Some(p) = &args.tls_key {
        config.tls_key = Some(p.clone());
    }
    if let Some(p) = &args.prompt_dir {
        config.prompt_dir = p.clone();
    }
    Ok(Loaded { config, warnings })
}

/// The names of every setting (the keys of [`Config`]).
fn setting_names() -> Vec<String> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Checks one setting on its own, so an error names its key; returns the value with a
/// `listen` host name resolved.
fn check_setting(key: &str, mut value: toml::Value) -> anyhow::Result<toml::Value> {
    if key == "listen"
        && let toml::Value::String(text) = &value
    {
        let addr = resolve(text).map_err(|e| anyhow!("`listen` {text}: {e}"))?;
        value = toml::Value::String(addr.to_string());
    }
    let mut table = toml::Table::new();
    table.insert(key.to_owned(), value.clone());
    match toml::Value::Table(table).try_into::<Config>() {
        Ok(_) => Ok(value),
        Err(e) => Err(anyhow!("`{key}`: {}", one_line(e.message()))),
    }
}

/// `HOST:PORT` as an address: an IP literal, or the first address a host name resolves
/// to (`localhost:8080`).
fn resolve(text: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let mut addrs = text
        .to_socket_addrs()
        .map_err(|e| anyhow!("not an address (HOST:PORT, e.g. 127.0.0.1:8080): {e}"))?;
    match addrs.next() {
        Some(addr) => Ok(addr),
        None => bail!("{text} resolves to no address"),
    }
}

/// `text` on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The setting an environment variable sets (`TONEGATE_MAX_SESSIONS`: `max_sessions`);
/// `None` for other variables, [`OTHER_VARIABLES`] among them.
fn setting_name(variable: &str) -> Option<String> {
    let name = variable.strip_prefix("TONEGATE_")?;
    (!OTHER_VARIABLES.contains(&variable)).then(|| name.to_ascii_lowercase())
}

/// Where the settings came from, for the start line: `defaults`, then the file, the
/// environment variables (names only: values may be secrets) and `flags` that were
/// applied over them.
fn config_source(args: &Args, env: &[(String, String)]) -> String {
    let mut layers = vec!["defaults".to_owned()];
    if let Some(path) = &args.config {
        layers.push(path.display().to_string());
    }
    let known = setting_names();
    let variables: Vec<&str> = env
        .iter()
        .map(|(key, _)| key.as_str())
        .filter(|key| setting_name(key).is_some_and(|name| known.contains(&name)))
        .collect();
    if !variables.is_empty() {
        layers.push(format!("env {}", variables.join(",")));
    }
    if args.listen.is_some()
        || args.tls_cert.is_some()
        || args.tls_key.is_some()
        || args.prompt_dir.is_some()
    {
        layers.push("flags".to_owned());
    }
    layers.join(" < ")
}

/// Runs the server until SIGINT or SIGTERM.
pub(super) fn run(args: Args) -> anyhow::Result<()> {
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    env.sort();
    // The settings choose the log format, so they are read before logging starts.
    let Loaded { config, warnings } = load_config(&args, env.iter().cloned())?;
    logging::start(config.log_format);
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let listen = config.listen;
    if config.log_digits {
        tracing::warn!(
            "log_digits is on: callers' digits, tones and operationContext values are written to the log"
        );
    }
    let runtime = server::runtime(&config).context("starting the runtime")?;
    let source = config_source(&args, &env);
    runtime
        .block_on(server::run_until_signal(config, &source))
        .map_err(|e| match e {
            server::Error::Io(io) => anyhow!("cannot serve on {listen}: {io}"),
            other => other.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonegate::server::LogFormat;

    fn args() -> Args {
        Args::with_config(None)
    }

    #[test]
    fn defaults_then_env_then_flags() {
        let config = load_config(&args(), std::iter::empty()).unwrap().config;
        assert_eq!(config, Config::default());
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        let env = [
            ("TONEGATE_MAX_SESSIONS".to_owned(), "7".to_owned()),
            ("TONEGATE_LISTEN".to_owned(), "0.0.0.0:9000".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let config = load_config(&args(), env.clone().into_iter())
            .unwrap()
            .config;
        assert_eq!(config.max_sessions, 7);
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        let mut a = args();
        a.listen = Some("127.0.0.1:1".to_owned());
        let config = load_config(&a, env.into_iter()).unwrap().config;
        assert_eq!(config.listen.to_string(), "127.0.0.1:1");
        let env = [
            (
                "TONEGATE_TLS_CERT".to_owned(),
                "/etc/tonegate/cert.pem".to_owned(),
            ),
            ("TONEGATE_TLS_KEY".to_owned(), "key.pem".to_owned()),
            (
                "TONEGATE_TLS_HANDSHAKE_TIMEOUT_MS".to_owned(),
                "2500".to_owned(),
            ),
        ];
        let config = load_config(&args(), env.clone().into_iter())
            .unwrap()
            .config;
        assert_eq!(
            config.tls_cert,
            Some(PathBuf::from("/etc/tonegate/cert.pem"))
        );
        assert_eq!(config.tls_key, Some(PathBuf::from("key.pem")));
        assert_eq!(config.tls_handshake_timeout_ms, 2_500);
        let mut a = args();
        a.tls_cert = Some(PathBuf::from("flag.pem"));
        let config = load_config(&a, env.into_iter()).unwrap().config;
        assert_eq!(config.tls_cert, Some(PathBuf::from("flag.pem")));
        // A variable that names no setting is ignored with a warning.
        let other = [("TONEGATE_NO_SUCH_KEY".to_owned(), "1".to_owned())];
        let loaded = load_config(&args(), other.into_iter()).unwrap();
        assert_eq!(loaded.config, Config::default());
        assert_eq!(
            loaded.warnings,
            ["ignoring the environment variable TONEGATE_NO_SUCH_KEY: no setting `no_such_key`"]
        );
    }

    #[test]
    fn config_source_names_each_layer_without_values() {
        assert_eq!(config_source(&args(), &[]), "defaults");
        let mut a = Args::with_config(Some(PathBuf::from("/etc/tonegate/tonegate.toml")));
        a.listen = Some("127.0.0.1:1".to_owned());
        let env = [
            ("TONEGATE_ACCESS_KEY", "c2VjcmV0"),
            ("TONEGATE_LOG", "debug"),
            ("TONEGATE_VERSION", "7"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(
            config_source(&a, &env),
            "defaults < /etc/tonegate/tonegate.toml < env TONEGATE_ACCESS_KEY < flags"
        );
    }

    #[test]
    fn log_settings_from_env() {
        let config = load_config(&args(), std::iter::empty()).unwrap().config;
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(!config.log_digits);
        let env = [
            ("TONEGATE_LOG_FORMAT", "json"),
            ("TONEGATE_LOG_DIGITS", "true"),
            ("TONEGATE_LOG", "debug"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let config = load_config(&args(), env.into_iter()).unwrap().config;
        assert_eq!(config.log_format, LogFormat::Json);
        assert!(config.log_digits);
        let bad = [("TONEGATE_LOG_FORMAT".to_owned(), "xml".to_owned())];
        assert!(load_config(&args(), bad.into_iter()).is_err());
    }

    #[test]
    fn stream_auth_from_env() {
        use tonegate::server::stream_auth::Mode;
        let env = [
            ("TONEGATE_STREAM_AUTH", "jwt"),
            (
                "TONEGATE_STREAM_AUTH_AUDIENCE",
                "6f1c7a52-3b0d-4e8a-9c4f-2d5e8b7a1c90",
            ),
            ("TONEGATE_STREAM_AUTH_JWKS", "https://example.com/keys"),
            ("TONEGATE_STREAM_AUTH_JWKS_TIMEOUT_MS", "2000"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let config = load_config(&args(), env.into_iter()).unwrap().config;
        assert_eq!(config.stream_auth, Mode::Jwt);
        assert_eq!(
            config.stream_auth_audience.as_deref(),
            Some("6f1c7a52-3b0d-4e8a-9c4f-2d5e8b7a1c90")
        );
        assert_eq!(
            config.stream_auth_jwks.as_deref(),
            Some("https://example.com/keys")
        );
        assert_eq!(config.stream_auth_jwks_timeout_ms, 2_000);
        let env = [
            ("TONEGATE_STREAM_AUTH", "token"),
            ("TONEGATE_STREAM_AUTH_TOKEN", "s3cret"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let config = load_config(&args(), env.into_iter()).unwrap().config;
        assert_eq!(config.stream_auth, Mode::Token);
        assert_eq!(config.stream_auth_token.as_deref(), Some("s3cret"));
        let bad = [("TONEGATE_STREAM_AUTH".to_owned(), "maybe".to_owned())];
        assert!(load_config(&args(), bad.into_iter()).is_err());
    }
}
