//! The media-operation engine of one call: the queue, recognize timers, continuous
//! recognition, hold and cancel. Pure: it returns [`Action`]s for the session to carry
//! out.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::OperationsConfig;
use crate::api::model::{
    ChoiceResult, DtmfResult, LoadedSource, MAX_SEND_TONES, MAX_TONES, Operation, OperationDetails,
    OperationEvent, OperationEventType, OperationMeta, RecognitionType, RecognizeInput,
    RecognizeOptions, ResultInformation, SourceFailure, SpeechResult, Tone,
};
use crate::player::{OperationId, Prompt};
use crate::session::Error;
use crate::session::speech::{Grammar, Heard, Listener, SpeechJob, SpeechOutcome};
use tonegate_dsp::SampleRate;
use tonegate_dsp::dsp::Digit;

/// Audio to play, for an operation or the client; the session makes the player item.
#[derive(Debug, Clone)]
pub(crate) enum Audio {
    /// A prompt (any rate; the session converts it).
    Prompt(Prompt),
    /// DTMF tones at the session's [`Config::cadence`](crate::session::Config::cadence).
    Tones(Vec<Digit>),
}

/// What the engine asks the session to do.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// Report this event.
    Emit(OperationEvent),
    /// Stop and flush all outbound audio (StopAudio / clear).
    StopAudio,
    /// Queue audio of operation `id`; report its start, end and cancellation back.
    Enqueue {
        id: OperationId,
        audio: Audio,
        looped: bool,
    },
    /// Hand this utterance to the speech recogniser.
    Recognize(SpeechJob),
}

#[derive(Debug)]
enum Phase {
    /// The prompt plays; no timer yet.
    Prompting,
    /// Collecting tones (or waiting for speech); fails or completes at `deadline`.
    Collecting { deadline: Duration },
    /// The caller is speaking; the utterance ends on silence.
    Speaking,
    /// The utterance is with the recogniser.
    Recognizing,
}

#[derive(Debug)]
struct Recognize {
    prompt: Option<Prompt>,
    options: RecognizeOptions,
    phase: Phase,
    tones: Vec<Tone>,
    /// The prompt's audio is still in the player.
    prompt_outstanding: bool,
    /// Voice activity and the utterance (speech input types, once audio came).
    listener: Option<Listener>,
}

impl Recognize {
    /// Whether caller audio matters now: during an interruptible prompt, while waiting
    /// for a first answer, and while the caller speaks.
    fn listening(&self) -> bool {
        self.options.input.listens()
            && match self.phase {
                Phase::Prompting => self.options.interrupt_prompt,
                Phase::Collecting { .. } => self.tones.is_empty(),
                Phase::Speaking => true,
                Phase::Recognizing => false,
            }
    }

    /// What the recogniser listens for.
    fn grammar(&self) -> Grammar {
        match self.options.input {
            RecognizeInput::Choices => Grammar::Choices(
                self.options
                    .choices
                    .iter()
                    .map(|c| c.phrases.clone())
                    .collect(),
            ),
            _ => Grammar::FreeText,
        }
    }
}

#[derive(Debug)]
enum Kind {
    Play {
        prompt: Prompt,
        looped: bool,
        targeted: bool,
    },
    Recognize(Box<Recognize>),
    SendDtmf {
        tones: Vec<Tone>,
    },
    Hold {
        target: Option<String>,
        music: Option<Prompt>,
    },
}

impl Kind {
    fn exclusive(&self) -> bool {
        match self {
            Kind::Play { targeted, .. } => *targeted,
            Kind::Recognize(_) => false,
            Kind::SendDtmf { .. } | Kind::Hold { .. } => true,
        }
    }
}

#[derive(Debug)]
struct Op {
    audio_id: OperationId,
    meta: OperationMeta,
    kind: Kind,
    started: bool,
}

/// The media-operation engine of one call. Pure: it returns [`Action`]s for the
/// session to carry out.
#[derive(Debug)]
pub(crate) struct Operations {
    config: OperationsConfig,
    /// Front = running (if `started`).
    queue: VecDeque<Op>,
    /// Continuous DTMF targets (`None` = everyone), with the start request's meta.
    continuous: Vec<(Option<String>, OperationMeta)>,
    tone_sequence: u64,
    buffer: VecDeque<(Tone, Option<Arc<str>>)>,
    actions: VecDeque<Action>,
    next_id: u64,
    ended: bool,
}

/// The canceled event of `op` when it is canceled (none for a hold, which ends silently).
fn canceled(op: &Op) -> Option<OperationEvent> {
    let event = match op.kind {
        Kind::Play { .. } => OperationEventType::PlayCanceled,
        Kind::Recognize(_) => OperationEventType::RecognizeCanceled,
        Kind::SendDtmf { .. } => OperationEventType::SendDtmfTonesFailed,
        Kind::Hold { .. } => return None,
    };
    Some(OperationEvent::new(
        event,
        &op.meta,
        ResultInformation::canceled(),
    ))
}

/// Checks the ranges of the spec (the API layer checks them too, to name the field).
fn check_options(options: &RecognizeOptions) -> Result<(), Error> {
    if options.initial_silence_timeout > Duration::from_secs(300) {
        return Err(Error::InvalidArgument("initialSilenceTimeoutInSeconds"));
    }
    if options.inter_tone_timeout < Duration::from_secs(1)
        || options.inter_tone_timeout > Duration::from_secs(60)
    {
        return Err(Error::InvalidArgument("interToneTimeoutInSeconds"));
    }
    if options.max_tones_to_collect == Some(0) {
        return Err(Error::InvalidArgument("maxTonesToCollect"));
    }
    if options.input == RecognizeInput::Choices && options.choices.is_empty() {
        return Err(Error::InvalidArgument("choices"));
    }
    Ok(())
}

/// RecognizeFailed message of speech that matched no choice.
const NOT_MATCHED: &str = "Action failed, speech option not matched.";

/// RecognizeCompleted result of a recognized choice or utterance.
fn matched() -> ResultInformation {
    ResultInformation::new(200, 8545, "Action completed, speech option matched.")
}

/// Whether a digit from `participant` counts for `target`.
fn matches(target: Option<&str>, participant: Option<&str>) -> bool {
    match (target, participant) {
        (Some(t), Some(p)) => {
            let strip = |s: &str| s.strip_prefix("4:").unwrap_or(s).to_owned();
            t == p || strip(t) == strip(p)
        }
        _ => true,
    }
}

fn concat(prompts: Vec<Prompt>) -> Prompt {
    if prompts.len() == 1 {
        return prompts.into_iter().next().expect("one prompt");
    }
    let rate = prompts
        .first()
        .map_or(tonegate_dsp::SampleRate::HZ_8000, Prompt::rate);
    let mut samples = Vec::with_capacity(prompts.iter().map(Prompt::len_samples).sum());
    for p in &prompts {
        if p.rate() == rate {
            samples.extend_from_slice(p.samples());
        } else {
            samples.extend(crate::player::convert_rate(p.samples(), p.rate(), rate));
        }
    }
    Prompt::from_samples(samples, rate)
}

/// Splits sources into prompts or the first failure with its index.
fn collect_sources(sources: Vec<LoadedSource>) -> Result<Vec<Prompt>, (usize, SourceFailure)> {
    sources
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.map_err(|f| (i, f)))
        .collect()
}

impl Operations {
    pub(crate) fn new(config: OperationsConfig) -> Operations {
        Operations {
            config,
            queue: VecDeque::new(),
            continuous: Vec::new(),
            tone_sequence: 0,
            buffer: VecDeque::new(),
            actions: VecDeque::new(),
            next_id: 1,
            ended: false,
        }
    }

    /// The next action for the session.
    pub(crate) fn pop_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    fn emit(&mut self, event: OperationEvent) {
        self.actions.push_back(Action::Emit(event));
    }

    /// Digits waiting for the next recognize.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Takes an operation. Refusals (conflict, bad arguments, queue full) are returned
    /// and have no effect; failures found later are events.
    pub(crate) fn submit(&mut self, now: Duration, operation: Operation) -> Result<(), Error> {
        if self.ended {
            return Err(Error::Ended);
        }
        let (kind, meta, interrupt) = match operation {
            Operation::Play(r) => {
                if r.sources.is_empty() {
                    return Err(Error::InvalidArgument("playSources"));
                }
                self.check_admission(!r.play_to.is_empty())?;
                match collect_sources(r.sources) {
                    Ok(prompts) => (
                        Kind::Play {
                            prompt: concat(prompts),
                            looped: r.looped,
                            targeted: !r.play_to.is_empty(),
                        },
                        r.meta,
                        r.interrupt_call_media_operation,
                    ),
                    Err((index, failure)) => {
                        let mut e = OperationEvent::new(
                            OperationEventType::PlayFailed,
                            &r.meta,
                            failure.result(),
                        );
                        e.details.failed_play_source_index = Some(index);
                        self.emit(e);
                        return Ok(());
                    }
                }
            }
            Operation::Recognize(r) => {
                check_options(&r.options)?;
                self.check_admission(false)?;
                let prompt = match collect_sources(r.prompts) {
                    Ok(p) if p.is_empty() => None,
                    Ok(p) => Some(concat(p)),
                    Err((index, failure)) => {
                        let detail = failure.result().message;
                        let mut e = OperationEvent::new(
                            OperationEventType::RecognizeFailed,
                            &r.meta,
                            ResultInformation::new(
                                500,
                                8511,
                                format!(
                                    "Action failed, encountered failure while trying to play the prompt: {detail}"
                                ),
                            ),
                        );
                        e.details.failed_play_source_index = Some(index);
                        self.emit(e);
                        return Ok(());
                    }
                };
                (
                    Kind::Recognize(Box::new(Recognize {
                        prompt,
                        options: r.options,
                        phase: Phase::Prompting,
                        tones: Vec::new(),
                        prompt_outstanding: false,
                        listener: None,
                    })),
                    r.meta,
                    r.interrupt_call_media_operation,
                )
            }
            Operation::SendDtmfTones(r) => {
                if r.tones.is_empty() || r.tones.len() > MAX_SEND_TONES {
                    return Err(Error::InvalidArgument("tones"));
                }
                self.check_admission(true)?;
                (Kind::SendDtmf { tones: r.tones }, r.meta, false)
            }
            Operation::Hold(r) => {
                self.check_admission(true)?;
                let music = match r.music {
                    None => self.config.hold_music.clone(),
                    Some(Ok(p)) => Some(p),
                    Some(Err(failure)) => {
                        let mut e = OperationEvent::new(
                            OperationEventType::HoldFailed,
                            &r.meta,
                            failure.result(),
                        );
                        e.details.failed_play_source_index = Some(0);
                        self.emit(e);
                        return Ok(());
                    }
                };
                (
                    Kind::Hold {
                        target: r.target_participant,
                        music,
                    },
                    r.meta,
                    false,
                )
            }
            Operation::Unhold(r) => {
                self.unhold(now, r.target_participant.as_deref());
                return Ok(());
            }
            Operation::StartContinuousDtmf(r) => {
                if !self
                    .continuous
                    .iter()
                    .any(|(t, _)| *t == r.target_participant)
                {
                    self.continuous.push((r.target_participant, r.meta));
                }
                return Ok(());
            }
            Operation::StopContinuousDtmf(r) => {
                self.continuous.retain(|(t, _)| *t != r.target_participant);
                self.emit(OperationEvent::new(
                    OperationEventType::ContinuousDtmfRecognitionStopped,
                    &r.meta,
                    ResultInformation::success("Continuous DTMF recognition stopped."),
                ));
                return Ok(());
            }
            Operation::CancelAll => {
                self.cancel_all(true);
                return Ok(());
            }
            // The session carries transcription requests to its transcription; one that
            // reaches the queue is refused rather than queued.
            Operation::Transcription(_) => return Err(Error::InvalidArgument("transcription")),
        };
        let audio_id = OperationId(self.next_id);
        self.next_id += 1;
        let op = Op {
            audio_id,
            meta,
            kind,
            started: false,
        };
        if interrupt {
            let running_hold = self
                .queue
                .front()
                .is_some_and(|o| o.started && matches!(o.kind, Kind::Hold { .. }));
            if running_hold {
                self.queue.insert(1, op);
            } else {
                if self.queue.front().is_some_and(|o| o.started) {
                    let running = self.queue.pop_front().expect("front exists");
                    self.actions.push_back(Action::StopAudio);
                    self.cancel_event(running);
                }
                self.queue.push_front(op);
            }
        } else {
            self.queue.push_back(op);
        }
        self.run_next(now);
        Ok(())
    }

    fn check_admission(&self, exclusive: bool) -> Result<(), Error> {
        if self.queue.len() >= self.config.max_queued {
            return Err(Error::QueueFull);
        }
        if exclusive && self.queue.iter().any(|o| o.kind.exclusive()) {
            return Err(Error::Conflict);
        }
        Ok(())
    }

    /// The canceled event of an operation taken off the queue.
    fn cancel_event(&mut self, op: Op) {
        if let Some(event) = canceled(&op) {
            self.emit(event);
        }
    }

    /// Cancels everything (cancelAllMediaOperations; `stop_audio` false at stream end).
    fn cancel_all(&mut self, stop_audio: bool) {
        if stop_audio {
            self.actions.push_back(Action::StopAudio);
        }
        while let Some(op) = self.queue.pop_front() {
            self.cancel_event(op);
        }
    }

    /// The `sequenceId` of the last ContinuousDtmfRecognitionToneReceived (0: none).
    pub(crate) fn tone_sequence(&self) -> u64 {
        self.tone_sequence
    }

    /// Continues `sequenceId`s after `last` (the call streamed elsewhere before); never
    /// goes back.
    pub(crate) fn resume_tone_sequence(&mut self, last: u64) {
        self.tone_sequence = self.tone_sequence.max(last);
    }

    /// The ids of the queued operations (the running one first).
    pub(crate) fn queued(&self) -> impl Iterator<Item = OperationId> {
        self.queue.iter().map(|op| op.audio_id)
    }

    /// The events losing the stream now would emit ([`Self::lose`], then
    /// [`Self::end`]): ContinuousDtmfRecognitionToneFailed for each running continuous
    /// recognition, then the canceled event of each queued operation.
    pub(crate) fn lost_events(&self) -> Vec<OperationEvent> {
        if self.ended {
            return Vec::new();
        }
        let failed = self
            .continuous
            .iter()
            .map(|(_, meta)| OperationEvent::continuous_lost(meta));
        failed
            .chain(self.queue.iter().filter_map(canceled))
            .collect()
    }

    /// The running continuous recognitions' requests (what a lost stream fails), in the
    /// order they started.
    pub(crate) fn continuous(&self) -> impl Iterator<Item = &OperationMeta> {
        self.continuous.iter().map(|(_, meta)| meta)
    }

    /// The stream was lost: every running continuous recognition fails. Call before
    /// [`Self::end`].
    pub(crate) fn lose(&mut self) {
        if self.ended {
            return;
        }
        for (_, meta) in std::mem::take(&mut self.continuous) {
            self.emit(OperationEvent::continuous_lost(&meta));
        }
    }

    /// The stream ended: cancel what is left; refuse further operations.
    pub(crate) fn end(&mut self) {
        if !self.ended {
            self.cancel_all(false);
            self.ended = true;
        }
    }

    fn unhold(&mut self, now: Duration, target: Option<&str>) {
        let Some(i) = self.queue.iter().position(|o| match &o.kind {
            Kind::Hold { target: t, .. } => {
                target.is_none() || t.is_none() || matches(target, t.as_deref())
            }
            _ => false,
        }) else {
            return;
        };
        let op = self.queue.remove(i).expect("index exists");
        if op.started && matches!(&op.kind, Kind::Hold { music: Some(_), .. }) {
            self.actions.push_back(Action::StopAudio);
        }
        self.run_next(now);
    }

    /// Starts the front operation if it is not running yet.
    fn run_next(&mut self, now: Duration) {
        loop {
            let Some(op) = self.queue.front_mut() else {
                return;
            };
            if op.started {
                return;
            }
            op.started = true;
            let id = op.audio_id;
            match &mut op.kind {
                Kind::Play { prompt, looped, .. } => {
                    let (audio, looped) = (Audio::Prompt(prompt.clone()), *looped);
                    self.actions
                        .push_back(Action::Enqueue { id, audio, looped });
                    return;
                }
                Kind::SendDtmf { tones } => {
                    let audio = Audio::Tones(tones.iter().map(|t| t.digit()).collect());
                    self.actions.push_back(Action::Enqueue {
                        id,
                        audio,
                        looped: false,
                    });
                    return;
                }
                Kind::Hold { music, .. } => {
                    if let Some(music) = music {
                        let audio = Audio::Prompt(music.clone());
                        self.actions.push_back(Action::Enqueue {
                            id,
                            audio,
                            looped: true,
                        });
                    }
                    return;
                }
                Kind::Recognize(r) => {
                    if r.prompt.is_none() {
                        r.phase = Phase::Collecting {
                            deadline: now + r.options.initial_silence_timeout,
                        };
                    }
                    let use_buffer = r.options.dtmf_buffering != Some(false)
                        && r.options.input != RecognizeInput::Speech;
                    let target = r.options.target_participant.clone();
                    let buffered: Vec<_> = self.buffer.drain(..).collect();
                    if use_buffer {
                        for (tone, participant) in buffered {
                            if matches(target.as_deref(), participant.as_deref()) {
                                self.recognize_tone(now, tone);
                                if !self.front_is_running_recognize() {
                                    // Completed: later buffered tones are dropped.
                                    break;
                                }
                            }
                        }
                    }
                    if let Some(Op {
                        audio_id,
                        started: true,
                        kind: Kind::Recognize(r),
                        ..
                    }) = self.queue.front_mut()
                    {
                        // Still running: play the prompt unless a buffered key
                        // interrupted it.
                        if let (Phase::Prompting, Some(prompt)) = (&r.phase, r.prompt.take()) {
                            r.prompt_outstanding = true;
                            self.actions.push_back(Action::Enqueue {
                                id: *audio_id,
                                audio: Audio::Prompt(prompt),
                                looped: false,
                            });
                        }
                        return;
                    }
                    // Completed from the buffer: go on with the next operation.
                }
            }
        }
    }

    fn front_is_running_recognize(&self) -> bool {
        self.queue
            .front()
            .is_some_and(|o| o.started && matches!(o.kind, Kind::Recognize(_)))
    }

    /// A digit was reported (after the session's dedupe). `participant` is who
    /// pressed it, where the stream says.
    pub(crate) fn on_digit(&mut self, now: Duration, digit: Digit, participant: Option<&Arc<str>>) {
        if self.ended {
            return;
        }
        let tone = Tone::from(digit);
        let who = participant.map(|p| &**p);
        let mut delivered = false;
        let targets: Vec<OperationMeta> = self
            .continuous
            .iter()
            .filter(|(t, _)| matches(t.as_deref(), who))
            .map(|(_, m)| m.clone())
            .take(1)
            .collect();
        for meta in targets {
            delivered = true;
            self.tone_sequence += 1;
            let mut e = OperationEvent::new(
                OperationEventType::ContinuousDtmfRecognitionToneReceived,
                &meta,
                ResultInformation::success("Success"),
            );
            e.details.tone = Some(tone);
            e.details.sequence_id = Some(self.tone_sequence);
            e.details.participant = participant.cloned();
            self.emit(e);
        }
        if let Some(Op {
            started: true,
            kind: Kind::Recognize(r),
            ..
        }) = self.queue.front()
        {
            let keys_count = r.options.input != RecognizeInput::Speech
                && !matches!(r.phase, Phase::Speaking | Phase::Recognizing);
            if keys_count && matches(r.options.target_participant.as_deref(), who) {
                self.recognize_tone(now, tone);
                self.run_next(now);
            }
            return;
        }
        if !delivered && self.buffer.len() < self.config.dtmf_buffer {
            self.buffer.push_back((tone, participant.cloned()));
        }
    }

    /// Feeds one tone to the running recognize (front of the queue).
    fn recognize_tone(&mut self, now: Duration, tone: Tone) {
        let Some(Op {
            kind: Kind::Recognize(r),
            ..
        }) = self.queue.front_mut()
        else {
            return;
        };
        if matches!(r.phase, Phase::Prompting) && r.options.interrupt_prompt {
            // Barge-in: stop the prompt now; the timers start with this key.
            if r.prompt_outstanding {
                r.prompt_outstanding = false;
                self.actions.push_back(Action::StopAudio);
            }
            r.phase = Phase::Collecting { deadline: now };
        }
        if r.options.input == RecognizeInput::Choices {
            let chosen = r.options.choices.iter().find(|c| c.tone == Some(tone));
            let (event, result, details) = match chosen {
                Some(choice) => (
                    OperationEventType::RecognizeCompleted,
                    // Call Automation's RecognizeDtmfOptionMatched.
                    ResultInformation::new(200, 8533, "Action completed, DTMF option matched."),
                    Some(OperationDetails {
                        recognition_type: Some(RecognitionType::Choices),
                        choice_result: Some(Box::new(ChoiceResult {
                            label: choice.label.clone(),
                            recognized_phrase: None,
                            confidence: None,
                        })),
                        ..OperationDetails::default()
                    }),
                ),
                None => (
                    OperationEventType::RecognizeFailed,
                    ResultInformation::new(400, 8534, "Action failed, incorrect tone entered."),
                    None,
                ),
            };
            self.finish_recognize_with(event, result, details);
            return;
        }
        let result = if r.options.stop_tones.contains(&tone) {
            Some(ResultInformation::new(
                200,
                8514,
                "Action completed as stop tone was detected.",
            ))
        } else {
            r.tones.push(tone);
            let max = r
                .options
                .max_tones_to_collect
                .map_or(MAX_TONES, |m| (m as usize).min(MAX_TONES));
            if r.tones.len() >= max {
                Some(ResultInformation::new(
                    200,
                    8531,
                    "Action completed, max digits received.",
                ))
            } else {
                if let Phase::Collecting { deadline } = &mut r.phase {
                    *deadline = now + r.options.inter_tone_timeout;
                }
                None
            }
        };
        if let Some(result) = result {
            self.finish_recognize(OperationEventType::RecognizeCompleted, result);
        }
    }

    /// Ends the running recognize with an event (a completion carries its tones);
    /// stops its prompt if it still plays.
    fn finish_recognize(&mut self, event: OperationEventType, result: ResultInformation) {
        self.finish_recognize_with(event, result, None);
    }

    /// Ends the running recognize with an event carrying `details` (`None`: a
    /// completion carries its tones); stops its prompt if it still plays.
    fn finish_recognize_with(
        &mut self,
        event: OperationEventType,
        result: ResultInformation,
        details: Option<OperationDetails>,
    ) {
        let Some(op) = self.queue.pop_front() else {
            return;
        };
        let Kind::Recognize(r) = op.kind else {
            self.queue.push_front(op);
            return;
        };
        if r.prompt_outstanding {
            self.actions.push_back(Action::StopAudio);
        }
        let mut e = OperationEvent::new(event, &op.meta, result);
        if let Some(details) = details {
            e.details = details;
        } else if event == OperationEventType::RecognizeCompleted {
            e.details.recognition_type = Some(RecognitionType::Dtmf);
            e.details.dtmf_result = Some(DtmfResult { tones: r.tones });
        }
        self.emit(e);
    }

    /// Caller audio of `participant` (decoded, at `rate`; `tone`: a DTMF tone sounds
    /// in it, which is not speech): voice activity for a recognize that listens. Speech
    /// stops an interruptible prompt (barge-in) and the initial-silence timer; its end
    /// hands the utterance to the recogniser ([`Action::Recognize`]).
    pub(crate) fn on_audio(
        &mut self,
        participant: Option<&Arc<str>>,
        samples: &[f32],
        rate: SampleRate,
        tone: impl FnOnce() -> bool,
    ) {
        let Some(Op {
            started: true,
            audio_id,
            kind: Kind::Recognize(r),
            ..
        }) = self.queue.front_mut()
        else {
            return;
        };
        if !r.listening()
            || !matches(
                r.options.target_participant.as_deref(),
                participant.map(|p| &**p),
            )
        {
            return;
        }
        let end_silence = r.options.end_silence_timeout;
        let listener = r
            .listener
            .get_or_insert_with(|| Listener::new(rate, end_silence));
        match &listener.participant {
            None => listener.participant = Some(participant.cloned()),
            Some(p) if p.as_deref() != participant.map(|p| &**p) => return,
            Some(_) => {}
        }
        match listener.process(samples, tone()) {
            Heard::Nothing => {}
            Heard::Started(_) => {
                if matches!(r.phase, Phase::Prompting) && r.prompt_outstanding {
                    r.prompt_outstanding = false;
                    self.actions.push_back(Action::StopAudio);
                }
                r.phase = Phase::Speaking;
            }
            Heard::Ended => {
                let samples = listener.take();
                r.phase = Phase::Recognizing;
                let job = SpeechJob {
                    id: audio_id.0,
                    samples,
                    rate,
                    grammar: r.grammar(),
                    language: r.options.speech_language.clone(),
                };
                self.actions.push_back(Action::Recognize(job));
            }
        }
    }

    /// The recogniser's answer to job `id`; ignored unless that recognize still waits
    /// for it (it may have been canceled meanwhile).
    pub(crate) fn on_speech_outcome(&mut self, now: Duration, id: u64, outcome: SpeechOutcome) {
        let Some(Op {
            started: true,
            audio_id,
            kind: Kind::Recognize(r),
            ..
        }) = self.queue.front()
        else {
            return;
        };
        if audio_id.0 != id || !matches!(r.phase, Phase::Recognizing) {
            return;
        }
        let failed = |code, sub_code, message: &str| {
            (
                OperationEventType::RecognizeFailed,
                ResultInformation::new(code, sub_code, message),
                None,
            )
        };
        let (event, result, details) = match outcome {
            SpeechOutcome::Choice {
                index,
                phrase,
                confidence,
            } => match r.options.choices.get(index) {
                Some(choice) => (
                    OperationEventType::RecognizeCompleted,
                    matched(),
                    Some(OperationDetails {
                        recognition_type: Some(RecognitionType::Choices),
                        choice_result: Some(Box::new(ChoiceResult {
                            label: choice.label.clone(),
                            recognized_phrase: Some(phrase),
                            confidence: Some(confidence),
                        })),
                        ..OperationDetails::default()
                    }),
                ),
                None => failed(400, 8547, NOT_MATCHED),
            },
            SpeechOutcome::Text { text, confidence } if !text.trim().is_empty() => {
                if r.options.input == RecognizeInput::Choices {
                    failed(400, 8547, NOT_MATCHED)
                } else {
                    (
                        OperationEventType::RecognizeCompleted,
                        matched(),
                        Some(OperationDetails {
                            recognition_type: Some(RecognitionType::Speech),
                            speech_result: Some(Box::new(SpeechResult {
                                speech: text,
                                confidence: Some(confidence),
                            })),
                            ..OperationDetails::default()
                        }),
                    )
                }
            }
            SpeechOutcome::NoMatch if r.options.input == RecognizeInput::Choices => {
                failed(400, 8547, NOT_MATCHED)
            }
            SpeechOutcome::Text { .. } | SpeechOutcome::NoMatch => {
                failed(400, 8563, "Action failed, speech could not be recognized.")
            }
            SpeechOutcome::Busy => failed(
                503,
                8583,
                "Action failed, every speech recognizer is busy; try again.",
            ),
            SpeechOutcome::Failed(detail) => (
                OperationEventType::RecognizeFailed,
                ResultInformation::new(
                    500,
                    8564,
                    format!("Action failed, the speech recognizer failed: {detail}"),
                ),
                None,
            ),
        };
        self.finish_recognize_with(event, result, details);
        self.run_next(now);
    }

    /// The operation audio `id` sent its first frame.
    pub(crate) fn on_audio_started(&mut self, id: OperationId) {
        let Some(op) = self.queue.front() else {
            return;
        };
        if !op.started || op.audio_id != id {
            return;
        }
        if matches!(op.kind, Kind::Play { .. } | Kind::Recognize(_)) {
            let e = OperationEvent::new(
                OperationEventType::PlayStarted,
                &op.meta,
                ResultInformation::success("Action completed successfully."),
            );
            self.emit(e);
        }
    }

    /// The operation audio `id` has played out.
    pub(crate) fn on_audio_played(&mut self, now: Duration, id: OperationId) {
        self.audio_ended(now, id, false);
    }

    /// The operation audio `id` was dropped before it played out (a stop from
    /// elsewhere, e.g. a raw client's `stop`).
    pub(crate) fn on_audio_canceled(&mut self, now: Duration, id: OperationId) {
        self.audio_ended(now, id, true);
    }

    fn audio_ended(&mut self, now: Duration, id: OperationId, canceled: bool) {
        let Some(op) = self.queue.front_mut() else {
            return;
        };
        if !op.started || op.audio_id != id {
            return;
        }
        match &mut op.kind {
            Kind::Play { .. } => {
                let op = self.queue.pop_front().expect("front exists");
                if canceled {
                    self.cancel_event(op);
                } else {
                    self.emit(OperationEvent::new(
                        OperationEventType::PlayCompleted,
                        &op.meta,
                        ResultInformation::success("Action completed successfully."),
                    ));
                }
            }
            Kind::SendDtmf { .. } => {
                let op = self.queue.pop_front().expect("front exists");
                if canceled {
                    self.cancel_event(op);
                } else {
                    self.emit(OperationEvent::new(
                        OperationEventType::SendDtmfTonesCompleted,
                        &op.meta,
                        ResultInformation::success("Action completed successfully."),
                    ));
                }
            }
            Kind::Recognize(r) => {
                if !r.prompt_outstanding {
                    return;
                }
                r.prompt_outstanding = false;
                if let Phase::Prompting = r.phase {
                    let wait = if r.tones.is_empty() {
                        r.options.initial_silence_timeout
                    } else {
                        r.options.inter_tone_timeout
                    };
                    r.phase = Phase::Collecting {
                        deadline: now + wait,
                    };
                }
                if !canceled {
                    let meta = op.meta.clone();
                    self.emit(OperationEvent::new(
                        OperationEventType::PlayCompleted,
                        &meta,
                        ResultInformation::success("Action completed successfully."),
                    ));
                }
            }
            Kind::Hold { music, .. } => {
                // Stopped from elsewhere: the hold goes on in silence.
                *music = None;
            }
        }
        self.run_next(now);
    }

    /// Fires timers due at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Duration) {
        while let Some(Op {
            started: true,
            kind: Kind::Recognize(r),
            ..
        }) = self.queue.front()
        {
            let Phase::Collecting { deadline } = r.phase else {
                return;
            };
            if now < deadline {
                return;
            }
            if r.tones.is_empty() {
                self.finish_recognize(
                    OperationEventType::RecognizeFailed,
                    ResultInformation::new(
                        400,
                        8510,
                        "Action failed, initial silence timeout reached.",
                    ),
                );
            } else {
                self.finish_recognize(
                    OperationEventType::RecognizeCompleted,
                    ResultInformation::new(
                        400,
                        8532,
                        "Action failed, inter-digit silence timeout reached.",
                    ),
                );
            }
            self.run_next(now);
        }
    }

    /// When [`Operations::handle_timeout`] should next be called.
    pub(crate) fn deadline(&self) -> Option<Duration> {
        match self.queue.front() {
            Some(Op {
                started: true,
                kind: Kind::Recognize(r),
                ..
            }) => match r.phase {
                Phase::Collecting { deadline } => Some(deadline),
                Phase::Prompting | Phase::Speaking | Phase::Recognizing => None,
            },
            _ => None,
        }
    }
}
