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
            say!("  {:<44} none", kind.label());
        }
        for u in of_kind {
            let key = match &u.key {
                Some(k) if ids.contains(k) => k.clone(),
                Some(k) => format!("{k} (NOT IN THE KEYRING: these do not open)"),
                None => "no key id (sealed before keyrings; the next rotation labels them)".into(),
            };
            say!("  {:<44} {:>6} under {key}", u.kind.label(), u.count);
        }
    }
    Ok(())
}

/// The custody commands: key rotation and status, shredding, the signing
/// key, audit checkpoints and verification.
pub(crate) async fn run(
    command: &crate::args::PortalCommand,
    store: &Store,
    keys: &Keyring,
    key_file: &std::path::Path,
    config: &oathvault_portal::Config,
    who: &Actor,
) -> Result<(), Failure> {
    use crate::args::{AuditCommand, KeyCommand, PortalCommand};
    match command {
        PortalCommand::RotateKey => rotate(key_file, store, who).await,
        PortalCommand::Key(KeyCommand::Status) => status(key_file, store).await,
        PortalCommand::Shred { shipment, reason } => shred(store, who, shipment, reason).await,
        PortalCommand::SigningKey(c) => {
            signing_key(store, keys, who, &config.requests.vendor, c).await
        }
        PortalCommand::Audit(AuditCommand::Verify { checkpoint: cp }) => {
            audit_verify(store, keys, cp.as_deref()).await
        }
        PortalCommand::Audit(AuditCommand::Checkpoint { output }) => {
            checkpoint(store, keys, &config.issuer, who.now, output).await
        }
        _ => Ok(()),
    }
}

/// `portal shred --shipment NUMBER`.
#[allow(clippy::print_stdout, reason = "the command's report")]
pub(crate) async fn shred(
    store: &Store,
    who: &Actor,
    shipment: &str,
    reason: &str,
) -> Result<(), Failure> {
    let event = who
        .event("shipment.shred", &format!("shipment:{shipment}"))
        .with_detail(reason.to_owned());
    let done = store
        .shred_shipment(shipment, reason, &event)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    say!(
        "shredded shipment {shipment}: its data key and {} sealed seed(s) were destroyed; the serials stay in the inventory, and requests for it are refused",
        done.seeds
    );
    say!(
        "copies in backups taken earlier stay unreadable once the master key that wrapped the data key is retired: run `oathvault portal rotate-key`"
    );
    Ok(())
}

/// `portal signing-key generate|import|export`.
#[allow(clippy::print_stdout, reason = "the command's report")]
pub(crate) async fn signing_key(
    store: &Store,
    keys: &Keyring,
    who: &Actor,
    vendor: &str,
    command: &crate::args::SigningKeyCommand,
) -> Result<(), Failure> {
    use crate::args::SigningKeyCommand;
    use oathvault_portal::signing::VendorKey;
    let mut random = oathvault_vault::random::os();
    let fail = |e: oathvault_portal::signing::SigningError| Failure::from(anyhow!("{e}"));
    match command {
        SigningKeyCommand::Generate { uid } => {
            let uid = uid.clone().unwrap_or_else(|| VendorKey::user_id(vendor));
            let key = VendorKey::generate(&mut random, &uid).map_err(fail)?;
            key.save(
                store,
                keys,
                &mut random,
                who.event("signing-key.generate", "vendor-signing-key"),
            )
            .await
            .map_err(fail)?;
            say!(
                "the portal signs with a new key for {uid:?}, fingerprint {}",
                key.fingerprint()
            );
        }
        SigningKeyCommand::Import {
            file,
            passphrase_file,
        } => {
            let bytes = zeroize::Zeroizing::new(
                std::fs::read(file).map_err(|e| anyhow!("cannot read {}: {e}", file.display()))?,
            );
            let secret = oathvault_packaging::pgp::SecretKey::parse(&bytes)
                .map_err(|e| anyhow!("{}: {e}", file.display()))?;
            let pass = crate::io::secret_file(passphrase_file, "the key's passphrase")?;
            let key = VendorKey::new(
                &mut random,
                secret,
                oathvault_packaging::Password::new(&pass),
            )
            .map_err(fail)?;
            key.save(
                store,
                keys,
                &mut random,
                who.event("signing-key.import", "vendor-signing-key"),
            )
            .await
            .map_err(fail)?;
            say!(
                "the portal signs with the imported key, fingerprint {}",
                key.fingerprint()
            );
        }
        SigningKeyCommand::Export { output } => {
            let key = VendorKey::load(store, keys)
                .await
                .map_err(fail)?
                .ok_or(oathvault_portal::signing::SigningError::Missing)
                .map_err(fail)?;
            let armored = key.public_armored().map_err(fail)?;
            match output {
                Some(path) => {
                    std::fs::write(path, &armored)
                        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
                    say!(
                        "wrote the public key (fingerprint {}) to {}",
                        key.fingerprint(),
                        path.display()
                    );
                }
                None => say!("{}", armored.trim_end()),
            }
        }
    }
    Ok(())
}

/// `portal audit checkpoint -o FILE`.
#[allow(clippy::print_stdout, reason = "the command's report")]
pub(crate) async fn checkpoint(
    store: &Store,
    keys: &Keyring,
    portal: &str,
    now: i64,
    output: &std::path::Path,
) -> Result<(), Failure> {
    let text = oathvault_portal::checkpoint::make(
        store,
        keys,
        &mut oathvault_vault::random::os(),
        portal,
        now,
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;
    std::fs::write(output, &text).map_err(|e| anyhow!("cannot write {}: {e}", output.display()))?;
    say!(
        "wrote a signed checkpoint of the audit log to {}",
        output.display()
    );
    Ok(())
}

/// `portal audit verify [--checkpoint FILE]`.
#[allow(clippy::print_stdout, reason = "the command's report")]
pub(crate) async fn audit_verify(
    store: &Store,
    keys: &Keyring,
    checkpoint: Option<&std::path::Path>,
) -> Result<(), Failure> {
    let check = store.audit_verify().await.map_err(|e| anyhow!("{e}"))?;
    say!(
        "audit log intact: {} events, head {}",
        check.events,
        check.head
    );
    if let Some(path) = checkpoint {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
        let seq = oathvault_portal::checkpoint::verify(store, keys, &text)
            .await
            .map_err(|e| anyhow!("{}: {e}", path.display()))?;
        say!(
            "the log still holds the checkpoint's head at event {seq} ({})",
            path.display()
        );
    }
    Ok(())
}

/// Once at start and then every day: a signed checkpoint of the audit log
/// into `dir` (`checkpoint-YYYY-MM-DD.asc`, mode 0600).
pub(crate) async fn checkpoint_daily(
    state: std::sync::Arc<oathvault_portal::web::AppState>,
    dir: std::path::PathBuf,
) {
    loop {
        let now = state.now();
        let made = oathvault_portal::checkpoint::make(
            &state.store,
            &state.master,
            &mut oathvault_vault::random::os(),
            &state.settings.issuer,
            now,
        )
        .await;
        match made {
            Ok(text) => {
                let day = oathvault_otp::clock::rfc3339(now)
                    .chars()
                    .take(10)
                    .collect::<String>();
                let file = dir.join(format!("checkpoint-{day}.asc"));
                let written = std::fs::create_dir_all(&dir).and_then(|()| {
                    let mut o = std::fs::OpenOptions::new();
                    o.write(true).create(true).truncate(true);
                    #[cfg(unix)]
                    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
                    std::io::Write::write_all(&mut o.open(&file)?, text.as_bytes())
                });
                match written {
                    Ok(()) => {
                        tracing::info!(file = %file.display(), "wrote the audit log's daily checkpoint");
                    }
                    Err(e) => {
                        tracing::warn!(file = %file.display(), error = %e, "cannot write the audit checkpoint");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "no audit checkpoint today"),
        }
        tokio::time::sleep(Duration::from_hours(24)).await;
    }
}
