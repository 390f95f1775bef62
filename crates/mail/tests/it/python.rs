//! Python's `smtplib` and `email` packages as an independent client and
//! MIME writer.

use std::process::Stdio;

use oathvault_mail::outbox;

use crate::support::{PATIENCE, sink};

/// Sends one multipart/alternative mail (8bit UTF-8 text with a dotted
/// line, HTML, a Bcc only in the envelope) and tries NOOP, VRFY and RSET.
const SCRIPT: &str = r#"
import smtplib, sys
from email.message import EmailMessage

port = int(sys.argv[1])
msg = EmailMessage()
msg["From"] = "Python Sender <py@example.org>"
msg["To"] = "Ärger Empfänger <to@example.com>"
msg["Subject"] = "Grüße von smtplib — ✓"
msg.set_content("Zeile eins: ü\n.Zeile mit Punkt\n..\nEnde\n")
msg.add_alternative("<p>Grüße</p>\n<p>.punkt</p>\n", subtype="html")
with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
    print("ehlo", s.ehlo("python.test")[0])
    print("noop", s.noop()[0])
    print("vrfy", s.verify("someone")[0])
    print("rset", s.rset()[0])
    print("8bitmime", s.has_extn("8bitmime"))
    refused = s.send_message(msg, to_addrs=["to@example.com", "bcc@example.net"])
    print("refused", len(refused))
"#;

#[tokio::test]
async fn python_smtplib_delivers_to_the_sink() {
    let sink = sink().await;
    let child = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(sink.sink.addr().port().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 is installed (scripts/test installs it)");
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("python finished in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout, "ehlo 250\nnoop 250\nvrfy 252\nrset 250\n8bitmime True\nrefused 0\n",
        "{stderr}"
    );

    let stored = outbox::list(sink.sink.dir()).unwrap();
    assert_eq!(stored.len(), 1, "{stored:#?}");
    let got = &stored[0];
    assert_eq!(got.from, "py@example.org");
    assert_eq!(got.to, ["to@example.com", "bcc@example.net"]);
    assert_eq!(got.subject, "Grüße von smtplib — ✓");
    assert_eq!(
        got.text.as_deref(),
        Some("Zeile eins: ü\n.Zeile mit Punkt\n..\nEnde\n")
    );
    assert_eq!(got.html.as_deref(), Some("<p>Grüße</p>\n<p>.punkt</p>\n"));
    assert_eq!(got.reply_to, None);
    assert!(
        got.message_id.is_none(),
        "Python's EmailMessage sets no Message-ID"
    );
}
