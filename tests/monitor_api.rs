//! The live monitor's routes on a real server: the page loads without credentials and
//! names no other origin; the data routes refuse a request without the event streams'
//! credentials (401) and, with them, list the live calls and stream each 4 ms block of
//! a call's inbound audio as the detector saw it (tone levels, verdict) and the level of
//! each outbound frame the call plays, and end the stream with the call.

mod common;

use std::time::Duration;

use common::{LiveCall, Sse, TestServer, encode};
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;
use tonegate::session::features::{OUTBOUND, RECORD_LEN};

const TOKEN: &str = "monitor-test-token";

async fn server() -> TestServer {
    server_with(Config::default()).await
}

async fn server_with(config: Config) -> TestServer {
    common::start(Config {
        event_token: Some(TOKEN.to_owned()),
        ..config
    })
    .await
}

/// A raw µ-law call at 8 kHz, streaming silence in real time until audio is queued.
async fn live_call(server: &TestServer, call_id: &str) -> LiveCall {
    let ws = common::connect(server.addr, "/media/raw").await;
    let start =
        format!(r#"{{"type":"start","callId":"{call_id}","encoding":"ulaw","sampleRate":8000}}"#);
    LiveCall::start(
        ws,
        &server.handle,
        call_id,
        start,
        SampleRate::HZ_8000,
        |f| Message::binary(encode(f, Encoding::Ulaw)),
    )
    .await
}

async fn get(server: &TestServer, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("http://{}{path}", server.addr));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_page_needs_no_credential_and_names_no_other_origin() {
    let server = server().await;
    for path in ["/monitor", "/monitor/monitor.js", "/monitor/monitor.css"] {
        let response = get(&server, path, None).await;
        assert_eq!(response.status(), 200, "{path}");
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(policy.contains("default-src 'none'"), "{policy}");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn data_routes_refuse_requests_without_credentials() {
    let server = server().await;
    let call = live_call(&server, "call-secret").await;
    for path in [
        "/v1/monitor/calls",
        "/v1/monitor/calls/call-secret/features",
    ] {
        assert_eq!(get(&server, path, None).await.status(), 401, "{path}");
        assert_eq!(
            get(&server, path, Some("wrong")).await.status(),
            401,
            "{path}"
        );
    }
    let refused = Sse::try_connect(
        server.addr,
        "/v1/monitor/calls/call-secret/features?access_token=wrong",
        &[],
    )
    .await
    .err()
    .unwrap();
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    let missing = get(
        &server,
        "/v1/monitor/calls/no-such-call/features",
        Some(TOKEN),
    )
    .await;
    assert_eq!(missing.status(), 404);
    call.lose();
}

#[tokio::test]
async fn the_call_list_shows_each_live_call() {
    let server = server().await;
    let call = live_call(&server, "call-listed").await;
    let body = get(&server, "/v1/monitor/calls", Some(TOKEN))
        .await
        .text()
        .await
        .unwrap();
    let calls: serde_json::Value = serde_json::from_str(&body).unwrap();
    let listed = &calls.as_array().unwrap()[0];
    assert_eq!(listed["callId"], "call-listed");
    assert_eq!(listed["dialect"], "raw");
    assert_eq!(listed["sampleRate"], 8000);
    assert_eq!(listed["encoding"], "ulaw");
    assert!(listed["durationMs"].as_u64().is_some());
    call.lose();
}

/// The records of one `features` event.
fn records(data: &str) -> Vec<[u8; RECORD_LEN]> {
    let bytes = common::unb64(data);
    assert_eq!(bytes.len() % RECORD_LEN, 0, "whole records");
    bytes
        .chunks_exact(RECORD_LEN)
        .map(|r| r.try_into().unwrap())
        .collect()
}

#[tokio::test]
async fn a_watched_call_streams_its_blocks_with_the_digit_the_detector_saw() {
    let server = server().await;
    let call = live_call(&server, "call-watched").await;
    let mut features = Sse::connect(
        server.addr,
        &format!("/v1/monitor/calls/call-watched/features?access_token={TOKEN}"),
    )
    .await;
    call.press("5", SampleRate::HZ_8000);
    let mut seen = Vec::new();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let (name, data) = features.next_named().await.expect("stream open");
            assert_eq!(name, "features");
            for record in records(&data) {
                seen.push(record);
                // Verdict kind 1 (qualified) for the key `5`.
                if record[14] & 3 == 1 && record[15] == b'5' {
                    return record;
                }
            }
        }
    })
    .await
    .expect("a qualified window of 5 in time");
    // 770 Hz (lane 1) and 1336 Hz (lane 5) stand above their neighbours in the 20 ms
    // window; levels are whole dB above -120 re full scale.
    let tone = |lane: usize| i32::from(found[5 + lane]);
    for (key, neighbours) in [(1, [0, 2]), (5, [4, 6])] {
        for other in neighbours {
            assert!(
                tone(key) >= tone(other) + 6,
                "{key} over {other}: {found:?}"
            );
        }
    }
    assert!(tone(1) > 100, "about -13 dB re full scale: {found:?}");
    // Block ends advance 4 ms at a time.
    let ends: Vec<u32> = seen
        .iter()
        .map(|r| u32::from_le_bytes(r[1..5].try_into().unwrap()))
        .collect();
    assert!(
        ends.windows(2).all(|w| w[1] == w[0] + 4),
        "{:?}",
        &ends[..ends.len().min(20)]
    );
    // The stream ends with the call.
    call.lose();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while features.next_named().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the feature stream ends when the call does");
}

#[tokio::test]
async fn a_watched_call_streams_the_level_of_the_prompt_it_plays() {
    let dir = std::env::temp_dir().join(format!("tonegate-monitor-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 400 ms of 440 Hz at 8 000 / 32 768 of full scale: about -12 dB.
    common::write_prompt(&dir);
    let server = server_with(Config {
        prompt_dir: dir.clone(),
        ..Config::default()
    })
    .await;
    let call = live_call(&server, "call-playing").await;
    let mut features = Sse::connect(
        server.addr,
        &format!("/v1/monitor/calls/call-playing/features?access_token={TOKEN}"),
    )
    .await;
    let mut next_records = async || {
        let (name, data) = features.next_named().await.expect("stream open");
        assert_eq!(name, "features");
        records(&data)
    };
    // Before the prompt: 200 ms of inbound blocks, and no outbound level above silence.
    let mut inbound = 0;
    while inbound < 50 {
        for record in next_records().await {
            if record[0] == OUTBOUND {
                assert_eq!(record[13], 0, "silence before the prompt: {record:?}");
            } else {
                inbound += 1;
            }
        }
    }
    call.send(Message::text(
        r#"{"type":"play","id":"p1","file":"prompt.wav"}"#,
    ));
    let levels = tokio::time::timeout(Duration::from_secs(20), async {
        let mut levels = Vec::new();
        while levels.len() < 10 {
            for record in next_records().await {
                if record[0] == OUTBOUND && record[13] > 0 {
                    levels.push(record);
                }
            }
        }
        levels
    })
    .await
    .expect("the prompt's outbound levels in time");
    for record in &levels {
        assert!(
            (104..=112).contains(&record[13]),
            "about -12 dB re full scale: {record:?}"
        );
        assert!(record[5..13].iter().all(|&b| b == 0) && record[14] == 0);
    }
    // Outbound frames end 20 ms apart on the outbound clock.
    let ends: Vec<u32> = levels
        .iter()
        .map(|r| u32::from_le_bytes(r[1..5].try_into().unwrap()))
        .collect();
    assert!(ends.windows(2).all(|w| w[1] == w[0] + 20), "{ends:?}");
    call.lose();
    let _ = std::fs::remove_dir_all(&dir);
}
