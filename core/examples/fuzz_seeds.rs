//! Writes valid seed inputs for the fuzz targets: `cargo run -p cyxcloud-core --example
//! fuzz_seeds -- fuzz/corpus`. Each target directory gets a few well-formed inputs so the
//! fuzzer starts from real formats rather than from nothing.

use std::path::Path;

use cyxcloud_core::grant::{Grant, GrantOp, SigningKey};
use cyxcloud_core::keys::{DataKey, MasterKey};
use cyxcloud_core::manifest::{ALGORITHM_AES_256_GCM, EncryptionInfo, Manifest};
use cyxcloud_core::pipeline::StreamEncoder;
use cyxcloud_core::{ChunkId, ErasureProfile, ObjectId};

fn main() -> std::io::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let root = Path::new(&root);
    for t in ["chunk_header", "manifest", "grant"] {
        std::fs::create_dir_all(root.join(t))?;
    }
    let object = ObjectId([3; 16]);
    let key = DataKey::from_bytes([4; 32]);
    for (i, (data, encrypt)) in [
        (b"hello chunk".to_vec(), false),
        (vec![b'a'; 3000], true),
        ((0..900u32).map(|x| x as u8).collect(), true),
    ]
    .into_iter()
    .enumerate()
    {
        let profile = ErasureProfile::BASIC;
        let k = encrypt.then(|| key.clone());
        let mut enc =
            StreamEncoder::new(&data[..], object, profile, 1024, k, true).expect("encoder");
        let mut m = Manifest::new(object, profile, 1024, None, "text/plain");
        if encrypt {
            let kek = MasterKey::from_bytes([5; 32]).derive();
            m.encryption = Some(EncryptionInfo {
                algorithm: ALGORITHM_AES_256_GCM.into(),
                wrapped_key: kek.wrap(&key, &object),
            });
        }
        let mut first_blob = None;
        while let Some(c) = enc.next_chunk().expect("encode") {
            if first_blob.is_none() {
                let blob: Vec<u8> = (0..profile.data_shards())
                    .flat_map(|s| c.shard(s).to_vec())
                    .collect();
                first_blob = Some(blob[..72 + c.entry.stored_size as usize].to_vec());
            }
            m.push_chunk(c.entry);
        }
        std::fs::write(
            root.join("chunk_header").join(format!("seed-{i}")),
            first_blob.expect("one chunk"),
        )?;
        std::fs::write(
            root.join("manifest").join(format!("seed-{i}")),
            m.to_bytes(),
        )?;
    }
    let gw = SigningKey::from_bytes(&[7; 32]);
    for (i, op) in [GrantOp::Store, GrantOp::Get, GrantOp::Delete]
        .into_iter()
        .enumerate()
    {
        let g = Grant {
            op,
            node: [1; 32],
            shard: ChunkId::of(&[i as u8]),
            max_bytes: 1 << 20,
            issued_at: 1_700_000_000,
            expires_at: 1_700_000_600,
            grant_id: [i as u8; 16],
        };
        std::fs::write(
            root.join("grant").join(format!("seed-{i}")),
            g.sign(&gw).to_bytes(),
        )?;
    }
    Ok(())
}
