//! `oathvault directory …`: the Entra-compatible directory's administration
//! and server.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use oathvault_directory::{Db, DirState, Directory, Settings};
use oathvault_vault::Keyring;

use super::now;
use super::portal::{default_data_dir, init_logs, shutdown_signal, write_key};
use crate::Failure;
use crate::args::{
    AppCertificateCommand, AppCommand, DirectoryArgs, DirectoryCommand, TenantCommand, UserCommand,
};
use crate::io::secret_file;

pub fn run(args: &DirectoryArgs) -> Result<(), Failure> {
    super::block_on(run_async(args))
}

/// The master key: read, or made (0600) on first use.
#[allow(clippy::print_stderr, reason = "a note for the operator")]
fn master_key(path: &std::path::Path) -> Result<Keyring, Failure> {
    if !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let key = Keyring::generate(&mut oathvault_vault::random::os());
        write_key(path, &key, false)?;
        eprintln!(
            "note: created the directory's master key {} (mode 0600)",
            path.display()
        );
        return Ok(key);
    }
    Keyring::open_file(path).map_err(|e| anyhow!("{}: {e}", path.display()).into())
}

#[allow(clippy::print_stdout, reason = "the command's report")]
async fn run_async(args: &DirectoryArgs) -> Result<(), Failure> {
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| data_dir.join("directory.db").to_string_lossy().into_owned());
    let key_file = args
        .master_key_file
        .clone()
        .unwrap_or_else(|| data_dir.join("directory.key"));
    let master = master_key(&key_file)?;
    let db = Db::open(&database)
        .await
        .map_err(|e| anyhow!("{database}: {e}"))?;
    let dir = Directory::new(&db, &master);
    let mut rng = oathvault_vault::random::os();
    let fail = admin_failure;
    match &args.command {
        DirectoryCommand::Tenant(TenantCommand::Add { name, domain }) => {
            let t = dir
                .add_tenant(&mut rng, name, domain, now())
                .await
                .map_err(fail)?;
            say!("added tenant {} ({}), id {}", t.name, t.domain, t.id);
        }
        DirectoryCommand::User(UserCommand::List { tenant, json }) => {
            super::listing::directory_users(&db, tenant, *json).await?;
        }
        DirectoryCommand::User(UserCommand::Add {
            tenant,
            upn,
            name,
            password_file,
            roles,
        }) => {
            let pw = secret_file(password_file, "password")?;
            let u = dir
                .add_user(&mut rng, tenant, upn, name, &pw, now())
                .await
                .map_err(fail)?;
            if !roles.is_empty() {
                dir.set_roles(tenant, upn, roles).await.map_err(fail)?;
            }
            say!(
                "added user {} ({}), object id {}",
                u.upn,
                u.display_name,
                u.id
            );
        }
        DirectoryCommand::App(command) => app(&dir, &mut rng, command).await?,
        DirectoryCommand::SeedDemo { domain, json } => {
            let demo = dir.seed_demo(&mut rng, domain, now()).await.map_err(fail)?;
            print_demo(&demo, *json)?;
        }
        DirectoryCommand::Serve {
            listen,
            public_url,
            log_format,
            throttle,
            retry_after,
            latency,
            code_attempts,
            code_lock_minutes,
            metrics_token_file,
        } => {
            let key = dir
                .signing_key(&mut rng, now())
                .await
                .map_err(|e| anyhow!("{e}"))?;
            let settings = Settings {
                public_url: public_url.clone(),
                throttle: throttle.map(|every| oathvault_directory::Throttle {
                    every,
                    retry_after: *retry_after,
                }),
                latency_ms: *latency,
                code_lockout: oathvault_store::lockout::Lockout {
                    after: *code_attempts,
                    seconds: code_lock_minutes.saturating_mul(60),
                },
                metrics_token: metrics_token_file
                    .as_deref()
                    .map(oathvault_web::MetricsToken::read)
                    .transpose()
                    .map_err(|e| Failure::Usage(e.to_string()))?,
                ..Settings::default()
            };
            return serve(db, master, key, listen, settings, log_format).await;
        }
    }
    db.close().await;
    Ok(())
}

/// `oathvault directory app …`.
#[allow(clippy::print_stdout, reason = "the command's report")]
async fn app(
    dir: &Directory<'_>,
    rng: &mut (impl rand08::RngCore + rand08::CryptoRng),
    command: &AppCommand,
) -> Result<(), Failure> {
    let fail = admin_failure;
    match command {
        AppCommand::Add {
            tenant,
            name,
            permissions,
            certificate,
            redirect_uris,
            directory_roles_claim,
        } => {
            // Check first: a bad certificate registers nothing.
            let pem = certificate.as_ref().map(read_pem).transpose()?;
            if let Some(pem) = &pem {
                oathvault_directory::admin::certificate(pem, now()).map_err(fail)?;
            }
            for u in redirect_uris {
                oathvault_directory::admin::check_redirect_uri(u)
                    .map_err(|e| fail(oathvault_directory::admin::AdminError::Invalid(e)))?;
            }
            let (app, secret) = dir
                .add_app(rng, tenant, name, permissions, now())
                .await
                .map_err(fail)?;
            say!(
                "registered {} with {}",
                app.name,
                app.permissions.join(", ")
            );
            say!("client id:     {}", app.client_id);
            say!("client secret: {} (shown once)", secret.as_str());
            if !redirect_uris.is_empty() || *directory_roles_claim {
                dir.set_signin(
                    tenant,
                    &app.client_id,
                    redirect_uris,
                    *directory_roles_claim,
                )
                .await
                .map_err(fail)?;
                say!("redirect URIs: {}", redirect_uris.join(" "));
            }
            if let Some(pem) = pem {
                let c = dir
                    .add_certificate(tenant, &app.client_id, &pem, now())
                    .await
                    .map_err(fail)?;
                print_certificate(&c);
            }
        }
        AppCommand::SignIn {
            tenant,
            client_id,
            redirect_uris,
            directory_roles_claim,
        } => {
            let app = dir
                .set_signin(tenant, client_id, redirect_uris, *directory_roles_claim)
                .await
                .map_err(fail)?;
            say!(
                "{}: redirect URIs {}; directory roles in ID tokens: {}",
                app.name,
                if redirect_uris.is_empty() {
                    "none".to_owned()
                } else {
                    redirect_uris.join(" ")
                },
                if app.role_claims { "yes" } else { "no" }
            );
        }
        AppCommand::Consent {
            tenant,
            client_id,
            scopes,
            user,
        } => {
            dir.consent(tenant, client_id, user.as_deref(), scopes, now())
                .await
                .map_err(fail)?;
            say!(
                "consented to {} for {}",
                scopes.join(", "),
                user.as_deref().unwrap_or("every user of the tenant")
            );
        }
        AppCommand::Certificate(AppCertificateCommand::Add {
            tenant,
            client_id,
            certificate,
        }) => {
            let pem = read_pem(certificate)?;
            let c = dir
                .add_certificate(tenant, client_id, &pem, now())
                .await
                .map_err(fail)?;
            print_certificate(&c);
        }
    }
    Ok(())
}

/// A refused administration step: bad input is a usage error.
fn admin_failure(e: oathvault_directory::admin::AdminError) -> Failure {
    match e {
        oathvault_directory::admin::AdminError::Invalid(m) => Failure::Usage(m),
        other => Failure::from(anyhow!("{other}")),
    }
}

async fn serve(
    db: Db,
    master: Keyring,
    key: oathvault_directory::SigningKey,
    listen: &str,
    settings: Settings,
    log_format: &str,
) -> Result<(), Failure> {
    let mut config = oathvault_portal::Config::default();
    if log_format == "json" {
        config.log.format = oathvault_portal::LogFormat::Json;
    }
    init_logs(&config);
    // Refused before anything listens (an address that is a host name is
    // checked once bound).
    if let Ok(addr) = listen.parse() {
        oathvault_directory::check_listen(addr, &settings).map_err(Failure::Usage)?;
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr().context("no local address")?;
    oathvault_directory::check_listen(addr, &settings).map_err(Failure::Usage)?;
    say!(
        "oathvault directory on http://{addr}/ (token endpoint /{{tenant}}/oauth2/v2.0/token, Graph at /beta)"
    );
    let state = Arc::new(DirState {
        db,
        master,
        key,
        clock: Box::new(now),
        settings,
    });
    oathvault_directory::serve(listener, state, shutdown_signal())
        .await
        .context("the directory stopped")?;
    Ok(())
}

/// A certificate file's text.
fn read_pem(path: &PathBuf) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {}", path.display()))
        .map_err(Failure::from)
}

#[allow(clippy::print_stdout, reason = "the command's report")]
fn print_certificate(c: &oathvault_directory::AppCertificate) {
    let hex = data_encoding::BASE64URL_NOPAD
        .decode(c.thumbprint_sha1.as_bytes())
        .map(|b| data_encoding::HEXUPPER.encode(&b))
        .unwrap_or_default();
    say!("certificate:   {} ({})", hex, c.subject);
    say!("x5t:           {}", c.thumbprint_sha1);
    say!("x5t#S256:      {}", c.thumbprint_sha256);
    say!(
        "valid:         {} to {}",
        oathvault_otp::clock::rfc3339(c.not_before),
        oathvault_otp::clock::rfc3339(c.not_after)
    );
}

#[allow(clippy::print_stdout, reason = "the command's report")]
fn print_demo(demo: &oathvault_directory::Demo, json: bool) -> Result<(), Failure> {
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(demo).context("cannot write JSON")?
        );
        return Ok(());
    }
    say!("tenant:        {} ({})", demo.tenant_id, demo.domain);
    say!("client id:     {}", demo.client_id);
    say!("client secret: {}", demo.client_secret);
    for u in &demo.users {
        say!("user:          {} / {}", u.upn, u.password);
    }
    Ok(())
}
