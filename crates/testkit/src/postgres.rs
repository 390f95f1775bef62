//! A throwaway PostgreSQL server for tests: a fresh cluster in a temporary
//! directory, listening on 127.0.0.1 on a free port, stopped and removed on
//! drop. Needs Debian's `postgresql` package (`scripts/test` installs it); a
//! missing server fails the test with that hint, it is never skipped.
//!
//! `OATHVAULT_TEST_POSTGRES` (a `postgres://` URL) uses a running server
//! instead; each [`TempPostgres`] then gets its own new database in it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running test server (or a database in the given one).
#[derive(Debug)]
pub struct TempPostgres {
    url: String,
    cluster: Option<(tempfile::TempDir, PathBuf)>,
}

fn bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.pop()
        .filter(|d| d.join("initdb").exists())
        .expect("PostgreSQL is not installed (scripts/test installs Debian's postgresql package)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root
/// (initdb refuses to run as root).
fn run(tool: &Path, args: &[&str]) {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(tool);
        c
    } else {
        Command::new(tool)
    };
    let out = cmd
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", tool.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}{}",
        tool.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

impl TempPostgres {
    /// Starts a server (or creates a database in `OATHVAULT_TEST_POSTGRES`).
    #[must_use]
    pub fn start() -> Self {
        if let Ok(base) = std::env::var("OATHVAULT_TEST_POSTGRES") {
            return Self::database_in(&base);
        }
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("oathvault-pg-")
            .tempdir()
            .expect("temporary directory");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("data directory");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "cannot give the test cluster to the postgres user"
            );
        }
        let data_s = data.to_string_lossy().into_owned();
        let sock = dir.path().to_string_lossy().into_owned();
        run(
            &bin.join("initdb"),
            &[
                "-D",
                &data_s,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let port = free_port();
        let opts = format!(
            "-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
        );
        let log = dir.path().join("log").to_string_lossy().into_owned();
        run(
            &bin.join("pg_ctl"),
            &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"],
        );
        Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            cluster: Some((dir, bin)),
        }
    }

    fn database_in(base: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "oathvault_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        );
        let out = Command::new("psql")
            .args([
                base,
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                &format!("CREATE DATABASE {name}"),
            ])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "cannot create a test database in OATHVAULT_TEST_POSTGRES: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (prefix, _) = base
            .rsplit_once('/')
            .expect("a postgres:// URL with a database");
        Self {
            url: format!("{prefix}/{name}"),
            cluster: None,
        }
    }

    /// The connection URL.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `pg_dump` of the database, as SQL text.
    #[must_use]
    pub fn dump(&self) -> String {
        let tool = self
            .cluster
            .as_ref()
            .map_or_else(|| PathBuf::from("pg_dump"), |(_, bin)| bin.join("pg_dump"));
        let out = Command::new(tool)
            .args(["--data-only", "--inserts", &self.url])
            .output()
            .expect("pg_dump");
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        if let Some((dir, bin)) = &self.cluster {
            let data = dir.path().join("data").to_string_lossy().into_owned();
            let tool = bin.join("pg_ctl");
            let mut cmd = if is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&tool);
                c
            } else {
                Command::new(&tool)
            };
            let _ = cmd.args(["-D", &data, "-m", "immediate", "stop"]).output();
        }
    }
}
