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
    users: Vec<DeskUser>,
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
    match st.store.desk_users(&q.q, 200).await {
        Ok(users) => render(
            StatusCode::OK,
            &UsersPage {
                frame: op.frame("users"),
                q: q.q,
                users,
            },
        ),
        Err(e) => store_failed(&op, &e),
    }
}
