//! Longest free text tonegate accepts from audio peers and API clients, in characters.
//!
//! Every string a peer chooses (ids, names, contexts, URIs) is echoed in events, kept in
//! per-call state and copied to every event subscriber, so each has a fixed bound:
//! the media-operation API answers 400 and the audio dialects close the socket with 1008
//! when one is longer. Call Automation documents no limit for `operationContext`;
//! 4096 characters leaves room for the JSON state apps keep there.

/// Longest `operationContext` (API) or raw `context`.
pub const MAX_CONTEXT_CHARS: usize = 4_096;

/// Longest identifier: call ids, stream ids, participant raw ids, `playSourceCacheId`,
/// raw `play`/`sendDigits` ids and `mark` names.
pub const MAX_ID_CHARS: usize = 256;

/// Longest URI or prompt file name: `file.uri`, `operationCallbackUri`, raw `file` and
/// `callbackUri`.
pub const MAX_URI_CHARS: usize = 2_048;

/// Longest keyword: `kind`, `recognizeInputType`, tone names, `voiceName`,
/// `sourceLocale`.
pub const MAX_NAME_CHARS: usize = 64;

/// Longest text or SSML to synthesise (`TextSource.text`, `SsmlSource.ssmlText`, raw
/// `text` and `ssml`): about five minutes of speech, which bounds the engine's work per
/// request.
pub const MAX_SPEECH_CHARS: usize = 4_096;

/// Whether `text` is at most `max` characters long (counts no further than needed).
pub fn fits(text: &str, max: usize) -> bool {
    text.len() <= max || text.chars().nth(max).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_not_bytes() {
        assert!(fits("", 0));
        assert!(fits("abc", 3));
        assert!(!fits("abcd", 3));
        assert!(fits("ééé", 3), "6 bytes, 3 characters");
        assert!(!fits("éééé", 3));
    }
}
