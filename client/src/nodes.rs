//! Connections to storage nodes: one HTTP/2 channel per node, how fast each node has been,
//! and an adaptive cap on concurrent shard transfers.
//!
//! The cap follows AIMD, as TCP does: every success lets it grow by one transfer per "round"
//! (per `limit` successes), every timeout or transport failure halves it. A home router or a
//! slow uplink therefore settles at the concurrency it can carry instead of timing out, and
//! a fast link ramps up to the configured maximum.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cyxcloud_core::ChunkId;
use cyxcloud_proto::chunk::chunk_service_client::ChunkServiceClient;
use cyxcloud_proto::chunk::{GetChunkRequest, StoreChunkRequest};
use cyxcloud_proto::frames;
use tokio::sync::Notify;
use tonic::transport::Channel;

use crate::error::{ClientError, Result};

/// AIMD concurrency limiter.
pub struct Limiter {
    state: Mutex<LimState>,
    notify: Notify,
    max: usize,
}

struct LimState {
    limit: f64,
    in_flight: usize,
    /// Until the first congestion signal the limit grows by one per success (slow start).
    slow_start: bool,
}

pub struct Permit<'a> {
    lim: &'a Limiter,
    done: bool,
}

impl Limiter {
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Limiter {
            state: Mutex::new(LimState {
                limit: max.min(8) as f64,
                in_flight: 0,
                slow_start: true,
            }),
            notify: Notify::new(),
            max,
        }
    }

    pub fn limit(&self) -> usize {
        self.lock().limit as usize
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.notify.notified();
            {
                let mut s = self.lock();
                if (s.in_flight as f64) < s.limit.floor().max(1.0) {
                    s.in_flight += 1;
                    return Permit {
                        lim: self,
                        done: false,
                    };
                }
            }
            notified.await;
        }
    }

    fn release(&self, outcome: Option<bool>) {
        let mut s = self.lock();
        s.in_flight -= 1;
        match outcome {
            Some(true) => {
                let step = if s.slow_start {
                    1.0
                } else {
                    1.0 / s.limit.max(1.0)
                };
                s.limit = (s.limit + step).min(self.max as f64);
            }
            Some(false) => {
                s.slow_start = false;
                s.limit = (s.limit / 2.0).max(1.0);
            }
            None => {}
        }
        drop(s);
        self.notify.notify_waiters();
    }
}

impl Permit<'_> {
    /// Report how the transfer went: `true` success, `false` congestion (timeout, reset).
    pub fn finish(mut self, ok: bool) {
        self.done = true;
        self.lim.release(Some(ok));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.lim.release(None);
        }
    }
}

#[derive(Default, Clone, Copy)]
struct NodeStats {
    /// Smoothed seconds per MiB (lower is faster); 0 = unknown.
    secs_per_mib: f64,
    failures: u32,
}

impl NodeStats {
    /// Seconds per MiB to expect: the measured figure, or 0.05 for a node not measured yet.
    fn expected_secs_per_mib(&self) -> f64 {
        if self.secs_per_mib == 0.0 {
            0.05
        } else {
            self.secs_per_mib
        }
    }
}

/// Transfer size in MiB, counting anything under 4 KiB as 4 KiB (per-request costs dominate).
fn mib(bytes: usize) -> f64 {
    bytes.max(4096) as f64 / 1048576.0
}

/// Shared by every transfer of a client.
pub struct NodePool {
    channels: Mutex<HashMap<String, Channel>>,
    stats: Mutex<HashMap<String, NodeStats>>,
    pub limiter: Limiter,
    max_message: usize,
}

impl NodePool {
    pub fn new(max_connections: usize) -> Arc<Self> {
        Arc::new(NodePool {
            channels: Mutex::new(HashMap::new()),
            stats: Mutex::new(HashMap::new()),
            limiter: Limiter::new(max_connections),
            max_message: 1 << 30,
        })
    }

    fn client(&self, address: &str) -> Result<ChunkServiceClient<Channel>> {
        Ok(ChunkServiceClient::new(self.channel(address)?)
            .max_decoding_message_size(self.max_message)
            .max_encoding_message_size(self.max_message))
    }

    fn channel(&self, address: &str) -> Result<Channel> {
        let mut c = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        let ch = match c.get(address) {
            Some(ch) => ch.clone(),
            None => {
                let url = if address.contains("://") {
                    address.to_string()
                } else {
                    format!("http://{address}")
                };
                let ch = cyxcloud_proto::limits::shard_endpoint(url)
                    .map_err(|e| ClientError::Unreachable(format!("node {address}: {e}")))?
                    .connect_lazy();
                c.insert(address.to_string(), ch.clone());
                ch
            }
        };
        Ok(ch)
    }

    /// Order node ids fastest first (unknown nodes in the middle, failing ones last).
    pub fn rank(&self, nodes: &mut [(String, usize)]) {
        let s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let score = |id: &str| {
            let st = s.get(id).copied().unwrap_or_default();
            st.expected_secs_per_mib() * (1.0 + st.failures as f64 * 4.0)
        };
        nodes.sort_by(|a, b| score(&a.0).total_cmp(&score(&b.0)));
    }

    fn record(&self, node: &str, bytes: usize, took: Duration, ok: bool) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let st = s.entry(node.to_string()).or_default();
        if ok {
            let spm = took.as_secs_f64() / mib(bytes);
            st.secs_per_mib = if st.secs_per_mib == 0.0 {
                spm
            } else {
                st.secs_per_mib * 0.7 + spm * 0.3
            };
            st.failures = st.failures.saturating_sub(1);
        } else {
            st.failures = (st.failures + 1).min(8);
        }
    }

    /// How long shard reads of `bytes` from `nodes` may take before more are asked: twice
    /// the slowest one's expected time (nodes not yet measured count as 0.05 s per MiB), at
    /// least 10 ms and at most a minute.
    pub fn hedge_delay<'a>(
        &self,
        nodes: impl IntoIterator<Item = &'a str>,
        bytes: usize,
    ) -> Duration {
        let s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let slowest = nodes
            .into_iter()
            .map(|id| {
                s.get(id)
                    .copied()
                    .unwrap_or_default()
                    .expected_secs_per_mib()
            })
            .fold(0.0, f64::max);
        Duration::from_secs_f64((2.0 * slowest * mib(bytes)).clamp(0.010, 60.0))
    }

    /// A transfer from `node` was still running after `waited`: rank it at least that slow.
    pub fn record_slow(&self, node: &str, bytes: usize, waited: Duration) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        let st = s.entry(node.to_string()).or_default();
        let spm = waited.as_secs_f64() / mib(bytes);
        if spm > st.secs_per_mib {
            st.secs_per_mib = if st.secs_per_mib == 0.0 {
                spm
            } else {
                st.secs_per_mib * 0.5 + spm * 0.5
            };
        }
    }

    /// How long to wait for a transfer of `bytes` before calling the node too slow: generous
    /// for slow links (64 KiB/s floor), bounded so a dead node is abandoned.
    pub fn deadline(bytes: usize) -> Duration {
        Duration::from_secs(15) + Duration::from_secs_f64(bytes as f64 / (64.0 * 1024.0))
    }

    pub async fn store(
        &self,
        node: &str,
        address: &str,
        id: ChunkId,
        data: Bytes,
        grant: Bytes,
    ) -> Result<()> {
        let len = data.len();
        let mut ch = self.channel(address)?;
        let permit = self.limiter.acquire().await;
        let t = Instant::now();
        // The shard goes to the socket from `data` itself, not from a copy.
        let r = tokio::time::timeout(
            Self::deadline(len),
            frames::store_chunk(
                &mut ch,
                StoreChunkRequest {
                    chunk_id: Some(id.into()),
                    data,
                    metadata: None,
                    grant,
                },
                frames::Limits::both(self.max_message),
            ),
        )
        .await;
        let out = match r {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(s)) => Err(node_err(node, s)),
            Err(_) => Err(ClientError::Unreachable(format!("node {node} timed out"))),
        };
        self.record(node, len, t.elapsed(), out.is_ok());
        permit.finish(!matches!(out, Err(ClientError::Unreachable(_))));
        out
    }

    /// Fetch one shard. The decoder checks it against its id. `started` is set when the
    /// request leaves (after waiting for a connection permit).
    pub async fn get(
        &self,
        node: &str,
        address: &str,
        id: ChunkId,
        grant: Bytes,
        size_hint: usize,
        started: &std::sync::OnceLock<Instant>,
    ) -> Result<Bytes> {
        let mut c = self.client(address)?;
        let permit = self.limiter.acquire().await;
        let t = Instant::now();
        let _ = started.set(t);
        let r = tokio::time::timeout(
            Self::deadline(size_hint),
            c.get_chunk(GetChunkRequest {
                chunk_id: Some(id.into()),
                grant,
            }),
        )
        .await;
        let out = match r {
            Ok(Ok(resp)) => Ok(resp.into_inner().data),
            Ok(Err(s)) => Err(node_err(node, s)),
            Err(_) => Err(ClientError::Unreachable(format!("node {node} timed out"))),
        };
        self.record(node, size_hint, t.elapsed(), out.is_ok());
        permit.finish(!matches!(out, Err(ClientError::Unreachable(_))));
        out
    }
}

fn node_err(node: &str, s: tonic::Status) -> ClientError {
    match s.code() {
        tonic::Code::Unavailable
        | tonic::Code::DeadlineExceeded
        | tonic::Code::Cancelled
        | tonic::Code::Unknown => ClientError::Unreachable(format!("node {node}: {}", s.message())),
        _ => ClientError::Gateway {
            status: 502,
            code: format!("{:?}", s.code()),
            message: format!("node {node}: {}", s.message()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hedge_delay_follows_the_slowest_node_and_late_nodes_rank_last() {
        let pool = NodePool::new(8);
        let mib = 1 << 20;
        // Nobody measured: 0.05 s per MiB, doubled.
        assert_eq!(
            pool.hedge_delay(["a", "b"], mib),
            Duration::from_millis(100)
        );
        pool.record("a", mib, Duration::from_millis(10), true);
        pool.record("b", mib, Duration::from_millis(30), true);
        assert_eq!(pool.hedge_delay(["a", "b"], mib), Duration::from_millis(60));
        assert_eq!(pool.hedge_delay(["a"], mib), Duration::from_millis(20));
        // Bounded below and above.
        assert_eq!(pool.hedge_delay(["a"], 4096), Duration::from_millis(10));
        assert_eq!(pool.hedge_delay(["a"], 1 << 40), Duration::from_secs(60));
        // "a" was still busy after 200 ms: it now ranks behind "b".
        pool.record_slow("a", mib, Duration::from_millis(200));
        let mut order = vec![("a".to_string(), 0), ("b".to_string(), 1)];
        pool.rank(&mut order);
        assert_eq!(order[0].0, "b");
        // Being late never makes a node look faster.
        pool.record_slow("b", mib, Duration::from_millis(1));
        assert_eq!(pool.hedge_delay(["b"], mib), Duration::from_millis(60));
    }

    #[tokio::test]
    async fn limiter_grows_on_success_and_halves_on_congestion() {
        let l = Limiter::new(32);
        assert_eq!(l.limit(), 8);
        // Slow start: one more per success until the first congestion signal.
        for _ in 0..10 {
            l.acquire().await.finish(true);
        }
        assert_eq!(l.limit(), 18);
        for _ in 0..100 {
            l.acquire().await.finish(true);
        }
        assert_eq!(l.limit(), 32, "capped at the maximum");
        l.acquire().await.finish(false);
        assert_eq!(l.limit(), 16);
        // Then one more per round of `limit` successes.
        for _ in 0..17 {
            l.acquire().await.finish(true);
        }
        assert_eq!(l.limit(), 17, "about one per round of 16");
        for _ in 0..10 {
            l.acquire().await.finish(false);
        }
        assert_eq!(l.limit(), 1, "never below one");
    }

    #[tokio::test]
    async fn limiter_bounds_concurrency() {
        let l = Arc::new(Limiter::new(2));
        let a = l.acquire().await;
        let _b = l.acquire().await;
        let l2 = l.clone();
        let waiter = tokio::spawn(async move {
            let _c = l2.acquire().await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "a third transfer must wait");
        drop(a);
        tokio::time::timeout(Duration::from_secs(2), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
