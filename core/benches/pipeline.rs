//! Throughput of every pipeline stage and of the whole pipeline, beside a memcpy measured in
//! the same run. `cargo bench -p cyxcloud-core --bench pipeline [-- FILTER]`.
//!
//! Figures are MB/s (10^6 bytes per second) of input, median of repeated runs. Stages whose
//! crate was chosen by measurement are printed beside the alternative.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cyxcloud_core::compress;
use cyxcloud_core::crypto;
use cyxcloud_core::erasure::{ErasureCoder, ErasureProfile, Kernel};
use cyxcloud_core::id::ObjectId;
use cyxcloud_core::keys::DataKey;
use cyxcloud_core::pipeline::{ChunkDecoder, ChunkEncoder, ChunkOptions};

const MIB: usize = 1024 * 1024;

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; n];
    let mut x = seed | 1;
    for c in v.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        c.copy_from_slice(&b[..c.len()]);
    }
    v
}

/// CSV-like text: repeated column structure with varying numbers (LZ4 ratio about 2.5-3).
fn text_bytes(n: usize) -> Vec<u8> {
    let names = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    ];
    let mut out = Vec::with_capacity(n + 128);
    let mut x = 0x2545f4914f6cdd1du64;
    let mut row = 0u64;
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let line = format!(
            "{row},{},{}.{:03},{},2026-11-{:02}T{:02}:{:02}:00Z,{}\n",
            names[(x % 8) as usize],
            x % 1000,
            (x >> 10) % 1000,
            (x >> 20) % 100_000,
            1 + (x >> 30) % 28,
            (x >> 35) % 24,
            (x >> 40) % 60,
            if x & 1 == 0 { "true" } else { "false" }
        );
        out.extend_from_slice(line.as_bytes());
        row += 1;
    }
    out.truncate(n);
    out
}

/// Median seconds per call of `f`, running it for about `budget`.
fn time<F: FnMut()>(budget: Duration, mut f: F) -> f64 {
    f(); // warm up: page faults, caches, lazily built tables
    let mut samples = Vec::new();
    let start = Instant::now();
    while samples.len() < 5 || (start.elapsed() < budget && samples.len() < 200) {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64());
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

struct Bench {
    filter: Option<String>,
    budget: Duration,
}

impl Bench {
    fn run<F: FnMut()>(&self, name: &str, bytes: usize, memcpy: f64, f: F) -> f64 {
        if let Some(flt) = &self.filter
            && !name.contains(flt.as_str())
        {
            return 0.0;
        }
        let secs = time(self.budget, f);
        let mbs = bytes as f64 / secs / 1e6;
        println!(
            "{name:<58} {mbs:>9.0} MB/s  ({:>4.1}% of memcpy)",
            100.0 * mbs / memcpy
        );
        mbs
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let bench = Bench {
        filter: args.first().cloned(),
        budget: Duration::from_millis(
            std::env::var("CYX_BENCH_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(400),
        ),
    };
    let profile = ErasureProfile::STANDARD;
    let object = ObjectId::random();
    let key = DataKey::generate();
    println!("cyxcloud-core pipeline benchmark (MB/s of input, median; profile {profile})");

    for &size in &[4 * MIB, 64 * MIB] {
        let label = format!("{} MiB", size / MIB);
        let random = random_bytes(size, 42);
        let text = text_bytes(size);
        let mut dst = vec![0u8; size];
        println!("\n== {label} chunks ==");
        let memcpy_secs = time(bench.budget, || {
            dst.copy_from_slice(black_box(&random));
            black_box(&dst);
        });
        let memcpy = size as f64 / memcpy_secs / 1e6;
        println!(
            "{:<58} {memcpy:>9.0} MB/s  (reference)",
            format!("memcpy {label}")
        );

        bench.run(&format!("blake3 hash {label}"), size, memcpy, || {
            black_box(blake3::hash(black_box(&random)));
        });

        // --- AES-256-GCM: ring (chosen) beside aes-gcm (the card's default) ---
        let chunk_key = key.chunk_key(&object, 0);
        let nonce = [3u8; 12];
        let mut buf = random.clone();
        bench.run(
            &format!("aes-256-gcm seal, ring (chosen) {label}"),
            size,
            memcpy,
            || {
                black_box(crypto::seal_in_place(&chunk_key, &nonce, b"aad", &mut buf));
            },
        );
        {
            use aes_gcm::aead::{AeadInPlace, KeyInit};
            let c = aes_gcm::Aes256Gcm::new_from_slice(chunk_key.as_ref()).unwrap();
            bench.run(
                &format!("aes-256-gcm seal, aes-gcm 0.10 {label}"),
                size,
                memcpy,
                || {
                    black_box(
                        c.encrypt_in_place_detached((&nonce).into(), b"aad", &mut buf)
                            .unwrap(),
                    );
                },
            );
        }

        // --- LZ4 ---
        let mut lz = vec![0u8; compress::max_compressed_len(size)];
        bench.run(
            &format!("lz4 probe rejecting incompressible data {label}"),
            size,
            memcpy,
            || {
                black_box(compress::compress_into(&random, &mut lz));
            },
        );
        let clen = compress::compress_into(&text, &mut lz).expect("text compresses");
        let ratio = size as f64 / clen as f64;
        bench.run(
            &format!("lz4 compress text (ratio {ratio:.2}) {label}"),
            size,
            memcpy,
            || {
                black_box(compress::compress_into(&text, &mut lz));
            },
        );
        let mut back = vec![0u8; size];
        bench.run(
            &format!("lz4 decompress text {label}"),
            size,
            memcpy,
            || {
                compress::decompress_into(&lz[..clen], &mut back).unwrap();
            },
        );

        // --- Erasure coding 8+6: the detected kernel (chosen) beside reed-solomon-erasure ---
        let shard_len = profile.shard_len(size);
        let mut stripes = vec![0u8; shard_len * 14];
        stripes[..size].copy_from_slice(&random);
        let mut present = vec![true; 14];
        for p in present.iter_mut().take(6) {
            *p = false;
        }
        // Every kernel this CPU runs, fastest (the detected one) first.
        let kernels = Kernel::ALL.into_iter().filter(|k| k.is_supported());
        for (n, kernel) in kernels.into_iter().enumerate() {
            let coder = ErasureCoder::with_kernel(profile, kernel).unwrap();
            let chosen = if n == 0 { " (chosen)" } else { "" };
            bench.run(
                &format!("rs encode 8+6, {}{chosen} {label}", kernel.name()),
                size,
                memcpy,
                || {
                    coder.encode(&mut stripes, shard_len).unwrap();
                },
            );
            bench.run(
                &format!("rs rebuild 6 lost data shards, {} {label}", kernel.name()),
                size,
                memcpy,
                || {
                    coder
                        .reconstruct(&mut stripes, shard_len, &present, true)
                        .unwrap();
                },
            );
        }
        {
            let mut enc = reed_solomon_simd::ReedSolomonEncoder::new(8, 6, shard_len).unwrap();
            bench.run(
                &format!("rs encode 8+6, reed-solomon-simd 3.1 {label}"),
                size,
                memcpy,
                || {
                    for s in stripes[..8 * shard_len].chunks_exact(shard_len) {
                        enc.add_original_shard(s).unwrap();
                    }
                    black_box(enc.encode().unwrap());
                },
            );
            for s in stripes[..8 * shard_len].chunks_exact(shard_len) {
                enc.add_original_shard(s).unwrap();
            }
            let parity: Vec<Vec<u8>> = enc
                .encode()
                .unwrap()
                .recovery_iter()
                .map(|s| s.to_vec())
                .collect();
            let mut dec = reed_solomon_simd::ReedSolomonDecoder::new(8, 6, shard_len).unwrap();
            bench.run(
                &format!("rs rebuild 6 lost, reed-solomon-simd 3.1 {label}"),
                size,
                memcpy,
                || {
                    for (i, s) in stripes[..8 * shard_len]
                        .chunks_exact(shard_len)
                        .enumerate()
                        .skip(6)
                    {
                        dec.add_original_shard(i, s).unwrap();
                    }
                    for (i, p) in parity.iter().enumerate() {
                        dec.add_recovery_shard(i, p).unwrap();
                    }
                    black_box(dec.decode().unwrap());
                },
            );
        }

        // --- Whole pipeline ---
        let mut encoder = ChunkEncoder::new(profile).unwrap();
        let opts = ChunkOptions {
            compress: true,
            key: Some(&key),
        };
        bench.run(
            &format!("pipeline encode incompressible, 1 core {label}"),
            size,
            memcpy,
            || {
                black_box(
                    encoder
                        .encode(&object, 0, &random, opts)
                        .unwrap()
                        .entry
                        .chunk_id,
                );
            },
        );
        if bench
            .filter
            .as_deref()
            .is_none_or(|f| "pipeline encode incompressible, 2 cores".contains(f))
        {
            // Two encoders on two threads, each encoding its own chunks, as the client does.
            let per_thread = 4usize.max(256 * MIB / size);
            // Each thread warms its own encoder first, so buffer allocation is not timed.
            let barrier = std::sync::Barrier::new(3);
            let mut t = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        let mut e = ChunkEncoder::new(profile).unwrap();
                        black_box(e.encode(&object, 0, &random, opts).unwrap().entry.chunk_id);
                        barrier.wait();
                        for i in 0..per_thread {
                            black_box(
                                e.encode(&object, i as u64, &random, opts)
                                    .unwrap()
                                    .entry
                                    .chunk_id,
                            );
                        }
                    });
                }
                barrier.wait();
                t = Instant::now();
            });
            let mbs = (2 * per_thread * size) as f64 / t.elapsed().as_secs_f64() / 1e6;
            println!(
                "{:<58} {mbs:>9.0} MB/s  ({:>4.1}% of memcpy)",
                format!("pipeline encode incompressible, 2 cores {label}"),
                100.0 * mbs / memcpy
            );
        }
        let (entry, shards) = {
            let c = encoder.encode(&object, 0, &random, opts).unwrap();
            (c.entry.clone(), c.to_owned_shards())
        };
        let offered: Vec<Option<&[u8]>> = shards
            .iter()
            .enumerate()
            .map(|(i, s)| (i >= 6).then_some(s.as_slice()))
            .collect();
        let mut decoder = ChunkDecoder::new(profile).unwrap();
        bench.run(
            &format!("pipeline decode, 6 of 14 lost, 1 core {label}"),
            size,
            memcpy,
            || {
                black_box(
                    decoder
                        .decode(&object, &entry, &offered, Some(&key))
                        .unwrap()
                        .data
                        .len(),
                );
            },
        );
        let all: Vec<Option<&[u8]>> = shards.iter().map(|s| Some(s.as_slice())).collect();
        bench.run(
            &format!("pipeline decode, all shards, 1 core {label}"),
            size,
            memcpy,
            || {
                black_box(
                    decoder
                        .decode(&object, &entry, &all, Some(&key))
                        .unwrap()
                        .data
                        .len(),
                );
            },
        );
        let stored = encoder
            .encode(&object, 0, &text, opts)
            .unwrap()
            .entry
            .stored_size;
        bench.run(
            &format!(
                "pipeline encode text (ratio {:.2}), 1 core {label}",
                size as f64 / stored as f64
            ),
            size,
            memcpy,
            || {
                black_box(
                    encoder
                        .encode(&object, 0, &text, opts)
                        .unwrap()
                        .entry
                        .chunk_id,
                );
            },
        );
    }
}
