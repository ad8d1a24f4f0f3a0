//! The speech flow both official SDKs drive (`tests/sdk/drive.py speech`,
//! `tests/sdk/js/speech.mjs`) and what the test checks at each of its waits:
//! `CHOICES` said and not matched, `SPEECH`, `SPEECH_OR_DTMF` answered with a key,
//! `SPEECH` that hears nothing (8510), then `startTranscription` (the caller speaks; the
//! transcript reaches the app's WebSocket), `updateTranscription` and
//! `stopTranscription`, each with its CloudEvent.

use serde_json::Value;
use tonegate::SampleRate;

use super::sdk::Script;
use super::transcripts::{self, Frames};
use super::webhook::Events;
use super::{LiveCall, speech};

/// The call's rate (ACS: 16 kHz PCM).
pub(crate) const RATE: SampleRate = SampleRate::HZ_16000;

fn codes(e: &Value) -> (u64, u64) {
    let info = &e["data"]["resultInformation"];
    (
        info["code"].as_u64().unwrap(),
        info["subCode"].as_u64().unwrap(),
    )
}

/// Follows the script through the flow: speaks and presses where it waits, checks
/// each event (`call_id`: the call's id) and the transcript frames on `frames`.
pub(crate) async fn follow(
    mut script: Script,
    call: &LiveCall,
    events: &mut Events,
    frames: &mut Frames,
    call_id: &str,
) {
    let say = |text: &str| {
        let silence = vec![0.0f32; RATE.ms_to_samples(300.0)];
        let speech = speech::speak("en-us", text, RATE);
        call.audio.send([silence, speech].concat()).unwrap();
    };

    // CHOICES, said.
    script.until_wait("choices-said").await;
    say("technical support");
    let done = events.until("RecognizeCompleted", "choices-said").await;
    assert_eq!(codes(&done), (200, 8545), "{done:#}");
    assert_eq!(done["data"]["recognitionType"], "choices");
    assert_eq!(done["data"]["choiceResult"]["label"], "Support");
    assert_eq!(
        done["data"]["choiceResult"]["recognizedPhrase"],
        "technical support"
    );
    assert_eq!(done["data"]["callConnectionId"], call_id);

    // CHOICES, not matched.
    script.resume();
    script.until_wait("choices-unmatched").await;
    say("the weather is very nice today in the garden");
    let failed = events.until("RecognizeFailed", "choices-unmatched").await;
    assert_eq!(codes(&failed), (400, 8547), "{failed:#}");

    // SPEECH: free text.
    script.resume();
    script.until_wait("speech").await;
    say("i would like to check my account balance");
    let done = events.until("RecognizeCompleted", "speech").await;
    assert_eq!(codes(&done), (200, 8545), "{done:#}");
    assert_eq!(done["data"]["recognitionType"], "speech");
    let words = done["data"]["speechResult"]["speech"].as_str().unwrap();
    assert!(!words.trim().is_empty(), "{done:#}");

    // SPEECH_OR_DTMF: a key first completes as DTMF.
    script.resume();
    script.until_wait("speech-or-dtmf").await;
    call.press("5", RATE);
    let done = events.until("RecognizeCompleted", "speech-or-dtmf").await;
    assert_eq!(codes(&done), (200, 8531), "{done:#}");
    assert_eq!(done["data"]["recognitionType"], "dtmf");
    assert_eq!(
        done["data"]["dtmfResult"]["tones"],
        serde_json::json!(["five"])
    );

    // SPEECH with nothing said: initial silence. The key's audio (200 ms of tail after
    // the tone) must be over first: a tone is loud enough to count as voice.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    script.resume();
    script.until_wait("transcribing").await;
    let failed = events.until("RecognizeFailed", "speech-silence").await;
    assert_eq!(codes(&failed), (400, 8510), "{failed:#}");

    // Live transcription: started once the app's WebSocket took the metadata frame;
    // what the caller says arrives as a transcript.
    let started = events.until("TranscriptionStarted", "transcription").await;
    assert_eq!(codes(&started), (200, 0), "{started:#}");
    assert_eq!(
        started["data"]["transcriptionUpdate"]["transcriptionStatus"],
        "transcriptionStarted"
    );
    let metadata: Value =
        serde_json::from_str(&transcripts::next_frame(frames).await.unwrap()).unwrap();
    assert_eq!(metadata["kind"], "TranscriptionMetadata");
    assert_eq!(
        metadata["transcriptionMetadata"]["callConnectionId"],
        call_id
    );
    assert_eq!(metadata["transcriptionMetadata"]["locale"], "en-US");
    say("i want to talk to somebody about my order");
    let data: Value =
        serde_json::from_str(&transcripts::next_frame(frames).await.unwrap()).unwrap();
    assert_eq!(data["kind"], "TranscriptionData", "{data}");
    let d = &data["transcriptionData"];
    assert!(!d["text"].as_str().unwrap().trim().is_empty(), "{data}");
    assert_eq!(d["participantRawID"], "4:+15551234567");
    assert_eq!(d["resultStatus"], "Final");

    script.resume();
    script.finish().await;
    let updated = events
        .until("TranscriptionUpdated", "transcription-update")
        .await;
    assert_eq!(codes(&updated), (200, 0), "{updated:#}");
    let stopped = events
        .until("TranscriptionStopped", "transcription-stop")
        .await;
    assert_eq!(codes(&stopped), (200, 0), "{stopped:#}");
    assert_eq!(
        transcripts::next_frame(frames).await,
        None,
        "closed after the stop"
    );
}
