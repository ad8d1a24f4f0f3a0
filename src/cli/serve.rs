//! `tonegate serve`: settings from defaults, then `--config FILE` (TOML), then
//! `TONEGATE_*` environment variables, then flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use super::logging;
use tonegate::server::{self, Config};

/// Flags of `tonegate serve`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// TOML file with server settings (keys as in `server::Config`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// PEM certificate chain for TLS.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// PEM private key for TLS.
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Directory prompt files are read from.
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

/// Builds the configuration: defaults < file < environment < flags.
pub(super) fn load_config(
    args: &Args,
    env: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<Config> {
    let mut table = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            text.parse::<toml::Table>()
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => toml::Table::new(),
    };
    for (key, value) in env {
        let Some(name) = setting_name(&key) else {
            continue;
        };
        let name = name.to_ascii_lowercase();
        // A number or boolean if it reads as one, else a string.
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(value));
        table.insert(name, parsed);
    }
    let mut config: Config = toml::Value::Table(table)
        .try_into()
        .context("invalid server settings")?;
    if let Some(listen) = args.listen {
        config.listen = listen;
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
    Ok(config)
}

/// The setting an environment variable sets (`TONEGATE_MAX_SESSIONS`: `MAX_SESSIONS`);
/// `None` for other variables and for `TONEGATE_LOG` (the log filter).
fn setting_name(key: &str) -> Option<&str> {
    key.strip_prefix("TONEGATE_").filter(|name| *name != "LOG")
}

/// Where the settings came from, for the start line: `defaults`, then the file, the
/// environment variables (names only: values may be secrets) and `flags` that were
/// applied over them.
fn config_source(args: &Args, env: &[(String, String)]) -> String {
    let mut layers = vec!["defaults".to_owned()];
    if let Some(path) = &args.config {
        layers.push(path.display().to_string());
    }
    let variables: Vec<&str> = env
        .iter()
        .map(|(key, _)| key.as_str())
        .filter(|key| setting_name(key).is_some())
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
    let env: Vec<(String, String)> = std::env::vars().collect();
    // The settings choose the log format, so they are read before logging starts.
    let config = load_config(&args, env.iter().cloned())?;
    logging::start(config.log_format);
    if config.log_digits {
        tracing::warn!(
            "log_digits is on: callers' digits, tones and operationContext values are written to the log"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let source = config_source(&args, &env);
    runtime.block_on(server::run_until_signal(config, &source))?;
    Ok(())
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
        let config = load_config(&args(), std::iter::empty()).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        let env = [
            ("TONEGATE_MAX_SESSIONS".to_owned(), "7".to_owned()),
            ("TONEGATE_LISTEN".to_owned(), "0.0.0.0:9000".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let config = load_config(&args(), env.clone().into_iter()).unwrap();
        assert_eq!(config.max_sessions, 7);
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        let mut a = args();
        a.listen = Some("127.0.0.1:1".parse().unwrap());
        let config = load_config(&a, env.into_iter()).unwrap();
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
        let config = load_config(&args(), env.clone().into_iter()).unwrap();
        assert_eq!(
            config.tls_cert,
            Some(PathBuf::from("/etc/tonegate/cert.pem"))
        );
        assert_eq!(config.tls_key, Some(PathBuf::from("key.pem")));
        assert_eq!(config.tls_handshake_timeout_ms, 2_500);
        let mut a = args();
        a.tls_cert = Some(PathBuf::from("flag.pem"));
        let config = load_config(&a, env.into_iter()).unwrap();
        assert_eq!(config.tls_cert, Some(PathBuf::from("flag.pem")));
        let bad = [("TONEGATE_NO_SUCH_KEY".to_owned(), "1".to_owned())];
        assert!(load_config(&args(), bad.into_iter()).is_err());
    }

    #[test]
    fn config_source_names_each_layer_without_values() {
        assert_eq!(config_source(&args(), &[]), "defaults");
        let mut a = Args::with_config(Some(PathBuf::from("/etc/tonegate/tonegate.toml")));
        a.listen = Some("127.0.0.1:1".parse().unwrap());
        let env = [
            ("TONEGATE_ACCESS_KEY", "c2VjcmV0"),
            ("TONEGATE_LOG", "debug"),
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
        let config = load_config(&args(), std::iter::empty()).unwrap();
        assert_eq!(config.log_format, LogFormat::Text);
        assert!(!config.log_digits);
        let env = [
            ("TONEGATE_LOG_FORMAT", "json"),
            ("TONEGATE_LOG_DIGITS", "true"),
            ("TONEGATE_LOG", "debug"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let config = load_config(&args(), env.into_iter()).unwrap();
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
        let config = load_config(&args(), env.into_iter()).unwrap();
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
        let config = load_config(&args(), env.into_iter()).unwrap();
        assert_eq!(config.stream_auth, Mode::Token);
        assert_eq!(config.stream_auth_token.as_deref(), Some("s3cret"));
        let bad = [("TONEGATE_STREAM_AUTH".to_owned(), "maybe".to_owned())];
        assert!(load_config(&args(), bad.into_iter()).is_err());
    }
}
