//! CyxCloud storage node.
//!
//! - [`config`]: `node.toml`, environment and flags.
//! - [`identity`]: the node's Ed25519 key, node id and peer id.
//! - [`storage`]: the `StorageBackend` trait, RocksDB and memory backends.
//! - [`service`]: the gRPC ChunkService (grant checks, verify on write and read).
//! - [`cache`]: the read cache of verified shards.
//! - [`state`]: what the service, scrubber and gateway link share.
//! - [`scrub`]: background re-verification at a bounded rate.
//! - [`gateway_link`]: registration, heartbeats, metrics reports, gateway commands.
//! - [`metrics`], [`sys`]: Prometheus metrics and machine usage.
//! - [`server`]: start and stop everything; used by `cyxcloud-node` and `cyxcloud node run`.

pub mod cache;
pub mod config;
pub mod direct;
pub mod direct_get;
pub mod direct_store;
pub mod gateway_link;
pub mod identity;
pub mod metrics;
pub mod scrub;
pub mod server;
pub mod service;
pub mod state;
pub mod storage;
pub mod sys;

pub use config::NodeConfig;
pub use server::{NodeError, NodeHandle, start};

/// Command line of `cyxcloud-node` (and `cyxcloud node run`).
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Path to node.toml (optional; every setting has a default)
    #[arg(short, long, env = "NODE_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub overrides: config::Overrides,
}

/// Set up logging as configured. Call once, from a binary.
pub fn init_logging(cfg: &NodeConfig) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.logging.level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cfg.logging.format {
        config::LogFormat::Json => b.json().init(),
        config::LogFormat::Text => b.init(),
    }
}

/// Run a node until SIGTERM, Ctrl-C or a gateway "shutdown" command; then stop accepting,
/// finish in-flight requests and return. Prints one `ready` line on stdout once serving.
pub async fn run(args: RunArgs) -> Result<(), NodeError> {
    let cfg = NodeConfig::load(args.config.as_deref(), &args.overrides)?;
    init_logging(&cfg);
    let signal = cyxcloud_proto::serve::shutdown_signal();
    let handle = start(cfg).await?;
    println!(
        "cyxcloud-node ready node_id={} peer_id={} grpc={} metrics={}",
        handle.node_id,
        handle.peer_id,
        handle.grpc_addr,
        handle
            .metrics_addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| "off".into())
    );
    tokio::select! {
        _ = signal => tracing::info!("signal received, shutting down"),
        _ = handle.cancelled() => {}
    }
    handle.shutdown();
    handle.wait().await?;
    tracing::info!("node stopped");
    Ok(())
}
