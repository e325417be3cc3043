//! A local CyxCloud network for tests: the gateway in this process (or as a process), storage
//! nodes as real `cyxcloud-node` processes on RocksDB, and clients (aws-sdk-s3, reqwest).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{Credentials, Region};
use cyxcloud_gateway::{GatewayConfig, GatewayHandle};
use serde_json::{Value, json};

/// The node binary: built beside this test binary by `cargo test --workspace`.
pub fn node_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("cyxcloud-node");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so the node binary is built",
        bin.display()
    );
    bin
}

pub struct NodeProc {
    pub child: Child,
    pub dir: PathBuf,
    pub index: usize,
}

impl NodeProc {
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Start a node process registered with the gateway at `gateway_grpc`.
pub fn spawn_node(root: &Path, index: usize, gateway_grpc: &str) -> NodeProc {
    spawn_node_with(root, index, gateway_grpc, "grpc_port = 0\n")
}

/// [`spawn_node`] with `network` as the `[network]` settings besides the host.
pub fn spawn_node_with(root: &Path, index: usize, gateway_grpc: &str, network: &str) -> NodeProc {
    let dir = root.join(format!("node-{index}"));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("node.toml");
    std::fs::write(
        &toml,
        format!(
            "[node]\nid = \"node-{index:02}\"\n[storage]\npath = {:?}\ncapacity_gb = 4\nscrub_interval_secs = 86400\n\
             [network]\ngrpc_host = \"127.0.0.1\"\n{network}[gateway]\nurl = \"http://{gateway_grpc}\"\n\
             heartbeat_interval_secs = 1\n[location]\ndatacenter = \"dc{}\"\nrack = \"r{}\"\n[metrics]\nport = 0\n[logging]\nlevel = \"warn\"\n",
            dir.join("data"),
            index % 3,
            index % 2
        ),
    )
    .unwrap();
    let child = Command::new(node_bin())
        .arg("--config")
        .arg(&toml)
        .env_remove("RUST_LOG")
        .env_remove("NODE_ID")
        .env_remove("STORAGE_PATH")
        .env_remove("GATEWAY_URL")
        .stdout(Stdio::null())
        // Kept for the failure message of `Net::wait_online`.
        .stderr(std::fs::File::create(dir.join("node.log")).unwrap())
        .spawn()
        .expect("start node");
    NodeProc { child, dir, index }
}

pub fn test_config(dir: &Path, database_url: Option<&str>) -> GatewayConfig {
    let mut c = GatewayConfig::default();
    c.server.host = "127.0.0.1".into();
    c.server.http_port = 0;
    c.server.grpc_port = 0;
    c.server.data_dir = dir.join("gateway");
    c.auth.jwt_secret = "test-secret-for-the-gateway-suite".into();
    c.storage.default_erasure_data_shards = 4;
    c.storage.default_erasure_parity_shards = 2;
    c.storage.default_chunk_size_bytes = 1 << 20;
    c.storage.inline_threshold_bytes = 16 * 1024;
    c.storage.node_timeout_secs = 10;
    c.nodes.heartbeat_interval_secs = 1;
    c.nodes.monitor_interval_secs = 1;
    if let Some(u) = database_url {
        c.database.postgres_url = u.into();
    }
    c
}

pub struct Net {
    pub dir: tempfile::TempDir,
    pub gw: Option<GatewayHandle>,
    pub nodes: Vec<NodeProc>,
    pub http: String,
    pub grpc: String,
}

impl Net {
    /// A gateway in this process with `nodes` node processes, all registered.
    pub async fn start(nodes: usize, database_url: Option<&str>) -> Net {
        Self::start_with(nodes, database_url, |_| {}).await
    }

    pub async fn start_with(
        nodes: usize,
        database_url: Option<&str>,
        tweak: impl FnOnce(&mut GatewayConfig),
    ) -> Net {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(
                    std::env::var("TEST_LOG").unwrap(),
                ))
                .with_test_writer()
                .try_init();
        }
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = test_config(dir.path(), database_url);
        tweak(&mut cfg);
        let gw = cyxcloud_gateway::start(cfg).await.expect("gateway starts");
        let http = format!("http://{}", gw.http_addr);
        let grpc = gw.grpc_addr.to_string();
        let mut net = Net {
            dir,
            gw: Some(gw),
            nodes: Vec::new(),
            http,
            grpc,
        };
        for i in 0..nodes {
            let n = spawn_node(net.dir.path(), i, &net.grpc);
            net.nodes.push(n);
        }
        net.wait_online(nodes).await;
        net
    }

    pub fn gw(&self) -> &GatewayHandle {
        self.gw.as_ref().expect("gateway running")
    }

    /// Wait until `n` nodes are online in the gateway's registry.
    pub async fn wait_online(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let online = self
                .gw()
                .state
                .registry
                .all()
                .iter()
                .filter(|x| x.status == "online")
                .count();
            if online >= n {
                return;
            }
            if Instant::now() >= deadline {
                let logs: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|p| {
                        let log =
                            std::fs::read_to_string(p.dir.join("node.log")).unwrap_or_default();
                        let tail: Vec<&str> = log.lines().rev().take(5).collect();
                        format!("node {}: {}", p.index, tail.join(" | "))
                    })
                    .collect();
                panic!(
                    "only {online} of {n} nodes registered; node logs:\n{}",
                    logs.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(&mut self) {
        if let Some(gw) = self.gw.take() {
            gw.shutdown();
            gw.wait().await.unwrap();
        }
    }
}

pub struct User {
    pub token: String,
    pub api_key: String,
    pub access_key_id: String,
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Sign up and create a read/write API key.
pub async fn signup(base: &str, email: &str) -> User {
    let c = http();
    let r = c
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({ "email": email, "password": "correct horse battery" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let v: Value = r.json().await.unwrap();
    let token = v["tokens"]["access_token"].as_str().unwrap().to_string();
    let r = c
        .post(format!("{base}/api/v1/auth/api-keys"))
        .bearer_auth(&token)
        .json(&json!({ "name": "test", "permissions": ["read", "write"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let k: Value = r.json().await.unwrap();
    User {
        token,
        api_key: k["key"].as_str().unwrap().into(),
        access_key_id: k["access_key_id"].as_str().unwrap().into(),
    }
}

/// An S3 client for `base` (path style). `base` may end in `/s3`.
pub fn s3(base: &str, access_key_id: &str, secret: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(base)
        .force_path_style(true)
        .credentials_provider(Credentials::new(access_key_id, secret, None, None, "test"))
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// GET a REST endpoint with an API key and parse the JSON answer.
pub async fn get_json(url: &str, api_key: &str) -> Value {
    http()
        .get(url)
        .header("x-api-key", api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The account's storage use as the gateway reports it.
pub async fn usage(base: &str, api_key: &str) -> u64 {
    get_json(&format!("{base}/api/v1/account"), api_key).await["usage"]["storage_used_bytes"]
        .as_u64()
        .unwrap()
}

pub fn s3_for(base: &str, u: &User) -> aws_sdk_s3::Client {
    s3(base, &u.access_key_id, &u.api_key)
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A throwaway PostgreSQL server on a loopback port, run as the `postgres` user when this
/// process is root (initdb refuses root).
pub struct Postgres {
    pub dir: tempfile::TempDir,
    pub url: String,
    bin: PathBuf,
    as_user: Option<&'static str>,
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

fn pg_cmd(bin: &Path, tool: &str, as_user: Option<&str>) -> Command {
    match as_user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--"]).arg(bin.join(tool));
            c
        }
        None => Command::new(bin.join(tool)),
    }
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = PathBuf::from(std::env::var("PG_BIN").unwrap_or_else(|_| PG_BIN.into()));
        assert!(
            bin.join("initdb").exists(),
            "PostgreSQL server binaries not found in {}",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let root = is_root();
        let as_user = if root { Some("postgres") } else { None };
        if root {
            Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
        }
        let data = dir.path().join("data");
        let st = pg_cmd(&bin, "initdb", as_user)
            .args(["-D"])
            .arg(&data)
            .args(["-U", "cyx", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "initdb failed");
        let port = free_port();
        let st = pg_cmd(&bin, "pg_ctl", as_user)
            .arg("-D")
            .arg(&data)
            .args(["-w", "-l"])
            .arg(dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
                dir.path().display()
            ))
            .arg("start")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(
            st.success(),
            "pg_ctl start failed: {}",
            std::fs::read_to_string(dir.path().join("log")).unwrap_or_default()
        );
        Postgres {
            url: format!("postgres://cyx@127.0.0.1:{port}/postgres"),
            dir,
            bin,
            as_user,
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = pg_cmd(&self.bin, "pg_ctl", self.as_user)
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
