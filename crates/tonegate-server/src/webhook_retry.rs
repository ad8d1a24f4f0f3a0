//! When to retry a webhook POST: exponential backoff with jitter (backon), stretched to
//! what a 429 or 503 answer asks for in `Retry-After`.

use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;

/// The first wait before a retry; each later one doubles, up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(250);
/// The longest backoff wait (before jitter).
const MAX_WAIT: Duration = Duration::from_secs(10);

/// The backoff waits of one event's delivery: 250 ms doubling to 10 s, each plus a random
/// jitter of up to the same again, so receivers that failed together are not retried in
/// lock step. Endless: the give-up deadline decides when to stop.
pub(crate) fn backoff() -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(FIRST_WAIT)
        .with_max_delay(MAX_WAIT)
        .with_jitter()
        .without_max_times()
        .build()
}

/// The wait a 429 or 503 answer asks for with `Retry-After` (delay-seconds or an HTTP
/// date, measured from `now`); `None` for other answers and unreadable values.
pub(crate) fn retry_after(
    status: StatusCode,
    value: Option<&HeaderValue>,
    now: SystemTime,
) -> Option<Duration> {
    if !matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    ) {
        return None;
    }
    let value = value?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let waits: Vec<Duration> = backoff().take(9).collect();
        for (i, wait) in waits.iter().enumerate() {
            let base = (FIRST_WAIT * (1 << i)).min(MAX_WAIT);
            assert!(*wait >= base && *wait < base * 2, "wait {i}: {wait:?}");
        }
    }

    #[test]
    fn retry_after_seconds_or_date_on_429_and_503_only() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let ask = |status, value: &'static str| {
            retry_after(status, Some(&HeaderValue::from_static(value)), now)
        };
        let busy = StatusCode::SERVICE_UNAVAILABLE;
        assert_eq!(ask(busy, "1"), Some(Duration::from_secs(1)));
        assert_eq!(
            ask(StatusCode::TOO_MANY_REQUESTS, " 120 "),
            Some(Duration::from_secs(120))
        );
        // 2015-10-21T07:28:00Z is `now`; 07:28:30 is 30 s on, an earlier date is now.
        assert_eq!(
            ask(busy, "Wed, 21 Oct 2015 07:28:30 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            ask(busy, "Wed, 21 Oct 2015 07:00:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(ask(busy, "soon"), None);
        assert_eq!(ask(busy, "-1"), None);
        assert_eq!(ask(StatusCode::INTERNAL_SERVER_ERROR, "1"), None);
        assert_eq!(retry_after(busy, None, now), None);
    }
}
