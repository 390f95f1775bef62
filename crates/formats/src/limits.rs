//! What each target platform can take. A conversion checks every token before
//! anything is written and names each offending serial and rule.

use std::fmt;

use oathvault_token::{Digits, Hash, Kind, Serial, Step, Token};

/// The longest Base32 secret Entra accepts, in characters.
pub const ENTRA_MAX_BASE32: usize = 128;

/// The longest step the targets without a documented limit are given.
const HOUR: u32 = 3600;

/// A rule a target imposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// Entra: TOTP only.
    TotpOnly,
    /// Entra CSV: HMAC-SHA-1 only.
    Sha1Only,
    /// Graph: HMAC-SHA-1 or HMAC-SHA-256.
    Sha1OrSha256,
    /// Entra: six digits.
    SixDigits,
    /// Entra: 30 or 60 seconds.
    Step30Or60,
    /// Entra: T0 = 0 (it has no field for T0).
    T0Zero,
    /// Entra: Base32 secret of at most 128 characters.
    SecretTooLong,
    /// Graph: manufacturer is required.
    ManufacturerRequired,
    /// Graph: model is required.
    ModelRequired,
    /// The serial appears twice.
    DuplicateSerial,
    /// Duo: HMAC-SHA-1 only.
    DuoSha1,
    /// Duo: 6 or 8 digits.
    DuoDigits,
    /// Duo: T0 = 0.
    DuoT0,
    /// Duo: a time step of at most an hour.
    DuoStep,
    /// Okta: a time step of at most an hour.
    OktaStep,
    /// Duo: one token type and digit count per file.
    OneKindPerFile,
    /// Salesforce: TOTP, HMAC-SHA-1, 6 digits, 30 s, T0 0.
    SalesforceTotp,
    /// Salesforce: a 20-byte secret.
    SalesforceSecret,
    /// Okta: a Custom TOTP factor profile is time-based.
    OktaTotp,
    /// `DualShield`: TOTP, 6 or 8 digits, 30 or 60 s, T0 0.
    DualShieldTotp,
}

impl Rule {
    /// The message for a token breaking this rule.
    #[must_use]
    pub fn message(self, serial: &str, found: &str) -> String {
        format!("serial {serial}: {} (this token: {found})", self.describe())
    }

    /// The rule, in words.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::TotpOnly => "Entra takes TOTP tokens only",
            Self::Sha1Only => {
                "Entra's CSV upload takes HMAC-SHA-1 only (use entra-json for SHA-256)"
            }
            Self::Sha1OrSha256 => "Entra takes HMAC-SHA-1 or HMAC-SHA-256 only",
            Self::SixDigits => "Entra takes 6-digit tokens only",
            Self::Step30Or60 => "Entra takes a time interval of 30 or 60 seconds only",
            Self::T0Zero => "Entra has no T0 field; T0 must be 0",
            Self::SecretTooLong => "Entra takes Base32 secrets of at most 128 characters",
            Self::ManufacturerRequired => "Graph requires a manufacturer",
            Self::ModelRequired => "Graph requires a model",
            Self::DuplicateSerial => "each serial may appear only once",
            Self::DuoSha1 => "Duo takes HMAC-SHA-1 tokens only",
            Self::DuoDigits => "Duo takes 6- or 8-digit tokens only",
            Self::DuoT0 => "Duo has no T0 field; T0 must be 0",
            Self::DuoStep => {
                "Duo is given time steps of 1 to 3600 seconds only (longer ones are untested there)"
            }
            Self::OktaStep => {
                "Okta is given time steps of 1 to 3600 seconds only (longer ones are untested there)"
            }
            Self::SalesforceTotp => {
                "Salesforce verifies 6-digit, 30-second HMAC-SHA-1 TOTP codes only"
            }
            Self::SalesforceSecret => {
                "Salesforce takes 20-byte secrets only (32 Base32 characters)"
            }
            Self::OktaTotp => "Okta's Custom TOTP factor takes TOTP tokens with T0 = 0 only",
            Self::DualShieldTotp => {
                "a DualShield token file takes TOTP tokens with 6 or 8 digits, 30 or 60 s and T0 = 0"
            }
            Self::OneKindPerFile => {
                "the file holds one kind of token (one header, or one choice in the import form)"
            }
        }
    }
}

/// One token breaking one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The token's serial.
    pub serial: Serial,
    /// The rule broken.
    pub rule: Rule,
    /// What this token has instead (never secret material).
    pub found: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "serial {}: {} (this token: {})",
            self.serial,
            self.rule.describe(),
            self.found
        )
    }
}

/// The limits of a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Anything goes (lossless formats).
    Any,
    /// Entra admin-centre CSV upload.
    EntraCsv,
    /// Microsoft Graph `hardwareOathDevices`.
    EntraGraph,
    /// Duo's hardware token import.
    Duo,
    /// Salesforce `TwoFactorInfo` through Data Loader.
    Salesforce,
    /// Okta's Factors API with a Custom TOTP profile.
    Okta,
    /// Deepnet `DualShield` token file.
    DualShield,
}

/// The settings a one-kind-per-file target fixes in its header or form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchClass {
    /// `totp` or `hotp`.
    pub kind: &'static str,
    /// Code length.
    pub digits: u8,
    /// TOTP step, when the file fixes it.
    pub step: Option<u32>,
    /// Hash, when the file fixes it.
    pub hash: Option<Hash>,
}

impl fmt::Display for BatchClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} digits", self.kind.to_uppercase(), self.digits)?;
        if let Some(s) = self.step {
            write!(f, " {s} s")?;
        }
        if let Some(h) = self.hash {
            write!(f, " {h}")?;
        }
        Ok(())
    }
}

impl Target {
    /// For targets whose files hold one kind of token: what must be the
    /// same as the file's first token.
    #[must_use]
    pub fn batch_class(self, token: &Token) -> Option<BatchClass> {
        let class = BatchClass {
            kind: token.kind.name(),
            digits: token.digits.get(),
            step: None,
            hash: None,
        };
        match self {
            Self::Duo => Some(class),
            Self::DualShield => Some(BatchClass {
                step: token.kind.step().map(Step::seconds),
                hash: Some(token.hash),
                ..class
            }),
            _ => None,
        }
    }

    fn check_salesforce(token: &Token) -> Vec<Violation> {
        let mut out = Vec::new();
        let fits = matches!(token.kind, Kind::Totp { step, t0: 0 } if step.seconds() == 30)
            && token.hash == Hash::Sha1
            && token.digits == Digits::SIX;
        if !fits {
            let found = match token.kind {
                Kind::Totp { step, t0 } => {
                    format!(
                        "TOTP {} {} digits {} s T0 {t0}",
                        token.hash,
                        token.digits,
                        step.seconds()
                    )
                }
                Kind::Hotp { .. } => format!("HOTP {} {} digits", token.hash, token.digits),
            };
            out.push(Violation {
                serial: token.serial.clone(),
                rule: Rule::SalesforceTotp,
                found,
            });
        }
        if token.secret.len() != 20 {
            let found = format!("{} bytes", token.secret.len());
            out.push(Violation {
                serial: token.serial.clone(),
                rule: Rule::SalesforceSecret,
                found,
            });
        }
        out
    }

    fn check_duo(token: &Token) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut v = |rule: Rule, found: String| {
            out.push(Violation {
                serial: token.serial.clone(),
                rule,
                found,
            });
        };
        if token.hash != Hash::Sha1 {
            v(Rule::DuoSha1, token.hash.to_string());
        }
        if !matches!(token.digits.get(), 6 | 8) {
            v(Rule::DuoDigits, format!("{} digits", token.digits));
        }
        if let Kind::Totp { t0, .. } = token.kind
            && t0 != 0
        {
            v(Rule::DuoT0, format!("T0 {t0}"));
        }
        if let Some(step) = token.kind.step()
            && step.seconds() > HOUR
        {
            v(Rule::DuoStep, format!("{step} s"));
        }
        out
    }

    /// Every rule `token` breaks for this target (empty: it fits).
    #[must_use]
    pub fn check(self, token: &Token) -> Vec<Violation> {
        let mut out = Vec::new();
        if self == Self::Any {
            return out;
        }
        if self == Self::Duo {
            return Self::check_duo(token);
        }
        if self == Self::Salesforce {
            return Self::check_salesforce(token);
        }
        if self == Self::DualShield {
            let fits = matches!(token.kind, Kind::Totp { step, t0: 0 } if matches!(step.seconds(), 30 | 60))
                && matches!(token.digits.get(), 6 | 8);
            if !fits {
                let found = match token.kind {
                    Kind::Totp { step, t0 } => {
                        format!("TOTP {} digits {} s T0 {t0}", token.digits, step.seconds())
                    }
                    Kind::Hotp { .. } => "HOTP".to_owned(),
                };
                out.push(Violation {
                    serial: token.serial.clone(),
                    rule: Rule::DualShieldTotp,
                    found,
                });
            }
            return out;
        }
        if self == Self::Okta {
            if !matches!(token.kind, Kind::Totp { t0: 0, .. }) {
                let found = match token.kind {
                    Kind::Totp { t0, .. } => format!("T0 {t0}"),
                    Kind::Hotp { .. } => "HOTP".to_owned(),
                };
                out.push(Violation {
                    serial: token.serial.clone(),
                    rule: Rule::OktaTotp,
                    found,
                });
            }
            if let Some(step) = token.kind.step()
                && step.seconds() > HOUR
            {
                out.push(Violation {
                    serial: token.serial.clone(),
                    rule: Rule::OktaStep,
                    found: format!("{step} s"),
                });
            }
            return out;
        }
        let mut v = |rule: Rule, found: String| {
            out.push(Violation {
                serial: token.serial.clone(),
                rule,
                found,
            });
        };
        match token.kind {
            Kind::Hotp { .. } => v(Rule::TotpOnly, "HOTP".into()),
            Kind::Totp { step, t0 } => {
                if !matches!(step.seconds(), 30 | 60) {
                    v(Rule::Step30Or60, format!("{} s", step.seconds()));
                }
                if t0 != 0 {
                    v(Rule::T0Zero, format!("T0 {t0}"));
                }
            }
        }
        match (self, token.hash) {
            (_, Hash::Sha1) | (Self::EntraGraph, Hash::Sha256) => {}
            (Self::EntraCsv, h) => v(Rule::Sha1Only, h.to_string()),
            (_, h) => v(Rule::Sha1OrSha256, h.to_string()),
        }
        if token.digits != Digits::SIX {
            v(Rule::SixDigits, format!("{} digits", token.digits));
        }
        let b32 = (token.secret.len() * 8).div_ceil(5);
        if b32 > ENTRA_MAX_BASE32 {
            v(Rule::SecretTooLong, format!("{b32} characters"));
        }
        if self == Self::EntraGraph {
            if token.manufacturer.as_deref().is_none_or(str::is_empty) {
                v(Rule::ManufacturerRequired, "none".into());
            }
            if token.model.as_deref().is_none_or(str::is_empty) {
                v(Rule::ModelRequired, "none".into());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oathvault_token::{Secret, Step};

    fn token() -> Token {
        let mut t = Token::totp(
            Serial::new("1").unwrap(),
            Secret::from_slice(&[1; 20]).unwrap(),
            Step::S30,
        );
        t.manufacturer = Some("M".into());
        t.model = Some("X".into());
        t
    }

    #[test]
    fn golden_fits() {
        assert!(Target::EntraCsv.check(&token()).is_empty());
        assert!(Target::EntraGraph.check(&token()).is_empty());
    }

    #[test]
    fn a_two_day_step_is_a_token_and_each_target_says_whether_it_fits() {
        let mut t = token();
        t.kind = Kind::Totp {
            step: Step::new(172_800).unwrap(),
            t0: 0,
        };
        let rules_of = |t: &Token, target: Target| -> Vec<Rule> {
            target.check(t).into_iter().map(|v| v.rule).collect()
        };
        let rules = |target: Target| rules_of(&t, target);
        assert!(
            rules(Target::Any).is_empty(),
            "jsonl and PSKC carry any step"
        );
        assert_eq!(rules(Target::EntraCsv), [Rule::Step30Or60]);
        assert_eq!(rules(Target::EntraGraph), [Rule::Step30Or60]);
        assert_eq!(rules(Target::Duo), [Rule::DuoStep]);
        assert_eq!(rules(Target::Okta), [Rule::OktaStep]);
        assert_eq!(rules(Target::Salesforce), [Rule::SalesforceTotp]);
        assert_eq!(rules(Target::DualShield), [Rule::DualShieldTotp]);
        let v = &Target::Duo.check(&t)[0];
        assert_eq!(
            v.to_string(),
            "serial 1: Duo is given time steps of 1 to 3600 seconds only (longer ones are untested there) (this token: 172800 s)"
        );
        t.kind = Kind::Totp {
            step: Step::new(3600).unwrap(),
            t0: 0,
        };
        assert!(rules_of(&t, Target::Duo).is_empty() && rules_of(&t, Target::Okta).is_empty());
    }

    #[test]
    fn every_rule_is_named() {
        let mut t = token();
        t.kind = Kind::Totp {
            step: Step::new(45).unwrap(),
            t0: 5,
        };
        t.hash = Hash::Sha512;
        t.digits = Digits::EIGHT;
        t.secret = Secret::from_slice(&[1; 81]).unwrap();
        t.model = None;
        let rules: Vec<Rule> = Target::EntraGraph
            .check(&t)
            .into_iter()
            .map(|v| v.rule)
            .collect();
        assert_eq!(
            rules,
            [
                Rule::Step30Or60,
                Rule::T0Zero,
                Rule::Sha1OrSha256,
                Rule::SixDigits,
                Rule::SecretTooLong,
                Rule::ModelRequired
            ]
        );
        t.kind = Kind::Hotp { counter: 0 };
        t.hash = Hash::Sha256;
        let csv: Vec<Rule> = Target::EntraCsv
            .check(&t)
            .into_iter()
            .map(|v| v.rule)
            .collect();
        assert_eq!(
            csv,
            [
                Rule::TotpOnly,
                Rule::Sha1Only,
                Rule::SixDigits,
                Rule::SecretTooLong
            ]
        );
    }

    #[test]
    fn eighty_bytes_is_the_base32_limit() {
        let mut t = token();
        t.secret = Secret::from_slice(&[1; 80]).unwrap();
        assert!(Target::EntraCsv.check(&t).is_empty());
    }

    #[test]
    fn message_names_serial_and_rule() {
        let mut t = token();
        t.kind = Kind::Hotp { counter: 0 };
        let v = &Target::EntraCsv.check(&t)[0];
        assert_eq!(
            v.to_string(),
            "serial 1: Entra takes TOTP tokens only (this token: HOTP)"
        );
    }
}
