//! RocksDB backend.
//!
//! - Column family `shards`: shard id -> payload for shards under [`FILE_SHARD_MIN`], with
//!   BlobDB on so payloads live in blob files and compaction moves only small index
//!   entries, never the shard bytes. Larger shards live in files of their own
//!   ([`super::files`]), written once instead of twice.
//! - `meta`: shard id -> size, store time and where the bytes are (what `stats` and
//!   listing read, cheaply). A shard exists exactly when its meta record does.
//! - `served`: grant id -> served-grant record, until the gateway acknowledges it.
//! - `corrupt`: shard id -> detection time.
//! - A `format` key in the default column family holds the on-disk format version.
//!
//! Reads hand out RocksDB's own buffer (pinned), with no copy. Recently read shards are
//! cached above the backend, by the node ([`crate::cache`]), once verified.
//!
//! Every write ends in a synced WriteBatch: when `put` returns, the shard survives `kill -9`
//! and power loss. Concurrent writers share one batch and one fsync ([`super::group`]); a
//! large shard's file is synced before the batch that records it.
//!
//! Blob garbage collection (which rewrites live shards to free blob files that deletes
//! left mostly empty) is switched on only while there is garbage to collect
//! ([`RocksBackend::maintain`](StorageBackend::maintain)).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use cyxcloud_core::ChunkId;
use rocksdb::{
    BlockBasedOptions, ColumnFamilyDescriptor, DB, DBCompressionType, DBPinnableSlice, Direction,
    IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions,
};

use super::files::{Incoming, ShardFiles, Staged};
use super::group::GroupCommit;
use super::{
    Check, IncomingShard, Result, ServedRecord, StorageBackend, StorageError, StorageStats,
    put_new_once_verified,
};
use tonic::codegen::Bytes;

const CF_SHARDS: &str = "shards";
const CF_META: &str = "meta";
const CF_SERVED: &str = "served";
const CF_CORRUPT: &str = "corrupt";
const FORMAT_KEY: &[u8] = b"cyxcloud-node-format";
/// On-disk layout version. Opening a store written by a newer version fails clearly.
/// Version 2 added shard files; a version 1 store (every shard in RocksDB, 16-byte meta
/// records) reads as it is and is marked version 2 when opened.
pub const FORMAT_VERSION: u32 = 2;
/// Shards of at least this many bytes are stored as files of their own.
pub const FILE_SHARD_MIN: usize = 1 << 20;
/// The directory under the store that holds shard files.
const FILES_DIR: &str = "files";
const LOCK_STRIPES: usize = 64;
/// Bytes a batch record takes beside its key and value: its type, column-family id and
/// varint lengths.
const RECORD_OVERHEAD: usize = 16;
/// Bytes of a batch's header.
const BATCH_HEADER: usize = 12;
/// A group commit takes queued writes until it holds this many bytes. Larger groups gain
/// little: 512 KiB synced writes already reach most of a disk's sequential speed.
const GROUP_MAX_BYTES: usize = 4 << 20;
/// Blob garbage collection goes on when garbage is at least this share of the blob bytes...
const BLOB_GC_ON: f64 = 0.25;
/// ...and off again when it is below this share.
const BLOB_GC_OFF: f64 = 0.10;
/// Old write-ahead log files kept for reuse (see `open`).
const RECYCLED_LOGS: usize = 2;

/// Size at which RocksDB's info log rolls over to a new file.
const INFO_LOG_MAX: usize = 16 << 20;
/// Rolled-over info logs kept beside the current one.
const INFO_LOGS_KEPT: usize = 4;

fn io(e: impl std::fmt::Display) -> StorageError {
    StorageError::from_io_message(e.to_string())
}

struct Inner {
    db: DB,
    files: ShardFiles,
    file_min: usize,
    /// Bytes held in shard files (part of the footprint `stats` reports).
    file_bytes: AtomicU64,
    used: AtomicU64,
    count: AtomicU64,
    read_us: AtomicU64,
    write_us: AtomicU64,
    /// Per-id striped locks keep accounting exact under concurrent puts and deletes of the
    /// same shard without serialising unrelated writes (which would defeat group commit).
    /// Async-aware: a small store holds its stripe across the await of its group's write.
    stripes: Vec<tokio::sync::Mutex<()>>,
    /// Whether blob garbage collection is on ([`Inner::tune_blob_gc`]).
    blob_gc: AtomicBool,
    /// Synced batches of concurrent writers, written together.
    group: GroupCommit<Vec<Record>>,
}

/// One record of a synced batch ([`Inner::write_synced`]).
enum Record {
    Put(&'static str, [u8; 32], Bytes),
    Delete(&'static str, [u8; 32]),
}

impl Record {
    /// Bytes the record takes in a batch.
    fn len(&self) -> usize {
        RECORD_OVERHEAD
            + match self {
                Record::Put(_, k, v) => k.len() + v.len(),
                Record::Delete(_, k) => k.len(),
            }
    }
}

pub struct RocksBackend {
    inner: Arc<Inner>,
}

/// A large shard written to its file as it arrives ([`StorageBackend::incoming`]).
struct RocksIncoming {
    inner: Arc<Inner>,
    id: ChunkId,
    file: Incoming,
}

impl IncomingShard for RocksIncoming {
    fn write(&mut self, data: &[u8]) -> Result<()> {
        self.inner.files.append(&mut self.file, data)
    }

    fn commit(self: Box<Self>) -> Result<bool> {
        let RocksIncoming { inner, id, file } = *self;
        let len = file.len() as u64;
        let staged = inner.files.finish(file)?;
        // Written even if the shard is stored already: it may be deleted before this
        // commit, which then stores it again instead of acknowledging a shard not there.
        inner.write_file_shard(&id, len, false, |_| Ok(staged))
    }
}

/// A value read from RocksDB, handed out as `Bytes` without copying it: RocksDB's buffer
/// stays alive (and the database with it) until the last `Bytes` view is dropped.
struct Pinned {
    // Field order is drop order: the slice goes before the database it points into.
    slice: DBPinnableSlice<'static>,
    _db: Arc<Inner>,
}

impl Pinned {
    fn bytes(slice: DBPinnableSlice<'_>, db: Arc<Inner>) -> Bytes {
        // SAFETY: the slice borrows `db.db`, which lives in the `Arc` kept beside it and is
        // only dropped after the slice (field order). The `'static` never escapes `Pinned`:
        // callers see the bytes only through `AsRef`, borrowed from `Pinned`.
        let slice =
            unsafe { std::mem::transmute::<DBPinnableSlice<'_>, DBPinnableSlice<'static>>(slice) };
        Bytes::from_owner(Pinned { slice, _db: db })
    }
}

impl AsRef<[u8]> for Pinned {
    fn as_ref(&self) -> &[u8] {
        &self.slice
    }
}

fn ewma(slot: &AtomicU64, sample_us: u64) {
    let old = slot.load(Ordering::Relaxed);
    let new = if old == 0 {
        sample_us
    } else {
        (old * 7 + sample_us) / 8
    };
    slot.store(new, Ordering::Relaxed);
}

/// A shard's meta record: size (u64 LE), store time (i64 LE) and, from format version 2,
/// one byte saying where the bytes are (0: RocksDB, 1: a shard file). Version 1 records
/// have no location byte: their shards are all in RocksDB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Meta {
    size: u64,
    in_file: bool,
}

const META_LEN: usize = 17;

fn meta_value(size: u64, at: i64, in_file: bool) -> [u8; META_LEN] {
    let mut v = [0u8; META_LEN];
    v[..8].copy_from_slice(&size.to_le_bytes());
    v[8..16].copy_from_slice(&at.to_le_bytes());
    v[16] = in_file as u8;
    v
}

fn parse_meta(v: &[u8]) -> Result<Meta> {
    let bad = |why: &str| StorageError::CorruptRecord(format!("meta record: {why}"));
    let size = v
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| bad("shorter than 8 bytes"))?;
    let in_file = match v.get(16) {
        None | Some(0) => false,
        Some(1) => true,
        Some(b) => return Err(bad(&format!("unknown location {b}"))),
    };
    Ok(Meta { size, in_file })
}

/// Whether files under `dir` can be opened for direct I/O.
fn direct_io_supported(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let probe = dir.join(".direct-io-probe");
        let ok = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT)
            .open(&probe)
            .is_ok();
        let _ = std::fs::remove_file(&probe);
        ok
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        false
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl RocksBackend {
    /// Open (or create) the store under `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with_file_threshold(dir, FILE_SHARD_MIN)
    }

    /// [`open`](Self::open), storing shards of at least `file_min` bytes as files (tests
    /// lower it to exercise both places with small shards).
    pub fn open_with_file_threshold(dir: &Path, file_min: usize) -> Result<Self> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(2);
        // RocksDB's own info log (`LOG`) grew by about 50 KB a second while a node stored
        // 250 MB/s of small shards, in one file until the next restart: gigabytes a day on
        // a node meant to run for months. It now rolls at `INFO_LOG_MAX` bytes, and the
        // four newest old ones are kept.
        opts.set_max_log_file_size(INFO_LOG_MAX);
        opts.set_keep_log_file_num(INFO_LOGS_KEPT);
        // Every store appends its shard to the write-ahead log and syncs it. A new log file
        // is fresh space: each append allocates blocks and each sync also records the file's
        // grown size. A recycled one is overwritten in place. Recovery tells a recycled
        // file's old records from new ones by the log number in each record (supported with
        // the default point-in-time recovery since RocksDB 9.1, facebook/rocksdb#12403).
        opts.set_recycle_log_file_num(RECYCLED_LOGS);
        // A log file lives until every column family with records in it is flushed. Flushed
        // one by one, the small families (shard records, served grants, corrupt marks) kept
        // four or five 64 MiB logs alive behind the shards' flushes, more than are recycled:
        // the rest were fresh files, and each sync of one also wrote its inode (a second
        // disk round trip per store). Flushed together, only the current log and the one
        // being flushed are alive, and every log after the first two is a recycled one.
        opts.set_atomic_flush(true);
        // A bound in case flushes fall behind; it also bounds what a crash replays.
        opts.set_max_total_wal_size(256 << 20);
        // Flushes write every shard a second time (WAL first, then its blob file). Written
        // through the page cache, that copy was the largest single cost of a busy node; with
        // direct I/O the blob bytes go from the memtable to the disk without it. Filesystems
        // that refuse O_DIRECT (tmpfs before Linux 6.6, some FUSE and network filesystems)
        // would fail every flush, so it is probed first.
        std::fs::create_dir_all(dir).map_err(io)?;
        opts.set_use_direct_io_for_flush_and_compaction(direct_io_supported(dir));

        let mut shards = Options::default();
        shards.set_enable_blob_files(true);
        shards.set_min_blob_size(0);
        shards.set_blob_file_size(256 << 20);
        // Off until deletes leave garbage to collect: see `tune_blob_gc`. When on, blob files
        // that are mostly garbage get compactions of their own.
        shards.set_enable_blob_gc(false);
        shards.set_blob_gc_force_threshold(BLOB_GC_ON);
        // Shards are compressed and encrypted already.
        shards.set_blob_compression_type(DBCompressionType::None);
        shards.set_compression_type(DBCompressionType::None);
        let small = Options::default;
        // Every store first looks its shard up here, and a new shard is absent from each
        // table file (with flushes of all families together, a few small ones at a time):
        // a Bloom filter answers that without reading their blocks.
        let mut meta = small();
        let mut tables = BlockBasedOptions::default();
        tables.set_bloom_filter(10.0, false);
        meta.set_block_based_table_factory(&tables);
        let cfs = vec![
            ColumnFamilyDescriptor::new(CF_SHARDS, shards),
            ColumnFamilyDescriptor::new(CF_META, meta),
            ColumnFamilyDescriptor::new(CF_SERVED, small()),
            ColumnFamilyDescriptor::new(CF_CORRUPT, small()),
        ];
        let db = DB::open_cf_descriptors(&opts, dir, cfs).map_err(io)?;

        let version = db.get(FORMAT_KEY).map_err(io)?.map(|v| {
            v.as_slice()
                .try_into()
                .map(u32::from_le_bytes)
                .unwrap_or(u32::MAX)
        });
        if let Some(version) = version.filter(|v| !(1..=FORMAT_VERSION).contains(v)) {
            return Err(StorageError::CorruptRecord(format!(
                "store format version {version}, this node reads versions 1 to {FORMAT_VERSION}"
            )));
        }
        // The file area exists before the version says it may be used.
        let files = ShardFiles::open(dir.join(FILES_DIR))?;
        if version != Some(FORMAT_VERSION) {
            let mut wo = WriteOptions::default();
            wo.set_sync(true);
            db.put_opt(FORMAT_KEY, FORMAT_VERSION.to_le_bytes(), &wo)
                .map_err(io)?;
            // Into a table file at once: a record left in a log file keeps that file and
            // every later one alive (and out of reuse) until RocksDB forces a flush.
            db.flush().map_err(io)?;
        }

        let (mut used, mut count, mut file_bytes) = (0u64, 0u64, 0u64);
        let meta_cf = db.cf_handle(CF_META).expect("meta column family exists");
        for item in db.iterator_cf(meta_cf, IteratorMode::Start) {
            let (_, v) = item.map_err(io)?;
            let m = parse_meta(&v)?;
            used += m.size;
            count += 1;
            if m.in_file {
                file_bytes += m.size;
            }
        }
        // Files that no record claims: a crash came between a file and its record, or
        // between a delete's record and its file.
        let swept = files.sweep(|id| {
            Ok(match db.get_pinned_cf(meta_cf, id.0).map_err(io)? {
                Some(v) => parse_meta(&v)?.in_file,
                None => false,
            })
        })?;
        if swept > 0 {
            tracing::info!(files = swept, "removed shard files no record refers to");
        }
        // The writer thread writes groups through the store it belongs to, which it must
        // not keep alive: it holds a weak reference, set once the store exists.
        let this = Arc::new(std::sync::OnceLock::<std::sync::Weak<Inner>>::new());
        let target = this.clone();
        let group = GroupCommit::start(GROUP_MAX_BYTES, move |group, bytes| {
            match target.get().and_then(std::sync::Weak::upgrade) {
                Some(inner) => inner.write_group(group, bytes),
                None => Err("the store is closed".into()),
            }
        })
        .map_err(io)?;
        let inner = Arc::new(Inner {
            db,
            files,
            file_min,
            file_bytes: AtomicU64::new(file_bytes),
            used: AtomicU64::new(used),
            count: AtomicU64::new(count),
            read_us: AtomicU64::new(0),
            write_us: AtomicU64::new(0),
            stripes: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            blob_gc: AtomicBool::new(false),
            group,
        });
        let _ = this.set(Arc::downgrade(&inner));
        let backend = RocksBackend { inner };
        // A store reopened with much garbage collects it from the start.
        backend.inner.tune_blob_gc()?;
        Ok(backend)
    }

    async fn read(&self, id: ChunkId, fill_cache: bool) -> Result<Option<Bytes>> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            let v = inner.read_shard(&id, fill_cache)?;
            ewma(&inner.read_us, t.elapsed().as_micros() as u64);
            Ok(v)
        })
        .await
        .map_err(io)?
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(io)?
    }
}

impl Inner {
    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db
            .cf_handle(name)
            .expect("column families are created at open")
    }
    fn synced() -> WriteOptions {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        wo
    }

    /// Write `records` as one atomic, synced batch, in a group with other writers', from a
    /// blocking thread.
    fn write_synced(&self, records: Vec<Record>) -> Result<()> {
        let bytes = records.iter().map(Record::len).sum();
        self.group
            .commit_blocking(records, bytes)
            .map_err(StorageError::from_io_message)
    }

    /// [`write_synced`](Self::write_synced) from an async task.
    async fn write_synced_async(&self, records: Vec<Record>) -> Result<()> {
        let bytes = records.iter().map(Record::len).sum();
        self.group
            .commit(records, bytes)
            .await
            .map_err(StorageError::from_io_message)
    }

    /// The group commit's write: every writer's records in one synced batch.
    fn write_group(&self, group: Vec<Vec<Record>>, bytes: usize) -> Result<(), String> {
        // Sized up front: a batch that grows by doubling copies the shards about twice
        // more and faults in fresh pages for every step.
        let mut b = WriteBatch::with_capacity_bytes(BATCH_HEADER + bytes);
        for r in group.iter().flatten() {
            match r {
                Record::Put(cf, k, v) => b.put_cf(self.cf(cf), k, v),
                Record::Delete(cf, k) => b.delete_cf(self.cf(cf), k),
            }
        }
        self.db
            .write_opt(b, &Inner::synced())
            .map_err(|e| e.to_string())
    }

    /// A stored shard's meta record, `None` if absent.
    fn stored(&self, id: &ChunkId) -> Result<Option<Meta>> {
        self.db
            .get_pinned_cf(self.cf(CF_META), id.0)
            .map_err(io)?
            .map(|v| parse_meta(&v))
            .transpose()
    }

    /// A shard's bytes from wherever its record says they are.
    fn read_shard(self: &Arc<Self>, id: &ChunkId, fill_cache: bool) -> Result<Option<Bytes>> {
        // A record read just before a concurrent delete or move may point at bytes that
        // are gone by the time they are read: then the record is read again, and only
        // bytes missing under an unchanged record are damage.
        let mut meta = self.stored(id)?;
        for _ in 0..2 {
            let Some(m) = meta else { return Ok(None) };
            let found = if m.in_file {
                self.files.read(id)?.map(Bytes::from)
            } else {
                let mut ro = ReadOptions::default();
                ro.fill_cache(fill_cache);
                self.db
                    .get_pinned_cf_opt(self.cf(CF_SHARDS), id.0, &ro)
                    .map_err(|e| match e.kind() {
                        rocksdb::ErrorKind::Corruption => StorageError::CorruptData(e.to_string()),
                        _ => io(e),
                    })?
                    .map(|p| Pinned::bytes(p, self.clone()))
            };
            if found.is_some() {
                return Ok(found);
            }
            let again = self.stored(id)?;
            if again == meta {
                return Err(StorageError::CorruptData(format!(
                    "shard {id} has a record but its bytes are missing"
                )));
            }
            meta = again;
        }
        Err(StorageError::Io(format!(
            "shard {id} kept moving while it was read"
        )))
    }

    /// Write a shard durably; with `replace` false, leave an existing one alone. Returns
    /// whether it wrote. `staged` holds the shard's file bytes if they were written ahead
    /// ([`ShardFiles::stage`]); they are committed or, if unused, removed.
    fn write_shard(
        &self,
        id: &ChunkId,
        data: &Bytes,
        replace: bool,
        staged: Option<Staged>,
    ) -> Result<bool> {
        if data.len() >= self.file_min {
            return self.write_file_shard(id, data.len() as u64, replace, |files| match staged {
                Some(staged) => Ok(staged),
                None => files.stage(id, data),
            });
        }
        let t = Instant::now();
        let _g = self.lock(id);
        let old = self.stored(id)?;
        if old.is_some() && !replace {
            return Ok(false);
        }
        self.write_synced(self.shard_records(id, data.len() as u64, Some(data), old))?;
        self.account_write(id, old, data.len() as u64, false, t);
        Ok(true)
    }

    /// Store a shard as a file of its own: `staged` writes (or has written) its bytes under
    /// a temporary name, called only if the shard is to be written.
    fn write_file_shard(
        &self,
        id: &ChunkId,
        len: u64,
        replace: bool,
        staged: impl FnOnce(&ShardFiles) -> Result<Staged>,
    ) -> Result<bool> {
        let t = Instant::now();
        let _g = self.lock(id);
        let old = self.stored(id)?;
        if old.is_some() && !replace {
            return Ok(false);
        }
        // The file is durable before the record that makes it part of the store.
        self.files.commit(staged(&self.files)?)?;
        self.write_synced(self.shard_records(id, len, None, old))?;
        self.account_write(id, old, len, true, t);
        Ok(true)
    }

    /// A new shard below the file threshold, stored from an async task: the store's
    /// commonest write waits for its group without holding a thread. The lookup is a
    /// point read of a small family whose Bloom filter answers "absent" from memory.
    async fn put_new_small(&self, id: &ChunkId, data: &Bytes) -> Result<bool> {
        let t = Instant::now();
        let _g = self.stripe(id).lock().await;
        if self.stored(id)?.is_some() {
            return Ok(false);
        }
        let len = data.len() as u64;
        self.write_synced_async(self.shard_records(id, len, Some(data), None))
            .await?;
        self.account_write(id, None, len, false, t);
        Ok(true)
    }

    /// The records that store a shard of `len` bytes, replacing `old` if there is one:
    /// with its bytes in RocksDB if `payload` is given, else in its file.
    fn shard_records(
        &self,
        id: &ChunkId,
        len: u64,
        payload: Option<&Bytes>,
        old: Option<Meta>,
    ) -> Vec<Record> {
        let mut records = Vec::with_capacity(3);
        match payload {
            Some(data) => records.push(Record::Put(CF_SHARDS, id.0, data.clone())),
            None if old.is_some_and(|m| !m.in_file) => {
                records.push(Record::Delete(CF_SHARDS, id.0))
            }
            None => {}
        }
        let meta = meta_value(len, now_secs(), payload.is_none());
        records.push(Record::Put(CF_META, id.0, Bytes::copy_from_slice(&meta)));
        records.push(Record::Delete(CF_CORRUPT, id.0));
        records
    }

    /// Counters after a shard's records are written (its stripe still locked).
    fn account_write(
        &self,
        id: &ChunkId,
        old: Option<Meta>,
        len: u64,
        in_file: bool,
        started: Instant,
    ) {
        match old {
            Some(old) => {
                self.used.fetch_sub(old.size, Ordering::Relaxed);
                if old.in_file {
                    self.file_bytes.fetch_sub(old.size, Ordering::Relaxed);
                    if !in_file {
                        self.files.remove_or_leave(id);
                    }
                }
            }
            None => {
                self.count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.used.fetch_add(len, Ordering::Relaxed);
        if in_file {
            self.file_bytes.fetch_add(len, Ordering::Relaxed);
        }
        ewma(&self.write_us, started.elapsed().as_micros() as u64);
    }

    /// Blob garbage collection relocates the live shards of the oldest blob files whenever
    /// a compaction meets them, so that files which deletes left mostly empty can go. While
    /// nothing was deleted that is pure cost: left on, it rewrote a quarter of the stored
    /// shards at every compaction, took a seventh of a storing node's CPU time and halved
    /// its 64 KiB store rate within a few GB. So it runs only while deleted (or replaced)
    /// shards leave at least [`BLOB_GC_ON`] of the blob bytes as garbage, until that falls
    /// below [`BLOB_GC_OFF`].
    fn tune_blob_gc(&self) -> Result<()> {
        // Garbage counts once a compaction has dropped the deleted shards' references.
        let live = self.shards_property("rocksdb.live-blob-file-size")?;
        let garbage = self.shards_property("rocksdb.live-blob-file-garbage-size")?;
        let on = self.blob_gc.load(Ordering::Relaxed);
        let want = blob_gc_wanted(on, garbage, live);
        if want != on {
            let value = if want { "true" } else { "false" };
            self.db
                .set_options_cf(
                    self.cf(CF_SHARDS),
                    &[("enable_blob_garbage_collection", value)],
                )
                .map_err(io)?;
            self.blob_gc.store(want, Ordering::Relaxed);
            tracing::info!(garbage, live, on = want, "blob garbage collection switched");
        }
        Ok(())
    }

    /// An integer property of the shards column family (0 when RocksDB has none).
    fn shards_property(&self, name: &str) -> Result<u64> {
        let v = self.db.property_int_value_cf(self.cf(CF_SHARDS), name);
        Ok(v.map_err(io)?.unwrap_or(0))
    }

    fn stripe(&self, id: &ChunkId) -> &tokio::sync::Mutex<()> {
        &self.stripes[id.0[0] as usize % LOCK_STRIPES]
    }

    /// The stripe lock of `id`, from a blocking thread.
    fn lock(&self, id: &ChunkId) -> tokio::sync::MutexGuard<'_, ()> {
        self.stripe(id).blocking_lock()
    }
}

/// Whether blob garbage collection should run, given whether it runs now: on from
/// [`BLOB_GC_ON`] garbage, off below [`BLOB_GC_OFF`] (apart, so it does not flap).
fn blob_gc_wanted(on: bool, garbage: u64, live: u64) -> bool {
    let share = garbage as f64 / live.max(1) as f64;
    share >= if on { BLOB_GC_OFF } else { BLOB_GC_ON }
}

#[async_trait]
impl StorageBackend for RocksBackend {
    async fn put(&self, id: &ChunkId, data: Bytes) -> Result<()> {
        let id = *id;
        self.blocking(move |s| s.write_shard(&id, &data, true, None).map(|_| ()))
            .await
    }

    async fn put_new(&self, id: &ChunkId, data: Bytes) -> Result<bool> {
        let id = *id;
        if data.len() < self.inner.file_min {
            // A task of its own: a request cancelled while its group is on the way to the
            // disk must not leave a written shard uncounted.
            let inner = self.inner.clone();
            return tokio::spawn(async move { inner.put_new_small(&id, &data).await })
                .await
                .map_err(io)?;
        }
        // One trip to the blocking pool for the lookup and the write.
        self.blocking(move |s| s.write_shard(&id, &data, false, None))
            .await
    }

    async fn put_new_verified(
        &self,
        id: &ChunkId,
        data: Bytes,
        verified: Check,
    ) -> Result<Option<bool>> {
        if data.len() < self.inner.file_min {
            return put_new_once_verified(self, id, data, verified).await;
        }
        let id = *id;
        // A shard file takes milliseconds of disk time, its hash as long again in CPU
        // time: write the bytes aside while they are checked, and let the check decide
        // whether they become the shard's file.
        let d = data.clone();
        let stage = self.blocking(move |s| {
            if s.stored(&id)?.is_some() {
                return Ok(None);
            }
            s.files.stage(&id, &d).map(Some)
        });
        let (staged, ok) = tokio::join!(stage, verified);
        if !ok {
            return Ok(None);
        }
        let staged = staged?;
        self.blocking(move |s| s.write_shard(&id, &data, false, staged))
            .await
            .map(Some)
    }

    fn streams(&self, len: u64) -> bool {
        len >= self.inner.file_min as u64
    }

    fn disk_free(&self) -> Option<u64> {
        crate::sys::disk_free(self.inner.db.path())
    }

    async fn incoming(&self, id: &ChunkId, len: u64) -> Result<Option<Box<dyn IncomingShard>>> {
        if !self.streams(len) {
            return Ok(None);
        }
        let id = *id;
        let file = self
            .blocking(move |s| s.files.incoming(&id, len as usize))
            .await?;
        Ok(Some(Box::new(RocksIncoming {
            inner: self.inner.clone(),
            id,
            file,
        })))
    }

    async fn get(&self, id: &ChunkId) -> Result<Option<Bytes>> {
        self.read(*id, true).await
    }

    async fn get_cold(&self, id: &ChunkId) -> Result<Option<Bytes>> {
        self.read(*id, false).await
    }

    async fn delete(&self, id: &ChunkId) -> Result<bool> {
        let id = *id;
        self.blocking(move |s| {
            let _g = s.lock(&id);
            let old = s.stored(&id)?;
            s.write_synced(vec![
                Record::Delete(CF_SHARDS, id.0),
                Record::Delete(CF_META, id.0),
                Record::Delete(CF_CORRUPT, id.0),
            ])?;
            if let Some(old) = old {
                s.used.fetch_sub(old.size, Ordering::Relaxed);
                s.count.fetch_sub(1, Ordering::Relaxed);
                if old.in_file {
                    // After the record: a crash in between leaves a file the next open sweeps.
                    s.file_bytes.fetch_sub(old.size, Ordering::Relaxed);
                    s.files.remove_or_leave(&id);
                }
            }
            Ok(old.is_some())
        })
        .await
    }

    async fn exists(&self, id: &ChunkId) -> Result<bool> {
        let id = *id;
        self.blocking(move |s| {
            Ok(s.db
                .get_pinned_cf(s.cf(CF_META), id.0)
                .map_err(io)?
                .is_some())
        })
        .await
    }

    async fn list_page(&self, after: Option<ChunkId>, limit: usize) -> Result<Vec<ChunkId>> {
        self.blocking(move |s| {
            let mode = match &after {
                Some(a) => IteratorMode::From(&a.0, Direction::Forward),
                None => IteratorMode::Start,
            };
            let mut out = Vec::new();
            for item in s.db.iterator_cf(s.cf(CF_META), mode) {
                let (k, _) = item.map_err(io)?;
                let id = ChunkId::from_slice(&k)
                    .map_err(|e| StorageError::CorruptRecord(e.to_string()))?;
                if Some(id) == after {
                    continue;
                }
                out.push(id);
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
        .await
    }

    fn used_bytes(&self) -> u64 {
        self.inner.used.load(Ordering::Relaxed)
    }

    async fn stats(&self) -> Result<StorageStats> {
        self.blocking(|s| {
            let blob = s.shards_property("rocksdb.total-blob-file-size")?;
            let sst = s.shards_property("rocksdb.live-sst-files-size")?;
            Ok(StorageStats {
                total_bytes: blob + sst + s.file_bytes.load(Ordering::Relaxed),
                used_bytes: s.used.load(Ordering::Relaxed),
                chunk_count: s.count.load(Ordering::Relaxed),
                read_latency_us: s.read_us.load(Ordering::Relaxed),
                write_latency_us: s.write_us.load(Ordering::Relaxed),
            })
        })
        .await
    }

    async fn maintain(&self) -> Result<()> {
        self.blocking(|s| s.tune_blob_gc()).await
    }

    async fn flush(&self) -> Result<()> {
        self.blocking(|s| {
            for cf in [CF_SHARDS, CF_META, CF_SERVED, CF_CORRUPT] {
                s.db.flush_cf(s.cf(cf)).map_err(io)?;
            }
            Ok(())
        })
        .await
    }

    async fn record_served(&self, grant_id: [u8; 16], r: ServedRecord) -> Result<()> {
        self.blocking(move |s| {
            let mut v = Vec::with_capacity(16 + r.grant.len());
            v.extend_from_slice(&r.bytes.to_le_bytes());
            v.extend_from_slice(&r.served_at.to_le_bytes());
            v.extend_from_slice(&r.grant);
            // Settlement records are not worth an fsync each; they ride the next synced write.
            s.db.put_cf(s.cf(CF_SERVED), grant_id, v).map_err(io)
        })
        .await
    }

    async fn served(&self, limit: usize) -> Result<Vec<([u8; 16], ServedRecord)>> {
        self.blocking(move |s| {
            let mut out = Vec::new();
            for item in
                s.db.iterator_cf(s.cf(CF_SERVED), IteratorMode::Start)
                    .take(limit)
            {
                let (k, v) = item.map_err(io)?;
                let bad = || StorageError::CorruptRecord("served record".into());
                let id: [u8; 16] = k.as_ref().try_into().map_err(|_| bad())?;
                if v.len() < 16 {
                    return Err(bad());
                }
                let bytes = u64::from_le_bytes(v[..8].try_into().map_err(|_| bad())?);
                let served_at = i64::from_le_bytes(v[8..16].try_into().map_err(|_| bad())?);
                out.push((
                    id,
                    ServedRecord {
                        grant: v[16..].to_vec(),
                        bytes,
                        served_at,
                    },
                ));
            }
            Ok(out)
        })
        .await
    }

    async fn ack_served(&self, ids: &[[u8; 16]]) -> Result<()> {
        let ids = ids.to_vec();
        self.blocking(move |s| {
            let mut b = WriteBatch::default();
            for id in &ids {
                b.delete_cf(s.cf(CF_SERVED), id);
            }
            s.db.write(b).map_err(io)
        })
        .await
    }

    async fn mark_corrupt(&self, id: &ChunkId, at: i64) -> Result<()> {
        let id = *id;
        self.blocking(move |s| {
            let at = Bytes::copy_from_slice(&at.to_le_bytes());
            s.write_synced(vec![Record::Put(CF_CORRUPT, id.0, at)])
        })
        .await
    }

    async fn corrupt(&self) -> Result<Vec<(ChunkId, i64)>> {
        self.blocking(|s| {
            let mut out = Vec::new();
            for item in s.db.iterator_cf(s.cf(CF_CORRUPT), IteratorMode::Start) {
                let (k, v) = item.map_err(io)?;
                let id = ChunkId::from_slice(&k)
                    .map_err(|e| StorageError::CorruptRecord(e.to_string()))?;
                let at = v.as_ref().try_into().map(i64::from_le_bytes).unwrap_or(0);
                out.push((id, at));
            }
            Ok(out)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_suite::shard as big;
    use super::*;

    fn file_count(dir: &Path) -> usize {
        std::fs::read_dir(dir.join(FILES_DIR))
            .unwrap()
            .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
            .sum()
    }

    /// RocksDB's info log is bounded: the options RocksDB records for the open store roll
    /// it at `INFO_LOG_MAX` and keep `INFO_LOGS_KEPT` old ones (unbounded is its default).
    #[test]
    fn the_info_log_rolls_and_old_ones_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let _b = RocksBackend::open(dir.path()).unwrap();
        let options = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("OPTIONS-")
            })
            .max()
            .expect("RocksDB writes an OPTIONS file");
        let text = std::fs::read_to_string(options).unwrap();
        let set = |line: String| text.lines().any(|l| l.trim() == line);
        assert!(set(format!("max_log_file_size={INFO_LOG_MAX}")), "{text}");
        assert!(set(format!("keep_log_file_num={INFO_LOGS_KEPT}")), "{text}");
    }

    #[tokio::test]
    async fn rocksdb_backend_passes_the_shared_suite_and_reopens_with_exact_accounting() {
        // With the default threshold every shard of the suite stays in RocksDB; with a low
        // one its larger shard goes to a file.
        for file_min in [FILE_SHARD_MIN, 4096] {
            let dir = tempfile::tempdir().unwrap();
            let b = RocksBackend::open_with_file_threshold(dir.path(), file_min).unwrap();
            super::super::test_suite::run(&b).await;
            let before = b.stats().await.unwrap();
            let listed = b.list().await.unwrap();
            drop(b);
            // The suite deleted its file-backed shard: no file is left behind.
            assert_eq!(file_count(dir.path()), 0);
            let b = RocksBackend::open_with_file_threshold(dir.path(), file_min).unwrap();
            let after = b.stats().await.unwrap();
            assert_eq!(
                (after.used_bytes, after.chunk_count),
                (before.used_bytes, before.chunk_count)
            );
            assert_eq!(b.list().await.unwrap(), listed);
            assert_eq!(b.served(10).await.unwrap().len(), 1);
        }
    }

    /// Many writers at once go through the group commit: every store, replacement, corrupt
    /// mark and delete lands exactly once, with exact accounting, also after a reopen.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_grouped_into_shared_batches_all_land_exactly() {
        let dir = tempfile::tempdir().unwrap();
        // A low file threshold mixes records of shard files into the groups.
        let b = Arc::new(RocksBackend::open_with_file_threshold(dir.path(), 8192).unwrap());
        let tasks: Vec<_> = (0..16u8)
            .map(|t| {
                let b = b.clone();
                tokio::spawn(async move {
                    let mut kept = Vec::new();
                    for i in 0..24u8 {
                        let (id, d) = big(1000 + 700 * i as usize, t.wrapping_mul(24) ^ i);
                        assert!(b.put_new(&id, d.clone()).await.unwrap());
                        // Stored twice: the second is acknowledged without a write.
                        assert!(!b.put_new(&id, d.clone()).await.unwrap());
                        match i % 3 {
                            0 => assert!(b.delete(&id).await.unwrap()),
                            1 => {
                                b.mark_corrupt(&id, 7).await.unwrap();
                                // Replacing the shard clears the mark.
                                b.put(&id, d.clone()).await.unwrap();
                                kept.push((id, d));
                            }
                            _ => kept.push((id, d)),
                        }
                    }
                    kept
                })
            })
            .collect();
        let mut kept = Vec::new();
        for t in tasks {
            kept.extend(t.await.unwrap());
        }
        async fn check(b: &RocksBackend, kept: &[(ChunkId, Bytes)]) {
            let s = b.stats().await.unwrap();
            let bytes: u64 = kept.iter().map(|(_, d)| d.len() as u64).sum();
            assert_eq!((s.chunk_count, s.used_bytes), (kept.len() as u64, bytes));
            for (id, d) in kept {
                assert_eq!(b.get(id).await.unwrap().as_deref(), Some(&d[..]));
            }
            assert!(b.corrupt().await.unwrap().is_empty());
        }
        check(&b, &kept).await;
        drop(Arc::into_inner(b).expect("tasks are done"));
        let b = RocksBackend::open_with_file_threshold(dir.path(), 8192).unwrap();
        check(&b, &kept).await;
    }

    /// A store whose caller gives up while its group is being written (a cancelled
    /// request) still completes, and the shard it wrote is counted.
    #[tokio::test]
    async fn a_store_abandoned_while_its_group_is_written_is_still_counted() {
        let dir = tempfile::tempdir().unwrap();
        let b = RocksBackend::open(dir.path()).unwrap();
        let (id, d) = big(65536, 3);
        {
            let mut store = std::pin::pin!(b.put_new(&id, d.clone()));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            // Polled once (queued for the writer), then dropped.
            assert!(store.as_mut().poll(&mut cx).is_pending());
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while !b.exists(&id).await.unwrap() {
            assert!(
                Instant::now() < deadline,
                "the abandoned store never landed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        // The shard is counted once it is visible (both happen under its stripe lock).
        let _g = b.inner.stripe(&id).lock().await;
        let s = b.stats().await.unwrap();
        assert_eq!((s.chunk_count, s.used_bytes), (1, 65536));
        drop(_g);
        assert!(!b.put_new(&id, d).await.unwrap());
        assert_eq!(b.stats().await.unwrap().chunk_count, 1);
    }

    /// The streaming layer decides from `streams` alone whether a store is streamed (before
    /// it checks a grant): it must agree with `incoming` at the threshold.
    #[tokio::test]
    async fn shards_stream_exactly_from_the_file_threshold() {
        let dir = tempfile::tempdir().unwrap();
        let b = RocksBackend::open_with_file_threshold(dir.path(), 8192).unwrap();
        let (id, _) = big(10, 1);
        for len in [0, 1, 8191, 8192, 8193, 1 << 20] {
            let incoming = b.incoming(&id, len).await.unwrap();
            assert_eq!(b.streams(len), incoming.is_some(), "length {len}");
            assert_eq!(b.streams(len), len >= 8192);
        }
        // The abandoned incoming shards left nothing.
        assert_eq!(file_count(dir.path()), 0);
    }

    fn check(ok: bool) -> Check {
        Box::pin(async move { ok })
    }

    #[tokio::test]
    async fn a_shard_written_while_checked_is_stored_only_when_the_check_passes() {
        let dir = tempfile::tempdir().unwrap();
        let b = RocksBackend::open(dir.path()).unwrap();
        for (len, seed) in [(FILE_SHARD_MIN + 3, 1), (FILE_SHARD_MIN - 1, 2)] {
            let (id, d) = big(len, seed);
            // Refused: nothing is stored and no file (temporary or not) stays behind.
            assert_eq!(
                b.put_new_verified(&id, d.clone(), check(false))
                    .await
                    .unwrap(),
                None
            );
            assert!(!b.exists(&id).await.unwrap());
            assert_eq!(file_count(dir.path()), 0, "length {len}");
            assert_eq!(b.used_bytes(), 0);

            assert_eq!(
                b.put_new_verified(&id, d.clone(), check(true))
                    .await
                    .unwrap(),
                Some(true)
            );
            assert_eq!(b.get(&id).await.unwrap().unwrap(), d);
            let files = usize::from(len >= FILE_SHARD_MIN);
            assert_eq!(file_count(dir.path()), files);
            // Already held: acknowledged without a second write, unless the check fails.
            assert_eq!(
                b.put_new_verified(&id, d.clone(), check(true))
                    .await
                    .unwrap(),
                Some(false)
            );
            assert_eq!(
                b.put_new_verified(&id, d.clone(), check(false))
                    .await
                    .unwrap(),
                None
            );
            assert_eq!(b.get(&id).await.unwrap().unwrap(), d);
            assert_eq!(file_count(dir.path()), files);
            assert!(b.delete(&id).await.unwrap());
        }
    }

    #[tokio::test]
    async fn large_shards_live_in_files_that_reopen_replace_and_delete_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let (a, da) = big(FILE_SHARD_MIN, 1);
        let (c, dc) = big(FILE_SHARD_MIN + 12_345, 2);
        let (s, ds) = big(FILE_SHARD_MIN - 1, 3);
        {
            let b = RocksBackend::open(dir.path()).unwrap();
            for (id, d) in [(a, &da), (c, &dc), (s, &ds)] {
                assert!(b.put_new(&id, d.clone()).await.unwrap());
                assert!(!b.put_new(&id, d.clone()).await.unwrap());
            }
            assert_eq!(
                file_count(dir.path()),
                2,
                "the shard under the threshold stays in RocksDB"
            );
            assert_eq!(b.get(&c).await.unwrap().as_deref(), Some(&dc[..]));
            let st = b.stats().await.unwrap();
            assert_eq!(st.chunk_count, 3);
            assert_eq!(st.used_bytes, (da.len() + dc.len() + ds.len()) as u64);
            assert!(st.total_bytes >= (da.len() + dc.len()) as u64);
            // Replacing is atomic and leaves one file.
            b.put(&a, da.clone()).await.unwrap();
            assert_eq!(file_count(dir.path()), 2);
            assert!(b.delete(&c).await.unwrap());
            assert_eq!(b.get(&c).await.unwrap(), None);
            assert_eq!(file_count(dir.path()), 1);
        }
        let b = RocksBackend::open(dir.path()).unwrap();
        assert_eq!(b.get(&a).await.unwrap().as_deref(), Some(&da[..]));
        assert_eq!(b.get(&s).await.unwrap().as_deref(), Some(&ds[..]));
        let st = b.stats().await.unwrap();
        assert_eq!(
            (st.chunk_count, st.used_bytes),
            (2, (da.len() + ds.len()) as u64)
        );
        drop(b);
        // A shard written under a higher threshold moves back into RocksDB when replaced.
        let b = RocksBackend::open_with_file_threshold(dir.path(), 2 * FILE_SHARD_MIN).unwrap();
        b.put(&a, da.clone()).await.unwrap();
        assert_eq!(file_count(dir.path()), 0);
        assert_eq!(b.get(&a).await.unwrap().as_deref(), Some(&da[..]));
        drop(b);
        let b = RocksBackend::open(dir.path()).unwrap();
        assert_eq!(b.get(&a).await.unwrap().as_deref(), Some(&da[..]));
        assert_eq!(b.stats().await.unwrap().chunk_count, 2);
    }

    #[tokio::test]
    async fn files_without_a_record_are_swept_and_a_missing_file_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let (a, da) = big(5000, 4);
        let (orphan, dorphan) = big(6000, 5);
        {
            let b = RocksBackend::open_with_file_threshold(dir.path(), 4096).unwrap();
            b.put(&a, da.clone()).await.unwrap();
        }
        // What a crash can leave: a finished file whose record never committed, and a
        // temporary file of a write that never finished.
        let sub = dir.path().join(FILES_DIR).join(hex::encode(&orphan.0[..1]));
        std::fs::write(sub.join(orphan.to_hex()), &dorphan).unwrap();
        std::fs::write(sub.join(format!("{}.tmp", orphan.to_hex())), &dorphan[..10]).unwrap();
        let b = RocksBackend::open_with_file_threshold(dir.path(), 4096).unwrap();
        assert_eq!(file_count(dir.path()), 1);
        assert_eq!(b.get(&orphan).await.unwrap(), None);
        assert_eq!(b.get(&a).await.unwrap().as_deref(), Some(&da[..]));
        // A record whose file vanished reads as damage, not as an absent shard.
        let sub = dir.path().join(FILES_DIR).join(hex::encode(&a.0[..1]));
        std::fs::remove_file(sub.join(a.to_hex())).unwrap();
        let err = b.get(&a).await.unwrap_err();
        assert!(matches!(err, StorageError::CorruptData(_)), "{err}");
        // Deleting it still works and forgets it.
        assert!(b.delete(&a).await.unwrap());
        assert_eq!(b.get(&a).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_version_1_store_reads_and_is_marked_version_2() {
        let dir = tempfile::tempdir().unwrap();
        let (a, da) = big(FILE_SHARD_MIN + 1, 6);
        {
            // What version 1 wrote: the shard in RocksDB, a 16-byte meta record.
            let db = DB::open_cf(
                &{
                    let mut o = Options::default();
                    o.create_if_missing(true);
                    o.create_missing_column_families(true);
                    o
                },
                dir.path(),
                [CF_SHARDS, CF_META, CF_SERVED, CF_CORRUPT],
            )
            .unwrap();
            db.put(FORMAT_KEY, 1u32.to_le_bytes()).unwrap();
            db.put_cf(db.cf_handle(CF_SHARDS).unwrap(), a.0, &da)
                .unwrap();
            let meta = meta_value(da.len() as u64, 7, false);
            db.put_cf(db.cf_handle(CF_META).unwrap(), a.0, &meta[..16])
                .unwrap();
        }
        let b = RocksBackend::open(dir.path()).unwrap();
        assert_eq!(b.get(&a).await.unwrap().as_deref(), Some(&da[..]));
        let st = b.stats().await.unwrap();
        assert_eq!((st.chunk_count, st.used_bytes), (1, da.len() as u64));
        assert_eq!(
            b.inner.db.get(FORMAT_KEY).unwrap().unwrap(),
            FORMAT_VERSION.to_le_bytes()
        );
        // Deleting the old-style shard removes its bytes.
        assert!(b.delete(&a).await.unwrap());
        assert_eq!(b.get(&a).await.unwrap(), None);
    }

    #[tokio::test]
    async fn shards_flush_to_blob_files_and_read_back_on_disk_and_tmpfs() {
        // The temp dir is a regular filesystem; /dev/shm is tmpfs, which refuses O_DIRECT
        // before Linux 6.6 (the probe then keeps flushes buffered).
        let shm = std::path::Path::new("/dev/shm");
        let mut dirs = vec![tempfile::tempdir().unwrap()];
        if shm.is_dir() {
            dirs.push(tempfile::tempdir_in(shm).unwrap());
        }
        for dir in dirs {
            let b = RocksBackend::open(dir.path()).unwrap();
            let data = Bytes::from(vec![0x5a; FILE_SHARD_MIN / 2]);
            let id = ChunkId::of(&data);
            b.put(&id, data.clone()).await.unwrap();
            b.flush().await.unwrap();
            assert_eq!(b.get(&id).await.unwrap().as_deref(), Some(&data[..]));
            drop(b);
            let b = RocksBackend::open(dir.path()).unwrap();
            assert_eq!(b.get(&id).await.unwrap().as_deref(), Some(&data[..]));
            assert!(
                !blob_files(dir.path()).is_empty(),
                "the shard went to a blob file"
            );
        }
    }

    /// Names of the store's blob files.
    fn blob_files(dir: &Path) -> std::collections::BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".blob"))
            .collect()
    }

    /// A full compaction of the shards, the bottommost level included (by default a manual
    /// compaction skips it when everything is there already).
    fn compact_shards(b: &RocksBackend) {
        let cf = b.inner.cf(CF_SHARDS);
        let mut opts = rocksdb::CompactOptions::default();
        opts.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        b.inner
            .db
            .compact_range_cf_opt(cf, None::<&[u8]>, None::<&[u8]>, &opts);
    }

    fn live_blob_bytes(b: &RocksBackend) -> u64 {
        b.inner
            .shards_property("rocksdb.live-blob-file-size")
            .unwrap()
    }

    #[test]
    fn blob_collection_switches_with_a_gap_between_on_and_off() {
        assert!(!blob_gc_wanted(false, 0, 0));
        assert!(!blob_gc_wanted(false, 24, 100));
        assert!(blob_gc_wanted(false, 25, 100));
        // Once on, it stays on until garbage falls below the lower share.
        assert!(blob_gc_wanted(true, 24, 100));
        assert!(blob_gc_wanted(true, 10, 100));
        assert!(!blob_gc_wanted(true, 9, 100));
    }

    #[tokio::test]
    async fn blob_files_are_rewritten_only_once_deletes_leave_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let b = RocksBackend::open(dir.path()).unwrap();
        // Four blob files of 32 shards each.
        let mut shards = Vec::new();
        for f in 0..4u8 {
            for i in 0..32u8 {
                let (id, data) = big(64 * 1024, f * 32 + i);
                b.put(&id, data.clone()).await.unwrap();
                shards.push((id, data));
            }
            b.flush().await.unwrap();
        }
        let blobs = blob_files(dir.path());
        assert_eq!(blobs.len(), 4);

        // Nothing deleted, nothing to collect: a full compaction leaves every blob file
        // as it was (with collection on, it would rewrite the oldest).
        b.maintain().await.unwrap();
        assert!(!b.inner.blob_gc.load(Ordering::Relaxed));
        compact_shards(&b);
        assert_eq!(blob_files(dir.path()), blobs);

        // Three shards of every four deleted: once a compaction has dropped them, the
        // garbage counts and collection goes on.
        for (id, _) in shards.iter().skip(1).step_by(2) {
            assert!(b.delete(id).await.unwrap());
        }
        for (id, _) in shards.iter().skip(2).step_by(4) {
            assert!(b.delete(id).await.unwrap());
        }
        b.flush().await.unwrap();
        compact_shards(&b);
        let before = live_blob_bytes(&b);
        b.maintain().await.unwrap();
        assert!(b.inner.blob_gc.load(Ordering::Relaxed));
        // A store reopened with that garbage collects it from the start.
        drop(b);
        let b = RocksBackend::open(dir.path()).unwrap();
        assert!(b.inner.blob_gc.load(Ordering::Relaxed));
        // The next compaction frees the space, and more follow until the garbage is gone.
        compact_shards(&b);
        assert!(
            live_blob_bytes(&b) < before,
            "{} !< {before}",
            live_blob_bytes(&b)
        );
        assert_ne!(blob_files(dir.path()), blobs);
        for (n, (id, data)) in shards.iter().enumerate() {
            let kept = n % 4 == 0;
            let got = b.get(id).await.unwrap();
            assert_eq!(got.as_deref(), kept.then_some(&data[..]), "shard {n}");
        }
        // Each compaction collects the oldest quarter of the blob files; with the garbage
        // gone, collection goes off again.
        for _ in 0..8 {
            b.maintain().await.unwrap();
            if !b.inner.blob_gc.load(Ordering::Relaxed) {
                break;
            }
            compact_shards(&b);
        }
        assert!(
            !b.inner.blob_gc.load(Ordering::Relaxed),
            "garbage left: collection stayed on"
        );
        assert!(live_blob_bytes(&b) < before / 2);
    }

    #[tokio::test]
    async fn a_recycled_log_replays_only_its_own_records() {
        let dir = tempfile::tempdir().unwrap();
        let b = RocksBackend::open(dir.path()).unwrap();
        let first: Vec<_> = (0..20u8).map(|i| big(64 * 1024, i)).collect();
        for (id, data) in &first {
            b.put(id, data.clone()).await.unwrap();
        }
        // Two flushes: the first log becomes obsolete and is kept for reuse, the second
        // switch reuses it, with the first shards' records still in it past the new ones.
        b.flush().await.unwrap();
        let (id, data) = big(64 * 1024, 100);
        b.put(&id, data).await.unwrap();
        b.flush().await.unwrap();
        let info = std::fs::read_to_string(dir.path().join("LOG")).unwrap();
        assert!(
            info.contains("to recycle list"),
            "no log file kept for reuse"
        );
        // Written to the reused log only, then the store is closed without a flush.
        let later: Vec<_> = (200..205u8).map(|i| big(64 * 1024, i)).collect();
        for (id, data) in &later {
            b.put(id, data.clone()).await.unwrap();
        }
        assert!(b.delete(&first[0].0).await.unwrap());
        drop(b);

        // Recovery replays the new records and stops there: the deleted shard does not
        // come back from the old records behind them.
        let b = RocksBackend::open(dir.path()).unwrap();
        assert_eq!(b.get(&first[0].0).await.unwrap(), None);
        for (id, data) in first.iter().skip(1).chain(&later) {
            assert_eq!(b.get(id).await.unwrap().as_deref(), Some(&data[..]));
        }
        assert_eq!(b.stats().await.unwrap().chunk_count, 19 + 1 + 5);
    }

    /// When the shards' memtable fills, its flush also flushes the small column families,
    /// so no older log stays alive for their records: logs are recycled instead of piling
    /// up as fresh files whose syncs also write their inodes.
    #[tokio::test]
    async fn a_full_memtable_flush_leaves_no_older_log_alive() {
        let dir = tempfile::tempdir().unwrap();
        let b = RocksBackend::open(dir.path()).unwrap();
        // Unsynced and in a family of its own, like every served grant.
        let rec = ServedRecord {
            grant: vec![1],
            bytes: 1,
            served_at: 1,
        };
        b.record_served([3; 16], rec).await.unwrap();
        // More than one 64 MiB memtable of shards small enough to stay in RocksDB.
        for i in 0..140u8 {
            let (id, data) = big(512 * 1024, i);
            b.put(&id, data).await.unwrap();
        }
        let s = &b.inner;
        let int = |name: &str| s.db.property_int_value(name).unwrap().unwrap_or(0);
        let started = Instant::now();
        while int("rocksdb.mem-table-flush-pending") + int("rocksdb.num-running-flushes") > 0 {
            assert!(started.elapsed().as_secs() < 60, "the flush did not finish");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let logs: Vec<u64> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".log")?.parse().ok()
            })
            .collect();
        let newest = *logs.iter().max().expect("a log file");
        assert!(logs.len() > 1, "the memtable never filled: logs {logs:?}");
        assert_eq!(
            int("rocksdb.min-log-number-to-keep"),
            newest,
            "an older log is still needed (logs {logs:?})"
        );
    }

    #[tokio::test]
    async fn a_store_from_a_newer_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(RocksBackend::open(dir.path()).unwrap());
        {
            let db = DB::open_cf(
                &Options::default(),
                dir.path(),
                [CF_SHARDS, CF_META, CF_SERVED, CF_CORRUPT],
            )
            .unwrap();
            db.put(FORMAT_KEY, (FORMAT_VERSION + 1).to_le_bytes())
                .unwrap();
        }
        let err = RocksBackend::open(dir.path()).err().expect("refused");
        let newer = format!("format version {}", FORMAT_VERSION + 1);
        assert!(err.to_string().contains(&newer), "{err}");
    }
}
