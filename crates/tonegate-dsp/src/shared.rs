//! Immutable tables shared by every stream that asks for the same one.
//!
//! Filter taps and phasor tables depend only on a few parameters, and a server's calls
//! all ask for the same few. Built once per process and shared, they cost no memory per
//! call, and a call's frame finds them already in the cache where a table of its own,
//! untouched since its last frame 20 ms ago, would have to be fetched from memory.

use std::sync::{Arc, Mutex, PoisonError, Weak};

/// A process-wide cache of tables built from a key: each one lives while a stream holds
/// it, and whoever asks for the same key meanwhile gets the same table.
pub(crate) struct Shared<K, V: ?Sized> {
    tables: Mutex<Vec<(K, Weak<V>)>>,
}

impl<K: PartialEq, V: ?Sized> Shared<K, V> {
    /// An empty cache (for a `static`).
    pub(crate) const fn new() -> Self {
        Shared {
            tables: Mutex::new(Vec::new()),
        }
    }

    /// The table for `key`: the one in use if any, else a new one from `build`. Takes a
    /// lock: for constructors, not for the hot path.
    pub(crate) fn get(&self, key: K, build: impl FnOnce(&K) -> Arc<V>) -> Arc<V> {
        // A panic elsewhere while holding the lock leaves the list itself intact.
        let mut tables = self.tables.lock().unwrap_or_else(PoisonError::into_inner);
        tables.retain(|(_, table)| table.strong_count() > 0);
        if let Some(table) = tables
            .iter()
            .find(|(known, _)| *known == key)
            .and_then(|(_, table)| table.upgrade())
        {
            return table;
        }
        let table = build(&key);
        tables.push((key, Arc::downgrade(&table)));
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_per_key_while_in_use_and_none_kept_after() {
        static CACHE: Shared<u32, [u32]> = Shared::new();
        let build = |&key: &u32| -> Arc<[u32]> { vec![key; 3].into() };
        let two = CACHE.get(2, build);
        assert!(Arc::ptr_eq(&two, &CACHE.get(2, build)));
        let three = CACHE.get(3, build);
        assert_eq!((&*two, &*three), (&[2; 3][..], &[3; 3][..]));
        drop((two, three));
        assert_eq!(CACHE.get(4, build)[0], 4);
        // The unused tables of 2 and 3 are gone; only 4's remains.
        assert_eq!(CACHE.tables.lock().unwrap().len(), 1);
    }
}
