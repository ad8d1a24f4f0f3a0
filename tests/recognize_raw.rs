//! Media operations over the raw dialect end to end: continuous DTMF, a DTMF recognize
//! ended by a stop tone, the DTMF buffer, and an initial-silence timeout.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;

/// Reads operation events until one named `name` arrives.
async fn until_event(ws: &mut Ws, name: &str, seen: &mut Vec<Value>) {
    let got = read_until_operation(ws, name, Duration::from_secs(10)).await;
    assert!(
        got.close.is_none(),
        "socket closed waiting for {name}: {got:?}"
    );
    seen.extend(got.events.into_iter().filter(|v| v["type"] == "operation"));
}

#[tokio::test]
async fn recognize_and_continuous_dtmf_over_raw() {
    let server = start(Config::default()).await;
    let mut ws = connect(server.addr, "/media/raw").await;
    let rate = SampleRate::HZ_8000;
    send_text(
        &mut ws,
        r#"{"type":"start","callId":"ops-1","encoding":"ulaw","sampleRate":8000}"#,
    )
    .await;
    send_text(
        &mut ws,
        r##"{"type":"recognize","context":"r1","maxTones":4,"stopTones":"#"}"##,
    )
    .await;
    // "12#" ends the recognize (stop tone excluded); "7" comes after it and is buffered.
    let (samples, _) = signal("12#7", rate, 200.0, 300.0);
    send_binary(&mut ws, encode(&samples, Encoding::Ulaw)).await;
    let mut seen = Vec::new();
    until_event(&mut ws, "RecognizeCompleted", &mut seen).await;
    let done = seen.last().unwrap();
    assert_eq!(done["operationContext"], "r1");
    assert_eq!(done["resultInformation"]["code"], 200);
    assert_eq!(done["resultInformation"]["subCode"], 8514);
    assert_eq!(done["recognitionType"], "dtmf");
    assert_eq!(
        done["dtmfResult"]["tones"],
        serde_json::json!(["one", "two"])
    );

    // The buffered "7" feeds the next recognize at once.
    send_text(
        &mut ws,
        r#"{"type":"recognize","context":"r2","maxTones":1}"#,
    )
    .await;
    seen.clear();
    until_event(&mut ws, "RecognizeCompleted", &mut seen).await;
    let done = seen.last().unwrap();
    assert_eq!(done["operationContext"], "r2");
    assert_eq!(done["resultInformation"]["subCode"], 8531);
    assert_eq!(done["dtmfResult"]["tones"], serde_json::json!(["seven"]));

    // Continuous recognition numbers its tones from 1.
    send_text(&mut ws, r#"{"type":"startContinuousDtmf","context":"c"}"#).await;
    let (samples, _) = signal("95", rate, 100.0, 300.0);
    send_binary(&mut ws, encode(&samples, Encoding::Ulaw)).await;
    send_text(&mut ws, r#"{"type":"stopContinuousDtmf","context":"c"}"#).await;
    seen.clear();
    until_event(&mut ws, "ContinuousDtmfRecognitionStopped", &mut seen).await;
    let tones: Vec<(String, u64)> = seen
        .iter()
        .filter(|e| e["event"] == "ContinuousDtmfRecognitionToneReceived")
        .map(|e| {
            (
                e["tone"].as_str().unwrap().to_owned(),
                e["sequenceId"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(tones, vec![("nine".into(), 1), ("five".into(), 2)]);

    // Nothing buffered (the tones went to continuous recognition): the silence
    // timeout fires.
    send_text(
        &mut ws,
        r#"{"type":"recognize","context":"r3","initialSilenceMs":300}"#,
    )
    .await;
    seen.clear();
    until_event(&mut ws, "RecognizeFailed", &mut seen).await;
    let failed = seen.last().unwrap();
    assert_eq!(failed["operationContext"], "r3");
    assert_eq!(failed["resultInformation"]["code"], 400);
    assert_eq!(failed["resultInformation"]["subCode"], 8510);

    // cancelAll cancels a waiting recognize.
    send_text(&mut ws, r#"{"type":"recognize","context":"r4"}"#).await;
    send_text(&mut ws, r#"{"type":"cancelAll"}"#).await;
    seen.clear();
    until_event(&mut ws, "RecognizeCanceled", &mut seen).await;
    assert_eq!(seen.last().unwrap()["resultInformation"]["subCode"], 8508);

    send_text(&mut ws, r#"{"type":"end"}"#).await;
    let got = read_all(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(got.close.as_ref().map(|c| c.0), Some(1000));
}
