//! Over real gRPC on loopback: a shard of a 64 MiB chunk (8+6) is refused under tonic's
//! default 4 MiB limit and carried intact once both sides apply `limits::max_message_size`.

use std::collections::HashMap;
use std::sync::Mutex;

use cyxcloud_core::ErasureProfile;
use cyxcloud_proto::chunk::chunk_service_client::ChunkServiceClient;
use cyxcloud_proto::chunk::chunk_service_server::{ChunkService, ChunkServiceServer};
use cyxcloud_proto::chunk::*;
use cyxcloud_proto::limits::{max_message_size, max_shard_len};
use tonic::{Request, Response, Status};

#[derive(Default)]
struct MapStore(Mutex<HashMap<Vec<u8>, Vec<u8>>>);

#[tonic::async_trait]
impl ChunkService for MapStore {
    async fn store_chunk(
        &self,
        r: Request<StoreChunkRequest>,
    ) -> Result<Response<StoreChunkResponse>, Status> {
        let r = r.into_inner();
        let id = r
            .chunk_id
            .ok_or_else(|| Status::invalid_argument("no id"))?
            .hash;
        let n = r.data.len() as u64;
        self.0.lock().unwrap().insert(id.to_vec(), r.data.to_vec());
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
        let data = self.0.lock().unwrap().get(&id[..]).cloned();
        Ok(Response::new(GetChunkResponse {
            found: data.is_some(),
            data: data.unwrap_or_default().into(),
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
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut svc = ChunkServiceServer::new(MapStore::default());
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
    format!("http://{addr}")
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
