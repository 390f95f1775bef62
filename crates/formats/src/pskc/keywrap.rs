//! AES key wrap, for reading: RFC 3394 (`kw-aes128/192/256`, which RFC 6030
//! §6.1 allows for secrets and the MAC key) and RFC 5649, the variant with
//! padding (XML Encryption 1.1 `kw-aes-NNN-pad`). Written from the RFCs and
//! tested against their vectors; the integrity check is constant-time and
//! every intermediate buffer is wiped.

use aes::cipher::{BlockCipherDecrypt, KeyInit};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

/// RFC 3394 §2.2.3.1: the default initial value.
const IV_3394: [u8; 8] = [0xA6; 8];
/// RFC 5649 §3: the alternative initial value's constant half.
const AIV_5649: [u8; 4] = [0xA6, 0x59, 0x59, 0xA6];

/// AES with a 128-, 192- or 256-bit key, one block at a time.
enum Aes {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

impl Aes {
    fn new(key: &[u8]) -> Option<Self> {
        match key.len() {
            16 => aes::Aes128::new_from_slice(key).ok().map(Self::A128),
            24 => aes::Aes192::new_from_slice(key).ok().map(Self::A192),
            32 => aes::Aes256::new_from_slice(key).ok().map(Self::A256),
            _ => None,
        }
    }

    fn decrypt(&self, block: &mut [u8; 16]) {
        let b: &mut aes::Block = block.into();
        match self {
            Self::A128(c) => c.decrypt_block(b),
            Self::A192(c) => c.decrypt_block(b),
            Self::A256(c) => c.decrypt_block(b),
        }
    }
}

/// RFC 3394 §2.2.2 (index-based unwrap): the integrity register `A` and
/// the plaintext blocks. `wrapped` is at least three 64-bit blocks.
fn unwrap_raw(kek: &Aes, wrapped: &[u8]) -> Option<([u8; 8], Zeroizing<Vec<u8>>)> {
    if !wrapped.len().is_multiple_of(8) || wrapped.len() < 24 {
        return None;
    }
    let n = wrapped.len() / 8 - 1;
    let (a0, rest) = wrapped.split_at(8);
    let mut a: [u8; 8] = a0.try_into().ok()?;
    let mut r = Zeroizing::new(rest.to_vec());
    let mut block = Zeroizing::new([0u8; 16]);
    for j in (0..6u64).rev() {
        for i in (1..=n).rev() {
            let t = (n as u64) * j + i as u64;
            let ri = r.get_mut((i - 1) * 8..i * 8)?;
            for (x, y) in a.iter_mut().zip(t.to_be_bytes()) {
                *x ^= y;
            }
            let (hi, lo) = block.split_at_mut(8);
            hi.copy_from_slice(&a);
            lo.copy_from_slice(ri);
            kek.decrypt(&mut block);
            let (hi, lo) = block.split_at(8);
            a.copy_from_slice(hi);
            ri.copy_from_slice(lo);
        }
    }
    Some((a, r))
}

/// RFC 3394 unwrap; `None` if the key has the wrong length or the
/// integrity check fails (a wrong key or a changed value).
pub(crate) fn unwrap(kek: &[u8], wrapped: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let kek = Aes::new(kek)?;
    let (a, plain) = unwrap_raw(&kek, wrapped)?;
    bool::from(a.ct_eq(&IV_3394)).then_some(plain)
}

/// RFC 5649 unwrap (with padding); `None` on any failed check.
pub(crate) fn unwrap_padded(kek: &[u8], wrapped: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let kek = Aes::new(kek)?;
    let (a, mut plain) = if wrapped.len() == 16 {
        // §4.2: one block, decrypted with AES in ECB mode.
        let mut block = Zeroizing::new([0u8; 16]);
        block.copy_from_slice(wrapped);
        kek.decrypt(&mut block);
        let (hi, lo) = block.split_at(8);
        let a: [u8; 8] = hi.try_into().ok()?;
        (a, Zeroizing::new(lo.to_vec()))
    } else {
        unwrap_raw(&kek, wrapped)?
    };
    let (head, mli) = a.split_at(4);
    let mli = usize::try_from(u32::from_be_bytes(mli.try_into().ok()?)).ok()?;
    let n = plain.len();
    let ok = bool::from(head.ct_eq(&AIV_5649)) && mli > n.saturating_sub(8) && mli <= n;
    if !ok {
        plain.zeroize();
        return None;
    }
    let pad = plain.get(mli..)?;
    if !bool::from(pad.ct_eq(&vec![0u8; pad.len()])) {
        return None;
    }
    plain.truncate(mli);
    Some(plain)
}

/// Unwraps with whichever initial value the data carries: files that say
/// `kw-aesNNN` are sometimes padded (python-pskc reads both the same way).
pub(crate) fn unwrap_any(kek: &[u8], wrapped: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    unwrap(kek, wrapped).or_else(|| unwrap_padded(kek, wrapped))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 3394 §4.1–4.6: (KEK, key data, ciphertext).
    const RFC3394: [(&str, &str, &str); 6] = [
        (
            "000102030405060708090A0B0C0D0E0F",
            "00112233445566778899AABBCCDDEEFF",
            "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5",
        ),
        (
            "000102030405060708090A0B0C0D0E0F1011121314151617",
            "00112233445566778899AABBCCDDEEFF",
            "96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D",
        ),
        (
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
            "00112233445566778899AABBCCDDEEFF",
            "64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7",
        ),
        (
            "000102030405060708090A0B0C0D0E0F1011121314151617",
            "00112233445566778899AABBCCDDEEFF0001020304050607",
            "031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2",
        ),
        (
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
            "00112233445566778899AABBCCDDEEFF0001020304050607",
            "A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1",
        ),
        (
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
            "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
            "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21",
        ),
    ];

    #[test]
    fn rfc3394_vectors_unwrap() {
        for (kek, data, ct) in RFC3394 {
            assert_eq!(
                unwrap(&hex(kek), &hex(ct)).map(|p| p.to_vec()),
                Some(hex(data))
            );
            assert_eq!(
                unwrap_any(&hex(kek), &hex(ct)).map(|p| p.to_vec()),
                Some(hex(data))
            );
        }
    }

    #[test]
    fn rfc3394_any_changed_bit_or_wrong_key_fails() {
        let (kek, _, ct) = RFC3394[3];
        let ct = hex(ct);
        for i in 0..ct.len() * 8 {
            let mut bad = ct.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(unwrap_any(&hex(kek), &bad).is_none(), "bit {i}");
        }
        let mut wrong = hex(kek);
        wrong[0] ^= 1;
        assert!(unwrap_any(&wrong, &ct).is_none());
        assert!(unwrap(&hex(kek)[..15], &ct).is_none(), "bad key length");
        assert!(unwrap(&hex(kek), &ct[..16]).is_none(), "too short");
        assert!(
            unwrap(&hex(kek), &ct[..ct.len() - 1]).is_none(),
            "not 64-bit blocks"
        );
    }

    #[test]
    fn rfc5649_vectors_unwrap() {
        // RFC 5649 §6.
        let kek = hex("5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8");
        let twenty = hex("c37b7e6492584340 bed1220780894115 5068f738");
        let ct20 = hex("138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a");
        assert_eq!(
            unwrap_padded(&kek, &ct20).map(|p| p.to_vec()),
            Some(twenty.clone())
        );
        assert_eq!(
            unwrap_any(&kek, &ct20).map(|p| p.to_vec()),
            Some(twenty.clone())
        );
        let seven = hex("466f7250617369");
        let ct7 = hex("afbeb0f07dfbf541 9200f2ccb50bb24f");
        assert_eq!(
            unwrap_padded(&kek, &ct7).map(|p| p.to_vec()),
            Some(seven.clone())
        );
        let mut bad = ct20.clone();
        bad[5] ^= 0x40;
        assert!(unwrap_padded(&kek, &bad).is_none());
        assert!(
            unwrap(&kek, &ct20).is_none(),
            "a padded wrap is not RFC 3394's"
        );
    }
}
