//! Which espeak-ng voice speaks a play source: its `voiceName` (an espeak-ng voice such as
//! `en-gb`, or a Call Automation neural voice such as `en-US-JennyNeural`, mapped by its
//! locale), else its `sourceLocale`, else the configured default. A name or locale the
//! table does not know falls back to the next, and the caller logs a note.

/// Call Automation locales (lower case) and the espeak-ng voice that speaks each. A
/// language missing here is looked up by its first subtag (`en-ph` speaks as `en`'s
/// first row).
const LOCALES: &[(&str, &str)] = &[
    ("en-us", "en-us"),
    ("en-ca", "en-us"),
    ("en-gb", "en-gb"),
    ("en-au", "en-gb"),
    ("en-ie", "en-gb"),
    ("en-in", "en-gb"),
    ("en-nz", "en-gb"),
    ("en-za", "en-gb"),
    ("fr-fr", "fr-fr"),
    ("fr-ca", "fr-fr"),
    ("fr-be", "fr-be"),
    ("fr-ch", "fr-ch"),
    ("de-de", "de"),
    ("de-at", "de"),
    ("de-ch", "de"),
    ("es-es", "es"),
    ("es-mx", "es-419"),
    ("es-us", "es-419"),
    ("it-it", "it"),
    ("pt-br", "pt-br"),
    ("pt-pt", "pt"),
    ("nl-nl", "nl"),
    ("nl-be", "nl"),
    ("sv-se", "sv"),
    ("da-dk", "da"),
    ("nb-no", "nb"),
    ("fi-fi", "fi"),
    ("pl-pl", "pl"),
    ("cs-cz", "cs"),
    ("sk-sk", "sk"),
    ("hu-hu", "hu"),
    ("ro-ro", "ro"),
    ("bg-bg", "bg"),
    ("hr-hr", "hr"),
    ("sl-si", "sl"),
    ("el-gr", "el"),
    ("ru-ru", "ru"),
    ("uk-ua", "uk"),
    ("tr-tr", "tr"),
    ("ar-sa", "ar"),
    ("ar-eg", "ar"),
    ("he-il", "he"),
    ("hi-in", "hi"),
    ("id-id", "id"),
    ("ms-my", "ms"),
    ("vi-vn", "vi"),
    ("th-th", "th"),
    ("ja-jp", "ja"),
    ("ko-kr", "ko"),
    ("zh-cn", "cmn"),
    ("zh-tw", "cmn"),
    ("zh-hk", "yue"),
    ("ca-es", "ca"),
    ("cy-gb", "cy"),
    ("ga-ie", "ga"),
];

/// espeak-ng voices named directly beside those in [`LOCALES`] (regional variants).
const VARIANTS: &[&str] = &[
    "en",
    "en-029",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-us-nyc",
];

/// The voice chosen, and what was not understood on the way (for the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choice {
    /// The espeak-ng voice.
    pub(crate) voice: String,
    /// `Some("voiceName")` or `Some("sourceLocale")` when that was given but not known.
    pub(crate) unknown: Option<&'static str>,
}

/// The espeak-ng voice for `voice_name`, else `locale`, else `default`.
pub(crate) fn espeak(voice_name: Option<&str>, locale: Option<&str>, default: &str) -> Choice {
    let mut unknown = None;
    if let Some(name) = voice_name {
        if let Some(voice) = espeak_voice(name).or_else(|| neural_voice(name)) {
            return Choice { voice, unknown };
        }
        unknown = Some("voiceName");
    }
    if let Some(locale) = locale {
        if let Some(voice) = locale_voice(locale) {
            return Choice { voice, unknown };
        }
        unknown = unknown.or(Some("sourceLocale"));
    }
    Choice {
        voice: default.to_owned(),
        unknown,
    }
}

/// `name` itself, if it is an espeak-ng voice in the table.
fn espeak_voice(name: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let known = LOCALES.iter().any(|(_, voice)| *voice == lower) || VARIANTS.contains(&&*lower);
    known.then_some(lower)
}

/// The voice of a Call Automation neural voice name's locale (`en-US-JennyNeural`).
fn neural_voice(name: &str) -> Option<String> {
    let mut parts = name.splitn(3, '-');
    let (language, region) = (parts.next()?, parts.next()?);
    parts.next()?;
    locale_voice(&format!("{language}-{region}"))
}

/// The voice of `locale` (`en-US`, `en_us`, `fr`), by locale, else by language.
fn locale_voice(locale: &str) -> Option<String> {
    let lower = locale.trim().to_ascii_lowercase().replace('_', "-");
    let language = lower.split('-').next().unwrap_or_default();
    LOCALES
        .iter()
        .find(|(l, _)| *l == lower)
        .or_else(|| {
            LOCALES
                .iter()
                .find(|(l, _)| l.split('-').next() == Some(language))
        })
        .map(|(_, voice)| (*voice).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice(name: Option<&str>, locale: Option<&str>) -> (String, Option<&'static str>) {
        let c = espeak(name, locale, "en-us");
        (c.voice, c.unknown)
    }

    #[test]
    fn neural_names_map_by_locale_and_espeak_names_pass() {
        assert_eq!(
            voice(Some("en-US-JennyNeural"), None),
            ("en-us".into(), None)
        );
        assert_eq!(
            voice(Some("en-GB-SoniaNeural"), None),
            ("en-gb".into(), None)
        );
        assert_eq!(
            voice(Some("fr-CA-SylvieNeural"), None),
            ("fr-fr".into(), None)
        );
        assert_eq!(
            voice(Some("en-AU-NatashaNeural"), None),
            ("en-gb".into(), None)
        );
        assert_eq!(voice(Some("EN-GB"), None), ("en-gb".into(), None));
        assert_eq!(voice(Some("en-gb-x-rp"), None), ("en-gb-x-rp".into(), None));
        assert_eq!(voice(None, Some("de-DE")), ("de".into(), None));
        assert_eq!(voice(None, Some("es_MX")), ("es-419".into(), None));
        assert_eq!(
            voice(None, Some("en-PH")),
            ("en-us".into(), None),
            "by language"
        );
        assert_eq!(voice(None, None), ("en-us".into(), None));
    }

    #[test]
    fn unknown_names_fall_back_and_say_so() {
        assert_eq!(
            voice(Some("Zira"), Some("en-GB")),
            ("en-gb".into(), Some("voiceName"))
        );
        assert_eq!(
            voice(Some("xx-YY-FooNeural"), None),
            ("en-us".into(), Some("voiceName"))
        );
        assert_eq!(
            voice(None, Some("klingon")),
            ("en-us".into(), Some("sourceLocale"))
        );
        assert_eq!(voice(Some("-v"), None), ("en-us".into(), Some("voiceName")));
    }
}
