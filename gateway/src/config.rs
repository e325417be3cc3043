//! Gateway configuration: `gateway.toml` as in the specification's "Gateway Configuration"
//! section, plus sections of our own (`[nodes]` thresholds, quotas, the data directory),
//! overridden by the specification's environment variables and by flags
//! (flags > environment > file > defaults). Invalid settings fail at start with one line
//! naming the setting.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The placeholder secret of the specification's sample file; never accepted outside dev mode.
pub const SAMPLE_JWT_SECRET: &str = "your-secret-key";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid setting {setting}: {message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
}

fn invalid(setting: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        setting,
        message: message.into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Bind address of the HTTP and gRPC listeners.
    pub host: String,
    /// S3 and REST API port (0 picks a free port).
    pub http_port: u16,
    /// NodeService and GatewayService port (0 picks a free port).
    pub grpc_port: u16,
    pub websocket_enabled: bool,
    /// Where the embedded database and the gateway's key live.
    pub data_dir: PathBuf,
    /// Address nodes and clients use to reach this gateway's HTTP API, if not host:port.
    pub public_url: String,
    /// Development mode: allows the sample or an empty JWT secret.
    pub dev_mode: bool,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            host: "0.0.0.0".into(),
            http_port: 8080,
            grpc_port: 50050,
            websocket_enabled: true,
            data_dir: PathBuf::from("gateway-data"),
            public_url: String::new(),
            dev_mode: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// PostgreSQL URL; empty means the embedded SQLite file `<data_dir>/metadata.db`.
    pub postgres_url: String,
    /// Accepted for compatibility with the specification; not used.
    pub redis_url: String,
    /// Connections in the pool.
    pub max_connections: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    pub default_erasure_data_shards: u32,
    pub default_erasure_parity_shards: u32,
    pub default_chunk_size_bytes: u64,
    pub max_upload_size_bytes: u64,
    /// Objects up to this size are kept in the metadata database instead of on nodes.
    pub inline_threshold_bytes: u64,
    /// Storage quota of a new account.
    pub default_quota_bytes: u64,
    /// Chunks of one S3 upload in flight to nodes at once.
    pub upload_parallel_chunks: usize,
    /// Extra nodes asked for shards when the k asked first are slower than usual (hedged
    /// reads); 0 never asks more than k at once.
    pub read_extra_shards: usize,
    /// Per-shard node request timeout.
    pub node_timeout_secs: u64,
    /// Lifetime of the grants given to clients.
    pub grant_ttl_secs: u64,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            default_erasure_data_shards: 8,
            default_erasure_parity_shards: 6,
            default_chunk_size_bytes: 64 * 1024 * 1024,
            max_upload_size_bytes: 5 * 1024 * 1024 * 1024,
            inline_threshold_bytes: 128 * 1024,
            default_quota_bytes: 10 * 1024 * 1024 * 1024,
            upload_parallel_chunks: 2,
            read_extra_shards: 2,
            node_timeout_secs: 30,
            grant_ttl_secs: 3600,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    pub jwt_secret: String,
    pub jwt_expiry_seconds: u64,
    pub refresh_expiry_seconds: u64,
    pub api_key_prefix: String,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            jwt_secret: String::new(),
            jwt_expiry_seconds: 3600,
            refresh_expiry_seconds: 30 * 24 * 3600,
            api_key_prefix: "cyxk_".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct BlockchainSection {
    pub solana_rpc_url: String,
    pub cyxwiz_token_mint: String,
    pub escrow_program_id: String,
}

/// Node lifecycle thresholds of the specification's "Node Fault Tolerance" section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodesSection {
    pub offline_threshold_secs: u64,
    pub drain_threshold_secs: u64,
    pub remove_threshold_secs: u64,
    pub recovery_quarantine_secs: u64,
    pub monitor_interval_secs: u64,
    pub heartbeat_interval_secs: u64,
    /// A node that failed a request is avoided for new writes this long.
    pub failure_backoff_secs: u64,
}

impl Default for NodesSection {
    fn default() -> Self {
        NodesSection {
            offline_threshold_secs: 300,
            drain_threshold_secs: 4 * 3600,
            remove_threshold_secs: 7 * 24 * 3600,
            recovery_quarantine_secs: 300,
            monitor_interval_secs: 30,
            heartbeat_interval_secs: 30,
            failure_backoff_secs: 60,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingSection {
    pub level: String,
    pub format: LogFormat,
}

impl Default for LoggingSection {
    fn default() -> Self {
        LoggingSection {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    pub server: ServerSection,
    pub database: DatabaseSection,
    pub storage: StorageSection,
    pub auth: AuthSection,
    pub blockchain: BlockchainSection,
    pub nodes: NodesSection,
    pub logging: LoggingSection,
}

/// Environment variables and flags; each overrides the file.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Overrides {
    /// Bind address
    #[arg(long, env = "GATEWAY_HOST")]
    pub host: Option<String>,
    /// HTTP (S3, REST) port
    #[arg(long, env = "GATEWAY_PORT")]
    pub port: Option<u16>,
    /// gRPC port (NodeService, GatewayService)
    #[arg(long, env = "GATEWAY_GRPC_PORT")]
    pub grpc_port: Option<u16>,
    /// Data directory (embedded database, gateway key)
    #[arg(long, env = "GATEWAY_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://...) or sqlite:// URL; default: SQLite in the data directory
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Accepted for compatibility; unused
    #[arg(long, env = "REDIS_URL", hide = true)]
    pub redis_url: Option<String>,
    /// Secret that signs access tokens (required outside --dev)
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Solana RPC endpoint
    #[arg(long, env = "SOLANA_RPC_URL")]
    pub solana_rpc_url: Option<String>,
    /// Public URL of this gateway's HTTP API, as clients reach it
    #[arg(long, env = "GATEWAY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Default storage quota of new accounts, bytes
    #[arg(long, env = "GATEWAY_DEFAULT_QUOTA_BYTES")]
    pub default_quota_bytes: Option<u64>,
    /// Chunk size of uploads through the S3 API, bytes
    #[arg(long, env = "GATEWAY_CHUNK_SIZE_BYTES")]
    pub chunk_size_bytes: Option<u64>,
    #[arg(long, env = "NODE_OFFLINE_THRESHOLD_SECS")]
    pub node_offline_threshold_secs: Option<u64>,
    #[arg(long, env = "NODE_DRAIN_THRESHOLD_SECS")]
    pub node_drain_threshold_secs: Option<u64>,
    #[arg(long, env = "NODE_REMOVE_THRESHOLD_SECS")]
    pub node_remove_threshold_secs: Option<u64>,
    #[arg(long, env = "NODE_RECOVERY_QUARANTINE_SECS")]
    pub node_recovery_quarantine_secs: Option<u64>,
    #[arg(long, env = "NODE_MONITOR_INTERVAL_SECS")]
    pub node_monitor_interval_secs: Option<u64>,
    /// Development mode: allows the sample or an empty JWT secret
    #[arg(long)]
    pub dev: bool,
    /// Log level or filter
    #[arg(long, env = "RUST_LOG")]
    pub log_level: Option<String>,
    /// Log as JSON lines
    #[arg(long)]
    pub log_json: bool,
}

impl GatewayConfig {
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_string()
                + &e.span()
                    .map(|s| format!(" (at byte {})", s.start))
                    .unwrap_or_default(),
        })
    }

    pub fn load(path: Option<&Path>, o: &Overrides) -> Result<Self, ConfigError> {
        let mut c = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                Self::from_toml(&text, p)?
            }
            None => GatewayConfig::default(),
        };
        c.apply(o);
        c.validate()?;
        Ok(c)
    }

    pub fn apply(&mut self, o: &Overrides) {
        fn set<T: Clone>(dst: &mut T, v: &Option<T>) {
            if let Some(v) = v {
                *dst = v.clone();
            }
        }
        set(&mut self.server.host, &o.host);
        set(&mut self.server.http_port, &o.port);
        set(&mut self.server.grpc_port, &o.grpc_port);
        set(&mut self.server.data_dir, &o.data_dir);
        set(&mut self.server.public_url, &o.public_url);
        set(&mut self.database.postgres_url, &o.database_url);
        set(&mut self.database.redis_url, &o.redis_url);
        set(&mut self.auth.jwt_secret, &o.jwt_secret);
        set(&mut self.blockchain.solana_rpc_url, &o.solana_rpc_url);
        set(
            &mut self.storage.default_quota_bytes,
            &o.default_quota_bytes,
        );
        set(
            &mut self.storage.default_chunk_size_bytes,
            &o.chunk_size_bytes,
        );
        set(
            &mut self.nodes.offline_threshold_secs,
            &o.node_offline_threshold_secs,
        );
        set(
            &mut self.nodes.drain_threshold_secs,
            &o.node_drain_threshold_secs,
        );
        set(
            &mut self.nodes.remove_threshold_secs,
            &o.node_remove_threshold_secs,
        );
        set(
            &mut self.nodes.recovery_quarantine_secs,
            &o.node_recovery_quarantine_secs,
        );
        set(
            &mut self.nodes.monitor_interval_secs,
            &o.node_monitor_interval_secs,
        );
        set(&mut self.logging.level, &o.log_level);
        if o.dev {
            self.server.dev_mode = true;
        }
        if o.log_json {
            self.logging.format = LogFormat::Json;
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let secret = self.auth.jwt_secret.trim();
        if !self.server.dev_mode {
            if secret.is_empty() {
                return Err(invalid(
                    "auth.jwt_secret",
                    "is empty; set JWT_SECRET (32+ random bytes) or run with --dev",
                ));
            }
            if secret == SAMPLE_JWT_SECRET {
                return Err(invalid(
                    "auth.jwt_secret",
                    "is the sample value from the documentation; set a random secret",
                ));
            }
            if secret.len() < 16 {
                return Err(invalid("auth.jwt_secret", "must be at least 16 bytes"));
            }
        }
        cyxcloud_core::ErasureProfile::new(
            self.storage.default_erasure_data_shards as usize,
            self.storage.default_erasure_parity_shards as usize,
        )
        .map_err(|e| invalid("storage.default_erasure_*_shards", e.to_string()))?;
        let cs = self.storage.default_chunk_size_bytes;
        if cs == 0 || cs > cyxcloud_core::format::MAX_CHUNK_SIZE {
            return Err(invalid(
                "storage.default_chunk_size_bytes",
                format!(
                    "must be between 1 and {}",
                    cyxcloud_core::format::MAX_CHUNK_SIZE
                ),
            ));
        }
        if self.storage.inline_threshold_bytes > 1024 * 1024 {
            return Err(invalid(
                "storage.inline_threshold_bytes",
                "must be at most 1 MiB",
            ));
        }
        if self.storage.upload_parallel_chunks == 0 {
            return Err(invalid(
                "storage.upload_parallel_chunks",
                "must be at least 1",
            ));
        }
        if self.auth.jwt_expiry_seconds == 0 {
            return Err(invalid("auth.jwt_expiry_seconds", "must be positive"));
        }
        if !self
            .auth
            .api_key_prefix
            .starts_with(|c: char| c.is_ascii_alphabetic())
        {
            return Err(invalid("auth.api_key_prefix", "must start with a letter"));
        }
        let url = &self.database.postgres_url;
        let known = ["postgres://", "postgresql://", "sqlite:"];
        if !url.is_empty() && !known.iter().any(|p| url.starts_with(p)) {
            return Err(invalid(
                "database.postgres_url",
                "must be a postgres:// or sqlite: URL",
            ));
        }
        if self.nodes.heartbeat_interval_secs == 0 || self.nodes.monitor_interval_secs == 0 {
            return Err(invalid("nodes.*_interval_secs", "must be positive"));
        }
        Ok(())
    }

    /// The JWT secret; in dev mode without one, a fixed development secret.
    pub fn jwt_secret(&self) -> &str {
        if self.auth.jwt_secret.is_empty() {
            "cyxcloud-development-secret-not-for-production"
        } else {
            &self.auth.jwt_secret
        }
    }

    /// The database URL actually used.
    pub fn database_url(&self) -> String {
        if self.database.postgres_url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("metadata.db").display()
            )
        } else {
            self.database.postgres_url.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_sample_parses_but_its_secret_is_refused() {
        let text = r#"
[server]
host = "0.0.0.0"
http_port = 8080
grpc_port = 50050
websocket_enabled = true

[database]
postgres_url = "postgres://cyxcloud:password@localhost/cyxcloud"
redis_url = "redis://localhost:6379"

[storage]
default_erasure_data_shards = 8
default_erasure_parity_shards = 6
default_chunk_size_bytes = 67108864  # 64 MB
max_upload_size_bytes = 5368709120   # 5 GB

[auth]
jwt_secret = "your-secret-key"
jwt_expiry_seconds = 3600
api_key_prefix = "cyxk_"

[blockchain]
solana_rpc_url = "https://api.mainnet-beta.solana.com"
cyxwiz_token_mint = "CYXWiz..."
escrow_program_id = "CYXESC..."

[logging]
level = "info"
format = "json"
"#;
        let mut c = GatewayConfig::from_toml(text, Path::new("gateway.toml")).unwrap();
        assert_eq!(c.server.grpc_port, 50050);
        assert_eq!(c.storage.default_chunk_size_bytes, 64 << 20);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("auth.jwt_secret") && e.contains("sample"), "{e}");
        c.server.dev_mode = true;
        c.validate().unwrap();
        c.server.dev_mode = false;
        c.auth.jwt_secret = "a-much-better-random-secret-value".into();
        c.validate().unwrap();
    }

    #[test]
    fn empty_secret_needs_dev_mode_and_env_overrides_file() {
        let mut c = GatewayConfig::default();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("auth.jwt_secret"), "{e}");
        c.apply(&Overrides {
            dev: true,
            port: Some(9000),
            database_url: Some("mysql://x".into()),
            ..Default::default()
        });
        assert_eq!(c.server.http_port, 9000);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("database.postgres_url"), "{e}");
    }

    #[test]
    fn unknown_settings_are_named() {
        let e = GatewayConfig::from_toml("[server]\nhttp_prot = 1\n", Path::new("g.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("http_prot"), "{e}");
    }
}
