//! Over real gRPC on loopback: a shard of a 64 MiB chunk (8+6) is refused under tonic's
//! default 4 MiB limit and carried intact once both sides apply `limits::max_message_size`,
//! by the generated client and by the copy-free one (`frames::store_chunk`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cyxcloud_core::ErasureProfile;
use cyxcloud_proto::chunk::chunk_service_client::ChunkServiceClient;
use cyxcloud_proto::chunk::chunk_service_server::{ChunkService, ChunkServiceServer};
use cyxcloud_proto::chunk::*;
use cyxcloud_proto::limits::{max_message_size, max_shard_len};
use tonic::{Request, Response, Status};

#[derive(Default)]
struct MapStore(Mutex<HashMap<Vec<u8>, StoreChunkRequest>>);

#[tonic::async_trait]
impl ChunkService for MapStore {
    async fn store_chunk(
        &self,
        r: Request<StoreChunkRequest>,
    ) -> Result<Response<StoreChunkResponse>, Status> {
        let r = r.into_inner();
        let id = r
            .chunk_id
            .as_ref()
            .ok_or_else(|| Status::invalid_argument("no id"))?
            .hash
            .to_vec();
        let n = r.data.len() as u64;
        self.0.lock().unwrap().insert(id, r);
        Ok(Response::new(StoreChunkResponse {
            success: true,
            error_message: String::new(),
            bytes_written: n,
        }))
    }
    async fn get_chunk(
        &self,
        r: Request<GetChunkRequest>,
    ) -> Result<Response<GetChunkResponse>, Status> {
        let id = r
            .into_inner()
            .chunk_id
            .ok_or_else(|| Status::invalid_argument("no id"))?
            .hash;
        let data = self.0.lock().unwrap().get(&id[..]).map(|r| r.data.clone());
        Ok(Response::new(GetChunkResponse {
            found: data.is_some(),
            data: data.unwrap_or_default(),
            metadata: None,
        }))
    }
    async fn delete_chunk(
        &self,
        _: Request<DeleteChunkRequest>,
    ) -> Result<Response<DeleteChunkResponse>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }
    async fn stream_chunks(
        &self,
        _: Request<tonic::Streaming<ChunkData>>,
    ) -> Result<Response<StreamChunksResponse>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }
    type FetchChunksStream = tokio_stream::Empty<Result<ChunkData, Status>>;
    async fn fetch_chunks(
        &self,
        _: Request<FetchChunksRequest>,
    ) -> Result<Response<Self::FetchChunksStream>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }
    async fn verify_chunk(
        &self,
        _: Request<VerifyChunkRequest>,
    ) -> Result<Response<VerifyChunkResponse>, Status> {
        Err(Status::unimplemented("not needed by this test"))
    }
    async fn health_check(
        &self,
        _: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            healthy: true,
            status: None,
        }))
    }
}

async fn serve(limit: Option<usize>) -> String {
    serve_store(limit).await.0
}

async fn serve_store(limit: Option<usize>) -> (String, Arc<MapStore>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let store = Arc::new(MapStore::default());
    let mut svc = ChunkServiceServer::from_arc(store.clone());
    if let Some(l) = limit {
        svc = svc
            .max_decoding_message_size(l)
            .max_encoding_message_size(l);
    }
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (format!("http://{addr}"), store)
}

fn store(shard: &[u8]) -> StoreChunkRequest {
    StoreChunkRequest {
        chunk_id: Some(cyxcloud_core::ChunkId::of(shard).into()),
        data: shard.to_vec().into(),
        metadata: None,
        grant: Default::default(),
    }
}

#[tokio::test]
async fn shard_sized_messages_need_and_fit_the_derived_limit() {
    let chunk = 64 * 1024 * 1024;
    let shard = vec![0x5a; max_shard_len(chunk, ErasureProfile::STANDARD)];
    let limit = max_message_size(chunk, ErasureProfile::STANDARD.data_shards());

    // Defaults on both sides: refused.
    let url = serve(None).await;
    let mut c = ChunkServiceClient::connect(url).await.unwrap();
    let err = c.store_chunk(store(&shard)).await.unwrap_err();
    assert!(
        matches!(
            err.code(),
            tonic::Code::ResourceExhausted | tonic::Code::OutOfRange | tonic::Code::Internal
        ),
        "{err:?}"
    );

    // Derived limits on both sides: stored and read back byte for byte.
    let url = serve(Some(limit)).await;
    let mut c = ChunkServiceClient::connect(url)
        .await
        .unwrap()
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let r = c.store_chunk(store(&shard)).await.unwrap().into_inner();
    assert_eq!(r.bytes_written, shard.len() as u64);
    let back = c
        .get_chunk(GetChunkRequest {
            chunk_id: Some(cyxcloud_core::ChunkId::of(&shard).into()),
            grant: Default::default(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(back.found);
    assert_eq!(&back.data[..], &shard[..]);
}

#[tokio::test]
async fn the_copy_free_store_call_delivers_the_message_and_reads_statuses() {
    use cyxcloud_proto::frames::{Limits, store_chunk};
    let chunk = 64 * 1024 * 1024;
    let shard: Vec<u8> = (0..max_shard_len(chunk, ErasureProfile::STANDARD))
        .map(|i| (i % 253) as u8)
        .collect();
    let limit = max_message_size(chunk, ErasureProfile::STANDARD.data_shards());
    let limits = Limits::both(limit);
    let (url, stored) = serve_store(Some(limit)).await;
    let mut ch = cyxcloud_proto::limits::shard_endpoint(url)
        .unwrap()
        .connect()
        .await
        .unwrap();

    // Every field arrives as sent, the payload byte for byte.
    let mut req = store(&shard);
    req.grant = vec![9u8; 170].into();
    req.metadata = Some(ChunkMetadata {
        original_size: 12,
        stored_size: shard.len() as u64,
        ..Default::default()
    });
    let r = store_chunk(&mut ch, req.clone(), limits)
        .await
        .unwrap()
        .into_inner();
    assert!(r.success);
    assert_eq!(r.bytes_written, shard.len() as u64);
    let id = req.chunk_id.as_ref().unwrap().hash.to_vec();
    assert_eq!(stored.0.lock().unwrap().get(&id), Some(&req));

    // An empty payload and no trailing fields.
    let empty = StoreChunkRequest {
        chunk_id: Some(cyxcloud_core::ChunkId::of(b"").into()),
        ..Default::default()
    };
    let r = store_chunk(&mut ch, empty, limits)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.bytes_written, 0);

    // The server's status comes back as it was sent.
    let err = store_chunk(&mut ch, StoreChunkRequest::default(), limits)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert_eq!(err.message(), "no id");

    // Over the caller's own limit: refused before anything is sent.
    let before = stored.0.lock().unwrap().len();
    let small = Limits {
        encode: shard.len() / 2,
        decode: limit,
    };
    let mut other = store(&shard[1..]);
    other.grant = vec![1u8; 170].into();
    let err = store_chunk(&mut ch, other.clone(), small)
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::OutOfRange, "{err:?}");
    assert_eq!(stored.0.lock().unwrap().len(), before);

    // Over the server's limit: the server's refusal.
    let url = serve(None).await;
    let mut ch = cyxcloud_proto::limits::shard_endpoint(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let err = store_chunk(&mut ch, other, limits).await.unwrap_err();
    assert!(
        matches!(
            err.code(),
            tonic::Code::ResourceExhausted | tonic::Code::OutOfRange | tonic::Code::Internal
        ),
        "{err:?}"
    );

    // Nobody listening: unavailable, as the generated client reports it.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let mut ch = cyxcloud_proto::limits::shard_endpoint(url)
        .unwrap()
        .connect_lazy();
    let err = store_chunk(&mut ch, store(b"x"), limits).await.unwrap_err();
    let mut gen_client = ChunkServiceClient::new(ch.clone());
    let gen_err = gen_client.store_chunk(store(b"x")).await.unwrap_err();
    assert_eq!(err.code(), gen_err.code(), "{err:?} / {gen_err:?}");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
}
