//! Crash safety of the portal (`portal.md`, "States": a crash between
//! steps leaves no half-built or half-deleted state). `oathvault portal
//! serve` on SQLite is killed with SIGKILL at three random moments while
//! customers walk the journey (some into a lock, some leaving a draft), a
//! reviewer approves and rejects, and customers download and confirm the
//! files whose links reached the SMTP sink. After each kill the database is
//! checked with SQL and the audit chain with `portal audit verify`; then
//! the portal restarts on the same data. At the end one more journey and
//! its approval must succeed.
//!
//! While the portal runs, every answer must be the expected one (a 500
//! fails the test); only a connection cut by the kill ends a client quietly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failure is a failed test"
)]

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand08::Rng as _;
use sqlx::Row as _;

/// Orders of the one customer, each with shipments `SH-i-a` and `SH-i-b`.
pub(crate) const ORDERS: usize = 4;
/// Customers walking the journey at once.
pub(crate) const CUSTOMERS: usize = 6;
pub(crate) const EMAIL: &str = "it@crash.example";
pub(crate) const PASSWORD: &str = "Tulip-Orbit-42-river";
pub(crate) const REVIEWER: &str = "rex@vendor.example";
pub(crate) const STAFF_PASSWORD: &str = "Reviewer-pass-2026!";

/// The serial of token `t` of shipment `s` (0 = a, 1 = b) of order `o`.
pub(crate) fn serial(o: usize, s: usize, t: usize) -> String {
    format!("{:010}", 7_000_000_000 + o * 100 + s * 10 + t)
}

pub(crate) fn ov(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oathvault"));
    c.arg("portal")
        .env("OATHVAULT_DATA_DIR", dir.join("data"))
        .env_remove("OATHVAULT_DATABASE")
        .env_remove("OATHVAULT_MASTER_KEY_FILE")
        .env_remove("OATHVAULT_CONFIG");
    c
}

pub(crate) fn cli(dir: &Path, args: &[&str]) -> String {
    let out = ov(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "portal {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The inventory and a reviewer; returns the reviewer's `otpauth://` URI.
pub(crate) fn inventory(dir: &Path) -> String {
    cli(dir, &["init"]);
    cli(dir, &["customer", "add", "Crash Ltd", "--email", EMAIL]);
    for o in 0..ORDERS {
        let po = format!("PO-{o}");
        cli(
            dir,
            &["order", "add", "--customer", "Crash Ltd", "--po", &po],
        );
        for (s, letter) in ["a", "b"].iter().enumerate() {
            let number = format!("SH-{o}-{letter}");
            cli(
                dir,
                &["shipment", "add", "--order", &po, "--number", &number],
            );
            let mut csv =
                String::from("upn,serial number,secret key,time interval,manufacturer,model\n");
            for t in 0..2 {
                let serial = serial(o, s, t);
                let secret =
                    data_encoding::BASE32_NOPAD.encode(format!("{serial:0>20}").as_bytes());
                writeln!(csv, ",{serial},{secret},30,Crash Tokens,C1").unwrap();
            }
            let file = dir.join(format!("{number}.csv"));
            std::fs::write(&file, csv).unwrap();
            cli(
                dir,
                &[
                    "import",
                    "--order",
                    &po,
                    "--shipment",
                    &number,
                    file.to_str().unwrap(),
                ],
            );
        }
    }
    let pass = dir.join("staff.pass");
    std::fs::write(&pass, format!("{STAFF_PASSWORD}\n")).unwrap();
    let out = cli(
        dir,
        &[
            "staff",
            "add",
            "--email",
            REVIEWER,
            "--name",
            "Rex",
            "--role",
            "reviewer",
            "--password-file",
            pass.to_str().unwrap(),
        ],
    );
    out.lines()
        .find(|l| l.starts_with("otpauth://"))
        .unwrap()
        .to_owned()
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `portal serve`; killed (SIGKILL) when dropped.
pub(crate) struct Portal {
    child: Child,
    pub(crate) base: String,
    log: PathBuf,
}

impl Portal {
    pub(crate) fn start(dir: &Path, smtp_port: u16) -> Self {
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = dir.join("serve.log");
        let child = ov(dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--base-url", &base])
            .env("OATHVAULT_SMTP__PORT", smtp_port.to_string())
            // Every customer comes from 127.0.0.1 and asks again and again.
            .env("OATHVAULT_REQUESTS__FIND_FLOOR_MS", "1")
            .env("OATHVAULT_REQUESTS__FIND_PER_SOURCE_PER_HOUR", "1000000")
            .env(
                "OATHVAULT_REQUESTS__FIND_PER_IDENTIFIER_PER_HOUR",
                "1000000",
            )
            .env("OATHVAULT_REQUESTS__ASK_CODE", "false")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        // Up to 20 s for the portal to listen.
        for tries in 0.. {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(tries < 1000, "the portal did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, base, log }
    }

    /// SIGKILL, and wait until the process is gone.
    pub(crate) fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub(crate) fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer: status, `Location`, the cookie set (name=value), body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) location: String,
    pub(crate) cookie: Option<String>,
    pub(crate) body: String,
}

/// Why a client stopped: the connection failed (the portal was killed),
/// or an answer was wrong (recorded as a fault).
#[derive(Debug)]
pub(crate) enum Stop {
    Died,
    Fault,
}

/// What the clients share in one round.
pub(crate) struct Load {
    http: reqwest::Client,
    base: String,
    /// The reviewer's session cookie (sessions live in the database).
    session: String,
    sink: PathBuf,
    pub(crate) stop: AtomicBool,
    pub(crate) faults: Mutex<Vec<String>>,
    /// Confirmation links already handled (across rounds).
    links: Arc<Mutex<HashSet<String>>>,
    pub(crate) next: AtomicUsize,
    pub(crate) done: [AtomicUsize; 6],
}

pub(crate) const SUBMITTED: usize = 0;
pub(crate) const LOCKED: usize = 1;
pub(crate) const APPROVED: usize = 2;
pub(crate) const REJECTED: usize = 3;
pub(crate) const DOWNLOADED: usize = 4;
pub(crate) const CONFIRMED: usize = 5;

impl Load {
    fn count(&self, what: usize) {
        self.done[what].fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn counts(&self) -> String {
        let n = |i: usize| self.done[i].load(Ordering::SeqCst);
        format!(
            "{} submitted, {} locked, {} approved, {} rejected, {} downloads, {} confirmed",
            n(SUBMITTED),
            n(LOCKED),
            n(APPROVED),
            n(REJECTED),
            n(DOWNLOADED),
            n(CONFIRMED)
        )
    }

    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> Result<Answer, Stop> {
        let url = format!("{}{path}", self.base);
        let mut r = if method == "GET" {
            self.http.get(url)
        } else {
            self.http.post(url).form(form)
        };
        r = r.header("sec-fetch-site", "same-origin");
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        let resp = r.send().await.map_err(|_| Stop::Died)?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let location = header("location");
        let cookie = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| !v.contains("Max-Age=0"))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned);
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|_| Stop::Died)?;
        Ok(Answer {
            status,
            location,
            cookie,
            body,
        })
    }

    /// Sends; an answer other than `want` (and a `Location` starting with
    /// `to`) is a fault.
    pub(crate) async fn step(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
        want: &[u16],
        to: &str,
    ) -> Result<Answer, Stop> {
        let a = self.send(method, path, cookie, form).await?;
        if want.contains(&a.status) && a.location.starts_with(to) {
            return Ok(a);
        }
        // The page's words, without its markup.
        let text: String = a
            .body
            .split('<')
            .filter_map(|t| t.split_once('>').map(|(_, words)| words))
            .flat_map(str::split_whitespace)
            .collect::<Vec<_>>()
            .join(" ");
        self.faults.lock().unwrap().push(format!(
            "{method} {path}: {} {:?}, expected {want:?} {to:?}: {text}",
            a.status, a.location
        ));
        Err(Stop::Fault)
    }

    /// A form post answered by a redirect to `to`.
    pub(crate) async fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
        to: &str,
    ) -> Result<Answer, Stop> {
        self.step("POST", path, cookie, form, &[303], to).await
    }

    /// Finds order `o`: the wizard cookie and the ids of its shipments
    /// (listed by number: SH-o-a, then SH-o-b).
    pub(crate) async fn find(&self, o: usize) -> Result<(String, Vec<String>), Stop> {
        let po = format!("PO-{o}");
        let form = [("identifier", po.as_str()), ("email", EMAIL)];
        let a = self
            .post("/request", None, &form, "/request/shipments")
            .await?;
        let cookie = a.cookie.ok_or(Stop::Fault)?;
        let page = self
            .step("GET", "/request/shipments", Some(&cookie), &[], &[200], "")
            .await?
            .body;
        let ids: Vec<String> = page
            .split("name=\"pick\" value=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .map(str::to_owned)
            .collect();
        assert_eq!(ids.len(), 2, "{page}");
        Ok((cookie, ids))
    }

    /// One customer's journey; `n` varies it: locked by wrong serials,
    /// left as a draft, one file or one per shipment, the format.
    pub(crate) async fn journey(&self, n: usize) -> Result<(), Stop> {
        let o = n % ORDERS;
        let (cookie, ids) = self.find(o).await?;
        let c = Some(cookie.as_str());
        let (a_serial, b_serial) = (format!("serial-{}", ids[0]), format!("serial-{}", ids[1]));
        if n % 7 == 3 {
            let wrong = [("pick", ids[0].as_str()), (a_serial.as_str(), "0000000000")];
            for want in [422, 422, 422, 422, 403] {
                self.step("POST", "/request/shipments", c, &wrong, &[want], "")
                    .await?;
            }
            self.count(LOCKED);
            return Ok(());
        }
        let both = n.is_multiple_of(2);
        let (sa, sb) = (serial(o, 0, n % 2), serial(o, 1, 1));
        let mut picks = vec![("pick", ids[0].as_str()), (a_serial.as_str(), sa.as_str())];
        if both {
            picks.extend([("pick", ids[1].as_str()), (b_serial.as_str(), sb.as_str())]);
        }
        self.post("/request/shipments", c, &picks, "/request/protection")
            .await?;
        let split = if both && n.is_multiple_of(4) {
            "per-shipment"
        } else {
            "one"
        };
        let protection = [
            ("split", split),
            ("mode", "password"),
            ("password", PASSWORD),
            ("password2", PASSWORD),
            ("pgp_key", ""),
        ];
        self.post("/request/protection", c, &protection, "/request/format")
            .await?;
        if n % 5 == 4 {
            return Ok(()); // left as a draft
        }
        let format = if n.is_multiple_of(3) {
            "jsonl"
        } else {
            "entra-csv"
        };
        let form = [("format", format), ("action", "continue")];
        self.post("/request/format", c, &form, "/request/summary")
            .await?;
        let a = self
            .step("POST", "/request/submit", c, &[], &[200], "")
            .await?;
        if !a.body.contains("was submitted") {
            self.faults
                .lock()
                .unwrap()
                .push(format!("submit: {}", a.body));
            return Err(Stop::Fault);
        }
        self.count(SUBMITTED);
        Ok(())
    }

    pub(crate) async fn customer(self: Arc<Self>) {
        while !self.stop.load(Ordering::SeqCst) {
            let n = self.next.fetch_add(1, Ordering::SeqCst);
            if self.journey(n).await.is_err() {
                return;
            }
        }
    }

    /// Approves (or, every fourth, rejects) whatever waits in the queue.
    pub(crate) async fn review_queue(&self) -> Result<(), Stop> {
        let s = Some(self.session.as_str());
        let page = self
            .step("GET", "/admin/requests?state=submitted", s, &[], &[200], "")
            .await?;
        let ids: Vec<i64> = page
            .body
            .split("href=\"/admin/requests/")
            .skip(1)
            .filter_map(|x| x.split('"').next()?.parse().ok())
            .collect();
        for id in ids {
            if id % 4 == 0 {
                let to = format!("/admin/requests/{id}?notice=Rejected");
                let form = [("reason", "serials do not match our records")];
                let path = format!("/admin/requests/{id}/reject");
                self.step("POST", &path, s, &form, &[303], &to).await?;
                self.count(REJECTED);
            } else {
                let to = format!("/admin/requests/{id}?notice=Approved");
                let path = format!("/admin/requests/{id}/approve");
                self.step("POST", &path, s, &[], &[303], &to).await?;
                self.count(APPROVED);
            }
        }
        Ok(())
    }

    pub(crate) async fn reviewer(self: Arc<Self>) {
        while !self.stop.load(Ordering::SeqCst) {
            if self.review_queue().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Downloads every file whose link mail reached the sink, and
    /// confirms every other one. A file confirmed in an earlier round
    /// (whose answer the kill cut off) is gone: 410.
    pub(crate) async fn confirmer(self: Arc<Self>) {
        while !self.stop.load(Ordering::SeqCst) {
            let mails = oathvault_mail::outbox::list(&self.sink).unwrap_or_default();
            for m in mails.iter().filter(|m| m.subject.contains(" ready: ")) {
                let text = m.text.clone().unwrap_or_default();
                let (download, confirm) = (link_token(&text, "/d/"), link_token(&text, "/c/"));
                if !self.links.lock().unwrap().insert(confirm.clone()) {
                    continue;
                }
                let form = [("password", PASSWORD)];
                let path = format!("/d/{download}");
                if self
                    .step("POST", &path, None, &form, &[200, 410], "")
                    .await
                    .is_err()
                {
                    return;
                }
                self.count(DOWNLOADED);
                if self.links.lock().unwrap().len().is_multiple_of(2) {
                    continue;
                }
                let path = format!("/c/{confirm}");
                if self
                    .step("POST", &path, None, &[], &[200, 410], "")
                    .await
                    .is_err()
                {
                    return;
                }
                self.count(CONFIRMED);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The token of the first link under `kind` (`/d/`, `/c/`) in a mail's
/// text; empty when there is none.
pub(crate) fn link_token(text: &str, kind: &str) -> String {
    text.split(kind)
        .nth(1)
        .map(|t| {
            t.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "-_".contains(*c))
                .collect()
        })
        .unwrap_or_default()
}

/// The code the reviewer's authenticator shows now.
pub(crate) fn code_now(uri: &str) -> String {
    let b32 = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let secret = oathvault_token::SecretEncoding::Base32.decode(b32).unwrap();
    let otp = oathvault_otp::Otp::from_parts(
        secret.expose(),
        oathvault_token::Hash::Sha1,
        oathvault_token::Kind::Totp {
            step: oathvault_token::Step::S30,
            t0: 0,
        },
        oathvault_token::Digits::SIX,
    )
    .unwrap();
    let now = oathvault_otp::clock::Clock::now_unix(&oathvault_otp::clock::SystemClock);
    otp.totp(now).unwrap().to_string()
}

pub(crate) fn client() -> reqwest::Client {
    oathvault_graph::client::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Signs the reviewer in (password, then the code); the session cookie.
pub(crate) async fn sign_in(base: &str, uri: &str) -> String {
    sign_in_as(base, REVIEWER, uri).await
}

/// The TOTP step each staff member last signed in with.
static USED: Mutex<Vec<(String, u64)>> = Mutex::new(Vec::new());

/// Signs a staff member in (password `STAFF_PASSWORD`, then the code).
pub(crate) async fn sign_in_as(base: &str, email: &str, uri: &str) -> String {
    let load = Load::new(
        client(),
        base,
        String::new(),
        PathBuf::new(),
        Arc::default(),
    );
    // A code is taken once: a second sign-in in the same 30-second step
    // waits for the next code, as a person would.
    loop {
        let now = oathvault_otp::clock::Clock::now_unix(&oathvault_otp::clock::SystemClock);
        let step = now / 30;
        let fresh = {
            let mut used = USED.lock().unwrap();
            match used.iter_mut().find(|(u, _)| u == uri) {
                Some((_, last)) if *last >= step => false,
                Some((_, last)) => {
                    *last = step;
                    true
                }
                None => {
                    used.push((uri.to_owned(), step));
                    true
                }
            }
        };
        if fresh {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let form = [("email", email), ("password", STAFF_PASSWORD)];
    let a = load
        .step("POST", "/signin", None, &form, &[303], "/signin/code")
        .await
        .unwrap();
    let pending = a.cookie.unwrap();
    let code = code_now(uri);
    let a = load
        .step(
            "POST",
            "/signin/code",
            Some(&pending),
            &[("code", code.as_str())],
            &[303],
            "/",
        )
        .await
        .unwrap();
    a.cookie.unwrap()
}

impl Load {
    pub(crate) fn new(
        http: reqwest::Client,
        base: &str,
        session: String,
        sink: PathBuf,
        links: Arc<Mutex<HashSet<String>>>,
    ) -> Self {
        Self {
            http,
            base: base.to_owned(),
            session,
            sink,
            stop: AtomicBool::new(false),
            faults: Mutex::default(),
            links,
            next: AtomicUsize::new(0),
            done: Default::default(),
        }
    }
}

/// Counts a query gives (its first column, as a number).
pub(crate) async fn count(pool: &sqlx::AnyPool, sql: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .try_get::<i64, _>(0)
        .unwrap()
}

/// The invariants, as queries that must count nothing.
const INVARIANTS: [(&str, &str); 9] = [
    (
        "a request in none of the eight states",
        "SELECT COUNT(*) FROM seed_request WHERE state NOT IN ('draft', 'submitted', 'approved', \
         'delivered', 'confirmed', 'rejected', 'locked', 'expired')",
    ),
    (
        "a submitted, approved or delivered request without a file holding content",
        "SELECT COUNT(*) FROM seed_request r WHERE r.state IN ('submitted', 'approved', 'delivered') \
         AND NOT EXISTS (SELECT 1 FROM delivery_file f WHERE f.request_id = r.id \
         AND f.content_sealed IS NOT NULL AND f.key_wrapped IS NOT NULL)",
    ),
    (
        "a delivery file without its request",
        "SELECT COUNT(*) FROM delivery_file f \
         WHERE NOT EXISTS (SELECT 1 FROM seed_request r WHERE r.id = f.request_id)",
    ),
    (
        "a file holding content whose request is rejected, expired, locked or confirmed",
        "SELECT COUNT(*) FROM delivery_file f JOIN seed_request r ON r.id = f.request_id \
         WHERE r.state IN ('rejected', 'expired', 'locked', 'confirmed') \
         AND (f.content_sealed IS NOT NULL OR f.key_wrapped IS NOT NULL)",
    ),
    (
        "a draft with files",
        "SELECT COUNT(*) FROM delivery_file f JOIN seed_request r ON r.id = f.request_id \
         WHERE r.state = 'draft'",
    ),
    (
        "a file whose state and content disagree (half destroyed)",
        "SELECT COUNT(*) FROM delivery_file WHERE \
         (state IN ('ready', 'downloaded')) <> (content_sealed IS NOT NULL) \
         OR (content_sealed IS NULL) <> (key_wrapped IS NULL) \
         OR (content_sealed IS NULL) <> (destroyed IS NOT NULL)",
    ),
    (
        "an approved or delivered request with a file holding content but no links",
        "SELECT COUNT(*) FROM delivery_file f JOIN seed_request r ON r.id = f.request_id \
         WHERE r.state IN ('approved', 'delivered') AND f.content_sealed IS NOT NULL \
         AND (f.download_hash IS NULL OR f.confirm_hash IS NULL OR f.expires IS NULL)",
    ),
    (
        "a request past the wizard that keeps its cookie or its password",
        "SELECT COUNT(*) FROM seed_request WHERE state <> 'draft' \
         AND (wizard_hash IS NOT NULL OR password_sealed IS NOT NULL)",
    ),
    (
        "a submitted request without its audit event",
        "SELECT COUNT(*) FROM seed_request r WHERE r.submitted IS NOT NULL AND NOT EXISTS \
         (SELECT 1 FROM audit a WHERE a.action = 'request.submit' \
         AND a.subject = 'request:' || r.reference)",
    ),
];

/// Checks every invariant and the audit chain; returns the requests by state.
pub(crate) async fn check(dir: &Path, when: &str) -> String {
    let db = dir.join("data/portal.db");
    let keys = oathvault_vault::Keyring::open_file(&dir.join("data/master.key")).unwrap();
    let store = oathvault_store::Store::open(
        db.to_str().unwrap(),
        &keys,
        &mut oathvault_vault::random::os(),
    )
    .await
    .unwrap();
    let pool = store.pool();
    let mut broken = Vec::new();
    for (what, sql) in INVARIANTS {
        let n = count(pool, sql).await;
        if n != 0 {
            broken.push(format!("{n} × {what}"));
        }
    }
    let mut states = Vec::new();
    for s in [
        "draft",
        "submitted",
        "approved",
        "delivered",
        "confirmed",
        "rejected",
        "locked",
    ] {
        let n = count(
            pool,
            &format!("SELECT COUNT(*) FROM seed_request WHERE state = '{s}'"),
        )
        .await;
        states.push(format!("{n} {s}"));
    }
    let files = count(pool, "SELECT COUNT(*) FROM delivery_file").await;
    store.close().await;
    assert!(broken.is_empty(), "{when}: {}", broken.join("; "));
    let verify = cli(dir, &["audit", "verify"]);
    assert!(verify.contains("audit log intact"), "{when}: {verify}");
    format!("{}; {files} files; {}", states.join(", "), verify.trim())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::too_many_lines,
    reason = "one scenario: three kills, then a journey"
)]
async fn killing_the_portal_mid_load_leaves_no_half_made_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let uri = inventory(dir);
    let sink_dir = dir.join("mail");
    let sink = oathvault_mail::Sink::start(
        &sink_dir,
        "127.0.0.1:0".parse().unwrap(),
        Arc::new(oathvault_otp::clock::SystemClock),
    )
    .await
    .unwrap();
    let smtp = sink.addr().port();
    let links = Arc::default();
    let mut portal = Portal::start(dir, smtp);
    let session = sign_in(&portal.base, &uri).await;
    let mut rng = oathvault_vault::random::os();
    for round in 1..=3 {
        let load = Arc::new(Load::new(
            client(),
            &portal.base,
            session.clone(),
            sink_dir.clone(),
            Arc::clone(&links),
        ));
        let mut tasks = Vec::new();
        for _ in 0..CUSTOMERS {
            tasks.push(tokio::spawn(Arc::clone(&load).customer()));
        }
        tasks.push(tokio::spawn(Arc::clone(&load).reviewer()));
        tasks.push(tokio::spawn(Arc::clone(&load).confirmer()));
        let after = Duration::from_millis(rng.gen_range(300..2500));
        tokio::time::sleep(after).await;
        portal.kill();
        load.stop.store(true, Ordering::SeqCst);
        println!(
            "round {round}: SIGKILL after {} ms of load ({} so far)",
            after.as_millis(),
            load.counts()
        );
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(30), t)
                .await
                .expect("a client did not stop")
                .unwrap();
        }
        let faults = load.faults.lock().unwrap().clone();
        assert!(
            faults.is_empty(),
            "round {round}: wrong answers before the kill:\n{}\n--- portal log:\n{}",
            faults.join("\n"),
            portal.logs()
        );
        let state = check(dir, &format!("after kill {round}")).await;
        println!("  after the kill: {state}");
        portal = Portal::start(dir, smtp);
    }

    // After the last restart the journey still works, end to end, and the
    // reviewer empties the queue (the new request with what waited).
    let load = Load::new(client(), &portal.base, session, sink_dir, links);
    check(dir, "after the last restart").await;
    let journey = load.journey(2).await;
    let reviewed = load.review_queue().await;
    let faults = load.faults.lock().unwrap().clone();
    assert!(
        journey.is_ok() && reviewed.is_ok() && faults.is_empty(),
        "after the restart: {faults:?}\n--- portal log:\n{}",
        portal.logs()
    );
    assert_eq!(
        load.done[SUBMITTED].load(Ordering::SeqCst),
        1,
        "{}",
        load.counts()
    );
    portal.kill();
    println!(
        "after the last restart a journey and its approval succeeded: {}",
        check(dir, "at the end").await
    );
    sink.stop().await;
}
