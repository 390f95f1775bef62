//! `oathvault portal api-key …` and `oathvault portal webhook …`: the keys
//! and webhooks of the vendor API, made on the server by its operator.

use anyhow::anyhow;
use oathvault_portal::Actor;
use oathvault_portal::api::{keys, webhooks};
use oathvault_store::Store;
use oathvault_vault::Keyring;

use crate::Failure;
use crate::args::{ApiKeyCommand, PortalCommand, WebhookCommand};

fn usage(e: oathvault_portal::Error) -> Failure {
    match e {
        oathvault_portal::Error::Invalid(why) => Failure::Usage(why),
        other => Failure::from(anyhow!("{other}")),
    }
}

fn when(t: Option<i64>) -> String {
    t.map_or_else(|| "-".into(), oathvault_otp::clock::rfc3339)
}

/// `portal api-key …` and `portal webhook …`.
pub(crate) async fn run(
    command: &PortalCommand,
    store: &Store,
    master: &Keyring,
    who: &Actor,
    config: &oathvault_portal::Config,
) -> Result<(), Failure> {
    match command {
        PortalCommand::ApiKey(cmd) => api_key(store, who, cmd).await,
        PortalCommand::Webhook(cmd) => {
            webhook(store, master, who, config.api.webhook_allow_http, cmd).await
        }
        _ => Ok(()),
    }
}

/// `portal api-key …`.
#[allow(clippy::print_stdout, reason = "the command's report")]
#[allow(
    clippy::print_stderr,
    reason = "the key alone goes to stdout (to be piped); the words about it to stderr"
)]
async fn api_key(store: &Store, who: &Actor, cmd: &ApiKeyCommand) -> Result<(), Failure> {
    match cmd {
        ApiKeyCommand::Add { name, scopes } => {
            let scopes = keys::parse_scopes(scopes).map_err(Failure::Usage)?;
            let made = keys::add_key(
                store,
                &mut oathvault_vault::random::os(),
                who,
                name,
                &scopes,
            )
            .await
            .map_err(usage)?;
            eprintln!(
                "made API key {name:?} ({}); it is shown this once — keep it in the order system's secret store:",
                made.prefix
            );
            say!("{}", made.key.as_str());
        }
        ApiKeyCommand::List { json } => {
            let all = store.api_keys().await.map_err(|e| anyhow!("{e}"))?;
            if *json {
                say!(
                    "{}",
                    serde_json::to_string_pretty(&all).map_err(|e| anyhow!("{e}"))?
                );
            } else {
                say!("NAME\tKEY\tSCOPES\tCREATED\tLAST USED\tREVOKED");
                for k in all {
                    say!(
                        "{}\t{}_…\t{}\t{}\t{}\t{}",
                        k.name,
                        k.prefix,
                        k.scopes.replace(' ', ","),
                        when(Some(k.created)),
                        when(k.last_used),
                        when(k.revoked)
                    );
                }
            }
        }
        ApiKeyCommand::Revoke { name } => {
            keys::revoke_key(store, who, name).await.map_err(usage)?;
            say!("revoked API key {name:?}: calls with it are refused from now on");
        }
    }
    Ok(())
}

/// `portal webhook …`.
#[allow(clippy::print_stdout, reason = "the command's report")]
#[allow(
    clippy::print_stderr,
    reason = "the secret alone goes to stdout (to be piped); the words about it to stderr"
)]
async fn webhook(
    store: &Store,
    master: &Keyring,
    who: &Actor,
    allow_http: bool,
    cmd: &WebhookCommand,
) -> Result<(), Failure> {
    match cmd {
        WebhookCommand::Add { url, events } => {
            let events = webhooks::parse_events(events).map_err(Failure::Usage)?;
            let (id, secret) = webhooks::add_webhook(store, master, who, url, &events, allow_http)
                .await
                .map_err(usage)?;
            eprintln!(
                "added webhook {id} for {}; its signing secret is shown this once (check Oathvault-Signature with it):",
                events.join(", ")
            );
            say!("{}", secret.as_str());
        }
        WebhookCommand::List { json } => {
            let all = store.webhooks().await.map_err(|e| anyhow!("{e}"))?;
            if *json {
                say!(
                    "{}",
                    serde_json::to_string_pretty(&all).map_err(|e| anyhow!("{e}"))?
                );
            } else {
                say!("ID\tURL\tEVENTS\tCREATED\tBY");
                for w in all {
                    say!(
                        "{}\t{}\t{}\t{}\t{}",
                        w.id,
                        w.url,
                        w.events.replace(' ', ","),
                        when(Some(w.created)),
                        w.created_by
                    );
                }
            }
        }
        WebhookCommand::Remove { id } => {
            let event = who.event("webhook.remove", &format!("webhook:{id}"));
            store
                .remove_webhook(*id, &event)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            say!("removed webhook {id}");
        }
        WebhookCommand::Deliveries { id, json } => {
            let all = store
                .webhook_deliveries(*id, 100)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            if *json {
                say!(
                    "{}",
                    serde_json::to_string_pretty(&all).map_err(|e| anyhow!("{e}"))?
                );
            } else {
                say!("ID\tEVENT\tSTATE\tTRIES\tLAST STATUS\tLAST ERROR\tCREATED");
                for d in all {
                    say!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        d.id,
                        d.event,
                        d.state,
                        d.attempts,
                        d.last_status.map_or_else(|| "-".into(), |s| s.to_string()),
                        d.last_error.as_deref().unwrap_or("-"),
                        when(Some(d.created))
                    );
                }
            }
        }
    }
    Ok(())
}
