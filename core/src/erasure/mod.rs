//! Reed-Solomon erasure coding over GF(2^8).
//!
//! A chunk blob is cut into `k` equal data shards (zero padded) and `m` parity shards are
//! computed; any `k` of the `k + m` shards rebuild the blob. The code works byte position by
//! byte position, so big shards are processed in cache-sized stripes (the same byte range
//! of every shard at a time): the result is bit-identical to coding whole shards, and the
//! working set stays in L2. The shard layout on the wire does not depend on the crate.
//!
//! The code is `reed-solomon-erasure`'s (its systematic matrix over GF(2^8), polynomial
//! 0x11D), so shards are bit-identical whichever kernel computes them: GFNI vector
//! kernels where the CPU has them ([`Kernel`]), `reed-solomon-erasure` itself elsewhere.

mod gf;
mod kernel;

pub use kernel::Kernel;

use std::fmt;
use std::str::FromStr;

use reed_solomon_erasure::galois_8::ReedSolomon;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest total shard count accepted for a custom profile.
pub const MAX_TOTAL_SHARDS: usize = 128;
/// Bytes of each shard processed per stripe (tuned with `cargo bench --bench pipeline`).
const STRIPE: usize = 32 * 1024;
/// Shard lengths are rounded to this so SIMD kernels see aligned, whole vectors.
pub const SHARD_ALIGN: usize = 64;

/// An erasure profile: `data` shards carry the chunk, `parity` shards protect it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawProfile", into = "RawProfile")]
pub struct ErasureProfile {
    data: u8,
    parity: u8,
}

#[derive(Serialize, Deserialize)]
struct RawProfile {
    data: u8,
    parity: u8,
}
impl TryFrom<RawProfile> for ErasureProfile {
    type Error = Error;
    fn try_from(r: RawProfile) -> Result<Self> {
        ErasureProfile::new(r.data as usize, r.parity as usize)
    }
}
impl From<ErasureProfile> for RawProfile {
    fn from(p: ErasureProfile) -> Self {
        RawProfile {
            data: p.data,
            parity: p.parity,
        }
    }
}

impl ErasureProfile {
    pub const BASIC: Self = Self { data: 8, parity: 4 };
    pub const STANDARD: Self = Self { data: 8, parity: 6 };
    pub const HIGH_DURABILITY: Self = Self { data: 8, parity: 8 };
    pub const EXTREME: Self = Self {
        data: 6,
        parity: 10,
    };
    pub const EFFICIENT: Self = Self {
        data: 10,
        parity: 4,
    };

    /// The named profiles of the specification, in its order.
    pub const NAMED: [(&'static str, Self); 5] = [
        ("basic", Self::BASIC),
        ("standard", Self::STANDARD),
        ("high-durability", Self::HIGH_DURABILITY),
        ("extreme", Self::EXTREME),
        ("efficient", Self::EFFICIENT),
    ];

    /// A validated custom profile.
    pub fn new(data: usize, parity: usize) -> Result<Self> {
        if data == 0 || parity == 0 || data + parity > MAX_TOTAL_SHARDS {
            return Err(Error::InvalidProfile(format!(
                "{data}+{parity}: need at least 1 data and 1 parity shard and at most {MAX_TOTAL_SHARDS} in total"
            )));
        }
        Ok(Self {
            data: data as u8,
            parity: parity as u8,
        })
    }

    pub fn data_shards(self) -> usize {
        self.data as usize
    }
    pub fn parity_shards(self) -> usize {
        self.parity as usize
    }
    pub fn total_shards(self) -> usize {
        self.data as usize + self.parity as usize
    }
    /// Stored bytes per input byte, e.g. 1.75 for 8+6.
    pub fn expansion(self) -> f64 {
        self.total_shards() as f64 / self.data_shards() as f64
    }
    /// The specification's name of this profile, if it has one.
    pub fn name(self) -> Option<&'static str> {
        Self::NAMED
            .iter()
            .find(|(_, p)| *p == self)
            .map(|(n, _)| *n)
    }

    /// Length of each shard for a blob of `blob_len` bytes.
    pub fn shard_len(self, blob_len: usize) -> usize {
        blob_len
            .div_ceil(self.data_shards())
            .max(1)
            .next_multiple_of(SHARD_ALIGN)
    }
}

impl Default for ErasureProfile {
    fn default() -> Self {
        Self::STANDARD
    }
}

impl fmt::Display for ErasureProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", self.data, self.parity)
    }
}
impl fmt::Debug for ErasureProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErasureProfile({self})")
    }
}

impl FromStr for ErasureProfile {
    type Err = Error;
    /// Accepts a profile name ("standard") or "k+m" ("8+6").
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if let Some((_, p)) = Self::NAMED.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
            return Ok(*p);
        }
        let (k, m) = s.split_once('+').ok_or_else(|| {
            Error::InvalidProfile(format!("{s:?}: expected a profile name or k+m"))
        })?;
        let parse = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| Error::InvalidProfile(format!("{s:?}: {v:?} is not a number")))
        };
        Self::new(parse(k)?, parse(m)?)
    }
}

/// An encoder/decoder for one profile. Cheap to share: build once, use for every chunk.
pub struct ErasureCoder {
    profile: ErasureProfile,
    rs: ReedSolomon,
    kernel: Kernel,
    /// The `(k + m) x k` encoding matrix, row-major: identity on top, parity rows below.
    matrix: Vec<u8>,
    /// The parity rows, prepared for the kernel.
    parity: kernel::Coefficients,
}

impl ErasureCoder {
    /// A coder using the fastest kernel this CPU has.
    pub fn new(profile: ErasureProfile) -> Result<Self> {
        Self::with_kernel(profile, Kernel::detect())
    }

    /// A coder using `kernel` (for benchmarks and tests; output is the same with any).
    pub fn with_kernel(profile: ErasureProfile, kernel: Kernel) -> Result<Self> {
        if !kernel.is_supported() {
            return Err(Error::Erasure(format!(
                "the {} kernel needs CPU features this machine lacks",
                kernel.name()
            )));
        }
        let (k, m) = (profile.data_shards(), profile.parity_shards());
        let rs = ReedSolomon::new(k, m).map_err(|e| Error::Erasure(format!("{e:?}")))?;
        // Read the parity rows off the crate's own encoder: with data shard `j` holding 1 at
        // byte `j` and 0 elsewhere, byte `j` of parity shard `p` is the coefficient [p][j].
        let unit: Vec<Vec<u8>> = (0..k)
            .map(|j| (0..k).map(|t| u8::from(t == j)).collect())
            .collect();
        let mut columns = vec![vec![0u8; k]; m];
        rs.encode_sep(&unit, &mut columns)
            .map_err(|e| Error::Erasure(format!("{e:?}")))?;
        let mut matrix = vec![0u8; (k + m) * k];
        for i in 0..k {
            matrix[i * k + i] = 1;
        }
        for (p, row) in columns.iter().enumerate() {
            matrix[(k + p) * k..(k + p + 1) * k].copy_from_slice(row);
        }
        let parity = kernel::Coefficients::new(m, k, matrix[k * k..].to_vec());
        Ok(Self {
            profile,
            rs,
            kernel,
            matrix,
            parity,
        })
    }

    pub fn profile(&self) -> ErasureProfile {
        self.profile
    }

    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    fn check(&self, buf: &[u8], shard_len: usize) -> Result<()> {
        if shard_len == 0 || buf.len() != shard_len * self.profile.total_shards() {
            return Err(Error::Erasure(format!(
                "buffer of {} bytes does not hold {} shards of {shard_len}",
                buf.len(),
                self.profile.total_shards()
            )));
        }
        Ok(())
    }

    /// `buf` holds all shards back to back; the first `k` carry data. Fills the parity shards.
    pub fn encode(&self, buf: &mut [u8], shard_len: usize) -> Result<()> {
        self.encode_with(buf, shard_len, |_, _| {})
    }

    /// Like [`ErasureCoder::encode`], handing each stripe of each parity shard to
    /// `on_parity(shard_index, bytes)` while it is still in cache (used to hash shards in
    /// the same pass).
    pub fn encode_with(
        &self,
        buf: &mut [u8],
        shard_len: usize,
        mut on_parity: impl FnMut(usize, &[u8]),
    ) -> Result<()> {
        self.check(buf, shard_len)?;
        let k = self.profile.data_shards();
        let (data, parity) = buf.split_at_mut(k * shard_len);
        let mut off = 0;
        while off < shard_len {
            let len = STRIPE.min(shard_len - off);
            let d: Vec<&[u8]> = data
                .chunks_exact(shard_len)
                .map(|s| &s[off..off + len])
                .collect();
            let mut p: Vec<&mut [u8]> = parity
                .chunks_exact_mut(shard_len)
                .map(|s| &mut s[off..off + len])
                .collect();
            if self.kernel == Kernel::Portable {
                self.rs
                    .encode_sep(&d, &mut p)
                    .map_err(|e| Error::Erasure(format!("{e:?}")))?;
            } else {
                kernel::apply(self.kernel, &self.parity, &d, &mut p);
            }
            for (j, piece) in p.iter().enumerate() {
                on_parity(k + j, piece);
            }
            off += len;
        }
        Ok(())
    }

    /// Rebuild missing shards in place. `present[i]` says shard `i` of `buf` holds verified
    /// bytes. With `data_only`, parity shards are not rebuilt (enough for reading).
    pub fn reconstruct(
        &self,
        buf: &mut [u8],
        shard_len: usize,
        present: &[bool],
        data_only: bool,
    ) -> Result<()> {
        self.check(buf, shard_len)?;
        let n = self.profile.total_shards();
        if present.len() != n {
            return Err(Error::Erasure(format!(
                "{} presence flags for {n} shards",
                present.len()
            )));
        }
        let have = present.iter().filter(|p| **p).count();
        if have < self.profile.data_shards() {
            return Err(Error::Erasure(format!(
                "{have} shards present, {} needed",
                self.profile.data_shards()
            )));
        }
        let missing_needed = present
            .iter()
            .enumerate()
            .any(|(i, p)| !p && (!data_only || i < self.profile.data_shards()));
        if !missing_needed {
            return Ok(());
        }
        if self.kernel != Kernel::Portable {
            return self.rebuild(buf, shard_len, present, data_only);
        }
        let mut off = 0;
        while off < shard_len {
            let len = STRIPE.min(shard_len - off);
            let mut slices: Vec<(&mut [u8], bool)> = buf
                .chunks_exact_mut(shard_len)
                .zip(present)
                .map(|(s, p)| (&mut s[off..off + len], *p))
                .collect();
            let r = if data_only {
                self.rs.reconstruct_data(&mut slices)
            } else {
                self.rs.reconstruct(&mut slices)
            };
            r.map_err(|e| Error::Erasure(format!("{e:?}")))?;
            off += len;
        }
        Ok(())
    }
}

impl ErasureCoder {
    /// [`ErasureCoder::reconstruct`] with a vector kernel. The kernel walks all shards
    /// side by side, so it needs no striping.
    fn rebuild(
        &self,
        buf: &mut [u8],
        shard_len: usize,
        present: &[bool],
        data_only: bool,
    ) -> Result<()> {
        let k = self.profile.data_shards();
        let missing_data: Vec<usize> = (0..k).filter(|&i| !present[i]).collect();
        if !missing_data.is_empty() {
            // Data = inverse(rows of the shards we have) x those shards.
            let rows: Vec<usize> = (0..present.len()).filter(|&i| present[i]).take(k).collect();
            let mut sub = pick_rows(&self.matrix, k, &rows);
            if !gf::invert(&mut sub, k) {
                return Err(Error::Erasure("singular decoding matrix".into()));
            }
            let c =
                kernel::Coefficients::new(missing_data.len(), k, pick_rows(&sub, k, &missing_data));
            self.apply_rows(buf, shard_len, &c, &rows, &missing_data);
        }
        if !data_only {
            let m = self.profile.parity_shards();
            let missing: Vec<usize> = (k..k + m).filter(|&i| !present[i]).collect();
            if !missing.is_empty() {
                let c = kernel::Coefficients::new(
                    missing.len(),
                    k,
                    pick_rows(&self.matrix, k, &missing),
                );
                let data: Vec<usize> = (0..k).collect();
                self.apply_rows(buf, shard_len, &c, &data, &missing);
            }
        }
        Ok(())
    }

    /// Compute shards `outputs` from shards `inputs` (disjoint index sets) of `buf`.
    fn apply_rows(
        &self,
        buf: &mut [u8],
        shard_len: usize,
        c: &kernel::Coefficients,
        inputs: &[usize],
        outputs: &[usize],
    ) {
        let mut ins: Vec<Option<&[u8]>> = vec![None; self.profile.total_shards()];
        let mut outs: Vec<Option<&mut [u8]>> = Vec::new();
        outs.resize_with(self.profile.total_shards(), || None);
        for (i, shard) in buf.chunks_exact_mut(shard_len).enumerate() {
            if outputs.contains(&i) {
                outs[i] = Some(shard);
            } else if inputs.contains(&i) {
                ins[i] = Some(shard);
            }
        }
        let ins: Vec<&[u8]> = inputs.iter().map(|&i| ins[i].expect("input")).collect();
        let mut outs: Vec<&mut [u8]> = outputs
            .iter()
            .map(|&i| outs[i].take().expect("output"))
            .collect();
        kernel::apply(self.kernel, c, &ins, &mut outs);
    }
}

/// The rows `rows` of the row-major matrix `m` with `cols` columns, as one matrix.
fn pick_rows(m: &[u8], cols: usize, rows: &[usize]) -> Vec<u8> {
    rows.iter()
        .flat_map(|&r| m[r * cols..(r + 1) * cols].iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_parse_and_print() {
        assert_eq!(
            "standard".parse::<ErasureProfile>().unwrap(),
            ErasureProfile::STANDARD
        );
        assert_eq!(
            "High-Durability".parse::<ErasureProfile>().unwrap(),
            ErasureProfile::HIGH_DURABILITY
        );
        assert_eq!(
            "6+10".parse::<ErasureProfile>().unwrap(),
            ErasureProfile::EXTREME
        );
        assert_eq!("3+2".parse::<ErasureProfile>().unwrap().to_string(), "3+2");
        for bad in ["0+4", "4+0", "100+100", "x+1", "8-6", ""] {
            assert!(bad.parse::<ErasureProfile>().is_err(), "{bad}");
        }
        assert_eq!(ErasureProfile::STANDARD.expansion(), 1.75);
        assert_eq!(ErasureProfile::default().name(), Some("standard"));
        let json = serde_json::to_string(&ErasureProfile::BASIC).unwrap();
        assert_eq!(json, r#"{"data":8,"parity":4}"#);
        assert!(serde_json::from_str::<ErasureProfile>(r#"{"data":0,"parity":4}"#).is_err());
    }

    #[test]
    fn striped_encoding_equals_whole_shard_encoding() {
        let p = ErasureProfile::STANDARD;
        let coder = ErasureCoder::new(p).unwrap();
        let shard_len = STRIPE * 2 + SHARD_ALIGN; // several stripes and a short tail
        let mut buf = vec![0u8; shard_len * 14];
        for (i, b) in buf[..shard_len * 8].iter_mut().enumerate() {
            *b = (i * 31 % 251) as u8;
        }
        let mut whole = buf.clone();
        coder.encode(&mut buf, shard_len).unwrap();
        let (d, par) = whole.split_at_mut(shard_len * 8);
        let d: Vec<&[u8]> = d.chunks_exact(shard_len).collect();
        let mut par: Vec<&mut [u8]> = par.chunks_exact_mut(shard_len).collect();
        ReedSolomon::new(8, 6)
            .unwrap()
            .encode_sep(&d, &mut par)
            .unwrap();
        assert_eq!(buf, whole);

        // Lose six shards, rebuild everything.
        let mut damaged = buf.clone();
        let mut present = vec![true; 14];
        for i in [0, 2, 5, 7, 9, 13] {
            present[i] = false;
            damaged[i * shard_len..(i + 1) * shard_len].fill(0xee);
        }
        coder
            .reconstruct(&mut damaged, shard_len, &present, false)
            .unwrap();
        assert_eq!(damaged, buf);
        present[1] = false;
        assert!(
            coder
                .reconstruct(&mut damaged, shard_len, &present, true)
                .is_err()
        );
    }
}
