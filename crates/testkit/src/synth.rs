//! Synthetic tokens: deterministic lists for benches and proptest strategies
//! for property tests.

use oathvault_token::{Digits, Hash, Kind, Secret, Serial, Step, Token};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::{Just, Strategy, any, prop_oneof};

/// A splitmix64 step: a small, well-mixed, deterministic generator.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `n` Entra-compatible TOTP tokens (SHA-1, 6 digits, 30/60 s, 20-byte
/// secrets), the same for the same `seed`.
#[must_use]
pub fn entra_tokens(n: usize, seed: u64) -> Vec<Token> {
    let mut s = seed;
    (0..n)
        .map(|i| {
            let mut bytes = Vec::with_capacity(24);
            for _ in 0..3 {
                bytes.extend_from_slice(&splitmix(&mut s).to_le_bytes());
            }
            bytes.truncate(20);
            let step = if i % 4 == 0 { Step::S60 } else { Step::S30 };
            let mut t = Token::totp(
                Serial::new(&format!("{i:010}")).expect("serial"),
                Secret::new(bytes).expect("secret"),
                step,
            );
            t.manufacturer = Some("Deepnet Security".into());
            t.model = Some(
                if i % 2 == 0 {
                    "SafeID/Classic"
                } else {
                    "SafeID/Enterprise"
                }
                .into(),
            );
            t
        })
        .collect()
}

/// Printable text without control characters, including commas, quotes,
/// spaces inside and non-ASCII letters: what CSV quoting must survive.
pub fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9 ,\"'/._\\-äöüé€]{1,24}"
        .prop_map(|s| s.trim().to_owned())
        .prop_filter("non-empty", |s| !s.is_empty())
}

/// A serial: digits (often with leading zeros) or letters and digits.
pub fn serial() -> impl Strategy<Value = Serial> {
    prop_oneof!["0{0,3}[0-9]{1,12}", "[A-Z]{0,4}[0-9]{1,10}"]
        .prop_map(|s| Serial::new(&s).expect("strategy makes valid serials"))
}

/// A secret of 10 to 64 bytes.
pub fn secret() -> impl Strategy<Value = Secret> {
    vec(any::<u8>(), 10..=64).prop_map(|b| Secret::new(b).expect("non-empty"))
}

/// Tokens Entra's CSV takes: TOTP, SHA-1, 6 digits, 30/60 s, T0 0,
/// manufacturer and model set, no user unless `with_user`.
pub fn entra_csv_token(with_user: bool) -> impl Strategy<Value = Token> {
    (
        serial(),
        vec(any::<u8>(), 10..=64),
        prop_oneof![Just(Step::S30), Just(Step::S60)],
        text(),
        text(),
        option::of("[a-z]{1,8}@[a-z]{1,8}\\.example"),
    )
        .prop_map(move |(serial, secret, step, manufacturer, model, user)| {
            let mut t = Token::totp(serial, Secret::new(secret).expect("non-empty"), step);
            t.manufacturer = Some(manufacturer);
            t.model = Some(model);
            t.user = if with_user { user } else { None };
            t
        })
}

/// Tokens Graph's JSON takes: like [`entra_csv_token`] plus SHA-256 and a
/// display name.
pub fn entra_json_token() -> impl Strategy<Value = Token> {
    (
        entra_csv_token(false),
        prop_oneof![Just(Hash::Sha1), Just(Hash::Sha256)],
        option::of(text()),
    )
        .prop_map(|(mut t, hash, display_name)| {
            t.hash = hash;
            t.display_name = display_name;
            t
        })
}

/// Any valid token: every kind, hash, digit count, step, T0, counter and
/// optional field.
pub fn any_token() -> impl Strategy<Value = Token> {
    let kind = prop_oneof![
        (
            prop_oneof![3 => 1u64..=3600, 1 => 3601..=u64::from(Step::MAX)],
            0u64..2_000_000_000
        )
            .prop_map(|(s, t0)| Kind::Totp {
                step: Step::new(s).expect("range"),
                t0
            }),
        any::<u64>().prop_map(|counter| Kind::Hotp { counter }),
    ];
    let hash = prop_oneof![Just(Hash::Sha1), Just(Hash::Sha256), Just(Hash::Sha512)];
    let meta = (
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(text()),
    );
    let more = (option::of(text()), option::of(text()));
    (serial(), kind, hash, 6u64..=10, secret(), meta, more).prop_map(
        |(
            serial,
            kind,
            hash,
            digits,
            secret,
            (manufacturer, model, display_name, user),
            (issuer, key_id),
        )| Token {
            serial,
            kind,
            hash,
            digits: Digits::new(digits).expect("range"),
            secret,
            manufacturer,
            model,
            display_name,
            user,
            issuer,
            key_id,
        },
    )
}
