//! Background work: deleting shards nothing uses any more (retrying until nodes confirm),
//! closing uploads that died with their gateway or were abandoned, and the node lifecycle
//! monitor.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::datapath::DataPath;
use crate::db::{self, Db};
use crate::error::Result;

/// An S3 PUT of another gateway that made no progress this long is considered dead.
pub const STALE_PUT_SECS: i64 = 3600;
/// Rich-client uploads are kept this long for resuming.
pub const STALE_CLIENT_UPLOAD_SECS: i64 = 7 * 24 * 3600;
/// Multipart uploads nobody touched this long are aborted.
pub const STALE_MULTIPART_SECS: i64 = 30 * 24 * 3600;

/// One pass over due deletions; returns (deleted, still pending).
pub async fn delete_pass(db: &Db, data: &DataPath) -> Result<(usize, usize)> {
    let due = db.due_deletions(500).await?;
    let mut done = 0;
    let mut failed = 0;
    for (shard, node, attempts) in due {
        if db.shard_in_use(&shard, &node).await? {
            // Another object (same bytes) or an open upload uses it: keep the shard.
            db.finish_deletion(&shard, &node).await?;
            continue;
        }
        if data.registry.get(&node).is_none() {
            // The node is gone (removed); nothing left to delete.
            db.finish_deletion(&shard, &node).await?;
            continue;
        }
        match data.delete_shard(&node, &shard).await {
            Ok(()) => {
                db.finish_deletion(&shard, &node).await?;
                done += 1;
            }
            Err(e) => {
                let backoff = 2i64.saturating_pow(attempts.min(12)).min(3600);
                tracing::debug!(node = %node, error = %e, attempts, "shard deletion failed; will retry");
                db.retry_deletion(&shard, &node, db::now() + backoff)
                    .await?;
                failed += 1;
            }
        }
    }
    Ok((done, failed))
}

/// Abort uploads that can no longer complete.
pub async fn reap_uploads(db: &Db, instance: &str, startup: bool) -> Result<usize> {
    let now = db::now();
    let mut ids = db.stale_uploads("put", now - STALE_PUT_SECS).await?;
    if startup {
        // PUTs an earlier run of this gateway was serving when it stopped cannot finish.
        ids.extend(db.uploads_of_earlier_runs("put", instance).await?);
    }
    ids.extend(
        db.stale_uploads("client", now - STALE_CLIENT_UPLOAD_SECS)
            .await?,
    );
    ids.extend(
        db.stale_uploads("multipart", now - STALE_MULTIPART_SECS)
            .await?,
    );
    ids.sort();
    ids.dedup();
    for id in &ids {
        db.abort_upload(id).await?;
    }
    if !ids.is_empty() {
        tracing::info!(
            count = ids.len(),
            "closed dead uploads; their shards will be deleted"
        );
    }
    Ok(ids.len())
}

pub async fn run(
    db: Db,
    data: Arc<DataPath>,
    kick: Arc<Notify>,
    cancel: CancellationToken,
    instance: String,
) {
    let mut first = true;
    loop {
        if let Err(e) = reap_uploads(&db, &instance, first).await {
            tracing::warn!(error = %e, "closing dead uploads failed");
        }
        first = false;
        loop {
            match delete_pass(&db, &data).await {
                Ok((done, failed)) if done > 0 && failed == 0 => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "shard deletion pass failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = kick.notified() => {
                // Let a burst of deletes settle into one pass.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
    }
}
