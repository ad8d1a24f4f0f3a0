//! Refuses a signed request seen before. An HMAC-signed request is valid while its
//! `x-ms-date` is within
//! [`MAX_CLOCK_SKEW`](tonegate_core::auth::request_signature::MAX_CLOCK_SKEW) of the
//! server's clock, so its signature is remembered until then. The memory is bounded: when it is full of
//! signatures still valid, new signed requests are refused (never an old signature
//! forgotten, which would let it be replayed).

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;
use std::time::SystemTime;

use tonegate_core::auth::unix_seconds;

/// Why a signature cannot be accepted again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReplayError {
    /// The signature was used before.
    #[error("this signed request was already used; sign each request anew")]
    Replayed,
    /// Too many signatures are still valid to remember another.
    #[error("too many signed requests in the last minutes; retry later")]
    Full,
}

/// Signatures seen, each until it expires.
pub(crate) struct ReplayCache {
    capacity: usize,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    signatures: HashSet<Vec<u8>>,
    /// (expiry in unix seconds, signature), oldest first.
    by_expiry: BTreeSet<(u64, Vec<u8>)>,
}

impl ReplayCache {
    /// A cache holding at most `capacity` signatures.
    pub(crate) fn new(capacity: usize) -> ReplayCache {
        ReplayCache {
            capacity,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Records `signature`, valid until `expires`; refuses one already recorded.
    pub(crate) fn check(
        &self,
        signature: &[u8],
        expires: SystemTime,
        now: SystemTime,
    ) -> Result<(), ReplayError> {
        let now = unix_seconds(now);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(first) = seen.by_expiry.first() {
            if first.0 >= now {
                break;
            }
            if let Some((_, old)) = seen.by_expiry.pop_first() {
                seen.signatures.remove(&old);
            }
        }
        if seen.signatures.contains(signature) {
            return Err(ReplayError::Replayed);
        }
        if seen.signatures.len() >= self.capacity {
            return Err(ReplayError::Full);
        }
        seen.signatures.insert(signature.to_vec());
        seen.by_expiry
            .insert((unix_seconds(expires), signature.to_vec()));
        Ok(())
    }

    /// Signatures remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.signatures.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn refuses_reuse_until_expiry_and_refuses_when_full() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let cache = ReplayCache::new(2);
        let later = t0 + Duration::from_secs(300);
        assert_eq!(cache.check(b"a", later, t0), Ok(()));
        assert_eq!(cache.check(b"a", later, t0), Err(ReplayError::Replayed));
        assert_eq!(cache.check(b"b", later, t0), Ok(()));
        assert_eq!(cache.check(b"c", later, t0), Err(ReplayError::Full));
        assert_eq!(cache.len(), 2);
        // Past their expiry they are forgotten (the date check refuses them anyway).
        let after = later + Duration::from_secs(1);
        assert_eq!(
            cache.check(b"c", after + Duration::from_secs(300), after),
            Ok(())
        );
        assert_eq!(cache.len(), 1);
    }
}
