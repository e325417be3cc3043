//! Start and stop the gateway: metadata, keys, node registry, the HTTP (S3 + REST) and gRPC
//! (NodeService) listeners, and the background tasks. Used by `cyxcloud-gateway` and by
//! `cyxcloud gateway run`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cyxcloud_core::buffers::BufferPool;
use cyxcloud_core::keys::{KeyEncryptionKey, MasterKey};
use cyxcloud_proto::node::node_service_server::NodeServiceServer;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::Secrets;
use crate::config::GatewayConfig;
use crate::datapath::{DataPath, DataPathConfig};
use crate::db::Db;
use crate::error::GatewayError;
use crate::events::Events;
use crate::nodes::{NodeServiceImpl, Registry, Signer};

/// Idle chunk and shard buffers the data path keeps for reuse: a few 64 MiB chunks' worth.
const IDLE_BUFFER_BYTES: usize = 768 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("metadata database: {0}")]
    Database(String),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("binding {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("{what} server failed: {message}")]
    Serve { what: &'static str, message: String },
}

/// What every request handler shares.
pub struct AppState {
    pub db: Db,
    pub cfg: Arc<GatewayConfig>,
    pub secrets: Arc<Secrets>,
    pub data: Arc<DataPath>,
    pub registry: Arc<Registry>,
    pub events: Events,
    /// `<gateway id>:<run id>`.
    pub instance: String,
    pub public_url: String,
    /// The port the gRPC services are bound to (told to clients by `/api/v1/info`).
    pub grpc_port: u16,
    pub janitor_kick: Arc<Notify>,
}

pub struct GatewayHandle {
    pub http_addr: SocketAddr,
    pub grpc_addr: SocketAddr,
    pub state: Arc<AppState>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<Result<(), ServerError>>>,
}

impl GatewayHandle {
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }

    /// Wait for the servers to drain and the background tasks to stop.
    pub async fn wait(self) -> Result<(), ServerError> {
        let mut result = Ok(());
        for t in self.tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => result = Err(e),
                Err(e) => {
                    result = Err(ServerError::Serve {
                        what: "task",
                        message: e.to_string(),
                    })
                }
            }
        }
        self.state.db.close().await;
        result
    }
}

fn db_err(e: GatewayError) -> ServerError {
    ServerError::Database(e.to_string())
}

/// The stable id of this gateway, kept in its data directory.
fn gateway_id(dir: &std::path::Path) -> Result<String, ServerError> {
    let path = dir.join("gateway-id");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => {
            let id = crate::db::new_id("gw-");
            std::fs::write(&path, &id).map_err(|source| ServerError::DataDir {
                path: path.display().to_string(),
                source,
            })?;
            Ok(id)
        }
    }
}

/// Load the keys all gateways on this database share, creating them on first start.
async fn shared_keys(
    db: &Db,
    s: &Secrets,
) -> Result<(ed25519_dalek::SigningKey, KeyEncryptionKey), ServerError> {
    let fresh = crate::auth::random_bytes::<32>();
    let sealed = db
        .gateway_key("grant-signing", &s.seal("grant-signing", &fresh))
        .await
        .map_err(db_err)?;
    let raw: [u8; 32] = s
        .open("grant-signing", &sealed)
        .map_err(db_err)?
        .try_into()
        .map_err(|_| ServerError::Database("grant key length".into()))?;
    let signing = ed25519_dalek::SigningKey::from_bytes(&raw);
    let fresh = crate::auth::random_bytes::<32>();
    let sealed = db
        .gateway_key("object-master", &s.seal("object-master", &fresh))
        .await
        .map_err(db_err)?;
    let raw: [u8; 32] = s
        .open("object-master", &sealed)
        .map_err(db_err)?
        .try_into()
        .map_err(|_| ServerError::Database("object key length".into()))?;
    Ok((signing, MasterKey::from_bytes(raw).derive()))
}

async fn bind(
    what: &'static str,
    host: &str,
    port: u16,
) -> Result<tokio::net::TcpListener, ServerError> {
    let addr = format!("{host}:{port}");
    tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| ServerError::Bind { what, addr, source })
}

pub async fn start(cfg: GatewayConfig) -> Result<GatewayHandle, ServerError> {
    cfg.validate()?;
    let dir = cfg.server.data_dir.clone();
    std::fs::create_dir_all(&dir).map_err(|source| ServerError::DataDir {
        path: dir.display().to_string(),
        source,
    })?;
    let instance = format!(
        "{}:{}",
        gateway_id(&dir)?,
        hex::encode(crate::auth::random_bytes::<4>())
    );
    let db = Db::connect(&cfg.database_url(), cfg.database.max_connections)
        .await
        .map_err(db_err)?;
    let secrets = Arc::new(Secrets::new(
        cfg.jwt_secret(),
        cfg.auth.jwt_expiry_seconds,
        cfg.auth.refresh_expiry_seconds,
        &cfg.auth.api_key_prefix,
    ));
    let (signing, kek) = shared_keys(&db, &secrets).await?;
    let profile = cyxcloud_core::ErasureProfile::new(
        cfg.storage.default_erasure_data_shards as usize,
        cfg.storage.default_erasure_parity_shards as usize,
    )
    .map_err(|e| ServerError::Database(e.to_string()))?;
    let chunk_size = cfg.storage.default_chunk_size_bytes as usize;
    // Shards of any profile with at least two data shards fit; 1-data-shard profiles are
    // bounded by the chunk size.
    let max_message = cyxcloud_proto::limits::max_message_size(chunk_size, 1).max(
        cyxcloud_proto::limits::max_message_size(chunk_size, profile.data_shards()),
    );
    let registry = Arc::new(Registry::new(
        Duration::from_secs(cfg.nodes.failure_backoff_secs),
        max_message,
    ));
    registry.load(&db.nodes().await.map_err(db_err)?);
    let signer = Arc::new(Signer::new(signing, cfg.storage.grant_ttl_secs));
    let data = Arc::new(DataPath {
        buffers: BufferPool::new(IDLE_BUFFER_BYTES),
        db: db.clone(),
        registry: registry.clone(),
        signer: signer.clone(),
        kek: Arc::new(kek),
        cfg: DataPathConfig {
            chunk_size,
            parallel_chunks: cfg.storage.upload_parallel_chunks,
            read_extra: cfg.storage.read_extra_shards,
            node_timeout: Duration::from_secs(cfg.storage.node_timeout_secs),
            spares: 2,
        },
    });
    let events = Events::new();
    let http = bind("HTTP", &cfg.server.host, cfg.server.http_port).await?;
    let grpc = bind("gRPC", &cfg.server.host, cfg.server.grpc_port).await?;
    let http_addr = http.local_addr().map_err(|source| ServerError::Bind {
        what: "HTTP",
        addr: cfg.server.host.clone(),
        source,
    })?;
    let grpc_addr = grpc.local_addr().map_err(|source| ServerError::Bind {
        what: "gRPC",
        addr: cfg.server.host.clone(),
        source,
    })?;
    let public_url = if cfg.server.public_url.is_empty() {
        let host = if http_addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            http_addr.ip().to_string()
        };
        format!("http://{host}:{}", http_addr.port())
    } else {
        cfg.server.public_url.trim_end_matches('/').to_string()
    };
    let cfg = Arc::new(cfg);
    let state = Arc::new(AppState {
        db: db.clone(),
        cfg: cfg.clone(),
        secrets,
        data: data.clone(),
        registry: registry.clone(),
        events: events.clone(),
        instance: instance.clone(),
        public_url,
        grpc_port: grpc_addr.port(),
        janitor_kick: Arc::new(Notify::new()),
    });
    let cancel = CancellationToken::new();
    let mut tasks = Vec::new();

    let app = crate::api::router()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .fallback(crate::s3::handle)
        .with_state(state.clone());
    let c = cancel.clone();
    tasks.push(tokio::spawn(async move {
        axum::serve(http, app)
            .with_graceful_shutdown(c.cancelled_owned())
            .await
            .map_err(|e| ServerError::Serve {
                what: "HTTP",
                message: e.to_string(),
            })
    }));

    let rich = crate::rich::GatewayServiceImpl {
        st: state.clone(),
        signer: signer.clone(),
    };
    let node_svc = NodeServiceImpl {
        db: db.clone(),
        registry: registry.clone(),
        signer,
        cfg: cfg.nodes.clone(),
        events: events.clone(),
        corrupt_reports: Mutex::new(0),
    };
    let c = cancel.clone();
    tasks.push(tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(NodeServiceServer::new(node_svc))
            .add_service(
                cyxcloud_proto::gateway::gateway_service_server::GatewayServiceServer::new(rich)
                    .max_decoding_message_size(64 << 20)
                    .max_encoding_message_size(64 << 20),
            )
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(grpc).with_nodelay(Some(true)),
                c.cancelled_owned(),
            )
            .await
            .map_err(|e| ServerError::Serve {
                what: "gRPC",
                message: e.to_string(),
            })
    }));

    let c = cancel.clone();
    let (jdb, jdata, kick, inst) = (
        db.clone(),
        data.clone(),
        state.janitor_kick.clone(),
        instance,
    );
    tasks.push(tokio::spawn(async move {
        crate::janitor::run(jdb, jdata, kick, c, inst).await;
        Ok(())
    }));

    let c = cancel.clone();
    let (mdb, mreg, mcfg, mev) = (db.clone(), registry.clone(), cfg.nodes.clone(), events);
    tasks.push(tokio::spawn(async move {
        let every = Duration::from_secs(mcfg.monitor_interval_secs);
        loop {
            tokio::select! {
                _ = c.cancelled() => return Ok(()),
                _ = tokio::time::sleep(every) => {}
            }
            if let Err(e) = crate::nodes::monitor_pass(&mdb, &mreg, &mcfg, &mev).await {
                tracing::warn!(error = %e, "node monitor pass failed");
            }
        }
    }));

    Ok(GatewayHandle {
        http_addr,
        grpc_addr,
        state,
        cancel,
        tasks,
    })
}
