//! The detector's state machine: blocks in, candidates, confirmed digits and releases
//! out. The window tests it asks for live in [`super::analysis`].

use num_complex::Complex32;

use super::analysis::{Qualified, magnitude};
use super::goertzel::{self, Bank, BlockResult, LANES};
use super::trace::{Block, Rejection, Verdict};
use super::{
    ANALYSIS_RATE, BLOCK_LEN, CANDIDATE_BRIDGE_BLOCKS, CONFIRM_FRACTION, Config, ConfigError,
    Event, HALF_BLOCK, HISTORY_BLOCKS, Keypress, ONSET_SEARCH_BLOCKS, PRESENT_FRACTION,
    RECENT_BLOCKS, SUSTAINED_WINDOWS, WINDOW_BLOCKS, WINDOW_LEN,
};
use crate::dsp::keypad::{COLUMN_HZ, Digit, ROW_HZ};
use crate::dsp::level;

/// Most blocks left unanalysed before the bank's phase reference is stepped past all but
/// the newest of them (4 s): catching up after a long quiet stretch then never steps it
/// through more than this at once.
const MAX_DEFERRED_BLOCKS: u64 = 1_024;

/// Where block `block` starts in a detector's `recent`: its slot, which it holds while
/// it is one of the newest [`RECENT_BLOCKS`] (or the block being filled).
fn recent_start(block: u64) -> usize {
    (block % RECENT_BLOCKS as u64) as usize * BLOCK_LEN
}

/// The samples of block `block` in a detector's `recent` (see [`recent_start`]).
pub(super) fn recent_block(recent: &[f32; RECENT_BLOCKS * BLOCK_LEN], block: u64) -> &[f32] {
    let start = recent_start(block);
    &recent[start..start + BLOCK_LEN]
}

/// Where block `block`'s results sit in a detector's `history` and `energies`.
fn history_slot(block: u64) -> usize {
    (block % HISTORY_BLOCKS as u64) as usize
}

/// Slack for rounding on the shortcut of [`Detector::holds`]: a power this much above
/// the floor is above it whatever the rounding of square root and division.
const HOLDS_POWER_MARGIN: f32 = 1.001;

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
    pub(super) config: Config,
    pub(super) bank: Bank,
    /// The newest blocks of samples, one slot per block (block `b` in slot
    /// `b % RECENT_BLOCKS`).
    pub(super) recent: [f32; RECENT_BLOCKS * BLOCK_LEN],
    block_fill: usize,
    history: [BlockResult; HISTORY_BLOCKS],
    /// Each history block's energy again, in half a cache line: the window's level gate
    /// reads only these, and between keys it is all the window test reads.
    energies: [f32; HISTORY_BLOCKS],
    /// Blocks completed since the start of the stream.
    pub(super) blocks_done: u64,
    /// The newest completed blocks whose bins the bank has not computed yet: on a quiet
    /// line the idle detector needs only block energies (see [`Self::defer_block`]).
    /// The bank's phase reference stands at the first of them.
    deferred: u64,
    state: State,
    /// What became of the newest block's window (for observers, see
    /// [`Detector::process_observed`]).
    verdict: Verdict,
    /// Smallest window power `|W|^2` a tone may show: 0.4 of a tone at
    /// `min_level_dbm0` (deviation can cost up to ~4 dB before correction).
    pub(super) min_window_power: f32,
    pub(super) min_relative_peak: f32,
    pub(super) max_harmonic_ratio: f32,
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
            recent: [0.0; RECENT_BLOCKS * BLOCK_LEN],
            block_fill: 0,
            history: [BlockResult::default(); HISTORY_BLOCKS],
            energies: [0.0; HISTORY_BLOCKS],
            blocks_done: 0,
            deferred: 0,
            state: State::Idle,
            verdict: Verdict::Nothing,
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
        self.energies = [0.0; HISTORY_BLOCKS];
        self.blocks_done = 0;
        self.deferred = 0;
        self.state = State::Idle;
        self.verdict = Verdict::Nothing;
    }

    /// Consumes `samples` (8 kHz, full scale 1.0) and calls `on_event` for each event, in order.
    /// A 4 ms block holding a non-finite sample is read as silence. Allocation-free.
    pub fn process(&mut self, samples: &[f32], on_event: &mut impl FnMut(Event)) {
        self.process_with(samples, on_event, None::<&mut fn(&Block)>);
    }

    /// [`Self::process`], also calling `on_block` with what the detector saw in each
    /// block it completes (its tone powers, energy and the window's [`Verdict`]), in
    /// order, before the events of the next block. Allocation-free; the events are those
    /// of [`Self::process`].
    pub fn process_observed(
        &mut self,
        samples: &[f32],
        on_event: &mut impl FnMut(Event),
        on_block: &mut impl FnMut(&Block),
    ) {
        self.process_with(samples, on_event, Some(on_block));
    }

    /// [`Self::process`], with an observer of each block when `on_block` is given. Without
    /// one the block summary is never computed: summing the window for it costs about a
    /// sixth of the detector's time, which an empty closure would not save (the compiler
    /// keeps the call).
    pub(crate) fn process_with(
        &mut self,
        samples: &[f32],
        on_event: &mut impl FnMut(Event),
        mut on_block: Option<&mut impl FnMut(&Block)>,
    ) {
        let mut rest = samples;
        while !rest.is_empty() {
            let missing = BLOCK_LEN - self.block_fill;
            if rest.len() < missing {
                self.add_to_block(rest, on_event);
                return;
            }
            if on_block.is_none() && self.idle_on_a_quiet_line() {
                // A block at a time, its bins left for later.
                let (head, tail) = rest.split_at(missing);
                rest = tail;
                // Summed from the input where it holds the whole block: read back from
                // `recent` right after the copy, the loads would wait on the stores.
                let (energy, sum) = if self.block_fill == 0 {
                    self.store_block(head);
                    goertzel::energy_and_sum(head)
                } else {
                    self.add_to_block(head, on_event);
                    goertzel::energy_and_sum(recent_block(&self.recent, self.blocks_done))
                };
                self.defer_block(energy, sum, on_event);
                continue;
            }
            self.catch_up();
            // The block being filled, then the whole blocks that follow it in the input:
            // through the bank a batch at a time.
            let whole = ((rest.len() - missing) / BLOCK_LEN).min(goertzel::BATCH - 1);
            let (head, tail) = rest.split_at(missing);
            let (following, tail) = tail.split_at(whole * BLOCK_LEN);
            rest = tail;
            let head_is_block = self.block_fill == 0;
            if !head_is_block {
                self.add_to_block(head, on_event);
            }
            let first = if head_is_block {
                head
            } else {
                recent_block(&self.recent, self.blocks_done)
            };
            let mut blocks = [first; goertzel::BATCH];
            for (block, samples) in blocks[1..]
                .iter_mut()
                .zip(following.chunks_exact(BLOCK_LEN))
            {
                *block = samples;
            }
            let mut results = [BlockResult::default(); goertzel::BATCH];
            self.bank.process_each(&blocks[..1 + whole], &mut results);
            let mut results = results[..1 + whole].iter();
            if !head_is_block {
                // Already in `recent`, its half block checked.
                let result = results.next().expect("a result per block");
                self.finish_block(*result, on_event, &mut on_block);
            }
            let stored = head_is_block.then_some(head).into_iter();
            for (block, result) in stored.chain(following.chunks_exact(BLOCK_LEN)).zip(results) {
                self.store_block(block);
                self.check_half_block(on_event);
                self.finish_block(*result, on_event, &mut on_block);
            }
        }
    }

    /// Copies `samples` into the block being filled, which they do not overfill, checking
    /// the half block when they reach its middle.
    fn add_to_block(&mut self, samples: &[f32], on_event: &mut impl FnMut(Event)) {
        let start = self.slot_start() + self.block_fill;
        self.recent[start..start + samples.len()].copy_from_slice(samples);
        let before = self.block_fill;
        self.block_fill += samples.len();
        if before < HALF_BLOCK && self.block_fill >= HALF_BLOCK {
            self.check_half_block(on_event);
        }
    }

    /// Takes in the bank's `result` for the block just completed in `recent`, and shows
    /// it to the observer.
    fn finish_block(
        &mut self,
        result: BlockResult,
        on_event: &mut impl FnMut(Event),
        on_block: &mut Option<&mut impl FnMut(&Block)>,
    ) {
        self.block_fill = 0;
        self.analyse_block(result, on_event);
        self.observe(on_block);
    }

    /// Shows the newest block to `on_block`, if there is an observer.
    fn observe(&self, on_block: &mut Option<&mut impl FnMut(&Block)>) {
        if let Some(on_block) = on_block {
            on_block(&self.newest_block());
        }
    }

    /// What the detector saw in the newest block: the tone powers of the window ending
    /// with it (its blocks' bins summed coherently, as the window test sums them: a
    /// 4 ms block alone cannot tell neighbouring keypad tones apart), scaled to one
    /// block.
    fn newest_block(&self) -> Block {
        let blocks = (self.blocks_done as usize).min(WINDOW_BLOCKS);
        let mut window = [Complex32::new(0.0, 0.0); LANES];
        for ago in 0..blocks {
            for (sum, bin) in window.iter_mut().zip(self.block_ago(ago).bins) {
                *sum += bin;
            }
        }
        let per_block = 1.0 / (WINDOW_BLOCKS * WINDOW_BLOCKS) as f32;
        Block {
            end: (self.blocks_done * BLOCK_LEN as u64) as f64,
            tone_power: window.map(|w| w.norm_sqr() * per_block),
            energy: self.block_ago(0).energy,
            verdict: self.verdict,
        }
    }

    /// Whether the detector is idle and the newest window below the level gate: the
    /// next block can be taken in by [`Self::defer_block`]. (While a window passes the
    /// gate, blocks go through the bank a batch at a time.)
    fn idle_on_a_quiet_line(&self) -> bool {
        matches!(self.state, State::Idle) && self.window_energy().is_none()
    }

    /// Takes in the block just completed in `recent` (its `energy` and `sum` as the bank
    /// computes them) without the bank's bins, while the detector is idle on a quiet
    /// line: only its energy, which is all the window's level gate reads.
    /// When the window passes the gate (a tone may be starting), the bins of this and
    /// the deferred blocks before it are computed after all and the window is tested as
    /// usual. Below the gate the window test's answer is known (nothing), and an idle
    /// detector that hears nothing stays idle: the events are those of analysing every
    /// block, bit for bit.
    fn defer_block(&mut self, energy: f32, sum: f32, on_event: &mut impl FnMut(Event)) {
        // As the bank reports it: a non-finite block is silence.
        let energy = if energy.is_finite() {
            Self::ac_energy(energy, sum)
        } else {
            0.0
        };
        self.energies[history_slot(self.blocks_done)] = energy;
        self.blocks_done += 1;
        self.block_fill = 0;
        self.deferred += 1;
        if self.deferred == MAX_DEFERRED_BLOCKS {
            let kept = ONSET_SEARCH_BLOCKS as u64;
            self.bank.skip(self.deferred - kept);
            self.deferred = kept;
        }
        if self.window_energy().is_some() {
            self.catch_up();
            self.judge_block(on_event);
        } else {
            self.verdict = Verdict::Nothing;
        }
    }

    /// Computes the bins of the deferred blocks (see [`Self::defer_block`]) the history
    /// can still be asked about, from their samples in `recent`, and brings the bank's
    /// phase reference up to date: the history is then what analysing every block would
    /// have left for every block the tests read.
    fn catch_up(&mut self) {
        if self.deferred == 0 {
            return;
        }
        // The tests read no further back than the onset search.
        let needed = self.deferred.min(ONSET_SEARCH_BLOCKS as u64);
        self.bank.skip(self.deferred - needed);
        let mut first = self.blocks_done - needed;
        while first < self.blocks_done {
            let count = (self.blocks_done - first).min(goertzel::BATCH as u64) as usize;
            let mut blocks = [&self.recent[..0]; goertzel::BATCH];
            for (block, samples) in (first..).zip(&mut blocks[..count]) {
                *samples = recent_block(&self.recent, block);
            }
            let mut results = [BlockResult::default(); goertzel::BATCH];
            self.bank.process_each(&blocks[..count], &mut results);
            for (block, mut result) in (first..).zip(results.into_iter().take(count)) {
                result.energy = Self::ac_energy(result.energy, result.sum);
                let slot = history_slot(block);
                debug_assert_eq!(result.energy.to_bits(), self.energies[slot].to_bits());
                self.history[slot] = result;
            }
            first += count as u64;
        }
        self.deferred = 0;
    }

    /// Ends the stream: completes the last partial block with silence, ends a sounding
    /// digit, and resets for a new stream.
    pub fn flush(&mut self, on_event: &mut impl FnMut(Event)) {
        self.catch_up();
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
        let result = self
            .bank
            .process(recent_block(&self.recent, self.blocks_done));
        self.analyse_block(result, on_event);
    }

    /// Takes in the bank's `result` for the block just completed in `recent`.
    fn analyse_block(&mut self, mut result: BlockResult, on_event: &mut impl FnMut(Event)) {
        result.energy = Self::ac_energy(result.energy, result.sum);
        let slot = history_slot(self.blocks_done);
        self.history[slot] = result;
        self.energies[slot] = result.energy;
        self.blocks_done += 1;
        self.judge_block(on_event);
    }

    /// Runs the tests on the newest block, whose results are in the history, and moves
    /// the state machine on.
    fn judge_block(&mut self, on_event: &mut impl FnMut(Event)) {
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
            self.verdict = Verdict::Holding(keypress.digit);
            return;
        }
        let window = self.qualify_window();
        self.verdict = match window {
            Ok(qualified) => Verdict::Qualified(qualified.digit),
            Err(verdict) => verdict,
        };
        self.step(window.ok(), on_event);
    }

    /// The block's energy without its mean: a DC offset (a cheap sound card, an
    /// unbalanced line) is not sound, and left in it would count against the pair's share
    /// of the window. The bank sums the samples in the same pass as their squares.
    fn ac_energy(energy: f32, sum: f32) -> f32 {
        let dc = sum * sum / BLOCK_LEN as f32;
        if dc.is_finite() {
            (energy - dc).max(0.0)
        } else {
            energy
        }
    }

    /// Copies a whole block into its slot of `recent` (a copy of known length, which the
    /// compiler inlines rather than calling `memmove`).
    fn store_block(&mut self, block: &[f32]) {
        let start = self.slot_start();
        let slot: &mut [f32; BLOCK_LEN] = (&mut self.recent[start..start + BLOCK_LEN])
            .try_into()
            .expect("a slot is one block");
        *slot = block.try_into().expect("a whole block");
    }

    /// Where the block being filled lives in `recent`.
    pub(super) fn slot_start(&self) -> usize {
        recent_start(self.blocks_done)
    }

    /// The block `ago` blocks before the newest (0 = newest).
    pub(super) fn block_ago(&self, ago: usize) -> &BlockResult {
        &self.history[history_slot(self.blocks_done - 1 - ago as u64)]
    }

    /// The energy of block `ago` blocks before the newest (as [`Self::block_ago`] has it).
    pub(super) fn energy_ago(&self, ago: usize) -> f32 {
        self.energies[history_slot(self.blocks_done - 1 - ago as u64)]
    }

    /// Blocks of history available.
    fn history_len(&self) -> usize {
        self.blocks_done.min(HISTORY_BLOCKS as u64) as usize
    }

    /// Share of a full block's magnitude that block `ago` holds, averaged over the pair.
    fn block_fraction(&self, ago: usize, digit: Digit, full_block: [f32; 2]) -> [f32; 2] {
        let bins = &self.block_ago(ago).bins;
        [
            magnitude(bins[digit.row()]) / full_block[0],
            magnitude(bins[4 + digit.column()]) / full_block[1],
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
            .all(|(n, o)| n == o || bins[n].norm_sqr() >= bins[o].norm_sqr())
    }

    /// Whether block `ago` holds the pair.
    fn holds(&self, ago: usize, digit: Digit, full_block: [f32; 2]) -> bool {
        // Each tone at `PRESENT_FRACTION` of a full block or more makes their mean so too:
        // inside a tone (every block of a sounding digit asks) the square roots and
        // divisions of the mean are skipped. Compared on powers, with a margin above their
        // rounding, so this never says yes where the mean would say no.
        let bins = &self.block_ago(ago).bins;
        let floor = |full: f32| {
            let present = PRESENT_FRACTION * full;
            present * present * HOLDS_POWER_MARGIN
        };
        if bins[digit.row()].norm_sqr() >= floor(full_block[0])
            && bins[4 + digit.column()].norm_sqr() >= floor(full_block[1])
        {
            return true;
        }
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
                magnitude(newest[lane] + previous[lane]) >= CONFIRM_FRACTION * 2.0 * full
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
                    && self.harmonics_clear_noted(&latest);
                if confirmable && long_enough {
                    self.confirm(&latest, onset, now, on_event);
                } else if now_block - last_present_block > CANDIDATE_BRIDGE_BLOCKS {
                    self.state = State::Idle;
                    self.verdict = Verdict::Rejected {
                        digit,
                        reason: Rejection::TooShort,
                    };
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

    /// [`Self::harmonics_clear`], noting a failure as the block's verdict.
    fn harmonics_clear_noted(&mut self, qualified: &Qualified) -> bool {
        let clear = self.harmonics_clear(qualified);
        if !clear {
            self.verdict = Verdict::Rejected {
                digit: qualified.digit,
                reason: Rejection::Harmonics,
            };
        }
        clear
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::SampleRate;
    use crate::dsp::tone::{Cadence, render_digits};

    fn keyed(digits: &str, on_ms: u64, off_ms: u64) -> Vec<f32> {
        let digits: Vec<Digit> = digits
            .chars()
            .map(|c| Digit::from_char(c).unwrap())
            .collect();
        let cadence = Cadence {
            on: Duration::from_millis(on_ms),
            off: Duration::from_millis(off_ms),
            level_dbm0: -10.0,
        };
        let mut samples = vec![0.0; 800];
        samples.extend(render_digits(&digits, cadence, SampleRate::HZ_8000).unwrap());
        samples
    }

    fn events(samples: &[f32]) -> Vec<Event> {
        let mut detector = Detector::new(Config::default()).unwrap();
        let mut events = Vec::new();
        detector.process(samples, &mut |event| events.push(event));
        detector.flush(&mut |event| events.push(event));
        events
    }

    #[test]
    fn a_key_is_pressed_at_its_onset_and_released_at_its_end() {
        let events = events(&keyed("5", 100, 100));
        let [Event::Pressed(pressed), Event::Released { keypress, end }] = events[..] else {
            panic!("{events:?}");
        };
        assert_eq!(pressed, keypress);
        assert_eq!(pressed.digit.to_string(), "5");
        assert!((pressed.start - 800.0).abs() < 8.0, "{}", pressed.start);
        assert!((end - 1_600.0).abs() < 8.0, "{end}");
        let latency = pressed.detected as f64 - pressed.start;
        assert!((204.0..=224.0).contains(&latency), "{latency}");
        assert!((pressed.level_dbm0() + 10.0).abs() < 0.5);
    }

    #[test]
    fn keys_separated_by_a_pause_are_two_digits_and_a_short_tone_none() {
        let digits: Vec<String> = events(&keyed("19", 60, 60))
            .iter()
            .filter_map(|event| match event {
                Event::Pressed(keypress) => Some(keypress.digit.to_string()),
                Event::Released { .. } => None,
            })
            .collect();
        assert_eq!(digits, ["1", "9"]);
        assert!(events(&keyed("1", 20, 60)).is_empty());
    }

    #[test]
    fn silence_gives_nothing_and_positions_count_samples() {
        let mut detector = Detector::new(Config::default()).unwrap();
        detector.process(&[0.0; 1_000], &mut |event| panic!("{event:?}"));
        assert_eq!(detector.position(), 1_000);
        detector.reset();
        assert_eq!(detector.position(), 0);
    }

    fn observed(samples: &[f32]) -> (Vec<Event>, Vec<Block>) {
        let mut detector = Detector::new(Config::default()).unwrap();
        let (mut events, mut blocks) = (Vec::new(), Vec::new());
        detector.process_observed(samples, &mut |e| events.push(e), &mut |b| blocks.push(*b));
        (events, blocks)
    }

    #[test]
    fn observing_changes_no_event_and_sees_every_block() {
        let samples = keyed("58", 70, 70);
        let (seen, blocks) = observed(&samples);
        let mut plain = Vec::new();
        Detector::new(Config::default())
            .unwrap()
            .process(&samples, &mut |e| plain.push(e));
        assert_eq!(seen, plain);
        assert_eq!(blocks.len(), samples.len() / BLOCK_LEN);
        assert_eq!(blocks[9].end, 320.0);
        let qualified = |d: char| {
            blocks
                .iter()
                .any(|b| b.verdict == Verdict::Qualified(Digit::from_char(d).unwrap()))
        };
        assert!(qualified('5') && qualified('8'));
    }

    #[test]
    fn a_pair_out_of_twist_is_rejected_for_it() {
        use crate::dsp::tone::{Oscillator, Tone};
        let digit = Digit::from_char('6').unwrap();
        let tone = Tone::dtmf(digit, -12.0).with_twist(14.0);
        let mut samples = vec![0.0; 800];
        Oscillator::new(&tone, SampleRate::HZ_8000)
            .unwrap()
            .process(&mut samples);
        let (events, blocks) = observed(&samples);
        assert!(events.is_empty(), "{events:?}");
        let twist = Verdict::Rejected {
            digit,
            reason: Rejection::Twist,
        };
        assert!(blocks.iter().any(|b| b.verdict == twist), "{blocks:?}");
    }

    #[test]
    fn holds_answers_as_the_mean_fraction_does() {
        let samples = keyed("1470#", 60, 40);
        let mut detector = Detector::new(Config::default()).unwrap();
        let mut checked = 0;
        for block in samples.chunks_exact(BLOCK_LEN) {
            detector.process(block, &mut |_| {});
            for digit in "123A456B789C*0#D"
                .chars()
                .map(|c| Digit::from_char(c).unwrap())
            {
                for full in [0.5f32, 1.0, 2.0, 4.0, 8.0] {
                    let full_block = [full, full * 1.3];
                    let mean = detector.mean_fraction(0, digit, full_block);
                    assert_eq!(
                        detector.holds(0, digit, full_block),
                        mean >= f64::from(PRESENT_FRACTION),
                        "{digit} {full_block:?}: mean {mean}"
                    );
                    checked += usize::from(mean >= f64::from(PRESENT_FRACTION));
                }
            }
        }
        assert!(checked > 100, "too few blocks holding a pair: {checked}");
    }

    #[test]
    fn an_invalid_config_is_refused() {
        let config = Config {
            min_tone_ms: 5.0,
            ..Config::default()
        };
        assert!(Detector::new(config).is_err());
    }

    /// Keyed digits in seeded noise at `noise_peak` (uniform), with bursts of noise loud
    /// enough to open the level gate without a tone (one after more than
    /// `MAX_DEFERRED_BLOCKS` quiet blocks), and a NaN sample.
    fn noisy_line(noise_peak: f32) -> Vec<f32> {
        let mut samples = keyed("1A*", 70, 300);
        // Long enough a quiet stretch for the bank's phase to be stepped on early.
        samples.extend(std::iter::repeat_n(0.0, 40_000));
        samples.extend(keyed("50", 45, 45));
        let mut seed = 0x1234_5678_u32;
        for (n, x) in samples.iter_mut().enumerate() {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = ((seed >> 8) as f32 / (1u32 << 23) as f32 - 1.0) * noise_peak;
            let burst = if (3_000..3_400).contains(&n) || (45_000..45_400).contains(&n) {
                40.0
            } else {
                1.0
            };
            *x += noise * burst;
        }
        samples[5_000] = f32::NAN;
        samples
    }

    #[test]
    fn leaving_quiet_blocks_unanalysed_changes_nothing_a_test_reads() {
        for noise_peak in [0.0, 0.002, 0.006, 0.01] {
            let samples = noisy_line(noise_peak);
            // Every block analysed (an observer watches throughout) against quiet blocks
            // left for later, fed in odd chunks, with an observer from after the second
            // burst on.
            let mut analysed = Detector::new(Config::default()).unwrap();
            let (mut all_events, mut all_blocks) = (Vec::new(), Vec::new());
            analysed.process_observed(&samples, &mut |e| all_events.push(e), &mut |b| {
                all_blocks.push(*b)
            });
            let mut lazy = Detector::new(Config::default()).unwrap();
            let (mut events, mut blocks) = (Vec::new(), Vec::new());
            let watched_from = 46_000;
            for chunk in samples[..watched_from].chunks(77) {
                lazy.process(chunk, &mut |e| events.push(e));
            }
            lazy.process_observed(
                &samples[watched_from..],
                &mut |e| events.push(e),
                &mut |b| blocks.push(*b),
            );
            assert_eq!(events, all_events, "noise {noise_peak}");
            assert!(
                !events.is_empty(),
                "noise {noise_peak}: the digits are found"
            );
            // What the observer sees from then on reads the history's bins of the
            // blocks before: they were computed late, and the same.
            let observed_from = all_blocks.len() - blocks.len();
            assert_eq!(blocks, all_blocks[observed_from..], "noise {noise_peak}");
            analysed.flush(&mut |e| all_events.push(e));
            lazy.flush(&mut |e| events.push(e));
            assert_eq!(events, all_events, "noise {noise_peak}");
        }
    }
}
