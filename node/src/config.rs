//! Node configuration: `node.toml` as in the specification's "Node Configuration" section,
//! extended with a few sections of our own, overridden by environment variables and flags
//! (flags > environment > file > defaults). Invalid settings fail at start with one line
//! naming the setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything wrong with a configuration names the setting.
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
pub enum NodeType {
    /// Commercial storage provider, earns tokens.
    #[default]
    Miner,
    /// Free storage contributor, earns reputation.
    Volunteer,
    /// Dedicated private node.
    Enterprise,
}

impl std::str::FromStr for NodeType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "miner" => Ok(Self::Miner),
            "volunteer" => Ok(Self::Volunteer),
            "enterprise" => Ok(Self::Enterprise),
            o => Err(format!("{o:?} is not one of miner, volunteer, enterprise")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// RocksDB with shard payloads in blob files (default).
    #[default]
    Rocksdb,
    /// In memory: tests and ephemeral volunteers. Lost on exit.
    Memory,
    /// Named by the specification; not supported.
    Sled,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[node]`
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// Human-readable node id. Empty: derived from the node's identity key.
    pub id: String,
    /// miner | volunteer | enterprise.
    #[serde(rename = "type")]
    pub node_type: NodeType,
}

/// `[storage]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// Data directory: shards, identity key, gateway key.
    pub path: PathBuf,
    /// Capacity offered to the network, in GB (10^9 bytes). Fractions allowed.
    pub capacity_gb: f64,
    /// rocksdb | memory.
    pub backend: BackendKind,
    /// Largest shard accepted, in bytes; sets the gRPC message limit.
    pub max_shard_bytes: u64,
    /// Scrubber read rate in MB/s (0 disables scrubbing).
    pub scrub_rate_mb_s: f64,
    /// Pause between full scrub passes, in seconds.
    pub scrub_interval_secs: u64,
    /// Memory for recently stored and read shards, in MiB (0 turns the cache off). Shards
    /// enter it once verified against their ids; a read served from it costs no disk read,
    /// no copy and no hash.
    pub read_cache_mb: u64,
    /// Space kept free on the data directory's disk, in MiB, whatever `capacity_gb` says:
    /// with less free, new shards are refused (RESOURCE_EXHAUSTED) while the storage
    /// engine still has room for its logs, flushes and deletes.
    pub min_free_mb: u64,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            path: PathBuf::from("/data/chunks"),
            capacity_gb: 100.0,
            backend: BackendKind::Rocksdb,
            max_shard_bytes: 64 * 1024 * 1024,
            scrub_rate_mb_s: 20.0,
            scrub_interval_secs: 24 * 3600,
            read_cache_mb: 256,
            min_free_mb: 1024,
        }
    }
}

/// `[network]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSection {
    pub grpc_host: String,
    pub grpc_port: u16,
    /// Reserved for peer discovery; carried in registration.
    pub libp2p_port: u16,
    pub bootstrap_peers: Vec<String>,
    /// Address the gateway and clients should dial. Empty: derived from grpc_host/port.
    pub advertise_address: String,
}

impl Default for NetworkSection {
    fn default() -> Self {
        NetworkSection {
            grpc_host: "0.0.0.0".into(),
            grpc_port: 50051,
            libp2p_port: 4001,
            bootstrap_peers: Vec::new(),
            advertise_address: String::new(),
        }
    }
}

/// `[gateway]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySection {
    /// NodeService endpoint of the gateway. Empty: run standalone (no registration).
    pub url: String,
    /// Token for registration, if the gateway requires one.
    pub auth_token: String,
    /// The gateway's grant-signing key (64 hex digits). Learned at registration when empty.
    pub public_key: String,
    pub heartbeat_interval_secs: u64,
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            url: String::new(),
            auth_token: String::new(),
            public_key: String::new(),
            heartbeat_interval_secs: 30,
        }
    }
}

/// `[economics]`
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct EconomicsSection {
    pub stake_wallet: String,
    pub payout_address: String,
}

/// `[location]` (ours): used by the gateway to spread shards.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LocationSection {
    pub datacenter: String,
    pub rack: String,
    pub region: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// `[metrics]` (ours): Prometheus endpoint.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    pub host: String,
    /// 0 disables the endpoint.
    pub port: u16,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            host: "127.0.0.1".into(),
            port: 9100,
        }
    }
}

/// `[logging]`
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

/// The whole `node.toml`.
#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    pub node: NodeSection,
    pub storage: StorageSection,
    pub network: NetworkSection,
    pub gateway: GatewaySection,
    pub economics: EconomicsSection,
    pub location: LocationSection,
    pub metrics: MetricsSection,
    pub logging: LoggingSection,
}

/// Command-line and environment overrides (see `cyxcloud-node --help`).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Overrides {
    /// Node id
    #[arg(long, env = "NODE_ID")]
    pub id: Option<String>,
    /// miner | volunteer | enterprise
    #[arg(long = "type", env = "NODE_TYPE")]
    pub node_type: Option<NodeType>,
    /// Data directory
    #[arg(long, env = "STORAGE_PATH")]
    pub storage_path: Option<PathBuf>,
    /// Capacity in GB
    #[arg(long, env = "NODE_CAPACITY_GB")]
    pub capacity_gb: Option<f64>,
    /// Read cache for shards in MiB, 0 for none
    #[arg(long, env = "NODE_READ_CACHE_MB")]
    pub read_cache_mb: Option<u64>,
    /// Disk space kept free in MiB: new shards are refused below it
    #[arg(long, env = "NODE_MIN_FREE_MB")]
    pub min_free_mb: Option<u64>,
    /// rocksdb | memory
    #[arg(long, env = "NODE_BACKEND", value_parser = parse_backend)]
    pub backend: Option<BackendKind>,
    /// gRPC listen host
    #[arg(long, env = "NODE_GRPC_HOST")]
    pub grpc_host: Option<String>,
    /// gRPC listen port, 0 for any free port
    #[arg(long, env = "NODE_GRPC_PORT")]
    pub grpc_port: Option<u16>,
    /// Address to advertise to the gateway
    #[arg(long, env = "NODE_ADVERTISE_ADDRESS")]
    pub advertise_address: Option<String>,
    /// Gateway NodeService URL
    #[arg(long, env = "GATEWAY_URL")]
    pub gateway_url: Option<String>,
    /// Gateway grant-signing public key, hex
    #[arg(long, env = "GATEWAY_PUBLIC_KEY")]
    pub gateway_public_key: Option<String>,
    /// Prometheus port, 0 disables
    #[arg(long, env = "NODE_METRICS_PORT")]
    pub metrics_port: Option<u16>,
    /// Log level or filter
    #[arg(long, env = "RUST_LOG")]
    pub log_level: Option<String>,
    /// Log as JSON lines
    #[arg(long)]
    pub log_json: bool,
}

fn parse_backend(s: &str) -> Result<BackendKind, String> {
    match s {
        "rocksdb" => Ok(BackendKind::Rocksdb),
        "memory" => Ok(BackendKind::Memory),
        "sled" => Ok(BackendKind::Sled),
        o => Err(format!("{o:?} is not one of rocksdb, memory")),
    }
}

impl NodeConfig {
    /// Parse `node.toml` text.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_string()
                + &e.span()
                    .map(|s| format!(" (at byte {})", s.start))
                    .unwrap_or_default(),
        })
    }

    /// Load a file (if given), apply overrides, validate.
    pub fn load(path: Option<&Path>, o: &Overrides) -> Result<Self, ConfigError> {
        let mut c = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_owned(),
                    source,
                })?;
                Self::from_toml(&text, p)?
            }
            None => NodeConfig::default(),
        };
        c.apply(o);
        c.validate()?;
        Ok(c)
    }

    pub fn apply(&mut self, o: &Overrides) {
        let set = |dst: &mut String, v: &Option<String>| {
            if let Some(v) = v {
                dst.clone_from(v)
            }
        };
        set(&mut self.node.id, &o.id);
        set(&mut self.network.grpc_host, &o.grpc_host);
        set(&mut self.network.advertise_address, &o.advertise_address);
        set(&mut self.gateway.url, &o.gateway_url);
        set(&mut self.gateway.public_key, &o.gateway_public_key);
        set(&mut self.logging.level, &o.log_level);
        if let Some(v) = o.node_type {
            self.node.node_type = v;
        }
        if let Some(v) = &o.storage_path {
            self.storage.path.clone_from(v);
        }
        if let Some(v) = o.capacity_gb {
            self.storage.capacity_gb = v;
        }
        if let Some(v) = o.backend {
            self.storage.backend = v;
        }
        if let Some(v) = o.read_cache_mb {
            self.storage.read_cache_mb = v;
        }
        if let Some(v) = o.min_free_mb {
            self.storage.min_free_mb = v;
        }
        if let Some(v) = o.grpc_port {
            self.network.grpc_port = v;
        }
        if let Some(v) = o.metrics_port {
            self.metrics.port = v;
        }
        if o.log_json {
            self.logging.format = LogFormat::Json;
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.storage.backend == BackendKind::Sled {
            return Err(invalid(
                "storage.backend",
                "sled is not supported; use rocksdb or memory",
            ));
        }
        if self.storage.path.as_os_str().is_empty() {
            return Err(invalid("storage.path", "must not be empty"));
        }
        if !(self.storage.capacity_gb.is_finite() && self.storage.capacity_gb > 0.0) {
            return Err(invalid(
                "storage.capacity_gb",
                format!("{} is not a positive number", self.storage.capacity_gb),
            ));
        }
        if self.storage.max_shard_bytes < 1024
            || self.storage.max_shard_bytes > 2 * 1024 * 1024 * 1024
        {
            return Err(invalid(
                "storage.max_shard_bytes",
                "must be between 1 KiB and 2 GiB",
            ));
        }
        if !(self.storage.scrub_rate_mb_s.is_finite() && self.storage.scrub_rate_mb_s >= 0.0) {
            return Err(invalid(
                "storage.scrub_rate_mb_s",
                "must be zero or positive",
            ));
        }
        if self.storage.read_cache_mb > 1 << 20 {
            return Err(invalid(
                "storage.read_cache_mb",
                "must be at most 1048576 (1 TiB)",
            ));
        }
        self.grpc_listen_addr()?;
        let url = &self.gateway.url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(
                "gateway.url",
                format!("{:?} must start with http:// or https://", self.gateway.url),
            ));
        }
        if !self.gateway.public_key.is_empty() {
            crate::identity::parse_public_key(&self.gateway.public_key)
                .map_err(|e| invalid("gateway.public_key", e))?;
        }
        if self.gateway.heartbeat_interval_secs == 0 {
            return Err(invalid(
                "gateway.heartbeat_interval_secs",
                "must be at least 1",
            ));
        }
        if self.metrics.port != 0 {
            format!("{}:{}", self.metrics.host, self.metrics.port)
                .parse::<SocketAddr>()
                .map_err(|e| invalid("metrics.host", e.to_string()))?;
        }
        tracing_subscriber::EnvFilter::try_new(&self.logging.level)
            .map_err(|e| invalid("logging.level", e.to_string()))?;
        Ok(())
    }

    pub fn grpc_listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        format!("{}:{}", self.network.grpc_host, self.network.grpc_port)
            .parse()
            .map_err(|e| {
                invalid(
                    "network.grpc_host",
                    format!("{:?}: {e}", self.network.grpc_host),
                )
            })
    }

    pub fn capacity_bytes(&self) -> u64 {
        (self.storage.capacity_gb * 1e9) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC_EXAMPLE: &str = r#"
[node]
id = "node-abc123"
type = "miner"  # miner | volunteer | enterprise

[storage]
path = "/data/chunks"
capacity_gb = 100
backend = "rocksdb"  # rocksdb | sled | memory

[network]
grpc_host = "0.0.0.0"
grpc_port = 50051
libp2p_port = 4001
bootstrap_peers = [
    "/ip4/192.168.1.10/tcp/4001/p2p/12D3KooW...",
    "/ip4/192.168.1.11/tcp/4001/p2p/12D3KooW...",
]

[gateway]
url = "https://gateway.cyxwiz.com"
auth_token = "node-auth-token"

[economics]
stake_wallet = "9aE8...xYz"
payout_address = "8bF9...aBc"

[logging]
level = "info"
"#;

    #[test]
    fn the_specification_example_parses() {
        let c = NodeConfig::from_toml(SPEC_EXAMPLE, Path::new("node.toml")).unwrap();
        c.validate().unwrap();
        assert_eq!(c.node.id, "node-abc123");
        assert_eq!(c.storage.capacity_gb, 100.0);
        assert_eq!(c.network.bootstrap_peers.len(), 2);
        assert_eq!(c.capacity_bytes(), 100_000_000_000);
    }

    #[test]
    fn overrides_win_and_bad_settings_are_named() {
        let mut c = NodeConfig::from_toml(SPEC_EXAMPLE, Path::new("node.toml")).unwrap();
        c.apply(&Overrides {
            id: Some("n2".into()),
            grpc_port: Some(7),
            ..Default::default()
        });
        assert_eq!((c.node.id.as_str(), c.network.grpc_port), ("n2", 7));

        let err =
            NodeConfig::from_toml("[storage]\ncapacity = 3\n", Path::new("x.toml")).unwrap_err();
        assert!(err.to_string().contains("capacity"), "{err}");
        for (toml, setting) in [
            ("[storage]\ncapacity_gb = -1\n", "storage.capacity_gb"),
            ("[storage]\nbackend = \"sled\"\n", "storage.backend"),
            (
                "[network]\ngrpc_host = \"not a host\"\n",
                "network.grpc_host",
            ),
            ("[gateway]\nurl = \"ftp://x\"\n", "gateway.url"),
            ("[gateway]\npublic_key = \"abcd\"\n", "gateway.public_key"),
        ] {
            let c = NodeConfig::from_toml(toml, Path::new("x.toml")).unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(setting), "{toml}: {e}");
        }
        assert!(NodeConfig::from_toml("[node]\ntype = \"pirate\"\n", Path::new("x")).is_err());
    }
}
