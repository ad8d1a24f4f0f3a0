//! The one place `replay` reads the clock.

use tokio::time::Instant;

/// Now, on tokio's clock.
#[allow(clippy::disallowed_methods)]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// Wall-clock time, for the expiry of minted tokens.
#[allow(clippy::disallowed_methods)]
pub(crate) fn wall_now() -> std::time::SystemTime {
    std::time::SystemTime::now()
}
