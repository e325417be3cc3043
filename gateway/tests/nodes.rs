//! NodeService and node failures: registration checks, the lifecycle monitor, heartbeat
//! commands, reads surviving m lost nodes, clear errors beyond that.

mod common;

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use cyxcloud_proto::node::node_service_client::NodeServiceClient;
use cyxcloud_proto::node::{HeartbeatRequest, RegisterRequest};
use ed25519_dalek::Signer;

async fn wait_status(net: &Net, id: &str, status: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = net.gw().state.registry.get(id).map(|n| n.status);
        if now.as_deref() == Some(status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id} is {now:?}, expected {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registration_is_signed_and_ids_cannot_be_taken_over() {
    let mut net = Net::start(0, None).await;
    let mut c = NodeServiceClient::connect(format!("http://{}", net.grpc))
        .await
        .unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let now = cyxcloud_gateway::db::now();
    let req = |key: &ed25519_dalek::SigningKey, id: &str, ts: i64, sign_ts: i64| RegisterRequest {
        node_id: id.into(),
        grpc_address: "127.0.0.1:1".into(),
        public_key: key.verifying_key().to_bytes().to_vec().into(),
        timestamp: ts,
        signature: key
            .sign(&cyxcloud_proto::registration_message(
                id,
                "127.0.0.1:1",
                sign_ts,
            ))
            .to_bytes()
            .to_vec()
            .into(),
        ..Default::default()
    };
    let r = c
        .register(req(&key, "node-a", now, now))
        .await
        .unwrap()
        .into_inner();
    assert!(r.success, "{}", r.error_message);
    assert_eq!(r.gateway_public_key.len(), 32);
    assert!(!r.auth_token.is_empty());
    let r2 = c
        .register(req(&key, "node-a", now, now + 1))
        .await
        .unwrap()
        .into_inner();
    assert!(!r2.success && r2.error_message.contains("signature"));
    let r3 = c
        .register(req(&key, "node-a", now - 3600, now - 3600))
        .await
        .unwrap()
        .into_inner();
    assert!(!r3.success && r3.error_message.contains("timestamp"));
    let thief = ed25519_dalek::SigningKey::from_bytes(&[6; 32]);
    let r4 = c
        .register(req(&thief, "node-a", now, now))
        .await
        .unwrap()
        .into_inner();
    assert!(!r4.success && r4.error_message.contains("another key"));
    // Heartbeats need the token of the registration; a wrong one asks to re-register.
    let hb = c
        .heartbeat(HeartbeatRequest {
            node_id: "node-a".into(),
            auth_token: "wrong".into(),
            status: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!hb.acknowledged);
    assert_eq!(hb.commands, ["reregister"]);
    // Commands queued for a node arrive with its next heartbeat, once.
    net.gw()
        .state
        .db
        .set_node_command("node-a", Some("drain"))
        .await
        .unwrap();
    let hb = c
        .heartbeat(HeartbeatRequest {
            node_id: "node-a".into(),
            auth_token: r.auth_token.clone(),
            status: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(hb.acknowledged);
    assert_eq!(hb.commands, ["drain"]);
    let hb = c
        .heartbeat(HeartbeatRequest {
            node_id: "node-a".into(),
            auth_token: r.auth_token,
            status: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(hb.commands.is_empty());
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_survive_lost_nodes_and_the_monitor_tracks_them() {
    let mut net = Net::start_with(6, None, |c| {
        c.nodes.offline_threshold_secs = 2;
        c.nodes.recovery_quarantine_secs = 2;
        c.storage.node_timeout_secs = 3;
    })
    .await;
    let base = net.http.clone();
    let u = signup(&base, "n@example.com").await;
    let c = s3_for(&base, &u);
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let body = data(3 << 20, 11);
    c.put_object()
        .bucket("bkt")
        .key("obj")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();

    // 4+2: any two nodes may go.
    net.nodes[0].kill();
    net.nodes[3].kill();
    let got = c
        .get_object()
        .bucket("bkt")
        .key("obj")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().to_vec(),
        body
    );
    wait_status(&net, "node-00", "offline").await;
    wait_status(&net, "node-03", "offline").await;
    let row = net.gw().state.db.node("node-00").await.unwrap().unwrap();
    assert!(row.first_offline_at.is_some());

    // Writes need k + ceil(m/2) = 5 healthy nodes: a clear, typed refusal with 4.
    let r = http()
        .put(format!("{base}/s3/bkt/new"))
        .header("x-api-key", &u.api_key)
        .header("accept", "application/json")
        .body(data(1 << 20, 12))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "NETWORK_NO_NODES_AVAILABLE");

    // A node that comes back is quarantined, then online again.
    net.nodes[0] = spawn_node(net.dir.path(), 0, &net.grpc);
    wait_status(&net, "node-00", "recovering").await;
    wait_status(&net, "node-00", "online").await;
    c.put_object()
        .bucket("bkt")
        .key("new")
        .body(ByteStream::from(data(1 << 20, 12)))
        .send()
        .await
        .unwrap();

    // Lose three of six: a 4+2 chunk cannot be rebuilt. The read fails loudly: an error
    // status or an aborted body, never wrong or short data presented as success.
    net.nodes[1].kill();
    net.nodes[2].kill();
    net.nodes[4].kill();
    let e = c
        .get_object()
        .bucket("bkt")
        .key("obj")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(503));
    net.stop().await;
}

#[derive(Clone, Copy)]
enum Fault {
    /// Flip one byte of every large read: it lands inside shard payloads.
    Tamper,
    /// Pass nothing more on from the first large read: the node hangs mid-answer.
    Stall,
}

/// A TCP relay in front of a node that spoils what the node sends back once it carries
/// shard payloads (reads of 16 KiB or more). Returns its address and how many large reads
/// it spoiled.
async fn faulty_relay(
    upstream: String,
    fault: Fault,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let spoiled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = spoiled.clone();
    tokio::spawn(async move {
        while let Ok((down, _)) = l.accept().await {
            let Ok(up) = tokio::net::TcpStream::connect(&upstream).await else {
                continue;
            };
            let (mut dr, mut dw) = down.into_split();
            let (mut ur, mut uw) = up.into_split();
            let count = count.clone();
            tokio::spawn(async move { tokio::io::copy(&mut dr, &mut uw).await });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match ur.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if n >= 16 * 1024 {
                        count.fetch_add(1, Ordering::Relaxed);
                        match fault {
                            Fault::Tamper => buf[n / 2] ^= 0x55,
                            Fault::Stall => std::future::pending::<()>().await,
                        }
                    }
                    if dw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, spoiled)
}

struct FaultyNet {
    net: Net,
    /// The faulty node's relay address.
    relay: String,
    /// Large reads the relay spoiled.
    spoiled: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    s3: aws_sdk_s3::Client,
    /// What `bkt/obj` holds: 3 MiB in 1 MiB chunks of 4+2, one shard of each on the faulty
    /// node.
    body: Vec<u8>,
}

/// Five honest nodes and a sixth behind a faulty relay, and one object stored over them.
async fn net_with_faulty_node(fault: Fault, email: &str) -> FaultyNet {
    let mut net = Net::start(5, None).await;
    let port = free_port();
    let (relay, spoiled) = faulty_relay(format!("127.0.0.1:{port}"), fault).await;
    let faulty = spawn_node_with(
        net.dir.path(),
        5,
        &net.grpc,
        &format!("grpc_port = {port}\nadvertise_address = \"{relay}\"\n"),
    );
    net.nodes.push(faulty);
    net.wait_online(6).await;
    let u = signup(&net.http, email).await;
    let s3 = s3_for(&net.http, &u);
    s3.create_bucket().bucket("bkt").send().await.unwrap();
    let body = data(3 << 20, 21);
    s3.put_object()
        .bucket("bkt")
        .key("obj")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    FaultyNet {
        net,
        relay,
        spoiled,
        s3,
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_ask_more_nodes_when_one_hangs_and_do_not_wait_for_it() {
    let FaultyNet {
        mut net,
        relay,
        spoiled: stalled,
        s3: c,
        body,
    } = net_with_faulty_node(Fault::Stall, "h@example.com").await;
    // The hung node looks like the fastest (1 ms against 40 ms), so it is among the k asked
    // first for every chunk until the hedge ranks it slower. Nodes time out after 10 s
    // here: a read that waited for it would take that long for each chunk.
    let registry = &net.gw().state.registry;
    for n in registry.all() {
        let ms = if n.address.contains(&relay) { 1 } else { 40 };
        for _ in 0..20 {
            registry.record_success(&n.id, std::time::Duration::from_millis(ms));
        }
    }
    for round in 0..3 {
        let t = std::time::Instant::now();
        let got = c
            .get_object()
            .bucket("bkt")
            .key("obj")
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert!(got[..] == body[..], "round {round}: wrong bytes");
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "round {round} took {:?}",
            t.elapsed()
        );
    }
    assert!(
        stalled.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the hung node was never asked, so nothing was hedged"
    );
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_serving_tampered_shards_never_yields_wrong_bytes() {
    let FaultyNet {
        mut net,
        s3: c,
        body,
        ..
    } = net_with_faulty_node(Fault::Tamper, "t@example.com").await;
    let get = || async {
        c.get_object()
            .bucket("bkt")
            .key("obj")
            .send()
            .await
            .map(|o| o.body)
    };
    // All six reachable, then one honest node gone: the bad shard is dropped and another
    // fetched in its place, every time.
    for round in 0..6 {
        if round == 3 {
            net.nodes[0].kill();
        }
        let got = get().await.unwrap().collect().await.unwrap().into_bytes();
        assert!(got[..] == body[..], "round {round}: wrong bytes");
    }
    // Two honest nodes gone: only three intact shards remain, and the read fails loudly.
    net.nodes[1].kill();
    match get().await {
        Err(e) => assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(503)),
        Ok(b) => assert!(b.collect().await.is_err(), "a body from three good shards"),
    }
    net.stop().await;
}
