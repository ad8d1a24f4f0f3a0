//! Prompts, however a client names them: the one path policy for every way a client
//! names a file (a raw `play` request's `file`, a `file://` play source of the
//! media-operation API), downloads of `http(s)://` play sources, the limits on what is
//! read, fetched and decoded, and the caches of decoded prompts and downloaded files.
//!
//! A name resolves inside [`Config::prompt_dir`]: relative to it, or absolute and under
//! it; `..` is refused outright. Unless [`Config::prompt_follow_symlinks`] is set, no
//! component of the path below `prompt_dir` may be a symbolic link (with it, links are
//! followed but the file they reach must still lie inside `prompt_dir`). A file over
//! [`Config::max_prompt_bytes`] is not read, and one holding more than
//! [`Config::max_prompt_ms`] of audio (known from its header) is not decoded.
//!
//! Clients learn only the class of a failure ([`Failure::public_message`]): a missing
//! file, an unreadable one and one the policy refuses read the same, so nobody can probe
//! the file system through `play`. The server log keeps the detail.

use std::collections::{HashMap, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;

use super::log_text::Escaped;
use super::{Config, State, http};
use tonegate_core::api::model::{LoadedSource, SourceFailure, SpeechFailure};
use tonegate_core::api::{FileRef, PlaySourceRef};
use tonegate_core::player::{self, Prompt};
use tonegate_core::proto::PromptSource;
use tonegate_dsp::SampleRate;

/// Decoded prompts kept before the cache starts again from empty.
const CACHE_ENTRIES: usize = 256;

/// Cache key: file, stream rate, file length and modification time.
type Key = (PathBuf, u32, u64, Option<SystemTime>);

/// Why a prompt could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Failure {
    /// The name itself is not allowed (empty, or with `..`); judged without touching
    /// the file system.
    #[error("prompt name is empty or holds ..")]
    BadPath,
    /// Missing, unreadable, not a regular file, outside `prompt_dir` or reached through
    /// a symbolic link: the detail is for the log only.
    #[error("{0}")]
    NotAvailable(String),
    /// Larger than `max_prompt_bytes`.
    #[error("{0}")]
    TooLarge(String),
    /// More audio than `max_prompt_ms`.
    #[error("{0}")]
    TooLong(String),
    /// Not a WAV file tonegate decodes.
    #[error("{0}")]
    BadFormat(String),
    /// The speech engine could not say it (the detail was logged by the engine).
    #[error("{}", .0.result().message)]
    Speech(SpeechFailure),
}

impl Failure {
    /// The code of a raw `error` event.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Failure::BadPath => "badPath",
            Failure::NotAvailable(_) => "fileNotFound",
            Failure::TooLarge(_) => "fileTooLarge",
            Failure::TooLong(_) => "promptTooLong",
            Failure::BadFormat(_) => "badFormat",
            Failure::Speech(SpeechFailure::BadRequest(_)) => "speechRefused",
            Failure::Speech(SpeechFailure::Unauthorized(_)) => "speechUnauthorized",
            Failure::Speech(SpeechFailure::TimedOut(_)) => "speechTimeout",
            Failure::Speech(SpeechFailure::Busy(_)) => "speechBusy",
        }
    }

    /// All a client is told: one fixed text per class of file failure; what the speech
    /// engine says of its own (never the text).
    pub(crate) fn public_message(&self) -> &str {
        match self {
            Failure::BadPath => "prompt file name must lie inside prompt_dir, without ..",
            Failure::NotAvailable(_) => "play source not available",
            Failure::TooLarge(_) => "play source is larger than max_prompt_bytes",
            Failure::TooLong(_) => "play source is longer than max_prompt_ms",
            Failure::BadFormat(_) => "play source is not a WAV file tonegate reads",
            Failure::Speech(failure) => failure.message(),
        }
    }

    /// A decoding error of a play source.
    pub(crate) fn from_decoding(e: player::Error) -> Failure {
        match e {
            player::Error::TooLong { .. } => Failure::TooLong(e.to_string()),
            e => Failure::BadFormat(e.to_string()),
        }
    }
}

/// The prompt path policy and caches of one server.
pub(crate) struct Prompts {
    root: PathBuf,
    follow_symlinks: bool,
    max_bytes: u64,
    max_len: Duration,
    cache: Mutex<HashMap<Key, Prompt>>,
    /// Downloaded play-source files by cache key, within `play_cache_bytes`.
    downloads: Mutex<ByteCache>,
}

/// Files by key within a byte budget, the oldest dropped first to make room: downloaded
/// play sources, synthesised speech.
pub(crate) struct ByteCache {
    map: HashMap<String, Bytes>,
    order: VecDeque<String>,
    bytes: u64,
    capacity: u64,
}

impl ByteCache {
    /// An empty cache of `capacity` bytes.
    pub(crate) fn new(capacity: u64) -> ByteCache {
        ByteCache {
            map: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            capacity,
        }
    }

    /// The file under `key`, if kept.
    pub(crate) fn get(&self, key: &str) -> Option<Bytes> {
        self.map.get(key).cloned()
    }

    /// Keeps `bytes` under `key`, dropping the oldest to stay within the capacity (a
    /// file larger than all of it is not kept).
    pub(crate) fn insert(&mut self, key: &str, bytes: Bytes) {
        let size = bytes.len() as u64;
        if size > self.capacity {
            return;
        }
        if let Some(old) = self.map.remove(key) {
            self.bytes -= old.len() as u64;
            self.order.retain(|k| k != key);
        }
        while self.bytes + size > self.capacity {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.map.remove(&old) {
                self.bytes -= b.len() as u64;
            }
        }
        self.map.insert(key.to_owned(), bytes);
        self.order.push_back(key.to_owned());
        self.bytes += size;
    }
}

impl Prompts {
    /// The policy and limits of `config`, with an empty cache.
    pub(crate) fn new(config: &Config) -> Prompts {
        Prompts {
            root: config.prompt_dir.clone(),
            follow_symlinks: config.prompt_follow_symlinks,
            max_bytes: config.max_prompt_bytes,
            max_len: Duration::from_millis(config.max_prompt_ms),
            cache: Mutex::new(HashMap::new()),
            downloads: Mutex::new(ByteCache::new(config.play_cache_bytes)),
        }
    }

    /// Longest prompt decoded ([`Config::max_prompt_ms`]).
    pub(crate) fn max_len(&self) -> Duration {
        self.max_len
    }

    /// Loads (or takes from the cache) the prompt file `name` converted to `rate`.
    /// Blocking.
    pub(crate) fn load(&self, name: &str, rate: SampleRate) -> Result<Prompt, Failure> {
        let path = self.resolve(name)?;
        let meta = std::fs::metadata(&path)
            .map_err(|e| Failure::NotAvailable(format!("{}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(Failure::NotAvailable(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        if meta.len() > self.max_bytes {
            return Err(Failure::TooLarge(format!(
                "{} is {} bytes; max_prompt_bytes is {}",
                path.display(),
                meta.len(),
                self.max_bytes
            )));
        }
        let key = (path.clone(), rate.hz(), meta.len(), meta.modified().ok());
        if let Some(p) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(p.clone());
        }
        let bytes = std::fs::read(&path)
            .map_err(|e| Failure::NotAvailable(format!("{}: {e}", path.display())))?;
        let prompt = Prompt::from_wav_within(&bytes, rate, self.max_len).map_err(|e| {
            match Failure::from_decoding(e) {
                Failure::TooLong(m) => Failure::TooLong(format!("{}: {m}", path.display())),
                other => Failure::BadFormat(format!("{}: {other}", path.display())),
            }
        })?;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, prompt.clone());
        Ok(prompt)
    }

    /// The file `name` stands for, if the policy allows it: relative to `prompt_dir` or
    /// absolute under it, no `..`, no symbolic link below `prompt_dir` unless allowed
    /// (and then still inside it).
    fn resolve(&self, name: &str) -> Result<PathBuf, Failure> {
        let path = Path::new(name);
        if name.is_empty() || path.components().any(|c| c == Component::ParentDir) {
            return Err(Failure::BadPath);
        }
        let root = self.root.canonicalize().map_err(|e| {
            Failure::NotAvailable(format!("prompt_dir {}: {e}", self.root.display()))
        })?;
        let relative = if path.is_absolute() {
            let configured = std::path::absolute(&self.root).unwrap_or_else(|_| root.clone());
            path.strip_prefix(&root)
                .or_else(|_| path.strip_prefix(&configured))
                .map_err(|_| Failure::NotAvailable(format!("{name} is outside prompt_dir")))?
        } else {
            path
        };
        let mut full = root.clone();
        for component in relative.components() {
            let Component::Normal(part) = component else {
                continue;
            };
            full.push(part);
            let meta = std::fs::symlink_metadata(&full)
                .map_err(|e| Failure::NotAvailable(format!("{}: {e}", full.display())))?;
            if meta.file_type().is_symlink() && !self.follow_symlinks {
                return Err(Failure::NotAvailable(format!(
                    "{} is a symbolic link (prompt_follow_symlinks is off)",
                    full.display()
                )));
            }
        }
        if self.follow_symlinks {
            let target = full
                .canonicalize()
                .map_err(|e| Failure::NotAvailable(format!("{}: {e}", full.display())))?;
            if !target.starts_with(&root) {
                return Err(Failure::NotAvailable(format!(
                    "{} leads outside prompt_dir",
                    full.display()
                )));
            }
            return Ok(target);
        }
        Ok(full)
    }
}

/// The path of a `file://` URI (`file:///abs`, `file://localhost/abs`, `file://rel`).
pub(crate) fn file_uri_path(uri: &str) -> Option<String> {
    if !uri.get(..7)?.eq_ignore_ascii_case("file://") {
        return None;
    }
    let rest = &uri[7..];
    let rest = rest
        .strip_prefix("localhost")
        .filter(|r| r.starts_with('/'))
        .unwrap_or(rest);
    Some(percent_decode(rest))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the `file://` URI `uri` names a path with `..` (refused before any load;
/// other URIs never do).
pub(crate) fn climbs_out(uri: &str) -> bool {
    file_uri_path(uri).is_some_and(|path| {
        Path::new(&path)
            .components()
            .any(|c| matches!(c, Component::ParentDir))
    })
}

/// Loads every play source at `rate`: a prompt, or why it could not be had.
pub(crate) async fn load_sources(
    state: &Arc<State>,
    sources: &[PlaySourceRef],
    rate: SampleRate,
) -> Vec<LoadedSource> {
    let mut out = Vec::with_capacity(sources.len());
    for source in sources {
        out.push(load_source(state, source, rate).await);
    }
    out
}

/// Loads one play source: a file, or speech from the speech engine.
async fn load_source(state: &Arc<State>, source: &PlaySourceRef, rate: SampleRate) -> LoadedSource {
    match source {
        PlaySourceRef::File(file) => load_file_source(state, file, rate).await,
        PlaySourceRef::Speech(speech) => state
            .tts
            .synthesize(speech, rate)
            .await
            .map_err(SourceFailure::Speech),
    }
}

/// Loads one file play source; a failure is logged in detail and told to the client by
/// its class only ([`Failure::public_message`]).
async fn load_file_source(state: &Arc<State>, source: &FileRef, rate: SampleRate) -> LoadedSource {
    let loaded = match file_uri_path(&source.uri) {
        Some(path) => load(state, path, rate).await,
        None => fetch(state, source, rate).await,
    };
    loaded.map_err(|failure| {
        let uri = source.uri.split(['?', '#']).next().unwrap_or_default();
        tracing::warn!(source = %Escaped(uri), "play source failed: {}", Escaped(&failure.to_string()));
        let message = failure.public_message().to_owned();
        match failure {
            Failure::BadFormat(_) => SourceFailure::InvalidFormat(message),
            _ => SourceFailure::DownloadFailed(message),
        }
    })
}

/// Downloads (or takes from the download cache) an http(s) source and decodes it.
async fn fetch(state: &Arc<State>, source: &FileRef, rate: SampleRate) -> Result<Prompt, Failure> {
    let cached = state
        .prompts
        .downloads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&source.cache_key);
    let fetched = cached.is_none();
    let bytes = match cached {
        Some(bytes) => bytes,
        None => http::get_limited(
            state.webhook.client(),
            &source.uri,
            (state.config.max_download_bytes, "max_download_bytes"),
            Duration::from_millis(state.config.download_timeout_ms),
        )
        .await
        .map_err(Failure::NotAvailable)?,
    };
    let wav = bytes.clone();
    let max_len = state.prompts.max_len();
    let prompt = tokio::task::spawn_blocking(move || {
        Prompt::from_wav_within(&wav, rate, max_len).map_err(Failure::from_decoding)
    })
    .await
    .unwrap_or_else(|e| Err(Failure::BadFormat(format!("decoder failed: {e}"))))?;
    // Only playable content is cached, so a fixed file is fetched again.
    if fetched {
        state
            .prompts
            .downloads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(&source.cache_key, bytes);
    }
    Ok(prompt)
}

/// Loads what a raw `play` names at `rate`: its prompt file, or its speech.
pub(crate) async fn load_prompt(
    state: &Arc<State>,
    source: &PromptSource,
    rate: SampleRate,
) -> Result<Prompt, Failure> {
    match source {
        PromptSource::File(name) => load(state, name.clone(), rate).await,
        PromptSource::Speech(speech) => state
            .tts
            .synthesize(speech, rate)
            .await
            .map_err(Failure::Speech),
    }
}

/// Loads the prompt file `name` at `rate` on the blocking pool.
pub(crate) async fn load(
    state: &Arc<State>,
    name: String,
    rate: SampleRate,
) -> Result<Prompt, Failure> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || state.prompts.load(&name, rate))
        .await
        .unwrap_or_else(|e| Err(Failure::NotAvailable(format!("prompt loader failed: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tonegate-prompts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/a.wav"), b"x").unwrap();
        dir
    }

    fn prompts(root: &Path, follow_symlinks: bool) -> Prompts {
        Prompts::new(&Config {
            prompt_dir: root.to_path_buf(),
            prompt_follow_symlinks: follow_symlinks,
            ..Config::default()
        })
    }

    #[test]
    fn names_resolve_inside_prompt_dir_only() {
        let root = dir("inside");
        let p = prompts(&root, false);
        let canonical = root.canonicalize().unwrap();
        assert_eq!(p.resolve("sub/a.wav").unwrap(), canonical.join("sub/a.wav"));
        let absolute = root.join("sub/a.wav");
        assert_eq!(
            p.resolve(absolute.to_str().unwrap()).unwrap(),
            canonical.join("sub/a.wav")
        );
        assert_eq!(p.resolve("../x.wav"), Err(Failure::BadPath));
        assert_eq!(p.resolve("sub/../sub/a.wav"), Err(Failure::BadPath));
        assert_eq!(p.resolve(""), Err(Failure::BadPath));
        assert!(matches!(
            p.resolve("/etc/hostname"),
            Err(Failure::NotAvailable(_))
        ));
        assert!(matches!(
            p.resolve("sub/missing.wav"),
            Err(Failure::NotAvailable(_))
        ));
        let _ = std::fs::remove_dir_all(root);
    }

    #[cfg(unix)]
    #[test]
    fn symbolic_links_need_the_setting_and_stay_inside() {
        let root = dir("links");
        std::os::unix::fs::symlink(root.join("sub/a.wav"), root.join("inner.wav")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("outer.wav")).unwrap();
        std::os::unix::fs::symlink(root.join("sub"), root.join("linked")).unwrap();
        let strict = prompts(&root, false);
        for name in ["inner.wav", "outer.wav", "linked/a.wav"] {
            assert!(
                matches!(strict.resolve(name), Err(Failure::NotAvailable(_))),
                "{name}"
            );
        }
        let lenient = prompts(&root, true);
        let target = root.canonicalize().unwrap().join("sub/a.wav");
        assert_eq!(lenient.resolve("inner.wav").unwrap(), target);
        assert_eq!(lenient.resolve("linked/a.wav").unwrap(), target);
        assert!(matches!(
            lenient.resolve("outer.wav"),
            Err(Failure::NotAvailable(_))
        ));
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn file_uris() {
        assert_eq!(file_uri_path("file:///tmp/a.wav").unwrap(), "/tmp/a.wav");
        assert_eq!(
            file_uri_path("FILE://localhost/tmp/a b.wav").unwrap(),
            "/tmp/a b.wav"
        );
        assert_eq!(
            file_uri_path("file:///tmp/a%20b.wav").unwrap(),
            "/tmp/a b.wav"
        );
        assert_eq!(
            file_uri_path("file://greeting.wav").unwrap(),
            "greeting.wav"
        );
        assert!(file_uri_path("https://x/a.wav").is_none());
        assert!(climbs_out("file:///p/../etc/passwd"));
        assert!(!climbs_out("file:///p/a.wav"));
    }

    #[test]
    fn clients_see_one_text_per_class() {
        let missing = Failure::NotAvailable("/srv/secret.wav: No such file".to_owned());
        let link = Failure::NotAvailable("/srv/p/x.wav is a symbolic link".to_owned());
        assert_eq!(missing.public_message(), link.public_message());
        assert_eq!(missing.code(), link.code());
        assert!(!missing.public_message().contains("secret"));
    }
}
