//! A token bucket: how much a socket may send, refilled with time, bounded by a burst.
//! The frame limiter counts messages in it; the audio budget counts seconds of audio.

use std::time::Duration;

/// Holds at most `burst` tokens; [`TokenBucket::take`] refills it at the caller's rate
/// for the time since its last call. Starts full.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    tokens: f64,
    burst: f64,
    at: Duration,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens at time `now`.
    pub(super) fn full(burst: f64, now: Duration) -> TokenBucket {
        TokenBucket {
            tokens: burst,
            burst,
            at: now,
        }
    }

    /// Refills at `rate` tokens per second since the last call (up to the burst), then
    /// takes `amount` if the bucket holds that many. `false`: over budget, nothing taken.
    pub(super) fn take(&mut self, now: Duration, rate: f64, amount: f64) -> bool {
        let elapsed = now.saturating_sub(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(self.burst);
        self.at = self.at.max(now);
        if self.tokens >= amount {
            self.tokens -= amount;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let mut bucket = TokenBucket::full(3.0, secs(0.0));
        assert!(bucket.take(secs(0.0), 1.0, 2.0));
        assert!(bucket.take(secs(0.0), 1.0, 1.0));
        assert!(!bucket.take(secs(0.0), 1.0, 1.0), "burst spent");
        assert!(bucket.take(secs(1.0), 1.0, 1.0), "one more a second later");
        assert!(!bucket.take(secs(1.5), 1.0, 1.0));
    }

    #[test]
    fn refills_no_further_than_the_burst() {
        let mut bucket = TokenBucket::full(2.0, secs(0.0));
        assert!(bucket.take(secs(0.0), 10.0, 2.0));
        assert!(bucket.take(secs(100.0), 10.0, 2.0));
        assert!(
            !bucket.take(secs(100.0), 10.0, 0.5),
            "a long pause saves no more"
        );
    }

    #[test]
    fn a_refusal_takes_nothing_and_time_going_back_adds_nothing() {
        let mut bucket = TokenBucket::full(1.0, secs(5.0));
        assert!(!bucket.take(secs(5.0), 1.0, 1.5));
        assert!(
            bucket.take(secs(4.0), 1.0, 1.0),
            "the refused amount was not taken"
        );
        assert!(
            !bucket.take(secs(4.5), 1.0, 0.1),
            "an earlier time refills nothing"
        );
    }
}
