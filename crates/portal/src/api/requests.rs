//! The status of customers' seed requests and of their delivery files:
//! states, dates, counts and checksums — never a secret, a password hash
//! or a download link.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use oathvault_store::RequestState;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::keys::{Caller, Scope};
use super::problem::Problem;
use crate::web::AppState;

/// A seed request's status.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestStatus {
    /// The reference customers and staff quote (`R-…`).
    pub reference: String,
    /// The order's PO number.
    pub po: String,
    /// The customer's name.
    pub customer: String,
    /// Who asked (the contact's e-mail).
    pub email: String,
    /// `submitted`, `approved`, `delivered`, `confirmed`, `rejected`,
    /// `locked` or `expired` (drafts are not listed).
    pub state: String,
    /// `password`, `pgp` or `both`.
    pub protection: Option<String>,
    /// The OpenPGP key's fingerprint, when the file is encrypted to one.
    pub pgp_fingerprint: Option<String>,
    /// The file format chosen.
    pub format: Option<String>,
    /// The reviewer who decided.
    pub reviewer: Option<String>,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// When started, submitted and decided (Unix seconds).
    pub created: i64,
    /// When submitted.
    pub submitted: Option<i64>,
    /// When approved or rejected.
    pub decided: Option<i64>,
    /// The shipments it covers (only in a single request's answer).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shipments: Vec<String>,
    /// Its delivery files (only in a single request's answer).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileStatus>,
}

impl From<oathvault_store::Request> for RequestStatus {
    fn from(r: oathvault_store::Request) -> Self {
        Self {
            reference: r.reference,
            po: r.po,
            customer: r.customer,
            email: r.email,
            state: r.state.as_str().to_owned(),
            protection: r.protection,
            pgp_fingerprint: r.pgp_fingerprint,
            format: r.format,
            reviewer: r.reviewer,
            reason: r.reason,
            created: r.created,
            submitted: r.submitted,
            decided: r.decided,
            shipments: Vec::new(),
            files: Vec::new(),
        }
    }
}

/// A delivery file's status.
#[derive(Debug, Serialize, ToSchema)]
pub struct FileStatus {
    /// File name.
    pub name: String,
    /// Shipment numbers it covers.
    pub shipments: String,
    /// Tokens in it.
    pub tokens: i64,
    /// `ready`, `downloaded`, `confirmed`, `expired`, …
    pub state: String,
    /// Downloads so far.
    pub downloads: i64,
    /// When the link expires (Unix seconds).
    pub expires: Option<i64>,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// When its content and key were destroyed.
    pub destroyed: Option<i64>,
}

/// Which requests to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestFilter {
    /// Only requests in this state (`submitted`, `approved`, `delivered`,
    /// `confirmed`, `rejected`, `locked`, `expired`).
    pub state: Option<String>,
}

/// The routes of this module.
pub(super) fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::new()
        .routes(routes!(list_requests))
        .routes(routes!(get_request))
}

/// Seed requests (not drafts), most recently changed first.
#[utoipa::path(get, path = "/requests", tag = "requests", params(RequestFilter),
    responses((status = 200, description = "Done", body = Vec<RequestStatus>), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["requests:read"])))]
async fn list_requests(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Query(filter): Query<RequestFilter>,
) -> Result<Json<Vec<RequestStatus>>, Problem> {
    caller.require(Scope::RequestsRead)?;
    let states: Vec<RequestState> = match filter.state.as_deref().map(str::trim) {
        None | Some("") => RequestState::ALL
            .into_iter()
            .filter(|s| *s != RequestState::Draft)
            .collect(),
        Some(word) => match RequestState::parse(word) {
            Some(s) if s != RequestState::Draft => vec![s],
            _ => {
                return Err(Problem::invalid(format!(
                    "state {word:?} is not one of submitted, approved, delivered, confirmed, rejected, locked, expired"
                )));
            }
        },
    };
    let all = st.store.requests(&states).await?;
    Ok(Json(all.into_iter().map(RequestStatus::from).collect()))
}

/// One seed request with its shipments and delivery files.
#[utoipa::path(get, path = "/requests/{reference}", tag = "requests",
    params(("reference" = String, Path, description = "The request's reference, R-…")),
    responses((status = 200, description = "Done", body = RequestStatus), (status = "4XX", description = "Refused: the problem document says why (key, scope, body, name or rate)", body = Problem, content_type = "application/problem+json")),
    security(("api_key" = ["requests:read"])))]
async fn get_request(
    State(st): State<Arc<AppState>>,
    caller: Caller,
    Path(reference): Path<String>,
) -> Result<Json<RequestStatus>, Problem> {
    caller.require(Scope::RequestsRead)?;
    let missing = || Problem::not_found(format!("there is no request {reference:?}"));
    let r = match st.store.request_by_reference(reference.trim()).await {
        Ok(r) if r.state != RequestState::Draft => r,
        Ok(_) | Err(oathvault_store::Error::NotFound { .. }) => return Err(missing()),
        Err(e) => return Err(e.into()),
    };
    let id = r.id;
    let mut status = RequestStatus::from(r);
    status.shipments = st
        .store
        .picked(id)
        .await?
        .into_iter()
        .map(|p| p.number)
        .collect();
    status.files = st
        .store
        .files_of(id)
        .await?
        .into_iter()
        .map(|f| FileStatus {
            name: f.name,
            shipments: f.shipments,
            tokens: f.tokens,
            state: f.state.as_str().to_owned(),
            downloads: f.downloads,
            expires: f.expires,
            sha256: f.sha256,
            size: f.size,
            destroyed: f.destroyed,
        })
        .collect();
    Ok(Json(status))
}
