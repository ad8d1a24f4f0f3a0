//! The default node id: `<host>-<pid>-<4 hex>`, unique among the nodes of one cluster.

/// A fresh node id from the host name (its `[A-Za-z0-9-]` characters, at most 40), the
/// process id and 16 random bits.
pub(super) fn generate() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect();
    let host = if host.is_empty() {
        "node".to_owned()
    } else {
        host
    };
    format!(
        "{host}-{}-{:04x}",
        std::process::id(),
        rand::random::<u16>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_plain_and_name_the_process() {
        let id = generate();
        assert!(super::super::is_plain(&id, 64), "{id}");
        assert!(id.contains(&format!("-{}-", std::process::id())), "{id}");
    }
}
