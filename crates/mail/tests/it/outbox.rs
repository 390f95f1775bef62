//! Reading the outbox back: ids, missing files, sharing a directory.

use oathvault_mail::{MailError, Sink, outbox};

use crate::support::{Client, NOW, files, sink};

#[tokio::test]
async fn read_finds_by_id_and_refuses_paths() {
    let sink = sink().await;
    let mut c = Client::greeted(sink.sink.addr()).await;
    assert_eq!(c.code("EHLO client.test").await, 250);
    // The null sender, `MAIL FROM:<>`, as bounces use.
    let reply = c
        .mail("", "b@example.com", "Subject: bounce\r\n\r\nx\r\n")
        .await;
    assert!(reply.ends_with("queued as 1750000000-000001"), "{reply}");
    let got = outbox::read(sink.sink.dir(), "1750000000-000001").unwrap();
    assert_eq!((got.from.as_str(), got.subject.as_str()), ("", "bounce"));

    for id in [
        "1750000000-000002",
        "../outbox/1750000000-000001",
        ".1750000000-000001",
        "",
    ] {
        match outbox::read(sink.sink.dir(), id) {
            Err(MailError::NotFound { id: got, .. }) => assert_eq!(got, id),
            other => panic!("{id:?}: {other:?}"),
        }
    }
    let missing = sink.dir.path().join("no-such-outbox");
    assert!(outbox::list(&missing).unwrap().is_empty());
}

#[tokio::test]
async fn two_sinks_on_one_outbox_never_overwrite() {
    let first = sink().await;
    let second = Sink::start(
        first.sink.dir(),
        "127.0.0.1:0".parse().unwrap(),
        first.clock.clone(),
    )
    .await
    .unwrap();
    for (addr, subject) in [
        (first.sink.addr(), "one"),
        (second.addr(), "two"),
        (first.sink.addr(), "three"),
    ] {
        let mut c = Client::greeted(addr).await;
        assert_eq!(c.code("HELO client.test").await, 250);
        let data = format!("Subject: {subject}\r\n\r\nbody\r\n");
        let reply = c.mail("a@example.com", "b@example.com", &data).await;
        assert!(reply.starts_with("250 "), "{reply}");
    }
    assert_eq!(
        files(&first.sink),
        [
            "1750000000-000001.eml",
            "1750000000-000002.eml",
            "1750000000-000003.eml"
        ]
    );
    let subjects: Vec<String> = outbox::list(first.sink.dir())
        .unwrap()
        .into_iter()
        .map(|m| m.subject)
        .collect();
    assert_eq!(subjects, ["one", "two", "three"]);
    assert!(
        outbox::list(first.sink.dir())
            .unwrap()
            .iter()
            .all(|m| m.received == NOW)
    );
}
