//! The node's side of the gateway's NodeService: register, heartbeat on an interval with the
//! node's status, report metrics (corrupt shards, served grants for settlement), and obey
//! commands from heartbeat replies. When the gateway is unreachable the node keeps serving
//! valid grants and re-registers once it comes back.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use cyxcloud_proto::node::node_service_client::NodeServiceClient;
use cyxcloud_proto::node::*;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::config::{NodeConfig, NodeType as CfgType};
use crate::identity::{Identity, registration_message};
use crate::state::{NodeState, now_secs};

pub struct LinkConfig {
    pub url: String,
    pub auth_token: String,
    pub advertise: String,
    pub libp2p_address: String,
    pub node_type: NodeType,
    pub location: NodeLocation,
    pub interval: Duration,
}

impl LinkConfig {
    pub fn from_config(c: &NodeConfig, advertise: String) -> Self {
        LinkConfig {
            url: c.gateway.url.clone(),
            auth_token: c.gateway.auth_token.clone(),
            advertise,
            libp2p_address: format!("/ip4/{}/tcp/{}", c.network.grpc_host, c.network.libp2p_port),
            node_type: match c.node.node_type {
                CfgType::Miner => NodeType::Miner,
                CfgType::Volunteer => NodeType::Volunteer,
                CfgType::Enterprise => NodeType::Enterprise,
            },
            location: NodeLocation {
                datacenter: c.location.datacenter.clone(),
                rack: c.location.rack.clone(),
                region: c.location.region.clone(),
                latitude: c.location.latitude,
                longitude: c.location.longitude,
            },
            interval: Duration::from_secs(c.gateway.heartbeat_interval_secs),
        }
    }
}

enum After {
    Reregister,
    Stop,
}

async fn register(
    client: &mut NodeServiceClient<Channel>,
    state: &NodeState,
    id: &Identity,
    cfg: &LinkConfig,
) -> Result<String, String> {
    let stats = state.backend.stats().await.map_err(|e| e.to_string())?;
    let offered = state.offered(stats.used_bytes);
    let ts = now_secs();
    let req = RegisterRequest {
        node_id: state.node_id.clone(),
        peer_id: id.peer_id(),
        grpc_address: cfg.advertise.clone(),
        libp2p_address: cfg.libp2p_address.clone(),
        capacity: Some(NodeCapacity {
            total_bytes: offered,
            available_bytes: offered.saturating_sub(stats.used_bytes),
        }),
        location: Some(cfg.location.clone()),
        r#type: cfg.node_type as i32,
        public_key: id.public_key_bytes().to_vec().into(),
        timestamp: ts,
        signature: id
            .sign(&registration_message(&state.node_id, &cfg.advertise, ts))
            .to_vec()
            .into(),
    };
    let mut request = tonic::Request::new(req);
    if !cfg.auth_token.is_empty()
        && let Ok(v) = format!("Bearer {}", cfg.auth_token).parse()
    {
        request.metadata_mut().insert("authorization", v);
    }
    let r = client
        .register(request)
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner();
    if !r.success {
        return Err(r.error_message);
    }
    if !r.gateway_public_key.is_empty() {
        let key: [u8; 32] = r.gateway_public_key[..]
            .try_into()
            .map_err(|_| "gateway key is not 32 bytes".to_string())?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key).map_err(|e| e.to_string())?;
        state.set_gateway_key(key);
    }
    Ok(r.auth_token)
}

async fn status(state: &NodeState, last: &mut (u64, u64, std::time::Instant)) -> NodeStatus {
    let s = state.backend.stats().await.unwrap_or_default();
    let (rx, tx) = (
        state.metrics.bytes_received.load(Ordering::Relaxed),
        state.metrics.bytes_served.load(Ordering::Relaxed),
    );
    let secs = last.2.elapsed().as_secs_f64().max(0.001);
    let mbps = |now: u64, before: u64| (now.saturating_sub(before)) as f64 * 8.0 / 1e6 / secs;
    // The node's own traffic: bytes it wrote to and read from disk came in and went out over
    // the network, one for one.
    let st = NodeStatus {
        used_bytes: s.used_bytes,
        chunk_count: s.chunk_count,
        cpu_percent: state.cpu.cpu_percent(),
        memory_percent: crate::sys::memory_percent(),
        disk_read_mbps: mbps(tx, last.1),
        disk_write_mbps: mbps(rx, last.0),
        network_in_mbps: mbps(rx, last.0),
        network_out_mbps: mbps(tx, last.1),
        capacity_bytes: state.offered(s.used_bytes),
        uptime_seconds: state.started.elapsed().as_secs(),
        corrupt_chunks: state
            .backend
            .corrupt()
            .await
            .map(|c| c.len() as u64)
            .unwrap_or(0),
    };
    *last = (rx, tx, std::time::Instant::now());
    st
}

async fn report_metrics(
    client: &mut NodeServiceClient<Channel>,
    state: &NodeState,
    token: &str,
) -> Result<(), String> {
    let served = state
        .backend
        .served(1000)
        .await
        .map_err(|e| e.to_string())?;
    let corrupt = state.backend.corrupt().await.map_err(|e| e.to_string())?;
    let ids: Vec<[u8; 16]> = served.iter().map(|(id, _)| *id).collect();
    let req = MetricsRequest {
        node_id: state.node_id.clone(),
        auth_token: token.to_string(),
        timestamp: now_secs(),
        metrics: [
            (
                "bytes_received".to_string(),
                state.metrics.bytes_received.load(Ordering::Relaxed) as f64,
            ),
            (
                "bytes_served".to_string(),
                state.metrics.bytes_served.load(Ordering::Relaxed) as f64,
            ),
            (
                "scrub_passes".to_string(),
                state.metrics.scrub_passes.load(Ordering::Relaxed) as f64,
            ),
        ]
        .into_iter()
        .collect(),
        corrupt_chunks: corrupt
            .into_iter()
            .map(|(id, at)| CorruptChunk {
                chunk_id: id.0.to_vec().into(),
                detected_at: at,
            })
            .collect(),
        served_grants: served
            .into_iter()
            .map(|(_, r)| ServedGrant {
                grant: r.grant.into(),
                bytes_served: r.bytes,
                served_at: r.served_at,
            })
            .collect(),
    };
    let r = client
        .report_metrics(req)
        .await
        .map_err(|s| s.message().to_string())?
        .into_inner();
    if r.acknowledged {
        state
            .backend
            .ack_served(&ids)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Heartbeat until the gateway asks for re-registration or the node stops.
async fn heartbeat_loop(
    client: &mut NodeServiceClient<Channel>,
    state: &NodeState,
    token: &str,
    cfg: &LinkConfig,
    cancel: &CancellationToken,
) -> After {
    let mut last = (0, 0, std::time::Instant::now());
    loop {
        let req = HeartbeatRequest {
            node_id: state.node_id.clone(),
            auth_token: token.to_string(),
            status: Some(status(state, &mut last).await),
        };
        match client.heartbeat(req).await {
            Ok(r) => {
                let r = r.into_inner();
                if !r.acknowledged {
                    return After::Reregister;
                }
                for c in r.commands {
                    match c.as_str() {
                        "drain" => {
                            tracing::info!("gateway asked this node to drain");
                            state.set_draining(true);
                        }
                        "undrain" | "resume" => state.set_draining(false),
                        "shutdown" => {
                            tracing::info!("gateway asked this node to shut down");
                            cancel.cancel();
                            return After::Stop;
                        }
                        "reregister" => return After::Reregister,
                        other => tracing::warn!(command = other, "unknown command from gateway"),
                    }
                }
                if let Err(e) = report_metrics(client, state, token).await {
                    tracing::debug!(error = %e, "metrics report failed");
                }
            }
            Err(s) => {
                // Whatever the gateway lost while unreachable, registering again (with
                // backoff, serving existing grants meanwhile) brings it up to date.
                tracing::warn!(error = %s.message(), "heartbeat failed; re-registering, still serving");
                return After::Reregister;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.interval) => {}
            _ = cancel.cancelled() => return After::Stop,
        }
    }
}

pub async fn run(
    state: Arc<NodeState>,
    identity: Arc<Identity>,
    cfg: LinkConfig,
    cancel: CancellationToken,
) {
    let endpoint = match Channel::from_shared(cfg.url.clone()) {
        Ok(e) => e
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10)),
        Err(e) => {
            tracing::error!(error = %e, url = %cfg.url, "bad gateway url");
            return;
        }
    };
    let mut backoff = Duration::from_millis(200);
    loop {
        if cancel.is_cancelled() {
            return;
        }
        let mut client = NodeServiceClient::new(endpoint.connect_lazy());
        match register(&mut client, &state, &identity, &cfg).await {
            Ok(token) => {
                tracing::info!(gateway = %cfg.url, node_id = %state.node_id, "registered with the gateway");
                backoff = Duration::from_millis(200);
                match heartbeat_loop(&mut client, &state, &token, &cfg, &cancel).await {
                    After::Stop => return,
                    After::Reregister => continue,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "registration failed; serving existing grants meanwhile");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = cancel.cancelled() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
