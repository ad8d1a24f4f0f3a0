//! `packaging/tonegate.toml`, the commented settings file the Debian package installs as
//! `/etc/tonegate/tonegate.toml`, lists every server setting once, with its default
//! value, so it cannot drift from `Config`.

use std::collections::BTreeSet;

use tonegate::server::Config;

const FILE: &str = include_str!("../packaging/tonegate.toml");

/// The setting lines: a commented-out `name = value` (`#` then a lower-case letter;
/// prose comments have `# ` and a space), each after a one-line description.
fn settings() -> Vec<(String, toml::Value)> {
    let lines: Vec<&str> = FILE.lines().collect();
    let mut settings = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let Some(setting) = line
            .strip_prefix('#')
            .filter(|s| s.starts_with(|c: char| c.is_ascii_lowercase()))
        else {
            continue;
        };
        let above = lines[at - 1];
        assert!(
            above.starts_with("# ") && above.len() > 10,
            "{setting}: no description above it"
        );
        let mut table: toml::Table = setting.parse().unwrap_or_else(|e| panic!("{setting}: {e}"));
        assert_eq!(table.len(), 1, "{setting}");
        settings.extend(table.iter_mut().map(|(k, v)| (k.clone(), v.clone())));
    }
    settings
}

/// Every field of `Config` with its default, as JSON (`null`: no default).
fn defaults() -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(Config::default()).unwrap() {
        serde_json::Value::Object(fields) => fields,
        other => panic!("{other}"),
    }
}

#[test]
fn lists_every_setting_once() {
    let listed: Vec<String> = settings().into_iter().map(|(name, _)| name).collect();
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "a setting listed twice");
    let defaults = defaults();
    let fields: BTreeSet<&String> = defaults.keys().collect();
    let missing: Vec<_> = fields.difference(&unique).collect();
    let unknown: Vec<_> = unique.difference(&fields).collect();
    assert!(
        missing.is_empty(),
        "not in packaging/tonegate.toml: {missing:?}"
    );
    assert!(unknown.is_empty(), "not a Config field: {unknown:?}");
}

/// Settings whose default depends on the machine (`max_sessions`: 500 per core): the file
/// shows the value of a 2-core box as an example.
const MACHINE_DEPENDENT: [&str; 1] = ["max_sessions"];

#[test]
fn every_listed_value_is_the_default() {
    let defaults = defaults();
    let mut with_default = toml::Table::new();
    let mut examples = toml::Table::new();
    for (name, value) in settings() {
        if defaults.get(&name).is_some_and(|d| !d.is_null())
            && !MACHINE_DEPENDENT.contains(&name.as_str())
        {
            with_default.insert(name, value);
        } else {
            examples.insert(name, value);
        }
    }
    let parsed: Config = toml::Value::Table(with_default).try_into().unwrap();
    assert_eq!(parsed, Config::default());
    // Settings without a default show an example that must at least be well typed.
    let _: Config = toml::Value::Table(examples).try_into().unwrap();
}

#[test]
fn the_file_as_shipped_gives_the_defaults() {
    let parsed: Config = toml::from_str(FILE).unwrap();
    assert_eq!(parsed, Config::default());
    assert!(
        FILE.contains("#max_sessions = 1000"),
        "the 2-core example of max_sessions"
    );
}
