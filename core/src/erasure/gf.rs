//! Arithmetic in GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D), the field
//! `reed-solomon-erasure` codes in, and the small matrix algebra a decoder needs.

/// The field's reduction polynomial, without the x^8 term.
const POLY: u16 = 0x11D;

const fn tables() -> ([u8; 256], [u8; 512]) {
    let mut log = [0u8; 256];
    let mut exp = [0u8; 512];
    let mut x: u16 = 1;
    let mut i = 0;
    while i < 255 {
        exp[i] = x as u8;
        exp[i + 255] = x as u8;
        log[x as usize] = i as u8;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= POLY;
        }
        i += 1;
    }
    (log, exp)
}

const TABLES: ([u8; 256], [u8; 512]) = tables();
static LOG: [u8; 256] = TABLES.0;
static EXP: [u8; 512] = TABLES.1;

/// `a * b` in the field.
#[inline]
pub fn mul(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 {
        0
    } else {
        EXP[LOG[a as usize] as usize + LOG[b as usize] as usize]
    }
}

/// The multiplicative inverse of a non-zero element.
pub fn inv(a: u8) -> u8 {
    debug_assert!(a != 0);
    EXP[255 - LOG[a as usize] as usize]
}

/// The 8x8 bit matrix of "multiply by `c`", laid out for `GF2P8AFFINEQB`: byte `7 - i` of
/// the result is the mask of input bits that produce output bit `i`.
pub fn affine_matrix(c: u8) -> u64 {
    let mut m = 0u64;
    for i in 0..8 {
        let mut row = 0u8;
        for j in 0..8 {
            if (mul(c, 1 << j) >> i) & 1 == 1 {
                row |= 1 << j;
            }
        }
        m |= (row as u64) << (8 * (7 - i));
    }
    m
}

/// The two 16-entry look-up tables of "multiply by `c`" for `VPSHUFB`: bytes 0-15 hold
/// `c * n` and bytes 16-31 hold `c * (n << 4)`, so `c * x = t[x & 15] ^ t[16 + (x >> 4)]`
/// (multiplication distributes over the XOR that joins the two nibbles).
pub fn nibble_tables(c: u8) -> [u8; 32] {
    let mut t = [0u8; 32];
    for n in 0..16u8 {
        t[n as usize] = mul(c, n);
        t[16 + n as usize] = mul(c, n << 4);
    }
    t
}

/// Invert the `n x n` row-major matrix `a` in place by Gauss-Jordan elimination.
/// Returns `false` if it is singular.
pub fn invert(a: &mut [u8], n: usize) -> bool {
    debug_assert_eq!(a.len(), n * n);
    let mut out = vec![0u8; n * n];
    for i in 0..n {
        out[i * n + i] = 1;
    }
    for col in 0..n {
        let Some(pivot) = (col..n).find(|&r| a[r * n + col] != 0) else {
            return false;
        };
        if pivot != col {
            for j in 0..n {
                a.swap(pivot * n + j, col * n + j);
                out.swap(pivot * n + j, col * n + j);
            }
        }
        let scale = inv(a[col * n + col]);
        for j in 0..n {
            a[col * n + j] = mul(a[col * n + j], scale);
            out[col * n + j] = mul(out[col * n + j], scale);
        }
        for r in 0..n {
            let f = a[r * n + col];
            if r == col || f == 0 {
                continue;
            }
            for j in 0..n {
                a[r * n + j] ^= mul(f, a[col * n + j]);
                out[r * n + j] ^= mul(f, out[col * n + j]);
            }
        }
    }
    a.copy_from_slice(&out);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Carry-less multiply and reduce, the field's definition, to check the tables against.
    fn slow_mul(a: u8, b: u8) -> u8 {
        let mut p: u16 = 0;
        let (mut a, mut b) = (a as u16, b);
        while b != 0 {
            if b & 1 == 1 {
                p ^= a;
            }
            a <<= 1;
            if a & 0x100 != 0 {
                a ^= POLY;
            }
            b >>= 1;
        }
        p as u8
    }

    #[test]
    fn tables_agree_with_the_field_definition() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(mul(a, b), slow_mul(a, b), "{a} * {b}");
            }
            if a != 0 {
                assert_eq!(mul(a, inv(a)), 1, "inverse of {a}");
            }
        }
    }

    #[test]
    fn affine_matrix_multiplies_by_its_constant() {
        // Apply the matrix the way GF2P8AFFINEQB does, bit by bit.
        fn apply(m: u64, x: u8) -> u8 {
            let mut out = 0u8;
            for i in 0..8 {
                let row = (m >> (8 * (7 - i))) as u8;
                out |= (((row & x).count_ones() & 1) as u8) << i;
            }
            out
        }
        for c in 0..=255u8 {
            let m = affine_matrix(c);
            for x in 0..=255u8 {
                assert_eq!(apply(m, x), mul(c, x), "{c} * {x}");
            }
        }
        assert_eq!(affine_matrix(1), 0x0102_0408_1020_4080);
    }

    #[test]
    fn nibble_tables_multiply_by_their_constant() {
        // Look both nibbles up the way VPSHUFB does and join the products.
        for c in 0..=255u8 {
            let t = nibble_tables(c);
            for x in 0..=255u8 {
                let got = t[(x & 15) as usize] ^ t[16 + (x >> 4) as usize];
                assert_eq!(got, slow_mul(c, x), "{c} * {x}");
            }
        }
        assert_eq!(nibble_tables(0), [0u8; 32]);
    }

    #[test]
    fn inversion_gives_the_inverse_and_rejects_singular_matrices() {
        let n = 5;
        let mut a: Vec<u8> = (0..n * n).map(|i| (i * 37 + 11) as u8).collect();
        // Make it a Vandermonde matrix, which is invertible.
        for r in 0..n {
            let mut v = 1u8;
            for c in 0..n {
                a[r * n + c] = v;
                v = mul(v, r as u8 + 1);
            }
        }
        let orig = a.clone();
        assert!(invert(&mut a, n));
        for r in 0..n {
            for c in 0..n {
                let dot = (0..n).fold(0u8, |acc, j| acc ^ mul(orig[r * n + j], a[j * n + c]));
                assert_eq!(dot, u8::from(r == c));
            }
        }
        let mut singular = orig.clone();
        let (row0, rest) = singular.split_at_mut(n);
        rest[..n].copy_from_slice(row0);
        assert!(!invert(&mut singular, n));
    }
}
