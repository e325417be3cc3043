//! A pool of large byte buffers shared by encoders, decoders and the bytes in flight.
//!
//! A 64 MiB chunk encodes into 112 MiB of shards (8+6). Buffers that large are mapped fresh
//! by the allocator on every allocation and handed back to the kernel on every free, so each
//! chunk would pay for faulting in and zeroing every page again: on this pipeline that cost
//! is a third of the encoding itself. The pool keeps a few buffers mapped instead. A buffer
//! handed out as [`Bytes`] (shards being sent, plaintext being served) comes back to the pool
//! when its last view is dropped.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// Buffers smaller than this are not worth keeping (the allocator reuses them itself).
const MIN_POOLED: usize = 1 << 20;

/// A bounded pool of byte buffers; cloning shares the pool.
#[derive(Clone)]
pub struct BufferPool {
    inner: Arc<Inner>,
}

struct Inner {
    free: Mutex<Vec<Vec<u8>>>,
    /// Most bytes of capacity kept while idle.
    max_bytes: usize,
}

impl BufferPool {
    /// A pool that keeps at most `max_bytes` of idle buffers.
    pub fn new(max_bytes: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                free: Mutex::new(Vec::new()),
                max_bytes,
            }),
        }
    }

    /// A buffer with room for at least `min_capacity` bytes: the smallest idle one that
    /// fits, or a new empty one (which allocates on first use). Its length and contents are
    /// whatever its last user left; callers overwrite or resize it.
    pub fn take(&self, min_capacity: usize) -> Vec<u8> {
        let mut free = self.inner.lock();
        let best = (0..free.len())
            .filter(|&i| free[i].capacity() >= min_capacity)
            .min_by_key(|&i| free[i].capacity());
        best.map(|i| free.swap_remove(i)).unwrap_or_default()
    }

    /// Return a buffer. Dropped instead when it is small or the pool is full.
    pub fn give(&self, buf: Vec<u8>) {
        if buf.capacity() < MIN_POOLED || buf.capacity() > self.inner.max_bytes {
            return;
        }
        let mut free = self.inner.lock();
        let held: usize = free.iter().map(Vec::capacity).sum();
        if held + buf.capacity() <= self.inner.max_bytes {
            free.push(buf);
        }
    }

    /// `buf` as `Bytes`; the buffer returns to the pool when the last view is dropped.
    pub fn bytes(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled {
            buf,
            pool: self.clone(),
        })
    }

    /// Bytes of capacity held idle.
    pub fn idle_bytes(&self) -> usize {
        self.inner.lock().iter().map(Vec::capacity).sum()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Vec<u8>>> {
        // The list stays consistent even if a holder panicked: every operation is one push
        // or one removal.
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Pooled {
    buf: Vec<u8>,
    pool: BufferPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

/// Tune glibc's malloc for a client command moving data: its chunk and shard buffers, and
/// the gRPC message tonic builds for every shard it sends, are megabytes each and live for
/// one request. Mapped fresh and handed back on every free, each of them was faulted in and
/// zeroed again: a fifth of an upload's CPU time went to clearing pages. One arena with a
/// 32 MiB mmap threshold puts those buffers in one heap, where the next shard's message
/// reuses the memory the last one freed, so the heap stays near the memory really in flight
/// (one arena per thread would keep a peak's worth each); a 64 MiB trim threshold hands a
/// larger free tail back. Measured on 2 cores with a 1 GiB file, in turns, two runs of three
/// uploads and two downloads each: client CPU per upload 3.5–5.2 -> 2.5–3.4 s, per download
/// 3.9–6.3 -> 2.8–5.7 s, peak RSS 354–414 -> 405–429 MiB. Call it first in `main`;
/// elsewhere than Linux with glibc it does nothing. Services keep more, [`keep_freed_memory`].
pub fn reuse_transfer_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it runs before any other thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// What a service's allocations are mostly made of, which decides how many malloc arenas
/// [`keep_freed_memory`] gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// A storage node: few, large shard buffers. One arena keeps every freed buffer where
    /// the next shard's allocation finds it.
    LargeBuffers,
    /// The gateway: thousands of small requests a second on every worker thread, each
    /// with many small allocations. One arena per thread up to twice the cores keeps
    /// threads from queueing on one arena lock.
    ManySmallRequests,
}

/// Tune glibc's malloc (what Rust's default allocator calls) for a long-running service:
/// keep freed memory for reuse instead of handing it back to the kernel. Call it first in
/// `main`, before any thread starts; elsewhere than Linux with glibc it does nothing.
///
/// The buffers that tonic and hyper allocate for each shard message (megabytes each, outside
/// [`BufferPool`]'s reach) were otherwise returned on free and faulted in and zeroed again
/// for the next message. A fixed 32 MiB mmap threshold, a 1 GiB trim threshold and a 64 MiB
/// top pad keep those pages (the pad also stops secondary arenas from unmapping a heap once
/// it is empty), at the price of a process that stays at its peak heap size. In the gateway
/// benchmark on 2 cores, in turns, the same setting through glibc's environment variables
/// gave 64 MiB GET 415–548 -> 512–668 MB/s at 16–18% less CPU per MB (four pairs).
///
/// The arena count follows `workload`. In the node benchmark, four arenas instead of one
/// cost 8 MiB stores 11 -> 14 ms CPU each (two pairs in turns); in the gateway benchmark one
/// arena made 4 KiB GETs queue on its lock (a tenth of all samples in futex wake-ups from
/// malloc), and four gave 4 KiB GET 2,992–3,068 -> 4,281–4,435 ops/s and PUT 1,601–1,628 ->
/// 2,164–2,358 ops/s, large objects unchanged (two pairs in turns).
pub fn keep_freed_memory(workload: Workload) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let arenas = match workload {
            Workload::LargeBuffers => 1,
            Workload::ManySmallRequests => std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .saturating_mul(2)
                .clamp(2, 16),
        };
        // SAFETY: mallopt only changes allocator parameters; it is called before other
        // threads exist, as glibc asks of M_ARENA_MAX.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas as libc::c_int);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
            libc::mallopt(libc::M_TOP_PAD, 64 << 20);
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = workload;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_when_the_last_view_drops() {
        let pool = BufferPool::new(64 << 20);
        let b = pool.bytes(vec![7u8; 4 << 20]);
        let (x, y) = (b.slice(..10), b.slice(1 << 20..));
        drop(b);
        drop(x);
        assert_eq!(pool.idle_bytes(), 0, "a view is still alive");
        assert_eq!(y[0], 7);
        drop(y);
        assert!(pool.idle_bytes() >= 4 << 20);
        assert_eq!(
            pool.take(5 << 20).capacity(),
            0,
            "nothing idle is large enough"
        );
        let v = pool.take(4 << 20);
        assert!(v.capacity() >= 4 << 20);
        assert_eq!(pool.idle_bytes(), 0);
    }

    #[test]
    fn the_pool_is_bounded_and_skips_small_buffers() {
        let pool = BufferPool::new(8 << 20);
        pool.give(vec![0u8; 1000]);
        assert_eq!(pool.idle_bytes(), 0);
        pool.give(Vec::with_capacity(5 << 20));
        pool.give(Vec::with_capacity(5 << 20));
        assert_eq!(pool.idle_bytes(), 5 << 20);
        pool.give(Vec::with_capacity(9 << 20));
        assert_eq!(pool.idle_bytes(), 5 << 20);
        pool.give(Vec::with_capacity(2 << 20));
        assert_eq!(pool.idle_bytes(), 7 << 20);
        // The smallest buffer that fits is handed out.
        assert_eq!(pool.take(1 << 20).capacity(), 2 << 20);
        assert!(pool.take(1 << 20).capacity() >= 5 << 20);
        assert_eq!(pool.take(1).capacity(), 0);
    }
}
