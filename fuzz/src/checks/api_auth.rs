//! `api_auth`: the HMAC-SHA256 signatures of media-operation API requests.

use std::time::{Duration, SystemTime};

use tonegate_core::auth::request_signature::{self as auth, Signed};

use super::Input;

/// The access key of the fixed signed request.
const KEY: &[u8] = b"tonegate fuzz access key, 32 b..";
/// The server's clock while checking: 2023-11-14T22:13:20Z.
const NOW_SECS: u64 = 1_700_000_000;
const METHOD: &str = "POST";
const PATH: &str = "/calling/callConnections/c1:play?api-version=2026-03-12";
const HOST: &str = "tonegate.example:8443";
const BODY: &[u8] = br#"{"playSources":[{"kind":"file","file":{"uri":"file:///p.wav"}}]}"#;

/// The parts of a request `auth::verify` sees, owned so the input can edit them.
#[derive(Debug, Clone, PartialEq)]
struct Request {
    method: String,
    path_and_query: String,
    host: Option<String>,
    date: Option<String>,
    content_sha256: Option<String>,
    authorization: Option<String>,
    body: Vec<u8>,
}

impl Request {
    /// The fixed request, signed with [`KEY`] at [`NOW_SECS`] as the SDKs sign.
    fn signed() -> Request {
        let date = httpdate::fmt_http_date(now());
        Request {
            method: METHOD.to_owned(),
            path_and_query: PATH.to_owned(),
            host: Some(HOST.to_owned()),
            authorization: Some(auth::sign(KEY, METHOD, PATH, &date, HOST, BODY)),
            date: Some(date),
            content_sha256: Some(auth::content_hash(BODY)),
            body: BODY.to_vec(),
        }
    }

    fn verify(&self) -> Result<(), &'static str> {
        let signed = Signed {
            method: &self.method,
            path_and_query: &self.path_and_query,
            host: self.host.as_deref(),
            date: self.date.as_deref(),
            content_sha256: self.content_sha256.as_deref(),
            authorization: self.authorization.as_deref(),
        };
        auth::verify(KEY, signed, &self.body, now()).map(|_| ())
    }

    /// Applies one edit the input describes: a field index (mod 7: method, path, host,
    /// date, hash, authorization, body), an operation (mod 4: flip a byte's bits,
    /// insert a byte, remove a byte, drop the header or empty the field), a position
    /// (2 bytes, mod the field's length) and a byte.
    fn edit(&mut self, input: &mut Input) {
        let field = input.u8() % 7;
        let op = input.u8() % 4;
        let at = usize::from(input.u16());
        let byte = input.u8();
        let text = |s: &mut String, edit: &dyn Fn(&mut Vec<u8>)| {
            let mut bytes = std::mem::take(s).into_bytes();
            edit(&mut bytes);
            *s = String::from_utf8_lossy(&bytes).into_owned();
        };
        let apply = |bytes: &mut Vec<u8>| match op {
            0 if !bytes.is_empty() => {
                let i = at % bytes.len();
                bytes[i] ^= byte.max(1);
            }
            1 => bytes.insert(at % (bytes.len() + 1), byte),
            2 if !bytes.is_empty() => {
                bytes.remove(at % bytes.len());
            }
            _ => bytes.clear(),
        };
        let header = |value: &mut Option<String>| match value {
            Some(_) if op == 3 => *value = None,
            Some(s) => text(s, &apply),
            None => *value = Some(String::from_utf8_lossy(&[byte]).into_owned()),
        };
        match field {
            0 => text(&mut self.method, &apply),
            1 => text(&mut self.path_and_query, &apply),
            2 => header(&mut self.host),
            3 => header(&mut self.date),
            4 => header(&mut self.content_sha256),
            5 => header(&mut self.authorization),
            _ => apply(&mut self.body),
        }
    }

    /// Reads every field from the input, split at `\n` bytes: method, path, host, date,
    /// hash, authorization, then the body (an empty header line is a missing header).
    fn from_lines(data: &[u8]) -> Request {
        let mut parts = data.splitn(7, |&b| b == b'\n');
        let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
        let header = |s: String| Some(s).filter(|s| !s.is_empty());
        Request {
            method: next(),
            path_and_query: next(),
            host: header(next()),
            date: header(next()),
            content_sha256: header(next()),
            authorization: header(next()),
            body: parts.next().unwrap_or_default().to_vec(),
        }
    }
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

/// The HMAC check (`auth::verify`) with a fixed key and clock. The first input byte
/// picks how the request is made: even, the fixed signed request edited by the rest of
/// the input (up to 8 edits of 5 bytes, see `Request::edit`); odd, a request read
/// wholly from the rest (see `Request::from_lines`). Properties:
/// - never panics; the verdict is deterministic;
/// - the fixed request verifies (so edits start from an accepted request);
/// - an accepted request is the signed one up to what the signature does not cover or
///   the documented leniency allows: the same `Signature` value, body, hash, date and
///   path, the method up to case, and the host as signed or a form an SDK signs
///   (`auth` documents those: default port added or removed, port removed).
pub fn api_auth(data: &[u8]) {
    let mut input = Input::new(data);
    let original = Request::signed();
    assert_eq!(original.verify(), Ok(()), "the fixed request verifies");
    let request = if input.u8().is_multiple_of(2) {
        let mut request = original.clone();
        for _ in 0..8 {
            if input.is_empty() {
                break;
            }
            request.edit(&mut input);
        }
        request
    } else {
        Request::from_lines(input.bytes(usize::MAX))
    };
    let verdict = request.verify();
    assert_eq!(verdict, request.verify(), "verification is deterministic");
    match verdict {
        Ok(()) => check_accepted(&original, &request),
        Err(reason) => assert!(!reason.is_empty()),
    }
}

/// An accepted request carries the fixed request's signature over the same content.
fn check_accepted(original: &Request, accepted: &Request) {
    assert_eq!(
        signature(accepted.authorization.as_deref()),
        signature(original.authorization.as_deref()),
        "accepted with another signature: {accepted:?}"
    );
    assert_eq!(accepted.body, original.body, "accepted another body");
    assert_eq!(accepted.content_sha256, original.content_sha256);
    assert_eq!(accepted.date, original.date);
    assert_eq!(accepted.path_and_query, original.path_and_query);
    assert!(
        accepted.method.eq_ignore_ascii_case(&original.method),
        "accepted method {:?}",
        accepted.method
    );
    let host = accepted.host.as_deref().expect("accepted without a host");
    let without_port = host.rsplit_once(':').map(|(name, _)| name);
    assert!(
        host == HOST || without_port == Some(HOST),
        "accepted host {host:?} for a request signed for {HOST:?}"
    );
}

/// The `Signature=` value of an `Authorization` header, as the verifier reads it (the
/// last one after the scheme).
fn signature(authorization: Option<&str>) -> Option<&str> {
    authorization?
        .strip_prefix("HMAC-SHA256 ")?
        .trim()
        .split('&')
        .filter_map(|part| part.strip_prefix("Signature="))
        .next_back()
}
