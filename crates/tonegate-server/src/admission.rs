//! Admission control: whether a new audio socket may start, from measured load.
//!
//! A live call needs its frames handled within a few milliseconds of arriving, every
//! 20 ms. Once the box cannot do that, admitting one more call makes every call late, so
//! new calls are refused (HTTP 503 with `Retry-After`) while the ones already admitted
//! keep real time. Two measurements say when:
//! - **event-loop lag**: a probe task asks to wake every [`PROBE_INTERVAL`] and notes how
//!   late it woke. Every task of the runtime waits that long for a worker, so it is the
//!   delay a frame sees before its socket task runs, whatever the cause (our own load,
//!   another process on the box, too few cores);
//! - **CPU**: the process's CPU time over the last [`WINDOW`], as a share of the cores it
//!   may use. Near 100 % there is no headroom left, though the lag may not show it yet.
//!
//! The decision ([`decide`]) is pure and takes its measurements as arguments;
//! [`sample`] (the shell) measures once per window and publishes the verdict in a
//! [`Gate`], which the upgrade handler asks. A fixed cap, [`Config::max_sessions`]
//! (default [`SESSIONS_PER_CORE`] per core), stays as a bound on memory.
//!
//! [`Config::max_sessions`]: super::Config::max_sessions

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use super::Metrics;

/// How often the probe task asks to wake.
pub(crate) const PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// The span over which lag and CPU are judged.
pub(crate) const WINDOW: Duration = Duration::from_secs(1);

/// Probes in one window.
const PROBES: usize = (WINDOW.as_millis() / PROBE_INTERVAL.as_millis()) as usize;

/// What a refused client is told to wait before trying again, seconds.
pub(crate) const RETRY_AFTER_SECONDS: u32 = 2;

/// Default `max_sessions` per available core: what one core carries at 16 kHz with room
/// for the SSE streams, webhooks and the media-operation API (measured with
/// `scripts/load-bench`, see the README's Capacity section).
pub(crate) const SESSIONS_PER_CORE: usize = 500;

/// `SESSIONS_PER_CORE` times the cores this process may use.
pub(crate) fn default_max_sessions() -> usize {
    SESSIONS_PER_CORE * available_cores()
}

/// Cores this process may use (at least 1).
pub(crate) fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Why a new audio socket is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// [`Config::max_sessions`](super::Config::max_sessions) sockets are open.
    MaxSessions,
    /// The event loop runs late.
    EventLoopLag,
    /// The process uses nearly all the CPU it may.
    Cpu,
}

impl Refusal {
    /// Every reason, for the metric's labels.
    pub(crate) const ALL: [Refusal; 3] =
        [Refusal::MaxSessions, Refusal::EventLoopLag, Refusal::Cpu];

    /// The `reason` label of `tonegate_admission_refused_total`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Refusal::MaxSessions => "maxSessions",
            Refusal::EventLoopLag => "eventLoopLag",
            Refusal::Cpu => "cpu",
        }
    }

    /// The 503 body.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Refusal::MaxSessions => "too many sessions",
            Refusal::EventLoopLag => "overloaded: the server is running late",
            Refusal::Cpu => "overloaded: no CPU headroom",
        }
    }
}

/// When to refuse; a limit of `None` is not checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Limits {
    /// Refuse when the window's lag (90th percentile of the probes) reaches this.
    pub(crate) max_lag: Option<Duration>,
    /// Refuse when the window's CPU share (of the available cores, 0 to 1) reaches this.
    pub(crate) max_cpu: Option<f64>,
}

impl Limits {
    /// The limits of `config` (0 turns a check off).
    pub(crate) fn new(config: &super::Config) -> Limits {
        Limits {
            max_lag: (config.admission_max_lag_ms > 0)
                .then(|| Duration::from_millis(config.admission_max_lag_ms)),
            max_cpu: (config.admission_max_cpu_percent > 0)
                .then(|| f64::from(config.admission_max_cpu_percent) / 100.0),
        }
    }
}

/// One window's measurements.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Load {
    /// How late the probe woke (90th percentile over the window).
    pub(crate) lag: Duration,
    /// CPU time over wall time and available cores (0 to 1); `None` where the platform
    /// does not tell.
    pub(crate) cpu: Option<f64>,
}

/// Whether a new call may start under `load`.
pub(crate) fn decide(load: Load, limits: Limits) -> Result<(), Refusal> {
    if limits.max_lag.is_some_and(|max| load.lag >= max) {
        return Err(Refusal::EventLoopLag);
    }
    if let (Some(max), Some(cpu)) = (limits.max_cpu, load.cpu)
        && cpu >= max
    {
        return Err(Refusal::Cpu);
    }
    Ok(())
}

/// The probe lags of one window.
#[derive(Debug)]
pub(crate) struct LagWindow {
    lags: [Duration; PROBES],
    len: usize,
}

impl Default for LagWindow {
    fn default() -> Self {
        LagWindow {
            lags: [Duration::ZERO; PROBES],
            len: 0,
        }
    }
}

impl LagWindow {
    /// Notes one probe's lag (beyond a full window's worth, the oldest are kept).
    pub(crate) fn record(&mut self, lag: Duration) {
        if self.len < PROBES {
            self.lags[self.len] = lag;
            self.len += 1;
        }
    }

    /// The window's 90th-percentile lag (zero with no probe), and a fresh window. A
    /// single late wake-up (a page fault, one long poll) does not refuse calls; lag
    /// that lasts does.
    pub(crate) fn take(&mut self) -> Duration {
        let lags = &mut self.lags[..self.len];
        lags.sort_unstable();
        let p90 = lags.get(lags.len() * 9 / 10).copied().unwrap_or_default();
        self.len = 0;
        p90
    }
}

/// CPU share over a window: `cpu` time used in `wall` time on `cores` cores.
pub(crate) fn cpu_share(cpu: Duration, wall: Duration, cores: usize) -> f64 {
    if wall.is_zero() {
        return 0.0;
    }
    cpu.as_secs_f64() / (wall.as_secs_f64() * cores.max(1) as f64)
}

/// The latest verdict, shared between [`sample`] and the upgrades.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    /// 0: admit; else `1 + ` the index of the [`Refusal`] in [`Refusal::ALL`].
    verdict: AtomicU8,
}

impl Gate {
    /// Whether a new call may start now (by load; `max_sessions` is checked apart).
    pub(crate) fn check(&self) -> Result<(), Refusal> {
        match self.verdict.load(Ordering::Relaxed) {
            0 => Ok(()),
            n => Err(Refusal::ALL[usize::from(n - 1) % Refusal::ALL.len()]),
        }
    }

    /// Publishes a window's verdict.
    pub(crate) fn publish(&self, verdict: Result<(), Refusal>) {
        let code = match verdict {
            Ok(()) => 0,
            Err(refusal) => 1 + Refusal::ALL.iter().position(|&r| r == refusal).unwrap_or(0),
        };
        self.verdict.store(code as u8, Ordering::Relaxed);
    }
}

/// The shell: probes the event loop every [`PROBE_INTERVAL`] and, every [`WINDOW`],
/// measures the process's CPU share, shows both in `metrics`, decides, and publishes to
/// `gate`. Runs until dropped. `now` is the server's clock (so tests' paused clocks see
/// no lag).
pub(crate) async fn sample(
    gate: &Gate,
    limits: Limits,
    metrics: &Metrics,
    now: impl Fn() -> Duration,
) {
    let cores = available_cores();
    let mut lags = LagWindow::default();
    let mut window_start = now();
    let mut cpu_start = ProcessClock::read();
    loop {
        let asked = now() + PROBE_INTERVAL;
        tokio::time::sleep(PROBE_INTERVAL).await;
        lags.record(now().saturating_sub(asked));
        if now().saturating_sub(window_start) < WINDOW {
            continue;
        }
        let cpu_end = ProcessClock::read();
        let cpu = match (&cpu_start, &cpu_end) {
            (Some(start), Some(end)) => Some(end.share_since(start, cores)),
            _ => None,
        };
        let load = Load {
            lag: lags.take(),
            cpu,
        };
        metrics.event_loop_lag.set(load.lag.as_secs_f64());
        if let Some(cpu) = load.cpu {
            metrics.cpu_share.set(cpu);
        }
        gate.publish(decide(load, limits));
        window_start = now();
        cpu_start = cpu_end;
    }
}

/// A reading of the process's CPU time and of real time (CPU time is real, so it is
/// compared with real time even under a test's paused clock).
struct ProcessClock {
    cpu: Duration,
    at: std::time::Instant,
}

impl ProcessClock {
    /// Now; `None` where the process's CPU time cannot be read.
    fn read() -> Option<ProcessClock> {
        #[allow(clippy::disallowed_methods)] // see the type's doc
        let at = std::time::Instant::now();
        Some(ProcessClock {
            cpu: process_cpu_time()?,
            at,
        })
    }

    /// CPU share since `earlier`.
    fn share_since(&self, earlier: &ProcessClock, cores: usize) -> f64 {
        cpu_share(
            self.cpu.saturating_sub(earlier.cpu),
            self.at.saturating_duration_since(earlier.at),
            cores,
        )
    }
}

/// User plus system CPU time of this process, all threads, from `/proc/self/stat`
/// (Linux; `None` elsewhere or if it cannot be read).
fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_stat_cpu_time(&stat)
}

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on Linux).
const USER_HZ: u64 = 100;

/// `utime + stime` of a `/proc/PID/stat` line.
fn parse_stat_cpu_time(stat: &str) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may hold spaces: count from the
    // last `)`. utime and stime are fields 14 and 15, so 11th and 12th after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1_000 / USER_HZ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_lag: Some(Duration::from_millis(20)),
        max_cpu: Some(0.9),
    };

    fn load(lag_ms: u64, cpu: Option<f64>) -> Load {
        Load {
            lag: Duration::from_millis(lag_ms),
            cpu,
        }
    }

    #[test]
    fn admits_under_the_limits() {
        assert_eq!(decide(load(0, Some(0.0)), LIMITS), Ok(()));
        assert_eq!(decide(load(19, Some(0.89)), LIMITS), Ok(()));
        assert_eq!(decide(load(5, None), LIMITS), Ok(()));
    }

    #[test]
    fn refuses_when_the_event_loop_lags() {
        assert_eq!(
            decide(load(20, Some(0.1)), LIMITS),
            Err(Refusal::EventLoopLag)
        );
        assert_eq!(
            decide(load(300, Some(0.99)), LIMITS),
            Err(Refusal::EventLoopLag)
        );
    }

    #[test]
    fn refuses_without_cpu_headroom() {
        assert_eq!(decide(load(1, Some(0.9)), LIMITS), Err(Refusal::Cpu));
        assert_eq!(decide(load(1, Some(1.3)), LIMITS), Err(Refusal::Cpu));
    }

    #[test]
    fn a_limit_of_none_is_not_checked() {
        let off = Limits {
            max_lag: None,
            max_cpu: None,
        };
        assert_eq!(decide(load(10_000, Some(5.0)), off), Ok(()));
    }

    #[test]
    fn one_late_probe_does_not_make_a_laggy_window() {
        let mut window = LagWindow::default();
        for i in 0..100 {
            let lag = if i == 50 { 500 } else { 1 };
            window.record(Duration::from_millis(lag));
        }
        assert_eq!(window.take(), Duration::from_millis(1));
        // A window where a fifth of the probes are late is.
        for i in 0..100 {
            let lag = if i % 5 == 0 { 40 } else { 1 };
            window.record(Duration::from_millis(lag));
        }
        assert_eq!(window.take(), Duration::from_millis(40));
        assert_eq!(window.take(), Duration::ZERO, "take starts a new window");
    }

    #[test]
    fn cpu_share_is_of_the_available_cores() {
        let second = Duration::from_secs(1);
        assert_eq!(cpu_share(Duration::from_millis(500), second, 1), 0.5);
        assert_eq!(cpu_share(Duration::from_millis(1_800), second, 2), 0.9);
        assert_eq!(cpu_share(second, Duration::ZERO, 2), 0.0);
    }

    #[test]
    fn the_gate_tells_the_last_verdict() {
        let gate = Gate::default();
        assert_eq!(gate.check(), Ok(()));
        for refusal in Refusal::ALL {
            gate.publish(Err(refusal));
            assert_eq!(gate.check(), Err(refusal));
        }
        gate.publish(Ok(()));
        assert_eq!(gate.check(), Ok(()));
    }

    #[test]
    fn reads_utime_and_stime_past_a_command_with_spaces() {
        let stat =
            "4242 (tone gate) S 1 4242 4242 0 -1 4194560 3018 0 0 0 157 42 0 0 20 0 9 0 1 2 3";
        assert_eq!(
            parse_stat_cpu_time(stat),
            Some(Duration::from_millis(1_990))
        );
        assert_eq!(parse_stat_cpu_time("garbage"), None);
        assert!(process_cpu_time().is_some() || !cfg!(target_os = "linux"));
    }
}
