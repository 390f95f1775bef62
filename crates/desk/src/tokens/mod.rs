//! The token pages: the inventory (search, filter by status or user,
//! counts, pages, CSV export), a token's page with its history, and the
//! actions — assign (and activate), activate, deactivate, unassign, replace
//! a lost token, delete — one at a time or in bulk on a selection after a
//! confirmation page; refresh from Graph.
//!
//! Every action goes to Graph, reads the token back into the copy, and is
//! audited with its outcome (Graph's error code and request id on failure).

mod actions;
mod bulk;
mod detail;
mod inventory;
mod people;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::DeskState;

pub(crate) use actions::{Action, holds, holds_by_email};
pub(crate) use bulk::{ResultRow, ResultsPage, execute};

const PAGE: i64 = 50;
const STATUSES: [&str; 4] = ["available", "assigned", "activated", "failedActivation"];

pub(crate) fn routes() -> Router<Arc<DeskState>> {
    Router::new()
        .route("/tokens", get(inventory::inventory))
        .route("/tokens.csv", get(inventory::export))
        .route("/tokens/{id}", get(detail::detail))
        .route("/tokens/{id}/assign", post(actions::assign))
        .route("/tokens/{id}/activate", post(actions::activate))
        .route("/tokens/{id}/deactivate", post(actions::deactivate))
        .route("/tokens/{id}/unassign", post(actions::unassign))
        .route("/tokens/{id}/replace", post(actions::replace))
        .route("/tokens/{id}/delete", post(actions::delete))
        .route("/tokens/{id}/unlock", post(actions::unlock))
        .route("/tokens/bulk", post(bulk::bulk))
        .route("/tokens/bulk/confirm", post(bulk::bulk_confirm))
        .route("/sync", post(bulk::sync_now))
        .route("/users/{id}", get(people::person))
        .route("/users/{id}/assign", post(people::give))
}
