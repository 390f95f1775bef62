//! `oathvault portal rotate-key` and `portal key status`: the master
//! keyring's life — a new key added, everything re-sealed under it, the old
//! key retired once nothing names it.

use std::time::Duration;

use anyhow::anyhow;
use oathvault_portal::Actor;
use oathvault_store::Store;
use oathvault_store::custody::{KeyUse, SealedKind};
use oathvault_vault::Keyring;

use super::portal::write_key;
use crate::Failure;

/// Values re-sealed per transaction.
const BATCH: i64 = 200;
/// Passes over everything before a rotation gives up for this run.
const PASSES: usize = 5;

/// How long a rotation waits after adding a key before it re-seals: every
/// running portal looks at the key file before each seal, so after this
/// no operation that began under the old ring can still be writing.
fn grace() -> Duration {
    std::env::var("OATHVAULT_ROTATE_GRACE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(2), Duration::from_millis)
}

/// Adds a key (or resumes a rotation that was stopped), re-seals everything
/// under the newest key, checks that nothing names an older one, and
/// retires the older keys. Every step can be interrupted and run again.
#[allow(clippy::print_stdout, reason = "the command's report")]
pub(crate) async fn rotate(
    key_file: &std::path::Path,
    store: &Store,
    who: &Actor,
) -> Result<(), Failure> {
    let mut random = oathvault_vault::random::os();
    let ring = Keyring::open_file(key_file).map_err(|e| anyhow!("{e}"))?;
    if ring.ids().len() == 1 {
        let next = ring.with_new_key(&mut random);
        write_key(key_file, &next, true)?;
        store
            .audit(&who.event("master-key.add", "keyring").with_detail(format!(
                "new key {} beside {}; re-sealing everything under it",
                next.id(),
                ring.id()
            )))
            .await
            .map_err(|e| anyhow!("{e}"))?;
        say!(
            "added master key {} to {}; running portals seal under it from now on",
            next.id(),
            key_file.display()
        );
        tokio::time::sleep(grace()).await;
    } else {
        say!(
            "resuming the rotation to master key {} (the keyring holds {} keys)",
            ring.id(),
            ring.ids().len()
        );
    }
    let ring = Keyring::open_file(key_file).map_err(|e| anyhow!("{e}"))?;
    let newest = ring.id();
    let mut left = Vec::new();
    for pass in 1..=PASSES {
        let done = store
            .reseal_all(&ring, &mut random, BATCH)
            .await
            .map_err(|e| anyhow!("{e}; run `oathvault portal rotate-key` again to go on"))?;
        say!(
            "pass {pass}: {} sealed value(s) looked at, {} re-sealed, {} changed by the portal meanwhile",
            done.seen,
            done.moved,
            done.raced
        );
        let usage = store.key_usage().await.map_err(|e| anyhow!("{e}"))?;
        left = usage
            .into_iter()
            .filter(|u| u.key.as_deref() != Some(newest.as_str()))
            .collect();
        if left.is_empty() {
            break;
        }
    }
    if !left.is_empty() {
        return Err(anyhow!(
            "{} still under an older key after {PASSES} passes (the portal is busy?); nothing is lost: run `oathvault portal rotate-key` again",
            describe(&left)
        )
        .into());
    }
    let retired: Vec<String> = ring.ids().into_iter().filter(|id| *id != newest).collect();
    write_key(key_file, &ring.newest_only(), true)?;
    store
        .audit(
            &who.event("master-key.retire", "keyring")
                .with_detail(format!(
                    "retired {}; {} seals everything",
                    retired.join(", "),
                    newest
                )),
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    say!(
        "retired master key(s) {}: nothing refers to them any more; {newest} is the only key in {}",
        retired.join(", "),
        key_file.display()
    );
    Ok(())
}

fn describe(uses: &[KeyUse]) -> String {
    uses.iter()
        .map(|u| format!("{} {}", u.count, u.kind.label()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What is sealed under which key.
#[allow(clippy::print_stdout, reason = "the command's report")]
pub(crate) async fn status(key_file: &std::path::Path, store: &Store) -> Result<(), Failure> {
    let ring = Keyring::open_file(key_file).map_err(|e| anyhow!("{e}"))?;
    let ids = ring.ids();
    say!(
        "keyring {} ({} key(s), oldest first):",
        key_file.display(),
        ids.len()
    );
    for id in &ids {
        let role = if *id == ring.id() {
            "seals"
        } else {
            "opens only (a rotation is not finished)"
        };
        say!("  {id}  {role}");
    }
    let usage = store.key_usage().await.map_err(|e| anyhow!("{e}"))?;
    say!("sealed values:");
    for kind in SealedKind::ALL {
        let of_kind: Vec<&KeyUse> = usage.iter().filter(|u| u.kind == kind).collect();
        if of_kind.is_empty() {
            say!("  {:<40} none", kind.label());
        }
        for u in of_kind {
            let key = match &u.key {
                Some(k) if ids.contains(k) => k.clone(),
                Some(k) => format!("{k} (NOT IN THE KEYRING: these do not open)"),
                None => "no key id (sealed before keyrings; the next rotation labels them)".into(),
            };
            say!("  {:<40} {:>6} under {key}", u.kind.label(), u.count);
        }
    }
    Ok(())
}
