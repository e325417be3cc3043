//! The node registry: NodeService (register, heartbeat, metrics, work), the lifecycle
//! monitor of the specification's "Node Fault Tolerance" section, and placement.
//!
//! The database is the record; each gateway keeps an in-memory view (refreshed by the
//! monitor and updated on every registration and heartbeat) with what only it knows: recent
//! request failures and latencies, and open connections.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use cyxcloud_core::ChunkId;
use cyxcloud_core::grant::{Grant, GrantOp, SigningKey};
use cyxcloud_proto::node as pb;
use cyxcloud_proto::node::node_service_server::NodeService;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use crate::auth::{random_bytes, token_hash};
use crate::config::NodesSection;
use crate::db::{self, Db, NodeRow};
use crate::error::{GatewayError, Result};

pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";
pub const RECOVERING: &str = "recovering";
pub const DRAINING: &str = "draining";
pub const MAINTENANCE: &str = "maintenance";

/// Registration timestamps are accepted within this window.
const REGISTER_SKEW_SECS: i64 = 300;

pub fn can_write(status: &str) -> bool {
    status == ONLINE
}
pub fn can_read(status: &str) -> bool {
    matches!(status, ONLINE | RECOVERING | MAINTENANCE)
}

#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub id: String,
    pub address: String,
    pub public_key: [u8; 32],
    pub status: String,
    pub capacity: u64,
    pub used: u64,
    pub datacenter: String,
    pub rack: String,
}

struct Entry {
    info: NodeInfo,
    last_failure: Option<Instant>,
    /// Smoothed request latency, for choosing whom to read from.
    latency_ms: f64,
    channel: Option<Channel>,
}

/// Gateway-side view of the nodes.
pub struct Registry {
    nodes: RwLock<HashMap<String, Entry>>,
    failure_backoff: Duration,
    /// Bytes promised to in-flight writes, so parallel uploads do not all pick the emptiest
    /// node.
    max_message: usize,
}

fn endpoint_url(addr: &str) -> String {
    if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    }
}

/// A uniform random number in [0, 1).
fn unit_random() -> f64 {
    (u64::from_le_bytes(random_bytes::<8>()) >> 11) as f64 / (1u64 << 53) as f64
}

impl Registry {
    pub fn new(failure_backoff: Duration, max_message: usize) -> Self {
        Registry {
            nodes: RwLock::new(HashMap::new()),
            failure_backoff,
            max_message,
        }
    }

    fn info_of(r: &NodeRow) -> NodeInfo {
        NodeInfo {
            id: r.id.clone(),
            address: r.grpc_address.clone(),
            public_key: r.public_key,
            status: r.status.clone(),
            capacity: r.capacity_bytes,
            used: r.used_bytes,
            datacenter: r.datacenter.clone(),
            rack: r.rack.clone(),
        }
    }

    /// Replace the view with the database's rows, keeping local observations.
    pub fn load(&self, rows: &[NodeRow]) {
        let mut m = self.nodes.write().expect("registry lock");
        let ids: HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        m.retain(|k, _| ids.contains(k.as_str()));
        for r in rows {
            self.upsert_locked(&mut m, r);
        }
    }

    pub fn upsert(&self, r: &NodeRow) {
        let mut m = self.nodes.write().expect("registry lock");
        self.upsert_locked(&mut m, r);
    }

    fn upsert_locked(&self, m: &mut HashMap<String, Entry>, r: &NodeRow) {
        let info = Self::info_of(r);
        match m.get_mut(&r.id) {
            Some(e) => {
                if e.info.address != info.address {
                    e.channel = None;
                }
                e.info = info;
            }
            None => {
                m.insert(
                    r.id.clone(),
                    Entry {
                        info,
                        last_failure: None,
                        latency_ms: 5.0,
                        channel: None,
                    },
                );
            }
        }
    }

    pub fn remove(&self, id: &str) {
        self.nodes.write().expect("registry lock").remove(id);
    }

    pub fn get(&self, id: &str) -> Option<NodeInfo> {
        self.nodes
            .read()
            .expect("registry lock")
            .get(id)
            .map(|e| e.info.clone())
    }

    pub fn all(&self) -> Vec<NodeInfo> {
        let mut v: Vec<NodeInfo> = self
            .nodes
            .read()
            .expect("registry lock")
            .values()
            .map(|e| e.info.clone())
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// A (lazily connecting) channel to a node's ChunkService.
    pub fn channel(&self, id: &str) -> Result<Channel> {
        if let Some(c) = self
            .nodes
            .read()
            .expect("registry lock")
            .get(id)
            .and_then(|e| e.channel.clone())
        {
            return Ok(c);
        }
        let mut m = self.nodes.write().expect("registry lock");
        let e = m
            .get_mut(id)
            .ok_or_else(|| GatewayError::Unavailable(format!("node {id} is not registered")))?;
        let ep = cyxcloud_proto::limits::shard_endpoint(endpoint_url(&e.info.address))
            .map_err(|err| GatewayError::Internal(format!("node address: {err}")))?
            .timeout(Duration::from_secs(120));
        let c = ep.connect_lazy();
        e.channel = Some(c.clone());
        Ok(c)
    }

    pub fn max_message(&self) -> usize {
        self.max_message
    }

    pub fn record_success(&self, id: &str, elapsed: Duration) {
        if let Some(e) = self.nodes.write().expect("registry lock").get_mut(id) {
            e.latency_ms = 0.8 * e.latency_ms + 0.2 * elapsed.as_secs_f64() * 1000.0;
        }
    }

    /// A request to `id` has been out for `waited` without an answer (it may still come):
    /// counted as a latency of `waited`, without marking the node as failing.
    pub fn record_slow(&self, id: &str, waited: Duration) {
        self.record_success(id, waited);
    }

    pub fn record_failure(&self, id: &str) {
        if let Some(e) = self.nodes.write().expect("registry lock").get_mut(id) {
            e.last_failure = Some(Instant::now());
            e.latency_ms = (e.latency_ms * 2.0).min(60_000.0);
        }
    }

    /// How long shard reads from `ids` may take before more nodes are asked: twice the
    /// slowest one's smoothed latency, at least 10 ms and at most a minute.
    pub fn hedge_delay<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Duration {
        let m = self.nodes.read().expect("registry lock");
        let slowest = ids
            .into_iter()
            .filter_map(|id| m.get(id))
            .map(|e| e.latency_ms)
            .fold(0.0, f64::max);
        Duration::from_secs_f64((2.0 * slowest).clamp(10.0, 60_000.0) / 1000.0)
    }

    /// Choose `count` distinct write-healthy nodes not in `exclude`: spread across
    /// datacenters, then racks, weighted by free capacity, avoiding nodes that failed within
    /// the back-off (used only if nothing else is left). Fewer than `count` when there are
    /// not enough nodes.
    pub fn place(&self, count: usize, exclude: &HashSet<String>) -> Vec<NodeInfo> {
        let m = self.nodes.read().expect("registry lock");
        let now = Instant::now();
        let mut fresh = Vec::new();
        let mut failed = Vec::new();
        for e in m.values() {
            if !can_write(&e.info.status) || exclude.contains(&e.info.id) {
                continue;
            }
            let free = e.info.capacity.saturating_sub(e.info.used);
            if free < 1 << 20 && e.info.capacity > 0 {
                continue;
            }
            let recent = e
                .last_failure
                .is_some_and(|t| now.duration_since(t) < self.failure_backoff);
            if recent {
                failed.push(e.info.clone())
            } else {
                fresh.push(e.info.clone())
            }
        }
        drop(m);
        let mut chosen = spread_pick(fresh, count);
        if chosen.len() < count {
            chosen.extend(spread_pick(failed, count - chosen.len()));
        }
        chosen
    }

    /// Order candidate holders for reading: read-healthy first, then by latency; failed
    /// nodes last.
    pub fn read_order(&self, ids: &mut [(usize, String)]) {
        let m = self.nodes.read().expect("registry lock");
        let now = Instant::now();
        let score = |id: &str| -> (u8, u64) {
            match m.get(id) {
                None => (3, 0),
                Some(e) => {
                    let recent = e
                        .last_failure
                        .is_some_and(|t| now.duration_since(t) < self.failure_backoff);
                    let class = if !can_read(&e.info.status) {
                        2
                    } else if recent {
                        1
                    } else {
                        0
                    };
                    (class, (e.latency_ms * 1000.0) as u64)
                }
            }
        };
        ids.sort_by_key(|(i, id)| (score(id), *i));
    }
}

/// Pick up to `count` nodes, each time from the least-used datacenter and rack so far,
/// weighted by free capacity.
fn spread_pick(mut pool: Vec<NodeInfo>, count: usize) -> Vec<NodeInfo> {
    let mut out: Vec<NodeInfo> = Vec::with_capacity(count);
    let mut dc: HashMap<String, usize> = HashMap::new();
    let mut rack: HashMap<(String, String), usize> = HashMap::new();
    while out.len() < count && !pool.is_empty() {
        let key = |n: &NodeInfo| {
            (
                dc.get(&n.datacenter).copied().unwrap_or(0),
                rack.get(&(n.datacenter.clone(), n.rack.clone()))
                    .copied()
                    .unwrap_or(0),
            )
        };
        let best = pool.iter().map(key).min().expect("pool is not empty");
        let idx: Vec<usize> = (0..pool.len()).filter(|&i| key(&pool[i]) == best).collect();
        let weights: Vec<f64> = idx
            .iter()
            .map(|&i| {
                let n = &pool[i];
                (n.capacity.saturating_sub(n.used) as f64).max(1.0)
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut r = unit_random() * total;
        let mut pick = idx[idx.len() - 1];
        for (w, &i) in weights.iter().zip(&idx) {
            if r < *w {
                pick = i;
                break;
            }
            r -= w;
        }
        let n = pool.swap_remove(pick);
        *dc.entry(n.datacenter.clone()).or_default() += 1;
        *rack
            .entry((n.datacenter.clone(), n.rack.clone()))
            .or_default() += 1;
        out.push(n);
    }
    out
}

/// Signs grants with the gateway's Ed25519 key.
pub struct Signer {
    key: SigningKey,
    ttl: u64,
}

impl Signer {
    pub fn new(key: SigningKey, ttl: u64) -> Self {
        Signer { key, ttl }
    }
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }
    pub fn grant(&self, op: GrantOp, node: &[u8; 32], shard: &ChunkId, max_bytes: u64) -> Vec<u8> {
        let now = db::now() as u64;
        Grant {
            op,
            node: *node,
            shard: *shard,
            max_bytes,
            issued_at: now,
            expires_at: now + self.ttl,
            grant_id: random_bytes::<16>(),
        }
        .sign(&self.key)
        .to_bytes()
        .to_vec()
    }
}

/// NodeService, served to storage nodes on the gRPC port.
pub struct NodeServiceImpl {
    pub db: Db,
    pub registry: Arc<Registry>,
    pub signer: Arc<Signer>,
    pub cfg: NodesSection,
    pub events: crate::events::Events,
    /// Corrupt shard reports received (for metrics and tests).
    pub corrupt_reports: Mutex<u64>,
}

fn node_type_name(t: i32) -> &'static str {
    match pb::NodeType::try_from(t).unwrap_or(pb::NodeType::Unspecified) {
        pb::NodeType::Volunteer => "volunteer",
        pb::NodeType::Enterprise => "enterprise",
        _ => "miner",
    }
}

impl NodeServiceImpl {
    async fn authenticate(&self, node_id: &str, token: &str) -> Result<Option<NodeRow>> {
        let Some(n) = self.db.node(node_id).await? else {
            return Ok(None);
        };
        let ok = crate::auth::ct_eq(n.auth_token_hash.as_bytes(), token_hash(token).as_bytes());
        Ok(ok.then_some(n))
    }
}

#[tonic::async_trait]
impl NodeService for NodeServiceImpl {
    async fn register(
        &self,
        req: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let r = req.into_inner();
        let refuse = |m: &str| {
            Ok(Response::new(pb::RegisterResponse {
                success: false,
                error_message: m.to_string(),
                ..Default::default()
            }))
        };
        let Ok(pk) = <[u8; 32]>::try_from(&r.public_key[..]) else {
            return refuse("public_key must be 32 bytes");
        };
        let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&pk) else {
            return refuse("public_key is not an Ed25519 key");
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&r.signature) else {
            return refuse("signature must be 64 bytes");
        };
        if (db::now() - r.timestamp).abs() > REGISTER_SKEW_SECS {
            return refuse("timestamp is more than five minutes off");
        }
        if r.node_id.is_empty() || r.node_id.len() > 128 || r.grpc_address.is_empty() {
            return refuse("node_id and grpc_address are required");
        }
        let msg = cyxcloud_proto::registration_message(&r.node_id, &r.grpc_address, r.timestamp);
        if vk.verify_strict(&msg, &sig).is_err() {
            return refuse("signature does not match the public key");
        }
        let existing = self.db.node(&r.node_id).await.map_err(Status::from)?;
        if let Some(e) = &existing
            && e.public_key != pk
        {
            return refuse("node id is registered with another key");
        }
        let now = db::now();
        let token = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            random_bytes::<32>(),
        );
        let (status, first_offline_at, changed) = match &existing {
            Some(e) if matches!(e.status.as_str(), OFFLINE | DRAINING) => {
                (RECOVERING.to_string(), e.first_offline_at, now)
            }
            Some(e) => (e.status.clone(), e.first_offline_at, e.status_changed_at),
            None => (ONLINE.to_string(), None, now),
        };
        let cap = r.capacity.unwrap_or_default();
        let loc = r.location.unwrap_or_default();
        let row = NodeRow {
            id: r.node_id.clone(),
            peer_id: r.peer_id,
            public_key: pk,
            grpc_address: r.grpc_address,
            node_type: node_type_name(r.r#type).into(),
            status,
            capacity_bytes: cap.total_bytes,
            used_bytes: cap.total_bytes.saturating_sub(cap.available_bytes),
            chunk_count: existing.as_ref().map(|e| e.chunk_count).unwrap_or(0),
            datacenter: loc.datacenter,
            rack: loc.rack,
            region: loc.region,
            last_seen: now,
            joined_at: existing.as_ref().map(|e| e.joined_at).unwrap_or(now),
            first_offline_at,
            status_changed_at: changed,
            auth_token_hash: token_hash(&token),
            command: None,
        };
        self.db.upsert_node(&row).await.map_err(Status::from)?;
        self.registry.upsert(&row);
        if existing.is_none() {
            self.events.node_joined(&row);
        }
        tracing::info!(node_id = %row.id, address = %row.grpc_address, status = %row.status, "node registered");
        Ok(Response::new(pb::RegisterResponse {
            success: true,
            error_message: String::new(),
            auth_token: token,
            gateway_public_key: self.signer.public_key().to_vec().into(),
            heartbeat_interval_secs: self.cfg.heartbeat_interval_secs,
        }))
    }

    async fn heartbeat(
        &self,
        req: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatResponse>, Status> {
        let r = req.into_inner();
        let Some(node) = self
            .authenticate(&r.node_id, &r.auth_token)
            .await
            .map_err(Status::from)?
        else {
            return Ok(Response::new(pb::HeartbeatResponse {
                acknowledged: false,
                commands: vec!["reregister".into()],
            }));
        };
        let s = r.status.unwrap_or_default();
        let capacity = if s.capacity_bytes > 0 {
            s.capacity_bytes
        } else {
            node.capacity_bytes
        };
        self.db
            .node_heartbeat(&node.id, s.used_bytes, s.chunk_count, capacity)
            .await
            .map_err(Status::from)?;
        let mut row = node.clone();
        row.used_bytes = s.used_bytes;
        row.chunk_count = s.chunk_count;
        row.capacity_bytes = capacity;
        row.last_seen = db::now();
        if matches!(node.status.as_str(), OFFLINE | DRAINING) {
            self.db
                .set_node_status(&node.id, RECOVERING, node.first_offline_at)
                .await
                .map_err(Status::from)?;
            row.status = RECOVERING.into();
            tracing::info!(node_id = %node.id, "node is back; quarantined before new writes");
        }
        self.registry.upsert(&row);
        let mut commands = Vec::new();
        if let Some(c) = &node.command {
            commands.push(c.clone());
            self.db
                .set_node_command(&node.id, None)
                .await
                .map_err(Status::from)?;
        }
        Ok(Response::new(pb::HeartbeatResponse {
            acknowledged: true,
            commands,
        }))
    }

    async fn report_metrics(
        &self,
        req: Request<pb::MetricsRequest>,
    ) -> Result<Response<pb::MetricsResponse>, Status> {
        let r = req.into_inner();
        if self
            .authenticate(&r.node_id, &r.auth_token)
            .await
            .map_err(Status::from)?
            .is_none()
        {
            return Err(Status::unauthenticated("unknown node or token"));
        }
        if !r.corrupt_chunks.is_empty() {
            tracing::warn!(node_id = %r.node_id, count = r.corrupt_chunks.len(), "node reported corrupt shards");
            *self.corrupt_reports.lock().expect("lock") += r.corrupt_chunks.len() as u64;
        }
        Ok(Response::new(pb::MetricsResponse { acknowledged: true }))
    }

    type GetWorkStream = tokio_stream::Iter<std::vec::IntoIter<Result<pb::WorkItem, Status>>>;

    /// Work for a node: deletions of shards no object uses any more.
    async fn get_work(
        &self,
        req: Request<pb::GetWorkRequest>,
    ) -> Result<Response<Self::GetWorkStream>, Status> {
        let r = req.into_inner();
        let Some(node) = self
            .authenticate(&r.node_id, &r.auth_token)
            .await
            .map_err(Status::from)?
        else {
            return Err(Status::unauthenticated("unknown node or token"));
        };
        let max = (r.max_items.clamp(1, 1000)) as usize;
        let due = self.db.due_deletions(10_000).await.map_err(Status::from)?;
        let mut items = Vec::new();
        for (shard, n, _) in due.into_iter().filter(|(_, n, _)| *n == node.id) {
            if items.len() >= max {
                break;
            }
            if self
                .db
                .shard_in_use(&shard, &n)
                .await
                .map_err(Status::from)?
            {
                continue;
            }
            let id = ChunkId(shard);
            items.push(Ok(pb::WorkItem {
                work_id: format!("delete-{}", id.to_hex()),
                work: Some(pb::work_item::Work::Delete(pb::DeleteShard {
                    chunk_id: shard.to_vec().into(),
                    delete_grant: self
                        .signer
                        .grant(GrantOp::Delete, &node.public_key, &id, 0)
                        .into(),
                })),
            }));
        }
        Ok(Response::new(tokio_stream::iter(items)))
    }
}

/// One pass of the lifecycle monitor; returns the nodes whose status changed.
pub async fn monitor_pass(
    db: &Db,
    registry: &Registry,
    cfg: &NodesSection,
    events: &crate::events::Events,
) -> Result<Vec<(String, String)>> {
    let now = db::now();
    let mut changed = Vec::new();
    for n in db.nodes().await? {
        let offline_for = n.first_offline_at.map(|t| now - t).unwrap_or(0);
        let next = match n.status.as_str() {
            ONLINE if now - n.last_seen > cfg.offline_threshold_secs as i64 => {
                Some((OFFLINE, Some(now)))
            }
            RECOVERING if now - n.last_seen > cfg.offline_threshold_secs as i64 => {
                Some((OFFLINE, n.first_offline_at.or(Some(now))))
            }
            RECOVERING if now - n.status_changed_at >= cfg.recovery_quarantine_secs as i64 => {
                Some((ONLINE, None))
            }
            OFFLINE | DRAINING if offline_for > cfg.remove_threshold_secs as i64 => {
                db.remove_node(&n.id).await?;
                registry.remove(&n.id);
                events.node_left(&n.id, "removed");
                changed.push((n.id.clone(), "removed".into()));
                tracing::warn!(node_id = %n.id, "node removed after being offline too long");
                continue;
            }
            OFFLINE if offline_for > cfg.drain_threshold_secs as i64 => {
                Some((DRAINING, n.first_offline_at))
            }
            _ => None,
        };
        if let Some((status, first)) = next {
            db.set_node_status(&n.id, status, first).await?;
            if status == OFFLINE {
                events.node_left(&n.id, OFFLINE);
            }
            tracing::info!(node_id = %n.id, from = %n.status, to = status, "node status changed");
            changed.push((n.id.clone(), status.to_string()));
        }
    }
    registry.load(&db.nodes().await?);
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, dc: &str, rack: &str, free: u64) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            address: "127.0.0.1:1".into(),
            public_key: [0; 32],
            status: ONLINE.into(),
            capacity: free,
            used: 0,
            datacenter: dc.into(),
            rack: rack.into(),
        }
    }

    #[test]
    fn spreads_across_datacenters_then_racks() {
        for _ in 0..50 {
            let pool = vec![
                info("a1", "a", "1", 1 << 30),
                info("a2", "a", "1", 1 << 30),
                info("a3", "a", "2", 1 << 30),
                info("b1", "b", "1", 1 << 30),
                info("c1", "c", "1", 1 << 30),
            ];
            let got = spread_pick(pool, 4);
            let dcs: HashSet<_> = got[..3].iter().map(|n| n.datacenter.clone()).collect();
            assert_eq!(
                dcs.len(),
                3,
                "first three picks cover the three datacenters"
            );
            // The fourth pick is in "a" on the rack not used yet when possible.
            let a: Vec<_> = got.iter().filter(|n| n.datacenter == "a").collect();
            assert_eq!(a.len(), 2);
            assert_ne!(a[0].rack, a[1].rack);
        }
    }

    #[test]
    fn weighted_by_free_capacity() {
        let mut big = 0;
        for _ in 0..2000 {
            let pool = vec![info("big", "", "", 9 << 30), info("small", "", "", 1 << 30)];
            if spread_pick(pool, 1)[0].id == "big" {
                big += 1;
            }
        }
        // Expect ~90%; far from 50%.
        assert!((1600..=1990).contains(&big), "{big}");
    }

    #[test]
    fn placement_skips_unhealthy_excluded_and_recently_failed() {
        let r = Registry::new(Duration::from_secs(60), 1 << 20);
        let mut rows = Vec::new();
        for (i, st) in [ONLINE, ONLINE, ONLINE, OFFLINE, RECOVERING]
            .iter()
            .enumerate()
        {
            rows.push(NodeRow {
                public_key: [i as u8; 32],
                ..NodeRow::for_test(&format!("n{i}"), st)
            });
        }
        r.load(&rows);
        let got: HashSet<String> = r
            .place(10, &HashSet::new())
            .into_iter()
            .map(|n| n.id)
            .collect();
        assert_eq!(got, HashSet::from(["n0".into(), "n1".into(), "n2".into()]));
        r.record_failure("n0");
        let first = r.place(2, &HashSet::from(["n2".to_string()]));
        assert_eq!(first[0].id, "n1", "fresh nodes before recently failed ones");
        assert_eq!(first[1].id, "n0");
        let mut order = vec![(0, "n3".to_string()), (1, "n0".into()), (2, "n4".into())];
        r.read_order(&mut order);
        assert_eq!(
            order.iter().map(|(_, id)| id.as_str()).collect::<Vec<_>>(),
            ["n4", "n0", "n3"]
        );
    }
}
