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

/// What HMAC needs of a Merkle–Damgård hash: its state, block and output
/// sizes, and its compression function.
pub(crate) trait Compress {
    /// Chaining state.
    type State: Copy + Zeroize;
    /// FIPS 180-4 initial state.
    const H0: Self::State;
    /// Block size in bytes (64 or 128).
    const BLOCK: usize;
    /// Digest size in bytes.
    const OUT: usize;
    /// Compresses one block (`block.len() == BLOCK`).
    fn compress(state: &mut Self::State, block: &[u8]);
    /// Writes the state as the digest (`out.len() == OUT`).
    fn digest(state: &Self::State, out: &mut [u8]);
    /// The hash of a key longer than a block.
    fn hash(data: &[u8]) -> Vec<u8>;
}

/// SHA-1.
pub(crate) enum Sha1 {}
/// SHA-256.
pub(crate) enum Sha256 {}
/// SHA-512.
pub(crate) enum Sha512 {}

fn words_be<const N: usize>(words: &[u32; N], out: &mut [u8]) {
    for (chunk, word) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
}

impl Compress for Sha1 {
    type State = [u32; 5];
    const H0: Self::State = SHA1_H0;
    const BLOCK: usize = 64;
    const OUT: usize = 20;
    fn compress(state: &mut Self::State, block: &[u8]) {
        if let Ok(b) = <&[u8; 64]>::try_from(block) {
            sha1::block_api::compress(state, std::slice::from_ref(b));
        }
    }
    fn digest(state: &Self::State, out: &mut [u8]) {
        words_be(state, out);
    }
    fn hash(data: &[u8]) -> Vec<u8> {
        sha1::Sha1::digest(data).to_vec()
    }
}

impl Compress for Sha256 {
    type State = [u32; 8];
    const H0: Self::State = SHA256_H0;
    const BLOCK: usize = 64;
    const OUT: usize = 32;
    fn compress(state: &mut Self::State, block: &[u8]) {
        if let Ok(b) = <&[u8; 64]>::try_from(block) {
            sha2::block_api::compress256(state, std::slice::from_ref(b));
        }
    }
    fn digest(state: &Self::State, out: &mut [u8]) {
        words_be(state, out);
    }
    fn hash(data: &[u8]) -> Vec<u8> {
        sha2::Sha256::digest(data).to_vec()
    }
}

impl Compress for Sha512 {
    type State = [u64; 8];
    const H0: Self::State = SHA512_H0;
    const BLOCK: usize = 128;
    const OUT: usize = 64;
    fn compress(state: &mut Self::State, block: &[u8]) {
        if let Ok(b) = <&[u8; 128]>::try_from(block) {
            sha2::block_api::compress512(state, std::slice::from_ref(b));
        }
    }
    fn digest(state: &Self::State, out: &mut [u8]) {
        for (chunk, word) in out.chunks_exact_mut(8).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
    }
    fn hash(data: &[u8]) -> Vec<u8> {
        sha2::Sha512::digest(data).to_vec()
    }
}

/// The largest block (SHA-512); smaller hashes use its first bytes.
const MAX_BLOCK: usize = 128;

/// Pads one message of `len` bytes already placed at the start of `block`:
/// the `0x80` marker, zeros, and the bit length of pad block + message in
/// the last 16 bytes (SHA-1/256 read the last 8 of them; the rest is zero).
fn finish_block<C: Compress>(block: &mut [u8; MAX_BLOCK], len: usize) {
    if let Some(b) = block.get_mut(len) {
        *b = 0x80;
    }
    let bits = ((C::BLOCK + len) as u128) * 8;
    if let Some(tail) = block.get_mut(C::BLOCK - 16..C::BLOCK) {
        tail.copy_from_slice(&bits.to_be_bytes());
    }
}

/// HMAC with the key's pad blocks compressed once.
pub(crate) struct Prekeyed<C: Compress> {
    inner: C::State,
    outer: C::State,
}

impl<C: Compress> Clone for Prekeyed<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner,
            outer: self.outer,
        }
    }
}

impl<C: Compress> Prekeyed<C> {
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut k = [0u8; MAX_BLOCK];
        let mut hashed = if key.len() > C::BLOCK {
            C::hash(key)
        } else {
            key.to_vec()
        };
        for (d, s) in k.iter_mut().zip(&hashed) {
            *d = *s;
        }
        hashed.zeroize();
        let mut ipad = [0x36u8; MAX_BLOCK];
        let mut opad = [0x5cu8; MAX_BLOCK];
        for ((i, o), kb) in ipad.iter_mut().zip(opad.iter_mut()).zip(&k) {
            *i ^= kb;
            *o ^= kb;
        }
        let mut inner = C::H0;
        let mut outer = C::H0;
        C::compress(&mut inner, ipad.get(..C::BLOCK).unwrap_or_default());
        C::compress(&mut outer, opad.get(..C::BLOCK).unwrap_or_default());
        k.zeroize();
        ipad.zeroize();
        opad.zeroize();
        Self { inner, outer }
    }

    /// HMAC of the big-endian counter into `out` (`C::OUT` bytes used).
    #[inline]
    pub(crate) fn counter(&self, counter: u64, out: &mut [u8; 64]) {
        let mut block = [0u8; MAX_BLOCK];
        if let Some(head) = block.get_mut(..8) {
            head.copy_from_slice(&counter.to_be_bytes());
        }
        finish_block::<C>(&mut block, 8);
        let mut s = self.inner;
        C::compress(&mut s, block.get(..C::BLOCK).unwrap_or_default());
        let mut block = [0u8; MAX_BLOCK];
        C::digest(&s, block.get_mut(..C::OUT).unwrap_or_default());
        finish_block::<C>(&mut block, C::OUT);
        let mut s = self.outer;
        C::compress(&mut s, block.get(..C::BLOCK).unwrap_or_default());
        C::digest(&s, out.get_mut(..C::OUT).unwrap_or_default());
    }
}

impl<C: Compress> Drop for Prekeyed<C> {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

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

    fn ours<C: Compress>(key: &[u8], counter: u64) -> Vec<u8> {
        let mut out = [0u8; 64];
        Prekeyed::<C>::new(key).counter(counter, &mut out);
        out[..C::OUT].to_vec()
    }

    proptest! {
        // Keys shorter than, equal to and longer than each block size.
        #[test]
        fn matches_the_hmac_crate(key in proptest::collection::vec(any::<u8>(), 0..300), counter in any::<u64>()) {
            prop_assert_eq!(ours::<Sha1>(&key, counter), reference::<sha1::Sha1>(&key, counter));
            prop_assert_eq!(ours::<Sha256>(&key, counter), reference::<sha2::Sha256>(&key, counter));
            prop_assert_eq!(ours::<Sha512>(&key, counter), reference::<sha2::Sha512>(&key, counter));
        }
    }

    #[test]
    fn block_sized_keys() {
        for len in [63, 64, 65, 127, 128, 129] {
            let key = vec![0xa5u8; len];
            assert_eq!(
                ours::<Sha1>(&key, 7),
                reference::<sha1::Sha1>(&key, 7),
                "{len}"
            );
            assert_eq!(
                ours::<Sha256>(&key, 7),
                reference::<sha2::Sha256>(&key, 7),
                "{len}"
            );
            assert_eq!(
                ours::<Sha512>(&key, 7),
                reference::<sha2::Sha512>(&key, 7),
                "{len}"
            );
        }
    }
}
