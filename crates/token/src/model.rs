//! Token fields as validated newtypes, and the [`Token`] itself.

use std::fmt;
use std::str::FromStr;

use crate::error::TokenError;
use crate::secret::Secret;

/// The longest serial accepted, in characters.
pub const MAX_SERIAL_LEN: usize = 128;

/// A token's serial number: text, never a number (leading zeros matter).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Serial(String);

impl Serial {
    /// Validates a serial: spaces around it are trimmed; it must be non-empty,
    /// at most 128 characters and free of control characters.
    pub fn new(text: &str) -> Result<Self, TokenError> {
        Self::check(text).map(|t| Self(t.to_owned()))
    }

    fn check(text: &str) -> Result<&str, TokenError> {
        // The usual serial: printable ASCII, no surrounding spaces.
        let b = text.as_bytes();
        if !b.is_empty()
            && b.len() <= MAX_SERIAL_LEN
            && b.iter().fold(true, |ok, &c| ok & c.is_ascii_graphic())
        {
            return Ok(text);
        }
        let t = if text.is_ascii() {
            text.trim_ascii()
        } else {
            text.trim()
        };
        if t.is_empty() {
            return Err(TokenError::SerialEmpty);
        }
        // Fast path for the usual ASCII serial; characters counted otherwise.
        let ascii = t.is_ascii();
        let len = if ascii { t.len() } else { t.chars().count() };
        if len > MAX_SERIAL_LEN {
            return Err(TokenError::SerialTooLong {
                len,
                max: MAX_SERIAL_LEN,
            });
        }
        let control = if ascii {
            t.bytes().any(|b| b.is_ascii_control())
        } else {
            t.chars().any(char::is_control)
        };
        if control {
            let position = t.chars().position(char::is_control).unwrap_or(0);
            return Err(TokenError::SerialControl {
                position: position + 1,
            });
        }
        Ok(t)
    }

    /// Replaces the serial in place (reusing its buffer), validating as
    /// [`Serial::new`]. On error the serial is unchanged.
    pub fn set(&mut self, text: &str) -> Result<(), TokenError> {
        let t = Self::check(text)?;
        self.0.clear();
        self.0.push_str(t);
        Ok(())
    }

    /// The serial as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({:?})", self.0)
    }
}

impl FromStr for Serial {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// The HMAC hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hash {
    /// HMAC-SHA-1 (RFC 4226; almost every hardware token).
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Hash {
    /// Canonical lower-case name: `sha1`, `sha256`, `sha512`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// Output length of the hash in bytes (the natural key length).
    #[must_use]
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        })
    }
}

impl FromStr for Hash {
    type Err = TokenError;

    /// Accepts the spellings seen in the wild: `SHA1`, `sha-1`, `HMAC-SHA1`,
    /// `HmacSHA1`, `hmacsha1`, `HMacSHA256`, …
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm: String = s
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        let bare = norm.strip_prefix("hmac").unwrap_or(&norm);
        match bare {
            "sha1" => Ok(Self::Sha1),
            "sha256" => Ok(Self::Sha256),
            "sha512" => Ok(Self::Sha512),
            _ => Err(TokenError::UnknownHash { name: s.to_owned() }),
        }
    }
}

/// Number of code digits, 6 to 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digits(u8);

impl Digits {
    /// Six digits, what nearly every hardware token shows.
    pub const SIX: Self = Self(6);
    /// Eight digits.
    pub const EIGHT: Self = Self(8);

    /// Validates 6..=10.
    pub fn new(digits: u64) -> Result<Self, TokenError> {
        match u8::try_from(digits) {
            Ok(d @ 6..=10) => Ok(Self(d)),
            _ => Err(TokenError::Digits { digits }),
        }
    }

    /// The count.
    #[must_use]
    pub fn get(self) -> u8 {
        self.0
    }

    /// 10^digits, the modulus of the truncated HMAC value.
    #[must_use]
    pub fn modulus(self) -> u64 {
        10u64.pow(u32::from(self.0))
    }
}

impl fmt::Display for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A TOTP time step in seconds: any positive step RFC 6238 allows, up to
/// [`Step::MAX`] (PSKC's `TimeInterval` is an `xs:int`). What a target
/// platform takes is the target's rule (`formats::limits`), not the model's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Step(u32);

impl Step {
    /// 30 seconds.
    pub const S30: Self = Self(30);
    /// 60 seconds.
    pub const S60: Self = Self(60);

    /// The longest step: 2³¹ − 1 seconds, the largest `xs:int`.
    pub const MAX: u32 = 2_147_483_647;

    /// Validates 1..=[`Step::MAX`].
    pub fn new(seconds: u64) -> Result<Self, TokenError> {
        match u32::try_from(seconds) {
            Ok(s @ 1..=Self::MAX) => Ok(Self(s)),
            _ => Err(TokenError::Step { step: seconds }),
        }
    }

    /// Seconds.
    #[must_use]
    pub fn seconds(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// TOTP or HOTP, with what each needs to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Time-based (RFC 6238).
    Totp {
        /// Seconds per code.
        step: Step,
        /// Unix time the counting starts at (almost always 0).
        t0: u64,
    },
    /// Event-based (RFC 4226).
    Hotp {
        /// The next counter value.
        counter: u64,
    },
}

impl Kind {
    /// TOTP with the given step and T0 = 0.
    #[must_use]
    pub fn totp(step: Step) -> Self {
        Self::Totp { step, t0: 0 }
    }

    /// `totp` or `hotp`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Totp { .. } => "totp",
            Self::Hotp { .. } => "hotp",
        }
    }

    /// The step, for TOTP.
    #[must_use]
    pub fn step(self) -> Option<Step> {
        match self {
            Self::Totp { step, .. } => Some(step),
            Self::Hotp { .. } => None,
        }
    }
}

/// One hardware OATH token.
///
/// Every field is validated by its type; `Debug` is safe to print (the secret
/// is redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Serial number printed on the device.
    pub serial: Serial,
    /// TOTP or HOTP.
    pub kind: Kind,
    /// HMAC hash function.
    pub hash: Hash,
    /// Code length.
    pub digits: Digits,
    /// The seed.
    pub secret: Secret,
    /// Manufacturer, e.g. `Deepnet Security`.
    pub manufacturer: Option<String>,
    /// Model, e.g. `SafeID/Classic`.
    pub model: Option<String>,
    /// Display name shown to users (Graph `displayName`).
    pub display_name: Option<String>,
    /// Assigned user: a UPN or a directory object id.
    pub user: Option<String>,
    /// Issuer (PSKC `Issuer`, otpauth issuer).
    pub issuer: Option<String>,
    /// Vendor key id (PSKC `Key/@Id`) when it differs from the serial.
    pub key_id: Option<String>,
}

impl Token {
    /// A TOTP token with SHA-1, six digits, T0 = 0 and no metadata.
    #[must_use]
    pub fn totp(serial: Serial, secret: Secret, step: Step) -> Self {
        Self {
            serial,
            kind: Kind::totp(step),
            hash: Hash::Sha1,
            digits: Digits::SIX,
            secret,
            manufacturer: None,
            model: None,
            display_name: None,
            user: None,
            issuer: None,
            key_id: None,
        }
    }

    /// A placeholder to be filled in place by a reader (serial `-`, a
    /// one-byte zero secret). Not a token to use as it is.
    #[must_use]
    pub fn blank() -> Self {
        Self::totp(Serial("-".to_owned()), Secret::zero_byte(), Step::S30)
    }

    /// An HOTP token with SHA-1, six digits and no metadata.
    #[must_use]
    pub fn hotp(serial: Serial, secret: Secret, counter: u64) -> Self {
        Self {
            kind: Kind::Hotp { counter },
            ..Self::totp(serial, secret, Step::S30)
        }
    }
}

/// Parses a whole number field, naming the text (never a secret) on failure.
pub(crate) fn parse_u64(text: &str) -> Result<u64, TokenError> {
    text.trim().parse().map_err(|_| TokenError::NotANumber {
        value: text.to_owned(),
    })
}

impl Kind {
    /// Parses `totp`/`hotp` in any case (also `TOTP-SHA1`-style prefixes are not accepted: use [`Hash`](enum@Hash)).
    pub fn parse_name(name: &str, step: Step, t0: u64, counter: u64) -> Result<Self, TokenError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "totp" => Ok(Self::Totp { step, t0 }),
            "hotp" => Ok(Self::Hotp { counter }),
            _ => Err(TokenError::UnknownKind {
                name: name.to_owned(),
            }),
        }
    }
}

impl Digits {
    /// Parses a digit count from text.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        Self::new(parse_u64(text)?)
    }
}

impl Step {
    /// Parses a step in seconds from text.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        // The two values nearly every file holds.
        match text {
            "30" => return Ok(Self::S30),
            "60" => return Ok(Self::S60),
            _ => {}
        }
        Self::new(parse_u64(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_keeps_leading_zeros_and_trims() {
        assert_eq!(Serial::new(" 0755225266 ").unwrap().as_str(), "0755225266");
        assert_eq!(Serial::new("  "), Err(TokenError::SerialEmpty));
        assert_eq!(
            Serial::new("a\u{0}b"),
            Err(TokenError::SerialControl { position: 2 })
        );
        assert!(matches!(
            Serial::new(&"9".repeat(129)),
            Err(TokenError::SerialTooLong { .. })
        ));
    }

    #[test]
    fn serial_set_reuses_and_keeps_old_on_error() {
        let mut s = Serial::new("1").unwrap();
        s.set(" 0042 ").unwrap();
        assert_eq!(s.as_str(), "0042");
        assert!(s.set("").is_err());
        assert_eq!(s.as_str(), "0042");
    }

    #[test]
    fn hash_spellings() {
        for (s, h) in [
            ("SHA1", Hash::Sha1),
            ("sha-1", Hash::Sha1),
            ("HMAC-SHA1", Hash::Sha1),
            ("HmacSHA1", Hash::Sha1),
            ("hmacsha1", Hash::Sha1),
            ("HMacSHA256", Hash::Sha256),
            ("sha256", Hash::Sha256),
            ("HMAC-SHA512", Hash::Sha512),
        ] {
            assert_eq!(s.parse::<Hash>().unwrap(), h, "{s}");
        }
        assert!("md5".parse::<Hash>().is_err());
    }

    #[test]
    fn ranges() {
        assert!(Digits::new(5).is_err());
        assert_eq!(Digits::new(10).unwrap().modulus(), 10_000_000_000);
        assert!(Digits::new(11).is_err());
        assert!(Step::new(0).is_err());
        assert_eq!(Step::parse(" 60 ").unwrap(), Step::S60);
        assert!(Step::parse("6O").is_err());
        assert_eq!(Step::new(172_800).unwrap().seconds(), 172_800, "two days");
        assert_eq!(
            Step::new(u64::from(Step::MAX)).unwrap().seconds(),
            Step::MAX
        );
        assert!(Step::new(u64::from(Step::MAX) + 1).is_err());
    }

    #[test]
    fn kind_names() {
        assert_eq!(
            Kind::parse_name("TOTP", Step::S30, 0, 0).unwrap(),
            Kind::totp(Step::S30)
        );
        assert_eq!(
            Kind::parse_name("hotp", Step::S30, 0, 7).unwrap(),
            Kind::Hotp { counter: 7 }
        );
        assert!(Kind::parse_name("ocra", Step::S30, 0, 0).is_err());
    }

    #[test]
    fn token_debug_redacts_secret() {
        let t = Token::totp(
            Serial::new("1").unwrap(),
            Secret::from_slice(b"12345678901234567890").unwrap(),
            Step::S30,
        );
        let dbg = format!("{t:?}");
        assert!(dbg.contains("[redacted]"));
        assert!(!dbg.contains("49, 50"), "{dbg}");
    }
}
