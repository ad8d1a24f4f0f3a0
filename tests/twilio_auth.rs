//! Twilio's `X-Twilio-Signature` on audio socket upgrades (`twilio_auth_token`): good and
//! bad signatures over WS and WSS, the query string, `public_url`, the combination with
//! `stream_auth = "token"`, and `/media`.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use common::tls::{Pki, start_tls, try_connect_wss_with_headers};
use common::*;
use hmac::{Hmac, Mac};
use tokio_tungstenite::tungstenite::Message;
use tonegate::SampleRate;
use tonegate::codec::Encoding;
use tonegate::proto::Dialect;
use tonegate::server::stream_auth::Mode;
use tonegate::server::{Config, Server};

const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const OTHER_TOKEN: &str = "fedcba9876543210fedcba9876543210";
const BEARER: &str = "Bearer s3cret-t0ken";

/// `base64(HMAC-SHA1(token, url))`, as Twilio signs.
fn sign(token: &str, url: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(url.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn twilio_config(public_url: Option<&str>) -> Config {
    Config {
        twilio_auth_token: Some(TOKEN.to_owned()),
        public_url: public_url.map(str::to_owned),
        ..Config::default()
    }
}

/// Where test clients connect: plain WS, or WSS trusting `pki`.
struct Target<'a> {
    server: &'a TestServer,
    pki: Option<&'a Pki>,
}

impl Target<'_> {
    fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The URL a client uses for `path`, as tonegate sees it without `public_url`.
    fn url(&self, path: &str) -> String {
        let scheme = if self.pki.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}{path}", self.addr())
    }

    /// Upgrades to `path` with `headers`: the socket, or the 401's body.
    async fn upgrade(&self, path: &str, headers: &[(&str, &str)]) -> Result<Ws, String> {
        let result = match self.pki {
            Some(pki) => try_connect_wss_with_headers(self.addr(), path, pki, headers).await,
            None => try_connect_with_headers(self.addr(), path, headers).await,
        };
        unauthorized(result)
    }

    /// Upgrades to `path` with `headers`, expecting 401 with `reason`, and checks no
    /// session was opened.
    async fn refused(&self, path: &str, headers: &[(&str, &str)], reason: &str) {
        let active = self.server.handle.active_sessions();
        let result = self.upgrade(path, headers).await;
        assert_eq!(result.err().as_deref(), Some(reason), "{path} {headers:?}");
        assert_eq!(self.server.handle.active_sessions(), active);
    }

    /// Opens the Twilio call `call_sid` on `path` with `headers`, sends `connected` and
    /// `start` as Twilio does, and waits until the registry lists it as a Twilio call.
    async fn twilio_call(&self, path: &str, headers: &[(&str, &str)], call_sid: &str) -> Ws {
        let mut ws = self
            .upgrade(path, headers)
            .await
            .unwrap_or_else(|reason| panic!("{call_sid} on {path} refused: {reason}"));
        send_text(&mut ws, CONNECTED).await;
        send_text(&mut ws, start_frame(call_sid)).await;
        let registry = self.server.handle.registry();
        for _ in 0..250 {
            if registry.dialect(call_sid) == Some(Dialect::Twilio) {
                return ws;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{call_sid} never started");
    }
}

const CONNECTED: &str = r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#;

fn start_frame(call_sid: &str) -> String {
    format!(
        r#"{{"event":"start","sequenceNumber":"1","start":{{"accountSid":"AC1","streamSid":"MZ-{call_sid}","callSid":"{call_sid}","tracks":["inbound"],"customParameters":{{}},"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}},"streamSid":"MZ-{call_sid}"}}"#
    )
}

/// A Twilio call streaming µ-law in real time (after `connected`).
async fn live_twilio(ws: Ws, server: &TestServer, call_sid: &str) -> LiveCall {
    let stream_sid = format!("MZ-{call_sid}");
    let seq = AtomicU64::new(2);
    LiveCall::start(
        ws,
        &server.handle,
        call_sid,
        start_frame(call_sid),
        SampleRate::HZ_8000,
        move |samples| {
            let n = seq.fetch_add(1, Ordering::Relaxed);
            Message::text(format!(
                r#"{{"event":"media","sequenceNumber":"{n}","media":{{"track":"inbound","chunk":"{n}","timestamp":"{}","payload":"{}"}},"streamSid":"{stream_sid}"}}"#,
                (n - 2) * 20,
                b64(&encode(samples, Encoding::Ulaw))
            ))
        },
    )
    .await
}

const MISSING: &str = "missing X-Twilio-Signature header";
const INVALID: &str = "invalid X-Twilio-Signature";
const SIG: &str = "x-twilio-signature";

#[tokio::test]
async fn signatures_over_plain_ws() {
    let server = start(twilio_config(None)).await;
    let target = Target {
        server: &server,
        pki: None,
    };
    let path = "/media/twilio";
    let good = sign(TOKEN, &target.url(path));
    let mut ws = target.upgrade(path, &[(SIG, &good)]).await.unwrap();
    send_text(&mut ws, CONNECTED).await;
    let call = live_twilio(ws, &server, "CA-good").await;

    // While that call streams: missing, garbage, another URL, another token.
    let port = server.addr.port();
    let cases = [
        (None, MISSING),
        (Some("not a signature".to_owned()), INVALID),
        (Some(sign(TOKEN, &target.url("/media/raw"))), INVALID),
        (
            Some(sign(TOKEN, &format!("ws://ivr.example.com:{port}{path}"))),
            INVALID,
        ),
        (
            Some(sign(TOKEN, &target.url(path).replace("ws:", "wss:"))),
            INVALID,
        ),
        (Some(sign(OTHER_TOKEN, &target.url(path))), INVALID),
    ];
    for (signature, reason) in &cases {
        let headers: Vec<(&str, &str)> = signature.iter().map(|s| (SIG, s.as_str())).collect();
        target.refused(path, &headers, reason).await;
    }
    assert_eq!(read_auth_failures(&server, "twilio_missing").await, 1);
    assert_eq!(read_auth_failures(&server, "twilio_signature").await, 5);
    assert_eq!(server.handle.registry().calls(), ["CA-good"]);

    // The query string is part of the signed URL.
    let with_query = "/media/twilio?tenant=a";
    target.refused(with_query, &[(SIG, &good)], INVALID).await;
    let other_query = sign(TOKEN, &target.url("/media/twilio?tenant=b"));
    target
        .refused(with_query, &[(SIG, &other_query)], INVALID)
        .await;
    let signed_query = sign(TOKEN, &target.url(with_query));
    let _query_call = target
        .twilio_call(with_query, &[(SIG, &signed_query)], "CA-query")
        .await;

    // As Twilio's validators do, the URL without its port is accepted too.
    let no_port = sign(TOKEN, &format!("ws://127.0.0.1{path}"));
    let _no_port_call = target
        .twilio_call(path, &[(SIG, &no_port)], "CA-no-port")
        .await;

    // The first call was not disturbed.
    let mut sse = Sse::connect(server.addr, "/v1/calls/CA-good/events").await;
    call.press("5", SampleRate::HZ_8000);
    let events = sse.until("CA-good", "dtmf").await;
    assert_eq!(events.last().unwrap()["digit"], "5");
    server.handle.shutdown();
}

#[tokio::test]
async fn signatures_over_wss() {
    let (server, pki) = start_tls(twilio_config(None)).await;
    let target = Target {
        server: &server,
        pki: Some(&pki),
    };
    let path = "/media/twilio";
    let good = sign(TOKEN, &target.url(path));
    assert!(target.url(path).starts_with("wss://"));
    let _call = target.twilio_call(path, &[(SIG, &good)], "CA-wss").await;
    let plain = sign(TOKEN, &target.url(path).replace("wss:", "ws:"));
    target.refused(path, &[(SIG, &plain)], INVALID).await;
    target.refused(path, &[], MISSING).await;
    assert_eq!(server.handle.registry().calls(), ["CA-wss"]);
    server.handle.shutdown();
}

#[tokio::test]
async fn public_url_is_the_signed_base() {
    // tonegate behind a TLS-terminating proxy: Twilio was given wss://ivr.example.com/...
    let server = start(twilio_config(Some("wss://ivr.example.com/"))).await;
    let target = Target {
        server: &server,
        pki: None,
    };
    let path = "/media/twilio";
    let public = sign(TOKEN, &format!("wss://ivr.example.com{path}"));
    let _a = target
        .twilio_call(path, &[(SIG, &public)], "CA-public")
        .await;
    let with_port = sign(TOKEN, &format!("wss://ivr.example.com:443{path}"));
    let _b = target
        .twilio_call(path, &[(SIG, &with_port)], "CA-public-443")
        .await;
    let local = sign(TOKEN, &target.url(path));
    target.refused(path, &[(SIG, &local)], INVALID).await;
    let other_port = sign(TOKEN, &format!("wss://ivr.example.com:80{path}"));
    target.refused(path, &[(SIG, &other_port)], INVALID).await;
    server.handle.shutdown();
}

#[tokio::test]
async fn twilio_signatures_beside_a_bearer_token() {
    let config = Config {
        stream_auth: Mode::Token,
        stream_auth_token: Some("s3cret-t0ken".to_owned()),
        ..twilio_config(None)
    };
    let server = start(config).await;
    let target = Target {
        server: &server,
        pki: None,
    };
    // Twilio: the signature, no Authorization header.
    let twilio_url = target.url("/media/twilio");
    let good = sign(TOKEN, &twilio_url);
    let _twilio = target
        .twilio_call("/media/twilio", &[(SIG, &good)], "CA-mixed")
        .await;
    // The bearer token does not stand in for the signature on /media/twilio.
    target
        .refused("/media/twilio", &[("authorization", BEARER)], MISSING)
        .await;

    // ACS: the bearer token, as before; a Twilio signature does not replace it, and
    // must verify if present.
    let acs_signature = sign(TOKEN, &target.url("/media/acs"));
    let id = ("x-ms-call-connection-id", "acs-call");
    for (headers, reason) in [
        (vec![id], "missing Authorization header"),
        (vec![id, ("authorization", "Bearer wrong")], "invalid token"),
        (
            vec![id, (SIG, acs_signature.as_str())],
            "missing Authorization header",
        ),
        (vec![id, ("authorization", BEARER), (SIG, "bad")], INVALID),
    ] {
        target.refused("/media/acs", &headers, reason).await;
    }
    let headers = [id, ("authorization", BEARER)];
    let mut sse = Sse::connect(server.addr, "/v1/calls/acs-call/events").await;
    let ws = target.upgrade("/media/acs", &headers).await.unwrap();
    let _acs = LiveCall::acs(ws, &server.handle, "acs-call").await;
    sse.until("acs-call", "started").await;

    // On /media, Twilio's signature alone is not enough: Twilio must use /media/twilio.
    let auto = sign(TOKEN, &target.url("/media"));
    target
        .refused("/media", &[(SIG, &auto)], "missing Authorization header")
        .await;
    server.handle.shutdown();
}

#[tokio::test]
async fn media_checks_a_signature_only_if_present() {
    let server = start(twilio_config(None)).await;
    let target = Target {
        server: &server,
        pki: None,
    };
    let wrong = sign(TOKEN, &target.url("/media/twilio"));
    target.refused("/media", &[(SIG, &wrong)], INVALID).await;
    let good = sign(TOKEN, &target.url("/media"));
    let _signed = target
        .twilio_call("/media", &[(SIG, &good)], "CA-auto")
        .await;
    // Without the header /media is open (stream_auth = "none"), as are raw clients.
    let _unsigned = target.twilio_call("/media", &[], "CA-auto-unsigned").await;
    let mut raw = target.upgrade("/media/raw", &[]).await.unwrap();
    start_raw(&mut raw, "raw-call", SampleRate::HZ_8000, Encoding::Ulaw).await;
    read_until(&mut raw, "started", Duration::from_secs(5)).await;
    server.handle.shutdown();
}

#[tokio::test]
async fn without_a_twilio_token_stream_auth_applies_everywhere() {
    let config = Config {
        stream_auth: Mode::Token,
        stream_auth_token: Some("s3cret-t0ken".to_owned()),
        ..Config::default()
    };
    let server = start(config).await;
    let target = Target {
        server: &server,
        pki: None,
    };
    let signed = sign(TOKEN, &target.url("/media/twilio"));
    target
        .refused(
            "/media/twilio",
            &[(SIG, &signed)],
            "missing Authorization header",
        )
        .await;
    let _call = target
        .twilio_call(
            "/media/twilio",
            &[(SIG, "anything"), ("authorization", BEARER)],
            "CA-bearer",
        )
        .await;
    server.handle.shutdown();
}

#[tokio::test]
async fn bad_settings_are_refused_at_bind() {
    let cases = [
        (twilio_config(Some("https://ivr.example.com")), "public_url"),
        (
            twilio_config(Some("wss://ivr.example.com?x=1")),
            "public_url",
        ),
        (
            Config {
                public_url: Some("ivr.example.com".to_owned()),
                ..Config::default()
            },
            "public_url",
        ),
        (
            Config {
                twilio_auth_token: Some(String::new()),
                ..Config::default()
            },
            "twilio_auth_token",
        ),
    ];
    for (mut config, setting) in cases {
        config.listen = "127.0.0.1:0".parse().unwrap();
        let error = Server::bind(config).await.err().expect("bad settings bind");
        assert!(
            error.to_string().contains(setting),
            "{error} lacks {setting}"
        );
    }
}
