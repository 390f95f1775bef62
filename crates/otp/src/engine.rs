//! The HOTP/TOTP engine.

use std::fmt;

use oathvault_token::{Digits, Hash, Kind, Token};
use subtle::{ConditionallySelectable, ConstantTimeEq, ConstantTimeLess};
use thiserror::Error;

use crate::prekeyed::{Compress, Prekeyed, Sha1, Sha256, Sha512};

/// Something asked of a token that it cannot do.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OtpError {
    /// A time-based question to an HOTP token.
    #[error("this is an HOTP (counter-based) token; it has no time-based code")]
    NotTotp,
    /// A time before the token's T0.
    #[error("time {at} is before the token's T0 ({t0})")]
    BeforeT0 {
        /// The time asked for.
        at: u64,
        /// The token's T0.
        t0: u64,
    },
    /// The code the user typed is not a code.
    #[error(transparent)]
    Code(#[from] CodeError),
}

/// A typed code that cannot be a code of this token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CodeError {
    /// Wrong number of digits.
    #[error("the code has {got} digits; this token shows {want}")]
    Length {
        /// Digits typed.
        got: usize,
        /// Digits the token shows.
        want: u8,
    },
    /// Something other than digits (spaces are allowed and ignored).
    #[error("the code must be digits only")]
    NotDigits,
}

/// A one-time code: a value below 10^digits, shown zero-padded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Code {
    value: u64,
    digits: Digits,
}

impl Code {
    /// The numeric value (leading zeros are not part of it; see `Display`).
    #[must_use]
    pub fn value(self) -> u64 {
        self.value
    }

    /// The code length.
    #[must_use]
    pub fn digits(self) -> Digits {
        self.digits
    }

    /// Parses what a user typed: digits, spaces ignored, exact length.
    pub fn parse(text: &str, digits: Digits) -> Result<Self, CodeError> {
        let mut value = 0u64;
        let mut n = 0usize;
        for c in text.bytes() {
            match c {
                b' ' | b'\t' => {}
                b'0'..=b'9' => {
                    n += 1;
                    if n <= 10 {
                        value = value * 10 + u64::from(c - b'0');
                    }
                }
                _ => return Err(CodeError::NotDigits),
            }
        }
        if n != usize::from(digits.get()) {
            return Err(CodeError::Length {
                got: n,
                want: digits.get(),
            });
        }
        Ok(Self { value, digits })
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0w$}", self.value, w = usize::from(self.digits.get()))
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({self})")
    }
}

/// How far around the expected counter to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Steps (or counters) behind the expected one.
    pub behind: u32,
    /// Steps (or counters) ahead of the expected one.
    pub ahead: u32,
}

impl Window {
    /// Exactly the expected counter.
    pub const EXACT: Self = Self {
        behind: 0,
        ahead: 0,
    };

    /// `n` behind and `n` ahead.
    #[must_use]
    pub fn symmetric(n: u32) -> Self {
        Self {
            behind: n,
            ahead: n,
        }
    }
}

/// A code that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// The counter that produced it.
    pub counter: u64,
    /// Offset from the expected counter: the drift in steps (negative: the
    /// token is behind).
    pub offset: i64,
}

/// HMAC state keyed once with the token's secret.
#[derive(Clone)]
enum Keyed {
    Sha1(Prekeyed<Sha1>),
    Sha256(Prekeyed<Sha256>),
    Sha512(Prekeyed<Sha512>),
}

/// Truncates an HMAC to a code value (RFC 4226 §5.3). The hashes used here
/// give 20, 32 or 64 bytes, so the slice is always in range; `get` keeps that
/// a checked fact rather than a panic.
fn truncate(h: &[u8], modulus: u64) -> u64 {
    let offset = usize::from(h.last().map_or(0, |b| b & 0x0f));
    let word = h
        .get(offset..offset + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes);
    u64::from(word & 0x7fff_ffff) % modulus
}

impl Keyed {
    fn new(hash: Hash, key: &[u8]) -> Self {
        match hash {
            Hash::Sha1 => Self::Sha1(Prekeyed::new(key)),
            Hash::Sha256 => Self::Sha256(Prekeyed::new(key)),
            Hash::Sha512 => Self::Sha512(Prekeyed::new(key)),
        }
    }

    #[inline]
    fn value(&self, counter: u64, modulus: u64) -> u64 {
        fn code<C: Compress>(m: &Prekeyed<C>, counter: u64, modulus: u64) -> u64 {
            let mut out = [0u8; 64];
            m.counter(counter, &mut out);
            truncate(out.get(..C::OUT).unwrap_or_default(), modulus)
        }
        match self {
            Self::Sha1(m) => code(m, counter, modulus),
            Self::Sha256(m) => code(m, counter, modulus),
            Self::Sha512(m) => code(m, counter, modulus),
        }
    }
}

/// HOTP of one counter, without keeping the keyed state (RFC 4226).
pub fn hotp(secret: &[u8], hash: Hash, counter: u64, digits: Digits) -> Result<Code, OtpError> {
    let keyed = Keyed::new(hash, secret);
    Ok(Code {
        value: keyed.value(counter, digits.modulus()),
        digits,
    })
}

/// The TOTP counter at `at` (RFC 6238: `floor((at - t0) / step)`).
pub fn totp_counter(at: u64, step: u32, t0: u64) -> Result<u64, OtpError> {
    at.checked_sub(t0)
        .map(|d| d / u64::from(step.max(1)))
        .ok_or(OtpError::BeforeT0 { at, t0 })
}

/// A token keyed for computing and checking codes.
///
/// Holds HMAC state derived from the secret; it is not printed by `Debug`.
#[derive(Clone)]
pub struct Otp {
    keyed: Keyed,
    kind: Kind,
    digits: Digits,
}

impl fmt::Debug for Otp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Otp")
            .field("kind", &self.kind)
            .field("digits", &self.digits)
            .finish_non_exhaustive()
    }
}

impl Otp {
    /// Keys the HMAC with the token's secret.
    pub fn new(token: &Token) -> Result<Self, OtpError> {
        Self::from_parts(token.secret.expose(), token.hash, token.kind, token.digits)
    }

    /// Keys the HMAC from parts.
    pub fn from_parts(
        secret: &[u8],
        hash: Hash,
        kind: Kind,
        digits: Digits,
    ) -> Result<Self, OtpError> {
        Ok(Self {
            keyed: Keyed::new(hash, secret),
            kind,
            digits,
        })
    }

    /// TOTP or HOTP, with step/T0 or counter.
    #[must_use]
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The code length.
    #[must_use]
    pub fn digits(&self) -> Digits {
        self.digits
    }

    /// The code for a counter value (HOTP counter or TOTP time step).
    #[must_use]
    pub fn at_counter(&self, counter: u64) -> Code {
        Code {
            value: self.keyed.value(counter, self.digits.modulus()),
            digits: self.digits,
        }
    }

    /// The counter a TOTP token is at, at Unix time `at`.
    pub fn counter_at(&self, at: u64) -> Result<u64, OtpError> {
        match self.kind {
            Kind::Totp { step, t0 } => totp_counter(at, step.seconds(), t0),
            Kind::Hotp { .. } => Err(OtpError::NotTotp),
        }
    }

    /// The TOTP code shown at Unix time `at`.
    pub fn totp(&self, at: u64) -> Result<Code, OtpError> {
        Ok(self.at_counter(self.counter_at(at)?))
    }

    /// Checks `code` against the counters `expected - behind ..= expected + ahead`.
    ///
    /// Every counter in the window is computed and compared in constant time,
    /// so the time taken does not tell where (or whether) the code matched.
    /// A malformed code is an error; a well-formed wrong code is `Ok(None)`.
    pub fn verify_counter(
        &self,
        code: &str,
        expected: u64,
        window: Window,
    ) -> Result<Option<Match>, OtpError> {
        let typed = Code::parse(code, self.digits)?;
        Ok(self.verify_value(typed.value, expected, window))
    }

    /// Checks a TOTP `code` at Unix time `at` within `window` steps.
    pub fn verify_totp(
        &self,
        code: &str,
        at: u64,
        window: Window,
    ) -> Result<Option<Match>, OtpError> {
        let expected = self.counter_at(at)?;
        self.verify_counter(code, expected, window)
    }

    /// The constant-time window scan over an already-parsed value.
    ///
    /// In a wide window a six-digit code also appears at other counters
    /// (about one in 350 for ±2,880 steps); the match nearest `expected`
    /// wins, earlier before later at the same distance, so a chance
    /// collision never moves the measured drift away from the real one.
    #[must_use]
    pub fn verify_value(&self, typed: u64, expected: u64, window: Window) -> Option<Match> {
        let modulus = self.digits.modulus();
        let mut found = subtle::Choice::from(0u8);
        let mut counter = 0u64;
        let mut offset = 0i64;
        let mut distance = u64::MAX;
        let first = expected.saturating_sub(u64::from(window.behind));
        let last = expected.saturating_add(u64::from(window.ahead));
        let mut c = first;
        loop {
            let away = c.abs_diff(expected);
            let hit = self.keyed.value(c, modulus).ct_eq(&typed) & away.ct_lt(&distance);
            counter.conditional_assign(&c, hit);
            distance.conditional_assign(&away, hit);
            // Counters are u64 but the window is at most 2^32 wide around
            // `expected`, so the difference fits in i64.
            #[allow(
                clippy::cast_possible_wrap,
                reason = "window is bounded by u32 on each side"
            )]
            let off = c.wrapping_sub(expected) as i64;
            offset.conditional_assign(&off, hit);
            found |= hit;
            if c == last {
                break;
            }
            c += 1;
        }
        bool::from(found).then_some(Match { counter, offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn otp(hash: Hash, secret: &[u8], digits: u8) -> Otp {
        let kind = Kind::Totp {
            step: oathvault_token::Step::S30,
            t0: 0,
        };
        Otp::from_parts(secret, hash, kind, Digits::new(u64::from(digits)).unwrap()).unwrap()
    }

    #[test]
    fn code_parsing() {
        let six = Digits::SIX;
        assert_eq!(Code::parse("005924", six).unwrap().value(), 5924);
        assert_eq!(Code::parse("005 924", six).unwrap().to_string(), "005924");
        assert_eq!(
            Code::parse("5924", six),
            Err(CodeError::Length { got: 4, want: 6 })
        );
        assert_eq!(Code::parse("00592a", six), Err(CodeError::NotDigits));
        assert_eq!(
            Code::parse("12345678901234567890", six),
            Err(CodeError::Length { got: 20, want: 6 })
        );
    }

    #[test]
    fn leading_zero_codes_are_kept() {
        let o = otp(Hash::Sha1, RFC_SECRET, 6);
        assert_eq!(o.totp(1_234_567_890).unwrap().to_string(), "005924");
        assert!(
            o.verify_totp("005924", 1_234_567_890, Window::EXACT)
                .unwrap()
                .is_some()
        );
        // The same digits without the zeros are a malformed code, not a match.
        assert!(o.verify_totp("5924", 1_234_567_890, Window::EXACT).is_err());
    }

    #[test]
    fn window_reports_drift_both_ways() {
        let o = otp(Hash::Sha1, RFC_SECRET, 6);
        let at = 1_111_111_109;
        let c = o.counter_at(at).unwrap();
        for off in -2i64..=2 {
            let code = o.at_counter(c.checked_add_signed(off).unwrap()).to_string();
            let m = o
                .verify_totp(&code, at, Window::symmetric(2))
                .unwrap()
                .unwrap();
            assert_eq!(m.offset, off);
            assert_eq!(m.counter, c.checked_add_signed(off).unwrap());
            let narrow = o.verify_totp(&code, at, Window::symmetric(1)).unwrap();
            assert_eq!(narrow.is_some(), off.abs() <= 1, "offset {off}");
        }
        let asym = Window {
            behind: 0,
            ahead: 1,
        };
        let behind = o.at_counter(c - 1).to_string();
        assert!(o.verify_totp(&behind, at, asym).unwrap().is_none());
    }

    #[test]
    fn a_wide_window_takes_the_match_nearest_the_expected_counter() {
        // Find a code that recurs within 2,880 counters (six digits in
        // 5,761 counters: a few such pairs are all but certain).
        let o = otp(Hash::Sha1, RFC_SECRET, 6);
        let base = 10_000_000u64;
        let mut seen = std::collections::HashMap::new();
        let (early, late) = (base..base + 20_000)
            .find_map(|c| {
                let v = o.at_counter(c).value();
                match seen.insert(v, c) {
                    Some(prev) if c - prev <= 2880 => Some((prev, c)),
                    _ => None,
                }
            })
            .expect("a code that recurs within 2,880 counters");
        let code = o.at_counter(late).to_string();
        // Centred on the later counter, the earlier one is also in the
        // window and is scanned first; the nearer one must win.
        let m = o
            .verify_counter(&code, late, Window::symmetric(2880))
            .unwrap()
            .unwrap();
        assert_eq!((m.counter, m.offset), (late, 0));
        let m = o
            .verify_counter(&code, early, Window::symmetric(2880))
            .unwrap()
            .unwrap();
        assert_eq!((m.counter, m.offset), (early, 0));
        // Halfway between, at equal distance or nearer the earlier one,
        // the earlier wins.
        let mid = early + (late - early) / 2;
        let m = o
            .verify_counter(&code, mid, Window::symmetric(2880))
            .unwrap()
            .unwrap();
        assert_eq!(m.counter, early);
    }

    #[test]
    fn window_at_counter_zero_does_not_underflow() {
        let o = otp(Hash::Sha1, RFC_SECRET, 6);
        let m = o
            .verify_counter("755224", 0, Window::symmetric(3))
            .unwrap()
            .unwrap();
        assert_eq!((m.counter, m.offset), (0, 0));
    }

    #[test]
    fn hotp_has_no_time() {
        let o = Otp::from_parts(
            RFC_SECRET,
            Hash::Sha1,
            Kind::Hotp { counter: 0 },
            Digits::SIX,
        )
        .unwrap();
        assert_eq!(o.totp(59), Err(OtpError::NotTotp));
        assert_eq!(o.at_counter(1).to_string(), "287082");
    }

    #[test]
    fn before_t0() {
        let kind = Kind::Totp {
            step: oathvault_token::Step::S30,
            t0: 100,
        };
        let o = Otp::from_parts(RFC_SECRET, Hash::Sha1, kind, Digits::SIX).unwrap();
        assert_eq!(o.totp(99), Err(OtpError::BeforeT0 { at: 99, t0: 100 }));
        assert_eq!(o.counter_at(130).unwrap(), 1);
    }

    #[test]
    fn debug_hides_key_state() {
        let o = otp(Hash::Sha1, RFC_SECRET, 6);
        let d = format!("{o:?}");
        assert!(d.starts_with("Otp {") && !d.contains("Hmac"), "{d}");
    }
}
