//! Every erasure kernel this CPU runs computes the same shards as `reed-solomon-erasure`
//! and rebuilds any `k` of them into the original, for any profile and shard length.

use cyxcloud_core::erasure::{ErasureCoder, ErasureProfile, Kernel, SHARD_ALIGN};
use proptest::prelude::*;

fn kernels() -> Vec<Kernel> {
    Kernel::ALL
        .into_iter()
        .filter(|k| k.is_supported())
        .collect()
}

fn profile() -> impl Strategy<Value = ErasureProfile> {
    prop_oneof![
        Just(ErasureProfile::BASIC),
        Just(ErasureProfile::STANDARD),
        Just(ErasureProfile::HIGH_DURABILITY),
        Just(ErasureProfile::EXTREME),
        Just(ErasureProfile::EFFICIENT),
        (1usize..20, 1usize..20).prop_map(|(k, m)| ErasureProfile::new(k, m).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn kernels_agree_with_reed_solomon_erasure_and_rebuild(
        profile in profile(),
        // Up to a little over two 32 KiB stripes, always whole alignment units.
        units in 1usize..1100,
        seed in any::<u64>(),
        lost_seed in any::<u64>(),
        data_only in any::<bool>(),
    ) {
        let shard_len = units * SHARD_ALIGN;
        let (k, n) = (profile.data_shards(), profile.total_shards());
        let mut reference = vec![0u8; shard_len * n];
        let mut x = seed | 1;
        for b in &mut reference[..k * shard_len] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        ErasureCoder::with_kernel(profile, Kernel::Portable)
            .unwrap()
            .encode(&mut reference, shard_len)
            .unwrap();

        // Lose up to m shards, chosen by `lost_seed`.
        let mut order: Vec<usize> = (0..n).collect();
        let mut y = lost_seed | 1;
        for i in (1..n).rev() {
            y ^= y << 13;
            y ^= y >> 7;
            y ^= y << 17;
            order.swap(i, (y % (i as u64 + 1)) as usize);
        }
        let lost = &order[..(lost_seed as usize) % (profile.parity_shards() + 1)];
        let present: Vec<bool> = (0..n).map(|i| !lost.contains(&i)).collect();

        for kernel in kernels() {
            let coder = ErasureCoder::with_kernel(profile, kernel).unwrap();
            let mut buf = reference.clone();
            buf[k * shard_len..].fill(0x5a);
            coder.encode(&mut buf, shard_len).unwrap();
            prop_assert!(buf == reference, "{} encodes differently", kernel.name());

            for &i in lost {
                buf[i * shard_len..(i + 1) * shard_len].fill(0xee);
            }
            coder.reconstruct(&mut buf, shard_len, &present, data_only).unwrap();
            for (i, &was_present) in present.iter().enumerate() {
                let range = i * shard_len..(i + 1) * shard_len;
                if i < k || !data_only || was_present {
                    prop_assert!(
                        buf[range.clone()] == reference[range],
                        "{}: shard {i} of {profile} after losing {lost:?}",
                        kernel.name()
                    );
                }
            }
        }
    }
}

#[test]
fn a_kernel_the_cpu_lacks_is_refused_and_detection_picks_a_supported_one() {
    assert!(Kernel::detect().is_supported());
    assert_eq!(
        ErasureCoder::new(ErasureProfile::STANDARD)
            .unwrap()
            .kernel(),
        Kernel::detect()
    );
    for kernel in Kernel::ALL {
        let coder = ErasureCoder::with_kernel(ErasureProfile::STANDARD, kernel);
        assert_eq!(coder.is_ok(), kernel.is_supported(), "{}", kernel.name());
    }
}

#[test]
fn too_few_shards_is_an_error_for_every_kernel() {
    let profile = ErasureProfile::BASIC;
    let shard_len = 4 * SHARD_ALIGN;
    for kernel in kernels() {
        let coder = ErasureCoder::with_kernel(profile, kernel).unwrap();
        let mut buf = vec![1u8; shard_len * profile.total_shards()];
        let mut present = vec![true; profile.total_shards()];
        for p in present.iter_mut().take(5) {
            *p = false;
        }
        assert!(
            coder
                .reconstruct(&mut buf, shard_len, &present, true)
                .is_err()
        );
        assert!(coder.encode(&mut buf[..shard_len], shard_len).is_err());
    }
}
