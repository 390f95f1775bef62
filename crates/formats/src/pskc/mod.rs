//! PSKC (RFC 6030): the XML key container token vendors ship, in the three
//! protection modes the portal offers — plain text (`PlainValue`),
//! pre-shared key (AES-CBC, IV prepended, HMAC `ValueMAC` over IV ‖
//! ciphertext, MAC key carried encrypted) and passphrase (PBKDF2, then as
//! the pre-shared key).
//!
//! The reader matches elements by namespace URI (any prefix, the pre-RFC
//! namespace too), strips whitespace inside Base64, takes the hash from
//! `<Suite>` text or its `hashalgo` attribute, reads encrypted integers as
//! ASCII digits or big-endian binary, takes the serial from
//! `DeviceInfo/SerialNo` or else `Key/@Id`, and skips (and reports) keys
//! that are not HOTP/TOTP tokens. A wrong key or a tampered value is "MAC
//! check failed", never garbage secrets.

mod crypto;
mod dsig;
mod keywrap;
mod read;
mod serial;
mod values;
mod write;
pub(crate) mod xml;

pub use dsig::{SignatureError, SignerKey, Verified, verify as verify_signature};
pub use read::{Keys, MAX_ITERATIONS, Prompts, Reader};
pub use serial::SerialFrom;
pub use write::{DEFAULT_ITERATIONS, OsRandom, Protection, Random, Writer};
