//! Background scrubber: re-verifies every stored shard against its id at a bounded read
//! rate, reports corrupt ones, then rests until the next pass.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::state::NodeState;

pub struct ScrubConfig {
    /// Bytes per second at most.
    pub rate: f64,
    /// Pause between passes.
    pub interval: Duration,
}

/// Verify every shard once. Returns the number of corrupt shards found.
pub async fn scrub_pass(state: &NodeState, rate: f64, cancel: &CancellationToken) -> u64 {
    let total = state
        .backend
        .stats()
        .await
        .map(|s| s.chunk_count)
        .unwrap_or(0)
        .max(1);
    let (mut after, mut checked, mut corrupt) = (None, 0u64, 0u64);
    let started = Instant::now();
    let mut bytes = 0u64;
    loop {
        let page = match state.backend.list_page(after, 256).await {
            Ok(p) if p.is_empty() => break,
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "scrub listing failed");
                break;
            }
        };
        for id in &page {
            if cancel.is_cancelled() {
                return corrupt;
            }
            let data = match state.read_cold(id).await {
                Ok(Some(d)) => d,
                Ok(None) => continue, // deleted meanwhile
                Err(s) if s.code() == tonic::Code::DataLoss => {
                    corrupt += 1; // reported by `read`
                    checked += 1;
                    continue;
                }
                Err(s) => {
                    tracing::error!(error = %s.message(), shard = %id, "scrub read failed");
                    continue;
                }
            };
            if !crate::service::hash(&data).await.ct_eq(id) {
                corrupt += 1;
                state.report_corrupt(id).await;
            }
            checked += 1;
            bytes += data.len() as u64;
            state.metrics.scrub_checked.fetch_add(1, Ordering::Relaxed);
            state
                .metrics
                .scrub_bytes
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            state.metrics.scrub_progress_ppm.store(
                (checked * 1_000_000 / total).min(1_000_000),
                Ordering::Relaxed,
            );
            // Bound the read rate: sleep until the bytes read so far fit the budget.
            if rate > 0.0 {
                let due = Duration::from_secs_f64(bytes as f64 / rate);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => return corrupt,
                    }
                }
            }
        }
        after = page.last().copied();
    }
    state.metrics.scrub_passes.fetch_add(1, Ordering::Relaxed);
    state
        .metrics
        .scrub_progress_ppm
        .store(1_000_000, Ordering::Relaxed);
    tracing::info!(
        checked,
        corrupt,
        secs = started.elapsed().as_secs(),
        "scrub pass done"
    );
    corrupt
}

pub async fn run(state: Arc<NodeState>, cfg: ScrubConfig, cancel: CancellationToken) {
    loop {
        scrub_pass(&state, cfg.rate, &cancel).await;
        tokio::select! {
            _ = tokio::time::sleep(cfg.interval) => {}
            _ = cancel.cancelled() => return,
        }
    }
}
