//! The listing commands' output: tab-separated lines for people, or with
//! `--json` one JSON array for programs. Listings hold names, counts and
//! roles — never a secret, a password hash or a sealed value.

use anyhow::anyhow;
use oathvault_store::Store;
use serde_json::{Value, json};

use crate::Failure;
use crate::args::{CustomerCommand, OrderCommand, PortalCommand, ShipmentCommand, StaffCommand};

/// Prints `rows` as a JSON array, or each row's `line`.
fn print(json: bool, rows: Vec<(Value, String)>) {
    if json {
        let all: Vec<Value> = rows.into_iter().map(|(v, _)| v).collect();
        say!("{}", Value::Array(all));
    } else {
        for (_, line) in rows {
            say!("{line}");
        }
    }
}

/// `portal customer|order|shipment|staff list [--json]`.
pub async fn portal(store: &Store, command: &PortalCommand) -> Result<(), Failure> {
    let failed = |e: oathvault_store::Error| Failure::from(anyhow!("{e}"));
    match command {
        PortalCommand::Customer(CustomerCommand::List(f)) => {
            let rows = store
                .customers()
                .await
                .map_err(failed)?
                .into_iter()
                .map(|c| {
                    let line =
                        format!("{}\t{} order(s)\t{}", c.name, c.orders, c.emails.join(", "));
                    (
                        json!({"name": c.name, "orders": c.orders, "emails": c.emails}),
                        line,
                    )
                });
            print(f.json, rows.collect());
        }
        PortalCommand::Order(OrderCommand::List(f)) => {
            let rows = store.orders().await.map_err(failed)?.into_iter().map(|o| {
                let line = format!(
                    "{}\t{}\t{} shipment(s)\tinvoices: {}",
                    o.po,
                    o.customer,
                    o.shipments,
                    o.invoices.join(", ")
                );
                let v = json!({
                    "po": o.po, "customer": o.customer,
                    "shipments": o.shipments, "invoices": o.invoices,
                });
                (v, line)
            });
            print(f.json, rows.collect());
        }
        PortalCommand::Shipment(ShipmentCommand::List(f)) => {
            let rows = store
                .shipments()
                .await
                .map_err(failed)?
                .into_iter()
                .map(|s| {
                    let line = format!(
                        "{}\torder {}\t{}\t{} token(s)\t{}",
                        s.number,
                        s.po,
                        s.shipped_on.as_deref().unwrap_or("-"),
                        s.tokens,
                        s.models.join(", ")
                    );
                    let v = json!({
                        "number": s.number, "po": s.po, "shipped_on": s.shipped_on,
                        "tokens": s.tokens, "models": s.models,
                    });
                    (v, line)
                });
            print(f.json, rows.collect());
        }
        PortalCommand::Staff(StaffCommand::List(f)) => {
            let rows = store.staff().await.map_err(failed)?.into_iter().map(|s| {
                let portal = s.role.map(oathvault_store::Role::as_str);
                let desk = s.desk_role.map(oathvault_store::DeskRole::as_str);
                let roles = [
                    portal.map(|r| format!("portal:{r}")),
                    desk.map(|r| format!("desk:{r}")),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(",");
                let line = format!("{}\t{}\t{}", s.email, roles, s.name);
                let v = json!({
                    "email": s.email, "name": s.name,
                    "portal_role": portal, "desk_role": desk,
                });
                (v, line)
            });
            print(f.json, rows.collect());
        }
        _ => {}
    }
    Ok(())
}

/// `portal audit list [--json]`: the newest events.
pub async fn audit(
    store: &Store,
    filter: Option<&str>,
    limit: i64,
    json: bool,
) -> Result<(), Failure> {
    let events = store
        .audit_events(filter, limit)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let rows = events.into_iter().map(|e| {
        let at = oathvault_otp::clock::rfc3339(e.event.at);
        let line = format!(
            "{}\t{at}\t{}\t{}\t{}\t{}\t{}",
            e.seq, e.event.actor, e.event.action, e.event.subject, e.event.outcome, e.event.detail
        );
        let v = json!({
            "seq": e.seq, "at": at, "actor": e.event.actor, "source": e.event.source,
            "action": e.event.action, "subject": e.event.subject,
            "outcome": e.event.outcome, "detail": e.event.detail,
        });
        (v, line)
    });
    print(json, rows.collect());
    Ok(())
}

/// `desk operators [--json]`.
pub async fn operators(store: &Store, json: bool) -> Result<(), Failure> {
    let all = store.desk_operators().await.map_err(|e| anyhow!("{e}"))?;
    let rows = all.into_iter().map(|(email, name, role)| {
        let line = format!("{email}\t{name}\t{}", role.as_str());
        (
            json!({"email": email, "name": name, "role": role.as_str()}),
            line,
        )
    });
    print(json, rows.collect());
    Ok(())
}

/// `directory user list --tenant T [--json]`.
pub async fn directory_users(
    db: &oathvault_directory::Db,
    tenant: &str,
    json: bool,
) -> Result<(), Failure> {
    let t = db
        .tenant(tenant)
        .await
        .map_err(|e| anyhow!("{e}"))?
        .ok_or_else(|| Failure::Usage(format!("no tenant {tenant:?}")))?;
    let users = db
        .users(&t.id, &[], None, 100_000)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let rows = users.into_iter().map(|u| {
        let line = format!(
            "{}\t{}\t{}\t{}",
            u.upn,
            u.display_name,
            u.id,
            u.roles.join(" ")
        );
        let v = json!({
            "upn": u.upn, "display_name": u.display_name, "id": u.id, "roles": u.roles,
        });
        (v, line)
    });
    print(json, rows.collect());
    Ok(())
}
