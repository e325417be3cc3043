//! CyxCloud wire protocols.
//!
//! - [`chunk`]: ChunkService, shard storage on nodes (gateway and clients call nodes).
//! - [`node`]: NodeService, registration and heartbeats (nodes call the gateway).
//! - [`metadata`]: bucket and object records.
//! - [`gateway`]: GatewayService, the rich client's upload/commit/download operations.
//! - [`codec`]: the prost codec every service uses, sized before it encodes.
//! - [`frames`]: messages sent with their shard as the caller's buffer, not a copy.
//! - [`limits`]: gRPC message size limits derived from chunk size and erasure profile.
//! - [`serve`]: process lifecycle shared by the servers (graceful-shutdown signals).
//!
//! Code is generated at build time from `proto/*.proto` with protox (no system protoc).

pub mod chunk {
    tonic::include_proto!("cyxcloud.chunk");
}
pub mod node {
    tonic::include_proto!("cyxcloud.node");
}
pub mod metadata {
    tonic::include_proto!("cyxcloud.metadata");
}
pub mod gateway {
    tonic::include_proto!("cyxcloud.gateway");
}

pub mod codec;
pub mod frames;
pub mod limits;
pub mod serve;

/// The message a node signs to register (NodeService.Register): proves it holds the key it
/// registers. Length-prefixed fields, so no two inputs share a message.
pub fn registration_message(node_id: &str, grpc_address: &str, timestamp: i64) -> Vec<u8> {
    let mut m = b"cyxcloud-register-v1".to_vec();
    for part in [node_id.as_bytes(), grpc_address.as_bytes()] {
        m.extend_from_slice(&(part.len() as u32).to_le_bytes());
        m.extend_from_slice(part);
    }
    m.extend_from_slice(&timestamp.to_le_bytes());
    m
}

impl From<cyxcloud_core::ChunkId> for chunk::ChunkId {
    fn from(id: cyxcloud_core::ChunkId) -> Self {
        chunk::ChunkId {
            hash: bytes::Bytes::copy_from_slice(&id.0),
        }
    }
}

impl TryFrom<&chunk::ChunkId> for cyxcloud_core::ChunkId {
    type Error = cyxcloud_core::Error;
    fn try_from(id: &chunk::ChunkId) -> Result<Self, Self::Error> {
        cyxcloud_core::ChunkId::from_slice(&id.hash)
    }
}

impl From<cyxcloud_core::ErasureProfile> for metadata::ErasureConfig {
    fn from(p: cyxcloud_core::ErasureProfile) -> Self {
        metadata::ErasureConfig {
            data_shards: p.data_shards() as u32,
            parity_shards: p.parity_shards() as u32,
        }
    }
}

impl TryFrom<&metadata::ErasureConfig> for cyxcloud_core::ErasureProfile {
    type Error = cyxcloud_core::Error;
    fn try_from(c: &metadata::ErasureConfig) -> Result<Self, Self::Error> {
        cyxcloud_core::ErasureProfile::new(c.data_shards as usize, c.parity_shards as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_and_profile_conversions() {
        let id = cyxcloud_core::ChunkId::of(b"x");
        let p: chunk::ChunkId = id.into();
        assert_eq!(cyxcloud_core::ChunkId::try_from(&p).unwrap(), id);
        assert!(
            cyxcloud_core::ChunkId::try_from(&chunk::ChunkId {
                hash: vec![1; 31].into()
            })
            .is_err()
        );
        let e: metadata::ErasureConfig = cyxcloud_core::ErasureProfile::EXTREME.into();
        assert_eq!((e.data_shards, e.parity_shards), (6, 10));
        assert!(
            cyxcloud_core::ErasureProfile::try_from(&metadata::ErasureConfig::default()).is_err()
        );
    }
}
