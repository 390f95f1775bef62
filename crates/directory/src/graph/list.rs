//! The one handler of Graph's paged lists: `$filter`, `$select`, `$top`,
//! `$skiptoken` and `$count` read the same way for every collection, keyset
//! paging by the collection's order, and `@odata.nextLink` while a page is
//! full. Each collection says what differs in a [`Listing`].

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use super::{Principal, base_url, ok_json, query_error};
use crate::db::{Cond, Db, DbError};
use crate::odata::{self, Allowed, Query};
use crate::{DirState, GraphError};

/// A collection a Graph list endpoint pages through.
pub(super) trait Listing {
    /// A stored item.
    type Item;
    /// What `$filter` may compare and `$select` name, and the largest page.
    const ALLOWED: Allowed<'static>;
    /// The page without `$top`.
    const DEFAULT_TOP: usize;
    /// The collection's path (`/beta/users`), for `@odata.nextLink`.
    const PATH: &'static str;
    /// The `@odata.context` after `$metadata#`.
    const CONTEXT: &'static str;

    /// Whether the caller may list the collection (403 otherwise).
    fn authorize(who: &Principal) -> Result<(), GraphError>;

    /// The `$filter` conditions as the database's.
    fn conditions(q: &Query) -> Result<Vec<Cond>, GraphError>;

    /// At most `limit` items of `tenant` matching `conds`, in the
    /// collection's order, after the item whose key is `after`.
    fn fetch<'a>(
        db: &'a Db,
        tenant: &'a str,
        conds: &'a [Cond],
        after: Option<&'a str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Self::Item>, DbError>> + Send + 'a;

    /// The item's paging key (what the collection is ordered by).
    fn key(item: &Self::Item) -> String;

    /// The item in Graph's shape.
    fn json(item: &Self::Item) -> Map<String, Value>;
}

/// `GET` on a collection: a page of it, with `@odata.nextLink` when more
/// may follow.
pub(super) async fn list<L: Listing>(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    L::authorize(&who)?;
    let q = odata::parse(raw.as_deref().unwrap_or(""), L::ALLOWED).map_err(query_error)?;
    let conds = L::conditions(&q)?;
    let limit = q.top.unwrap_or(L::DEFAULT_TOP);
    let found = L::fetch(
        &st.db,
        &who.tenant,
        &conds,
        q.skiptoken.as_deref(),
        i64::try_from(limit).unwrap_or(i64::MAX),
    )
    .await?;
    let last = found.last().map(L::key);
    let items = found
        .iter()
        .map(|item| {
            let mut m = L::json(item);
            odata::apply_select(&mut m, q.select.as_deref());
            m
        })
        .collect();
    let base = base_url(&st, &headers);
    Ok(page(
        format!("{base}/beta/$metadata#{}", L::CONTEXT),
        &format!("{base}{}", L::PATH),
        &q,
        items,
        last,
        limit,
    ))
}

/// A page of results with `@odata.nextLink` when more may follow.
fn page(
    context: String,
    next_base: &str,
    q: &Query,
    items: Vec<Map<String, Value>>,
    last_key: Option<String>,
    limit: usize,
) -> Response {
    let mut out = Map::new();
    out.insert("@odata.context".into(), context.into());
    let full = items.len() == limit;
    out.insert(
        "value".into(),
        Value::Array(items.into_iter().map(Value::Object).collect()),
    );
    if let (true, Some(key)) = (full, last_key) {
        out.insert(
            "@odata.nextLink".into(),
            format!("{next_base}?{}", odata::next_link_query(q, &key)).into(),
        );
    }
    ok_json(StatusCode::OK, Value::Object(out))
}
