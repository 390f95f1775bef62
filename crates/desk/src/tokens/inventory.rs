//! The inventory: search, filter by status or user, counts, pages, and the
//! same as CSV.

use std::fmt::Write as _;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use oathvault_store::{Cursor, DeskDevice, DeskRole, DeskUser, DeviceQuery};

use crate::DeskState;
use crate::pages::{Frame, Operator, enc, render, store_failed};

use super::{PAGE, STATUSES};

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct InventoryQuery {
    q: String,
    status: String,
    user: String,
    /// Keyset paging: the page after (serial, id), before it, or the last.
    after: String,
    after_id: String,
    before: String,
    before_id: String,
    last: bool,
    notice: Option<String>,
}

impl InventoryQuery {
    fn cursor(&self) -> Cursor {
        if self.last {
            Cursor::Last
        } else if !self.after.is_empty() {
            Cursor::After(self.after.clone(), self.after_id.clone())
        } else if !self.before.is_empty() {
            Cursor::Before(self.before.clone(), self.before_id.clone())
        } else {
            Cursor::First
        }
    }
}

#[derive(Template)]
#[template(path = "tokens.html")]
pub(super) struct InventoryPage {
    frame: Frame,
    q: String,
    status: String,
    statuses: [&'static str; 4],
    user: Option<DeskUser>,
    counts: Vec<(String, i64)>,
    all: i64,
    rows: Vec<DeskDevice>,
    total: i64,
    /// How many rows this page shows, and their serials' range.
    shown: usize,
    range: String,
    /// Links to the first, previous, next and last pages, where there are any.
    first: Option<String>,
    prev: Option<String>,
    next: Option<String>,
    last: Option<String>,
    synced: String,
    /// The query string of this search, for the CSV export.
    export: String,
    can_change: bool,
    admin: bool,
}

impl InventoryPage {
    #[allow(clippy::unused_self, reason = "called from the template")]
    fn enc(&self, s: &str) -> String {
        enc(s)
    }
}

/// A link to a page of this search: `cursor` is `after=…&after_id=…`,
/// `before=…`, `last=true` or empty for the first.
pub(super) fn page_link(q: &InventoryQuery, cursor: &str) -> String {
    let f = filters(q);
    if cursor.is_empty() {
        f.trim_start_matches('&').to_owned()
    } else {
        format!("{cursor}{f}")
    }
}

/// `&q=…&status=…&user=…`, the ones given.
pub(super) fn filters(q: &InventoryQuery) -> String {
    let mut out = String::new();
    for (k, v) in [("q", &q.q), ("status", &q.status), ("user", &q.user)] {
        if !v.is_empty() {
            let _ = write!(out, "&{k}={}", enc(v));
        }
    }
    out
}

pub(super) fn ago(now: i64, then: i64) -> String {
    let s = (now - then).max(0);
    match s {
        0..60 => format!("{s} s ago"),
        60..3600 => format!("{} min ago", s / 60),
        _ => format!("{} h ago", s / 3600),
    }
}

pub(super) async fn inventory(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Query(q): Query<InventoryQuery>,
) -> Response {
    let query = DeviceQuery {
        text: q.q.clone(),
        status: Some(q.status.clone()).filter(|s| !s.is_empty()),
        user_id: Some(q.user.clone()).filter(|s| !s.is_empty()),
        cursor: q.cursor(),
        limit: PAGE,
    };
    let (found, counts, sync, user) = match tokio::try_join!(
        st.store.desk_devices(&query),
        st.store.desk_counts(),
        st.store.desk_sync_state(),
        async {
            match &query.user_id {
                Some(u) => st.store.desk_user(u).await,
                None => Ok(None),
            }
        },
    ) {
        Ok(x) => x,
        Err(e) => return store_failed(&op, &e),
    };
    let synced = match sync {
        Some(s) => format!(
            "Copy of the tenant from {} ({} tokens, {} users)",
            ago(op.now, s.finished),
            s.devices,
            s.users
        ),
        None => "Not synced with the tenant yet".to_owned(),
    };
    let (first, prev, next, last) = match (found.rows.first(), found.rows.last()) {
        (Some(a), Some(z)) => (
            found.more_before.then(|| page_link(&q, "")),
            found.more_before.then(|| {
                page_link(
                    &q,
                    &format!("before={}&before_id={}", enc(&a.serial), enc(&a.id)),
                )
            }),
            found.more_after.then(|| {
                page_link(
                    &q,
                    &format!("after={}&after_id={}", enc(&z.serial), enc(&z.id)),
                )
            }),
            found.more_after.then(|| page_link(&q, "last=true")),
        ),
        _ => (None, None, None, None),
    };
    let range = match (found.rows.first(), found.rows.last()) {
        (Some(a), Some(z)) if a.serial != z.serial => format!("{} – {}", a.serial, z.serial),
        (Some(a), _) => a.serial.clone(),
        _ => String::new(),
    };
    let page_view = InventoryPage {
        frame: op.frame("tokens").notice(q.notice.clone()),
        all: counts.iter().map(|c| c.1).sum(),
        counts,
        statuses: STATUSES,
        user,
        shown: found.rows.len(),
        range,
        total: found.total,
        rows: found.rows,
        first,
        prev,
        next,
        last,
        synced,
        export: filters(&q).trim_start_matches('&').to_owned(),
        can_change: op.role >= DeskRole::Helpdesk,
        admin: op.role >= DeskRole::Administrator,
        q: q.q,
        status: q.status,
    };
    render(StatusCode::OK, &page_view)
}

/// A CSV field: quoted when it holds a comma, quote or line break, and a
/// leading `=`, `+`, `-` or `@` defused with a quote (a spreadsheet would
/// run it as a formula).
pub(super) fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// The tokens the inventory page shows for this search and filter, all of
/// them, as CSV (no secrets: the copy has none).
pub(super) async fn export(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Query(q): Query<InventoryQuery>,
) -> Response {
    let query = DeviceQuery {
        text: q.q.clone(),
        status: Some(q.status.clone()).filter(|s| !s.is_empty()),
        user_id: Some(q.user.clone()).filter(|s| !s.is_empty()),
        ..DeviceQuery::default()
    };
    let rows = match st.store.desk_devices_all(&query).await {
        Ok(r) => r,
        Err(e) => return store_failed(&op, &e),
    };
    let mut out = String::from(
        "serial,manufacturer,model,display name,status,user,last used,drift seconds,hash,interval,id\r\n",
    );
    for d in &rows {
        // Text from the tenant goes through csv_field; numbers as they are.
        let text = [
            d.serial.as_str(),
            &d.manufacturer,
            &d.model,
            &d.display_name,
            &d.status,
            &d.user_name,
            &d.last_used,
        ];
        let line: Vec<String> = text.iter().map(|f| csv_field(f)).collect();
        let drift = d.drift.map(|x| x.to_string()).unwrap_or_default();
        let _ = write!(
            out,
            "{},{drift},{},{},{}\r\n",
            line.join(","),
            csv_field(&d.hash_function),
            d.interval,
            csv_field(&d.id)
        );
    }
    let event = op
        .event("export", "inventory")
        .with_detail(format!("{} tokens as CSV", rows.len()));
    if let Err(e) = st.store.audit(&event).await {
        return store_failed(&op, &e);
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"hardware-tokens.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(super::csv_field("10001001"), "10001001");
        assert_eq!(super::csv_field("Smith, Ann"), "\"Smith, Ann\"");
        assert_eq!(super::csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(super::csv_field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(super::csv_field("-cmd"), "'-cmd");
        assert_eq!(super::csv_field("@x,y"), "\"'@x,y\"");
    }
}
