//! The ChunkService routes the node answers itself, in front of the generated service:
//! GetChunk sends a shard without copying it ([`crate::direct_get`]), StoreChunk writes a
//! shard as it arrives ([`crate::direct_store`]). Every other request, and every one those
//! paths hand back, goes to the generated service unchanged.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use cyxcloud_proto::frames::{Frames, STORE_CHUNK_PATH};
use tonic::body::Body;
use tonic::codegen::{BoxFuture, Bytes, Service, http};
use tonic::server::NamedService;
use tracing::Instrument;

use crate::direct_get::GET_CHUNK_PATH;
use crate::state::NodeState;

/// Wraps the generated ChunkService server `S`.
#[derive(Clone)]
pub struct Direct<S> {
    inner: S,
    state: Arc<NodeState>,
    /// The generated service's largest request message.
    max_message: usize,
}

impl<S> Direct<S> {
    pub fn new(inner: S, state: Arc<NodeState>, max_message: usize) -> Self {
        Self {
            inner,
            state,
            max_message,
        }
    }
}

impl<S: NamedService> NamedService for Direct<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Direct<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let state = self.state.clone();
        // The spans the generated handlers have.
        match req.uri().path() {
            GET_CHUNK_PATH => {
                let answer = crate::direct_get::answer(state, req);
                Box::pin(
                    async move { Ok(answer.await) }
                        .instrument(tracing::info_span!("get_chunk", rpc = "GetChunk")),
                )
            }
            STORE_CHUNK_PATH => {
                // The service that was made ready answers what this path hands back.
                let ready = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, ready);
                let answer = crate::direct_store::answer(state, req, self.max_message, inner);
                Box::pin(answer.instrument(tracing::info_span!("store_chunk", rpc = "StoreChunk")))
            }
            _ => Box::pin(self.inner.call(req)),
        }
    }
}

/// A gRPC answer with one message, already in `frames`, and status OK.
pub(crate) fn ok_response(frames: VecDeque<Bytes>) -> http::Response<Body> {
    let mut resp = http::Response::new(Body::new(Frames::ok_response(frames)));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        tonic::metadata::GRPC_CONTENT_TYPE,
    );
    resp
}
