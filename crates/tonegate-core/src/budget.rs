//! Flood control for one audio socket: how much its peer may send, as token buckets
//! refilled with time and bounded by a burst. One bucket counts messages, the other
//! seconds of audio (per participant heard). Time comes in as `now`.

use std::time::Duration;

use tonegate_dsp::SampleRate;

/// What one audio socket's peer may send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Sustained inbound messages per second (server default 500).
    pub max_frames_per_second: u32,
    /// Messages allowed at once beyond the sustained rate (server default 3000; at
    /// least 1 is used).
    pub max_frame_burst: u32,
    /// Sustained audio, as a multiple of real time for each participant heard (server
    /// default 4).
    pub max_audio_speed: u32,
    /// Audio allowed at once beyond the sustained speed, stream time (server default
    /// 60 s).
    pub max_audio_burst: Duration,
}

/// Why a peer's input was refused: it sends faster than its [`Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Flood {
    /// More messages than `max_frames_per_second` beyond the burst.
    #[error("flood: more than {0} frames per second")]
    Frames(u32),
    /// More audio than `max_audio_speed` x real time beyond the burst.
    #[error(
        "audio arrives faster than {0}x real time (max_audio_speed) beyond a burst of \
         max_audio_burst_ms"
    )]
    Audio(u32),
}

impl Flood {
    /// Short machine-readable code for error events and metrics labels.
    pub fn code(self) -> &'static str {
        match self {
            Flood::Frames(_) => "flood",
            Flood::Audio(_) => "audioFlood",
        }
    }

    /// WebSocket close code (policy violation).
    pub fn close_code(self) -> u16 {
        1008
    }
}

/// The two budgets of one socket: messages and seconds of audio. Both start full.
#[derive(Debug, Clone)]
pub struct Budget {
    limits: Limits,
    frames: TokenBucket,
    audio: TokenBucket,
}

impl Budget {
    /// Full budgets at time `now`.
    pub fn new(limits: Limits, now: Duration) -> Budget {
        Budget {
            limits,
            frames: TokenBucket::full(f64::from(limits.max_frame_burst.max(1)), now),
            audio: TokenBucket::full(limits.max_audio_burst.as_secs_f64(), now),
        }
    }

    /// Takes one inbound message from the message budget.
    pub fn admit_message(&mut self, now: Duration) -> Result<(), Flood> {
        let rate = f64::from(self.limits.max_frames_per_second);
        if self.frames.take(now, rate, 1.0) {
            Ok(())
        } else {
            Err(Flood::Frames(self.limits.max_frames_per_second))
        }
    }

    /// Takes `samples` of audio at `rate` from the audio budget, which refills at
    /// `max_audio_speed` x real time for each of `participants` heard (unmixed ACS audio
    /// carries several at once; at least one counts).
    pub fn admit_audio(
        &mut self,
        now: Duration,
        samples: usize,
        rate: SampleRate,
        participants: usize,
    ) -> Result<(), Flood> {
        let seconds = samples as f64 / f64::from(rate.hz());
        let speed = f64::from(self.limits.max_audio_speed) * participants.max(1) as f64;
        if self.audio.take(now, speed, seconds) {
            Ok(())
        } else {
            Err(Flood::Audio(self.limits.max_audio_speed))
        }
    }
}

/// Holds at most `burst` tokens; [`TokenBucket::take`] refills it at the caller's rate
/// for the time since its last call. Starts full.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    tokens: f64,
    burst: f64,
    at: Duration,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens at time `now`.
    pub fn full(burst: f64, now: Duration) -> TokenBucket {
        TokenBucket {
            tokens: burst,
            burst,
            at: now,
        }
    }

    /// Refills at `rate` tokens per second since the last call (up to the burst), then
    /// takes `amount` if the bucket holds that many. `false`: over budget, nothing taken.
    pub fn take(&mut self, now: Duration, rate: f64, amount: f64) -> bool {
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

    const LIMITS: Limits = Limits {
        max_frames_per_second: 50,
        max_frame_burst: 100,
        max_audio_speed: 2,
        max_audio_burst: Duration::from_secs(1),
    };

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn a_message_burst_is_admitted_then_the_next_message_is_a_flood() {
        let mut budget = Budget::new(LIMITS, ms(0));
        for _ in 0..100 {
            assert_eq!(budget.admit_message(ms(0)), Ok(()));
        }
        let refused = budget.admit_message(ms(0));
        assert_eq!(refused, Err(Flood::Frames(50)));
        assert_eq!(refused.unwrap_err().code(), "flood");
        assert_eq!(
            budget.admit_message(ms(20)),
            Ok(()),
            "50 a second refill one per 20 ms"
        );
        assert!(budget.admit_message(ms(20)).is_err());
    }

    #[test]
    fn messages_at_the_sustained_rate_are_never_a_flood() {
        let mut budget = Budget::new(LIMITS, ms(0));
        for i in 0..10_000 {
            assert_eq!(budget.admit_message(ms(20 * i)), Ok(()), "message {i}");
        }
    }

    #[test]
    fn audio_beyond_the_speed_and_burst_is_a_flood_and_participants_raise_the_speed() {
        let rate = SampleRate::HZ_8000;
        let mut budget = Budget::new(LIMITS, ms(0));
        // One second of audio at once fills the burst; then 2x real time is sustained.
        assert_eq!(budget.admit_audio(ms(0), 8_000, rate, 1), Ok(()));
        assert_eq!(
            budget.admit_audio(ms(0), 160, rate, 1),
            Err(Flood::Audio(2))
        );
        assert_eq!(
            budget.admit_audio(ms(10), 160, rate, 1),
            Ok(()),
            "20 ms in 10 ms"
        );
        assert!(budget.admit_audio(ms(10), 160, rate, 1).is_err());
        // Two participants each at 2x real time: 40 ms of audio per 10 ms.
        assert_eq!(budget.admit_audio(ms(20), 320, rate, 2), Ok(()));
        assert_eq!(Flood::Audio(2).code(), "audioFlood");
    }

    #[test]
    fn real_time_audio_from_eight_participants_is_never_a_flood() {
        let rate = SampleRate::HZ_16000;
        let mut budget = Budget::new(LIMITS, ms(0));
        for frame in 0..5_000 {
            for _ in 0..8 {
                assert_eq!(budget.admit_audio(ms(20 * frame), 320, rate, 8), Ok(()));
            }
        }
    }

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
