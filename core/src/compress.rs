//! LZ4 block compression with a cheap incompressibility probe.
//!
//! Already-compressed inputs (archives, media, columnar files) are detected by compressing a
//! few small samples spread over the chunk; when they do not shrink, the chunk is stored
//! as is and the `compressed` flag stays off, so such files cost almost nothing extra.

use crate::error::{Error, Result};

/// Inputs smaller than this are simply compressed; probing would cost as much.
const PROBE_MIN_LEN: usize = 256 * 1024;
const PROBE_WINDOW: usize = 16 * 1024;
const PROBE_WINDOWS: usize = 4;

/// Worst-case compressed size of `len` input bytes.
pub const fn max_compressed_len(len: usize) -> usize {
    lz4_flex::block::get_maximum_output_size(len)
}

/// True when samples of `input` do not shrink under LZ4 by at least 5%.
/// `scratch` must hold `max_compressed_len(16 KiB)` bytes.
fn looks_incompressible(input: &[u8], scratch: &mut [u8]) -> bool {
    if input.len() < PROBE_MIN_LEN {
        return false;
    }
    let step = (input.len() - PROBE_WINDOW) / (PROBE_WINDOWS - 1);
    let mut sampled = 0usize;
    let mut packed = 0usize;
    for w in 0..PROBE_WINDOWS {
        let start = w * step;
        let window = &input[start..start + PROBE_WINDOW];
        sampled += window.len();
        packed += lz4_flex::block::compress_into(window, scratch).unwrap_or(window.len());
    }
    packed * 100 > sampled * 95
}

/// True when LZ4 is not worth trying on `input`: samples of it do not shrink. Lets callers
/// skip preparing a compression buffer for data that is stored as is.
pub fn probably_incompressible(input: &[u8]) -> bool {
    let mut scratch = [0u8; max_compressed_len(PROBE_WINDOW)];
    looks_incompressible(input, &mut scratch)
}

/// Compress `input` into `out`, which must be at least `max_compressed_len(input.len())`
/// long. Returns the compressed length when compression is worth keeping (it saves at least
/// 1/64 of the input), or `None` when the chunk should be stored uncompressed.
pub fn compress_into(input: &[u8], out: &mut [u8]) -> Option<usize> {
    if input.is_empty() || looks_incompressible(input, out) {
        return None;
    }
    compress_probed_into(input, out)
}

/// [`compress_into`] for input that [`probably_incompressible`] has already passed: the
/// samples are not compressed a second time.
pub fn compress_probed_into(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let n = lz4_flex::block::compress_into(input, out).ok()?;
    (n < input.len() - input.len() / 64).then_some(n)
}

/// Decompress `input` into `out`, which must have exactly the original length. Any damage
/// or size disagreement is an error; the output is never silently short.
pub fn decompress_into(input: &[u8], out: &mut [u8]) -> Result<()> {
    let n = lz4_flex::block::decompress_into(input, out)
        .map_err(|e| Error::Decompress(e.to_string()))?;
    if n != out.len() {
        return Err(Error::SizeMismatch {
            what: "decompressed length",
            expected: out.len() as u64,
            actual: n as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        let mut x = 0x9e3779b97f4a7c15u64;
        for b in v.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = (x >> 24) as u8;
        }
        v
    }

    #[test]
    fn text_compresses_and_round_trips() {
        let text: Vec<u8> = (0..400_000)
            .map(|i| b"id,name,value\n1,alpha,3.14\n"[i % 27])
            .collect();
        let mut out = vec![0u8; max_compressed_len(text.len())];
        let n = compress_into(&text, &mut out).expect("text compresses");
        assert!(n < text.len() / 4);
        let mut again = vec![0u8; out.len()];
        assert_eq!(compress_probed_into(&text, &mut again), Some(n));
        assert_eq!(again[..n], out[..n]);
        let mut back = vec![0u8; text.len()];
        decompress_into(&out[..n], &mut back).unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn random_data_is_left_alone_small_and_large() {
        let mut none = [0u8; 16];
        assert_eq!(compress_probed_into(&[], &mut none), None);
        for n in [1, 100, 300_000, 2_000_000] {
            let data = random(n);
            let mut out = vec![0u8; max_compressed_len(n)];
            assert_eq!(compress_into(&data, &mut out), None, "n={n}");
            // Without the probe, LZ4 itself finds nothing worth keeping.
            assert_eq!(compress_probed_into(&data, &mut out), None, "n={n}");
        }
    }

    #[test]
    fn corrupt_or_mis_sized_input_is_an_error() {
        let text = vec![b'a'; 10_000];
        let mut out = vec![0u8; max_compressed_len(text.len())];
        let n = compress_into(&text, &mut out).unwrap();
        let mut back = vec![0u8; text.len() + 1];
        assert!(decompress_into(&out[..n], &mut back).is_err());
        let mut back = vec![0u8; text.len()];
        assert!(decompress_into(&out[..n - 1], &mut back).is_err());
        assert!(decompress_into(&[0xff; 20], &mut back).is_err());
    }
}
