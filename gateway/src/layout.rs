//! How an object's data is laid out: one core manifest per part (a plain upload has one
//! part; a multipart upload one per part, each with its own object id and data key, so parts
//! never need re-encoding when they are combined).
//!
//! Binary form: "CYXL", u16 version (1), u32 part count, then per part a u32 length and the
//! core manifest bytes. Decoding validates every manifest.

use cyxcloud_core::Manifest;

use crate::error::{GatewayError, Result};

pub const LAYOUT_MAGIC: [u8; 4] = *b"CYXL";
pub const LAYOUT_VERSION: u16 = 1;
/// More parts than S3 allows is corrupt data.
const MAX_PARTS: u32 = 10_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub parts: Vec<Manifest>,
}

/// Where one chunk of a layout sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRef {
    pub part: usize,
    pub chunk: usize,
    /// Index across the whole object (shard locations are recorded under it).
    pub global: u64,
    /// Plaintext offset of the chunk's first byte in the object.
    pub offset: u64,
    pub len: u64,
}

impl Layout {
    pub fn single(m: Manifest) -> Self {
        Layout { parts: vec![m] }
    }

    pub fn size(&self) -> u64 {
        self.parts.iter().map(|m| m.size).sum()
    }

    pub fn stored_bytes(&self) -> u64 {
        self.parts.iter().map(|m| m.stored_bytes()).sum()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&LAYOUT_MAGIC);
        out.extend_from_slice(&LAYOUT_VERSION.to_le_bytes());
        out.extend_from_slice(&(self.parts.len() as u32).to_le_bytes());
        for m in &self.parts {
            let b = m.to_bytes();
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(&b);
        }
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let bad = |m: &str| GatewayError::Internal(format!("stored layout is corrupt: {m}"));
        if b.len() < 10 || b[..4] != LAYOUT_MAGIC {
            return Err(bad("magic"));
        }
        let version = u16::from_le_bytes([b[4], b[5]]);
        if version != LAYOUT_VERSION {
            return Err(bad("unknown version"));
        }
        let n = u32::from_le_bytes(b[6..10].try_into().expect("4 bytes"));
        if n > MAX_PARTS {
            return Err(bad("part count"));
        }
        let mut rest = &b[10..];
        let mut parts = Vec::with_capacity(n as usize);
        for _ in 0..n {
            if rest.len() < 4 {
                return Err(bad("truncated"));
            }
            let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
            rest = &rest[4..];
            if rest.len() < len {
                return Err(bad("truncated"));
            }
            parts.push(Manifest::from_bytes(&rest[..len]).map_err(|e| bad(&e.to_string()))?);
            rest = &rest[len..];
        }
        if !rest.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(Layout { parts })
    }

    /// Every chunk in order.
    pub fn chunks(&self) -> Vec<ChunkRef> {
        let mut out = Vec::new();
        let mut offset = 0;
        let mut global = 0;
        for (p, m) in self.parts.iter().enumerate() {
            for (c, e) in m.chunks.iter().enumerate() {
                out.push(ChunkRef {
                    part: p,
                    chunk: c,
                    global,
                    offset,
                    len: e.original_size,
                });
                offset += e.original_size;
                global += 1;
            }
        }
        out
    }

    /// The chunks that byte range `[start, end)` touches.
    pub fn chunks_for_range(&self, start: u64, end: u64) -> Vec<ChunkRef> {
        self.chunks()
            .into_iter()
            .filter(|c| c.offset < end && c.offset + c.len > start)
            .collect()
    }
}

/// A stored multipart part: its manifest and where its shards went (chunk indices local
/// to the part). Binary: "CYXP", u16 version, u32 manifest length, manifest, u32 shard
/// count, then per shard u64 chunk, u32 shard, 32-byte id, u16 node id length, node id.
#[derive(Clone, Debug, PartialEq)]
pub struct PartRecord {
    pub manifest: Manifest,
    pub shards: Vec<crate::db::ShardLoc>,
}

impl PartRecord {
    pub fn to_bytes(&self) -> Vec<u8> {
        let m = self.manifest.to_bytes();
        let mut out = Vec::with_capacity(m.len() + self.shards.len() * 64 + 16);
        out.extend_from_slice(b"CYXP");
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&(m.len() as u32).to_le_bytes());
        out.extend_from_slice(&m);
        out.extend_from_slice(&(self.shards.len() as u32).to_le_bytes());
        for s in &self.shards {
            out.extend_from_slice(&s.chunk_index.to_le_bytes());
            out.extend_from_slice(&s.shard_index.to_le_bytes());
            out.extend_from_slice(&s.shard_id);
            out.extend_from_slice(&(s.node_id.len() as u16).to_le_bytes());
            out.extend_from_slice(s.node_id.as_bytes());
        }
        out
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let bad = || GatewayError::Internal("stored part record is corrupt".into());
        let mut r = b;
        let mut take = |n: usize| -> Result<&[u8]> {
            if r.len() < n {
                return Err(bad());
            }
            let (a, rest) = r.split_at(n);
            r = rest;
            Ok(a)
        };
        if take(4)? != b"CYXP" || take(2)? != 1u16.to_le_bytes() {
            return Err(bad());
        }
        let mlen = u32::from_le_bytes(take(4)?.try_into().expect("4")) as usize;
        let manifest = Manifest::from_bytes(take(mlen)?).map_err(|_| bad())?;
        let n = u32::from_le_bytes(take(4)?.try_into().expect("4"));
        let mut shards = Vec::new();
        for _ in 0..n {
            let chunk_index = u64::from_le_bytes(take(8)?.try_into().expect("8"));
            let shard_index = u32::from_le_bytes(take(4)?.try_into().expect("4"));
            let shard_id: [u8; 32] = take(32)?.try_into().expect("32");
            let l = u16::from_le_bytes(take(2)?.try_into().expect("2")) as usize;
            let node_id = String::from_utf8(take(l)?.to_vec()).map_err(|_| bad())?;
            shards.push(crate::db::ShardLoc {
                chunk_index,
                shard_index,
                shard_id,
                node_id,
            });
        }
        if !r.is_empty() {
            return Err(bad());
        }
        Ok(PartRecord { manifest, shards })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cyxcloud_core::pipeline::{ChunkEncoder, ChunkOptions};
    use cyxcloud_core::{ErasureProfile, ObjectId};

    fn manifest(sizes: &[usize]) -> Manifest {
        let p = ErasureProfile::new(2, 1).unwrap();
        let id = ObjectId::random();
        let mut m = Manifest::new(id, p, 1000, None, "x");
        let mut enc = ChunkEncoder::new(p).unwrap();
        for (i, &s) in sizes.iter().enumerate() {
            let data = vec![i as u8; s];
            let e = enc
                .encode(
                    &id,
                    i as u64,
                    &data,
                    ChunkOptions {
                        compress: false,
                        key: None,
                    },
                )
                .unwrap();
            m.push_chunk(e.entry.clone());
        }
        m
    }

    #[test]
    fn round_trip_and_ranges() {
        let l = Layout {
            parts: vec![manifest(&[1000, 500]), manifest(&[]), manifest(&[10])],
        };
        let b = l.to_bytes();
        assert_eq!(Layout::from_bytes(&b).unwrap(), l);
        assert_eq!(l.size(), 1510);
        let all = l.chunks();
        assert_eq!(all.len(), 3);
        assert_eq!(
            (all[2].part, all[2].chunk, all[2].global, all[2].offset),
            (2, 0, 2, 1500)
        );
        let r = l.chunks_for_range(999, 1001);
        assert_eq!(r.iter().map(|c| c.global).collect::<Vec<_>>(), [0, 1]);
        assert!(l.chunks_for_range(1510, 2000).is_empty());
        for cut in 0..b.len() {
            assert!(Layout::from_bytes(&b[..cut]).is_err());
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(Layout::from_bytes(&longer).is_err());
    }

    #[test]
    fn part_records_round_trip() {
        let p = PartRecord {
            manifest: manifest(&[100]),
            shards: vec![crate::db::ShardLoc {
                chunk_index: 0,
                shard_index: 2,
                shard_id: [7; 32],
                node_id: "node-x".into(),
            }],
        };
        let b = p.to_bytes();
        assert_eq!(PartRecord::from_bytes(&b).unwrap(), p);
        for cut in 0..b.len() {
            assert!(PartRecord::from_bytes(&b[..cut]).is_err());
        }
    }
}
