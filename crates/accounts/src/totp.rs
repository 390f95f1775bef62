//! Staff second factor: a TOTP secret per staff member (SHA-1, 6 digits,
//! 30 s: what every authenticator app takes), enrolled with an `otpauth://`
//! URI, sealed under the master key at rest.

use oathvault_token::{Secret, SecretEncoding};
use zeroize::Zeroizing;

/// The `otpauth://` URI an authenticator app scans at enrolment (it holds
/// the secret: wiped when dropped, shown once).
#[must_use]
pub fn otpauth_uri(issuer: &str, account: &str, secret: &Secret) -> Zeroizing<String> {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let b32 = SecretEncoding::Base32.encode(secret);
    Zeroizing::new(format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        b32.as_str(),
        enc(issuer)
    ))
}

/// The enrolment URI as an SVG QR code (for a page), or `None` if it is too
/// long for a QR code. It holds the secret: wiped when dropped.
#[must_use]
pub fn qr_svg(uri: &str) -> Option<Zeroizing<String>> {
    let code =
        qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .build();
    let start = svg.find("<svg").unwrap_or(0);
    Some(Zeroizing::new(
        svg.get(start..).unwrap_or_default().to_owned(),
    ))
}

/// The enrolment URI as a QR code drawn with Unicode half blocks (for a
/// terminal), or `None` if it is too long. Wiped when dropped.
#[must_use]
pub fn qr_text(uri: &str) -> Option<Zeroizing<String>> {
    let code =
        qrcode::QrCode::with_error_correction_level(uri.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(Zeroizing::new(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    ))
}

/// The purpose a staff member's TOTP secret is sealed for (binds it to the account).
#[must_use]
pub fn purpose(email: &str) -> String {
    oathvault_store::custody::bind::staff_totp(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_is_what_authenticator_apps_read() {
        let secret =
            Secret::new(b"12345678901234567890".to_vec()).unwrap_or_else(|e| panic!("{e}"));
        let uri = otpauth_uri("Example Tokens", "ada@vendor.example", &secret);
        assert_eq!(
            uri.as_str(),
            "otpauth://totp/Example%20Tokens:ada@vendor.example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Example%20Tokens&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn qr_codes_are_drawn() {
        let uri = "otpauth://totp/X:a@b.example?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=X";
        let svg = qr_svg(uri).unwrap_or_else(|| panic!("no svg"));
        assert!(
            svg.starts_with("<svg") && svg.ends_with("</svg>"),
            "{}",
            svg.as_str()
        );
        assert!(svg.contains("<path fill=\"#000\""));
        let text = qr_text(uri).unwrap_or_else(|| panic!("no text"));
        assert!(text.lines().count() > 15 && text.contains('█'));
        assert!(qr_svg(&"x".repeat(5000)).is_none());
    }
}
