//! Webhook deliveries are signed as Standard Webhooks: the reference Python library
//! (`standardwebhooks` from PyPI, installed into the venv the SDK tests use) verifies
//! real deliveries with the secret `whsec_<access key>`, including a retried one, and
//! refuses them once the body, id or timestamp is changed (so a captured delivery cannot
//! be replayed later or as another event).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use common::http_peer::{Peer, Seen};
use common::sdk::python_with;
use common::*;
use serde_json::{Value, json};
use tonegate::server::Config;

const KEY: &[u8] = b"standard webhooks test key, 32 b";
const LIMIT: Duration = Duration::from_secs(30);

/// Verifies each case (`body`, `headers`) with the Python library; one line per case:
/// `ok` or the library's error.
const VERIFY: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, cases = sys.argv[1], json.load(sys.stdin)
for case in cases:
    try:
        Webhook(secret).verify(case["body"], case["headers"])
        print("ok")
    except Exception as e:
        print(type(e).__name__ + ": " + str(e))
"#;

/// The verdicts of the Python library on `cases` (`{"body", "headers"}`).
fn python_verdicts(secret: &str, cases: &Value) -> Vec<String> {
    let python = python_with("standardwebhooks", "standardwebhooks==1.1.0");
    let mut child = std::process::Command::new(python)
        .args(["-c", VERIFY, secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(cases.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A POST as a case for [`python_verdicts`], with `change` applied to its headers and
/// body first.
fn case(post: &Seen, change: impl FnOnce(&mut Value, &mut String)) -> Value {
    let mut headers = json!({});
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let value = post
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned());
        headers[name] = value.into();
    }
    let mut body = String::from_utf8(post.body.to_vec()).unwrap();
    change(&mut headers, &mut body);
    json!({"headers": headers, "body": body})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standard_webhooks_library_verifies_real_deliveries() {
    // The first POST is refused with 503, so the first event is delivered twice.
    let refused_once = Arc::new(AtomicBool::new(false));
    let peer = Peer::serve(Router::new().route(
        "/events",
        post(move || {
            let first = !refused_once.swap(true, Ordering::SeqCst);
            async move {
                if first {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    ))
    .await;
    let access_key = b64(KEY);
    let server = start(Config {
        access_key: Some(access_key.clone()),
        callback_uri: Some(peer.url("/events")),
        ..Config::default()
    })
    .await;
    let mut ws = connect(server.addr, "/media/raw").await;
    start_raw(
        &mut ws,
        "signed-1",
        tonegate::SampleRate::HZ_8000,
        tonegate::codec::Encoding::Ulaw,
    )
    .await;
    let reported = webhook::press_continuous(&mut ws, "42").await;
    peer.wait_for("every event accepted", LIMIT, |log| {
        let ok = log.iter().filter(|s| s.status == Some(200)).count();
        (ok == reported.len()).then_some(())
    })
    .await;
    let posts = peer.requests();
    assert_eq!(posts.len(), reported.len() + 1);

    // The retry carries the same webhook-id, the CloudEvent's id.
    let id = |p: &Seen| p.headers["webhook-id"].to_str().unwrap().to_owned();
    assert_eq!(id(&posts[0]), id(&posts[1]));
    assert_eq!(posts[0].json()[0]["id"], id(&posts[0]));
    let ids: std::collections::HashSet<String> = posts.iter().map(id).collect();
    assert_eq!(ids.len(), reported.len());

    let mut cases: Vec<Value> = posts.iter().map(|p| case(p, |_, _| {})).collect();
    let genuine = cases.len();
    cases.push(case(&posts[1], |_, body| {
        *body = body.replace("signed-1", "signed-2");
    }));
    cases.push(case(&posts[1], |headers, _| {
        headers["webhook-id"] = id(&posts[2]).into();
    }));
    cases.push(case(&posts[1], |headers, _| {
        // Replayed an hour later, or with the timestamp moved back to pass the check.
        let stamp: u64 = headers["webhook-timestamp"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        headers["webhook-timestamp"] = (stamp - 3_600).to_string().into();
    }));
    let secret = format!("whsec_{access_key}");
    let verdicts = tokio::task::spawn_blocking(move || python_verdicts(&secret, &cases.into()))
        .await
        .unwrap();
    assert_eq!(verdicts.len(), genuine + 3, "{verdicts:?}");
    assert!(
        verdicts[..genuine].iter().all(|v| v == "ok"),
        "{verdicts:?}"
    );
    assert!(
        verdicts[genuine..]
            .iter()
            .all(|v| v.starts_with("WebhookVerificationError")),
        "{verdicts:?}"
    );
    server.handle.shutdown();
}
