//! Group commit: concurrent synced writes share one write and one sync.
//!
//! RocksDB groups concurrent writers itself, but it caps a group at the first writer's size
//! plus 128 KiB (an eighth of `max_write_batch_group_size_bytes`, which its C API does not
//! let us raise). A store's batch holds its shard, so 64 KiB stores went to the log two at
//! a time, each pair with an fsync of its own, and the node's 64 KiB store rate stopped at
//! the disk's rate of 128 KiB synced writes however many clients wrote at once.
//!
//! Here writers queue their records and one writer thread takes everything queued (up to a
//! byte budget), writes it as one synced batch and hands every writer in the group the
//! outcome. Writers that arrive while a group is on its way to the disk form the next one,
//! so the group grows with the load and a lone writer waits for nobody.
//!
//! A writer waits on a channel, not a thread: an async store awaits its outcome without
//! holding a thread of its own. (With a thread per waiting store, the node spent about half
//! of its context switches parking and waking those threads.) Code already on a blocking
//! thread waits with [`GroupCommit::commit_blocking`].

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use tokio::sync::oneshot;

/// What a writer learns about its group's write.
pub(super) type Outcome = Result<(), String>;

/// Writers queue records here for the writer thread.
pub(super) struct GroupCommit<T> {
    shared: Arc<Shared<T>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared<T> {
    queue: Mutex<Queue<T>>,
    /// Signalled when records are queued or the commit closes.
    work: Condvar,
    /// The writer takes queued records until the group holds this many bytes (but always
    /// at least one writer's).
    max_bytes: usize,
}

struct Queue<T> {
    waiting: VecDeque<Waiting<T>>,
    closed: bool,
}

struct Waiting<T> {
    bytes: usize,
    records: T,
    done: oneshot::Sender<Outcome>,
}

/// What a writer hears if the writer thread is gone before its records were written.
const CLOSED: &str = "the store is closed";

impl<T: Send + 'static> GroupCommit<T> {
    /// Start the writer thread. `write` gets a whole group's records, in the order they
    /// were queued, with their total bytes; its outcome is every member's.
    pub fn start(
        max_bytes: usize,
        mut write: impl FnMut(Vec<T>, usize) -> Outcome + Send + 'static,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                waiting: VecDeque::new(),
                closed: false,
            }),
            work: Condvar::new(),
            max_bytes,
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("cyx-group-commit".into())
            .spawn(move || s.serve(&mut write))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Queue `records` (about `bytes` long); the receiver gets the outcome once they are
    /// written.
    fn submit(&self, records: T, bytes: usize) -> oneshot::Receiver<Outcome> {
        let (done, rx) = oneshot::channel();
        let mut q = self.shared.lock();
        let idle = q.waiting.is_empty();
        q.waiting.push_back(Waiting {
            bytes,
            records,
            done,
        });
        drop(q);
        // A busy writer looks at the queue again after its group; only an idle one waits.
        if idle {
            self.shared.work.notify_one();
        }
        rx
    }

    /// Queue `records` and return once they are written.
    pub async fn commit(&self, records: T, bytes: usize) -> Outcome {
        self.submit(records, bytes)
            .await
            .unwrap_or_else(|_| Err(CLOSED.into()))
    }

    /// [`commit`](Self::commit) for a thread that may block (not an async task).
    pub fn commit_blocking(&self, records: T, bytes: usize) -> Outcome {
        self.submit(records, bytes)
            .blocking_recv()
            .unwrap_or_else(|_| Err(CLOSED.into()))
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The writer thread: one group at a time until the commit closes.
    fn serve(&self, write: &mut impl FnMut(Vec<T>, usize) -> Outcome) {
        loop {
            let mut q = self.lock();
            while q.waiting.is_empty() && !q.closed {
                q = self.work.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            if q.waiting.is_empty() {
                return;
            }
            let mut group = Vec::new();
            let mut done = Vec::new();
            let mut total = 0;
            while let Some(w) = q.waiting.front() {
                if !group.is_empty() && total + w.bytes > self.max_bytes {
                    break;
                }
                let w = q.waiting.pop_front().expect("front exists");
                total += w.bytes;
                group.push(w.records);
                done.push(w.done);
            }
            drop(q);
            // A panicking write fails its group, and the writer goes on with the next.
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write(group, total)))
                    .unwrap_or_else(|_| Err("the write of this group panicked".into()));
            for d in done {
                // A writer that stopped waiting (a cancelled request) needs no answer.
                let _ = d.send(outcome.clone());
            }
        }
    }
}

impl<T> Drop for GroupCommit<T> {
    /// Records still queued are written first; then the writer thread ends.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_one();
        if let Some(t) = self.thread.take() {
            // The writer thread itself may drop the last owner of the store (its write
            // held it last): it cannot wait for itself, and it ends on its own.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Concurrent writers are written in groups, each record exactly once, and a group
    /// respects the byte budget.
    #[test]
    fn concurrent_writers_share_groups_and_every_record_is_written_once() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let groups = Arc::new(AtomicUsize::new(0));
        let (w, g) = (written.clone(), groups.clone());
        let gc = Arc::new(
            GroupCommit::<u32>::start(10, move |group, bytes| {
                assert_eq!(bytes, 3 * group.len());
                assert!(
                    !group.is_empty() && group.len() <= 3,
                    "group of {}",
                    group.len()
                );
                g.fetch_add(1, Ordering::Relaxed);
                // Slow enough for others to queue behind it.
                std::thread::sleep(Duration::from_micros(200));
                w.lock().unwrap().extend(group);
                Ok(())
            })
            .unwrap(),
        );
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let (gc, written) = (gc.clone(), written.clone());
                std::thread::spawn(move || {
                    for i in 0..200 {
                        gc.commit_blocking(t * 1000 + i, 3).unwrap();
                        // Written before commit returned.
                        assert!(written.lock().unwrap().contains(&(t * 1000 + i)));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut all = written.lock().unwrap().clone();
        assert_eq!(all.len(), 1600);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 1600, "a record was written twice");
        // Eight writers and room for three per group: far fewer groups than records.
        assert!(groups.load(Ordering::Relaxed) < 1200, "{groups:?} groups");
    }

    /// Async writers share groups the same way, without a thread each.
    #[test]
    fn async_writers_share_groups() {
        let groups = Arc::new(AtomicUsize::new(0));
        let g = groups.clone();
        let gc = Arc::new(
            GroupCommit::<u32>::start(1 << 20, move |_, _| {
                g.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(1));
                Ok(())
            })
            .unwrap(),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let tasks: Vec<_> = (0..64u32)
                .map(|i| {
                    let gc = gc.clone();
                    tokio::spawn(async move { gc.commit(i, 1).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        });
        // 64 writers on one runtime thread: they all queue while the first group is
        // written, so a handful of groups carry them.
        assert!(groups.load(Ordering::Relaxed) <= 4, "{groups:?} groups");
    }

    /// One record larger than the budget still goes, alone.
    #[test]
    fn an_oversized_record_is_a_group_of_its_own() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let gc = GroupCommit::<Vec<u8>>::start(4, move |g, _| {
            s.lock().unwrap().push(g);
            Ok(())
        })
        .unwrap();
        gc.commit_blocking(vec![0; 100], 100).unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![vec![vec![0; 100]]]);
    }

    /// A failed or panicking write fails every writer of its group, and later groups go on.
    #[test]
    fn a_failed_or_panicking_write_reaches_its_writers_and_the_next_group_proceeds() {
        let gc = GroupCommit::<u8>::start(100, |g, _| match g[..] {
            [1] => Err("disk full".into()),
            [2] => panic!("boom"),
            _ => Ok(()),
        })
        .unwrap();
        assert_eq!(gc.commit_blocking(1, 1), Err("disk full".into()));
        assert_eq!(
            gc.commit_blocking(2, 1),
            Err("the write of this group panicked".into())
        );
        assert_eq!(gc.commit_blocking(3, 1), Ok(()));
        assert!(gc.shared.lock().waiting.is_empty());
    }

    /// Closing writes what is queued, then ends the writer thread.
    #[test]
    fn closing_writes_the_queue_first() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let w = written.clone();
        let gate = Arc::new(Mutex::new(()));
        let g = gate.clone();
        let gc = GroupCommit::<u8>::start(1, move |group, _| {
            let _open = g.lock().unwrap();
            w.lock().unwrap().extend(group);
            Ok(())
        })
        .unwrap();
        // Hold the writer on its first group while three more records queue.
        let held = gate.lock().unwrap();
        let receivers: Vec<_> = (0..4).map(|i| gc.submit(i, 1)).collect();
        std::thread::sleep(Duration::from_millis(20));
        let shared = gc.shared.clone();
        let closer = std::thread::spawn(move || drop(gc));
        std::thread::sleep(Duration::from_millis(20));
        drop(held);
        closer.join().unwrap();
        for r in receivers {
            assert_eq!(r.blocking_recv().unwrap(), Ok(()));
        }
        assert_eq!(*written.lock().unwrap(), vec![0, 1, 2, 3]);
        let q = shared.lock();
        assert!(q.closed && q.waiting.is_empty());
    }
}
