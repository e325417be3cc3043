//! CyxCloud client SDK, shared by the `cyxcloud` CLI, the TUI and the FUSE mount.
//!
//! Data is compressed, encrypted and erasure coded here, on the user's machine; shards go
//! straight to the storage nodes the gateway picks, and the gateway only ever sees
//! ciphertext shard ids and wrapped keys.
//!
//! - [`config`]: `~/.cyxcloud/config.toml` profiles, environment and flag overrides.
//! - [`secrets`]: API key, refresh token and cached master key in the OS keyring or an
//!   encrypted file.
//! - [`keys`]: unlocking the account's key (passphrase or raw key), key records.
//! - [`api`]: the gateway's REST API (accounts, keys, buckets) over HTTP.
//! - [`nodes`]: node connections, speed ranking and the adaptive transfer limiter.
//! - [`upload`] / [`download`]: the transfer engines.
//! - [`progress`]: transfer events for progress bars and dashboards.

pub mod api;
pub mod config;
pub mod download;
pub mod error;
pub mod keys;
pub mod nodes;
pub mod progress;
pub mod secrets;
pub mod upload;

use cyxcloud_core::buffers::BufferPool;
use std::sync::Arc;

use cyxcloud_core::keys::KeyEncryptionKey;
use cyxcloud_proto::gateway::gateway_service_client::GatewayServiceClient;
use cyxcloud_proto::gateway::{
    DeleteObjectRequest, ListObjectsRequest, ListObjectsResponse, StatObjectRequest,
};
use tokio::sync::OnceCell;
use tonic::transport::Channel;

pub use api::Api;
pub use config::Settings;
pub use cyxcloud_proto::metadata::ObjectInfo;
pub use error::{ClientError, Result};
pub use progress::{Progress, ProgressFn};
pub use secrets::{Passphrase, SecretName, SecretStore};

/// A connected client: the gateway over HTTP and gRPC, and a pool of node connections.
pub struct Client {
    api: Api,
    grpc: GatewayServiceClient<Channel>,
    pool: Arc<nodes::NodePool>,
    /// Shard and plaintext buffers reused from chunk to chunk (see `core::buffers`).
    buffers: BufferPool,
    key: OnceCell<KeyEncryptionKey>,
    store: Option<Arc<SecretStore>>,
    pass: Arc<Passphrase>,
}

/// Idle chunk buffers kept for reuse. Buffers cycle between the chunks in flight and this
/// pool, so it adds nothing to the peak memory of a transfer; it only saves faulting in fresh
/// pages for every chunk.
const IDLE_BUFFER_BYTES: usize = 256 << 20;

/// Messages the gateway sends can carry a whole manifest; shards never pass through it.
const GATEWAY_MESSAGE_LIMIT: usize = 64 << 20;

impl Client {
    /// Connect to the gateway at `api`'s base URL; the gRPC address is `grpc_url` or asked
    /// from the gateway.
    pub async fn connect(
        api: Api,
        grpc_url: Option<&str>,
        max_connections: usize,
        store: Option<Arc<SecretStore>>,
        pass: Arc<Passphrase>,
    ) -> Result<Self> {
        let grpc_url = match grpc_url {
            Some(u) => u.to_string(),
            None => {
                let info = api.info().await?;
                let base = api.base();
                let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
                let host = rest.split('/').next().unwrap_or(rest);
                let host = match host.rsplit_once(':') {
                    Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
                    _ => host,
                };
                format!("{scheme}://{host}:{}", info.grpc_port)
            }
        };
        let channel = tonic::transport::Endpoint::from_shared(grpc_url.clone())
            .map_err(|e| ClientError::Config(format!("gRPC URL {grpc_url:?}: {e}")))?
            .connect_timeout(std::time::Duration::from_secs(10))
            .tcp_nodelay(true)
            .connect_lazy();
        let grpc = GatewayServiceClient::new(channel)
            .max_decoding_message_size(GATEWAY_MESSAGE_LIMIT)
            .max_encoding_message_size(GATEWAY_MESSAGE_LIMIT);
        Ok(Client {
            api,
            grpc,
            pool: nodes::NodePool::new(max_connections),
            buffers: BufferPool::new(IDLE_BUFFER_BYTES),
            key: OnceCell::new(),
            store,
            pass,
        })
    }

    /// Use this key-encryption key instead of unlocking the account's.
    pub fn with_key(self, kek: KeyEncryptionKey) -> Self {
        let _ = self.key.set(kek);
        self
    }

    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The account's key-encryption key, unlocked on first use.
    pub async fn key(&self) -> Result<&KeyEncryptionKey> {
        self.key
            .get_or_try_init(|| async {
                let store = self
                    .store
                    .as_ref()
                    .ok_or_else(|| ClientError::NoKey("no secret store and no key given".into()))?;
                keys::unlock(&self.api, store, &self.pass).await
            })
            .await
    }

    /// The metadata that authenticates gRPC calls to the gateway.
    fn auth(&self) -> Result<tonic::metadata::MetadataMap> {
        let key = self
            .api
            .require_key()?
            .parse()
            .map_err(|_| ClientError::Config("the API key has invalid characters".into()))?;
        let mut m = tonic::metadata::MetadataMap::new();
        m.insert("x-api-key", key);
        Ok(m)
    }

    fn req<T>(&self, t: T) -> Result<tonic::Request<T>> {
        Ok(tonic::Request::from_parts(
            self.auth()?,
            Default::default(),
            t,
        ))
    }

    fn grpc(&self) -> GatewayServiceClient<Channel> {
        self.grpc.clone()
    }

    pub async fn stat(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        let r = self.req(StatObjectRequest {
            bucket: bucket.into(),
            key: key.into(),
        })?;
        self.grpc()
            .stat_object(r)
            .await
            .map(|r| r.into_inner())
            .map_err(ClientError::from_status)
    }

    /// One page of a listing.
    pub async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        token: &str,
        max_keys: u32,
    ) -> Result<ListObjectsResponse> {
        let r = self.req(ListObjectsRequest {
            bucket: bucket.into(),
            prefix: prefix.into(),
            delimiter: delimiter.into(),
            max_keys,
            continuation_token: token.into(),
        })?;
        self.grpc()
            .list_objects(r)
            .await
            .map(|r| r.into_inner())
            .map_err(ClientError::from_status)
    }

    /// Every object (and common prefix, with a delimiter) under `prefix`.
    pub async fn list_all(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
    ) -> Result<(Vec<ObjectInfo>, Vec<String>)> {
        let (mut objects, mut prefixes, mut token) = (Vec::new(), Vec::new(), String::new());
        loop {
            let page = self
                .list_page(bucket, prefix, delimiter, &token, 1000)
                .await?;
            objects.extend(page.objects);
            prefixes.extend(page.common_prefixes);
            if !page.is_truncated || page.next_continuation_token.is_empty() {
                return Ok((objects, prefixes));
            }
            token = page.next_continuation_token;
        }
    }

    pub async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        let r = self.req(DeleteObjectRequest {
            bucket: bucket.into(),
            key: key.into(),
        })?;
        self.grpc()
            .delete_object(r)
            .await
            .map(|_| ())
            .map_err(ClientError::from_status)
    }
}

/// A `cyx://bucket/key` URI, or `bucket/key`.
pub fn parse_uri(s: &str) -> Result<(String, String)> {
    let rest = s.strip_prefix("cyx://").unwrap_or(s);
    let (b, k) = rest.split_once('/').unwrap_or((rest, ""));
    if b.is_empty() {
        return Err(ClientError::InvalidArgument(format!(
            "{s:?} names no bucket (cyx://bucket/key)"
        )));
    }
    Ok((b.to_string(), k.to_string()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn uris_split_into_bucket_and_key() {
        assert_eq!(
            super::parse_uri("cyx://b/a/b c").unwrap(),
            ("b".into(), "a/b c".into())
        );
        assert_eq!(super::parse_uri("b").unwrap(), ("b".into(), "".into()));
        assert!(super::parse_uri("cyx:///k").is_err());
    }
}
