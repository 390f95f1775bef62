//! Writing PSKC in the three portal modes. Randomness (IVs, salt, MAC key)
//! comes from a [`Random`] the caller can replace, so tests reproduce RFC
//! 6030 figure 6 and the golden-token ciphertexts byte for byte.

use std::fmt::Write as _;
use std::io::Write;

use oathvault_token::{Hash, Kind, SecretEncoding, Token};
use zeroize::{Zeroize, Zeroizing};

use super::crypto::{Cipher, MacAlg, pbkdf2, uri};
use crate::emit::{TokenWriter, WriteSummary, escape_xml};
use crate::error::{Error, ErrorKind};

/// The default PBKDF2 iteration count when writing (python-pskc's too).
pub const DEFAULT_ITERATIONS: u32 = 100_000;

/// How a written file protects its secrets.
#[derive(Clone)]
pub enum Protection {
    /// Secrets as Base64 `PlainValue`s (the file must travel encrypted).
    Plain,
    /// AES-128-CBC under a 16-byte pre-shared key, HMAC-SHA-1 `ValueMAC`s.
    PreSharedKey {
        /// The 16-byte key.
        key: Zeroizing<Vec<u8>>,
        /// The name written in `ds:KeyName`.
        name: String,
    },
    /// PBKDF2-HMAC-SHA-1 from a passphrase (16-byte random salt), then as
    /// the pre-shared key.
    Passphrase {
        /// The passphrase.
        passphrase: Zeroizing<String>,
        /// PBKDF2 iterations ([`DEFAULT_ITERATIONS`] unless told).
        iterations: u32,
        /// The name written in `xenc11:MasterKeyName`.
        name: String,
    },
}

impl std::fmt::Debug for Protection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Plain => f.write_str("Plain"),
            Self::PreSharedKey { name, .. } => write!(f, "PreSharedKey({name:?}, [redacted])"),
            Self::Passphrase {
                iterations, name, ..
            } => write!(f, "Passphrase({name:?}, {iterations}, [redacted])"),
        }
    }
}

/// A source of random bytes for IVs, salts and MAC keys.
pub trait Random: Send {
    /// Fills `buf`.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error>;
}

/// The operating system's generator, drawn 4 KiB at a time (one system
/// call per 256 IVs, not one per IV); bytes handed out are wiped from the pool.
pub struct OsRandom {
    pool: Zeroizing<[u8; 4096]>,
    /// Bytes of `pool` already handed out.
    used: usize,
}

impl Default for OsRandom {
    fn default() -> Self {
        Self {
            pool: Zeroizing::new([0; 4096]),
            used: 4096,
        }
    }
}

impl std::fmt::Debug for OsRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OsRandom")
    }
}

impl Random for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        let no_randomness =
            |e: getrandom::Error| Error::new(std::io::Error::other(format!("no randomness: {e}")));
        if buf.len() > self.pool.len() {
            return getrandom::fill(buf).map_err(no_randomness);
        }
        if self.pool.len() - self.used < buf.len() {
            getrandom::fill(&mut self.pool[..]).map_err(no_randomness)?;
            self.used = 0;
        }
        let take = self
            .pool
            .get_mut(self.used..self.used + buf.len())
            .ok_or_else(|| no_randomness(getrandom::Error::UNSUPPORTED))?;
        buf.copy_from_slice(take);
        take.zeroize();
        self.used += buf.len();
        Ok(())
    }
}

fn element(out: &mut String, indent: &str, name: &str, text: &str) {
    out.push_str(indent);
    let _ = write!(out, "<{name}>");
    escape_xml(out, text);
    let _ = writeln!(out, "</{name}>");
}

/// The encryption key and the MAC key of an encrypted file.
type KeyPair = (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>);

/// Streaming PSKC writer.
pub struct Writer<W: Write> {
    out: W,
    random: Box<dyn Random>,
    /// Encryption key and MAC key, for the encrypted modes.
    keys: Option<KeyPair>,
    buf: Zeroizing<String>,
    tokens: u64,
}

impl<W: Write> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pskc::Writer")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

const CIPHER: Cipher = Cipher::Aes128Cbc;
const MAC: MacAlg = MacAlg::Sha1;

impl<W: Write> Writer<W> {
    /// Starts a file (the container header is written now).
    pub fn new(
        mut out: W,
        protection: &Protection,
        mut random: Box<dyn Random>,
    ) -> Result<Self, Error> {
        let mut head = Zeroizing::new(String::with_capacity(1024));
        head.push_str(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <KeyContainer Version=\"1.0\" xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\" \
             xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" \
             xmlns:xenc11=\"http://www.w3.org/2009/xmlenc11#\">\n",
        );
        let key = match protection {
            Protection::Plain => None,
            Protection::PreSharedKey { key, name } => {
                if key.len() != CIPHER.key_len() {
                    return Err(Error::new(ErrorKind::Syntax(format!(
                        "the pre-shared key must be {} bytes (AES-128); it is {}",
                        CIPHER.key_len(),
                        key.len()
                    ))));
                }
                head.push_str("  <EncryptionKey>\n");
                element(&mut head, "    ", "ds:KeyName", name);
                head.push_str("  </EncryptionKey>\n");
                Some(key.clone())
            }
            Protection::Passphrase {
                passphrase,
                iterations,
                name,
            } => {
                let mut salt = [0u8; 16];
                random.fill(&mut salt)?;
                let key = pbkdf2(
                    MacAlg::Sha1,
                    passphrase.as_bytes(),
                    &salt,
                    *iterations,
                    CIPHER.key_len(),
                );
                let _ = write!(
                    head,
                    "  <EncryptionKey>\n    <xenc11:DerivedKey>\n      <xenc11:KeyDerivationMethod Algorithm=\"{}\">\n        \
                     <xenc11:PBKDF2-params>\n          <xenc11:Salt><xenc11:Specified>{}</xenc11:Specified></xenc11:Salt>\n          \
                     <xenc11:IterationCount>{iterations}</xenc11:IterationCount>\n          <xenc11:KeyLength>{}</xenc11:KeyLength>\n        \
                     </xenc11:PBKDF2-params>\n      </xenc11:KeyDerivationMethod>\n",
                    uri::PBKDF2,
                    data_encoding::BASE64.encode(&salt),
                    CIPHER.key_len()
                );
                element(&mut head, "      ", "xenc11:MasterKeyName", name);
                head.push_str("    </xenc11:DerivedKey>\n  </EncryptionKey>\n");
                Some(key)
            }
        };
        let keys = match key {
            None => None,
            Some(key) => {
                let mut mac_key = Zeroizing::new(vec![0u8; MAC.key_len()]);
                random.fill(&mut mac_key)?;
                let mut iv = [0u8; 16];
                random.fill(&mut iv)?;
                let wrapped = CIPHER.encrypt(&key, &iv, &mac_key).ok_or_else(key_error)?;
                let _ = write!(
                    head,
                    "  <MACMethod Algorithm=\"{}\">\n    <MACKey>\n      <xenc:EncryptionMethod Algorithm=\"{}\"/>\n      \
                     <xenc:CipherData>\n        <xenc:CipherValue>{}</xenc:CipherValue>\n      </xenc:CipherData>\n    \
                     </MACKey>\n  </MACMethod>\n",
                    MAC.uri(),
                    CIPHER.uri(),
                    data_encoding::BASE64.encode(&wrapped)
                );
                Some((key, mac_key))
            }
        };
        out.write_all(head.as_bytes())?;
        Ok(Self {
            out,
            random,
            keys,
            buf: Zeroizing::new(String::with_capacity(2048)),
            tokens: 0,
        })
    }

    fn secret(&mut self, token: &Token) -> Result<(), Error> {
        let b = &mut self.buf;
        match &self.keys {
            None => {
                b.push_str("        <Secret>\n          <PlainValue>");
                SecretEncoding::Base64.encode_append(&token.secret, b);
                b.push_str("</PlainValue>\n        </Secret>\n");
            }
            Some((key, mac_key)) => {
                let mut iv = [0u8; 16];
                self.random.fill(&mut iv)?;
                let data = Zeroizing::new(
                    CIPHER
                        .encrypt(key, &iv, token.secret.expose())
                        .ok_or_else(key_error)?,
                );
                let mac = MAC.mac(mac_key, &data);
                b.push_str(
                    "        <Secret>\n          <EncryptedValue>\n            <xenc:EncryptionMethod Algorithm=\"",
                );
                b.push_str(CIPHER.uri());
                b.push_str("\"/>\n            <xenc:CipherData>\n              <xenc:CipherValue>");
                data_encoding::BASE64.encode_append(&data, b);
                b.push_str(
                    "</xenc:CipherValue>\n            </xenc:CipherData>\n          \
                     </EncryptedValue>\n          <ValueMAC>",
                );
                data_encoding::BASE64.encode_append(&mac, b);
                b.push_str("</ValueMAC>\n        </Secret>\n");
            }
        }
        Ok(())
    }
}

fn key_error() -> Error {
    Error::new(ErrorKind::Syntax(
        "the encryption key has the wrong length".into(),
    ))
}

impl<W: Write> TokenWriter for Writer<W> {
    fn write(&mut self, token: &Token) -> Result<(), Error> {
        self.buf.clear();
        let b = &mut self.buf;
        b.push_str("  <KeyPackage>\n    <DeviceInfo>\n");
        if let Some(m) = &token.manufacturer {
            element(b, "      ", "Manufacturer", m);
        }
        element(b, "      ", "SerialNo", token.serial.as_str());
        if let Some(m) = &token.model {
            element(b, "      ", "Model", m);
        }
        b.push_str("    </DeviceInfo>\n    <Key Id=\"");
        escape_xml(b, token.key_id.as_deref().unwrap_or(token.serial.as_str()));
        let _ = writeln!(
            b,
            "\" Algorithm=\"urn:ietf:params:xml:ns:keyprov:pskc:{}\">",
            token.kind.name()
        );
        if let Some(i) = &token.issuer {
            element(b, "      ", "Issuer", i);
        }
        let suite = match token.hash {
            Hash::Sha1 => "HMAC-SHA1",
            Hash::Sha256 => "HMAC-SHA256",
            Hash::Sha512 => "HMAC-SHA512",
        };
        let _ = writeln!(
            b,
            "      <AlgorithmParameters>\n        <Suite>{suite}</Suite>\n        \
             <ResponseFormat Length=\"{}\" Encoding=\"DECIMAL\"/>\n      </AlgorithmParameters>",
            token.digits
        );
        if let Some(n) = &token.display_name {
            element(b, "      ", "FriendlyName", n);
        }
        b.push_str("      <Data>\n");
        self.secret(token)?;
        let b = &mut self.buf;
        match token.kind {
            Kind::Hotp { counter } => {
                let _ = writeln!(
                    b,
                    "        <Counter>\n          <PlainValue>{counter}</PlainValue>\n        </Counter>"
                );
            }
            Kind::Totp { step, t0 } => {
                let _ = writeln!(
                    b,
                    "        <Time>\n          <PlainValue>{t0}</PlainValue>\n        </Time>\n        \
                     <TimeInterval>\n          <PlainValue>{step}</PlainValue>\n        </TimeInterval>"
                );
            }
        }
        b.push_str("      </Data>\n");
        if let Some(u) = &token.user {
            element(b, "      ", "UserId", u);
        }
        b.push_str("    </Key>\n  </KeyPackage>\n");
        self.out.write_all(self.buf.as_bytes())?;
        self.tokens += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<WriteSummary, Error> {
        self.buf.zeroize();
        self.out.write_all(b"</KeyContainer>\n")?;
        self.out.flush()?;
        Ok(WriteSummary {
            tokens: self.tokens,
            users_dropped: 0,
        })
    }
}
