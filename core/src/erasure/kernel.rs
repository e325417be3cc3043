//! Multiply-accumulate over GF(2^8): `out[o] = XOR over i of coef[o][i] * input[i]`, byte
//! position by byte position, which is all Reed-Solomon encoding and rebuilding is.
//!
//! On x86-64 CPUs with GFNI, multiplying 32 or 64 bytes by a constant is one
//! `GF2P8AFFINEQB` with that constant's 8x8 bit matrix, which works for any field
//! polynomial (the CPU's own `GF2P8MULB` is fixed to AES's, not the one our shards use).
//! CPUs with AVX2 but no GFNI (AMD Zen 1-3, Intel before Ice Lake) split each byte into
//! its two nibbles and look both products up in 16-entry tables with `VPSHUFB`:
//! `c * x = lo[x & 15] ^ hi[x >> 4]`. Other CPUs use `reed-solomon-erasure` (see
//! [`super::ErasureCoder`]).

use super::gf;

/// Which implementation codes shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// GFNI on 512-bit vectors (AVX-512BW).
    Avx512Gfni,
    /// GFNI on 256-bit vectors (AVX2).
    Avx2Gfni,
    /// Nibble table look-ups with `VPSHUFB` on 256-bit vectors (AVX2 without GFNI).
    Avx2Shuffle,
    /// `reed-solomon-erasure` (its NEON or plain code; x86-64 CPUs with AVX2 take a vector
    /// kernel of ours).
    Portable,
}

impl Kernel {
    /// Every kernel, fastest first: the first one a CPU supports is the one it uses.
    pub const ALL: [Self; 4] = [
        Self::Avx512Gfni,
        Self::Avx2Gfni,
        Self::Avx2Shuffle,
        Self::Portable,
    ];

    /// The fastest kernel this CPU runs.
    pub fn detect() -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.is_supported())
            .unwrap_or(Self::Portable)
    }

    /// Whether this CPU can run the kernel.
    pub fn is_supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Self::Avx512Gfni => {
                std::arch::is_x86_feature_detected!("gfni")
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
            }
            #[cfg(target_arch = "x86_64")]
            Self::Avx2Gfni => {
                std::arch::is_x86_feature_detected!("gfni")
                    && std::arch::is_x86_feature_detected!("avx2")
            }
            #[cfg(target_arch = "x86_64")]
            Self::Avx2Shuffle => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx512Gfni | Self::Avx2Gfni | Self::Avx2Shuffle => false,
            Self::Portable => true,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512Gfni => "gfni-avx512",
            Self::Avx2Gfni => "gfni-avx2",
            Self::Avx2Shuffle => "shuffle-avx2",
            Self::Portable => "reed-solomon-erasure",
        }
    }
}

/// A `rows x cols` coefficient matrix prepared for the kernels.
pub(super) struct Coefficients {
    rows: usize,
    cols: usize,
    /// Row-major field elements (for the bytes after the last whole vector).
    coef: Vec<u8>,
    /// Column-major affine matrices: `affine[i * rows + o]` multiplies by `coef[o][i]`.
    affine: Vec<u64>,
    /// Column-major nibble tables, laid out like `affine`: bytes 0-15 hold `c * n` and
    /// bytes 16-31 hold `c * (n << 4)` for every nibble `n`, with `c = coef[o][i]`.
    nibbles: Vec<[u8; 32]>,
}

impl Coefficients {
    pub(super) fn new(rows: usize, cols: usize, coef: Vec<u8>) -> Self {
        assert_eq!(coef.len(), rows * cols, "coefficient matrix shape");
        let mut affine = vec![0u64; rows * cols];
        let mut nibbles = vec![[0u8; 32]; rows * cols];
        for o in 0..rows {
            for i in 0..cols {
                let c = coef[o * cols + i];
                affine[i * rows + o] = gf::affine_matrix(c);
                nibbles[i * rows + o] = gf::nibble_tables(c);
            }
        }
        Self {
            rows,
            cols,
            coef,
            affine,
            nibbles,
        }
    }
}

/// Outputs processed per pass over the inputs: their accumulators stay in registers.
const GROUP: usize = 8;

/// `outputs[o] = sum of coef[o][i] * inputs[i]`. All slices have one length; `kernel` must
/// be a supported vector kernel.
pub(super) fn apply(kernel: Kernel, c: &Coefficients, inputs: &[&[u8]], outputs: &mut [&mut [u8]]) {
    assert_eq!(inputs.len(), c.cols, "one input per coefficient column");
    assert_eq!(outputs.len(), c.rows, "one output per coefficient row");
    let Some(len) = inputs.first().map(|s| s.len()) else {
        outputs.iter_mut().for_each(|o| o.fill(0));
        return;
    };
    assert!(
        inputs.iter().all(|s| s.len() == len) && outputs.iter().all(|s| s.len() == len),
        "shards of one length"
    );
    let width = match kernel {
        Kernel::Avx512Gfni => 64,
        Kernel::Avx2Gfni | Kernel::Avx2Shuffle => 32,
        Kernel::Portable => panic!("the portable kernel is reed-solomon-erasure's"),
    };
    assert!(
        kernel.is_supported(),
        "{} not supported by this CPU",
        kernel.name()
    );
    let blocks = len / width;
    let ins: Vec<*const u8> = inputs.iter().map(|s| s.as_ptr()).collect();
    for g in (0..c.rows).step_by(GROUP) {
        let n = GROUP.min(c.rows - g);
        let outs: Vec<*mut u8> = outputs[g..g + n]
            .iter_mut()
            .map(|s| s.as_mut_ptr())
            .collect();
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports the kernel (asserted above); every input and output
        // pointer is valid for `len >= blocks * width` bytes (asserted above), outputs are
        // distinct `&mut` slices and so overlap neither each other nor any input.
        unsafe {
            x86::run(
                kernel,
                &x86::Pass {
                    c,
                    first: g,
                    ins: &ins,
                    outs: &outs,
                    blocks,
                },
            )
        };
    }
    // The bytes after the last whole vector.
    let tail = blocks * width;
    if tail < len {
        for (o, out) in outputs.iter_mut().enumerate() {
            for t in tail..len {
                out[t] = (0..c.cols).fold(0u8, |acc, i| {
                    acc ^ gf::mul(c.coef[o * c.cols + i], inputs[i][t])
                });
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Coefficients, Kernel};
    use std::arch::x86_64::*;

    /// One group of outputs over every input: `outs` are rows `first..first + outs.len()` of
    /// `c`, each pointer valid for `blocks` vectors.
    #[derive(Clone, Copy)]
    pub(super) struct Pass<'a> {
        pub c: &'a Coefficients,
        pub first: usize,
        pub ins: &'a [*const u8],
        pub outs: &'a [*mut u8],
        pub blocks: usize,
    }

    impl Pass<'_> {
        /// The shapes a kernel of `G` outputs relies on.
        fn debug_check<const G: usize>(&self) {
            debug_assert!(self.ins.len() == self.c.cols);
            debug_assert!(self.outs.len() == G && self.first + G <= self.c.rows);
        }
    }

    macro_rules! kernel {
        ($name:ident, $features:literal, $vec:ty, $width:literal, $zero:ident, $load:ident,
         $store:ident, $set1:ident, $affine:ident, $xor:ident) => {
            /// `G` outputs, starting at row `first`, over `blocks` vectors of every shard.
            ///
            /// # Safety
            /// The CPU has the target features; `ins` and `outs` point to at least
            /// `blocks * width` valid bytes each, and no output overlaps another slice.
            #[target_feature(enable = $features)]
            unsafe fn $name<const G: usize>(pass: &Pass) {
                let (rows, first, cols, blocks) =
                    (pass.c.rows, pass.first, pass.c.cols, pass.blocks);
                let (affine, ins, outs) = (&pass.c.affine, pass.ins, pass.outs);
                pass.debug_check::<G>();
                for b in 0..blocks {
                    let off = b * $width;
                    let mut acc: [$vec; G] = [$zero(); G];
                    for i in 0..cols {
                        // SAFETY: `off + width <= blocks * width`, within every input.
                        let x = unsafe { $load(ins.get_unchecked(i).add(off).cast()) };
                        // SAFETY: `i < cols` and `first + G <= rows`, so the matrices of
                        // input `i` for this group's outputs lie within `rows * cols`.
                        let m = unsafe { affine.get_unchecked(i * rows + first..) };
                        for o in 0..G {
                            let a = $set1(unsafe { *m.get_unchecked(o) } as i64);
                            acc[o] = $xor(acc[o], $affine::<0>(x, a));
                        }
                    }
                    for o in 0..G {
                        // SAFETY: as for the loads; outputs are exclusive.
                        unsafe { $store(outs.get_unchecked(o).add(off).cast(), acc[o]) };
                    }
                }
            }
        };
    }

    kernel!(
        avx512,
        "avx512f,avx512bw,gfni",
        __m512i,
        64,
        _mm512_setzero_si512,
        _mm512_loadu_si512,
        _mm512_storeu_si512,
        _mm512_set1_epi64,
        _mm512_gf2p8affine_epi64_epi8,
        _mm512_xor_si512
    );
    kernel!(
        avx2,
        "avx2,gfni",
        __m256i,
        32,
        _mm256_setzero_si256,
        _mm256_loadu_si256,
        _mm256_storeu_si256,
        _mm256_set1_epi64x,
        _mm256_gf2p8affine_epi64_epi8,
        _mm256_xor_si256
    );

    /// `G` outputs, starting at row `first`, over `blocks` vectors of every shard, by
    /// nibble table look-ups. Two vectors of each input go through every table load, which
    /// halves the table loads per byte (measured faster than one vector on a Zen 3).
    ///
    /// # Safety
    /// As for the GFNI kernels, with AVX2 instead of GFNI.
    #[target_feature(enable = "avx2")]
    unsafe fn shuffle<const G: usize>(pass: &Pass) {
        let (rows, first, cols, blocks) = (pass.c.rows, pass.first, pass.c.cols, pass.blocks);
        let (nibbles, ins, outs) = (&pass.c.nibbles, pass.ins, pass.outs);
        pass.debug_check::<G>();
        let low = _mm256_set1_epi8(0x0f);
        let split = |x: __m256i| {
            (
                _mm256_and_si256(x, low),
                _mm256_and_si256(_mm256_srli_epi16::<4>(x), low),
            )
        };
        let mut b = 0;
        while b < blocks {
            let off = b * 32;
            // Two vectors while at least two remain, then the last one alone.
            let two = b + 1 < blocks;
            let mut acc: [[__m256i; 2]; G] = [[_mm256_setzero_si256(); 2]; G];
            for i in 0..cols {
                // SAFETY: `off + 32 <= blocks * 32` (and `off + 64` when `two`), within
                // every input.
                let p = unsafe { ins.get_unchecked(i).add(off) };
                let (lo0, hi0) = split(unsafe { _mm256_loadu_si256(p.cast()) });
                let (lo1, hi1) = if two {
                    split(unsafe { _mm256_loadu_si256(p.add(32).cast()) })
                } else {
                    (lo0, hi0)
                };
                // SAFETY: `i < cols` and `first + G <= rows`, so the tables of input `i`
                // for this group's outputs lie within `rows * cols`; `o < G`.
                let t = unsafe { nibbles.get_unchecked(i * rows + first..) };
                for (o, a) in acc.iter_mut().enumerate() {
                    let table = unsafe { t.get_unchecked(o) }.as_ptr();
                    // SAFETY: each table is 32 bytes: the low half, then the high half.
                    let (tl, th) = unsafe {
                        (
                            _mm256_broadcastsi128_si256(_mm_loadu_si128(table.cast())),
                            _mm256_broadcastsi128_si256(_mm_loadu_si128(table.add(16).cast())),
                        )
                    };
                    let mul = |lo, hi| {
                        _mm256_xor_si256(_mm256_shuffle_epi8(tl, lo), _mm256_shuffle_epi8(th, hi))
                    };
                    a[0] = _mm256_xor_si256(a[0], mul(lo0, hi0));
                    a[1] = _mm256_xor_si256(a[1], mul(lo1, hi1));
                }
            }
            for (o, a) in acc.iter().enumerate() {
                // SAFETY: as for the loads; outputs are exclusive.
                let q = unsafe { outs.get_unchecked(o).add(off) };
                unsafe { _mm256_storeu_si256(q.cast(), a[0]) };
                if two {
                    unsafe { _mm256_storeu_si256(q.add(32).cast(), a[1]) };
                }
            }
            b += if two { 2 } else { 1 };
        }
    }

    macro_rules! by_group {
        ($f:ident, $n:expr, $($args:expr),*) => {
            match $n {
                1 => $f::<1>($($args),*),
                2 => $f::<2>($($args),*),
                3 => $f::<3>($($args),*),
                4 => $f::<4>($($args),*),
                5 => $f::<5>($($args),*),
                6 => $f::<6>($($args),*),
                7 => $f::<7>($($args),*),
                8 => $f::<8>($($args),*),
                _ => unreachable!("groups hold 1 to {} outputs", super::GROUP),
            }
        };
    }

    /// # Safety
    /// As for the kernels; `kernel` is supported by this CPU.
    pub(super) unsafe fn run(kernel: Kernel, pass: &Pass) {
        let n = pass.outs.len();
        unsafe {
            match kernel {
                Kernel::Avx512Gfni => {
                    by_group!(avx512, n, pass)
                }
                Kernel::Avx2Gfni => {
                    by_group!(avx2, n, pass)
                }
                Kernel::Avx2Shuffle => {
                    by_group!(shuffle, n, pass)
                }
                Kernel::Portable => unreachable!("checked by the caller"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(c: &Coefficients, inputs: &[Vec<u8>]) -> Vec<Vec<u8>> {
        (0..c.rows)
            .map(|o| {
                (0..inputs[0].len())
                    .map(|t| {
                        (0..c.cols).fold(0u8, |acc, i| {
                            acc ^ gf::mul(c.coef[o * c.cols + i], inputs[i][t])
                        })
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn simd_kernels_agree_with_field_arithmetic() {
        let kernels: Vec<Kernel> = Kernel::ALL
            .into_iter()
            .filter(|k| *k != Kernel::Portable && k.is_supported())
            .collect();
        if kernels.is_empty() {
            eprintln!("no AVX2 on this CPU: only reed-solomon-erasure is used and tested");
            return;
        }
        // Every coefficient, more outputs than one group, and lengths with a short tail.
        for (rows, cols, len) in [(1, 1, 64), (6, 8, 256 + 17), (11, 5, 1000), (3, 16, 31)] {
            let coef: Vec<u8> = (0..rows * cols).map(|i| (i * 97 + 3) as u8).collect();
            let c = Coefficients::new(rows, cols, coef);
            let inputs: Vec<Vec<u8>> = (0..cols)
                .map(|i| (0..len).map(|t| (t * 7 + i * 13 + t / 256) as u8).collect())
                .collect();
            let want = scalar(&c, &inputs);
            for &k in &kernels {
                let ins: Vec<&[u8]> = inputs.iter().map(|v| v.as_slice()).collect();
                let mut got = vec![vec![0xaa; len]; rows];
                let mut outs: Vec<&mut [u8]> = got.iter_mut().map(|v| v.as_mut_slice()).collect();
                apply(k, &c, &ins, &mut outs);
                assert_eq!(got, want, "{} {rows}x{cols} over {len} bytes", k.name());
            }
        }
        // All 256 constants times all 256 values.
        let c = Coefficients::new(256, 1, (0..=255).collect());
        let input: Vec<u8> = (0..=255).collect();
        let want = scalar(&c, std::slice::from_ref(&input));
        for &k in &kernels {
            let mut got = vec![vec![0u8; 256]; 256];
            let mut outs: Vec<&mut [u8]> = got.iter_mut().map(|v| v.as_mut_slice()).collect();
            apply(k, &c, &[&input], &mut outs);
            assert_eq!(got, want, "{}", k.name());
        }
    }
}
