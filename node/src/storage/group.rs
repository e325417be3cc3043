//! Group commit: concurrent synced writes share one write and one sync.
//!
//! RocksDB groups concurrent writers itself, but it caps a group at the first writer's size
//! plus 128 KiB (an eighth of `max_write_batch_group_size_bytes`, which its C API does not
//! let us raise). A store's batch holds its shard, so 64 KiB stores went to the log two at
//! a time, each pair with an fsync of its own, and the node's 64 KiB store rate stopped at
//! the disk's rate of 128 KiB synced writes however many clients wrote at once.
//!
//! Here each writer queues its records and waits. The first writer to find no group being
//! written becomes the leader: it takes everything queued (up to a byte budget), writes it
//! as one synced batch, hands every writer in the group the outcome and steps down; a
//! writer still queued then leads the next group. Writers that arrive while a group is on
//! its way to the disk form the next one, so the group grows with the load and a lone
//! writer waits for nobody.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Writers wait here for a leader to write their records.
pub(super) struct GroupCommit<T> {
    queue: Mutex<Queue<T>>,
    /// Signalled when a group's outcome is known and its leader has stepped down.
    written: Condvar,
    /// A leader takes queued records until the group holds this many bytes (but always
    /// at least one writer's).
    max_bytes: usize,
}

struct Queue<T> {
    waiting: VecDeque<Waiting<T>>,
    /// Whether a leader is writing a group now.
    leading: bool,
    next_ticket: u64,
    /// Outcomes of written groups, by ticket, until their writers collect them.
    outcomes: HashMap<u64, Result<(), String>>,
}

struct Waiting<T> {
    ticket: u64,
    bytes: usize,
    records: T,
}

impl<T> GroupCommit<T> {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            queue: Mutex::new(Queue {
                waiting: VecDeque::new(),
                leading: false,
                next_ticket: 0,
                outcomes: HashMap::new(),
            }),
            written: Condvar::new(),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue `records` (about `bytes` long) and return once they are written, by this
    /// thread or another: `write` gets a whole group's records, in the order they were
    /// queued, with their total bytes, and its outcome is every member's.
    pub fn commit(
        &self,
        records: T,
        bytes: usize,
        write: impl Fn(Vec<T>, usize) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut q = self.lock();
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.waiting.push_back(Waiting {
            ticket,
            bytes,
            records,
        });
        loop {
            if let Some(outcome) = q.outcomes.remove(&ticket) {
                return outcome;
            }
            if q.leading {
                q = self.written.wait(q).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Lead. This writer's records are queued, so the group is never empty; if they
            // are beyond this group's budget, this thread leads again after it.
            q.leading = true;
            let mut group = Vec::new();
            let mut tickets = Vec::new();
            let mut total = 0;
            while let Some(w) = q.waiting.front() {
                if !group.is_empty() && total + w.bytes > self.max_bytes {
                    break;
                }
                let w = q.waiting.pop_front().expect("front exists");
                total += w.bytes;
                tickets.push(w.ticket);
                group.push(w.records);
            }
            drop(q);
            let mut leader = Leader {
                owner: self,
                own: ticket,
                tickets,
                outcome: Err("the write of this group panicked".into()),
            };
            leader.outcome = write(group, total);
            drop(leader);
            q = self.lock();
        }
    }
}

/// Hands a group's outcome to its writers and steps down, also if the write panicked
/// (then every writer of the group gets an error instead of waiting forever).
struct Leader<'a, T> {
    owner: &'a GroupCommit<T>,
    /// The leader's own ticket: after a panic nobody collects its outcome or waits for
    /// its records.
    own: u64,
    tickets: Vec<u64>,
    outcome: Result<(), String>,
}

impl<T> Drop for Leader<'_, T> {
    fn drop(&mut self) {
        let mut q = self.owner.lock();
        let unwinding = std::thread::panicking();
        for t in self.tickets.drain(..) {
            if !(unwinding && t == self.own) {
                q.outcomes.insert(t, self.outcome.clone());
            }
        }
        if unwinding {
            // The leader's own records may still be queued (beyond this group's budget):
            // nobody waits for them any more, so they are not written.
            q.waiting.retain(|w| w.ticket != self.own);
        }
        q.leading = false;
        drop(q);
        self.owner.written.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Concurrent writers are written in groups, each record exactly once, and a group
    /// respects the byte budget.
    #[test]
    fn concurrent_writers_share_groups_and_every_record_is_written_once() {
        let gc = Arc::new(GroupCommit::<u32>::new(10));
        let written = Arc::new(Mutex::new(Vec::new()));
        let groups = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let (gc, written, groups) = (gc.clone(), written.clone(), groups.clone());
                std::thread::spawn(move || {
                    for i in 0..200 {
                        gc.commit(t * 1000 + i, 3, |g, bytes| {
                            assert_eq!(bytes, 3 * g.len());
                            assert!(!g.is_empty() && g.len() <= 3, "group of {}", g.len());
                            groups.fetch_add(1, Ordering::Relaxed);
                            // Slow enough for others to queue behind it.
                            std::thread::sleep(std::time::Duration::from_micros(200));
                            written.lock().unwrap().extend(g);
                            Ok(())
                        })
                        .unwrap();
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

    /// One record larger than the budget still goes, alone.
    #[test]
    fn an_oversized_record_is_a_group_of_its_own() {
        let gc = GroupCommit::<Vec<u8>>::new(4);
        let seen = Mutex::new(Vec::new());
        gc.commit(vec![0; 100], 100, |g, _| {
            *seen.lock().unwrap() = g;
            Ok(())
        })
        .unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![vec![0; 100]]);
    }

    /// A failed write fails every writer of its group, and later groups go on.
    #[test]
    fn a_failed_or_panicking_write_reaches_its_writers_and_the_next_group_proceeds() {
        let gc = GroupCommit::<u8>::new(100);
        assert_eq!(
            gc.commit(1, 1, |_, _| Err("disk full".into())),
            Err("disk full".into())
        );
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            gc.commit(2, 1, |_, _| panic!("boom"))
        }));
        assert!(r.is_err());
        // The panicking leader stepped down: the next writer leads and succeeds, and
        // nothing is left behind.
        assert_eq!(
            gc.commit(3, 1, |g, _| if g == [3] {
                Ok(())
            } else {
                Err("mixed".into())
            }),
            Ok(())
        );
        let q = gc.lock();
        assert!(!q.leading && q.waiting.is_empty() && q.outcomes.is_empty());
        drop(q);
        // A leader whose own records are beyond its first group's budget panics while
        // writing that group: its records are dropped with it, not written later.
        let stranger = Waiting {
            ticket: u64::MAX,
            bytes: 100,
            records: 9,
        };
        gc.lock().waiting.push_back(stranger);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            gc.commit(4, 100, |g, _| {
                assert_eq!(g, [9], "the queued records go first, alone");
                panic!("boom")
            })
        }));
        assert!(r.is_err());
        let q = gc.lock();
        assert!(
            !q.leading && q.waiting.is_empty(),
            "the panicked writer's records stayed queued"
        );
        assert_eq!(q.outcomes.len(), 1, "the other writer's outcome awaits it");
    }
}
