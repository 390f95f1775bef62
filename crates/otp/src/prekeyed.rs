//! HMAC over one 8-byte counter, with the key's pads compressed once.
//!
//! HMAC(K, m) = H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)). The two pad blocks depend
//! only on the key, so their compressed states are kept; an OTP counter then
//! costs exactly two calls of the hash's compression function (the vetted
//! `sha1`/`sha2` implementations, with SHA-NI where the CPU has it) and no
//! buffering. Cross-checked against the `hmac` crate in the tests below and by
//! every RFC 4226/6238 vector.

use sha1::Digest;
use zeroize::Zeroize;

/// FIPS 180-4 initial hash values.
const SHA1_H0: [u32; 5] = [
    0x6745_2301,
    0xEFCD_AB89,
    0x98BA_DCFE,
    0x1032_5476,
    0xC3D2_E1F0,
];
const SHA256_H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];
const SHA512_H0: [u64; 8] = [
    0x6a09_e667_f3bc_c908,
    0xbb67_ae85_84ca_a73b,
    0x3c6e_f372_fe94_f82b,
    0xa54f_f53a_5f1d_36f1,
    0x510e_527f_ade6_82d1,
    0x9b05_688c_2b3e_6c1f,
    0x1f83_d9ab_fb41_bd6b,
    0x5be0_cd19_137e_2179,
];

/// Builds the ipad/opad blocks of `key` (hashed first when longer than a block).
fn pads<const B: usize>(key: &[u8], hash: impl Fn(&[u8]) -> Vec<u8>) -> ([u8; B], [u8; B]) {
    let mut k = [0u8; B];
    let mut hashed = if key.len() > B {
        hash(key)
    } else {
        key.to_vec()
    };
    for (d, s) in k.iter_mut().zip(&hashed) {
        *d = *s;
    }
    hashed.zeroize();
    let mut ipad = [0x36u8; B];
    let mut opad = [0x5cu8; B];
    for ((i, o), kb) in ipad.iter_mut().zip(opad.iter_mut()).zip(&k) {
        *i ^= kb;
        *o ^= kb;
    }
    k.zeroize();
    (ipad, opad)
}

/// Pre-keyed HMAC-SHA-1.
#[derive(Clone)]
pub(crate) struct HmacSha1 {
    inner: [u32; 5],
    outer: [u32; 5],
}

impl HmacSha1 {
    pub(crate) fn new(key: &[u8]) -> Self {
        let (mut ipad, mut opad) = pads::<64>(key, |k| sha1::Sha1::digest(k).to_vec());
        let mut inner = SHA1_H0;
        let mut outer = SHA1_H0;
        sha1::block_api::compress(&mut inner, &[ipad]);
        sha1::block_api::compress(&mut outer, &[opad]);
        ipad.zeroize();
        opad.zeroize();
        Self { inner, outer }
    }

    /// HMAC of the big-endian counter.
    #[inline]
    pub(crate) fn counter(&self, counter: u64) -> [u8; 20] {
        let mut block = [0u8; 64];
        block[..8].copy_from_slice(&counter.to_be_bytes());
        block[8] = 0x80;
        block[56..].copy_from_slice(&((64u64 + 8) * 8).to_be_bytes());
        let mut s = self.inner;
        sha1::block_api::compress(&mut s, &[block]);
        let mut block = [0u8; 64];
        for (chunk, word) in block.chunks_exact_mut(4).zip(s) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        block[20] = 0x80;
        block[56..].copy_from_slice(&((64u64 + 20) * 8).to_be_bytes());
        let mut s = self.outer;
        sha1::block_api::compress(&mut s, &[block]);
        let mut out = [0u8; 20];
        for (chunk, word) in out.chunks_exact_mut(4).zip(s) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// Pre-keyed HMAC-SHA-256.
#[derive(Clone)]
pub(crate) struct HmacSha256 {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl HmacSha256 {
    pub(crate) fn new(key: &[u8]) -> Self {
        let (mut ipad, mut opad) = pads::<64>(key, |k| sha2::Sha256::digest(k).to_vec());
        let mut inner = SHA256_H0;
        let mut outer = SHA256_H0;
        sha2::block_api::compress256(&mut inner, &[ipad]);
        sha2::block_api::compress256(&mut outer, &[opad]);
        ipad.zeroize();
        opad.zeroize();
        Self { inner, outer }
    }

    #[inline]
    pub(crate) fn counter(&self, counter: u64) -> [u8; 32] {
        let mut block = [0u8; 64];
        block[..8].copy_from_slice(&counter.to_be_bytes());
        block[8] = 0x80;
        block[56..].copy_from_slice(&((64u64 + 8) * 8).to_be_bytes());
        let mut s = self.inner;
        sha2::block_api::compress256(&mut s, &[block]);
        let mut block = [0u8; 64];
        for (chunk, word) in block.chunks_exact_mut(4).zip(s) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        block[32] = 0x80;
        block[56..].copy_from_slice(&((64u64 + 32) * 8).to_be_bytes());
        let mut s = self.outer;
        sha2::block_api::compress256(&mut s, &[block]);
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(s) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// Pre-keyed HMAC-SHA-512.
#[derive(Clone)]
pub(crate) struct HmacSha512 {
    inner: [u64; 8],
    outer: [u64; 8],
}

impl HmacSha512 {
    pub(crate) fn new(key: &[u8]) -> Self {
        let (mut ipad, mut opad) = pads::<128>(key, |k| sha2::Sha512::digest(k).to_vec());
        let mut inner = SHA512_H0;
        let mut outer = SHA512_H0;
        sha2::block_api::compress512(&mut inner, &[ipad]);
        sha2::block_api::compress512(&mut outer, &[opad]);
        ipad.zeroize();
        opad.zeroize();
        Self { inner, outer }
    }

    #[inline]
    pub(crate) fn counter(&self, counter: u64) -> [u8; 64] {
        let mut block = [0u8; 128];
        block[..8].copy_from_slice(&counter.to_be_bytes());
        block[8] = 0x80;
        block[112..].copy_from_slice(&((128u128 + 8) * 8).to_be_bytes());
        let mut s = self.inner;
        sha2::block_api::compress512(&mut s, &[block]);
        let mut block = [0u8; 128];
        for (chunk, word) in block.chunks_exact_mut(8).zip(s) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        block[64] = 0x80;
        block[112..].copy_from_slice(&((128u128 + 64) * 8).to_be_bytes());
        let mut s = self.outer;
        sha2::block_api::compress512(&mut s, &[block]);
        let mut out = [0u8; 64];
        for (chunk, word) in out.chunks_exact_mut(8).zip(s) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

macro_rules! wipe_on_drop {
    ($($t:ty),*) => {$(
        impl Drop for $t {
            fn drop(&mut self) {
                self.inner.zeroize();
                self.outer.zeroize();
            }
        }
    )*};
}
wipe_on_drop!(HmacSha1, HmacSha256, HmacSha512);

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, KeyInit, Mac};
    use proptest::prelude::*;

    fn reference<D>(key: &[u8], counter: u64) -> Vec<u8>
    where
        D: hmac::EagerHash,
        Hmac<D>: KeyInit + Mac,
    {
        let mut m = <Hmac<D> as KeyInit>::new_from_slice(key).unwrap();
        m.update(&counter.to_be_bytes());
        m.finalize().into_bytes().to_vec()
    }

    proptest! {
        // Keys shorter than, equal to and longer than each block size.
        #[test]
        fn matches_the_hmac_crate(key in proptest::collection::vec(any::<u8>(), 0..300), counter in any::<u64>()) {
            prop_assert_eq!(HmacSha1::new(&key).counter(counter).to_vec(), reference::<sha1::Sha1>(&key, counter));
            prop_assert_eq!(HmacSha256::new(&key).counter(counter).to_vec(), reference::<sha2::Sha256>(&key, counter));
            prop_assert_eq!(HmacSha512::new(&key).counter(counter).to_vec(), reference::<sha2::Sha512>(&key, counter));
        }
    }

    #[test]
    fn block_sized_keys() {
        for len in [63, 64, 65, 127, 128, 129] {
            let key = vec![0xa5u8; len];
            assert_eq!(
                HmacSha1::new(&key).counter(7).to_vec(),
                reference::<sha1::Sha1>(&key, 7),
                "{len}"
            );
            assert_eq!(
                HmacSha512::new(&key).counter(7).to_vec(),
                reference::<sha2::Sha512>(&key, 7),
                "{len}"
            );
        }
    }
}
