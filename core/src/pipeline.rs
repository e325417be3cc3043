//! The chunk pipeline: compress -> encrypt -> erasure code, and back.
//!
//! Design notes:
//! - One buffer per encoder holds the whole stripe set: the chunk blob (header + data) is
//!   built in place at the start of the buffer, which is also the run of `k` data shards;
//!   parity shards follow. Nothing is copied between stages, and buffers are reused across
//!   chunks (allocating 100+ MiB per chunk costs more in page faults than the coding).
//! - Ids are hashes of stored bytes only: the chunk id is BLAKE3 of the encrypted data and
//!   each shard id is BLAKE3 of the shard.
//! - Decoding verifies each shard against its id before use, so a corrupt shard counts as
//!   missing and can never leak into the output; the rebuilt blob is checked against the
//!   content hash and, when encrypted, the GCM tag.

use std::io::Read;

use crate::buffers::BufferPool;
use crate::compress;
use crate::crypto::{self, TAG_LEN};
use crate::erasure::{ErasureCoder, ErasureProfile};
use crate::error::{Error, Result};
use crate::format::{self, ChunkHeader, FORMAT_VERSION, Flags, HEADER_LEN, MAX_CHUNK_SIZE};
use crate::id::{ChunkId, ObjectId};
use crate::keys::DataKey;
use crate::manifest::{ChunkEntry, Nonce};

/// The specification's default chunk size, 64 MiB.
pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024 * 1024;

/// What to do to each chunk besides erasure coding.
#[derive(Clone, Copy, Debug)]
pub struct ChunkOptions<'a> {
    /// Try LZ4 (skipped automatically for incompressible data).
    pub compress: bool,
    /// Encrypt with this object's data key.
    pub key: Option<&'a DataKey>,
}

/// Grow `buf` to at least `len` bytes; never shrinks, so steady state allocates nothing.
fn ensure_len(buf: &mut Vec<u8>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0);
    }
}

/// Encodes chunks of one profile, reusing its buffers.
pub struct ChunkEncoder {
    coder: ErasureCoder,
    buf: Vec<u8>,
    compressed: Vec<u8>,
}

/// The result of encoding one chunk: its manifest entry and its shards, borrowed from the
/// encoder until the next call.
pub struct EncodedChunk<'a> {
    pub entry: ChunkEntry,
    buf: &'a [u8],
}

impl EncodedChunk<'_> {
    pub fn shard_count(&self) -> usize {
        self.entry.shards.len()
    }
    /// Shard `i` (data shards first).
    pub fn shard(&self, i: usize) -> &[u8] {
        let len = self.entry.shard_size as usize;
        &self.buf[i * len..(i + 1) * len]
    }
    /// Every shard with its id.
    pub fn shards(&self) -> impl Iterator<Item = (ChunkId, &[u8])> {
        self.entry
            .shards
            .iter()
            .copied()
            .zip(self.buf.chunks_exact(self.entry.shard_size as usize))
    }
    /// Owned copies of the shards, for callers that send them concurrently.
    pub fn to_owned_shards(&self) -> Vec<Vec<u8>> {
        self.shards().map(|(_, s)| s.to_vec()).collect()
    }
}

/// Hashes shard 0, whose first bytes (the chunk header) are written last, without reading
/// the shard twice. BLAKE3 is a tree over 1 KiB chunks: only the leftmost chunk holds the
/// header, so the subtrees beside the tree's leftmost path (`[1K, 2K)`, `[2K, 4K)`, ...,
/// `[l/2, l)` and the root's right half `[l, len)`) are hashed as their bytes are produced,
/// and once the header is in place the first chunk is hashed and merged up that path.
struct HeadShardHasher {
    /// The subtrees beside the leftmost path, in order: (start offset, end offset, hasher).
    parts: Vec<(usize, usize, blake3::Hasher)>,
    /// Index in `parts` of the subtree being fed.
    current: usize,
}

impl HeadShardHasher {
    /// For a shard of `len` bytes; `None` when the shard is a single BLAKE3 chunk or less
    /// (then it is simply hashed whole once complete).
    fn new(len: usize) -> Option<Self> {
        use blake3::hazmat::{HasherExt, left_subtree_len};
        if len <= blake3::CHUNK_LEN {
            return None;
        }
        let left = left_subtree_len(len as u64) as usize;
        let mut parts = Vec::new();
        let mut start = blake3::CHUNK_LEN;
        while start < left {
            parts.push((start, 2 * start));
            start *= 2;
        }
        parts.push((left, len));
        let parts = parts
            .into_iter()
            .map(|(a, b)| {
                let mut h = blake3::Hasher::new();
                h.set_input_offset(a as u64);
                (a, b, h)
            })
            .collect();
        Some(Self { parts, current: 0 })
    }

    /// Feed the bytes at `offset` of the shard, in order; bytes of the first chunk are
    /// ignored (they are read again in `finish`).
    fn update(&mut self, mut offset: usize, mut bytes: &[u8]) {
        if offset < blake3::CHUNK_LEN {
            let skip = bytes.len().min(blake3::CHUNK_LEN - offset);
            offset += skip;
            bytes = &bytes[skip..];
        }
        while !bytes.is_empty() {
            let (_, end, h) = &mut self.parts[self.current];
            let take = bytes.len().min(*end - offset);
            h.update(&bytes[..take]);
            offset += take;
            bytes = &bytes[take..];
            if offset == *end {
                self.current += 1;
            }
        }
    }

    /// The shard's id, given its first BLAKE3 chunk, once every other byte was fed.
    fn finish(&self, first_chunk: &[u8]) -> ChunkId {
        use blake3::hazmat::{HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root};
        debug_assert_eq!(first_chunk.len(), blake3::CHUNK_LEN);
        let mut cv = blake3::Hasher::new()
            .update(first_chunk)
            .finalize_non_root();
        let (root_right, path) = self.parts.split_last().expect("at least one part");
        for (_, _, h) in path {
            cv = merge_subtrees_non_root(&cv, &h.finalize_non_root(), Mode::Hash);
        }
        let root = merge_subtrees_root(&cv, &root_right.2.finalize_non_root(), Mode::Hash);
        ChunkId(*root.as_bytes())
    }
}

/// The hashers of a chunk's shards while it is encoded.
struct ShardHashers {
    /// Shard 0's hasher when the header fits in its first BLAKE3 chunk.
    head: Option<HeadShardHasher>,
    /// One per shard; shards that hold part of the header and have no `head` hasher are
    /// hashed whole once the header is written.
    all: Vec<blake3::Hasher>,
    shard_len: usize,
}

impl ShardHashers {
    fn new(total_shards: usize, shard_len: usize) -> Self {
        Self {
            head: HeadShardHasher::new(shard_len),
            all: (0..total_shards).map(|_| blake3::Hasher::new()).collect(),
            shard_len,
        }
    }

    /// Shards (from 0) whose bytes must be hashed whole after the header is written.
    fn late_shards(&self) -> usize {
        if self.head.is_some() {
            0
        } else {
            HEADER_LEN.div_ceil(self.shard_len)
        }
    }

    /// Feed `bytes`, which sit at `offset` of the data-shard run, to the hashers of the data
    /// shards they fall in.
    fn update_data(&mut self, mut offset: usize, mut bytes: &[u8]) {
        let shard_len = self.shard_len;
        let late = self.late_shards();
        while !bytes.is_empty() {
            let shard = offset / shard_len;
            let take = bytes.len().min((shard + 1) * shard_len - offset);
            match &mut self.head {
                Some(head) if shard == 0 => head.update(offset, &bytes[..take]),
                _ if shard >= late => {
                    self.all[shard].update(&bytes[..take]);
                }
                _ => {}
            }
            offset += take;
            bytes = &bytes[take..];
        }
    }

    /// The shard ids, once the header is in `stripes` and parity shards were fed.
    fn finish(mut self, stripes: &[u8]) -> Vec<ChunkId> {
        let late = self.late_shards();
        for (i, shard) in stripes.chunks_exact(self.shard_len).take(late).enumerate() {
            self.all[i].update(shard);
        }
        let mut ids: Vec<ChunkId> = self
            .all
            .iter()
            .map(|h| ChunkId(*h.finalize().as_bytes()))
            .collect();
        if let Some(head) = &self.head {
            ids[0] = head.finish(&stripes[..blake3::CHUNK_LEN]);
        }
        ids
    }
}

impl ChunkEncoder {
    pub fn new(profile: ErasureProfile) -> Result<Self> {
        Ok(Self {
            coder: ErasureCoder::new(profile)?,
            buf: Vec::new(),
            compressed: Vec::new(),
        })
    }

    pub fn profile(&self) -> ErasureProfile {
        self.coder.profile()
    }

    /// Bytes of buffer memory held between calls.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.capacity() + self.compressed.capacity()
    }

    /// Offer a buffer (from a [`BufferPool`](crate::buffers::BufferPool)) to build the next
    /// chunk's shards in; kept when larger than the one held, so a caller of
    /// [`encode_owned`](Self::encode_owned) need not fault in a fresh buffer per chunk.
    pub fn reuse_buffer(&mut self, buf: Vec<u8>) {
        if buf.capacity() > self.buf.capacity() {
            self.buf = buf;
        }
    }

    /// Encode chunk `index` of `object` into shards.
    ///
    /// Two passes over cache-sized pieces: (1) per 256 KiB segment, copy the payload into
    /// place, seal it, and hash it into the content hash and its data shard's hash; (2) per
    /// erasure stripe, compute parity and hash it. Each byte is pulled from memory about
    /// twice instead of once per stage.
    pub fn encode(
        &mut self,
        object: &ObjectId,
        index: u64,
        plaintext: &[u8],
        opts: ChunkOptions<'_>,
    ) -> Result<EncodedChunk<'_>> {
        let n = plaintext.len();
        if n == 0 {
            return Err(Error::SizeMismatch {
                what: "chunk length",
                expected: 1,
                actual: 0,
            });
        }
        if n as u64 > MAX_CHUNK_SIZE {
            return Err(Error::ChunkTooLarge(n as u64));
        }
        let Self {
            coder,
            buf,
            compressed,
        } = self;
        let profile = coder.profile();
        let (k, total_shards) = (profile.data_shards(), profile.total_shards());

        let mut flags = Flags::VERIFIED;
        let mut payload = plaintext;
        if opts.compress && !compress::probably_incompressible(plaintext) {
            ensure_len(compressed, compress::max_compressed_len(n));
            if let Some(c) = compress::compress_probed_into(plaintext, compressed) {
                flags.set(Flags::COMPRESSED, true);
                payload = &compressed[..c];
            }
        }
        flags.set(Flags::ENCRYPTED, opts.key.is_some());
        let stored = if opts.key.is_some() {
            crypto::sealed_len(payload.len())
        } else {
            payload.len()
        };
        let blob_len = HEADER_LEN + stored;
        let shard_len = profile.shard_len(blob_len);
        let total = shard_len * total_shards;
        ensure_len(buf, total);
        let stripes = &mut buf[..total];

        let mut hashers = ShardHashers::new(total_shards, shard_len);
        let mut content = blake3::Hasher::new();
        let sealing = opts
            .key
            .map(|key| (key.chunk_key(object, index), crypto::random_nonce()));
        let mut pos = HEADER_LEN;
        for (segment, piece) in payload.chunks(crypto::SEGMENT).enumerate() {
            let start = pos;
            stripes[pos..pos + piece.len()].copy_from_slice(piece);
            pos += piece.len();
            if let Some((chunk_key, nonce)) = &sealing {
                let seg = segment as u32;
                let aad = crypto::chunk_aad(flags, n as u64, stored as u64, object, index, seg);
                let iv = crypto::segment_nonce(nonce, seg);
                let tag = crypto::seal_in_place(chunk_key, &iv, &aad, &mut stripes[start..pos]);
                stripes[pos..pos + TAG_LEN].copy_from_slice(&tag);
                pos += TAG_LEN;
            }
            content.update(&stripes[start..pos]);
            hashers.update_data(start, &stripes[start..pos]);
        }
        debug_assert_eq!(pos, blob_len);
        let data_end = k * shard_len;
        stripes[blob_len..data_end].fill(0);
        hashers.update_data(blob_len, &stripes[blob_len..data_end]);

        let content_hash = ChunkId(*content.finalize().as_bytes());
        let header = ChunkHeader {
            version: FORMAT_VERSION,
            flags,
            original_size: n as u64,
            stored_size: stored as u64,
            content_hash,
        };
        header.write(
            (&mut stripes[..HEADER_LEN])
                .try_into()
                .expect("header slice"),
        );
        coder.encode_with(stripes, shard_len, |i, piece| {
            hashers.all[i].update(piece);
        })?;
        let shards = hashers.finish(stripes);

        Ok(EncodedChunk {
            entry: ChunkEntry {
                index,
                original_size: n as u64,
                stored_size: stored as u64,
                flags,
                nonce: sealing.map(|(_, nonce)| Nonce(nonce)),
                chunk_id: content_hash,
                shard_size: shard_len as u64,
                shards,
            },
            buf: &buf[..total],
        })
    }
}

impl ChunkEncoder {
    /// Like [`encode`](Self::encode), but hands over the shard buffer (the k+m shards of
    /// `entry.shard_size` bytes, back to back) instead of lending it, so shards can be sent
    /// while the next chunk is encoded. The encoder allocates a fresh buffer next time.
    pub fn encode_owned(
        &mut self,
        object: &ObjectId,
        index: u64,
        plaintext: &[u8],
        opts: ChunkOptions<'_>,
    ) -> Result<(ChunkEntry, Vec<u8>)> {
        let entry = self.encode(object, index, plaintext, opts)?.entry;
        let total = entry.shard_size as usize * entry.shards.len();
        let mut buf = std::mem::take(&mut self.buf);
        buf.truncate(total);
        Ok((entry, buf))
    }
}

/// A decoded chunk: plaintext borrowed from the decoder, and the shards that failed
/// verification (to be reported for repair).
pub struct DecodedChunk<'a> {
    pub data: &'a [u8],
    pub corrupt: Vec<usize>,
}

/// How [`ChunkDecoder::decode`] checks the shards it copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ShardCheck {
    /// Not one by one: the chunk's own checks cover every byte of the shards used.
    Whole,
    /// Each shard against its id, so that corrupt ones are named and left out.
    EachShard,
}

/// Where a decode left the plaintext: `out` (decompressed) or `buf`, at `range`.
struct Placed {
    in_out: bool,
    range: std::ops::Range<usize>,
    corrupt: Vec<usize>,
}

/// Copy `src` into `dst` and hash it on the way, in pieces that stay in cache, so the shard
/// is pulled from memory once. True when it hashes to `id`; `dst` is garbage otherwise.
fn copy_verified(src: &[u8], dst: &mut [u8], id: &ChunkId) -> bool {
    const PIECE: usize = 64 * 1024;
    let mut h = blake3::Hasher::new();
    for (d, s) in dst.chunks_mut(PIECE).zip(src.chunks(PIECE)) {
        d.copy_from_slice(s);
        h.update(d);
    }
    ChunkId(*h.finalize().as_bytes()).ct_eq(id)
}

/// Decodes chunks of one profile, reusing its buffers.
pub struct ChunkDecoder {
    coder: ErasureCoder,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl ChunkDecoder {
    pub fn new(profile: ErasureProfile) -> Result<Self> {
        Ok(Self {
            coder: ErasureCoder::new(profile)?,
            buf: Vec::new(),
            out: Vec::new(),
        })
    }

    /// Offer a buffer (from a [`BufferPool`](crate::buffers::BufferPool)) for the next
    /// decode, replacing one that [`decode_owned`](Self::decode_owned) handed over.
    pub fn reuse_buffer(&mut self, buf: Vec<u8>) {
        if buf.capacity() > self.buf.capacity() {
            self.buf = buf;
        } else if buf.capacity() > self.out.capacity() {
            self.out = buf;
        }
    }

    /// The buffers the decoder holds (to return to a pool before dropping it).
    pub fn take_buffers(&mut self) -> [Vec<u8>; 2] {
        [std::mem::take(&mut self.buf), std::mem::take(&mut self.out)]
    }

    /// Decode one chunk from whichever shards are at hand (`None` for missing ones). Only
    /// the first `k` usable shards are used.
    ///
    /// The shards are first taken as they are, unhashed: the chunk checks itself, and that
    /// covers every byte of the `k` shards used. The header is compared field by field with
    /// the entry (its reserved bytes must be zero), the data is authenticated by its GCM tags
    /// (or, for a plain chunk, by its content hash), and the erasure padding must be zero.
    /// A wrong byte in a data shard lands in one of those; a wrong byte in a parity shard
    /// used for a rebuild changes at least one rebuilt byte at the same offset (with an MDS
    /// code, no `k - 1` shards determine the data). Only if that fails is each shard checked
    /// against its id, so that the corrupt ones are named and left out. A healthy chunk costs
    /// one pass of the chunk's own check instead of a BLAKE3 pass over every shard as well.
    pub fn decode<'s>(
        &'s mut self,
        object: &ObjectId,
        entry: &ChunkEntry,
        shards: &[Option<&[u8]>],
        key: Option<&DataKey>,
    ) -> Result<DecodedChunk<'s>> {
        let placed = self.place(object, entry, shards, key)?;
        let buf = if placed.in_out { &self.out } else { &self.buf };
        Ok(DecodedChunk {
            data: &buf[placed.range],
            corrupt: placed.corrupt,
        })
    }

    /// [`decode`](Self::decode), telling which buffer holds the plaintext and where.
    fn place(
        &mut self,
        object: &ObjectId,
        entry: &ChunkEntry,
        shards: &[Option<&[u8]>],
        key: Option<&DataKey>,
    ) -> Result<Placed> {
        let profile = self.coder.profile();
        let total = profile.total_shards();
        if shards.len() != total || entry.shards.len() != total {
            return Err(Error::Erasure(format!(
                "{} shards offered and {} ids for profile {profile}",
                shards.len(),
                entry.shards.len()
            )));
        }
        let shard_len = entry.shard_size as usize;
        let expect_len = profile.shard_len(HEADER_LEN + entry.stored_size as usize);
        if shard_len != expect_len
            || entry.stored_size > crypto::sealed_len(MAX_CHUNK_SIZE as usize) as u64
        {
            return Err(Error::SizeMismatch {
                what: "shard size",
                expected: expect_len as u64,
                actual: shard_len as u64,
            });
        }
        if entry.flags.encrypted() && (key.is_none() || entry.nonce.is_none()) {
            return Err(Error::KeyRequired);
        }
        match self.decode_checked(object, entry, shards, key, ShardCheck::Whole) {
            Ok(p) => Ok(p),
            // Some shard is wrong (or the key is): find out which, one by one.
            Err(_) => self.decode_checked(object, entry, shards, key, ShardCheck::EachShard),
        }
    }

    /// [`decode`](Self::decode) with the shards checked as `check` says, once the entry's
    /// sizes are known to be sound.
    fn decode_checked(
        &mut self,
        object: &ObjectId,
        entry: &ChunkEntry,
        shards: &[Option<&[u8]>],
        key: Option<&DataKey>,
        check: ShardCheck,
    ) -> Result<Placed> {
        let profile = self.coder.profile();
        let (k, total) = (profile.data_shards(), profile.total_shards());
        let shard_len = entry.shard_size as usize;
        ensure_len(&mut self.buf, shard_len * total);
        let stripes = &mut self.buf[..shard_len * total];

        let mut present = vec![false; total];
        let mut corrupt = Vec::new();
        let mut valid = 0;
        for (i, shard) in shards.iter().enumerate() {
            if valid == k {
                break;
            }
            let Some(s) = shard else { continue };
            let dst = &mut stripes[i * shard_len..(i + 1) * shard_len];
            let ok = s.len() == shard_len
                && match check {
                    ShardCheck::Whole => {
                        dst.copy_from_slice(s);
                        true
                    }
                    ShardCheck::EachShard => copy_verified(s, dst, &entry.shards[i]),
                };
            if ok {
                present[i] = true;
                valid += 1;
            } else {
                corrupt.push(i);
            }
        }
        if valid < k {
            return Err(Error::NotEnoughShards {
                index: entry.index,
                needed: k,
                valid,
                corrupt: corrupt.len(),
            });
        }
        self.coder.reconstruct(stripes, shard_len, &present, true)?;

        let blob_region = &mut stripes[..k * shard_len];
        let header = ChunkHeader::parse(blob_region)?;
        let blob_len = format::blob_len(&header) as usize;
        if blob_len > blob_region.len() || blob_region[blob_len..].iter().any(|&b| b != 0) {
            return Err(Error::SizeMismatch {
                what: "chunk length within its shards",
                expected: blob_region.len() as u64,
                actual: blob_len as u64,
            });
        }
        // An encrypted chunk's data is authenticated by its GCM tags below, which covers
        // everything the content hash would (and binds the chunk's place in its object too).
        // A plain chunk is checked against its content hash.
        if header.flags.encrypted() {
            format::parse_chunk_unhashed(&blob_region[..blob_len])?;
        } else {
            format::parse_chunk(&blob_region[..blob_len])?;
        }
        if !header.content_hash.ct_eq(&entry.chunk_id)
            || header.flags != entry.flags
            || header.original_size != entry.original_size
            || header.stored_size != entry.stored_size
        {
            return Err(Error::HashMismatch {
                expected: entry.chunk_id,
                actual: header.content_hash,
            });
        }

        let data = &mut blob_region[HEADER_LEN..blob_len];
        let plain_len = if header.flags.encrypted() {
            let key = key.ok_or(Error::KeyRequired)?;
            let nonce = entry.nonce.ok_or(Error::KeyRequired)?;
            let chunk_key = key.chunk_key(object, entry.index);
            // Open each segment in place and slide its plaintext down over the tags before it.
            let (mut src, mut dst, mut segment) = (0usize, 0usize, 0u32);
            while src < data.len() {
                let sealed = (crypto::SEGMENT + TAG_LEN).min(data.len() - src);
                let aad = crypto::chunk_aad(
                    header.flags,
                    header.original_size,
                    header.stored_size,
                    object,
                    entry.index,
                    segment,
                );
                let iv = crypto::segment_nonce(&nonce.0, segment);
                let opened =
                    crypto::open_in_place(&chunk_key, &iv, &aad, &mut data[src..src + sealed])?
                        .len();
                data.copy_within(src..src + opened, dst);
                src += sealed;
                dst += opened;
                segment += 1;
            }
            dst
        } else {
            data.len()
        };
        let plain = &data[..plain_len];

        let original = header.original_size as usize;
        if header.flags.compressed() {
            ensure_len(&mut self.out, original);
            compress::decompress_into(plain, &mut self.out[..original])?;
            Ok(Placed {
                in_out: true,
                range: 0..original,
                corrupt,
            })
        } else if plain_len != original {
            Err(Error::SizeMismatch {
                what: "plaintext length",
                expected: original as u64,
                actual: plain_len as u64,
            })
        } else {
            Ok(Placed {
                in_out: false,
                range: HEADER_LEN..HEADER_LEN + plain_len,
                corrupt,
            })
        }
    }

    /// [`decode`](Self::decode), handing over the buffer that holds the plaintext instead of
    /// lending it: the plaintext is `buffer[range]`, and no copy is made. The decoder
    /// allocates afresh on its next use.
    pub fn decode_owned(
        &mut self,
        object: &ObjectId,
        entry: &ChunkEntry,
        shards: &[Option<&[u8]>],
        key: Option<&DataKey>,
    ) -> Result<OwnedChunk> {
        let placed = self.place(object, entry, shards, key)?;
        let buffer = std::mem::take(if placed.in_out {
            &mut self.out
        } else {
            &mut self.buf
        });
        Ok(OwnedChunk {
            buffer,
            range: placed.range,
            corrupt: placed.corrupt,
        })
    }
}

impl ChunkDecoder {
    /// [`decode_owned`](Self::decode_owned) with buffers from `pool`: the plaintext comes
    /// back as `Bytes` that return their buffer to the pool when dropped, and the buffers the
    /// decoder kept go back at once. Also returns the shards that failed verification.
    pub fn decode_pooled(
        &mut self,
        pool: &BufferPool,
        object: &ObjectId,
        entry: &ChunkEntry,
        shards: &[Option<&[u8]>],
        key: Option<&DataKey>,
    ) -> Result<(bytes::Bytes, Vec<usize>)> {
        self.reuse_buffer(pool.take(entry.shard_size as usize * shards.len()));
        let r = self.decode_owned(object, entry, shards, key);
        self.take_buffers().into_iter().for_each(|b| pool.give(b));
        let out = r?;
        Ok((pool.bytes(out.buffer).slice(out.range), out.corrupt))
    }
}

/// Bytes of shards a chunk of `len` plaintext bytes can take at most (stored as is, sealed,
/// behind its header): what to reserve for [`ChunkEncoder::encode_owned`].
pub fn max_encoded_len(profile: ErasureProfile, len: usize) -> usize {
    profile.shard_len(HEADER_LEN + crypto::sealed_len(len)) * profile.total_shards()
}

/// A decoded chunk that owns its buffer: the plaintext is `buffer[range]`.
pub struct OwnedChunk {
    pub buffer: Vec<u8>,
    pub range: std::ops::Range<usize>,
    /// Shards that failed verification (to be reported for repair).
    pub corrupt: Vec<usize>,
}

/// Streams a reader into encoded chunks with memory bounded by one chunk of input plus one
/// set of shards, whatever the object size.
pub struct StreamEncoder<R> {
    reader: R,
    object: ObjectId,
    key: Option<DataKey>,
    compress: bool,
    chunk_size: usize,
    input: Vec<u8>,
    encoder: ChunkEncoder,
    next_index: u64,
    total: u64,
    done: bool,
}

impl<R: Read> StreamEncoder<R> {
    pub fn new(
        reader: R,
        object: ObjectId,
        profile: ErasureProfile,
        chunk_size: usize,
        key: Option<DataKey>,
        compress: bool,
    ) -> Result<Self> {
        if chunk_size == 0 || chunk_size as u64 > MAX_CHUNK_SIZE {
            return Err(Error::ChunkTooLarge(chunk_size as u64));
        }
        Ok(Self {
            reader,
            object,
            key,
            compress,
            chunk_size,
            input: Vec::new(),
            encoder: ChunkEncoder::new(profile)?,
            next_index: 0,
            total: 0,
            done: false,
        })
    }

    /// Bytes of buffer memory held: one chunk of input plus the encoder's stripe set.
    pub fn buffered_bytes(&self) -> usize {
        self.input.capacity() + self.encoder.buffered_bytes()
    }

    /// Plaintext bytes consumed so far.
    pub fn bytes_read(&self) -> u64 {
        self.total
    }

    /// The next encoded chunk, or `None` at end of input.
    pub fn next_chunk(&mut self) -> Result<Option<EncodedChunk<'_>>> {
        if self.done {
            return Ok(None);
        }
        ensure_len(&mut self.input, self.chunk_size);
        let mut filled = 0;
        while filled < self.chunk_size {
            match self.reader.read(&mut self.input[filled..self.chunk_size]) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Read(e.to_string())),
            }
        }
        if filled == 0 {
            return Ok(None);
        }
        let index = self.next_index;
        self.next_index += 1;
        self.total += filled as u64;
        let opts = ChunkOptions {
            compress: self.compress,
            key: self.key.as_ref(),
        };
        self.encoder
            .encode(&self.object, index, &self.input[..filled], opts)
            .map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ids_match_shards_even_when_shards_are_shorter_than_the_header() {
        // Regression: with 64-byte shards the header spills into shard 1.
        let key = DataKey::generate();
        let obj = ObjectId::random();
        let mut enc = ChunkEncoder::new(ErasureProfile::BASIC).unwrap();
        for n in [1usize, 10, 100, 300, 700, 1000, 5000] {
            let data: Vec<u8> = (0..n).map(|i| (i * 7 % 256) as u8).collect();
            for opts in [
                ChunkOptions {
                    compress: false,
                    key: None,
                },
                ChunkOptions {
                    compress: true,
                    key: Some(&key),
                },
            ] {
                let c = enc.encode(&obj, 0, &data, opts).unwrap();
                for (i, (id, s)) in c.shards().enumerate() {
                    assert_eq!(id, ChunkId::of(s), "n={n} shard {i} of {} bytes", s.len());
                }
            }
        }
    }

    #[test]
    fn head_shard_hasher_matches_blake3_for_every_tree_shape() {
        // Lengths around every power of two of BLAKE3 chunks, fed in uneven pieces.
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 31 % 253) as u8).collect();
        let mut lens = vec![1025, 1100, 2047, 2048, 2049, 3000, 4095, 4096, 4097, 70_000];
        for p in 11..16 {
            lens.extend([(1 << p) - 1, 1 << p, (1 << p) + 1, (1 << p) + 1024]);
        }
        for len in lens {
            let shard = &data[..len];
            for piece in [1, 100, 1000, 1024, 4096, 50_000] {
                let mut h = HeadShardHasher::new(len).unwrap();
                let mut at = 0;
                for p in shard.chunks(piece) {
                    h.update(at, p);
                    at += p.len();
                }
                let got = h.finish(&shard[..blake3::CHUNK_LEN]);
                assert_eq!(got, ChunkId::of(shard), "len {len}, pieces of {piece}");
            }
        }
        assert!(HeadShardHasher::new(1024).is_none());
    }

    #[test]
    fn owned_shards_match_their_ids_and_decode() {
        let key = DataKey::generate();
        let obj = ObjectId::random();
        let mut enc = ChunkEncoder::new(ErasureProfile::BASIC).unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let opts = ChunkOptions {
            compress: true,
            key: Some(&key),
        };
        let (entry, buf) = enc.encode_owned(&obj, 3, &data, opts).unwrap();
        // The next encode must not disturb the handed-over shards.
        let (_, _) = enc.encode_owned(&obj, 4, &data[..500], opts).unwrap();
        let len = entry.shard_size as usize;
        assert_eq!(buf.len(), len * entry.shards.len());
        let shards: Vec<Option<&[u8]>> = buf.chunks(len).map(Some).collect();
        for (id, s) in entry.shards.iter().zip(&shards) {
            assert_eq!(*id, ChunkId::of(s.unwrap()));
        }
        let mut dec = ChunkDecoder::new(ErasureProfile::BASIC).unwrap();
        let out = dec.decode(&obj, &entry, &shards, Some(&key)).unwrap();
        assert_eq!(out.data, &data[..]);
    }

    #[test]
    fn owned_decode_hands_over_the_plaintext_of_every_kind_of_chunk() {
        let key = DataKey::generate();
        let obj = ObjectId::random();
        let mut enc = ChunkEncoder::new(ErasureProfile::BASIC).unwrap();
        let mut dec = ChunkDecoder::new(ErasureProfile::BASIC).unwrap();
        let text: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut noise = vec![0u8; 70_000];
        getrandom::fill(&mut noise).unwrap();
        for data in [&text[..], &noise[..], &text[..1]] {
            for (compress, key) in [(false, None), (true, Some(&key)), (true, None)] {
                let opts = ChunkOptions { compress, key };
                let (entry, buf) = enc.encode_owned(&obj, 1, data, opts).unwrap();
                let len = entry.shard_size as usize;
                // Lose a data shard so the plaintext is rebuilt, not just read.
                let shards: Vec<Option<&[u8]>> = buf
                    .chunks(len)
                    .enumerate()
                    .map(|(i, s)| (i != 0).then_some(s))
                    .collect();
                let out = dec.decode_owned(&obj, &entry, &shards, key).unwrap();
                assert_eq!(&out.buffer[out.range.clone()], data);
                assert!(out.corrupt.is_empty());
                // The decoder stays usable after handing its buffer over.
                let again = dec.decode(&obj, &entry, &shards, key).unwrap();
                assert_eq!(again.data, data);
            }
        }
    }

    #[test]
    fn small_chunks_are_not_padded_to_the_chunk_size() {
        let mut enc = ChunkEncoder::new(ErasureProfile::STANDARD).unwrap();
        let obj = ObjectId::random();
        let data = vec![7u8; 1024];
        let c = enc
            .encode(
                &obj,
                0,
                &data,
                ChunkOptions {
                    compress: false,
                    key: None,
                },
            )
            .unwrap();
        assert!(
            c.entry.shard_size <= 256,
            "shard of {} bytes for a 1 KiB chunk",
            c.entry.shard_size
        );
        assert_eq!(c.shard_count(), 14);
    }

    #[test]
    fn encrypted_chunk_round_trips_with_lost_and_corrupt_shards() {
        let profile = ErasureProfile::BASIC;
        let mut enc = ChunkEncoder::new(profile).unwrap();
        let mut dec = ChunkDecoder::new(profile).unwrap();
        let obj = ObjectId::random();
        let key = DataKey::generate();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 7) as u8).collect();
        let c = enc
            .encode(
                &obj,
                3,
                &data,
                ChunkOptions {
                    compress: true,
                    key: Some(&key),
                },
            )
            .unwrap();
        assert!(c.entry.flags.compressed() && c.entry.flags.encrypted());
        let entry = c.entry.clone();
        let mut shards = c.to_owned_shards();
        shards[1][5] ^= 0x40; // corrupt
        let offered: Vec<Option<&[u8]>> = shards
            .iter()
            .enumerate()
            .map(|(i, s)| (i != 0 && i != 4).then_some(s.as_slice()))
            .collect();
        let out = dec.decode(&obj, &entry, &offered, Some(&key)).unwrap();
        assert_eq!(out.data, &data[..]);
        assert_eq!(out.corrupt, vec![1]);
        // Wrong key, wrong object, wrong position: clear errors.
        let offered: Vec<Option<&[u8]>> = shards.iter().map(|s| Some(s.as_slice())).collect();
        assert_eq!(
            dec.decode(&obj, &entry, &offered, Some(&DataKey::generate()))
                .err(),
            Some(Error::DecryptFailed)
        );
        assert_eq!(
            dec.decode(&ObjectId::random(), &entry, &offered, Some(&key))
                .err(),
            Some(Error::DecryptFailed)
        );
        let mut moved = entry.clone();
        moved.index = 4;
        assert_eq!(
            dec.decode(&obj, &moved, &offered, Some(&key)).err(),
            Some(Error::DecryptFailed)
        );
        assert_eq!(
            dec.decode(&obj, &entry, &offered, None).err(),
            Some(Error::KeyRequired)
        );
    }
}
