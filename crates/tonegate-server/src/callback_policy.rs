//! Which callback URIs an audio socket may name, and the DNS screen their deliveries go
//! through.
//!
//! A socket names a callback URI in its URL query (ACS), its raw `start` frame or a
//! Twilio custom parameter. Events of the call, signed with the access key, go there, so
//! such a URI is honoured only if the socket authenticated its upgrade and the URI
//! matches [`Config::callback_allow`](super::Config) (by default the host of
//! [`Config::callback_uri`](super::Config)). Entries are hosts (`app.example.com`,
//! `10.1.2.3`, `[::1]`), `*.example.com` (any subdomain), `*` (any host), or URL
//! prefixes (`https://app.example.com/events/`).
//!
//! Addresses that are not public (loopback, private, link-local, CGNAT, multicast,
//! IPv4-mapped IPv6, ...) are refused unless their host is listed exactly: an IP literal
//! in any form the URL parser accepts (`127.1`, `0x7f000001`, `[::ffff:127.0.0.1]`), a
//! `localhost` name, and, at delivery, any address a name resolves to ([`Resolver`]:
//! DNS rebinding). Credentials (`user:pass@`) are refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Host;

/// Why a socket's callback URI is not honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// Not an absolute http(s) URL with a host.
    #[error("callbackUri is not an absolute http or https URL")]
    BadUrl,
    /// The socket did not authenticate its upgrade.
    #[error("callbackUri is only taken from authenticated audio sockets")]
    Unauthenticated,
    /// The URL carries `user:password@`.
    #[error("callbackUri may not carry credentials")]
    Credentials,
    /// No `callback_allow` entry matches.
    #[error("callbackUri is not allowed by callback_allow")]
    NotAllowed,
    /// The host is a non-public address (or `localhost`) not listed exactly.
    #[error("callbackUri names a non-public address not listed in callback_allow")]
    PrivateAddress,
}

impl Refusal {
    /// Every refusal, to pre-register the metric labels.
    pub(crate) const ALL: [Refusal; 5] = [
        Refusal::BadUrl,
        Refusal::Unauthenticated,
        Refusal::Credentials,
        Refusal::NotAllowed,
        Refusal::PrivateAddress,
    ];

    /// Label of `tonegate_callback_refused_total`.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Refusal::BadUrl => "badUrl",
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::Credentials => "credentials",
            Refusal::NotAllowed => "notAllowed",
            Refusal::PrivateAddress => "privateAddress",
        }
    }
}

/// Label of `tonegate_callback_refused_total` for a delivery whose host resolved only
/// to non-public addresses.
pub(crate) const RESOLVED_PRIVATE: &str = "resolvedPrivate";

/// One `callback_allow` entry.
#[derive(Debug, Clone, PartialEq)]
enum Entry {
    /// `*`.
    AnyHost,
    /// `*.example.com`: the subdomains of `example.com`.
    Subdomains(String),
    /// A host, as the URL parser writes it (lowercase; IPs normalised).
    Host(String),
    /// An `http(s)://` prefix.
    Prefix(Url),
}

impl Entry {
    fn parse(text: &str) -> Result<Entry, String> {
        let bad = || format!("callback_allow entry {text:?} is not a host, *.domain, * or URL");
        let text = text.trim();
        if text == "*" {
            return Ok(Entry::AnyHost);
        }
        if text.contains("://") {
            let url = tonegate_core::api::check_http_url(text).map_err(|_| bad())?;
            if !url.username().is_empty() || url.password().is_some() {
                return Err(bad());
            }
            return Ok(Entry::Prefix(url));
        }
        if let Some(domain) = text.strip_prefix("*.") {
            return match host_of(domain) {
                Some(Host::Domain(d)) => Ok(Entry::Subdomains(d)),
                _ => Err(bad()),
            };
        }
        let host = host_of(text).ok_or_else(bad)?;
        Ok(Entry::Host(host.to_string()))
    }

    fn matches(&self, url: &Url) -> bool {
        let host = url.host_str().unwrap_or("");
        match self {
            Entry::AnyHost => true,
            Entry::Subdomains(domain) => {
                matches!(url.host(), Some(Host::Domain(_)))
                    && host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
            }
            Entry::Host(h) => host == h,
            Entry::Prefix(prefix) => {
                let (path, wanted) = (url.path(), prefix.path());
                url.scheme() == prefix.scheme()
                    && url.host_str() == prefix.host_str()
                    && url.port_or_known_default() == prefix.port_or_known_default()
                    && path.starts_with(wanted)
                    && (wanted.ends_with('/')
                        || path.len() == wanted.len()
                        || path[wanted.len()..].starts_with('/'))
            }
        }
    }

    /// The host this entry names exactly, if any (wildcards name none).
    fn exact_host(&self) -> Option<&str> {
        match self {
            Entry::Host(h) => Some(h),
            Entry::Prefix(url) => url.host_str(),
            Entry::AnyHost | Entry::Subdomains(_) => None,
        }
    }
}

/// A host as the URL parser reads it (`127.1` is `127.0.0.1`), `None` if it is none.
fn host_of(text: &str) -> Option<Host> {
    let url = Url::parse(&format!("http://{text}/")).ok()?;
    let host = url.host()?.to_owned();
    (url.path() == "/" && url.port().is_none() && url.username().is_empty()).then_some(host)
}

/// The operator's allow-list for callback URIs named by audio sockets.
#[derive(Debug)]
pub(crate) struct Policy {
    entries: Vec<Entry>,
}

impl Policy {
    /// The policy of `callback_allow`, or of `callback_uri`'s host if that is empty.
    /// The error names the bad entry.
    pub(crate) fn new(config: &super::Config) -> Result<Policy, String> {
        let entries = if config.callback_allow.is_empty() {
            let default_host = config
                .callback_uri
                .as_deref()
                .and_then(|u| Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_owned));
            default_host.into_iter().map(Entry::Host).collect()
        } else {
            config
                .callback_allow
                .iter()
                .map(|e| Entry::parse(e))
                .collect::<Result<_, _>>()?
        };
        Ok(Policy { entries })
    }

    /// Checks a callback URI an audio socket named (`authenticated`: whether its upgrade
    /// was); returns it normalised, as deliveries will use it.
    pub(crate) fn check(&self, uri: &str, authenticated: bool) -> Result<Url, Refusal> {
        let url = tonegate_core::api::check_http_url(uri).map_err(|_| Refusal::BadUrl)?;
        if !authenticated {
            return Err(Refusal::Unauthenticated);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Credentials);
        }
        if !self.entries.iter().any(|e| e.matches(&url)) {
            return Err(Refusal::NotAllowed);
        }
        let public = match url.host() {
            Some(Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
            Some(Host::Domain(d)) => {
                let d = d.trim_end_matches('.');
                d != "localhost" && !d.ends_with(".localhost")
            }
            None => false,
        };
        if !public && !self.is_explicit(url.host_str().unwrap_or("")) {
            return Err(Refusal::PrivateAddress);
        }
        Ok(url)
    }

    /// Whether an entry names `host` exactly (so its addresses are not screened).
    fn is_explicit(&self, host: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.exact_host().is_some_and(|h| h.eq_ignore_ascii_case(host)))
    }
}

/// The DNS resolver of socket-named callback deliveries: names not listed exactly in
/// `callback_allow` may only resolve to public addresses; the others are dropped, and
/// a name left with none fails with [`ResolvedPrivate`].
pub(crate) struct Resolver {
    policy: Arc<Policy>,
}

impl Resolver {
    /// A resolver screening by `policy`.
    pub(crate) fn new(policy: Arc<Policy>) -> Resolver {
        Resolver { policy }
    }
}

/// A callback host resolved only to non-public addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the callback host resolves only to non-public addresses")]
pub(crate) struct ResolvedPrivate;

impl Resolve for Resolver {
    fn resolve(&self, name: Name) -> Resolving {
        let explicit = self.policy.is_explicit(name.as_str());
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| explicit || is_public(a.ip()))
                .collect();
            if kept.is_empty() {
                return Err(ResolvedPrivate.into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

/// Whether `ip` is a public unicast address: not loopback, private, link-local,
/// unspecified, CGNAT, multicast, broadcast, documentation, benchmarking or reserved,
/// and, for IPv6, not unique-local, nor one embedding an IPv4 address (mapped,
/// compatible, NAT64, 6to4, Teredo), whose target the check could not see.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18/15
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embeds_v4 = (s[..5] == [0; 5] && (s[5] == 0 || s[5] == 0xffff)) // compatible, mapped
        || (s[0] == 0x64 && s[1] == 0xff9b) // NAT64
        || s[0] == 0x2002 // 6to4
        || (s[0] == 0x2001 && s[1] == 0); // Teredo
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || embeds_v4
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] == 0x100 && s[1..4] == [0; 3])) // discard 100::/64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    fn policy(allow: &[&str]) -> Policy {
        Policy::new(&Config {
            callback_allow: allow.iter().map(|s| s.to_string()).collect(),
            ..Config::default()
        })
        .unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn public_addresses_pass() {
        for a in ["8.8.8.8", "1.1.1.1", "100.63.255.255", "2606:4700::1111"] {
            assert!(is_public(ip(a)), "{a}");
        }
    }

    #[test]
    fn non_public_address_classes_are_refused() {
        for a in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
        ] {
            assert!(!is_public(ip(a)), "{a}");
        }
    }

    #[test]
    fn loopback_in_every_literal_form_is_refused() {
        let p = policy(&["*"]);
        for uri in [
            "http://127.0.0.1:9/x",
            "http://127.1/x",
            "http://0x7f000001/x",
            "http://2130706433/x",
            "http://0177.0.0.1/x",
            "http://[::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://[0:0:0:0:0:0:0:1]/x",
            "http://localhost:8080/x",
            "http://api.localhost/x",
            "http://LOCALHOST./x",
            "http://0/x",
        ] {
            assert_eq!(p.check(uri, true), Err(Refusal::PrivateAddress), "{uri}");
        }
        assert!(p.check("https://hooks.example.com/x", true).is_ok());
    }

    #[test]
    fn non_public_literals_pass_only_when_listed_exactly() {
        let p = policy(&["127.0.0.1", "http://[::1]:9000/hooks/"]);
        // Any spelling of a listed address is that address.
        assert_eq!(
            p.check("http://127.1:8080/e", true).unwrap().as_str(),
            "http://127.0.0.1:8080/e"
        );
        assert!(p.check("http://0x7f000001/e", true).is_ok());
        assert!(p.check("http://[::1]:9000/hooks/a", true).is_ok());
        assert_eq!(
            p.check("http://[::1]:9001/hooks/a", true),
            Err(Refusal::NotAllowed)
        );
        assert_eq!(
            p.check("http://127.0.0.2/e", true),
            Err(Refusal::NotAllowed)
        );
    }

    #[test]
    fn unauthenticated_sockets_and_credentials_are_refused() {
        let p = policy(&["*"]);
        assert_eq!(
            p.check("https://hooks.example.com/x", false),
            Err(Refusal::Unauthenticated)
        );
        assert_eq!(
            p.check("https://user:pass@hooks.example.com/x", true),
            Err(Refusal::Credentials)
        );
        assert_eq!(
            p.check("https://user@hooks.example.com/x", true),
            Err(Refusal::Credentials)
        );
        assert_eq!(p.check("ftp://x/", true), Err(Refusal::BadUrl));
        assert_eq!(p.check("not a url", false), Err(Refusal::BadUrl));
    }

    #[test]
    fn hosts_wildcards_and_prefixes_match() {
        let p = policy(&[
            "App.Example.com",
            "*.hooks.example.net",
            "https://api.example.org/events/",
            "https://x.example.org/exact",
        ]);
        for ok in [
            "https://app.example.com/anything",
            "http://APP.example.com:8443/",
            "https://a.hooks.example.net/e",
            "https://a.b.hooks.example.net/e",
            "https://api.example.org/events/call-1",
            "https://api.example.org:443/events/",
            "https://x.example.org/exact",
            "https://x.example.org/exact/more",
        ] {
            assert!(p.check(ok, true).is_ok(), "{ok}");
        }
        for refused in [
            "https://evil.example.com/",
            "https://app.example.com.evil.net/",
            "https://hooks.example.net/e",
            "https://xhooks.example.net/e",
            "http://api.example.org/events/x",
            "https://api.example.org:8443/events/x",
            "https://api.example.org/other",
            "https://x.example.org/exactly",
        ] {
            assert_eq!(
                p.check(refused, true),
                Err(Refusal::NotAllowed),
                "{refused}"
            );
        }
    }

    #[test]
    fn the_default_allows_the_host_of_callback_uri_only() {
        let p = Policy::new(&Config {
            callback_uri: Some("http://127.0.0.1:7000/events".to_owned()),
            ..Config::default()
        })
        .unwrap();
        assert!(p.check("http://127.0.0.1:7001/other", true).is_ok());
        assert_eq!(p.check("http://127.0.0.2/", true), Err(Refusal::NotAllowed));
        let none = Policy::new(&Config::default()).unwrap();
        assert_eq!(
            none.check("https://hooks.example.com/", true),
            Err(Refusal::NotAllowed)
        );
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in [
            "*.",
            "http://",
            "a b",
            "user@host",
            "ftp://x/",
            "https://u:p@x/",
        ] {
            let err = Policy::new(&Config {
                callback_allow: vec![bad.to_owned()],
                ..Config::default()
            })
            .unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[tokio::test]
    async fn the_resolver_drops_non_public_addresses_of_names_not_listed() {
        let screened = Resolver::new(Arc::new(policy(&["*"])));
        let err = screened
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("localhost refused");
        assert!(err.downcast_ref::<ResolvedPrivate>().is_some(), "{err}");
        let listed = Resolver::new(Arc::new(policy(&["localhost"])));
        let addrs: Vec<SocketAddr> = listed
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}
