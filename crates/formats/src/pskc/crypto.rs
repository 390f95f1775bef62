//! The cryptography PSKC uses: AES-CBC with the IV prepended (XML
//! Encryption), AES key wrap (RFC 3394 / 5649, in `keywrap`), HMAC
//! `ValueMAC`s, and PBKDF2 for passphrase-based keys.

use aes::cipher::block_padding::{NoPadding, Pkcs7};
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Algorithm URIs.
pub(crate) mod uri {
    pub(crate) const AES128_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes128-cbc";
    pub(crate) const AES192_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes192-cbc";
    pub(crate) const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
    pub(crate) const KW_AES128: &str = "http://www.w3.org/2001/04/xmlenc#kw-aes128";
    pub(crate) const KW_AES192: &str = "http://www.w3.org/2001/04/xmlenc#kw-aes192";
    pub(crate) const KW_AES256: &str = "http://www.w3.org/2001/04/xmlenc#kw-aes256";
    pub(crate) const KW_AES128_PAD: &str = "http://www.w3.org/2009/xmlenc11#kw-aes-128-pad";
    pub(crate) const KW_AES192_PAD: &str = "http://www.w3.org/2009/xmlenc11#kw-aes-192-pad";
    pub(crate) const KW_AES256_PAD: &str = "http://www.w3.org/2009/xmlenc11#kw-aes-256-pad";
    pub(crate) const HMAC_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#hmac-sha1";
    pub(crate) const HMAC_SHA224: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha224";
    pub(crate) const HMAC_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";
    pub(crate) const HMAC_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha384";
    pub(crate) const HMAC_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512";
    pub(crate) const PBKDF2: &str =
        "http://www.rsasecurity.com/rsalabs/pkcs/schemas/pkcs-5v2-0#pbkdf2";
}

/// A block cipher mode PSKC names in `xenc:EncryptionMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::enum_variant_names,
    reason = "named after the XML Encryption algorithms"
)]
pub(crate) enum Cipher {
    Aes128Cbc,
    Aes192Cbc,
    Aes256Cbc,
    /// AES key wrap (RFC 3394; a padded RFC 5649 value is read too).
    Aes128Kw,
    Aes192Kw,
    Aes256Kw,
    /// AES key wrap with padding (RFC 5649).
    Aes128KwPad,
    Aes192KwPad,
    Aes256KwPad,
}

impl Cipher {
    pub(crate) fn from_uri(uri: &str) -> Option<Self> {
        match uri.trim() {
            uri::AES128_CBC => Some(Self::Aes128Cbc),
            uri::AES192_CBC => Some(Self::Aes192Cbc),
            uri::AES256_CBC => Some(Self::Aes256Cbc),
            uri::KW_AES128 => Some(Self::Aes128Kw),
            uri::KW_AES192 => Some(Self::Aes192Kw),
            uri::KW_AES256 => Some(Self::Aes256Kw),
            uri::KW_AES128_PAD => Some(Self::Aes128KwPad),
            uri::KW_AES192_PAD => Some(Self::Aes192KwPad),
            uri::KW_AES256_PAD => Some(Self::Aes256KwPad),
            _ => None,
        }
    }

    pub(crate) fn uri(self) -> &'static str {
        match self {
            Self::Aes128Cbc => uri::AES128_CBC,
            Self::Aes192Cbc => uri::AES192_CBC,
            Self::Aes256Cbc => uri::AES256_CBC,
            Self::Aes128Kw => uri::KW_AES128,
            Self::Aes192Kw => uri::KW_AES192,
            Self::Aes256Kw => uri::KW_AES256,
            Self::Aes128KwPad => uri::KW_AES128_PAD,
            Self::Aes192KwPad => uri::KW_AES192_PAD,
            Self::Aes256KwPad => uri::KW_AES256_PAD,
        }
    }

    /// Key length in bytes.
    pub(crate) fn key_len(self) -> usize {
        match self {
            Self::Aes128Cbc | Self::Aes128Kw | Self::Aes128KwPad => 16,
            Self::Aes192Cbc | Self::Aes192Kw | Self::Aes192KwPad => 24,
            Self::Aes256Cbc | Self::Aes256Kw | Self::Aes256KwPad => 32,
        }
    }

    /// Decrypts `IV ‖ ciphertext` (CBC) or a wrapped key. For CBC only the
    /// last byte of the padding is checked (XML Encryption's rule), so
    /// files from any producer open. `None`: wrong length, impossible
    /// padding (a wrong key, usually) or a failed key-wrap integrity check.
    pub(crate) fn decrypt(self, key: &[u8], data: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        match self {
            Self::Aes128Kw | Self::Aes192Kw | Self::Aes256Kw => {
                return super::keywrap::unwrap_any(key, data);
            }
            Self::Aes128KwPad | Self::Aes192KwPad | Self::Aes256KwPad => {
                return super::keywrap::unwrap_padded(key, data);
            }
            Self::Aes128Cbc | Self::Aes192Cbc | Self::Aes256Cbc => {}
        }
        let (iv, ct) = data.split_at_checked(16)?;
        if ct.is_empty() || ct.len() % 16 != 0 {
            return None;
        }
        let mut buf = Zeroizing::new(ct.to_vec());
        let plain_len = match self {
            Self::Aes128Cbc => cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv)
                .ok()?
                .decrypt_padded::<NoPadding>(&mut buf)
                .ok()?
                .len(),
            Self::Aes192Cbc => cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv)
                .ok()?
                .decrypt_padded::<NoPadding>(&mut buf)
                .ok()?
                .len(),
            Self::Aes256Cbc => cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv)
                .ok()?
                .decrypt_padded::<NoPadding>(&mut buf)
                .ok()?
                .len(),
            _ => return None,
        };
        let pad = usize::from(*buf.get(plain_len.checked_sub(1)?)?);
        if pad == 0 || pad > 16 || pad > plain_len {
            return None;
        }
        buf.truncate(plain_len - pad);
        Some(buf)
    }

    /// Encrypts with PKCS#7 padding and returns `IV ‖ ciphertext`.
    pub(crate) fn encrypt(self, key: &[u8], iv: &[u8; 16], plain: &[u8]) -> Option<Vec<u8>> {
        let ct = match self {
            Self::Aes128Cbc => cbc::Encryptor::<aes::Aes128>::new_from_slices(key, iv)
                .ok()?
                .encrypt_padded_vec::<Pkcs7>(plain),
            Self::Aes192Cbc => cbc::Encryptor::<aes::Aes192>::new_from_slices(key, iv)
                .ok()?
                .encrypt_padded_vec::<Pkcs7>(plain),
            Self::Aes256Cbc => cbc::Encryptor::<aes::Aes256>::new_from_slices(key, iv)
                .ok()?
                .encrypt_padded_vec::<Pkcs7>(plain),
            _ => return None,
        };
        let mut out = Vec::with_capacity(16 + ct.len());
        out.extend_from_slice(iv);
        out.extend_from_slice(&ct);
        Some(out)
    }
}

/// An HMAC PSKC names in `MACMethod`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MacAlg {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

fn hmac_of<D>(key: &[u8], data: &[u8]) -> Vec<u8>
where
    D: hmac::EagerHash,
    Hmac<D>: KeyInit + Mac,
{
    match <Hmac<D> as KeyInit>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of any length; an empty result never verifies.
        Err(_) => Vec::new(),
    }
}

impl MacAlg {
    /// Reads the XML Signature URIs; files in the wild also use the
    /// `xmldsig-more` namespace for SHA-1 and `xmldsig` for SHA-2.
    pub(crate) fn from_uri(uri: &str) -> Option<Self> {
        let (base, name) = uri.trim().split_once('#')?;
        if !matches!(
            base,
            "http://www.w3.org/2000/09/xmldsig" | "http://www.w3.org/2001/04/xmldsig-more"
        ) {
            return None;
        }
        match name {
            "hmac-sha1" => Some(Self::Sha1),
            "hmac-sha224" => Some(Self::Sha224),
            "hmac-sha256" => Some(Self::Sha256),
            "hmac-sha384" => Some(Self::Sha384),
            "hmac-sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    pub(crate) fn uri(self) -> &'static str {
        match self {
            Self::Sha1 => uri::HMAC_SHA1,
            Self::Sha224 => uri::HMAC_SHA224,
            Self::Sha256 => uri::HMAC_SHA256,
            Self::Sha384 => uri::HMAC_SHA384,
            Self::Sha512 => uri::HMAC_SHA512,
        }
    }

    /// The natural MAC key length (the hash's output length).
    pub(crate) fn key_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha224 => 28,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    pub(crate) fn mac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => hmac_of::<sha1::Sha1>(key, data),
            Self::Sha224 => hmac_of::<sha2::Sha224>(key, data),
            Self::Sha256 => hmac_of::<sha2::Sha256>(key, data),
            Self::Sha384 => hmac_of::<sha2::Sha384>(key, data),
            Self::Sha512 => hmac_of::<sha2::Sha512>(key, data),
        }
    }

    /// Constant-time check of a `ValueMAC`.
    pub(crate) fn verify(self, key: &[u8], data: &[u8], mac: &[u8]) -> bool {
        let expected = self.mac(key, data);
        !expected.is_empty() && expected.len() == mac.len() && bool::from(expected.ct_eq(mac))
    }
}

/// PBKDF2 with the PRF a file names (HMAC-SHA-1 when none).
pub(crate) fn pbkdf2(
    prf: MacAlg,
    passphrase: &[u8],
    salt: &[u8],
    iterations: u32,
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    match prf {
        MacAlg::Sha1 => {
            pbkdf2::pbkdf2_hmac::<sha1::Sha1>(passphrase, salt, iterations, &mut out);
        }
        MacAlg::Sha224 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha224>(passphrase, salt, iterations, &mut out);
        }
        MacAlg::Sha256 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase, salt, iterations, &mut out);
        }
        MacAlg::Sha384 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha384>(passphrase, salt, iterations, &mut out);
        }
        MacAlg::Sha512 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>(passphrase, salt, iterations, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc6030_figure6_secret_round_trip() {
        let key = hex("12345678901234567890123456789012");
        let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
        let ct = Cipher::Aes128Cbc
            .encrypt(&key, &iv, b"12345678901234567890")
            .unwrap();
        let b64 = data_encoding::BASE64.encode(&ct);
        assert_eq!(
            b64,
            "AAECAwQFBgcICQoLDA0OD+cIHItlB3Wra1DUpxVvOx2lef1VmNPCMl8jwZqIUqGv"
        );
        assert_eq!(
            &*Cipher::Aes128Cbc.decrypt(&key, &ct).unwrap(),
            b"12345678901234567890"
        );
        let mac_key = hex("1122334455667788990011223344556677889900");
        let mac = MacAlg::Sha1.mac(&mac_key, &ct);
        assert_eq!(
            data_encoding::BASE64.encode(&mac),
            "Su+NvtQfmvfJzF6bmQiJqoLRExc="
        );
        assert!(MacAlg::Sha1.verify(&mac_key, &ct, &mac));
        assert!(!MacAlg::Sha1.verify(&key, &ct, &mac));
    }

    #[test]
    fn rfc6030_figure7_pbkdf2() {
        let salt = data_encoding::BASE64.decode(b"Ej7/PEpyEpw=").unwrap();
        let k = pbkdf2(MacAlg::Sha1, b"qwerty", &salt, 1000, 16);
        assert_eq!(&*k, hex("651e63cd57008476af1ff6422cd02e41").as_slice());
    }

    #[test]
    fn wrong_key_is_none_or_garbage_never_a_panic() {
        let key = hex("12345678901234567890123456789012");
        let iv = [7u8; 16];
        let ct = Cipher::Aes128Cbc.encrypt(&key, &iv, b"secret").unwrap();
        let _ = Cipher::Aes128Cbc.decrypt(&[0u8; 16], &ct);
        assert!(Cipher::Aes128Cbc.decrypt(&key, &ct[..20]).is_none());
        assert!(Cipher::Aes128Cbc.decrypt(&[0u8; 5], &ct).is_none());
    }
}
