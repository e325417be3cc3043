//! The node against a test gateway NodeService on loopback: signed registration, learning
//! the grant key, heartbeats with status, metrics reports with served grants, commands
//! (drain, shutdown), and re-registration after the gateway comes back.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use cyxcloud_core::grant::GrantOp;
use cyxcloud_node::config::BackendKind;
use cyxcloud_proto::node::node_service_server::{NodeService, NodeServiceServer};
use cyxcloud_proto::node::*;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

#[derive(Default)]
struct Seen {
    registers: Vec<RegisterRequest>,
    heartbeats: Vec<HeartbeatRequest>,
    reports: Vec<MetricsRequest>,
    commands: Vec<String>,
}

#[derive(Clone, Default)]
struct TestGateway(Arc<Mutex<Seen>>);

#[tonic::async_trait]
impl NodeService for TestGateway {
    async fn register(
        &self,
        r: Request<RegisterRequest>,
    ) -> Result<Response<RegisterResponse>, Status> {
        self.0.lock().unwrap().registers.push(r.into_inner());
        Ok(Response::new(RegisterResponse {
            success: true,
            error_message: String::new(),
            auth_token: "tok".into(),
            gateway_public_key: gateway().verifying_key().to_bytes().to_vec().into(),
            heartbeat_interval_secs: 1,
        }))
    }
    async fn heartbeat(
        &self,
        r: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        let mut s = self.0.lock().unwrap();
        s.heartbeats.push(r.into_inner());
        let commands = std::mem::take(&mut s.commands);
        Ok(Response::new(HeartbeatResponse {
            acknowledged: true,
            commands,
        }))
    }
    async fn report_metrics(
        &self,
        r: Request<MetricsRequest>,
    ) -> Result<Response<MetricsResponse>, Status> {
        self.0.lock().unwrap().reports.push(r.into_inner());
        Ok(Response::new(MetricsResponse { acknowledged: true }))
    }
    type GetWorkStream = tokio_stream::Empty<Result<WorkItem, Status>>;
    async fn get_work(
        &self,
        _: Request<GetWorkRequest>,
    ) -> Result<Response<Self::GetWorkStream>, Status> {
        Ok(Response::new(tokio_stream::empty()))
    }
}

async fn serve(gw: TestGateway, listener: tokio::net::TcpListener) -> CancellationToken {
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(NodeServiceServer::new(gw))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                c.cancelled_owned(),
            ),
    );
    cancel
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn registers_heartbeats_reports_obeys_and_reregisters() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw_addr = listener.local_addr().unwrap();
    let gw = TestGateway::default();
    let stop_gw = serve(gw.clone(), listener).await;

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), BackendKind::Memory, 1.0);
    cfg.gateway.public_key.clear(); // learned at registration
    cfg.gateway.url = format!("http://{gw_addr}");
    cfg.gateway.heartbeat_interval_secs = 1;
    cfg.node.node_type = cyxcloud_node::config::NodeType::Volunteer;
    cfg.location.datacenter = "dc1".into();
    cfg.location.rack = "r7".into();
    let node = cyxcloud_node::start(cfg).await.unwrap();
    let pk = node.state.public_key;

    until("registration", || {
        !gw.0.lock().unwrap().registers.is_empty()
    })
    .await;
    {
        let s = gw.0.lock().unwrap();
        let r = &s.registers[0];
        assert_eq!(r.node_id, node.node_id);
        assert_eq!(r.grpc_address, node.grpc_addr.to_string());
        assert_eq!(r.r#type, NodeType::Volunteer as i32);
        assert_eq!(r.location.as_ref().unwrap().rack, "r7");
        assert_eq!(r.capacity.as_ref().unwrap().total_bytes, 1_000_000_000);
        assert!(r.peer_id.starts_with("12D3KooW"));
        // The registration is signed by the node's identity key.
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&r.public_key[..].try_into().unwrap()).unwrap();
        let msg =
            cyxcloud_node::identity::registration_message(&r.node_id, &r.grpc_address, r.timestamp);
        let sig = ed25519_dalek::Signature::from_bytes(&r.signature[..].try_into().unwrap());
        key.verify_strict(&msg, &sig).unwrap();
    }
    // The node learned the gateway key: grants signed by it work, and it was saved.
    until("gateway key", || node.state.gateway_key().is_some()).await;
    assert!(dir.path().join("gateway.pub").exists());
    let mut c = client(&node).await;
    let (id, data) = shard(5000, 1);
    put(&mut c, pk, id, data.clone()).await;
    c.get_chunk(get_req(id, grant(GrantOp::Get, pk, id, 1 << 20)))
        .await
        .unwrap();

    // Heartbeats carry status; metrics reports carry the served grant, then it is forgotten.
    until("a heartbeat with the stored shard", || {
        gw.0.lock()
            .unwrap()
            .heartbeats
            .iter()
            .any(|h| h.status.as_ref().is_some_and(|s| s.chunk_count == 1))
    })
    .await;
    until("a report with the served grant", || {
        gw.0.lock()
            .unwrap()
            .reports
            .iter()
            .any(|r| r.served_grants.iter().any(|g| g.bytes_served == 5000))
    })
    .await;
    until("served grants acknowledged", || {
        futures_now(node.state.backend.served(10)).is_empty()
    })
    .await;

    // "drain": new shards refused, reads still served.
    gw.0.lock().unwrap().commands.push("drain".into());
    until("draining", || node.state.is_draining()).await;
    let (id2, d2) = shard(100, 2);
    let err = c
        .store_chunk(store_req(id2, d2, grant(GrantOp::Store, pk, id2, 1 << 20)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    c.get_chunk(get_req(id, grant(GrantOp::Get, pk, id, 1 << 20)))
        .await
        .unwrap();

    // Gateway goes away: the node keeps serving; when it returns, the node registers again.
    stop_gw.cancel();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    c.get_chunk(get_req(id, grant(GrantOp::Get, pk, id, 1 << 20)))
        .await
        .unwrap();
    let before = gw.0.lock().unwrap().registers.len();
    let listener = bind_retry(gw_addr).await;
    let _stop2 = serve(gw.clone(), listener).await;
    until("re-registration", || {
        gw.0.lock().unwrap().registers.len() > before
    })
    .await;

    // "shutdown": the node stops by itself.
    gw.0.lock().unwrap().commands.push("shutdown".into());
    tokio::time::timeout(Duration::from_secs(10), node.wait())
        .await
        .expect("node stopped")
        .unwrap();
}

async fn bind_retry(addr: std::net::SocketAddr) -> tokio::net::TcpListener {
    for _ in 0..100 {
        if let Ok(l) = tokio::net::TcpListener::bind(addr).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("could not rebind {addr}");
}

/// Poll a future once from a sync predicate (the memory backend answers immediately).
fn futures_now<T>(
    f: impl std::future::Future<Output = Result<Vec<T>, cyxcloud_node::storage::StorageError>>,
) -> Vec<T> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r.unwrap(),
        std::task::Poll::Pending => panic!("memory backend should not block"),
    }
}
