//! The Microsoft Graph subset under `/beta`: the hardware OATH device
//! inventory, users, and users' `hardwareOathMethods` (also as `/me`), with
//! Graph's bodies, status codes and error shape. Entities are returned in
//! the flat shape (see `docs/directory.md` for the documents' wrapped
//! examples and why).
//!
//! Modules by resource: `devices` (the inventory), `users`, `methods` (a
//! user's hardware OATH methods); `list` is the one handler every paged
//! list uses, `principal` the caller, `shapes` the bodies.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

pub use principal::Principal;

use crate::odata;
use crate::wire;
use crate::{DirState, GraphError};

mod devices;
mod list;
mod methods;
mod principal;
mod shapes;
mod users;

const DEVICE_TYPE: &str = "#microsoft.graph.hardwareOathTokenAuthenticationMethodDevice";
const METHOD_TYPE: &str = "#microsoft.graph.hardwareOathAuthenticationMethod";
const DEVICES: &str = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";
/// The default and largest page.
const PAGE: usize = 1000;

pub(crate) fn routes() -> Router<Arc<DirState>> {
    Router::new()
        .merge(devices::routes())
        .merge(users::routes())
        .merge(methods::routes())
}

/// The base URL clients used (for `@odata.context` and `@odata.nextLink`).
fn base_url(st: &DirState, headers: &HeaderMap) -> String {
    if let Some(u) = &st.settings.public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

fn ok_json(status: StatusCode, body: impl serde::Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}

fn entity(status: StatusCode, context: String, mut obj: Map<String, Value>) -> Response {
    let mut out = Map::new();
    out.insert("@odata.context".into(), context.into());
    out.append(&mut obj);
    ok_json(status, Value::Object(out))
}

fn bad_request(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn not_found(what: &str) -> GraphError {
    GraphError::new(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        format!(
            "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

fn query_error(e: odata::QueryError) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, e.code, e.message)
}

fn body_json(body: &Bytes) -> Result<Map<String, Value>, GraphError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(bad_request("The request body must be a JSON object.")),
        Err(e) => Err(bad_request(format!(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format. ({e})"
        ))),
    }
}

/// Reads a typed object body, with Graph's answers for bodies that are not
/// JSON or not an object.
fn wire_object<'a, T: serde::Deserialize<'a>>(body: &'a Bytes) -> Result<T, GraphError> {
    wire::object(body).map_err(|e| match e {
        wire::BodyError::NotObject => bad_request("The request body must be a JSON object."),
        wire::BodyError::Syntax(e) => bad_request(format!(
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format. ({e})"
        )),
        wire::BodyError::Shape(e) => bad_request(e),
    })
}

fn str_field<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str)
}
