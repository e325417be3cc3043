//! A gateway killed with SIGKILL in the middle of uploads: after a restart no partial object
//! is visible, committed objects are intact, and the dead uploads' shards are deleted.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

struct Gateway {
    child: tokio::process::Child,
    http: String,
    grpc: String,
}

async fn spawn_gateway(dir: &std::path::Path, http_port: u16, grpc_port: u16) -> Gateway {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cyxcloud-gateway"))
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &http_port.to_string(),
            "--grpc-port",
            &grpc_port.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir)
        .args(["--chunk-size-bytes", "1048576", "--log-level", "warn"])
        .env("JWT_SECRET", "crash-test-secret-0123456789")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("gateway ready in time")
        .unwrap()
        .expect("ready line");
    assert!(line.starts_with("cyxcloud-gateway ready"), "{line}");
    Gateway {
        child,
        http: format!("http://127.0.0.1:{http_port}"),
        grpc: format!("127.0.0.1:{grpc_port}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_gateway_leaves_no_partial_objects() {
    let dir = tempfile::tempdir().unwrap();
    let gdir = dir.path().join("gateway");
    let (hp, gp) = (free_port(), free_port());
    let mut gw = spawn_gateway(&gdir, hp, gp).await;
    let mut nodes: Vec<NodeProc> = (0..6)
        .map(|i| spawn_node(dir.path(), i, &gw.grpc))
        .collect();
    let u = signup(&gw.http, "crash@example.com").await;
    let c = s3_for(&gw.http, &u);
    // Nodes register within a few heartbeats.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = http()
            .get(format!("{}/api/v1/nodes", gw.http))
            .header("x-api-key", &u.api_key)
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        if v["nodes"].as_array().unwrap().len() == 6 {
            break;
        }
        assert!(Instant::now() < deadline, "nodes did not register");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = http()
        .put(format!("{}/s3/bkt", gw.http))
        .header("x-api-key", &u.api_key)
        .json(&serde_json::json!({ "erasure_config": { "data_shards": 4, "parity_shards": 2 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let kept = data(3 << 20, 7);
    c.put_object()
        .bucket("bkt")
        .key("kept")
        .body(ByteStream::from(kept.clone()))
        .send()
        .await
        .unwrap();

    // Four uploads in flight: 4 MiB announced, about half sent, then the gateway dies.
    let addr = gw.http.trim_start_matches("http://").to_string();
    let mut conns = Vec::new();
    for i in 0..4 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "PUT /bkt/partial-{i} HTTP/1.1\r\nHost: x\r\nX-API-Key: {}\r\nContent-Length: {}\r\n\r\n",
            u.api_key,
            4 << 20
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&data(2 << 20, i)).await.unwrap();
        conns.push(s);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    gw.child.start_kill().unwrap();
    gw.child.wait().await.unwrap();
    drop(conns);

    // Restart on the same data directory.
    let gw = spawn_gateway(&gdir, hp, gp).await;
    let c = s3_for(&gw.http, &u);
    let keys: Vec<String> = c
        .list_objects_v2()
        .bucket("bkt")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect();
    assert_eq!(keys, ["kept"], "no partial object is visible");
    for i in 0..4 {
        assert!(
            c.head_object()
                .bucket("bkt")
                .key(format!("partial-{i}"))
                .send()
                .await
                .is_err()
        );
    }
    // Nodes re-register with the restarted gateway; then the committed object reads back.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match c.get_object().bucket("bkt").key("kept").send().await {
            Ok(r) => {
                assert_eq!(r.body.collect().await.unwrap().into_bytes().to_vec(), kept);
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "kept object unreadable: {e:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    assert_eq!(
        usage(&gw.http, &u.api_key).await,
        3 << 20,
        "usage counts only the committed object"
    );
    // The dead uploads were closed and their shards deleted from the nodes.
    let db = cyxcloud_gateway::db::Db::connect(
        &format!("sqlite://{}?mode=rwc", gdir.join("metadata.db").display()),
        2,
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let ups = db.upload_count("put").await.unwrap();
        let pending = db.pending_deletion_count().await.unwrap();
        if ups == 0 && pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{ups} uploads and {pending} deletions left"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for n in &mut nodes {
        n.kill();
    }
    let _ = Command::new("true").status();
}
