//! A raw client's requests ([`proto::Request`]) as session commands: a pure mapping,
//! with the Call Automation defaults for what the raw request leaves out.

use std::time::Duration;

use super::{
    Command, ContinuousDtmfRequest, Operation, OperationMeta, RecognizeOptions, RecognizeRequest,
    Tone,
};
use crate::proto::{PromptSource, Request};

/// What a raw request becomes.
#[derive(Debug, Clone)]
pub enum Mapped {
    /// A command for [`super::Session::handle_command`].
    Command(Command),
    /// A prompt to load first; then [`Command::Play`] with it.
    Load(Load),
}

/// A raw `play`: the prompt file to load, or the speech to synthesise, before it can be
/// queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    /// Id reported in the play events (the client's, else `play-<n>`).
    pub id: String,
    /// The prompt file (relative to the server's prompt root) or the speech.
    pub source: PromptSource,
    /// Repeat until stopped.
    pub looped: bool,
}

/// Maps the `n`th request of a socket (from 1; it names requests that carry no id:
/// `play-<n>`, `digits-<n>`). Recognize options the request leaves out take
/// [`RecognizeOptions::default`].
pub fn map(request: Request, n: u64) -> Mapped {
    let command = match request {
        Request::Play { id, source, looped } => {
            let id = id.unwrap_or_else(|| format!("play-{n}"));
            return Mapped::Load(Load { id, source, looped });
        }
        Request::SendDigits { id, digits } => Command::SendDigits {
            id: id.unwrap_or_else(|| format!("digits-{n}")),
            digits,
        },
        Request::Stop => Command::Stop,
        Request::Mark { name } => Command::Mark { name },
        Request::Recognize {
            context,
            max_tones,
            stop_tones,
            initial_silence_ms,
            inter_tone_ms,
            buffering,
            speech,
        } => {
            let defaults = RecognizeOptions::default();
            Command::Operation(Operation::Recognize(RecognizeRequest {
                options: RecognizeOptions {
                    initial_silence_timeout: initial_silence_ms
                        .map_or(defaults.initial_silence_timeout, Duration::from_millis),
                    inter_tone_timeout: inter_tone_ms
                        .map_or(defaults.inter_tone_timeout, Duration::from_millis),
                    max_tones_to_collect: max_tones,
                    stop_tones: stop_tones.into_iter().map(Tone::from).collect(),
                    dtmf_buffering: buffering,
                    input: speech.input,
                    choices: speech.choices,
                    end_silence_timeout: speech
                        .end_silence_ms
                        .map_or(defaults.end_silence_timeout, Duration::from_millis),
                    speech_language: speech.language,
                    ..defaults
                },
                meta: meta(context),
                ..RecognizeRequest::default()
            }))
        }
        Request::ContinuousDtmf { context, on } => {
            let request = ContinuousDtmfRequest {
                target_participant: None,
                meta: meta(context),
            };
            Command::Operation(if on {
                Operation::StartContinuousDtmf(request)
            } else {
                Operation::StopContinuousDtmf(request)
            })
        }
        Request::CancelAll => Command::Operation(Operation::CancelAll),
    };
    Mapped::Command(command)
}

/// A raw request's context as operation metadata (events go to the socket's callback).
fn meta(context: Option<String>) -> OperationMeta {
    OperationMeta {
        operation_context: context,
        callback_uri: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::SpeechInput;
    use tonegate_dsp::dsp::Digit;

    fn digits(text: &str) -> Vec<Digit> {
        text.chars().map(|c| Digit::from_char(c).unwrap()).collect()
    }

    #[test]
    fn a_play_is_a_prompt_to_load_named_by_its_id_or_its_number() {
        let play = |id: Option<&str>| Request::Play {
            id: id.map(str::to_owned),
            source: PromptSource::File("hello.wav".to_owned()),
            looped: true,
        };
        let Mapped::Load(load) = map(play(Some("p1")), 7) else {
            panic!("a play loads first");
        };
        assert_eq!(
            load,
            Load {
                id: "p1".to_owned(),
                source: PromptSource::File("hello.wav".to_owned()),
                looped: true
            }
        );
        let Mapped::Load(load) = map(play(None), 7) else {
            panic!("a play loads first");
        };
        assert_eq!(load.id, "play-7");
    }

    #[test]
    fn send_digits_stop_and_mark_map_to_their_commands() {
        let request = Request::SendDigits {
            id: None,
            digits: digits("12#"),
        };
        match map(request, 3) {
            Mapped::Command(Command::SendDigits { id, digits: d }) => {
                assert_eq!(id, "digits-3");
                assert_eq!(d, digits("12#"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            map(Request::Stop, 1),
            Mapped::Command(Command::Stop)
        ));
        let mark = Request::Mark {
            name: "m".to_owned(),
        };
        assert!(matches!(map(mark, 1), Mapped::Command(Command::Mark { name }) if name == "m"));
        assert!(matches!(
            map(Request::CancelAll, 1),
            Mapped::Command(Command::Operation(Operation::CancelAll))
        ));
    }

    fn recognize(request: Request) -> RecognizeRequest {
        match map(request, 1) {
            Mapped::Command(Command::Operation(Operation::Recognize(r))) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bare_recognize_takes_every_default() {
        let r = recognize(Request::Recognize {
            context: None,
            max_tones: None,
            stop_tones: Vec::new(),
            initial_silence_ms: None,
            inter_tone_ms: None,
            buffering: None,
            speech: SpeechInput::default(),
        });
        let defaults = RecognizeOptions::default();
        assert_eq!(
            r.options.initial_silence_timeout,
            defaults.initial_silence_timeout
        );
        assert_eq!(r.options.inter_tone_timeout, defaults.inter_tone_timeout);
        assert_eq!(r.options.max_tones_to_collect, None);
        assert!(r.options.stop_tones.is_empty());
        assert_eq!(r.options.dtmf_buffering, None);
        assert_eq!(r.meta.operation_context, None);
        assert_eq!(r.meta.callback_uri, None);
    }

    #[test]
    fn a_recognize_carries_what_it_names() {
        let r = recognize(Request::Recognize {
            context: Some("menu".to_owned()),
            max_tones: Some(4),
            stop_tones: digits("#*"),
            initial_silence_ms: Some(2_500),
            inter_tone_ms: Some(1_500),
            buffering: Some(false),
            speech: SpeechInput::default(),
        });
        assert_eq!(
            r.options.initial_silence_timeout,
            Duration::from_millis(2_500)
        );
        assert_eq!(r.options.inter_tone_timeout, Duration::from_millis(1_500));
        assert_eq!(r.options.max_tones_to_collect, Some(4));
        assert_eq!(
            r.options.stop_tones,
            vec![Tone::from(digits("#")[0]), Tone::from(digits("*")[0])]
        );
        assert_eq!(r.options.dtmf_buffering, Some(false));
        assert_eq!(r.meta.operation_context.as_deref(), Some("menu"));
    }

    #[test]
    fn continuous_dtmf_starts_or_stops_with_its_context() {
        for (on, want_start) in [(true, true), (false, false)] {
            let request = Request::ContinuousDtmf {
                context: Some("c".to_owned()),
                on,
            };
            match map(request, 1) {
                Mapped::Command(Command::Operation(Operation::StartContinuousDtmf(r)))
                    if want_start =>
                {
                    assert_eq!(r.meta.operation_context.as_deref(), Some("c"));
                    assert_eq!(r.target_participant, None);
                }
                Mapped::Command(Command::Operation(Operation::StopContinuousDtmf(r)))
                    if !want_start =>
                {
                    assert_eq!(r.meta.operation_context.as_deref(), Some("c"));
                }
                other => panic!("on={on}: {other:?}"),
            }
        }
    }
}
