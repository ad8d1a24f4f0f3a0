//! The names a cluster uses on NATS: subjects and key-value keys for calls, bucket names
//! for a prefix. Every name a peer can influence (a call id) is encoded so it can never
//! reach another subject or key.

use base64::Engine;

/// Longest call id used verbatim in a subject or key.
const VERBATIM_MAX: usize = 128;

/// A call id as one NATS subject token and key-value key: ids of `[A-Za-z0-9-]` (ACS
/// call-connection GUIDs, Twilio `CA...` SIDs) verbatim, anything else `_` and the
/// base64url (unpadded) of its bytes. Verbatim ids hold no `_`, so the two forms never
/// meet, and neither holds `.`, `*`, `>` or whitespace.
pub(super) fn call_token(call_id: &str) -> String {
    let verbatim = !call_id.is_empty()
        && call_id.len() <= VERBATIM_MAX
        && call_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if verbatim {
        return call_id.to_owned();
    }
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(call_id);
    format!("_{encoded}")
}

/// The names of one cluster (`cluster_prefix`).
#[derive(Debug, Clone)]
pub(super) struct Names {
    prefix: String,
}

impl Names {
    /// The names under `prefix` (checked by the caller with [`is_plain`]).
    pub(super) fn new(prefix: &str) -> Names {
        Names {
            prefix: prefix.to_owned(),
        }
    }

    /// The key-value bucket of live nodes (`<prefix>_nodes`).
    pub(super) fn nodes_bucket(&self) -> String {
        format!("{}_nodes", self.prefix)
    }

    /// The key-value bucket of call owners (`<prefix>_calls`).
    pub(super) fn calls_bucket(&self) -> String {
        format!("{}_calls", self.prefix)
    }

    /// The request-reply subject the owner of `call_id` answers on
    /// (`<prefix>.cmd.<call token>`).
    pub(super) fn command_subject(&self, call_id: &str) -> String {
        format!("{}.cmd.{}", self.prefix, call_token(call_id))
    }

    /// The JetStream stream holding every call's events (`<prefix>_events`).
    pub(super) fn events_stream(&self) -> String {
        format!("{}_events", self.prefix)
    }

    /// The subject the owner of `call_id` publishes its events on, in
    /// [`Names::events_stream`] (`<prefix>.evt.<call token>`).
    pub(super) fn event_subject(&self, call_id: &str) -> String {
        format!("{}.evt.{}", self.prefix, call_token(call_id))
    }

    /// The subjects of every call's events (`<prefix>.evt.>`): the events stream's.
    pub(super) fn all_events_subject(&self) -> String {
        format!("{}.evt.>", self.prefix)
    }

    /// The call id of an [`Names::event_subject`]; `None` for any other subject.
    pub(super) fn call_of_event_subject(&self, subject: &str) -> Option<String> {
        let token = subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(".evt.")?;
        match token.strip_prefix('_') {
            None => (!token.is_empty() && !token.contains('.')).then(|| token.to_owned()),
            Some(encoded) => {
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(encoded)
                    .ok()?;
                String::from_utf8(bytes).ok()
            }
        }
    }

    /// The stream of unsettled webhook deliveries (`<prefix>_hooks`).
    pub(super) fn hooks_stream(&self) -> String {
        format!("{}_hooks", self.prefix)
    }

    /// Every subject of the webhook stream (`<prefix>.hook.>`).
    pub(super) fn hooks_subjects(&self) -> String {
        format!("{}.hook.>", self.prefix)
    }

    /// Where node `node` keeps a delivery of `call_id`
    /// (`<prefix>.hook.<node>.<call token>`; node ids are plain).
    pub(super) fn hook_subject(&self, node: &str, call_id: &str) -> String {
        format!("{}.hook.{node}.{}", self.prefix, call_token(call_id))
    }

    /// Node `node`'s partition of the webhook stream (`<prefix>.hook.<node>.>`).
    pub(super) fn hook_partition(&self, node: &str) -> String {
        format!("{}.hook.{node}.>", self.prefix)
    }

    /// The node whose partition `subject` is in, if it is a webhook subject.
    pub(super) fn hook_partition_node(&self, subject: &str) -> Option<String> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix(".hook.")?;
        let (node, _call) = rest.split_once('.')?;
        Some(node.to_owned())
    }

    /// The key-value bucket of the last continuous-DTMF `sequenceId` of calls whose node
    /// died with them (`<prefix>_lost`).
    pub(super) fn lost_bucket(&self) -> String {
        format!("{}_lost", self.prefix)
    }

    /// The key-value bucket of adoption locks (`<prefix>_locks`).
    pub(super) fn locks_bucket(&self) -> String {
        format!("{}_locks", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_verbatim() {
        let guid = "0d000a00-1f05-4a8d-8b39-3e7a0c3b2f11";
        assert_eq!(call_token(guid), guid);
        assert_eq!(call_token("CA1234abcd"), "CA1234abcd");
    }

    #[test]
    fn other_ids_cannot_reach_another_subject() {
        for id in ["a.b", "x.>", "*", "a b", "_x", "", "ünï", &"a".repeat(129)] {
            let token = call_token(id);
            assert!(token.starts_with('_'), "{id:?} -> {token}");
            assert!(
                token[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{id:?} -> {token}"
            );
        }
        assert_ne!(call_token("a.b"), call_token("a/b"));
        let names = Names::new("tg");
        assert_eq!(names.command_subject("x.>"), "tg.cmd._eC4-");
        assert_eq!(names.event_subject("x.>"), "tg.evt._eC4-");
        assert_eq!(names.events_stream(), "tg_events");
        assert_eq!(names.all_events_subject(), "tg.evt.>");
        for id in ["CA1234abcd", "x.>", "ünï", "_x", &"a".repeat(300)] {
            let subject = names.event_subject(id);
            assert_eq!(names.call_of_event_subject(&subject).as_deref(), Some(id));
        }
        assert_eq!(names.call_of_event_subject("tg.cmd.x"), None);
        assert_eq!(names.call_of_event_subject("other.evt.x"), None);
    }
}
