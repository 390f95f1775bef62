//! The users page: the tenant's people, searched by name or UPN.

#[allow(
    clippy::wildcard_imports,
    reason = "the page parts every desk page shares"
)]
use super::*;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct SearchQuery {
    pub(super) q: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    frame: Frame,
    q: String,
    /// Each user and how many tokens they hold.
    users: Vec<(DeskUser, i64)>,
}

impl UsersPage {
    #[allow(clippy::unused_self, reason = "called from the template")]
    fn enc(&self, s: &str) -> String {
        enc(s)
    }
}

pub(super) async fn users(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Query(q): Query<SearchQuery>,
) -> Response {
    let users = match st.store.desk_users(&q.q, 200).await {
        Ok(u) => u,
        Err(e) => return store_failed(&op, &e),
    };
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let counts = match st.store.desk_token_counts(&ids).await {
        Ok(c) => c,
        Err(e) => return store_failed(&op, &e),
    };
    let users = users
        .into_iter()
        .map(|u| {
            let n = counts.get(&u.id).copied().unwrap_or(0);
            (u, n)
        })
        .collect();
    render(
        StatusCode::OK,
        &UsersPage {
            frame: op.frame("users"),
            q: q.q,
            users,
        },
    )
}
