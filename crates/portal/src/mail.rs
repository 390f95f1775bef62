//! The portal's e-mail: what each message says (plain text and HTML), and
//! the outbox. A message is queued sealed under the master key in the same
//! transaction as the change it reports (it may carry link tokens, which
//! the database otherwise keeps only as hashes), and a sender delivers the
//! outbox over SMTP, retrying with back-off, deleting each once sent.

use oathvault_store::{NewFile, Request};
use oathvault_vault::Keyring;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::journey::RequestPolicy;

const PURPOSE: &str = oathvault_store::custody::bind::MAIL;

/// A message to send. `Debug` shows recipients and subject only: a link
/// mail's body carries bearer tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// Recipients.
    pub to: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Plain text body.
    pub text: String,
    /// HTML body.
    pub html: String,
    /// Set on a file's link mail: once sent, the approved request it
    /// belongs to is `delivered`.
    #[serde(default)]
    pub delivers: Option<i64>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("delivers", &self.delivers)
            .finish_non_exhaustive()
    }
}

/// Seals a message for the outbox.
#[must_use]
pub fn seal(master: &Keyring, mail: &Outgoing) -> Vec<u8> {
    let json = Zeroizing::new(serde_json::to_vec(mail).unwrap_or_default());
    master.seal(&mut oathvault_vault::random::os(), PURPOSE, &json)
}

/// Opens a message from the outbox.
///
/// # Errors
/// The seal does not open or the content does not parse.
pub fn open(master: &Keyring, sealed: &[u8]) -> Result<Outgoing, String> {
    let json = master.open(PURPOSE, sealed).map_err(|e| e.to_string())?;
    serde_json::from_slice(&json).map_err(|e| e.to_string())
}

/// Escapes text for HTML.
#[must_use]
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Plain text paragraphs, and the same as simple HTML.
fn compose(to: Vec<String>, subject: String, paragraphs: &[String]) -> Outgoing {
    let text = paragraphs.join("\n\n") + "\n";
    let mut html = String::from(
        "<!doctype html><html><body style=\"font-family: sans-serif; line-height: 1.5\">",
    );
    for p in paragraphs {
        html.push_str("<p>");
        html.push_str(&linkify(&escape(p)).replace('\n', "<br>"));
        html.push_str("</p>");
    }
    html.push_str("</body></html>");
    Outgoing {
        to,
        subject,
        text,
        html,
        delivers: None,
    }
}

/// Turns `https://…`/`http://…` words (already escaped) into links.
fn linkify(escaped: &str) -> String {
    escaped
        .split(' ')
        .map(|w| {
            if w.starts_with("https://") || w.starts_with("http://") {
                format!("<a href=\"{w}\">{w}</a>")
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn file_lines(files: &[NewFile]) -> String {
    files
        .iter()
        .map(|f| {
            format!(
                "- {} ({} tokens, shipments {})",
                f.name,
                f.tokens,
                f.shipments.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// To the requester: the request was received.
#[must_use]
pub fn received(p: &RequestPolicy, r: &Request, files: &[NewFile]) -> Outgoing {
    compose(
        vec![r.email.clone()],
        format!("Seed file request {} received", r.reference),
        &[
            format!("Your request {} for order {} was received and waits for review by the delivery team of {}.", r.reference, r.po, p.vendor),
            format!("Files prepared:\n{}", file_lines(files)),
            "When it is approved you get one e-mail per file with its download and confirmation links. The files open with 7-Zip or WinZip (AES-256); Windows' built-in unzip and Info-ZIP cannot open AES-encrypted ZIP files.".into(),
            format!("If you did not ask for this, tell {}.", p.contact_hint),
        ],
    )
}

/// To the delivery team: a new request to review.
#[must_use]
pub fn new_request(p: &RequestPolicy, r: &Request, files: &[NewFile]) -> Outgoing {
    compose(
        p.delivery_team.clone(),
        format!(
            "New seed file request {} ({}, order {})",
            r.reference, r.customer, r.po
        ),
        &[
            format!(
                "{} asked for seed files of order {} from {}.",
                r.email, r.po, r.source
            ),
            format!("Files:\n{}", file_lines(files)),
            "Review it in the portal's request queue.".into(),
        ],
    )
}

/// To the delivery team: a request was locked after wrong answers.
#[must_use]
pub fn locked(p: &RequestPolicy, r: &Request, wrong: i64) -> Outgoing {
    compose(
        p.delivery_team.clone(),
        format!(
            "Seed file request {} locked ({}, order {})",
            r.reference, r.customer, r.po
        ),
        &[format!(
            "The request {} by {} from {} for order {} was locked after {wrong} wrong serials or codes.",
            r.reference, r.email, r.source, r.po
        )],
    )
}

/// A file's links, for the approval mail.
#[derive(Debug, Clone)]
pub struct FileMail {
    /// File name.
    pub name: String,
    /// Tokens.
    pub tokens: i64,
    /// Shipments covered.
    pub shipments: String,
    /// SHA-256.
    pub sha256: String,
    /// The download page.
    pub download_url: String,
    /// The confirmation page.
    pub confirm_url: String,
    /// The vendor's signing key's fingerprint.
    pub vendor_fingerprint: String,
    /// Where the vendor's public signing key is published.
    pub vendor_key_url: String,
}

/// To the requester: one file of an approved request, with its links.
#[must_use]
pub fn approved(
    p: &RequestPolicy,
    r: &Request,
    f: &FileMail,
    expires: &str,
    password: bool,
) -> Outgoing {
    let open = if password {
        "The download page asks for the password you chose; the same password opens the ZIP (use 7-Zip or WinZip: AES-256)."
    } else {
        "The file is encrypted to your OpenPGP key: gpg --decrypt, then unzip."
    };
    compose(
        vec![r.email.clone()],
        format!("Seed file {} ready: {}", r.reference, f.name),
        &[
            format!(
                "Your request {} for order {} was approved. This e-mail carries one file: {} ({} tokens, shipments {}).",
                r.reference, r.po, f.name, f.tokens, f.shipments
            ),
            format!(
                "Download it here (a page, nothing happens until you press Download): {}",
                f.download_url
            ),
            open.into(),
            format!("SHA-256 of the file: {}", f.sha256),
            format!(
                "Inside, MANIFEST lists every file with its SHA-256, and MANIFEST.asc is our signature over it. Our signing key is at {} (fingerprint {}). To check: oathvault open FILE --vendor-key vendor-key.asc; or after unzipping, gpg --import vendor-key.asc, then gpg --verify MANIFEST.asc MANIFEST.",
                f.vendor_key_url, f.vendor_fingerprint
            ),
            format!(
                "When your tokens are loaded, confirm receipt here and the file is deleted from our systems at once: {}",
                f.confirm_url
            ),
            format!("Unconfirmed, the file is deleted on {expires}."),
            format!("Questions: {}.", p.contact_hint),
        ],
    )
}

/// To the requester: the request was rejected.
#[must_use]
pub fn rejected(p: &RequestPolicy, r: &Request, reason: &str) -> Outgoing {
    compose(
        vec![r.email.clone()],
        format!("Seed file request {} not approved", r.reference),
        &[
            format!(
                "Your request {} for order {} was not approved, and the files prepared for it were deleted.",
                r.reference, r.po
            ),
            format!("Reason: {reason}"),
            format!("To go on, contact {}.", p.contact_hint),
        ],
    )
}

/// To a staff member: the link to set their password and authenticator.
#[must_use]
pub fn enrolment(email: &str, name: &str, link: &str, expires: &str, reset: bool) -> Outgoing {
    let why = if reset {
        format!(
            "{name}, an administrator reset your sign-in to the vendor portal: your old password and authenticator no longer work."
        )
    } else {
        format!("{name}, an administrator added you to the vendor portal.")
    };
    compose(
        vec![email.to_owned()],
        "Set your password and authenticator for the vendor portal".into(),
        &[
            why,
            format!("Open this link, choose your password and scan the code with an authenticator app (it works once, until {expires}): {link}"),
            "Nobody else sees your password or your authenticator's secret. If you did not expect this mail, tell your administrator.".into(),
        ],
    )
}

/// What the vendor still holds of `shipments` after a file with them was
/// deleted (the retention rule, in words).
#[must_use]
pub fn retention_note(p: &RequestPolicy, shipments: &str) -> String {
    match p.shred_after {
        None => format!(
            "Our sealed copy of the seeds of shipments {shipments} stays in our vault until you ask us to shred it."
        ),
        Some(after) => format!(
            "Our sealed copy of the seeds of shipments {shipments} stays in our vault until {} days after every file with them was confirmed or expired; then it is shredded (key and ciphertext destroyed).",
            after / 86_400
        ),
    }
}

/// To the requester and the delivery team: a file was confirmed and deleted.
#[must_use]
pub fn confirmed(
    p: &RequestPolicy,
    r: &Request,
    name: &str,
    shipments: &str,
    at: &str,
) -> Outgoing {
    let mut to = vec![r.email.clone()];
    to.extend(p.delivery_team.iter().cloned());
    compose(
        to,
        format!("Seed file {} confirmed and deleted: {name}", r.reference),
        &[
            format!(
                "The file {name} of request {} (order {}) was confirmed by the customer on {at}; its content and its key were destroyed.",
                r.reference, r.po
            ),
            retention_note(p, shipments),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_links_are_links() {
        let m = compose(
            vec!["a@example.com".into()],
            "s".into(),
            &["<b>x</b> & go to https://portal.example/d/abc".into()],
        );
        assert!(m.html.contains(
            "&lt;b&gt;x&lt;/b&gt; &amp; go to <a href=\"https://portal.example/d/abc\">"
        ));
        assert_eq!(m.text, "<b>x</b> & go to https://portal.example/d/abc\n");
    }

    #[test]
    fn sealed_mail_opens_only_with_its_key() {
        let mut rng = <rand08::rngs::StdRng as rand08::SeedableRng>::seed_from_u64(5);
        let (a, b) = (Keyring::generate(&mut rng), Keyring::generate(&mut rng));
        let m = compose(
            vec!["a@example.com".into()],
            "subject".into(),
            &["body".into()],
        );
        let sealed = seal(&a, &m);
        assert_eq!(open(&a, &sealed).unwrap(), m);
        assert!(open(&b, &sealed).is_err());
        assert!(!String::from_utf8_lossy(&sealed).contains("body"));
        assert!(!format!("{m:?}").contains("body"), "Debug hides the body");
    }
}
