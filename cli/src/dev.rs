//! `cyxcloud dev`: a complete local network from one command. The gateway (SQLite) and every
//! storage node (RocksDB) run as child processes of this one (`cyxcloud gateway run`,
//! `cyxcloud node run`), so killing any of them shows the network riding out a failure.
//! A development account and API key are created (or reused), the CLI profile is written,
//! and the credentials go to `<data-dir>/dev-credentials.json`; `<data-dir>/dev-network.json`
//! lists every process. Ctrl-C (or SIGTERM) stops the nodes, then the gateway, cleanly.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use cyxcloud_client::config::{ConfigFile, write_atomic};
use cyxcloud_client::{Api, ClientError};
use serde_json::{Value, json};

use crate::Global;

#[derive(Args, Clone, Debug)]
pub struct DevArgs {
    /// Where the network keeps its data (default: ~/.cyxcloud/dev)
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Number of storage nodes (8+6 needs 14)
    #[arg(long, default_value_t = 14)]
    pub nodes: usize,
    /// Gateway HTTP port (0: any free port)
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Gateway gRPC port (0: any free port)
    #[arg(long, default_value_t = 50050)]
    pub grpc_port: u16,
    /// Chunk size in bytes for new uploads (default: the gateway's, 64 MiB)
    #[arg(long)]
    pub chunk_size: Option<u64>,
    /// Do not write the CLI profile
    #[arg(long)]
    pub no_configure: bool,
}

struct Proc {
    role: String,
    node_id: Option<String>,
    child: Child,
    ports: Value,
}

/// Read the child's stdout until its `ready` line; then keep draining it in the background.
fn wait_ready(child: &mut Child, what: &str, timeout: Duration) -> Result<String> {
    let out = child.stdout.take().context("child stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(out).lines();
        for line in lines.by_ref() {
            let Ok(line) = line else { break };
            if line.contains(" ready ") {
                let _ = tx.send(line);
                break;
            }
        }
        for _ in lines {}
    });
    let start = Instant::now();
    loop {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            return Ok(line);
        }
        if let Some(status) = child.try_wait()? {
            bail!("{what} exited during start-up ({status}); see its log");
        }
        if start.elapsed() > timeout {
            bail!("{what} did not become ready within {timeout:?}");
        }
    }
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
}

fn log_file(dir: &Path, name: &str) -> Result<std::fs::File> {
    std::fs::create_dir_all(dir)?;
    Ok(std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))?)
}

fn stop_all(procs: &mut [Proc]) {
    // Nodes first, then the gateway, each with SIGTERM for a graceful stop.
    for p in procs.iter_mut().rev() {
        terminate(&mut p.child);
    }
    for p in procs.iter_mut().rev() {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = p.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = p.child.kill();
        let _ = p.child.wait();
    }
}

fn terminate(c: &mut Child) {
    #[cfg(unix)]
    {
        // SAFETY: kill(2) with a pid we own and a valid signal number has no memory effects.
        unsafe {
            libc_kill(c.id() as i32, 15);
        }
    }
    #[cfg(not(unix))]
    let _ = c.kill();
}

#[cfg(unix)]
unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub async fn run(global: &Global, a: DevArgs) -> Result<()> {
    let dir = match a.data_dir.clone() {
        Some(d) => d,
        None => crate::default_dev_dir()?,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = std::fs::canonicalize(&dir)?;
    if a.nodes == 0 {
        bail!(ClientError::InvalidArgument(
            "--nodes must be at least 1".into()
        ));
    }
    let exe = std::env::current_exe().context("locating the cyxcloud binary")?;
    let logs = dir.join("logs");
    let mut procs: Vec<Proc> = Vec::new();
    let result = start(global, &a, &dir, &exe, &logs, &mut procs).await;
    if let Err(e) = result {
        stop_all(&mut procs);
        return Err(e);
    }
    // Run until Ctrl-C or SIGTERM, or until the gateway dies.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = tick.tick() => {
                if let Some(s) = procs[0].child.try_wait()? {
                    stop_all(&mut procs);
                    bail!("the gateway exited ({s}); see {}", logs.join("gateway.log").display());
                }
            }
        }
    }
    if !global.quiet {
        eprintln!("Stopping the local network...");
    }
    stop_all(&mut procs);
    if !global.quiet {
        eprintln!("Stopped. Data kept in {}", dir.display());
    }
    Ok(())
}

async fn start(
    global: &Global,
    a: &DevArgs,
    dir: &Path,
    exe: &Path,
    logs: &Path,
    procs: &mut Vec<Proc>,
) -> Result<()> {
    // The gateway.
    let mut cmd = Command::new(exe);
    cmd.args(["gateway", "run", "--dev", "--host", "127.0.0.1"])
        .arg("--port")
        .arg(a.port.to_string())
        .arg("--grpc-port")
        .arg(a.grpc_port.to_string())
        .arg("--data-dir")
        .arg(dir.join("gateway"))
        .env_remove("DATABASE_URL")
        .env_remove("GATEWAY_CONFIG")
        .env_remove("JWT_SECRET")
        .env("NODE_MONITOR_INTERVAL_SECS", "2")
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file(logs, "gateway.log")?);
    if let Some(cs) = a.chunk_size {
        cmd.arg("--chunk-size-bytes").arg(cs.to_string());
    }
    let mut child = cmd.spawn().context("starting the gateway")?;
    let line = wait_ready(&mut child, "the gateway", Duration::from_secs(60));
    let line = match line {
        Ok(l) => l,
        Err(e) => {
            let _ = child.kill();
            return Err(e.context(format!("see {}", logs.join("gateway.log").display())));
        }
    };
    let http = field(&line, "http")
        .context("gateway ready line")?
        .to_string();
    let grpc = field(&line, "grpc")
        .context("gateway ready line")?
        .to_string();
    procs.push(Proc {
        role: "gateway".into(),
        node_id: None,
        ports: json!({ "http": port_of(&http), "grpc": port_of(&grpc) }),
        child,
    });
    let gateway_url = format!("http://{http}");

    // The nodes: spawned together, then awaited.
    let mut starting = Vec::new();
    for i in 0..a.nodes {
        let id = format!("dev-node-{i:02}");
        let ndir = dir.join("nodes").join(&id);
        std::fs::create_dir_all(&ndir)?;
        let toml = ndir.join("node.toml");
        // Fourteen nodes share one machine here: a small read cache each (a node's default
        // is 256 MiB) keeps the whole network's memory modest.
        std::fs::write(
            &toml,
            format!(
                "[node]\nid = \"{id}\"\n[storage]\npath = {:?}\ncapacity_gb = 50\nread_cache_mb = 32\n\
                 [network]\ngrpc_host = \"127.0.0.1\"\ngrpc_port = 0\n[gateway]\nurl = \"http://{grpc}\"\n\
                 heartbeat_interval_secs = 2\n[location]\ndatacenter = \"dev-dc{}\"\nrack = \"rack{}\"\n\
                 [metrics]\nport = 0\n",
                ndir.join("data"),
                i % 3,
                i % 5
            ),
        )?;
        let child = Command::new(exe)
            .args(["node", "run", "--config"])
            .arg(&toml)
            .env_remove("NODE_ID")
            .env_remove("STORAGE_PATH")
            .env_remove("GATEWAY_URL")
            .env_remove("NODE_CONFIG")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(logs, &format!("{id}.log"))?)
            .spawn()
            .with_context(|| format!("starting {id}"))?;
        starting.push((id, child));
    }
    for (id, mut child) in starting {
        match wait_ready(&mut child, &id, Duration::from_secs(60)) {
            Ok(line) => {
                let grpc = field(&line, "grpc").unwrap_or_default().to_string();
                let metrics = field(&line, "metrics").unwrap_or_default().to_string();
                procs.push(Proc {
                    role: "node".into(),
                    node_id: Some(id),
                    ports: json!({ "grpc": port_of(&grpc), "metrics": port_of(&metrics) }),
                    child,
                });
            }
            Err(e) => {
                let _ = child.kill();
                return Err(e.context(format!("see {}", logs.join(format!("{id}.log")).display())));
            }
        }
    }

    // Wait until the gateway counts every node online.
    let creds = account(dir, &gateway_url).await?;
    let api = Api::new(
        &gateway_url,
        Some(creds["api_key"].as_str().unwrap_or_default().to_string()),
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let online = api.nodes_online().await.unwrap_or(0);
        if online >= a.nodes || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // dev-network.json
    let list: Vec<Value> = procs
        .iter()
        .map(|p| json!({ "role": p.role, "node_id": p.node_id, "pid": p.child.id(), "ports": p.ports }))
        .collect();
    let network = json!({
        "version": 1,
        "gateway_url": gateway_url,
        "grpc_url": format!("http://{grpc}"),
        "data_dir": dir,
        "processes": list,
    });
    write_atomic(
        &dir.join("dev-network.json"),
        serde_json::to_string_pretty(&network)?.as_bytes(),
        0o644,
    )?;

    if !a.no_configure {
        configure_cli(global, &gateway_url, &creds)?;
    }
    if !global.quiet {
        eprintln!("CyxCloud local network is up ({} nodes).", a.nodes);
        eprintln!("  Gateway:        {gateway_url}");
        eprintln!(
            "  S3 endpoint:    {}",
            creds["s3_endpoint"].as_str().unwrap_or_default()
        );
        eprintln!(
            "  Access key id:  {}",
            creds["access_key_id"].as_str().unwrap_or_default()
        );
        eprintln!(
            "  Secret key:     {}",
            creds["secret_access_key"].as_str().unwrap_or_default()
        );
        eprintln!(
            "  Passphrase:     {}",
            creds["passphrase"].as_str().unwrap_or_default()
        );
        eprintln!(
            "  Credentials:    {}",
            dir.join("dev-credentials.json").display()
        );
        eprintln!(
            "  Processes:      {}",
            dir.join("dev-network.json").display()
        );
        eprintln!(
            "Try: CYXCLOUD_PASSPHRASE=<passphrase above> cyxcloud mb demo && cyxcloud upload ./file -b demo"
        );
        eprintln!("Press Ctrl-C to stop.");
    }
    println!("cyxcloud dev ready gateway={gateway_url}");
    Ok(())
}

fn port_of(addr: &str) -> Value {
    addr.rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .map(Value::from)
        .unwrap_or(Value::Null)
}

/// Reuse the development account and key from an earlier run, or create them.
async fn account(dir: &Path, gateway_url: &str) -> Result<Value> {
    let path = dir.join("dev-credentials.json");
    let mut creds: Value = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let api = Api::new(gateway_url, None)?;
    let s3_endpoint = format!("{gateway_url}/s3");
    if let Some(key) = creds["api_key"].as_str()
        && api.with_api_key(key.to_string()).account().await.is_ok()
    {
        creds["gateway_url"] = json!(gateway_url);
        creds["s3_endpoint"] = json!(s3_endpoint);
        write_atomic(
            &path,
            serde_json::to_string_pretty(&creds)?.as_bytes(),
            0o600,
        )?;
        return Ok(creds);
    }
    let email = creds["email"]
        .as_str()
        .unwrap_or("dev@cyxcloud.local")
        .to_string();
    let password = match creds["password"].as_str() {
        Some(p) => p.to_string(),
        None => random_hex(16),
    };
    let session = match api.signup(&email, &password).await {
        Ok(s) => s,
        Err(_) => api
            .login(&email, &password)
            .await
            .context("the development account")?,
    };
    let key = api
        .create_key(
            Some(&session.tokens.access_token),
            "cyxcloud dev",
            &["read", "write"],
            None,
        )
        .await?;
    let passphrase = creds["passphrase"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| random_hex(12));
    let creds = json!({
        "gateway_url": gateway_url,
        "s3_endpoint": s3_endpoint,
        "access_key_id": key.info.access_key_id,
        "secret_access_key": key.key,
        "api_key": key.key,
        "email": email,
        "password": password,
        "passphrase": passphrase,
    });
    write_atomic(
        &path,
        serde_json::to_string_pretty(&creds)?.as_bytes(),
        0o600,
    )?;
    Ok(creds)
}

/// `n` (at most 32) random bytes as hex, from the same generator as the keys.
fn random_hex(n: usize) -> String {
    let k = cyxcloud_core::keys::MasterKey::generate();
    k.expose()[..n.min(32)]
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Point the CLI's "dev" profile (and the default profile when none exists) at the network.
fn configure_cli(global: &Global, gateway_url: &str, creds: &Value) -> Result<()> {
    let home = cyxcloud_client::config::home_dir()?;
    let mut file = ConfigFile::load(&home)?;
    let name = global
        .config_profile
        .clone()
        .unwrap_or_else(|| "default".into());
    let p = file.profile_mut(&name);
    p.gateway_url = Some(gateway_url.to_string());
    p.grpc_url = None;
    p.email = creds["email"].as_str().map(str::to_string);
    file.save(&home)?;
    let settings =
        cyxcloud_client::config::Settings::resolve(&cyxcloud_client::config::Overrides {
            profile: Some(name.clone()),
            ..Default::default()
        })?;
    let store = cyxcloud_client::SecretStore::open(&settings)?;
    let pass = cyxcloud_client::Passphrase::fixed(creds["passphrase"].as_str().unwrap_or_default());
    let key = creds["api_key"].as_str().unwrap_or_default();
    if let Err(e) = store.set(cyxcloud_client::SecretName::ApiKey, key, &pass) {
        eprintln!(
            "warning: could not store the API key ({e}); set CYXCLOUD_API_KEY from dev-credentials.json"
        );
    } else if !global.quiet {
        eprintln!(
            "CLI profile {name:?} now uses this network (API key in the {}).",
            store.backend_name()
        );
    }
    Ok(())
}
