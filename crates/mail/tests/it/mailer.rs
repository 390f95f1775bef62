//! lettre's SMTP client through the sink.

use std::sync::Arc;

use oathvault_mail::{
    Mail, MailError, Mailer, Password, Security, SinkOptions, SmtpConfig, outbox,
};
use oathvault_otp::clock::Clock;

use crate::support::{NOW, TestSink, files, sink, sink_with};

fn config(sink: &TestSink) -> SmtpConfig {
    SmtpConfig {
        port: sink.sink.addr().port(),
        from: "OATH tokens <tokens@oathvault.test>".into(),
        timeout_seconds: 5,
        ..SmtpConfig::default()
    }
}

fn mailer(sink: &TestSink, config: &SmtpConfig) -> Mailer {
    let clock: Arc<dyn Clock> = sink.clock.clone();
    Mailer::new(config, clock).unwrap()
}

/// A free port on 127.0.0.1 with nothing listening.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const TEXT: &str = "Grüße aus Zürich — ваш токен готов.\n\
.a line that starts with a dot\n\
.\n\
..two dots\n\
Ende.";

const HTML: &str = "<p>Hello</p>\n\
.dotted line in ASCII HTML\n\
.\n\
<p>end</p>";

#[tokio::test]
async fn a_lettre_mail_arrives_exactly() {
    let sink = sink().await;
    let mailer = mailer(&sink, &config(&sink));
    let mail = Mail {
        from: None,
        to: vec![
            "Vendor Ltd <vendor@example.com>".into(),
            "ops@example.net".into(),
        ],
        subject: "Seeds für Bestellung 42 — ✓ ready".into(),
        text: TEXT.into(),
        html: HTML.into(),
        reply_to: Some("desk@oathvault.test".into()),
    };
    let sent = mailer.send(&mail).await.unwrap();
    assert!(
        sent.reply
            .starts_with("250 2.0.0 Ok: queued as 1750000000-000001"),
        "{sent:?}"
    );

    let stored = outbox::list(sink.sink.dir()).unwrap();
    assert_eq!(stored.len(), 1, "{stored:#?}");
    let got = &stored[0];
    assert_eq!(got.id, "1750000000-000001");
    assert_eq!(got.received, NOW);
    assert_eq!(got.from, "tokens@oathvault.test");
    assert_eq!(got.to, ["vendor@example.com", "ops@example.net"]);
    assert_eq!(got.subject, mail.subject);
    assert_eq!(got.text.as_deref(), Some(TEXT));
    assert_eq!(got.html.as_deref(), Some(HTML));
    assert_eq!(got.message_id.as_deref(), Some(sent.message_id.as_str()));
    assert_eq!(got.reply_to.as_deref(), Some("desk@oathvault.test"));
    assert_eq!(got.file, sink.sink.dir().join("1750000000-000001.eml"));
    assert_eq!(outbox::read(sink.sink.dir(), &got.id).unwrap(), *got);

    // The date is the clock's; the ASCII HTML went as 7bit, so its dotted
    // lines were stuffed by lettre and unstuffed by the sink.
    let raw = std::fs::read_to_string(&got.file).unwrap();
    assert!(
        raw.starts_with("Return-Path: <tokens@oathvault.test>\r\n"),
        "{raw}"
    );
    assert!(
        raw.contains("Date: Sun, 15 Jun 2025 15:06:40 +0000\r\n"),
        "{raw}"
    );
    assert!(
        raw.contains("\r\n.dotted line in ASCII HTML\r\n.\r\n<p>end</p>"),
        "{raw}"
    );
    assert_eq!(files(&sink.sink), ["1750000000-000001.eml"]);
}

#[tokio::test]
async fn mails_get_ordered_ids_and_the_clock_time() {
    let sink = sink().await;
    let mailer = mailer(&sink, &config(&sink));
    let mut mail = Mail {
        to: vec!["a@example.com".into()],
        subject: "first".into(),
        text: "1".into(),
        html: "<b>1</b>".into(),
        ..Mail::default()
    };
    mailer.send(&mail).await.unwrap();
    sink.clock.advance(61);
    mail.subject = "second".into();
    mail.from = Some("Other <other@example.org>".into());
    mailer.send(&mail).await.unwrap();

    let stored = outbox::list(sink.sink.dir()).unwrap();
    let summary: Vec<_> = stored
        .iter()
        .map(|m| {
            (
                m.id.as_str(),
                m.received,
                m.subject.as_str(),
                m.from.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("1750000000-000001", NOW, "first", "tokens@oathvault.test"),
            ("1750000061-000002", NOW + 61, "second", "other@example.org"),
        ]
    );
}

#[tokio::test]
async fn an_oversized_mail_is_rejected_with_the_server_and_its_reply() {
    let sink = sink_with(SinkOptions {
        max_message_bytes: 2000,
        ..SinkOptions::default()
    })
    .await;
    let mailer = mailer(&sink, &config(&sink));
    let mail = Mail {
        to: vec!["a@example.com".into()],
        subject: "big".into(),
        text: "x".repeat(5000),
        html: "<p>big</p>".into(),
        ..Mail::default()
    };
    let error = mailer.send(&mail).await.unwrap_err();
    let server = format!("127.0.0.1:{}", sink.sink.addr().port());
    match &error {
        MailError::Rejected {
            server: s,
            code,
            reply,
        } => {
            assert_eq!((s.as_str(), *code), (server.as_str(), 552));
            assert!(reply.contains("size"), "{reply}");
        }
        other => panic!("{other:?}"),
    }
    let shown = error.to_string();
    assert!(
        shown.starts_with(&format!("SMTP server {server} refused the message: 552 ")),
        "{shown}"
    );
    assert!(files(&sink.sink).is_empty());
}

#[tokio::test]
async fn errors_name_the_server_and_never_the_password() {
    let sink = sink().await;
    let port = closed_port();
    let password = "correct-horse-battery-staple";
    let cases = [
        // Nothing listens: connection refused.
        SmtpConfig {
            port,
            ..config(&sink)
        },
        // The sink offers no AUTH.
        SmtpConfig {
            username: Some("vendor".into()),
            password: Some(Password::new(password)),
            ..config(&sink)
        },
        // The sink offers no STARTTLS: nothing may be sent in the clear.
        SmtpConfig {
            security: Security::StartTls,
            username: Some("vendor".into()),
            password: Some(Password::new(password)),
            ..config(&sink)
        },
        // The sink speaks no TLS.
        SmtpConfig {
            security: Security::Tls,
            password: Some(Password::new(password)),
            ..config(&sink)
        },
    ];
    for config in cases {
        let mailer = mailer(&sink, &config);
        let mail = Mail {
            to: vec!["a@example.com".into()],
            subject: "s".into(),
            ..Mail::default()
        };
        let error = mailer.send(&mail).await.unwrap_err();
        let shown = format!("{error} {error:?} {mailer:?}");
        assert!(
            shown.contains(&config.server()),
            "{:?}: {shown}",
            config.security
        );
        assert!(!shown.contains(password), "{shown}");
        assert!(mailer.check().await.is_err(), "{:?}", config.security);
    }
    assert!(files(&sink.sink).is_empty(), "{:?}", files(&sink.sink));
}

#[tokio::test]
async fn check_says_whether_the_server_answers() {
    let sink = sink().await;
    mailer(&sink, &config(&sink)).check().await.unwrap();
}

#[test]
fn a_mailer_outliving_its_runtime_drops_quietly() {
    // lettre's pool spawns a task when dropped; the mailer drops it inside
    // the runtime it was made in, even from a thread without one.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(oathvault_otp::clock::FixedClock::new(NOW));
    let mailer = runtime.block_on(async { Mailer::new(&SmtpConfig::default(), clock).unwrap() });
    let copy = mailer.clone();
    std::thread::spawn(move || drop(mailer)).join().unwrap();
    runtime.shutdown_background();
    // And after the runtime is gone.
    std::thread::spawn(move || drop(copy)).join().unwrap();
}

#[test]
fn the_config_loads_from_toml_with_defaults_and_refuses_unknown_keys() {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    let config: SmtpConfig = Figment::from(Toml::string(
        "host = \"smtp.example.com\"\nport = 587\nsecurity = \"starttls\"\n\
         username = \"u\"\npassword = \"p@ss\"\n",
    ))
    .extract()
    .unwrap();
    assert_eq!(
        config,
        SmtpConfig {
            host: "smtp.example.com".into(),
            port: 587,
            security: Security::StartTls,
            username: Some("u".into()),
            password: Some(Password::new("p@ss")),
            ..SmtpConfig::default()
        }
    );
    assert_eq!(config.server(), "smtp.example.com:587");
    assert!(!format!("{config:?}").contains("p@ss"));

    let empty: SmtpConfig = Figment::from(Toml::string("")).extract().unwrap();
    assert_eq!(empty, SmtpConfig::default());
    assert_eq!(
        (empty.host.as_str(), empty.port, empty.security),
        ("127.0.0.1", 2525, Security::None)
    );

    for bad in ["hots = \"x\"", "security = \"ssl\""] {
        assert!(
            Figment::from(Toml::string(bad))
                .extract::<SmtpConfig>()
                .is_err(),
            "{bad}"
        );
    }
}
