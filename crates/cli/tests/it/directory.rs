//! `oathvault directory …` as an admin scripts it: seed the demo tenant,
//! serve, get a token over real HTTP, create and list a token with it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_lines,
    reason = "tests: a failure is a failed test; one scenario reads top to bottom"
)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command as Process, Stdio};

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin;
use predicates::prelude::*;
use serde_json::Value;

/// The server, stopped when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.0 request; returns the status code and the body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// `oathvault directory serve` on a free loopback port: the server
/// (stopped when dropped) and the address it printed.
fn serve(data: &std::path::Path) -> (Server, String) {
    let mut child = Process::new(cargo_bin("oathvault"))
        .args(["directory", "--data-dir"])
        .arg(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("OATHVAULT_DIRECTORY_DATABASE")
        .env_remove("OATHVAULT_DIRECTORY_KEY_FILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = Server(child);
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    (server, addr)
}

#[test]
fn seed_serve_and_use_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let mut c = Command::cargo_bin("oathvault").unwrap();
        c.arg("directory")
            .arg("--data-dir")
            .arg(&data)
            .env_remove("OATHVAULT_DIRECTORY_DATABASE")
            .env_remove("OATHVAULT_DIRECTORY_KEY_FILE");
        c.args(args).assert()
    };
    let out = run(&["seed-demo", "--json"])
        .success()
        .get_output()
        .stdout
        .clone();
    let demo: Value = serde_json::from_slice(&out).unwrap();
    for key in ["tenant_id", "client_id", "client_secret", "users"] {
        assert!(demo.get(key).is_some(), "{key} missing: {demo}");
    }
    assert_eq!(demo["users"][0]["upn"], "amy@contoso.example");
    assert!(demo["users"][0]["password"].as_str().unwrap().len() >= 12);
    run(&["seed-demo"])
        .code(1)
        .stderr(predicate::str::contains("already exists"));
    // Beyond loopback, the issuer and links must not come from the Host
    // header: a public URL is required (refused before anything listens).
    run(&["serve", "--listen", "0.0.0.0:0"])
        .code(2)
        .stderr(predicate::str::contains("needs --public-url"));
    run(&[
        "app",
        "consent",
        "--tenant",
        "contoso.example",
        "--client-id",
        demo["client_id"].as_str().unwrap(),
        "--scope",
        "Mail.Read",
    ])
    .code(2)
    .stderr(predicate::str::contains(
        "unknown delegated permission Mail.Read",
    ));
    run(&[
        "app",
        "add",
        "--tenant",
        "contoso.example",
        "--name",
        "x",
        "--permission",
        "Everything",
    ])
    .code(2)
    .stderr(predicate::str::contains("unknown permission Everything"));
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "a long password\n").unwrap();
    let pw = pw.to_str().unwrap();
    run(&[
        "user",
        "add",
        "--tenant",
        "contoso.example",
        "--upn",
        "dora@contoso.example",
        "--name",
        "Dora",
        "--password-file",
        pw,
        "--role",
        "Authentication Administrator",
    ])
    .success();
    run(&["user", "list", "--tenant", "contoso.example"])
        .success()
        .stdout(
            predicate::str::contains("dora@contoso.example\tDora\t").and(predicate::str::contains(
                "c4e39bd9-1100-46d3-8c65-fb160da0071f",
            )),
        );
    run(&[
        "user",
        "add",
        "--tenant",
        "contoso.example",
        "--upn",
        "eve@other.example",
        "--name",
        "Eve",
        "--password-file",
        pw,
    ])
    .code(2)
    .stderr(predicate::str::contains("must end in @contoso.example"));
    let key = data.join("directory.key");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions())
            & 0o777,
        0o600
    );

    let (_server, addr) = serve(&data);

    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default",
        demo["client_id"].as_str().unwrap(),
        demo["client_secret"].as_str().unwrap()
    );
    let (status, body) = http(
        &addr,
        "POST",
        &format!("/{}/oauth2/v2.0/token", demo["tenant_id"].as_str().unwrap()),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &form,
    );
    assert_eq!(status, 200, "{body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let devices = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";
    let (status, body) = http(
        &addr,
        "POST",
        devices,
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        r#"{"serialNumber":"TOTP123456","manufacturer":"Contoso","model":"Hardware Token 1000","secretKey":"6PJ4UKIW33NNXYZAEHQNFUFTZF7WFTFB","timeIntervalInSeconds":30}"#,
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(&addr, "GET", devices, &[("Authorization", &bearer)], "");
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["value"][0]["serialNumber"], "TOTP123456");
    assert!(list["value"][0]["secretKey"].is_null());
    assert!(
        list["@odata.context"]
            .as_str()
            .unwrap()
            .starts_with(&format!("http://{addr}/beta/$metadata#")),
        "{list}"
    );
}

/// A self-signed certificate and its key (`CN=name`), made by `openssl`.
fn openssl_certificate(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, String) {
    let (cert, key) = oathvault_testkit::pki::openssl_certificate(dir, name);
    (cert, std::fs::read_to_string(key).unwrap())
}

/// The value after `label` on its line of `out`.
fn field<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .map_or_else(|| panic!("no {label} in {out}"), str::trim)
}

#[test]
fn app_add_with_a_certificate_then_sign_in_with_it() {
    use oathvault_directory::jwt::{Certificate, SigningKey};

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let run = |args: &[&str]| {
        let mut c = Command::cargo_bin("oathvault").unwrap();
        c.arg("directory")
            .arg("--data-dir")
            .arg(&data)
            .env_remove("OATHVAULT_DIRECTORY_DATABASE")
            .env_remove("OATHVAULT_DIRECTORY_KEY_FILE");
        c.args(args).assert()
    };
    run(&[
        "tenant",
        "add",
        "--name",
        "Fabrikam",
        "--domain",
        "fabrikam.example",
    ])
    .success();
    let (cert_file, key_pem) = openssl_certificate(tmp.path(), "svc");
    let cert = Certificate::from_pem(&std::fs::read_to_string(&cert_file).unwrap()).unwrap();
    let cert_path = cert_file.to_str().unwrap();

    // A file that holds no certificate registers no app.
    let not_pem = tmp.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let add = |certificate: &str| {
        run(&[
            "app",
            "add",
            "--tenant",
            "fabrikam.example",
            "--name",
            "svc",
            "--permission",
            "Policy.Read.All",
            "--certificate",
            certificate,
        ])
    };
    add(not_pem.to_str().unwrap())
        .code(2)
        .stderr(predicate::str::contains("no \"CERTIFICATE\" block"));

    let out = add(cert_path).success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    let client_id = field(&out, "client id:").to_owned();
    assert_eq!(field(&out, "x5t:"), cert.thumbprint_sha1_b64url());
    assert_eq!(field(&out, "x5t#S256:"), cert.thumbprint_sha256_b64url());
    assert!(
        field(&out, "certificate:").starts_with(&cert.thumbprint_sha1_hex()),
        "{out}"
    );
    assert!(out.contains("client secret:"), "{out}");

    // A second certificate; the first again is refused.
    let (second, _) = openssl_certificate(tmp.path(), "second");
    let cert_add = |file: &str| {
        run(&[
            "app",
            "certificate",
            "add",
            "--tenant",
            "fabrikam.example",
            "--client-id",
            &client_id,
            file,
        ])
    };
    cert_add(second.to_str().unwrap())
        .success()
        .stdout(predicate::str::contains("CN=second"));
    cert_add(cert_path)
        .code(1)
        .stderr(predicate::str::contains("already exists"));

    // Over real HTTP: a client assertion signed with the key gets a token
    // Graph accepts.
    let (_server, addr) = serve(&data);
    let endpoint = "/fabrikam.example/oauth2/v2.0/token";
    // The certificate was made moments ago: its start stands in for now.
    let now = cert.not_before();
    let claims = serde_json::json!({
        "aud": format!("http://{addr}{endpoint}"),
        "iss": client_id,
        "sub": client_id,
        "jti": "cli-test-1",
        "nbf": now,
        "exp": now + 600,
    });
    let header = serde_json::Map::from_iter([(
        "x5t".to_owned(),
        Value::String(cert.thumbprint_sha1_b64url().to_owned()),
    )]);
    let assertion = SigningKey::from_pem(&key_pem)
        .unwrap()
        .sign_with_header(&header, &claims)
        .unwrap();
    let form = format!(
        "grant_type=client_credentials&client_id={client_id}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default\
         &client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
    );
    let post = |form: &str| {
        http(
            &addr,
            "POST",
            endpoint,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form,
        )
    };
    let (status, body) = post(&form);
    assert_eq!(status, 200, "{body}");
    let token: Value = serde_json::from_str(&body).unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let devices = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";
    let (status, body) = http(&addr, "GET", devices, &[("Authorization", &bearer)], "");
    assert_eq!(status, 200, "{body}");
    // The same assertion again is a replay.
    let (status, body) = post(&form);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("AADSTS50027"), "{body}");
}
