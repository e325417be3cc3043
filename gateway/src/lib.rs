//! CyxCloud gateway.
//!
//! - [`config`]: `gateway.toml`, environment and flags.
//! - [`db`]: metadata on SQLite or PostgreSQL, with migrations.
//! - [`auth`], [`sigv4`]: accounts, tokens, API keys, AWS Signature V4 and aws-chunked.
//! - [`s3`], [`xml`]: the S3 API; [`api`]: the REST API under `/api/v1`.
//! - [`datapath`], [`layout`]: streaming objects to and from storage nodes.
//! - [`rich`]: GatewayService, the rich client's API (placement, grants, manifests).
//! - [`nodes`]: NodeService, the lifecycle monitor, placement and grant signing.
//! - [`janitor`]: deleting unused shards and closing dead uploads.
//! - [`events`]: the event feed; [`error`]: one error type and its mappings.
//! - [`server`]: start and stop everything; used by `cyxcloud-gateway` and `cyxcloud gateway run`.

pub mod api;
pub mod auth;
pub mod config;
pub mod datapath;
pub mod db;
pub mod error;
pub mod events;
pub mod janitor;
pub mod layout;
pub mod nodes;
pub mod rich;
pub mod s3;
pub mod server;
pub mod sigv4;
pub mod xml;

pub use config::GatewayConfig;
pub use error::GatewayError;
pub use server::{GatewayHandle, ServerError, start};

/// Command line of `cyxcloud-gateway` (and `cyxcloud gateway run`).
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Path to gateway.toml (optional; every setting has a default)
    #[arg(short, long, env = "GATEWAY_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub overrides: config::Overrides,
}

/// Set up logging as configured. Call once, from a binary.
pub fn init_logging(cfg: &GatewayConfig) {
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

/// Run a gateway until SIGTERM or Ctrl-C; then stop accepting, finish in-flight requests
/// and return. Prints one `ready` line on stdout once serving.
pub async fn run(args: RunArgs) -> Result<(), ServerError> {
    let cfg = GatewayConfig::load(args.config.as_deref(), &args.overrides)?;
    init_logging(&cfg);
    if cfg.server.dev_mode {
        tracing::warn!("development mode: do not expose this gateway to a network");
    }
    let signal = cyxcloud_proto::serve::shutdown_signal();
    let handle = start(cfg).await?;
    println!(
        "cyxcloud-gateway ready http={} grpc={} s3={}/s3",
        handle.http_addr, handle.grpc_addr, handle.state.public_url
    );
    signal.await;
    tracing::info!("signal received, shutting down");
    handle.shutdown();
    handle.wait().await?;
    tracing::info!("gateway stopped");
    Ok(())
}
