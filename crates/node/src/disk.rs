//! A view-leader replica's disk: its term and vote, its log and its latest snapshot, in a redb
//! database under `--data-dir`. Every batch of writes the replica hands over is one redb
//! transaction, committed durably (fsync) before the messages that follow it are sent.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, TableDefinition};
use ringside_core::replication::{Entry, HardState, Snapshot, Write};
use ringside_core::view_leader::{ViewCommand, ViewDurable, ViewState, ViewWrite};

use crate::NodeError;

/// Term and vote (`hard`), the snapshot (`snapshot`), as JSON.
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
/// Log entries by index, as JSON.
const LOG: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("log");

/// An open replica disk.
pub struct Disk {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Disk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Disk").field("path", &self.path).finish()
    }
}

fn failed(path: &Path, what: &str, e: impl std::fmt::Display) -> NodeError {
    NodeError::new(format!("view leader data in {}: cannot {what}: {e}", path.display()))
}

impl Disk {
    /// Opens (or creates) the database in `dir`, and reads what it holds.
    pub fn open(dir: &Path) -> Result<(Disk, ViewDurable), NodeError> {
        std::fs::create_dir_all(dir).map_err(|e| failed(dir, "create the directory", e))?;
        let path = dir.join("viewleader.redb");
        let db = Database::create(&path).map_err(|e| failed(&path, "open the database", e))?;
        let disk = Disk { db, path };
        let durable = disk.read()?;
        Ok((disk, durable))
    }

    fn read(&self) -> Result<ViewDurable, NodeError> {
        let err = |what: &str, e: &dyn std::fmt::Display| failed(&self.path, what, e);
        let txn = self.db.begin_read().map_err(|e| err("read", &e))?;
        let mut durable = ViewDurable::default();
        let meta = match txn.open_table(META) {
            Ok(table) => Some(table),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(err("read", &e)),
        };
        if let Some(meta) = meta {
            if let Some(hard) = meta.get("hard").map_err(|e| err("read", &e))? {
                durable.state = decode::<HardState>(hard.value()).map_err(|e| err("read the term and vote", &e))?;
            }
            if let Some(snap) = meta.get("snapshot").map_err(|e| err("read", &e))? {
                let snapshot = decode::<Snapshot<ViewState>>(snap.value()).map_err(|e| err("read the snapshot", &e))?;
                durable.snapshot = Some(snapshot);
            }
        }
        let base = durable.snapshot.as_ref().map_or(0, |s| s.index);
        match txn.open_table(LOG) {
            Ok(log) => {
                for item in log.range(base + 1..).map_err(|e| err("read the log", &e))? {
                    let (index, entry) = item.map_err(|e| err("read the log", &e))?;
                    let expected = base + 1 + durable.entries.len() as u64;
                    if index.value() != expected {
                        return Err(err("read the log", &format!("entry {} follows {}", index.value(), expected - 1)));
                    }
                    durable
                        .entries
                        .push(decode::<Entry<ViewCommand>>(entry.value()).map_err(|e| err("read the log", &e))?);
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(err("read", &e)),
        }
        Ok(durable)
    }

    /// Makes `writes` durable, in order, in one transaction.
    pub fn write(&mut self, writes: &[ViewWrite]) -> Result<(), NodeError> {
        let err = |e: &dyn std::fmt::Display| failed(&self.path, "write", e);
        let txn = self.db.begin_write().map_err(|e| err(&e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| err(&e))?;
            let mut log = txn.open_table(LOG).map_err(|e| err(&e))?;
            for write in writes {
                match write {
                    Write::State(hard) => {
                        meta.insert("hard", encode(hard).as_slice()).map_err(|e| err(&e))?;
                    }
                    Write::Entry(index, entry) => {
                        // An entry replaces the one at its index and drops every one after it.
                        let after: Vec<u64> = log
                            .range::<u64>(*index..)
                            .map_err(|e| err(&e))?
                            .map(|item| item.map(|(k, _)| k.value()))
                            .collect::<Result<_, _>>()
                            .map_err(|e| err(&e))?;
                        for k in after {
                            log.remove(k).map_err(|e| err(&e))?;
                        }
                        log.insert(index, encode(entry).as_slice()).map_err(|e| err(&e))?;
                    }
                    Write::Snapshot { snapshot, keep_after } => {
                        let dropped: Vec<u64> = log
                            .iter()
                            .map_err(|e| err(&e))?
                            .map(|item| item.map(|(k, _)| k.value()))
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|e| err(&e))?
                            .into_iter()
                            .filter(|k| !keep_after || *k <= snapshot.index)
                            .collect();
                        for k in dropped {
                            log.remove(k).map_err(|e| err(&e))?;
                        }
                        meta.insert("snapshot", encode(snapshot).as_slice()).map_err(|e| err(&e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| err(&e))
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("the replica's records encode")
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringside_core::replication::Term;

    #[test]
    fn what_was_written_is_read_back_after_reopening() {
        let dir = std::env::temp_dir().join(format!("ringside-disk-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let entry = |term, name: &str| Entry {
            term: Term(term),
            cmd: Some(ViewCommand::LockGet { name: name.into(), requester: "c1".into(), request: Default::default() }),
        };
        let writes = vec![
            Write::State(HardState { term: Term(2), vote: Some(1) }),
            Write::Entry(1, entry(1, "a")),
            Write::Entry(2, entry(1, "b")),
            Write::Entry(3, entry(1, "c")),
            // A new leader's entry at 2 replaces 2 and 3.
            Write::Entry(2, entry(2, "d")),
        ];
        let mut expected = ViewDurable::default();
        writes.iter().for_each(|w| expected.write(w));
        {
            let (mut disk, empty) = Disk::open(&dir).unwrap();
            assert_eq!(empty, ViewDurable::default());
            disk.write(&writes).unwrap();
        }
        let (mut disk, read) = Disk::open(&dir).unwrap();
        assert_eq!(read, expected);
        let snapshot = Snapshot { index: 1, term: Term(1), state: ViewState::default() };
        let more = [Write::Snapshot { snapshot, keep_after: true }, Write::Entry(3, entry(2, "e"))];
        disk.write(&more).unwrap();
        more.iter().for_each(|w| expected.write(w));
        drop(disk);
        let (_, read) = Disk::open(&dir).unwrap();
        assert_eq!(read, expected);
        assert_eq!(read.entries.len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
