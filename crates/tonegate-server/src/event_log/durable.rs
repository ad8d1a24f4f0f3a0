//! The durable embedded backend ([`Config::state_dir`](crate::Config::state_dir)): the
//! event log and the webhook outbox in one redb file, `tonegate.redb`.
//!
//! The retained events are also kept in a [`Memory`] log, which numbers them, serves
//! replays and the live subscribers: an event reaches the SSE streams only once it is
//! on disk, so an id a client saw is still there after a restart. At start the events
//! on disk (within retention) are read back and numbering goes on after the last one.
//!
//! One thread owns the file. Whatever is waiting when it looks (appends from the
//! appender task, outbox entries and settlements from webhook delivery) goes in one
//! write transaction, committed durably (an fsync): a group commit.

use std::path::Path;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use redb::{Database, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use super::memory::Memory;
use super::{Backend, CallFilter, Entry, Error, EventId, Item, Outbox, Record, StoredDelivery};

/// Event id → [`encode_record`].
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Outbox key → [`StoredDelivery`] as JSON.
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// `next_id` → the id the next event gets (kept when retention keeps no event).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The file's name in `state_dir`.
pub(crate) const FILE: &str = "tonegate.redb";

/// Work for the writer thread.
enum Write {
    /// Store these entries and drop those before `keep_from`; answer once durable.
    Append {
        entries: Vec<Arc<Entry>>,
        keep_from: EventId,
        done: oneshot::Sender<Result<(), Error>>,
    },
    /// Keep a delivery; answer once durable.
    Put {
        key: u64,
        delivery: Vec<u8>,
        done: oneshot::Sender<Result<(), Error>>,
    },
    /// Forget a delivery.
    Settle(u64),
    /// Answer once everything sent before is durable.
    Flush(oneshot::Sender<()>),
}

/// The durable log and outbox.
pub(crate) struct Durable {
    memory: Memory,
    writer: mpsc::UnboundedSender<Write>,
    /// Serialises appends, so ids are given on disk in the order the memory log gives them.
    appending: tokio::sync::Mutex<()>,
    /// The next outbox key.
    next_key: std::sync::atomic::AtomicU64,
    /// The deliveries found at start, until taken.
    pending: std::sync::Mutex<Vec<(u64, StoredDelivery)>>,
}

/// Creates `dir` (and its parents) and an empty `file` in it, where missing: readable
/// by this user only (on Unix), as they hold callers' digits. Existing ones are left as
/// they are.
fn create_private(dir: &Path, file: &Path) -> std::io::Result<()> {
    let mut dirs = std::fs::DirBuilder::new();
    dirs.recursive(true);
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        dirs.mode(0o700);
        options.mode(0o600);
    }
    dirs.create(dir)?;
    options.open(file).map(drop)
}

/// A storage error as the log's error.
fn storage(e: impl std::fmt::Display) -> Error {
    Error::Backend(e.to_string())
}

impl Durable {
    /// Opens (or creates) `dir`/[`FILE`], reads back the retained events and the
    /// pending deliveries, and starts the writer thread. `memory` is empty.
    pub(crate) fn open(dir: &Path, memory: Memory) -> Result<Durable, Error> {
        let path = dir.join(FILE);
        create_private(dir, &path).map_err(|e| storage(format!("{}: {e}", path.display())))?;
        let db =
            Database::create(&path).map_err(|e| storage(format!("{}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(storage)?;
        let (entries, next_id, pending) = {
            let events = txn.open_table(EVENTS).map_err(storage)?;
            let outbox = txn.open_table(OUTBOX).map_err(storage)?;
            let meta = txn.open_table(META).map_err(storage)?;
            let mut entries = Vec::new();
            for row in events.iter().map_err(storage)? {
                let (id, bytes) = row.map_err(storage)?;
                let id = id.value();
                match decode_record(bytes.value()) {
                    Some(record) => entries.push(Arc::new(Entry { id, record })),
                    None => tracing::error!(id, "unreadable event in the event log; skipped"),
                }
            }
            let mut pending = Vec::new();
            for row in outbox.iter().map_err(storage)? {
                let (key, bytes) = row.map_err(storage)?;
                match serde_json::from_slice(bytes.value()) {
                    Ok(delivery) => pending.push((key.value(), delivery)),
                    Err(e) => tracing::error!(
                        key = key.value(),
                        "unreadable webhook delivery in the outbox; skipped: {e}"
                    ),
                }
            }
            let next_id = meta
                .get("next_id")
                .map_err(storage)?
                .map_or(1, |v| v.value());
            (entries, next_id, pending)
        };
        txn.commit().map_err(storage)?;
        let next_key = pending.last().map_or(1, |(k, _)| k + 1);
        memory.restore(entries, next_id);
        let (writer, work) = mpsc::unbounded_channel();
        std::thread::Builder::new()
            .name("tonegate-event-log".to_owned())
            .spawn(move || write_all(db, work))
            .map_err(storage)?;
        tracing::info!(
            path = %path.display(),
            next_id = memory.next_id(),
            pending_webhooks = pending.len(),
            "event log opened"
        );
        Ok(Durable {
            memory,
            writer,
            appending: tokio::sync::Mutex::new(()),
            next_key: std::sync::atomic::AtomicU64::new(next_key),
            pending: std::sync::Mutex::new(pending),
        })
    }

    /// Sends `write` to the writer thread.
    fn send(&self, write: Write) -> Result<(), Error> {
        self.writer
            .send(write)
            .map_err(|_| storage("the event log's writer has stopped"))
    }
}

impl Backend for Durable {
    fn append(&self, records: Vec<Record>) -> BoxFuture<'_, Result<(), Error>> {
        Box::pin(async move {
            let _turn = self.appending.lock().await;
            let first = self.memory.next_id();
            let entries: Vec<Arc<Entry>> = records
                .into_iter()
                .zip(first..)
                .map(|(record, id)| Arc::new(Entry { id, record }))
                .collect();
            let (done, durable) = oneshot::channel();
            self.send(Write::Append {
                entries: entries.clone(),
                keep_from: self.memory.first_id(),
                done,
            })?;
            durable
                .await
                .map_err(|_| storage("the event log's writer has stopped"))??;
            self.memory.append_numbered(&entries);
            Ok(())
        })
    }

    fn subscribe(
        &self,
        from: Option<EventId>,
        filter: CallFilter,
    ) -> Result<BoxStream<'static, Item>, Error> {
        self.memory.subscribe(from, filter)
    }

    fn lost(&self, missed: u64) {
        self.memory.lost(missed);
    }

    fn outbox(&self) -> Option<&dyn Outbox> {
        Some(self)
    }
}

impl Outbox for Durable {
    fn put(&self, delivery: &StoredDelivery) -> (u64, super::Durable) {
        let key = self
            .next_key
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (done, durable) = oneshot::channel();
        let delivery = serde_json::to_vec(delivery).unwrap_or_default();
        // A writer that has stopped drops `done`: the receiver then reports it.
        let _ = self.writer.send(Write::Put {
            key,
            delivery,
            done,
        });
        (key, durable)
    }

    fn settle(&self, key: u64) {
        let _ = self.send(Write::Settle(key));
    }

    fn take_pending(&self) -> Vec<(u64, StoredDelivery)> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn flush(&self) -> BoxFuture<'static, ()> {
        let (done, flushed) = oneshot::channel();
        let _ = self.send(Write::Flush(done));
        Box::pin(async move {
            let _ = flushed.await;
        })
    }
}

/// The writer thread: commits whatever is waiting in one durable transaction, then
/// answers; ends when every sender is gone.
fn write_all(db: Database, mut work: mpsc::UnboundedReceiver<Write>) {
    while let Some(first) = work.blocking_recv() {
        let mut batch = vec![first];
        while let Ok(more) = work.try_recv() {
            batch.push(more);
        }
        let result = commit(&db, &batch);
        if let Err(e) = &result {
            tracing::error!("event log write failed: {e}");
        }
        for write in batch {
            match write {
                Write::Append { done, .. } | Write::Put { done, .. } => {
                    let _ = done.send(result.clone());
                }
                Write::Settle(_) => {}
                Write::Flush(done) => {
                    let _ = done.send(());
                }
            }
        }
    }
}

/// One write transaction for `batch`.
fn commit(db: &Database, batch: &[Write]) -> Result<(), Error> {
    let txn = db.begin_write().map_err(storage)?;
    {
        let mut events = txn.open_table(EVENTS).map_err(storage)?;
        let mut outbox = txn.open_table(OUTBOX).map_err(storage)?;
        let mut meta = txn.open_table(META).map_err(storage)?;
        for write in batch {
            match write {
                Write::Append {
                    entries, keep_from, ..
                } => {
                    for entry in entries {
                        events
                            .insert(entry.id, encode_record(&entry.record).as_slice())
                            .map_err(storage)?;
                    }
                    if let Some(last) = entries.last() {
                        meta.insert("next_id", last.id + 1).map_err(storage)?;
                    }
                    events
                        .retain_in(..*keep_from, |_, _| false)
                        .map_err(storage)?;
                }
                Write::Put { key, delivery, .. } => {
                    outbox.insert(*key, delivery.as_slice()).map_err(storage)?;
                }
                Write::Settle(key) => {
                    outbox.remove(*key).map_err(storage)?;
                }
                Write::Flush(_) => {}
            }
        }
    }
    txn.commit().map_err(storage)?;
    Ok(())
}

/// A record on disk: call id and name, each after its length (u32, little-endian),
/// then the JSON.
fn encode_record(record: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.size());
    for part in [record.call_id.as_bytes(), record.name.as_bytes()] {
        out.extend_from_slice(&(part.len() as u32).to_le_bytes());
        out.extend_from_slice(part);
    }
    out.extend_from_slice(&record.data);
    out
}

/// [`encode_record`] undone; `None` if the bytes are not one.
fn decode_record(mut bytes: &[u8]) -> Option<Record> {
    let mut part = || {
        let (len, rest) = bytes.split_first_chunk::<4>()?;
        let len = u32::from_le_bytes(*len) as usize;
        let text = std::str::from_utf8(rest.get(..len)?).ok()?;
        bytes = &rest[len..];
        Some(text)
    };
    let call_id = Arc::from(part()?);
    let name = part()?.into();
    Some(Record {
        call_id,
        name,
        data: axum::body::Bytes::copy_from_slice(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_state_directory_and_file_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("tonegate-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join(FILE);
        create_private(&dir, &file).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&file), 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn records_round_trip_and_garbage_is_refused() {
        let record = Record {
            call_id: Arc::from("call ☎"),
            name: "mark".into(),
            data: axum::body::Bytes::from_static(br#"{"a":1}"#),
        };
        assert_eq!(decode_record(&encode_record(&record)), Some(record));
        assert_eq!(decode_record(&[9, 0, 0, 0, b'x']), None);
        assert_eq!(decode_record(&[]), None);
    }
}
