//! `--events FILE`: a node's watch records appended to a file, one JSON line each, `hello`
//! first. Flushed whenever the writer has caught up (at least every [`FLUSH_BATCH`] records)
//! and when the node stops, so a node killed with -9 loses only what it was writing; records
//! the writer fell too far behind to keep are replaced by a `dropped` line that counts them,
//! never lost silently.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tracing::warn;

use crate::watch::{Subscription, Watch};
use crate::NodeError;

/// The most records written between two flushes while records keep coming.
const FLUSH_BATCH: usize = 4096;

/// An events file, opened (so that a bad path fails before the node listens) but not yet written.
#[derive(Debug)]
pub struct EventsFile {
    file: File,
    path: PathBuf,
}

/// An events file being written.
#[derive(Debug)]
pub struct Writing {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl EventsFile {
    /// Opens `path` for appending, creating it if missing.
    pub fn create(path: &Path) -> Result<EventsFile, NodeError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| NodeError::new(format!("cannot create the events file {}: {e}", path.display())))?;
        Ok(EventsFile { file, path: path.to_path_buf() })
    }

    /// Writes every record of `watch` from now on.
    pub fn start(self, watch: &Watch) -> Writing {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(write(self, watch.subscribe(crate::watch::FILE_BUDGET), watch.clone(), stopped));
        Writing { stop, task }
    }
}

impl Writing {
    /// Writes what is still queued, flushes, and closes the file.
    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The writer's loop. Plain blocking writes into a buffer: a line costs a copy, and a flush of
/// at most 64 KiB to the page cache is too short to be worth a thread of its own.
async fn write(file: EventsFile, mut sub: Subscription, watch: Watch, mut stop: oneshot::Receiver<()>) {
    let mut out = BufWriter::with_capacity(64 * 1024, file.file);
    let lost =
        |behind: u64| watch.dropped(behind, &format!("the events file fell {behind} records behind; they are lost"));
    let mut result = line(&mut out, &watch.hello());
    if let Some(state) = watch.replica_record() {
        result = result.and_then(|()| line(&mut out, &state));
    }
    result = result.and_then(|()| out.flush());
    while result.is_ok() {
        tokio::select! {
            record = sub.recv() => {
                let mut next = Some(record);
                let (mut written, mut closed) = (0, false);
                // Everything already queued, then one flush: a burst costs one write.
                while let Some(record) = next.take() {
                    result = match record {
                        Ok(record) => line(&mut out, &record),
                        Err(RecvError::Lagged(behind)) => line(&mut out, &lost(behind)),
                        Err(RecvError::Closed) => {
                            closed = true;
                            break;
                        }
                    };
                    written += 1;
                    if result.is_err() || written >= FLUSH_BATCH {
                        break;
                    }
                    next = match sub.try_recv() {
                        Ok(record) => Some(Ok(record)),
                        Err(TryRecvError::Lagged(behind)) => Some(Err(RecvError::Lagged(behind))),
                        Err(TryRecvError::Empty | TryRecvError::Closed) => None,
                    };
                }
                result = result.and_then(|()| out.flush());
                if closed {
                    break;
                }
            }
            _ = &mut stop => {
                loop {
                    result = match sub.try_recv() {
                        Ok(record) => line(&mut out, &record),
                        Err(TryRecvError::Lagged(behind)) => line(&mut out, &lost(behind)),
                        Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                    };
                    if result.is_err() {
                        break;
                    }
                }
                break;
            }
        }
    }
    if let Err(e) = result.and_then(|()| out.flush()) {
        warn!(target: "ringside::node", "stopped writing the events file {}: {e}", file.path.display());
    }
}

fn line(out: &mut impl Write, record: &Utf8Bytes) -> std::io::Result<()> {
    out.write_all(record.as_bytes())?;
    out.write_all(b"\n")
}
