//! The sink's SMTP over raw TCP: sequence, refusals, limits, dot-stuffing,
//! dropped connections.

use std::time::Duration;

use oathvault_mail::{SinkOptions, outbox};

use crate::support::{Client, files, sink, sink_with};

#[tokio::test]
async fn commands_out_of_sequence_and_unknown_ones_are_refused() {
    let sink = sink().await;
    let mut c = Client::greeted(sink.sink.addr()).await;
    assert_eq!(
        c.code("MAIL FROM:<a@example.com>").await,
        503,
        "before EHLO"
    );
    assert_eq!(c.code("DATA").await, 503, "before MAIL");

    let ehlo = c.command("EHLO client.test").await;
    let lines: Vec<&str> = ehlo.lines().collect();
    assert_eq!(lines[0], "250-localhost greets client.test");
    for capability in ["8BITMIME", "PIPELINING", "SMTPUTF8", "ENHANCEDSTATUSCODES"] {
        assert!(lines.iter().any(|l| &l[4..] == capability), "{ehlo}");
    }
    assert!(lines.contains(&"250-SIZE 10485760"), "{ehlo}");
    assert!(lines.last().unwrap().starts_with("250 "), "{ehlo}");

    assert_eq!(c.code("DATA").await, 503, "before MAIL");
    assert_eq!(c.code("RCPT TO:<b@example.com>").await, 503, "before MAIL");
    assert_eq!(c.code("MAIL FROM:<a@example.com>").await, 250);
    let data = c.command("DATA").await;
    assert!(data.starts_with("503 5.5.1"), "DATA before RCPT: {data}");
    assert_eq!(c.code("MAIL FROM:<a@example.com>").await, 503, "nested");
    assert_eq!(c.code("RSET").await, 250);
    assert_eq!(c.code("RCPT TO:<b@example.com>").await, 503, "after RSET");

    let unknown = c.command("FROBNICATE now").await;
    assert!(unknown.starts_with("500 5.5.2"), "{unknown}");
    assert_eq!(c.code("STARTTLS").await, 502);
    assert_eq!(c.code("VRFY someone").await, 252);
    assert_eq!(c.code("NOOP").await, 250);
    let long = format!("NOOP {}", "x".repeat(600));
    assert_eq!(c.code(&long).await, 500, "line too long");
    assert_eq!(c.code("NOOP").await, 250, "still in step after a long line");
    assert_eq!(c.code("QUIT").await, 221);
    assert!(c.closed().await);
    assert!(files(&sink.sink).is_empty());
}

#[tokio::test]
async fn oversized_messages_get_552_and_the_connection_goes_on() {
    let sink = sink_with(SinkOptions {
        max_message_bytes: 1000,
        ..SinkOptions::default()
    })
    .await;
    let mut c = Client::greeted(sink.sink.addr()).await;
    assert_eq!(c.code("EHLO client.test").await, 250);
    // Announced too big.
    let announced = c.command("MAIL FROM:<a@example.com> SIZE=5000").await;
    assert!(announced.starts_with("552 5.3.4"), "{announced}");
    // Found too big while reading: many short lines, then one long line.
    let many_lines = "Subject: big\r\n\r\n".to_owned() + &"0123456789\r\n".repeat(200);
    let reply = c.mail("a@example.com", "b@example.com", &many_lines).await;
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    let one_line = "Subject: big\r\n\r\n".to_owned() + &"y".repeat(5000) + "\r\n";
    let reply = c.mail("a@example.com", "b@example.com", &one_line).await;
    assert!(reply.starts_with("552 5.3.4"), "{reply}");
    // Just under the limit (1000 bytes as stored).
    let body = "z".repeat(1000 - "Subject: fits\r\n\r\n".len() - 2);
    let fits = format!("Subject: fits\r\n\r\n{body}\r\n");
    let reply = c.mail("a@example.com", "b@example.com", &fits).await;
    assert!(reply.starts_with("250 "), "{reply}");
    let stored = outbox::list(sink.sink.dir()).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].subject, "fits");
    assert_eq!(
        stored[0].text.as_deref(),
        Some(format!("{body}\n").as_str())
    );
}

#[tokio::test]
async fn dots_are_unstuffed_and_pipelined_commands_answered_in_order() {
    let sink = sink().await;
    let mut c = Client::greeted(sink.sink.addr()).await;
    assert_eq!(c.code("EHLO client.test").await, 250);
    c.send(
        b"MAIL FROM:<a@example.com> BODY=8BITMIME\r\nRCPT TO:<b@example.com>\r\n\
          RCPT TO:<c@example.com>\r\nDATA\r\n",
    )
    .await;
    for want in ["250 2.1.0", "250 2.1.5", "250 2.1.5", "354 "] {
        let reply = c.reply().await;
        assert!(reply.starts_with(want), "{want}: {reply}");
    }
    c.send(
        "Subject: dots\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         ..one dot\r\n..\r\n...two dots\r\nnot . at start\r\nbare LF ends\nünïcödé\r\n.\r\n"
            .as_bytes(),
    )
    .await;
    let reply = c.reply().await;
    assert!(reply.starts_with("250 2.0.0 Ok: queued as "), "{reply}");
    let stored = outbox::list(sink.sink.dir()).unwrap();
    assert_eq!(stored.len(), 1);
    let got = &stored[0];
    assert_eq!(
        (got.from.as_str(), got.to.as_slice()),
        (
            "a@example.com",
            &["b@example.com".to_owned(), "c@example.com".to_owned()][..]
        )
    );
    assert_eq!(
        got.text.as_deref(),
        Some(".one dot\n.\n..two dots\nnot . at start\nbare LF ends\nünïcödé\n")
    );
    let raw = std::fs::read(&got.file).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    assert!(
        raw.contains("\r\n\r\n.one dot\r\n.\r\n..two dots\r\n"),
        "{raw}"
    );
    assert!(
        raw.contains("Received: from client.test ([127.0.0.1])"),
        "{raw}"
    );
}

#[tokio::test]
async fn a_connection_dropped_mid_data_stores_nothing() {
    let sink = sink().await;
    let mut c = Client::greeted(sink.sink.addr()).await;
    assert_eq!(c.code("HELO client.test").await, 250);
    assert_eq!(c.code("MAIL FROM:<a@example.com>").await, 250);
    assert_eq!(c.code("RCPT TO:<b@example.com>").await, 250);
    assert_eq!(c.code("DATA").await, 354);
    c.send(b"Subject: half\r\n\r\nfirst half of the body\r\n")
        .await;
    drop(c);

    // A later message is stored; the dropped one never is, and no
    // temporary file is left behind.
    let mut c = Client::greeted(sink.sink.addr()).await;
    assert_eq!(c.code("HELO client.test").await, 250);
    let reply = c
        .mail(
            "a@example.com",
            "b@example.com",
            "Subject: whole\r\n\r\nall\r\n",
        )
        .await;
    assert!(reply.starts_with("250 "), "{reply}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(files(&sink.sink), ["1750000000-000001.eml"]);
    let stored = outbox::list(sink.sink.dir()).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].subject, "whole");
}

#[tokio::test]
async fn a_sink_stopped_mid_data_stores_nothing_and_stops_listening() {
    let sink = sink().await;
    let addr = sink.sink.addr();
    let mut c = Client::greeted(addr).await;
    assert_eq!(c.code("HELO client.test").await, 250);
    assert_eq!(c.code("MAIL FROM:<a@example.com>").await, 250);
    assert_eq!(c.code("RCPT TO:<b@example.com>").await, 250);
    assert_eq!(c.code("DATA").await, 354);
    c.send(b"Subject: half\r\n\r\nbody\r\n").await;
    let dir = sink.sink.dir().to_owned();
    sink.sink.stop().await;
    assert!(c.closed().await, "open connections are closed");
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still listening"
    );
}

#[tokio::test]
async fn connections_over_the_limit_get_421() {
    let sink = sink_with(SinkOptions {
        max_connections: 1,
        ..SinkOptions::default()
    })
    .await;
    let addr = sink.sink.addr();
    let mut first = Client::greeted(addr).await;
    let mut second = Client::connect(addr).await;
    let refused = second.reply().await;
    assert!(refused.starts_with("421 4.7.0"), "{refused}");
    assert!(second.closed().await);
    assert_eq!(first.code("QUIT").await, 221);
    assert!(first.closed().await);
    // The slot is free again once the first connection's task has ended.
    let mut tries = 0;
    loop {
        let mut next = Client::connect(addr).await;
        let reply = next.reply().await;
        if reply.starts_with("220 ") {
            break;
        }
        tries += 1;
        assert!(tries < 50, "{reply}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn idle_clients_and_clients_with_many_errors_are_closed() {
    let sink = sink_with(SinkOptions {
        idle_timeout: Duration::from_millis(200),
        max_errors: 3,
        ..SinkOptions::default()
    })
    .await;
    let mut idle = Client::greeted(sink.sink.addr()).await;
    let reply = idle.reply().await;
    assert!(reply.starts_with("421 4.4.2"), "{reply}");
    assert!(idle.closed().await);

    let mut noisy = Client::greeted(sink.sink.addr()).await;
    assert_eq!(noisy.code("ONE").await, 500);
    assert_eq!(noisy.code("TWO").await, 500);
    assert_eq!(noisy.code("THREE").await, 500);
    assert_eq!(noisy.reply().await, "421 4.7.0 Error: too many errors");
    assert!(noisy.closed().await);
}
