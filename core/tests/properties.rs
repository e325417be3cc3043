//! Property tests of the whole pipeline: encode -> lose or damage shards -> decode.

use cyxcloud_core::erasure::ErasureProfile;
use cyxcloud_core::keys::{DataKey, KdfParams, MasterKey};
use cyxcloud_core::manifest::{ALGORITHM_AES_256_GCM, EncryptionInfo, Manifest};
use cyxcloud_core::pipeline::{ChunkDecoder, ChunkEncoder, ChunkOptions, StreamEncoder};
use cyxcloud_core::{ChunkId, Error, ObjectId};
use proptest::prelude::*;

fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e3779b97f4a7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// Half random, half repetitive: compressible but not trivially.
fn mixed(n: usize, seed: u64) -> Vec<u8> {
    let mut v = pseudo_random(n, seed);
    for (i, b) in v.iter_mut().enumerate() {
        if (i / 64) % 2 == 0 {
            *b = b"cyxcloud "[i % 9];
        }
    }
    v
}

struct Stored {
    manifest: Manifest,
    shards: Vec<Vec<Vec<u8>>>,
}

/// Encode a whole object through the streaming encoder.
fn store(
    data: &[u8],
    profile: ErasureProfile,
    chunk_size: usize,
    key: Option<&DataKey>,
    object: ObjectId,
) -> Stored {
    let mut enc =
        StreamEncoder::new(data, object, profile, chunk_size, key.cloned(), true).unwrap();
    let mut manifest = Manifest::new(
        object,
        profile,
        chunk_size as u64,
        None,
        "application/octet-stream",
    );
    if let Some(k) = key {
        let kek = MasterKey::from_bytes([1; 32]).derive();
        manifest.encryption = Some(EncryptionInfo {
            algorithm: ALGORITHM_AES_256_GCM.into(),
            wrapped_key: kek.wrap(k, &object),
        });
    }
    let mut shards = Vec::new();
    while let Some(c) = enc.next_chunk().unwrap() {
        shards.push(c.to_owned_shards());
        manifest.push_chunk(c.entry);
    }
    manifest.validate().unwrap();
    Stored { manifest, shards }
}

/// Decode a whole object, offering the shards `offer` chooses.
fn load(
    s: &Stored,
    key: Option<&DataKey>,
    object: ObjectId,
    offer: impl Fn(usize, usize) -> bool,
) -> Result<(Vec<u8>, Vec<usize>), Error> {
    let mut dec = ChunkDecoder::new(s.manifest.profile)?;
    let mut out = Vec::new();
    let mut corrupt = Vec::new();
    for (entry, shards) in s.manifest.chunks.iter().zip(&s.shards) {
        let offered: Vec<Option<&[u8]>> = shards
            .iter()
            .enumerate()
            .map(|(i, sh)| offer(entry.index as usize, i).then_some(sh.as_slice()))
            .collect();
        let d = dec.decode(&object, entry, &offered, key)?;
        out.extend_from_slice(d.data);
        corrupt.extend(d.corrupt);
    }
    Ok((out, corrupt))
}

fn any_profile() -> impl Strategy<Value = ErasureProfile> {
    prop_oneof![
        Just(ErasureProfile::BASIC),
        Just(ErasureProfile::STANDARD),
        Just(ErasureProfile::HIGH_DURABILITY),
        Just(ErasureProfile::EXTREME),
        Just(ErasureProfile::EFFICIENT),
        (1usize..12, 1usize..8).prop_map(|(k, m)| ErasureProfile::new(k, m).unwrap()),
    ]
}

const CHUNK: usize = 4096;

fn interesting_size() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0),
        Just(1),
        Just(CHUNK - 1),
        Just(CHUNK),
        Just(CHUNK + 1),
        Just(3 * CHUNK),
        Just(3 * CHUNK + 1),
        0usize..5 * CHUNK,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn roundtrip_with_up_to_m_lost_shards(
        size in interesting_size(),
        profile in any_profile(),
        encrypt in any::<bool>(),
        seed in any::<u64>(),
        lost_seed in any::<u64>(),
    ) {
        let data = if seed % 2 == 0 { pseudo_random(size, seed) } else { mixed(size, seed) };
        let key = encrypt.then(DataKey::generate);
        let object = ObjectId::random();
        let s = store(&data, profile, CHUNK, key.as_ref(), object);
        prop_assert_eq!(s.manifest.size, size as u64);
        prop_assert_eq!(s.manifest.chunks.len(), size.div_ceil(CHUNK));
        // Lose a different set of up to m shards in every chunk.
        let total = profile.total_shards();
        let lost = |chunk: usize, shard: usize| {
            let r = pseudo_random(total, lost_seed ^ chunk as u64);
            let mut order: Vec<usize> = (0..total).collect();
            order.sort_by_key(|&i| r[i]);
            let n_lost = (lost_seed as usize ^ chunk) % (profile.parity_shards() + 1);
            order[..n_lost].contains(&shard)
        };
        let (back, corrupt) = load(&s, key.as_ref(), object, |c, i| !lost(c, i)).unwrap();
        prop_assert_eq!(back, data);
        prop_assert!(corrupt.is_empty());
    }

    #[test]
    fn chunk_header_parser_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = cyxcloud_core::format::parse_chunk(&bytes);
    }

    #[test]
    fn manifest_decoder_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut b = b"CYXM\x01\x00".to_vec();
        b.extend_from_slice(&bytes);
        let _ = Manifest::from_bytes(&b);
        let _ = Manifest::from_bytes(&bytes);
    }
}

#[test]
fn every_pattern_of_up_to_m_lost_shards_decodes() {
    for profile in [
        ErasureProfile::BASIC,
        ErasureProfile::STANDARD,
        ErasureProfile::EXTREME,
    ] {
        let data = mixed(1500, 7);
        let key = DataKey::generate();
        let object = ObjectId::random();
        let s = store(&data, profile, CHUNK, Some(&key), object);
        let total = profile.total_shards();
        let mut patterns = 0;
        for mask in 0u32..(1 << total) {
            let lost = mask.count_ones() as usize;
            let (back, _) = match load(&s, Some(&key), object, |_, i| mask & (1 << i) == 0) {
                Ok(r) => r,
                Err(Error::NotEnoughShards { needed, valid, .. }) => {
                    assert!(
                        lost > profile.parity_shards(),
                        "{profile}: mask {mask:b} should decode"
                    );
                    assert_eq!((needed, valid), (profile.data_shards(), total - lost));
                    continue;
                }
                Err(e) => panic!("{profile}: mask {mask:b}: {e}"),
            };
            assert!(lost <= profile.parity_shards());
            assert_eq!(back, data, "{profile}: mask {mask:b}");
            patterns += 1;
        }
        let expected: usize = (0..=profile.parity_shards()).map(|l| binom(total, l)).sum();
        assert_eq!(patterns, expected, "{profile}");
    }
}

fn binom(n: usize, k: usize) -> usize {
    (0..k).fold(1, |acc, i| acc * (n - i) / (i + 1))
}

#[test]
fn every_single_bit_flip_is_detected_and_never_yields_wrong_plaintext() {
    let profile = ErasureProfile::BASIC;
    let key = DataKey::generate();
    let object = ObjectId::random();
    let data = mixed(700, 3);
    let s = store(&data, profile, CHUNK, Some(&key), object);
    let shard_len = s.shards[0][0].len();
    let mut dec = ChunkDecoder::new(profile).unwrap();
    let entry = &s.manifest.chunks[0];
    for shard in 0..profile.total_shards() {
        for byte in 0..shard_len {
            let bit = (byte * 7 + shard) % 8;
            let mut damaged = s.shards[0].clone();
            damaged[shard][byte] ^= 1 << bit;
            let offered: Vec<Option<&[u8]>> = damaged.iter().map(|x| Some(x.as_slice())).collect();
            let d = dec.decode(&object, entry, &offered, Some(&key)).unwrap();
            assert_eq!(d.data, &data[..], "flip shard {shard} byte {byte}");
            // A damaged data shard is always noticed; a damaged parity shard is never needed
            // when all data shards verify.
            if shard < profile.data_shards() {
                assert_eq!(d.corrupt, vec![shard]);
            }
        }
    }
}

#[test]
fn every_bit_flip_in_a_shard_a_rebuild_uses_is_named_and_never_yields_wrong_plaintext() {
    // With data shards lost, parity shards stand in and the chunk is rebuilt. The decoder
    // first takes the shards unhashed and relies on the chunk's own checks (its header, its
    // GCM tags or content hash, its zero padding); a flip anywhere in a shard it uses must
    // still be caught, the plaintext must still come out right, and that shard be named.
    let (k, m) = (4, 3);
    let profile = ErasureProfile::new(k, m).unwrap();
    let key = DataKey::generate();
    let object = ObjectId::random();
    let mut enc = ChunkEncoder::new(profile).unwrap();
    let mut dec = ChunkDecoder::new(profile).unwrap();
    // Shards lost: none (the data shards are used as they are), the last data shard (its
    // padding is rebuilt), and m - 1 data shards (parity shards stand in for most of them).
    // The shards after the first k offered are spares that replace a damaged one.
    let losses: [&[usize]; 3] = [&[], &[k - 1], &[0, 1]];
    // Sizes that leave erasure padding at the end of the last data shard, and one that fits.
    let cases = [
        (false, None),
        (true, None),
        (false, Some(&key)),
        (true, Some(&key)),
    ];
    for (size, (compress, key)) in [1, 700, 701, 3001]
        .into_iter()
        .flat_map(|n| cases.map(|c| (n, c)))
    {
        let data = mixed(size, 5);
        let (entry, buf) = enc
            .encode_owned(&object, 0, &data, ChunkOptions { compress, key })
            .unwrap();
        let len = entry.shard_size as usize;
        let shards: Vec<&[u8]> = buf.chunks(len).collect();
        for lost_set in losses {
            let lost = |i: usize| lost_set.contains(&i);
            let used: Vec<usize> = (0..k + m).filter(|&i| !lost(i)).take(k).collect();
            for shard in (0..k + m).filter(|&i| !lost(i)) {
                for byte in 0..len {
                    let mut damaged = shards[shard].to_vec();
                    damaged[byte] ^= 1 << ((byte * 5 + shard) % 8);
                    let offered: Vec<Option<&[u8]>> = (0..k + m)
                        .map(|i| match i {
                            _ if lost(i) => None,
                            _ if i == shard => Some(&damaged[..]),
                            _ => Some(shards[i]),
                        })
                        .collect();
                    let what = format!(
                        "{size} bytes, compress {compress}, key {}, lost {lost_set:?}: \
                         shard {shard} byte {byte}",
                        key.is_some()
                    );
                    let d = dec.decode(&object, &entry, &offered, key).expect(&what);
                    assert_eq!(d.data, &data[..], "{what}");
                    let named = if used.contains(&shard) {
                        vec![shard]
                    } else {
                        vec![]
                    };
                    assert_eq!(d.corrupt, named, "{what}");
                }
            }
        }
    }
}

#[test]
fn a_forged_manifest_cannot_produce_wrong_plaintext() {
    // An attacker who controls shards and the manifest's shard ids (but not the key) flips
    // a bit of the stored chunk and recomputes every hash: decryption must fail.
    let profile = ErasureProfile::BASIC;
    let key = DataKey::generate();
    let object = ObjectId::random();
    let data = pseudo_random(3000, 9);
    let mut enc = ChunkEncoder::new(profile).unwrap();
    let c = enc
        .encode(
            &object,
            0,
            &data,
            ChunkOptions {
                compress: false,
                key: Some(&key),
            },
        )
        .unwrap();
    let mut entry = c.entry.clone();
    let mut shards = c.to_owned_shards();
    for pos in [72usize, 100, 1000, 2000] {
        let mut blob: Vec<u8> = shards[..8].concat();
        let orig = blob.clone();
        blob[pos] ^= 0x10;
        let stored = entry.stored_size as usize;
        let hash = ChunkId::of(&blob[72..72 + stored]);
        blob[28..60].copy_from_slice(hash.as_bytes());
        let mut buf = blob.clone();
        buf.resize(shards[0].len() * 12, 0);
        cyxcloud_core::erasure::ErasureCoder::new(profile)
            .unwrap()
            .encode(&mut buf, shards[0].len())
            .unwrap();
        let forged: Vec<Vec<u8>> = buf.chunks(shards[0].len()).map(<[u8]>::to_vec).collect();
        let mut forged_entry = entry.clone();
        forged_entry.chunk_id = hash;
        forged_entry.shards = forged.iter().map(|s| ChunkId::of(s)).collect();
        let offered: Vec<Option<&[u8]>> = forged.iter().map(|x| Some(x.as_slice())).collect();
        let mut dec = ChunkDecoder::new(profile).unwrap();
        assert_eq!(
            dec.decode(&object, &forged_entry, &offered, Some(&key))
                .err(),
            Some(Error::DecryptFailed)
        );
        assert_eq!(orig.len(), blob.len());
    }
    // Unchanged, it decodes.
    entry.index = 0;
    shards.truncate(12);
    let offered: Vec<Option<&[u8]>> = shards.iter().map(|x| Some(x.as_slice())).collect();
    let mut dec = ChunkDecoder::new(profile).unwrap();
    assert_eq!(
        dec.decode(&object, &entry, &offered, Some(&key))
            .unwrap()
            .data,
        &data[..]
    );
}

#[test]
fn wrong_key_wrong_object_and_swapped_chunks_fail_clearly() {
    let profile = ErasureProfile::STANDARD;
    let key = DataKey::generate();
    let object = ObjectId::random();
    let data = pseudo_random(3 * CHUNK, 11);
    let s = store(&data, profile, CHUNK, Some(&key), object);
    let all = |_: usize, _: usize| true;
    assert_eq!(
        load(&s, Some(&DataKey::generate()), object, all).unwrap_err(),
        Error::DecryptFailed
    );
    assert_eq!(
        load(&s, Some(&key), ObjectId::random(), all).unwrap_err(),
        Error::DecryptFailed
    );
    assert_eq!(load(&s, None, object, all).unwrap_err(), Error::KeyRequired);
    // Swap chunks 0 and 1 (entries and shards together, as a malicious store would).
    let mut swapped = Stored {
        manifest: s.manifest.clone(),
        shards: s.shards.clone(),
    };
    swapped.shards.swap(0, 1);
    let (a, b) = (
        swapped.manifest.chunks[0].clone(),
        swapped.manifest.chunks[1].clone(),
    );
    swapped.manifest.chunks[0] = Stored::reindex(b, 0);
    swapped.manifest.chunks[1] = Stored::reindex(a, 1);
    assert_eq!(
        load(&swapped, Some(&key), object, all).unwrap_err(),
        Error::DecryptFailed
    );
    // A wrong passphrase is reported as such before any data is touched.
    let params = KdfParams {
        memory_kib: 64,
        iterations: 1,
        ..KdfParams::recommended()
    };
    let right = MasterKey::from_passphrase(b"right", &params)
        .unwrap()
        .derive();
    let wrong = MasterKey::from_passphrase(b"wrong", &params)
        .unwrap()
        .derive();
    let wrapped = right.wrap(&key, &object);
    assert!(matches!(
        wrong.unwrap(&wrapped, &object),
        Err(Error::WrongKey { .. })
    ));
}

impl Stored {
    fn reindex(
        mut e: cyxcloud_core::manifest::ChunkEntry,
        i: u64,
    ) -> cyxcloud_core::manifest::ChunkEntry {
        e.index = i;
        e
    }
}

#[test]
fn manifests_round_trip_and_reject_inconsistency() {
    let key = DataKey::generate();
    let object = ObjectId::random();
    let s = store(
        &mixed(3 * CHUNK + 5, 1),
        ErasureProfile::STANDARD,
        CHUNK,
        Some(&key),
        object,
    );
    let m = &s.manifest;
    let bin = m.to_bytes();
    assert_eq!(&bin[..6], b"CYXM\x01\x00");
    assert_eq!(&Manifest::from_bytes(&bin).unwrap(), m);
    assert_eq!(&Manifest::from_json(&m.to_json()).unwrap(), m);
    assert_eq!(m.chunks_for_range(0..1), (0..1, 0));
    assert_eq!(
        m.chunks_for_range(CHUNK as u64 + 3..2 * CHUNK as u64 + 1),
        (1..3, 3)
    );
    assert_eq!(m.chunks_for_range(m.size..m.size + 10), (0..0, 0));
    assert!(m.stored_bytes() > m.size);

    let mut bad = m.clone();
    bad.size += 1;
    assert!(matches!(
        Manifest::from_bytes(&bad.to_bytes()),
        Err(Error::ManifestInvalid(_))
    ));
    let mut bad = m.clone();
    bad.chunks[1].shards.pop();
    assert!(matches!(
        Manifest::from_bytes(&bad.to_bytes()),
        Err(Error::ManifestInvalid(_))
    ));
    let mut bad = m.clone();
    bad.chunks[2].nonce = None;
    assert!(Manifest::from_bytes(&bad.to_bytes()).is_err());
    let mut bad = m.clone();
    bad.chunks.swap(0, 1);
    assert!(Manifest::from_bytes(&bad.to_bytes()).is_err());
    let mut v2 = bin.clone();
    v2[4] = 2;
    assert_eq!(
        Manifest::from_bytes(&v2).unwrap_err(),
        Error::ManifestVersion(2)
    );
    for cut in [0, 5, 6, bin.len() / 2, bin.len() - 1] {
        assert!(Manifest::from_bytes(&bin[..cut]).is_err(), "cut at {cut}");
    }
    let mut trailing = bin.clone();
    trailing.push(0);
    assert!(Manifest::from_bytes(&trailing).is_err());
}

#[test]
fn streaming_memory_does_not_grow_with_object_size() {
    // The encoder holds one chunk of input and one stripe set, whatever the stream length.
    let chunk = 64 * 1024;
    let reader = std::io::repeat(0x42).take_bytes(64 * chunk as u64);
    let mut enc = StreamEncoder::new(
        reader,
        ObjectId::random(),
        ErasureProfile::STANDARD,
        chunk,
        None,
        false,
    )
    .unwrap();
    let mut n = 0;
    let mut peak = 0;
    while let Some(c) = enc.next_chunk().unwrap() {
        n += 1;
        peak = peak.max(c.shard_count() * c.entry.shard_size as usize);
    }
    assert_eq!(n, 64);
    assert_eq!(enc.bytes_read(), 64 * chunk as u64);
    assert!(
        enc.buffered_bytes() < 4 * chunk,
        "{} bytes buffered",
        enc.buffered_bytes()
    );
    assert!(peak < 2 * chunk);
}

trait TakeBytes: std::io::Read + Sized {
    fn take_bytes(self, n: u64) -> std::io::Take<Self> {
        std::io::Read::take(self, n)
    }
}
impl<R: std::io::Read> TakeBytes for R {}

#[test]
fn chunks_spanning_several_gcm_segments_round_trip() {
    use cyxcloud_core::crypto::SEGMENT;
    let key = DataKey::generate();
    let object = ObjectId::random();
    for size in [SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 5] {
        for data in [pseudo_random(size, size as u64), mixed(size, 5)] {
            let chunk = 2 * SEGMENT;
            let s = store(&data, ErasureProfile::STANDARD, chunk, Some(&key), object);
            // Lose six shards, different per chunk.
            let (back, _) = load(&s, Some(&key), object, |c, i| (i + c) % 14 >= 6).unwrap();
            assert_eq!(back, data, "size {size}");
            // With every shard offered, only data shards are read and nothing is rebuilt.
            let e = &s.manifest.chunks[0];
            let mut dec = ChunkDecoder::new(ErasureProfile::STANDARD).unwrap();
            let offered: Vec<Option<&[u8]>> =
                s.shards[0].iter().map(|x| Some(x.as_slice())).collect();
            assert_eq!(
                dec.decode(&object, e, &offered, Some(&key))
                    .unwrap()
                    .data
                    .len() as u64,
                e.original_size
            );
        }
    }
}
