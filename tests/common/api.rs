//! A client of the media-operation API that signs requests as the Call Automation SDKs
//! do (HMAC-SHA256 with an access key), made with tonegate's own signer.

use std::net::SocketAddr;
use std::time::SystemTime;

use serde_json::Value;
use tonegate::server::auth;

/// A signing client of one server's media-operation API (plain HTTP).
pub struct SignedClient {
    pub http: reqwest::Client,
    pub addr: SocketAddr,
    pub key: Vec<u8>,
}

impl SignedClient {
    /// A plain-HTTP client of the server at `addr`, signing with `key`.
    pub fn new(addr: SocketAddr, key: &[u8]) -> SignedClient {
        SignedClient {
            http: reqwest::Client::new(),
            addr,
            key: key.to_vec(),
        }
    }

    /// Sends `method path` with `body`, signed; `tweak` may change the `x-ms-date`,
    /// `x-ms-content-sha256` and `Authorization` headers after signing. Returns the
    /// status and the JSON reply (`Null` if it is not JSON).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: &str,
        tweak: impl FnOnce(&mut String, &mut String, &mut String),
    ) -> (u16, Value) {
        #[allow(clippy::disallowed_methods)]
        let now = SystemTime::now();
        let mut date = httpdate::fmt_http_date(now);
        let host = self.addr.to_string();
        let mut authorization = auth::sign(&self.key, method, path, &date, &host, body.as_bytes());
        let mut hash = auth::content_hash(body.as_bytes());
        tweak(&mut date, &mut hash, &mut authorization);
        let url = format!("http://{}{path}", self.addr);
        let request = if method == "GET" {
            self.http.get(url)
        } else {
            self.http.post(url).body(body.to_owned())
        };
        let response = request
            .header("x-ms-date", date)
            .header("x-ms-content-sha256", hash)
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `POST /calling/callConnections/{call}:{op}` with a JSON body, signed.
    pub async fn operation(&self, call: &str, op: &str, body: &Value) -> (u16, Value) {
        let path = format!("/calling/callConnections/{call}:{op}?api-version=2026-03-12");
        self.send("POST", &path, &body.to_string(), |_, _, _| {})
            .await
    }
}
