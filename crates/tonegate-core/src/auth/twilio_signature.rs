//! Twilio's `X-Twilio-Signature` on audio socket upgrades (the server's
//! `twilio_auth_token` setting).
//!
//! Twilio signs the upgrade like a webhook: `base64(HMAC-SHA1(auth token, URL))`, where
//! the URL is the one the TwiML `<Stream url>` gave, with its query string (a GET has no
//! POST parameters to append). Behind a TLS-terminating proxy that is not the URL
//! tonegate sees, so the base (`wss://host[:port][/prefix]`) comes from
//! the `public_url` setting, else from the scheme tonegate serves and the request's `Host`.
//!
//! Like Twilio's helper libraries (`RequestValidator.validate` in twilio-python,
//! `validateRequest` in twilio-node), a signature is accepted over the URL with its port
//! removed, or with the scheme's default port added when it has none (`:443` for `wss`,
//! `:80` for `ws`), because Twilio's own signing is not consistent about the port. The
//! comparison is constant-time ([`Mac::verify_slice`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::Refusal;

type HmacSha1 = Hmac<Sha1>;

/// The URL schemes Twilio streams to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Ws,
    Wss,
}

impl Scheme {
    fn prefix(self) -> &'static str {
        match self {
            Scheme::Ws => "ws://",
            Scheme::Wss => "wss://",
        }
    }

    /// The default port, as a URL writes it.
    fn default_port(self) -> &'static str {
        match self {
            Scheme::Ws => ":80",
            Scheme::Wss => ":443",
        }
    }
}

/// Where the signed URL's scheme, authority and path prefix come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Base {
    /// `public_url`: the authority and path prefix (no trailing `/`) given.
    Public {
        scheme: Scheme,
        authority: String,
        prefix: String,
    },
    /// The scheme tonegate serves and each request's `Host`.
    Host(Scheme),
}

impl Base {
    /// The base `public_url` gives, or each request's `Host` with `wss` if `tls` else `ws`.
    fn new(public_url: Option<&str>, tls: bool) -> Result<Base, String> {
        let Some(text) = public_url else {
            return Ok(Base::Host(if tls { Scheme::Wss } else { Scheme::Ws }));
        };
        let bad = || {
            format!(
                "public_url must be ws:// or wss:// with a host, an optional port and path, \
                 and no user, query or fragment; got {text:?}"
            )
        };
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("wss://") {
            (Scheme::Wss, rest)
        } else if let Some(rest) = text.strip_prefix("ws://") {
            (Scheme::Ws, rest)
        } else {
            return Err(bad());
        };
        let parsed = url::Url::parse(text).map_err(|_| bad())?;
        if parsed.host_str().is_none_or(str::is_empty)
            || !parsed.username().is_empty()
            || parsed.password().is_some()
            || parsed.query().is_some()
            || parsed.fragment().is_some()
            || rest.contains(['?', '#', '@'])
        {
            return Err(bad());
        }
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Ok(Base::Public {
            scheme,
            authority: authority.to_owned(),
            prefix: prefix.trim_end_matches('/').to_owned(),
        })
    }
}

/// Checks `X-Twilio-Signature` against the account's auth token.
pub struct Verifier {
    /// HMAC-SHA1 keyed with the auth token, cloned for each check.
    key: HmacSha1,
    base: Base,
}

impl Verifier {
    /// The verifier of the settings `public_url` and `twilio_auth_token` (none without
    /// a token); `tls` is whether tonegate serves TLS itself. The error names the
    /// setting at fault.
    pub fn new(
        public_url: Option<&str>,
        auth_token: Option<&str>,
        tls: bool,
    ) -> Result<Option<Verifier>, String> {
        // Validated even without a token, so a typo shows at start.
        let base = Base::new(public_url, tls)?;
        let Some(token) = auth_token else {
            return Ok(None);
        };
        if token.is_empty() || token.chars().any(|c| c.is_ascii_whitespace()) {
            return Err("twilio_auth_token may not be empty or contain whitespace".to_owned());
        }
        let key = HmacSha1::new_from_slice(token.as_bytes())
            .map_err(|_| "twilio_auth_token cannot key HMAC-SHA1".to_owned())?;
        Ok(Some(Verifier { key, base }))
    }

    /// Checks an upgrade's `X-Twilio-Signature` header value over the URL made of the
    /// base, `host` (the request's `Host`, used when no `public_url` is set) and
    /// `path_and_query` (as the request line gave it).
    pub fn check(
        &self,
        signature: Option<&[u8]>,
        host: Option<&str>,
        path_and_query: &str,
    ) -> Result<(), Refusal> {
        let signature = signature.ok_or(Refusal::TwilioMissing)?;
        let signature = STANDARD
            .decode(signature.trim_ascii())
            .map_err(|_| Refusal::TwilioSignature)?;
        let url = match &self.base {
            Base::Public {
                scheme,
                authority,
                prefix,
            } => SignedUrl::new(*scheme, authority, prefix, path_and_query),
            Base::Host(scheme) => {
                let host = host.ok_or(Refusal::TwilioSignature)?;
                SignedUrl::new(*scheme, host, "", path_and_query)
            }
        };
        if url.verify(&self.key, &signature) {
            Ok(())
        } else {
            Err(Refusal::TwilioSignature)
        }
    }
}

/// The URL Twilio signed, in pieces: scheme, host, port (`:n`, if given), path prefix,
/// then the request's path and query.
struct SignedUrl<'a> {
    scheme: Scheme,
    host: &'a str,
    port: Option<&'a str>,
    prefix: &'a str,
    path_and_query: &'a str,
}

impl<'a> SignedUrl<'a> {
    fn new(
        scheme: Scheme,
        authority: &'a str,
        prefix: &'a str,
        path_and_query: &'a str,
    ) -> SignedUrl<'a> {
        // `host:port`, `[v6]:port`; a colon inside brackets is not a port.
        let split = authority.rfind(':').filter(|&i| {
            let port = &authority[i + 1..];
            !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        });
        let (host, port) = match split {
            Some(i) => (&authority[..i], Some(&authority[i..])),
            None => (authority, None),
        };
        SignedUrl {
            scheme,
            host,
            port,
            prefix,
            path_and_query,
        }
    }

    /// The HMAC of this URL with `port` (`""` or `:n`).
    fn mac(&self, key: &HmacSha1, port: &str) -> HmacSha1 {
        let mut mac = key.clone();
        for part in [
            self.scheme.prefix(),
            self.host,
            port,
            self.prefix,
            self.path_and_query,
        ] {
            mac.update(part.as_bytes());
        }
        mac
    }

    /// Whether `signature` is the HMAC of this URL without its port, or with its port
    /// (the scheme's default if none is given). Both are always computed.
    fn verify(&self, key: &HmacSha1, signature: &[u8]) -> bool {
        let with_port = self.port.unwrap_or(self.scheme.default_port());
        let without = self.mac(key, "").verify_slice(signature).is_ok();
        let with = self.mac(key, with_port).verify_slice(signature).is_ok();
        without | with
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twilio's published example (auth token `12345`): the URL of a POST webhook with its
    /// sorted parameters appended, signed `0/KCTR6DLpKmkAf8muzZqo1nDgQ=`.
    const TWILIO_EXAMPLE: &str = "https://mycompany.com/myapp.php?foo=1&bar=2\
        CallSidCA1234567890ABCDECaller+12349013030Digits1234From+12349013030To+18005551212";

    fn key(token: &str) -> HmacSha1 {
        HmacSha1::new_from_slice(token.as_bytes()).unwrap()
    }

    fn signature(text: &str) -> &[u8] {
        text.as_bytes()
    }

    fn verifier(token: &str, public_url: Option<&str>, tls: bool) -> Verifier {
        Verifier::new(public_url, Some(token), tls)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn twilio_published_vector() {
        let mac = key("12345").chain_update(TWILIO_EXAMPLE.as_bytes());
        let expected = STANDARD.decode("0/KCTR6DLpKmkAf8muzZqo1nDgQ=").unwrap();
        assert!(mac.verify_slice(&expected).is_ok());
    }

    // python3 -c 'import hmac,hashlib,base64
    // for u in ["wss://ivr.example.com/media/twilio","wss://ivr.example.com:443/media/twilio"]:
    //   print(u, base64.b64encode(hmac.new(b"12345",u.encode(),hashlib.sha1).digest()).decode())'
    const NO_PORT: &str = "AOB2qK25aNowgqamsKfw7uyyyAE=";
    const PORT_443: &str = "1LKsOwQab4TI7v/XjfeF51Hk0iA=";

    #[test]
    fn get_vector_with_and_without_the_default_port() {
        for public in ["wss://ivr.example.com", "wss://ivr.example.com:443/"] {
            let v = verifier("12345", Some(public), false);
            for sig in [NO_PORT, PORT_443] {
                assert_eq!(
                    v.check(Some(signature(sig)), None, "/media/twilio"),
                    Ok(()),
                    "{public} {sig}"
                );
            }
        }
        // From the Host header and the served scheme.
        let v = verifier("12345", None, true);
        for host in ["ivr.example.com", "ivr.example.com:443"] {
            for sig in [NO_PORT, PORT_443] {
                assert_eq!(
                    v.check(Some(signature(sig)), Some(host), "/media/twilio"),
                    Ok(())
                );
            }
        }
        // Plain ws: the default port is 80, so `:443` is not one of the accepted forms.
        let v = verifier("12345", None, false);
        assert_eq!(
            v.check(
                Some(signature(NO_PORT)),
                Some("ivr.example.com"),
                "/media/twilio"
            ),
            Err(Refusal::TwilioSignature)
        );
    }

    #[test]
    fn refusals() {
        let v = verifier("12345", Some("wss://ivr.example.com"), false);
        let check = |sig: Option<&str>, path| v.check(sig.map(signature), None, path);
        assert_eq!(check(None, "/media/twilio"), Err(Refusal::TwilioMissing));
        for bad in ["", "not base64!", "AOB2qK25aNowgqamsKfw7uyyyAE", "AAAA"] {
            assert_eq!(
                check(Some(bad), "/media/twilio"),
                Err(Refusal::TwilioSignature)
            );
        }
        // Another path, a query, or another token.
        assert_eq!(
            check(Some(NO_PORT), "/media/twilio?x=1"),
            Err(Refusal::TwilioSignature)
        );
        assert_eq!(
            check(Some(NO_PORT), "/media"),
            Err(Refusal::TwilioSignature)
        );
        let other = verifier("54321", Some("wss://ivr.example.com"), false);
        assert_eq!(
            other.check(Some(signature(NO_PORT)), None, "/media/twilio"),
            Err(Refusal::TwilioSignature)
        );
        // Surrounding spaces are tolerated.
        assert_eq!(
            check(Some(" AOB2qK25aNowgqamsKfw7uyyyAE= "), "/media/twilio"),
            Ok(())
        );
        // No public_url and no Host: nothing to check against.
        let by_host = verifier("12345", None, true);
        assert_eq!(
            by_host.check(Some(signature(NO_PORT)), None, "/media/twilio"),
            Err(Refusal::TwilioSignature)
        );
    }

    #[test]
    fn url_forms() {
        let forms = |authority, prefix| {
            let url = SignedUrl::new(Scheme::Wss, authority, prefix, "/media/twilio?a=b");
            [url.host, url.port.unwrap_or(""), url.prefix].concat()
        };
        assert_eq!(forms("h.example", ""), "h.example");
        assert_eq!(forms("h.example:8443", "/ivr"), "h.example:8443/ivr");
        assert_eq!(forms("[::1]:8443", ""), "[::1]:8443");
        let v6 = SignedUrl::new(Scheme::Wss, "[::1]", "", "/");
        assert_eq!((v6.host, v6.port), ("[::1]", None));
        let empty_port = SignedUrl::new(Scheme::Ws, "h:", "", "/");
        assert_eq!((empty_port.host, empty_port.port), ("h:", None));
        // A non-default port may also be left out, as Twilio's validators allow.
        let key = key("k");
        let url = SignedUrl::new(Scheme::Wss, "h:8443", "/ivr", "/media/twilio");
        let sign = |text: &str| {
            key.clone()
                .chain_update(text.as_bytes())
                .finalize()
                .into_bytes()
        };
        for text in ["wss://h:8443/ivr/media/twilio", "wss://h/ivr/media/twilio"] {
            assert!(url.verify(&key, &sign(text)), "{text}");
        }
        for text in [
            "wss://h:443/ivr/media/twilio",
            "wss://h:8443/media/twilio",
            "ws://h:8443/ivr/media/twilio",
        ] {
            assert!(!url.verify(&key, &sign(text)), "{text}");
        }
    }

    #[test]
    fn public_url_settings() {
        assert_eq!(
            Base::new(Some("wss://ivr.example.com:8443/tonegate/"), false),
            Ok(Base::Public {
                scheme: Scheme::Wss,
                authority: "ivr.example.com:8443".to_owned(),
                prefix: "/tonegate".to_owned(),
            })
        );
        assert_eq!(Base::new(None, true), Ok(Base::Host(Scheme::Wss)));
        assert_eq!(Base::new(None, false), Ok(Base::Host(Scheme::Ws)));
        for bad in [
            "https://ivr.example.com",
            "ivr.example.com",
            "wss://",
            "wss://user:pw@ivr.example.com",
            "wss://ivr.example.com/?a=b",
            "wss://ivr.example.com#x",
        ] {
            let error = Base::new(Some(bad), false).unwrap_err();
            assert!(error.contains("public_url"), "{bad}: {error}");
        }
        for bad in ["", "ab cd"] {
            let error = Verifier::new(None, Some(bad), false).err().unwrap();
            assert!(error.contains("twilio_auth_token"), "{error}");
        }
        assert!(Verifier::new(None, None, false).unwrap().is_none());
    }
}
