//! `tonegate token`: prints a call token (see `tonegate::auth::call_token`) made with
//! the access key of the server's settings (`--config` file, then `TONEGATE_ACCESS_KEY`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use tonegate::auth::call_token::{self, Scope};

/// Flags of `tonegate token`.
#[derive(Debug, clap::Args)]
pub(super) struct Args {
    /// The call the token is for (its call connection id, callSid or raw callId).
    #[arg(long)]
    call: String,
    /// What it allows: `events` (read the call's event stream) or `stream` (open the
    /// call's audio socket, with stream_auth = "token").
    #[arg(long)]
    scope: Scope,
    /// How long it is valid, seconds.
    #[arg(long, default_value_t = 3_600)]
    ttl_s: u64,
    /// TOML file with server settings (for its access_key).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Prints the token on standard output.
pub(super) fn run(args: &Args) -> anyhow::Result<()> {
    let settings = super::serve::Args::with_config(args.config.clone());
    let config = super::serve::load_config(&settings, std::env::vars())?.config;
    let Some(key) = config.access_key_bytes().map_err(anyhow::Error::msg)? else {
        bail!("no access_key: set TONEGATE_ACCESS_KEY or access_key in --config");
    };
    if args.call.is_empty() || args.call.len() > 256 {
        bail!("--call must be 1 to 256 bytes");
    }
    // The CLI reads the wall clock directly: there is no server clock here.
    #[allow(clippy::disallowed_methods)]
    let now = SystemTime::now();
    let expires = (now + Duration::from_secs(args.ttl_s))
        .duration_since(SystemTime::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    println!(
        "{}",
        call_token::mint(&key, args.scope, &args.call, expires)
    );
    Ok(())
}
