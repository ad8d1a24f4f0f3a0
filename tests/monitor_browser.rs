//! The monitor page in a real headless browser: Debian's `chromium` driven through
//! `chromedriver` (WebDriver, with fantoccini). Without credentials the page says access
//! is refused and its data requests get 401; with the event token it lists a streamed
//! call, shows its digits in order within a second of their detection, and draws the
//! tone rows of its spectrogram canvas (read back with `getImageData`), and moves its
//! outbound meter when a prompt plays into the call. A screenshot is
//! saved as `target/artifacts/monitor.png` (a CI artefact).
//!
//! Needs `chromium` and `chromium-driver` (scripts/test installs them); without them
//! the test fails saying so.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{LiveCall, TestServer, encode};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::server::Config;
use tonegate::session::EventKind;

const TOKEN: &str = "monitor-browser-token";
const CALL: &str = "call-in-the-browser";

/// A chromedriver process, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn chromedriver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run chromedriver ({e}): install Debian's chromium and chromium-driver (scripts/test does)")
        });
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "chromedriver did not listen"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    driver
}

async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=900,1150"]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a chromium session (is Debian's chromium installed?)")
}

/// Runs `script` in the page until it returns something `done` accepts; panics naming
/// `what` after a generous deadline.
async fn wait_for(
    client: &Client,
    what: &str,
    script: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let value = client.execute(script, vec![]).await.unwrap();
        if done(&value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; last {value}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Milliseconds since the Unix epoch, as the page's `Date.now()` counts them.
#[allow(clippy::disallowed_methods)]
fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

async fn live_call(server: &TestServer) -> LiveCall {
    let ws = common::connect(server.addr, "/media/raw").await;
    let start =
        format!(r#"{{"type":"start","callId":"{CALL}","encoding":"ulaw","sampleRate":8000}}"#);
    LiveCall::start(ws, &server.handle, CALL, start, SampleRate::HZ_8000, |f| {
        Message::binary(encode(f, Encoding::Ulaw))
    })
    .await
}

const STATUS: &str = "return document.getElementById('status').textContent";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_page_shows_a_live_call_its_digits_and_its_spectrogram() {
    let prompts =
        std::env::temp_dir().join(format!("tonegate-monitor-page-{}", std::process::id()));
    std::fs::create_dir_all(&prompts).unwrap();
    common::write_prompt(&prompts);
    let server = common::start(Config {
        event_token: Some(TOKEN.to_owned()),
        prompt_dir: prompts.clone(),
        ..Config::default()
    })
    .await;
    let driver = chromedriver().await;
    let client = browser(&driver).await;
    client
        .goto(&format!("http://{}/monitor", server.addr))
        .await
        .unwrap();

    // Without credentials: the page says access is refused, and its data routes
    // answer 401.
    wait_for(&client, "the refusal", STATUS, |v| {
        v.as_str().is_some_and(|s| s.contains("refused"))
    })
    .await;
    let statuses = client
        .execute_async(
            "const done = arguments[0];
             Promise.all(['/v1/monitor/calls', '/v1/monitor/calls/x/features', '/v1/events']
               .map((path) => fetch(path).then((r) => r.status))).then(done);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(statuses, json!([401, 401, 401]));

    // With the token.
    client
        .find(Locator::Id("token"))
        .await
        .unwrap()
        .send_keys(TOKEN)
        .await
        .unwrap();
    client
        .find(Locator::Id("connect"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for(&client, "the connection", STATUS, |v| {
        v.as_str().is_some_and(|s| s.starts_with("Connected"))
    })
    .await;

    let mut events = server.handle.events();
    let call = live_call(&server).await;
    wait_for(
        &client,
        "the call in the list",
        "return [...document.querySelectorAll('#calls tbody tr')].map((r) => r.dataset.callId)",
        |v| v == &json!([CALL]),
    )
    .await;
    // Block levels arrive once the page watches the call.
    wait_for(
        &client,
        "the level meters",
        "return document.getElementById('meters').childElementCount",
        |v| v.as_u64().is_some_and(|n| n > 0),
    )
    .await;

    call.press("159", SampleRate::HZ_8000);
    let mut detected_at = Vec::new();
    while detected_at.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("digits detected in time")
            .unwrap();
        if let EventKind::Dtmf(digit) = &event.kind {
            detected_at.push((digit.digit.as_char().to_string(), epoch_ms()));
        }
    }
    let shown = wait_for(
        &client,
        "three digits on the page",
        "return [...document.querySelectorAll('#digits li')]
           .map((li) => [li.dataset.digit, Number(li.dataset.shownAt)])",
        |v| v.as_array().is_some_and(|a| a.len() == 3),
    )
    .await;
    let shown: Vec<(String, f64)> = serde_json::from_value(shown).unwrap();
    let digits: Vec<&str> = shown.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(digits, ["1", "5", "9"]);
    for ((digit, shown_at), (_, detected)) in shown.iter().zip(&detected_at) {
        let delay = shown_at - detected;
        assert!(
            delay < 1_000.0,
            "{digit} shown {delay:.0} ms after its detection"
        );
    }

    // The tone rows of the canvas hold the keys' tones.
    let lit = client
        .execute(
            "const canvas = document.getElementById('spectrogram');
             const rows = Number(canvas.dataset.toneRows);
             const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, rows).data;
             let lit = 0;
             for (let i = 0; i < data.length; i += 4) {
               if (data[i] + data[i + 1] + data[i + 2] > 300) lit++;
             }
             return lit;",
            vec![],
        )
        .await
        .unwrap();
    assert!(lit.as_u64().unwrap() > 100, "lit tone pixels: {lit}");

    // A prompt played into the call moves the outbound meter off the floor.
    call.send(Message::text(
        r#"{"type":"play","id":"p1","file":"prompt.wav"}"#,
    ));
    wait_for(
        &client,
        "the outbound level",
        "return Number(document.getElementById('outbound-meter').dataset.db)",
        |v| v.as_f64().is_some_and(|db| db > -60.0),
    )
    .await;

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let png = client.screenshot().await.unwrap();
    std::fs::write(artifacts.join("monitor.png"), png).unwrap();

    client.close().await.unwrap();
    call.lose();
    let _ = std::fs::remove_dir_all(&prompts);
}
