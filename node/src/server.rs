//! Starting and stopping a node: bind listeners, spawn the gRPC server, the metrics
//! endpoint, the scrubber, storage upkeep and the gateway link, all stopped by one
//! cancellation token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cyxcloud_proto::chunk::chunk_service_server::ChunkServiceServer;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{BackendKind, NodeConfig};
use crate::identity::{Identity, IdentityError};
use crate::service::ChunkServiceImpl;
use crate::state::NodeState;
use crate::storage::memory::MemoryBackend;
use crate::storage::rocks::RocksBackend;
use crate::storage::{StorageBackend, StorageError};
use crate::{gateway_link, scrub};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("opening storage at {path}: {source}")]
    Storage { path: String, source: StorageError },
    #[error("binding {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("gRPC server failed: {0}")]
    Serve(String),
}

/// A running node.
pub struct NodeHandle {
    pub grpc_addr: SocketAddr,
    pub metrics_addr: Option<SocketAddr>,
    pub node_id: String,
    pub peer_id: String,
    pub state: Arc<NodeState>,
    cancel: CancellationToken,
    server: JoinHandle<Result<(), NodeError>>,
    tasks: Vec<JoinHandle<()>>,
}

impl NodeHandle {
    /// Ask the node to stop: no new connections, in-flight requests finish.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }

    /// Resolves when a shutdown was requested (by the caller or a gateway command).
    pub fn cancelled(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// Wait until everything has stopped.
    pub async fn wait(self) -> Result<(), NodeError> {
        let r = self
            .server
            .await
            .map_err(|e| NodeError::Serve(e.to_string()))?;
        for t in self.tasks {
            let _ = t.await;
        }
        if let Err(e) = self.state.backend.flush().await {
            tracing::error!(error = %e, "flushing storage on shutdown failed");
        }
        r
    }
}

/// Open storage, bind and start serving.
pub async fn start(cfg: NodeConfig) -> Result<NodeHandle, NodeError> {
    cfg.validate()?;
    let dir = cfg.storage.path.clone();
    std::fs::create_dir_all(&dir).map_err(|e| NodeError::Storage {
        path: dir.display().to_string(),
        source: StorageError::Io(e.to_string()),
    })?;
    let identity = Arc::new(Identity::load_or_create(&dir)?);
    let node_id = if cfg.node.id.is_empty() {
        identity.derived_node_id()
    } else {
        cfg.node.id.clone()
    };

    let backend: Arc<dyn StorageBackend> = match cfg.storage.backend {
        BackendKind::Memory => Arc::new(MemoryBackend::new()),
        _ => {
            let db_dir = dir.join("db");
            let d = db_dir.clone();
            let b = tokio::task::spawn_blocking(move || RocksBackend::open(&d))
                .await
                .map_err(|e| NodeError::Serve(e.to_string()))?
                .map_err(|source| NodeError::Storage {
                    path: db_dir.display().to_string(),
                    source,
                })?;
            Arc::new(b)
        }
    };

    let gateway_key = if cfg.gateway.public_key.is_empty() {
        NodeState::saved_gateway_key(&dir)
    } else {
        crate::identity::parse_public_key(&cfg.gateway.public_key).ok()
    };
    let state = Arc::new(
        NodeState::new(
            node_id.clone(),
            identity.public_key_bytes(),
            backend,
            (cfg.storage.read_cache_mb as usize) << 20,
            cfg.capacity_bytes(),
            dir.clone(),
            gateway_key,
        )
        .with_min_free(cfg.storage.min_free_mb.saturating_mul(1 << 20)),
    );

    let addr = cfg.grpc_listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Bind {
            what: "gRPC",
            addr,
            source,
        })?;
    let grpc_addr = listener.local_addr().map_err(|source| NodeError::Bind {
        what: "gRPC",
        addr,
        source,
    })?;
    let advertise = if !cfg.network.advertise_address.is_empty() {
        cfg.network.advertise_address.clone()
    } else if grpc_addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", grpc_addr.port())
    } else {
        grpc_addr.to_string()
    };

    let cancel = CancellationToken::new();
    let limit = cfg.storage.max_shard_bytes as usize + cyxcloud_proto::limits::ENVELOPE_SLACK;
    let svc = ChunkServiceServer::new(ChunkServiceImpl {
        state: state.clone(),
    })
    .max_decoding_message_size(limit)
    .max_encoding_message_size(limit);
    let svc = crate::direct::Direct::new(svc, state.clone(), limit);
    let c = cancel.clone();
    let server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .tcp_nodelay(true)
            .max_frame_size(Some(cyxcloud_proto::limits::MAX_FRAME))
            .initial_stream_window_size(Some(cyxcloud_proto::limits::STREAM_WINDOW))
            .initial_connection_window_size(Some(cyxcloud_proto::limits::CONNECTION_WINDOW))
            .add_service(svc)
            // Set TCP_NODELAY on each accepted connection: `Server::tcp_nodelay` does not
            // reach connections handed in here, and Nagle plus delayed ACKs otherwise hold
            // every response back ~40 ms.
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                c.cancelled_owned(),
            )
            .await
            .map_err(|e| NodeError::Serve(e.to_string()))
    });

    let mut tasks = Vec::new();
    let mut metrics_addr = None;
    if cfg.metrics.port != 0 {
        let maddr: SocketAddr = format!("{}:{}", cfg.metrics.host, cfg.metrics.port)
            .parse()
            .map_err(|_| crate::config::ConfigError::Invalid {
                setting: "metrics.host",
                message: "bad address".into(),
            })?;
        let ml = tokio::net::TcpListener::bind(maddr)
            .await
            .map_err(|source| NodeError::Bind {
                what: "metrics",
                addr: maddr,
                source,
            })?;
        metrics_addr = ml.local_addr().ok();
        let st = state.clone();
        let c = cancel.clone();
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let st = st.clone();
                async move {
                    let s = st.backend.stats().await.unwrap_or_default();
                    st.metrics
                        .render(s.used_bytes, s.chunk_count, st.offered(s.used_bytes))
                }
            }),
        );
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(ml, app)
                .with_graceful_shutdown(c.cancelled_owned())
                .await;
        }));
    }

    if cfg.storage.scrub_rate_mb_s > 0.0 {
        let sc = scrub::ScrubConfig {
            rate: cfg.storage.scrub_rate_mb_s * 1e6,
            interval: Duration::from_secs(cfg.storage.scrub_interval_secs),
        };
        tasks.push(tokio::spawn(scrub::run(state.clone(), sc, cancel.clone())));
    }

    tasks.push(tokio::spawn(maintain(state.clone(), cancel.clone())));

    if !cfg.gateway.url.is_empty() {
        let lc = gateway_link::LinkConfig::from_config(&cfg, advertise.clone());
        tasks.push(tokio::spawn(gateway_link::run(
            state.clone(),
            identity.clone(),
            lc,
            cancel.clone(),
        )));
    }

    tracing::info!(%node_id, peer_id = %identity.peer_id(), %grpc_addr, %advertise, "node started");
    Ok(NodeHandle {
        grpc_addr,
        metrics_addr,
        node_id,
        peer_id: identity.peer_id(),
        state,
        cancel,
        server,
        tasks,
    })
}

/// How often the storage backend's upkeep runs.
const MAINTAIN_EVERY: Duration = Duration::from_secs(60);

/// Storage upkeep ([`StorageBackend::maintain`]) once every [`MAINTAIN_EVERY`] until
/// cancelled.
async fn maintain(state: Arc<NodeState>, cancel: CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(MAINTAIN_EVERY) => {}
        }
        if let Err(e) = state.backend.maintain().await {
            tracing::warn!(error = %e, "storage upkeep failed");
        }
    }
}
