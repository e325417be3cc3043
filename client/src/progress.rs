//! Transfer events, so a progress bar, the TUI and the mount can all show the same thing.

use std::sync::Arc;

#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    /// A transfer started. `total` is the plaintext size when known; `done` counts bytes
    /// already transferred by an earlier, interrupted run.
    Started { total: Option<u64>, done: u64 },
    /// A chunk of `bytes` plaintext bytes was encoded.
    ChunkEncoded { index: u64, bytes: u64 },
    /// Every shard of a chunk is stored (or read and decoded, for downloads).
    ChunkDone { index: u64, bytes: u64 },
    /// A chunk reached its write quorum but not every shard was placed; repair completes it.
    ChunkDegraded {
        index: u64,
        stored: usize,
        total: usize,
    },
    /// A node failed or was slow; the shard moved to another node.
    Retry { node: String, reason: String },
    /// The manifest is committed (uploads) or the file is in place (downloads).
    Finished { bytes: u64 },
}

pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

pub(crate) fn emit(p: &Option<ProgressFn>, e: Progress) {
    if let Some(f) = p {
        f(e)
    }
}
