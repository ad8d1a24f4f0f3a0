//! SSML checked before any engine sees it, and shaped for each: espeak-ng reads SSML
//! itself (with `-m`) once `<say-as interpret-as="digits">` is spelled as it knows it;
//! an engine that takes plain text gets the document's text.
//!
//! Documents are parsed with roxmltree: well-formed XML rooted at `<speak>`, no DTD
//! (so no entity expansion), at most [`MAX_NODES`] nodes.

use roxmltree::{Document, ParsingOptions};

/// Most XML nodes an SSML document may hold (text is capped at 4096 characters anyway).
const MAX_NODES: u32 = 4_096;

/// Why an SSML document is refused (for the client: it names no text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// Not well-formed XML, or it holds a DTD.
    #[error("ssmlText is not well-formed XML: {0}")]
    Malformed(String),
    /// The root element is not `<speak>`.
    #[error("ssmlText must be rooted at <speak>")]
    NotSpeak,
}

fn parse(ssml: &str) -> Result<Document<'_>, Refusal> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(ssml, options)
        .map_err(|e| Refusal::Malformed(e.to_string()))?;
    if doc.root_element().tag_name().name() != "speak" {
        return Err(Refusal::NotSpeak);
    }
    Ok(doc)
}

/// `ssml` as espeak-ng should get it: checked, with `interpret-as="digits"` (which
/// espeak-ng 1.51 ignores, reading "1234" as a number) spelled `characters` (which it
/// reads digit by digit).
pub(crate) fn for_espeak(ssml: &str) -> Result<String, Refusal> {
    let doc = parse(ssml)?;
    let mut digits: Vec<std::ops::Range<usize>> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "say-as")
        .filter_map(|n| n.attribute_node("interpret-as"))
        .filter(|a| a.value().trim().eq_ignore_ascii_case("digits"))
        .map(|a| a.range_value())
        .collect();
    digits.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(ssml.len() + 8 * digits.len());
    let mut at = 0;
    for range in digits {
        out.push_str(&ssml[at..range.start]);
        out.push_str("characters");
        at = range.end;
    }
    out.push_str(&ssml[at..]);
    Ok(out)
}

/// The text of `ssml` (entities resolved, tags dropped), for engines that take plain
/// text.
pub(crate) fn to_text(ssml: &str) -> Result<String, Refusal> {
    let doc = parse(ssml)?;
    let mut text = String::new();
    for piece in doc
        .descendants()
        .filter_map(|n| n.is_text().then(|| n.text()).flatten())
    {
        text.push_str(piece);
    }
    Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_spelled_for_espeak_and_the_rest_kept() {
        let ssml = r#"<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="en-US">Your code is <say-as interpret-as="digits">1234</say-as>, <say-as interpret-as='cardinal'>12</say-as> <break time="1s"/></speak>"#;
        assert_eq!(
            for_espeak(ssml).unwrap(),
            ssml.replace(r#""digits""#, r#""characters""#)
        );
    }

    #[test]
    fn text_engines_get_the_words() {
        let ssml = "<speak>Press <emphasis>one</emphasis>\n  for sales &amp; <break time=\"500ms\"/>billing</speak>";
        assert_eq!(to_text(ssml).unwrap(), "Press one for sales & billing");
    }

    #[test]
    fn malformed_or_foreign_documents_are_refused() {
        assert!(matches!(
            for_espeak("<speak>open"),
            Err(Refusal::Malformed(_))
        ));
        assert_eq!(to_text("<html>hi</html>"), Err(Refusal::NotSpeak));
        let dtd = r#"<!DOCTYPE speak [<!ENTITY x "boom">]><speak>&x;</speak>"#;
        assert!(matches!(for_espeak(dtd), Err(Refusal::Malformed(_))));
    }
}
