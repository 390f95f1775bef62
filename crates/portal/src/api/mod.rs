//! The vendor API under `/api/v1/`: JSON for the vendor's order system —
//! customers and contacts, orders and shipments, seed-file import into a
//! shipment, the status of requests and deliveries (never a secret), and
//! webhooks. Callers present an API key with scopes
//! (`Authorization: Bearer ovk_…`); errors are RFC 9457 problem details.
//!
//! The `OpenAPI` 3.1 document at `/api/v1/openapi.json` is built from the
//! handlers themselves (utoipa), so it cannot drift from the code.

// Handlers answer a refusal with its problem document; it is built once
// per refused call, so its size on the error path costs nothing worth a box.
#![allow(
    clippy::result_large_err,
    reason = "a problem document is the error value of every handler"
)]

pub mod inventory;
pub mod keys;
pub mod problem;
pub mod requests;
pub mod webhooks;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::web::AppState;

/// Where the API lives.
pub const BASE: &str = "/api/v1";

/// The API's settings (`[api]` in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// Calls a key may make a minute.
    pub rate_per_minute: u32,
    /// Seconds before a failed webhook delivery is tried again (doubled
    /// each time, at most an hour).
    pub webhook_retry_seconds: u32,
    /// Tries before a webhook delivery is given up.
    pub webhook_max_attempts: u32,
    /// Allow `http://` webhook URLs (a receiver on this machine; tests).
    pub webhook_allow_http: bool,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            rate_per_minute: 600,
            webhook_retry_seconds: 30,
            webhook_max_attempts: 10,
            webhook_allow_http: false,
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "oathvault vendor API",
        description = "For the vendor's order system: customers, orders, shipments, seed-file import, request status and webhooks. Authenticate with `Authorization: Bearer <API key>` (made with `oathvault portal api-key add`). Errors are RFC 9457 problem details (`application/problem+json`).",
        license(name = "Apache-2.0 OR MIT")
    ),
    servers((url = "/api/v1")),
    modifiers(&BearerKeys),
    tags(
        (name = "customers", description = "Customers and their contacts"),
        (name = "orders", description = "Orders, shipments and seed-file import"),
        (name = "requests", description = "Seed requests and deliveries (status only)"),
        (name = "webhooks", description = "Events posted to the order system"),
    )
)]
struct ApiDoc;

struct BearerKeys;

impl utoipa::Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: ovk_…"))
                    .build(),
            ),
        );
    }
}

/// The API's routes and its `OpenAPI` document.
pub fn parts(max_upload: usize) -> (Router<Arc<AppState>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(inventory::routes(max_upload))
        .merge(requests::routes())
        .merge(webhooks::routes())
        .split_for_parts()
}

/// The `OpenAPI` 3.1 document (as `/api/v1/openapi.json` serves it).
#[must_use]
pub fn openapi() -> utoipa::openapi::OpenApi {
    parts(0).1
}

/// The API mounted under [`BASE`], with `/api/v1/openapi.json`.
pub fn router(max_upload: usize) -> Router<Arc<AppState>> {
    let (api, doc) = parts(max_upload);
    let doc = Arc::new(doc);
    let api = api.route_layer(axum::middleware::from_fn(keys::audit_calls));
    let api = api.route(
        "/openapi.json",
        get(move || {
            let doc = Arc::clone(&doc);
            async move { Json(doc.as_ref().clone()) }
        }),
    );
    Router::new().nest(BASE, api)
}
