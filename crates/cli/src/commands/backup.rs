//! `portal backup`, `portal restore` and `portal verify` (and the desk's):
//! a consistent copy of the database while the server runs, put back into
//! an empty data directory, and checked — schema version, audit chain, and
//! every sealed value and seed opening with the keyring. The master key is
//! never inside a backup: it is kept, and restored, apart.

use std::path::Path;

use anyhow::{Context, anyhow};
use oathvault_store::Store;
use oathvault_vault::Keyring;

use crate::Failure;

/// Writes a consistent copy of the database to `output` (not replacing a
/// file); SQLite only (PostgreSQL: `pg_dump`, see `docs/operations.md`).
#[allow(clippy::print_stdout, reason = "the command's report")]
pub(crate) async fn backup(store: &Store, output: &Path) -> Result<(), Failure> {
    if output.exists() {
        return Err(anyhow!("{} exists; choose a new file name", output.display()).into());
    }
    let partial = output.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    store
        .backup_to(&partial)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot protect {}", partial.display()))?;
    }
    std::fs::rename(&partial, output)
        .with_context(|| format!("cannot move the backup to {}", output.display()))?;
    let size = std::fs::metadata(output).map_or(0, |m| m.len());
    say!(
        "backed up the database to {} ({size} bytes; secrets stay sealed in it, and the master key is not in it: keep the key file apart)",
        output.display()
    );
    Ok(())
}

/// Copies a backup into place as the database file `database`, which must
/// not exist yet (an empty data directory).
#[allow(clippy::print_stdout, reason = "the command's report")]
pub(crate) fn restore(backup: &Path, database: &str) -> Result<(), Failure> {
    if database.starts_with("postgres://") || database.starts_with("postgresql://") {
        return Err(anyhow!(
            "the database is PostgreSQL: restore with pg_restore (docs/operations.md), then run `verify`"
        )
        .into());
    }
    let target = Path::new(database.strip_prefix("sqlite://").unwrap_or(database));
    if target.exists() {
        return Err(anyhow!(
            "{} exists: restore only into an empty data directory (move the old database away first)",
            target.display()
        )
        .into());
    }
    let head =
        std::fs::read(backup).with_context(|| format!("cannot read {}", backup.display()))?;
    if !head.starts_with(b"SQLite format 3\0") {
        return Err(anyhow!(
            "{} is not a SQLite backup made by `backup`",
            backup.display()
        )
        .into());
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let partial = target.with_extension("restoring");
    std::fs::write(&partial, &head)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot protect {}", partial.display()))?;
    }
    std::fs::rename(&partial, target)
        .with_context(|| format!("cannot move the restored database to {}", target.display()))?;
    say!("restored {} to {}", backup.display(), target.display());
    Ok(())
}

/// Schema version, audit chain, and every sealed value and seed.
#[allow(clippy::print_stdout, reason = "the command's report")]
pub(crate) async fn verify(store: &Store, keys: &Keyring) -> Result<(), Failure> {
    let (applied, known) = store.schema_version().await.map_err(|e| anyhow!("{e}"))?;
    if applied != known {
        return Err(anyhow!(
            "the database's schema is at migration {applied}, this program knows {known}: run the version that matches, or open it once with this one to migrate"
        )
        .into());
    }
    say!("schema: migration {applied}, as this program expects");
    let chain = store.audit_verify().await.map_err(|e| anyhow!("{e}"))?;
    say!("audit log intact: {} events", chain.events);
    let sealed = store
        .verify_sealed(keys)
        .await
        .map_err(|e| anyhow!("{e} (is this the key file that goes with this database?)"))?;
    for (kind, n) in &sealed.opened {
        say!("  {:<44} {n:>6} open", kind.label());
    }
    say!("  {:<44} {:>6} open", "token seeds", sealed.seeds);
    say!(
        "verified: every sealed value opens with the keyring ({})",
        keys.ids().join(", ")
    );
    Ok(())
}
