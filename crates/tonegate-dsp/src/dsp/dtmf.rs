//! Streaming DTMF detector for one channel at the analysis rate (8 kHz).
//!
//! # How it decides
//! The [`goertzel::Bank`] measures the eight keypad frequencies over 4 ms blocks with a
//! common phase reference. Every block, the detector sums the last five blocks into a
//! 20 ms window and asks whether that window holds exactly one row tone and one column
//! tone:
//! - each tone at least `min_level_dbm0`, measured after correcting the window for the
//!   tone's own frequency offset, so levels do not sag at the deviation limits;
//! - the strongest tone of each group stands `min_relative_peak_db` above the others;
//! - twist within `max_normal_twist_db` / `max_reverse_twist_db`;
//! - frequency offset (from the phase advance of the window between blocks) within
//!   `max_frequency_deviation`: this is what separates 1.5 % tones from 3.5 % ones,
//!   which a 20 ms filter's bandwidth alone cannot;
//! - the pair holds at least `min_pair_share` of the window's energy (speech and music
//!   spread theirs).
//!
//! Timing comes from the 4 ms blocks, not the window: when a window first qualifies,
//! the detector walks back through the block history to the tone's onset, interpolating
//! within the first block by its share of the full-block magnitude. It reports the digit
//! as soon as the tone has lasted `min_tone_ms` and is still on, so the report lands
//! about `min_tone_ms` after onset whatever the tone's level. A digit ends when its tones
//! have been absent for `release_ms`; shorter dropouts are bridged.
//!
//! Positions are sample indices at the analysis rate, counted from the start of the
//! stream; feeding the same samples in any chunking gives the same events.

use num_complex::Complex32;

use super::goertzel::{self, Bank, BlockResult, LANES};
use super::keypad::{COLUMN_HZ, Digit, ROW_HZ};
use super::level;

/// The rate the detector analyses, in hertz.
pub const ANALYSIS_RATE: u32 = 8_000;
/// Samples per analysis block (4 ms).
pub const BLOCK_LEN: usize = 32;
/// Samples per half block (2 ms): a candidate whose tone only lacks duration is checked
/// again halfway through the next block, so a digit is reported within 2 ms of reaching
/// `min_tone_ms` rather than 4.
pub const HALF_BLOCK: usize = BLOCK_LEN / 2;
/// Blocks per decision window (20 ms).
const WINDOW_BLOCKS: usize = 5;
const WINDOW_LEN: usize = BLOCK_LEN * WINDOW_BLOCKS;
/// Blocks of history kept for onset estimation (64 ms).
const HISTORY_BLOCKS: usize = 16;
/// A block holds a tone when its magnitude is at least this share of a full block's.
const PRESENT_FRACTION: f32 = 0.5;
/// A candidate is confirmed only while the newest two blocks hold at least this share.
const CONFIRM_FRACTION: f32 = 0.75;
/// How far back from its first qualifying window a tone's onset is looked for (24 ms): a
/// window qualifies once a tone fills four fifths of it, so a real onset lies within
/// this reach, while speech that merely carries energy near both frequencies for
/// longer does not earn an early onset.
const ONSET_SEARCH_BLOCKS: usize = 6;
/// Qualified windows a candidate needs before it is confirmed; past that, block-level
/// presence can stand in for a window that spans a dropout.
const SUSTAINED_WINDOWS: u32 = 2;
/// A window qualifies only if sound fills at least this share of it (four of its five
/// blocks): a shorter span cannot resolve neighbouring keys.
const MIN_FILL: f32 = 0.8;
/// Before confirmation, a candidate survives dropouts up to this many blocks (20 ms, ETSI).
const CANDIDATE_BRIDGE_BLOCKS: u64 = 5;

/// Detector thresholds. Units are in the field names; `Default` gives the tuned values.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Weakest accepted tone, per tone, in dBm0. Default -36 (Q.24 asks for -25; rejects -55).
    pub min_level_dbm0: f32,
    /// Largest accepted level of the low group over the high group, dB. Default 12 (Q.24
    /// asks for 8; real lines reach 10).
    pub max_normal_twist_db: f32,
    /// Largest accepted level of the high group over the low group, dB. Default 10 (Q.24
    /// asks for 4; hand-dialled lines reach 8).
    pub max_reverse_twist_db: f32,
    /// Largest accepted frequency offset per tone, as a fraction. Default 0.025 (accept 1.5 %, reject 3.5 %).
    pub max_frequency_deviation: f32,
    /// Smallest share of the window's energy the tone pair must hold, 0 to 1. Default
    /// 0.75 (square-wave and clipped tones hold about 0.8; dial tone under a key more).
    pub min_pair_share: f32,
    /// How far the strongest tone of a group must stand above the others, dB. Default 8.
    pub min_relative_peak_db: f32,
    /// How far each tone's second harmonic must lie below the tone, dB. Default 15.
    pub min_harmonic_rejection_db: f32,
    /// Tone duration before a digit is reported, ms. Default 25.5 (Q.24 rejects 23 ms, accepts 40 ms).
    pub min_tone_ms: f32,
    /// Silence that ends a digit, ms; shorter dropouts are bridged. Default 28 (bridge 20 ms, split at 40 ms).
    pub release_ms: f32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_level_dbm0: -36.0,
            max_normal_twist_db: 12.0,
            max_reverse_twist_db: 10.0,
            max_frequency_deviation: 0.025,
            min_pair_share: 0.75,
            min_relative_peak_db: 8.0,
            min_harmonic_rejection_db: 15.0,
            min_tone_ms: 25.5,
            release_ms: 28.0,
        }
    }
}

/// A named set of detector settings, for where catching more keys must be weighed
/// against inventing digits from speech and music.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Tuned for real calls: twist to +10 / -12 dB, pair share 0.75; zero false digits
    /// on the talk-off corpus.
    #[default]
    Default,
    /// Closer to ITU-T Q.24's limits: twist to +6 / -10 dB, pair share 0.8.
    Strict,
    /// For noisy captures: pair share 0.45 and twist to +12 / -14 dB, so tones at 0 dB
    /// S/N and under speech or music are caught, at the cost of some false digits on
    /// speech and music (see the README's figures).
    Noisy,
}

impl Profile {
    /// Every profile, in the order the README lists them.
    pub const ALL: [Profile; 3] = [Profile::Default, Profile::Strict, Profile::Noisy];

    /// The profile's name as the CLI and the settings spell it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Strict => "strict",
            Profile::Noisy => "noisy",
        }
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A profile name that is not one of [`Profile::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown detector profile `{0}` (expected default, strict or noisy)")]
pub struct UnknownProfile(pub String);

impl std::str::FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownProfile(s.to_string()))
    }
}

impl Config {
    /// The settings of `profile`.
    pub fn for_profile(profile: Profile) -> Config {
        let default = Config::default();
        match profile {
            Profile::Default => default,
            Profile::Strict => Config {
                max_normal_twist_db: 10.0,
                max_reverse_twist_db: 6.0,
                min_pair_share: 0.8,
                ..default
            },
            Profile::Noisy => Config {
                max_normal_twist_db: 14.0,
                max_reverse_twist_db: 12.0,
                min_pair_share: 0.45,
                ..default
            },
        }
    }
}

/// A configuration value outside its meaningful range.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A field is out of range; names the field and its allowed range.
    #[error("detector setting {field} = {value} is out of range ({range})")]
    OutOfRange {
        /// Field name.
        field: &'static str,
        /// The rejected value.
        value: f32,
        /// Allowed range, human-readable.
        range: &'static str,
    },
}

impl Config {
    fn validate(&self) -> Result<(), ConfigError> {
        let checks: [(&'static str, f32, f32, f32, &'static str); 9] = [
            (
                "min_level_dbm0",
                self.min_level_dbm0,
                -60.0,
                0.0,
                "-60 to 0",
            ),
            (
                "max_normal_twist_db",
                self.max_normal_twist_db,
                0.0,
                20.0,
                "0 to 20",
            ),
            (
                "max_reverse_twist_db",
                self.max_reverse_twist_db,
                0.0,
                20.0,
                "0 to 20",
            ),
            (
                "max_frequency_deviation",
                self.max_frequency_deviation,
                0.005,
                0.05,
                "0.005 to 0.05",
            ),
            ("min_pair_share", self.min_pair_share, 0.0, 1.0, "0 to 1"),
            (
                "min_relative_peak_db",
                self.min_relative_peak_db,
                0.0,
                30.0,
                "0 to 30",
            ),
            (
                "min_harmonic_rejection_db",
                self.min_harmonic_rejection_db,
                0.0,
                60.0,
                "0 to 60",
            ),
            ("min_tone_ms", self.min_tone_ms, 20.0, 60.0, "20 to 60"),
            ("release_ms", self.release_ms, 8.0, 60.0, "8 to 60"),
        ];
        for (field, value, low, high, range) in checks {
            if !(low..=high).contains(&value) {
                return Err(ConfigError::OutOfRange {
                    field,
                    value,
                    range,
                });
            }
        }
        Ok(())
    }
}

/// A digit as reported when it is confirmed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Keypress {
    /// The key.
    pub digit: Digit,
    /// Estimated tone onset, in analysis samples from the start of the stream.
    pub start: f64,
    /// Samples consumed when the digit was reported (the report's position).
    pub detected: u64,
    /// Measured level of the row (low group) tone, dBm0.
    pub low_dbm0: f32,
    /// Measured level of the column (high group) tone, dBm0.
    pub high_dbm0: f32,
}

impl Keypress {
    /// Mean of the two tone levels, dBm0.
    pub fn level_dbm0(&self) -> f32 {
        (self.low_dbm0 + self.high_dbm0) / 2.0
    }
}

/// What the detector reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event {
    /// A digit was confirmed; it is still sounding.
    Pressed(Keypress),
    /// The digit's tones stopped at `end` (estimated release, analysis samples).
    Released {
        /// The press being ended, as reported at confirmation.
        keypress: Keypress,
        /// Estimated release position.
        end: f64,
    },
}

/// A window that holds one valid tone pair.
#[derive(Debug, Clone, Copy)]
struct Qualified {
    digit: Digit,
    /// Magnitude a full block would have for each tone (low, high).
    full_block: [f32; 2],
    levels_dbm0: [f32; 2],
    /// Peak amplitude of each tone.
    peaks: [f32; 2],
    /// Measured frequency of each tone, radians per sample.
    frequencies: [f32; 2],
    /// Share of the window that sound fills.
    fill: f32,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Idle,
    Candidate {
        qualified: Qualified,
        onset: f64,
        last_present_block: u64,
        /// Windows that qualified for this digit since its onset.
        qualified_windows: u32,
        /// Every test but duration passed at the last block: the half-block check may
        /// confirm it.
        ready: bool,
    },
    Active {
        keypress: Keypress,
        full_block: [f32; 2],
        release: Option<f64>,
    },
}

/// Streaming DTMF detector for one channel of 8 kHz samples.
#[derive(Debug, Clone)]
pub struct Detector {
    config: Config,
    bank: Bank,
    /// The newest five blocks of samples, one slot per block (block `b` in slot `b % 5`).
    recent: [f32; WINDOW_LEN],
    block_fill: usize,
    history: [BlockResult; HISTORY_BLOCKS],
    /// Blocks analysed since the start of the stream.
    blocks_done: u64,
    state: State,
    /// Smallest window power `|W|^2` a tone may show: 0.4 of a tone at
    /// `min_level_dbm0` (deviation can cost up to ~4 dB before correction).
    min_window_power: f32,
    min_relative_peak: f32,
    max_harmonic_ratio: f32,
    min_tone_samples: f64,
    release_samples: f64,
}

impl Detector {
    /// Builds a detector, checking the configuration.
    pub fn new(config: Config) -> Result<Detector, ConfigError> {
        config.validate()?;
        let frequencies = [ROW_HZ, COLUMN_HZ].concat();
        let frequencies: [f32; LANES] = std::array::from_fn(|k| frequencies[k]);
        let ms_to_samples = |ms: f32| f64::from(ms) * f64::from(ANALYSIS_RATE) / 1000.0;
        let floor = level::dbm0_to_peak(config.min_level_dbm0) * WINDOW_LEN as f32 / 2.0;
        Ok(Detector {
            min_window_power: 0.4 * floor * floor,
            min_relative_peak: 10f32.powf(config.min_relative_peak_db / 10.0),
            max_harmonic_ratio: 10f32.powf(-config.min_harmonic_rejection_db / 20.0),
            min_tone_samples: ms_to_samples(config.min_tone_ms),
            release_samples: ms_to_samples(config.release_ms),
            config,
            bank: Bank::new(frequencies, ANALYSIS_RATE as f32, BLOCK_LEN),
            recent: [0.0; WINDOW_LEN],
            block_fill: 0,
            history: [BlockResult::default(); HISTORY_BLOCKS],
            blocks_done: 0,
            state: State::Idle,
        })
    }

    /// Samples consumed since the start of the stream (or the last reset).
    pub fn position(&self) -> u64 {
        self.blocks_done * BLOCK_LEN as u64 + self.block_fill as u64
    }

    /// Forgets the stream: positions restart at zero.
    pub fn reset(&mut self) {
        self.bank.reset();
        self.block_fill = 0;
        self.history = [BlockResult::default(); HISTORY_BLOCKS];
        self.blocks_done = 0;
        self.state = State::Idle;
    }

    /// Consumes `samples` (8 kHz, full scale 1.0) and calls `on_event` for each event, in order.
    /// A 4 ms block holding a non-finite sample is read as silence. Allocation-free.
    pub fn process(&mut self, samples: &[f32], on_event: &mut impl FnMut(Event)) {
        let mut rest = samples;
        while !rest.is_empty() {
            // Whole blocks straight from the input go through the bank a batch at a time.
            if self.block_fill == 0 && rest.len() >= goertzel::BATCH * BLOCK_LEN {
                let (batch, tail) = rest.split_at(goertzel::BATCH * BLOCK_LEN);
                let results = self.bank.process_blocks(batch);
                for (block, result) in batch.chunks_exact(BLOCK_LEN).zip(results) {
                    let start = self.slot_start();
                    self.recent[start..start + BLOCK_LEN].copy_from_slice(block);
                    self.check_half_block(on_event);
                    self.analyse_block(result, on_event);
                }
                rest = tail;
                continue;
            }
            let boundary = if self.block_fill < HALF_BLOCK {
                HALF_BLOCK
            } else {
                BLOCK_LEN
            };
            let take = (boundary - self.block_fill).min(rest.len());
            let (head, tail) = rest.split_at(take);
            let start = self.slot_start() + self.block_fill;
            self.recent[start..start + take].copy_from_slice(head);
            self.block_fill += take;
            rest = tail;
            if self.block_fill == HALF_BLOCK {
                self.check_half_block(on_event);
            }
            if self.block_fill == BLOCK_LEN {
                self.block_fill = 0;
                self.analyse_next_block(on_event);
            }
        }
    }

    /// Ends the stream: completes the last partial block with silence, ends a sounding
    /// digit, and resets for a new stream.
    pub fn flush(&mut self, on_event: &mut impl FnMut(Event)) {
        let stream_end = self.position() as f64;
        if self.block_fill > 0 {
            let start = self.slot_start();
            self.recent[start + self.block_fill..start + BLOCK_LEN].fill(0.0);
            self.block_fill = 0;
            self.analyse_next_block(on_event);
        }
        if let State::Active {
            keypress, release, ..
        } = self.state
        {
            let end = release.unwrap_or(stream_end).min(stream_end);
            on_event(Event::Released { keypress, end });
        }
        self.reset();
    }

    /// Analyses the block just completed in `recent`.
    fn analyse_next_block(&mut self, on_event: &mut impl FnMut(Event)) {
        let start = self.slot_start();
        let result = self.bank.process(&self.recent[start..start + BLOCK_LEN]);
        self.analyse_block(result, on_event);
    }

    /// Takes in the bank's `result` for the block just completed in `recent`.
    fn analyse_block(&mut self, mut result: BlockResult, on_event: &mut impl FnMut(Event)) {
        result.energy = self.ac_energy(result.energy);
        self.history[(self.blocks_done % HISTORY_BLOCKS as u64) as usize] = result;
        self.blocks_done += 1;
        // A sounding digit whose tones still hold needs no window test: the common case
        // inside a tone skips the costly part of the analysis.
        if let State::Active {
            keypress,
            full_block,
            release: None,
        } = self.state
            && self.holds(0, keypress.digit, full_block)
            && self.leads_groups(keypress.digit)
        {
            return;
        }
        let qualified = self.qualify_window();
        self.step(qualified, on_event);
    }

    /// The energy of the block just completed in `recent` without its mean: a DC offset
    /// (a cheap sound card, an unbalanced line) is not sound, and left in it would count
    /// against the pair's share of the window.
    fn ac_energy(&self, energy: f32) -> f32 {
        let start = self.slot_start();
        // Eight running sums side by side, so the compiler vectorises them.
        let mut lanes = [0.0f32; 8];
        for chunk in self.recent[start..start + BLOCK_LEN].chunks_exact(8) {
            for (lane, &x) in lanes.iter_mut().zip(chunk) {
                *lane += x;
            }
        }
        let sum: f32 = lanes.iter().sum();
        let dc = sum * sum / BLOCK_LEN as f32;
        if dc.is_finite() {
            (energy - dc).max(0.0)
        } else {
            energy
        }
    }

    /// Whether neither tone of a qualified window carries a second harmonic: speech, song
    /// and animal calls do, DTMF tones do not (Q.23 keeps them 20 dB down). Run once per
    /// confirmation, so its direct correlations cost nothing per sample.
    ///
    /// A low tone's harmonic can fall within two bins of the high tone (1394 Hz next to
    /// 1336 Hz for `2`), where the 20 ms window leaks the high tone strongly. Both tones'
    /// leakage is therefore predicted from their measured amplitude and frequency and
    /// subtracted before the harmonic is judged.
    fn harmonics_clear(&self, qualified: &Qualified) -> bool {
        let [low, high] = qualified.frequencies;
        let [low_tone, high_tone, low_harmonic, high_harmonic] =
            self.window_correlations([low, high, 2.0 * low, 2.0 * high]);
        let tones = [(low, low_tone), (high, high_tone)];
        [(low, low_harmonic), (high, high_harmonic)]
            .into_iter()
            .zip(qualified.peaks)
            .all(|((omega, mut residual), peak)| {
                let harmonic = 2.0 * omega;
                for &(tone, correlation) in &tones {
                    residual -= correlation * dirichlet(tone - harmonic) / WINDOW_LEN as f32;
                }
                let harmonic_peak = 2.0 * residual.norm() / (WINDOW_LEN as f32 * qualified.fill);
                harmonic_peak <= self.max_harmonic_ratio * peak
            })
    }

    /// Where the block being filled lives in `recent`.
    fn slot_start(&self) -> usize {
        (self.blocks_done % WINDOW_BLOCKS as u64) as usize * BLOCK_LEN
    }

    /// The window's correlations with `exp(-j omega n)` for four `omegas`, n = 0 at its
    /// oldest sample, computed directly from the samples (only at confirmation, so
    /// rarely). The four phasor recurrences run side by side: each is a serial chain of
    /// complex products, so one pass over the window overlaps their latencies.
    fn window_correlations(&self, omegas: [f32; 4]) -> [Complex32; 4] {
        let steps = omegas.map(|omega| Complex32::from_polar(1.0, -omega));
        let mut correlations = Correlations4 {
            phasor_re: [1.0; 4],
            phasor_im: [0.0; 4],
            sum_re: [0.0; 4],
            sum_im: [0.0; 4],
            step_re: steps.map(|step| step.re),
            step_im: steps.map(|step| step.im),
        };
        // Oldest block first: after block b the oldest of the window sits in slot (b + 1) % 5.
        let (older, newer) = self.recent.split_at(self.slot_start());
        correlations.add(newer);
        correlations.add(older);
        std::array::from_fn(|k| Complex32::new(correlations.sum_re[k], correlations.sum_im[k]))
    }

    /// The block `ago` blocks before the newest (0 = newest).
    fn block_ago(&self, ago: usize) -> &BlockResult {
        let index = (self.blocks_done - 1 - ago as u64) % HISTORY_BLOCKS as u64;
        &self.history[index as usize]
    }

    /// Blocks of history available.
    fn history_len(&self) -> usize {
        self.blocks_done.min(HISTORY_BLOCKS as u64) as usize
    }

    /// Checks the newest 20 ms window.
    fn qualify_window(&self) -> Option<Qualified> {
        if self.blocks_done < WINDOW_BLOCKS as u64 {
            return None;
        }
        let mut energy = 0.0f32;
        for ago in 0..WINDOW_BLOCKS {
            energy += self.block_ago(ago).energy;
        }
        // By Cauchy-Schwarz no bin of the window exceeds WINDOW_LEN times its energy
        // (the factor 2 covers rounding), so a quieter window fails the level gate of
        // `check_pair` whatever its bins: silence between digits stops here.
        if 2.0 * WINDOW_LEN as f32 * energy < self.min_window_power {
            return None;
        }
        let mut window = [Complex32::new(0.0, 0.0); LANES];
        for ago in 0..WINDOW_BLOCKS {
            for (sum, bin) in window.iter_mut().zip(self.block_ago(ago).bins) {
                *sum += bin;
            }
        }
        self.check_pair(&window, energy)
    }

    /// Frequency offset of `lane` in radians per sample, from the phase advance between
    /// the window's first four blocks and its last four. The lag between the two spans is
    /// taken between their energy centroids rather than assumed to be one block, so a
    /// window that the tone only partly fills (at onset, release, or around a dropout)
    /// reads the offset without bias.
    fn frequency_offset(&self, lane: usize, window: Complex32, lag_blocks: f32) -> f32 {
        let newest = self.block_ago(0).bins[lane];
        let oldest = self.block_ago(WINDOW_BLOCKS - 1).bins[lane];
        let advance = ((window - newest).conj() * (window - oldest)).arg();
        advance / (lag_blocks.max(0.25) * BLOCK_LEN as f32)
    }

    /// Blocks between the energy centroids of the window's first four blocks and its last
    /// four: the lag [`Self::frequency_offset`] divides by.
    fn span_lag_blocks(&self) -> f32 {
        let centroid = |ages: std::ops::Range<usize>| {
            let (mut weighted, mut total) = (0.0f32, 0.0f32);
            for age in ages {
                let energy = self.block_ago(WINDOW_BLOCKS - 1 - age).energy;
                weighted += age as f32 * energy;
                total += energy;
            }
            weighted / total.max(f32::MIN_POSITIVE)
        };
        centroid(1..WINDOW_BLOCKS) - centroid(0..WINDOW_BLOCKS - 1)
    }

    fn check_pair(&self, window: &[Complex32; LANES], energy: f32) -> Option<Qualified> {
        let power = window.map(|w| w.norm_sqr());
        let row = strongest(&power[..4]);
        let column = 4 + strongest(&power[4..]);
        // Cheap gates first: most blocks of speech, music and silence stop here.
        // Tone energy in the window is 2|W|^2/N; deviation can cost up to ~4 dB before correction.
        let pair_energy = 2.0 * (power[row] + power[column]) / WINDOW_LEN as f32;
        if pair_energy < 0.4 * self.config.min_pair_share * energy {
            return None;
        }
        if power[row].min(power[column]) < self.min_window_power {
            return None;
        }
        let stands_out = |best: usize, group: std::ops::Range<usize>| {
            group
                .filter(|&k| k != best)
                .all(|k| power[best] >= self.min_relative_peak * power[k])
        };
        if !stands_out(row, 0..4) || !stands_out(column, 4..8) {
            return None;
        }
        // Frequency offset from the window's phase advance per block.
        let omega = self.bank.omega();
        let fill = self.fill();
        if fill < MIN_FILL {
            return None;
        }
        let lag_blocks = self.span_lag_blocks();
        let mut peaks = [0.0f32; 2];
        let mut offsets = [0.0f32; 2];
        let mut tone_energy = 0.0f32;
        for (slot, lane) in [row, column].into_iter().enumerate() {
            let offset = self.frequency_offset(lane, window[lane], lag_blocks);
            if offset.abs() > self.config.max_frequency_deviation * omega[lane] as f32 {
                return None;
            }
            offsets[slot] = offset;
            // A sine of peak A over n samples sums to A n / 2 and holds A^2 n / 2 of energy.
            let sounding = WINDOW_LEN as f32 * fill;
            peaks[slot] = 2.0 * self.derotated_magnitude(lane, offset) / sounding;
            tone_energy += peaks[slot] * peaks[slot] * sounding / 2.0;
        }
        let levels_dbm0 = peaks.map(level::peak_to_dbm0);
        if levels_dbm0[0].min(levels_dbm0[1]) < self.config.min_level_dbm0 {
            return None;
        }
        let twist = levels_dbm0[1] - levels_dbm0[0];
        if twist < -self.config.max_normal_twist_db || twist > self.config.max_reverse_twist_db {
            return None;
        }
        if tone_energy < self.config.min_pair_share * energy {
            return None;
        }
        Some(Qualified {
            digit: Digit::from_position(row, column - 4),
            full_block: peaks.map(|peak| peak * BLOCK_LEN as f32 / 2.0),
            levels_dbm0,
            peaks,
            frequencies: std::array::from_fn(|slot| {
                omega[[row, column][slot]] as f32 + offsets[slot]
            }),
            fill,
        })
    }

    /// Window magnitude of `lane` after undoing a frequency offset of `offset` rad/sample.
    fn derotated_magnitude(&self, lane: usize, offset: f32) -> f32 {
        // Only the magnitude matters, so the oldest block can keep its phase; each newer
        // block turns back by one more block's advance.
        let step = Complex32::from_polar(1.0, -offset * BLOCK_LEN as f32);
        let mut turn = Complex32::new(1.0, 0.0);
        let mut sum = Complex32::new(0.0, 0.0);
        for ago in (0..WINDOW_BLOCKS).rev() {
            sum += self.block_ago(ago).bins[lane] * turn;
            turn *= step;
        }
        sum.norm()
    }

    /// Share of the window that sound fills: 1 for steady sound throughout, m/5 for sound
    /// in m of the 5 blocks (after an onset, inside a dropout). Read from block energies,
    /// which a tone pair keeps steady, unlike single-frequency bins that the other tone's
    /// leakage makes wobble.
    fn fill(&self) -> f32 {
        let (mut energies, mut squares) = (0.0f32, 0.0f32);
        for ago in 0..WINDOW_BLOCKS {
            let energy = self.block_ago(ago).energy;
            energies += energy;
            squares += energy * energy;
        }
        if squares > 0.0 {
            energies * energies / (WINDOW_BLOCKS as f32 * squares)
        } else {
            0.0
        }
    }

    /// Share of a full block's magnitude that block `ago` holds, averaged over the pair.
    fn block_fraction(&self, ago: usize, digit: Digit, full_block: [f32; 2]) -> [f32; 2] {
        let bins = &self.block_ago(ago).bins;
        [
            bins[digit.row()].norm() / full_block[0],
            bins[4 + digit.column()].norm() / full_block[1],
        ]
    }

    /// Share of a full block the pair holds in block `ago`: the mean over the two tones,
    /// each capped at 1. Averaging keeps a weak tone's leakage-driven wobble (a 4 ms block
    /// cannot shut out a tone 8 dB stronger 350 Hz away) from breaking up a digit.
    fn mean_fraction(&self, ago: usize, digit: Digit, full_block: [f32; 2]) -> f64 {
        let [low, high] = self.block_fraction(ago, digit, full_block);
        f64::from((low.min(1.0) + high.min(1.0)) / 2.0)
    }

    /// Whether the digit's tones are still the strongest of their groups over the newest
    /// 8 ms (two blocks summed coherently). A 4 ms block alone cannot tell neighbouring
    /// keys apart, so a key change that keeps one tone (`1` to `2`) would otherwise still
    /// look like the old digit; when this fails the full window test runs and can see the
    /// new key.
    fn leads_groups(&self, digit: Digit) -> bool {
        let (newest, previous) = (&self.block_ago(0).bins, &self.block_ago(1).bins);
        let power = |lane: usize| (newest[lane] + previous[lane]).norm_sqr();
        let leads = |best: usize, group: std::ops::Range<usize>| {
            group
                .filter(|&k| k != best)
                .all(|k| power(best) >= power(k))
        };
        leads(digit.row(), 0..4) && leads(4 + digit.column(), 4..8)
    }

    /// Whether block `ago` sounds more like `new` than like `old` in every group where
    /// the two keys differ: where a key change took place, when one tone is shared.
    fn dominates(&self, ago: usize, new: Digit, old: Digit) -> bool {
        let bins = &self.block_ago(ago).bins;
        [(new.row(), old.row()), (4 + new.column(), 4 + old.column())]
            .into_iter()
            .all(|(n, o)| n == o || bins[n].norm() >= bins[o].norm())
    }

    /// Whether block `ago` holds the pair.
    fn holds(&self, ago: usize, digit: Digit, full_block: [f32; 2]) -> bool {
        self.mean_fraction(ago, digit, full_block) >= f64::from(PRESENT_FRACTION)
    }

    /// Whether both tones sound through the newest 8 ms at `CONFIRM_FRACTION` of full
    /// level (summed coherently over two blocks, which sheds the other tone's leakage).
    fn sounds_now(&self, digit: Digit, full_block: [f32; 2]) -> bool {
        let (newest, previous) = (&self.block_ago(0).bins, &self.block_ago(1).bins);
        [digit.row(), 4 + digit.column()]
            .into_iter()
            .zip(full_block)
            .all(|(lane, full)| {
                (newest[lane] + previous[lane]).norm() >= CONFIRM_FRACTION * 2.0 * full
            })
    }

    /// Estimated onset of the tone sounding in the newest block, if it holds the tone.
    /// `previous` is the key that sounded just before without a pause, if any: the walk
    /// back stops where that key still dominates, since a shared tone and the energy
    /// alone would carry the onset back into the previous key.
    fn onset(&self, qualified: &Qualified, previous: Option<Digit>) -> Option<f64> {
        let (digit, full) = (qualified.digit, qualified.full_block);
        let is_new = |ago| previous.is_none_or(|old| self.dominates(ago, digit, old));
        if !self.holds(0, digit, full) || !is_new(0) {
            return None;
        }
        let available = self.history_len();
        let mut first = 0;
        let available = available.min(ONSET_SEARCH_BLOCKS);
        while first + 1 < available && self.holds(first + 1, digit, full) && is_new(first + 1) {
            first += 1;
        }
        let first_end = (self.blocks_done - first as u64) as f64 * BLOCK_LEN as f64;
        let mut covered = self.energy_fraction(first, qualified);
        if first + 1 < available && is_new(first + 1) {
            covered += self.energy_fraction(first + 1, qualified);
        }
        Some(first_end - covered.min(2.0) * BLOCK_LEN as f64)
    }

    /// Share of block `ago` that the qualified pair sounds in, from the block's energy
    /// against a full block of the pair, capped at 1. In a partly filled block a few
    /// milliseconds of tone cannot be told apart by frequency (each tone leaks into the
    /// other's bin), but their energy still measures how long they sounded.
    fn energy_fraction(&self, ago: usize, qualified: &Qualified) -> f64 {
        let [low, high] = qualified.peaks;
        let full = (low * low + high * high) / 2.0 * BLOCK_LEN as f32;
        f64::from((self.block_ago(ago).energy / full).min(1.0))
    }

    /// Estimated release inside the newest block, given it no longer holds the tone.
    fn release_estimate(&self, digit: Digit, full: [f32; 2]) -> f64 {
        let newest_start = (self.blocks_done - 1) as f64 * BLOCK_LEN as f64;
        let before = 1.0 - self.mean_fraction(1, digit, full);
        let after = self.mean_fraction(0, digit, full);
        newest_start + (after - before) * BLOCK_LEN as f64
    }

    fn step(&mut self, qualified: Option<Qualified>, on_event: &mut impl FnMut(Event)) {
        let now_block = self.blocks_done - 1;
        let now = self.blocks_done * BLOCK_LEN as u64;
        match self.state {
            State::Idle => self.start_candidate(qualified, None, on_event),
            State::Candidate {
                qualified: candidate,
                onset,
                last_present_block,
                qualified_windows,
                ..
            } => {
                if qualified.is_some_and(|q| q.digit != candidate.digit) {
                    return self.start_candidate(qualified, Some(candidate.digit), on_event);
                }
                let qualified_windows = qualified_windows + u32::from(qualified.is_some());
                let latest = qualified.unwrap_or(candidate);
                let (digit, full) = (latest.digit, latest.full_block);
                let present = self.holds(0, digit, full);
                let last_present_block = if present {
                    now_block
                } else {
                    last_present_block
                };
                // The pair must have passed the full window test more than once. A window
                // spanning a dropout cannot separate neighbouring keys, so once the pair
                // has qualified repeatedly, two blocks holding it vouch for it.
                let evidence = qualified_windows >= SUSTAINED_WINDOWS
                    && (qualified.is_some() || self.holds(1, digit, full));
                // How far into the newest block the tone reaches: a tone that stopped inside
                // it fills only part of it.
                let sounding_until =
                    now as f64 - (1.0 - self.energy_fraction(0, &latest)) * BLOCK_LEN as f64;
                let long_enough = sounding_until - onset >= self.min_tone_samples;
                // Long enough by the middle of the next block, if the tone goes on.
                let nearly = (now + HALF_BLOCK as u64) as f64 - onset >= self.min_tone_samples;
                let confirmable = evidence
                    && (long_enough || nearly)
                    && self.sounds_now(digit, full)
                    && self.harmonics_clear(&latest);
                if confirmable && long_enough {
                    self.confirm(&latest, onset, now, on_event);
                } else if now_block - last_present_block > CANDIDATE_BRIDGE_BLOCKS {
                    self.state = State::Idle;
                } else {
                    self.state = State::Candidate {
                        qualified: latest,
                        onset,
                        last_present_block,
                        qualified_windows,
                        ready: confirmable,
                    };
                }
            }
            State::Active {
                keypress,
                full_block,
                release,
            } => {
                // A change of key pair is a new digit at once, whatever the gap.
                if let Some(next) = qualified.filter(|q| q.digit != keypress.digit) {
                    let end = self
                        .onset(&next, Some(keypress.digit))
                        .unwrap_or(now as f64)
                        .max(keypress.start);
                    on_event(Event::Released {
                        keypress,
                        end: release.map_or(end, |r| r.min(end)),
                    });
                    return self.start_candidate(qualified, Some(keypress.digit), on_event);
                }
                let full_block = match qualified {
                    Some(q) if q.digit == keypress.digit => q.full_block,
                    _ => full_block,
                };
                if self.holds(0, keypress.digit, full_block) {
                    self.state = State::Active {
                        keypress,
                        full_block,
                        release: None,
                    };
                    return;
                }
                let release =
                    release.unwrap_or_else(|| self.release_estimate(keypress.digit, full_block));
                if now as f64 - release >= self.release_samples {
                    on_event(Event::Released {
                        keypress,
                        end: release,
                    });
                    self.state = State::Idle;
                    self.start_candidate(qualified, None, on_event);
                } else {
                    self.state = State::Active {
                        keypress,
                        full_block,
                        release: Some(release),
                    };
                }
            }
        }
    }

    /// Reports the candidate `qualified` as a digit that began at `onset`, at position
    /// `detected`.
    fn confirm(
        &mut self,
        qualified: &Qualified,
        onset: f64,
        detected: u64,
        on_event: &mut impl FnMut(Event),
    ) {
        let keypress = Keypress {
            digit: qualified.digit,
            start: onset,
            detected,
            low_dbm0: qualified.levels_dbm0[0],
            high_dbm0: qualified.levels_dbm0[1],
        };
        on_event(Event::Pressed(keypress));
        self.state = State::Active {
            keypress,
            full_block: qualified.full_block,
            release: None,
        };
    }

    /// Halfway through a block: confirms a candidate that lacked only duration at the
    /// last block if both its tones still sound in the block's first half and the tone
    /// has now lasted `min_tone_ms`. The tone's reach into the half block comes from its
    /// energy, as at block ends.
    fn check_half_block(&mut self, on_event: &mut impl FnMut(Event)) {
        let State::Candidate {
            qualified,
            onset,
            ready: true,
            ..
        } = self.state
        else {
            return;
        };
        let position = self.blocks_done * BLOCK_LEN as u64 + HALF_BLOCK as u64;
        let start = self.slot_start();
        let half = &self.recent[start..start + HALF_BLOCK];
        let (mut sum, mut energy) = (0.0f32, 0.0f32);
        for &x in half {
            sum += x;
            energy += x * x;
        }
        let energy = energy - sum * sum / HALF_BLOCK as f32;
        let [low, high] = qualified.peaks;
        let full = (low * low + high * high) / 2.0 * HALF_BLOCK as f32;
        let fraction = f64::from((energy / full).clamp(0.0, 1.0));
        let sounding_until = position as f64 - (1.0 - fraction) * HALF_BLOCK as f64;
        if sounding_until - onset < self.min_tone_samples {
            return;
        }
        let sounds = qualified
            .frequencies
            .iter()
            .zip(qualified.peaks)
            .all(|(&omega, peak)| {
                let step = Complex32::from_polar(1.0, -omega);
                let (mut phasor, mut correlation) =
                    (Complex32::new(1.0, 0.0), Complex32::default());
                for &x in half {
                    correlation += phasor * x;
                    phasor *= step;
                }
                correlation.norm() >= PRESENT_FRACTION * peak * HALF_BLOCK as f32 / 2.0
            });
        if sounds {
            self.confirm(&qualified, onset, position, on_event);
        }
    }

    /// Starts a candidate from a qualified window; `previous` is the key that sounded
    /// right before it without a release (see [`Self::onset`]).
    fn start_candidate(
        &mut self,
        qualified: Option<Qualified>,
        previous: Option<Digit>,
        on_event: &mut impl FnMut(Event),
    ) {
        self.state = State::Idle;
        let Some(q) = qualified else { return };
        let Some(onset) = self.onset(&q, previous) else {
            return;
        };
        self.state = State::Candidate {
            qualified: q,
            onset,
            last_present_block: self.blocks_done - 1,
            qualified_windows: 0,
            ready: false,
        };
        // The tone may already be long enough (e.g. after a switch between digits).
        self.step(qualified, on_event);
    }
}

/// Four running correlations `sum x[n] exp(-j omega n)`, split into real and imaginary
/// parts so the compiler keeps the four in one vector register. Each lane performs the
/// same operations, in the same order, as `sum += phasor * x; phasor *= step` on
/// [`Complex32`].
struct Correlations4 {
    phasor_re: [f32; 4],
    phasor_im: [f32; 4],
    sum_re: [f32; 4],
    sum_im: [f32; 4],
    step_re: [f32; 4],
    step_im: [f32; 4],
}

impl Correlations4 {
    /// Continues the four correlations over `samples`.
    #[inline(always)]
    fn add(&mut self, samples: &[f32]) {
        for &x in samples {
            for k in 0..4 {
                let (re, im) = (self.phasor_re[k], self.phasor_im[k]);
                self.sum_re[k] += re * x;
                self.sum_im[k] += im * x;
                self.phasor_re[k] = re * self.step_re[k] - im * self.step_im[k];
                self.phasor_im[k] = im * self.step_re[k] + re * self.step_im[k];
            }
        }
    }
}

/// `sum_{n<N} exp(j delta n)` for the window length N: how a complex tone `delta`
/// radians per sample away from a probe frequency shows in the probe's correlation.
fn dirichlet(delta: f32) -> Complex32 {
    let n = WINDOW_LEN as f32;
    let half = delta / 2.0;
    let magnitude = if half.sin().abs() < 1e-6 {
        n
    } else {
        (n * half).sin() / half.sin()
    };
    Complex32::from_polar(magnitude, half * (n - 1.0))
}

/// Index of the largest value.
fn strongest(values: &[f32]) -> usize {
    let mut best = 0;
    for (k, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = k;
        }
    }
    best
}

/// Keeps the goertzel module's lane count and the keypad in step.
const _: () = assert!(goertzel::LANES == ROW_HZ.len() + COLUMN_HZ.len());
