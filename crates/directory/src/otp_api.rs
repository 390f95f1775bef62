//! Beyond Entra: `POST /api/otp/check`, so other systems can use the
//! directory as their OTP server. The body names a user (`user`: UPN or
//! object id; their activated tokens are tried) or a token (`serialNumber`),
//! and the `code`; the answer says whether it was accepted, by which token,
//! and the drift used. An accepted code is spent (never accepted twice) and
//! updates the token's drift and last use. Needs a token granting
//! `UserAuthenticationMethod.Read.All` or `.ReadWrite.All`.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde::Serialize;
use serde_json::Value;

use crate::access::Operation;
use crate::codes::{self, Outcome};
use crate::db::{Cond, Device, User, device_subject};
use crate::graph::Principal;
use crate::rules::{Purpose, status};
use crate::{DirState, GraphError};

pub(crate) fn routes() -> Router<Arc<DirState>> {
    Router::new()
        .route("/api/otp/check", post(check))
        .route("/api/tokens", axum::routing::get(token_states))
        .route("/api/tokens/{serial}", axum::routing::get(token_state))
}

/// A token's clock as the directory measured it (beyond Entra, for the help desk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenState {
    /// Serial number.
    pub serial_number: String,
    /// Entra status.
    pub status: String,
    /// Step in seconds.
    pub time_interval_in_seconds: i64,
    /// The drift measured at the last accepted code, in seconds (positive: fast).
    pub drift_seconds: i64,
    /// When a code was last accepted.
    pub last_used_date_time: Option<String>,
    /// Wrong codes in a row since the last right one (`GET
    /// /api/tokens/{serial}` only; absent when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_attempts: Option<i64>,
    /// Until when the token is locked after too many wrong codes (RFC
    /// 3339; `GET /api/tokens/{serial}` only, absent when it is not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
}

async fn token_state(
    State(st): State<Arc<DirState>>,
    who: Principal,
    axum::extract::Path(serial): axum::extract::Path<String>,
) -> Result<Json<TokenState>, GraphError> {
    who.allow(Operation::ReadTokenStates, None)?;
    let d = st
        .db
        .device_by_serial(&who.tenant, &serial)
        .await?
        .ok_or_else(|| {
            GraphError::new(
                StatusCode::NOT_FOUND,
                "Request_ResourceNotFound",
                format!("No hardware OATH token with serial number {serial}."),
            )
        })?;
    let lock = st.db.code_lock(&device_subject(&d.id)).await?;
    let now = st.now();
    let mut state = state_of(d);
    if let Some(l) = lock {
        state.failed_attempts = Some(l.failed).filter(|&n| n > 0);
        state.locked_until =
            (l.locked_until > now).then(|| oathvault_otp::clock::rfc3339(l.locked_until));
    }
    Ok(Json(state))
}

/// A page of `GET /api/tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenStates {
    /// Tokens a code was accepted from, by serial.
    pub value: Vec<TokenState>,
    /// The serial to pass as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct After {
    after: Option<String>,
}

/// The largest page of `GET /api/tokens`.
const STATES_PAGE: i64 = 1000;

/// `GET /api/tokens[?after=SERIAL]`: the clocks of every token a code was
/// accepted from (sign-in or activation), by serial, 1,000 a page — so a
/// help desk can keep every token's drift without one request each.
async fn token_states(
    State(st): State<Arc<DirState>>,
    who: Principal,
    axum::extract::Query(q): axum::extract::Query<After>,
) -> Result<Json<TokenStates>, GraphError> {
    who.allow(Operation::ReadTokenStates, None)?;
    let devices = st
        .db
        .devices(
            &who.tenant,
            &[Cond::NotNull("d.last_used")],
            q.after.as_deref(),
            STATES_PAGE,
        )
        .await?;
    let full = i64::try_from(devices.len()).unwrap_or(i64::MAX) >= STATES_PAGE;
    let next_after = if full {
        devices.last().map(|d| d.serial.clone())
    } else {
        None
    };
    Ok(Json(TokenStates {
        value: devices.into_iter().map(state_of).collect(),
        next_after,
    }))
}

fn state_of(d: Device) -> TokenState {
    TokenState {
        time_interval_in_seconds: d.interval,
        drift_seconds: d.drift * d.interval,
        last_used_date_time: d.last_used.map(oathvault_otp::clock::rfc3339),
        serial_number: d.serial,
        status: d.status,
        failed_attempts: None,
        locked_until: None,
    }
}

/// The answer of `POST /api/otp/check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    /// The code was right (and is now spent).
    pub accepted: bool,
    /// The token that accepted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// The token's drift from our clock, in seconds (positive: it runs fast).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drift_seconds: Option<i64>,
    /// Not tried: the user or the token is locked after too many wrong
    /// codes, until then (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
}

impl CheckResult {
    fn refused(locked_until: Option<i64>) -> Self {
        Self {
            accepted: false,
            serial_number: None,
            drift_seconds: None,
            locked_until: locked_until.map(oathvault_otp::clock::rfc3339),
        }
    }
}

fn bad(message: &str) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

async fn check(
    State(st): State<Arc<DirState>>,
    who: Principal,
    body: Bytes,
) -> Result<Json<CheckResult>, GraphError> {
    who.may_try(Operation::CheckCode)?;
    let m: Value =
        serde_json::from_slice(&body).map_err(|_| bad("The body must be a JSON object."))?;
    let code = match m.get("code") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(bad("code is required (a string of digits)")),
    };
    let (user, candidates): (Option<User>, Vec<Device>) =
        if let Some(serial) = m.get("serialNumber").and_then(Value::as_str) {
            let d = st.db.device_by_serial(&who.tenant, serial).await?;
            let owner = match d.as_ref().and_then(|d| d.user.as_ref()) {
                Some((id, _)) => st.db.user(&who.tenant, id).await?,
                None => None,
            };
            (owner, d.into_iter().collect())
        } else if let Some(user) = m.get("user").and_then(Value::as_str) {
            match st.db.user(&who.tenant, user).await? {
                Some(u) => {
                    let devices = st
                        .db
                        .devices(
                            &who.tenant,
                            &[Cond::Text("d.user_id", u.id.clone())],
                            None,
                            10,
                        )
                        .await?;
                    (Some(u), devices)
                }
                None => (None, Vec::new()),
            }
        } else {
            return Err(bad("name a user (UPN or id) or a serialNumber"));
        };
    who.allow(Operation::CheckCode, user.as_ref())?;
    Ok(Json(
        match spend_code(&st, user.as_ref(), candidates, &code).await? {
            Outcome::Accepted(d) => CheckResult {
                accepted: true,
                drift_seconds: Some(d.drift * d.interval),
                serial_number: Some(d.serial),
                locked_until: None,
            },
            Outcome::Refused => CheckResult::refused(None),
            Outcome::Locked(until) => CheckResult::refused(Some(until)),
        },
    ))
}

/// Tries `code` of `user` (when known) at sign-in on the activated ones of
/// `candidates`, under the attempt limits.
pub(crate) async fn spend_code(
    st: &DirState,
    user: Option<&User>,
    candidates: Vec<Device>,
    code: &str,
) -> Result<Outcome, GraphError> {
    let active: Vec<Device> = candidates
        .into_iter()
        .filter(|d| d.status == status::ACTIVATED)
        .collect();
    codes::try_code(st, user, &active, code, Purpose::SignIn, &|_| {}).await
}
