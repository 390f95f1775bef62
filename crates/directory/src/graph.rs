//! The Microsoft Graph subset under `/beta`: the hardware OATH device
//! inventory, users, and users' `hardwareOathMethods` (also as `/me`), with
//! Graph's bodies, status codes and error shape. Entities are returned in
//! the flat shape (see `docs/directory.md` for the documents' wrapped
//! examples and why).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Map, Value, json};

use crate::admin::role;
use crate::db::{Cond, Device, User};
use crate::odata::{self, Allowed, Literal, Query};
use crate::rules::{self, Purpose, status};
use crate::wire::{self, DeltaIn, DeviceIn, Text};
use crate::{DirState, GraphError};

const DEVICE_TYPE: &str = "#microsoft.graph.hardwareOathTokenAuthenticationMethodDevice";
const METHOD_TYPE: &str = "#microsoft.graph.hardwareOathAuthenticationMethod";
const DEVICES: &str = "/beta/directory/authenticationMethodDevices/hardwareOathDevices";
/// The default and largest page.
const PAGE: usize = 1000;

/// Application permissions and delegated scopes, as Graph names them.
mod perm {
    pub const POLICY_READ_ALL: &str = "Policy.Read.All";
    pub const POLICY_RW_AUTH: &str = "Policy.ReadWrite.AuthenticationMethod";
    pub const UAM_READ_ALL: &str = "UserAuthenticationMethod.Read.All";
    pub const UAM_RW_ALL: &str = "UserAuthenticationMethod.ReadWrite.All";
    pub const UAM_RW: &str = "UserAuthenticationMethod.ReadWrite";
    pub const UAM_READ: &str = "UserAuthenticationMethod.Read";
    pub const USER_READ_ALL: &str = "User.Read.All";
    pub const USER_READBASIC_ALL: &str = "User.ReadBasic.All";
    pub const DIRECTORY_READ_ALL: &str = "Directory.Read.All";
}

pub(crate) fn routes() -> Router<Arc<DirState>> {
    let methods = "/authentication/hardwareOathMethods";
    let mut r = Router::new()
        .route(
            DEVICES,
            get(list_devices).post(create_device).patch(create_delta),
        )
        .route(
            &format!("{DEVICES}/{{id}}"),
            get(get_device).patch(update_device).delete(delete_device),
        )
        .route("/beta/users", get(list_users))
        .route("/beta/users/{user}", get(get_user))
        .route("/beta/me", get(get_me));
    for base in ["/beta/users/{user}", "/beta/me"] {
        r = r
            .route(&format!("{base}{methods}"), get(list_methods).post(assign))
            .route(
                &format!("{base}{methods}/assignAndActivate"),
                post(assign_and_activate),
            )
            .route(
                &format!("{base}{methods}/assignAndActivateBySerialNumber"),
                post(assign_and_activate_by_serial),
            )
            .route(
                &format!("{base}{methods}/{{method}}"),
                get(get_method).delete(unassign),
            )
            .route(
                &format!("{base}{methods}/{{method}}/activate"),
                post(activate),
            )
            .route(
                &format!("{base}{methods}/{{method}}/deactivate"),
                post(deactivate),
            )
            .route(
                &format!("{base}{methods}/{{method}}/device/assignTo/$ref"),
                put(assign_ref),
            );
    }
    r
}

/// The caller, from the bearer token.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Tenant id.
    pub tenant: String,
    /// The signed-in user's object id (delegated tokens).
    pub user: Option<String>,
    /// Application permissions (`roles`) or delegated scopes (`scp`).
    pub grants: Vec<String>,
    /// The client application.
    pub app: String,
    /// The signed-in user's directory roles (`wids`; delegated tokens).
    pub wids: Vec<String>,
}

impl Principal {
    /// For a delegated caller, one of `roles` (or Global Administrator) is
    /// needed too, as in Entra; an application needs only its permission.
    fn admin(&self, roles: &[&str]) -> Result<(), GraphError> {
        if self.user.is_none()
            || self.wids.iter().any(|w| {
                w == crate::admin::role::GLOBAL_ADMINISTRATOR || roles.contains(&w.as_str())
            })
        {
            return Ok(());
        }
        Err(GraphError::new(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation: the signed-in user needs a directory role for it.",
        ))
    }

    /// One of `any_of` among the token's permissions or scopes, or 403.
    pub(crate) fn require(&self, any_of: &[&str]) -> Result<(), GraphError> {
        if self.grants.iter().any(|g| any_of.contains(&g.as_str())) {
            Ok(())
        } else {
            Err(GraphError::new(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            ))
        }
    }
}

impl FromRequestParts<Arc<DirState>> for Principal {
    type Rejection = GraphError;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<DirState>,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized =
            |m: &str| GraphError::new(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken", m);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("Access token is empty."))?;
        let claims = st.key.verify(token, st.now()).map_err(|e| match e {
            crate::jwt::JwtError::Expired => {
                unauthorized("Lifetime validation failed, the token is expired.")
            }
            _ => unauthorized("Access token validation failure. Invalid audience or signature."),
        })?;
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
        if text("aud").as_deref() != Some(crate::GRAPH_AUDIENCE) {
            return Err(unauthorized(
                "Access token validation failure. Invalid audience.",
            ));
        }
        let tenant = text("tid").ok_or_else(|| unauthorized("Access token has no tenant."))?;
        let mut grants: Vec<String> = claims
            .get("roles")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if let Some(scp) = text("scp") {
            grants.extend(scp.split_whitespace().map(str::to_owned));
        }
        let wids = claims
            .get("wids")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            tenant,
            user: text("oid").filter(|_| claims.contains_key("scp")),
            grants,
            app: text("appid").unwrap_or_default(),
            wids,
        })
    }
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

/// A device in Graph's flat shape, in the order Microsoft's pages show it;
/// the secret is always `null`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceOut<'a> {
    #[serde(rename = "@odata.type")]
    odata_type: &'static str,
    id: &'a str,
    display_name: Option<&'a str>,
    serial_number: &'a str,
    manufacturer: &'a str,
    model: &'a str,
    secret_key: Option<&'a str>,
    time_interval_in_seconds: i64,
    status: &'a str,
    last_used_date_time: Option<String>,
    assigned_to: Option<IdentityOut<'a>>,
    hash_function: &'a str,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct IdentityOut<'a> {
    id: &'a str,
    display_name: &'a str,
}

/// A user's hardware OATH method: the device wrapped.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct MethodOut<'a> {
    #[serde(rename = "@odata.type")]
    odata_type: &'static str,
    id: &'a str,
    created_date_time: Option<String>,
    last_used_date_time: Option<String>,
    device: DeviceOut<'a>,
}

/// The `#$delta` answer.
#[derive(serde::Serialize)]
struct Created<'a> {
    value: Vec<MethodOut<'a>>,
}

fn rfc3339(unix: Option<i64>) -> Option<String> {
    unix.map(oathvault_packaging::rfc3339)
}

impl<'a> DeviceOut<'a> {
    fn of(d: &'a Device) -> Self {
        Self {
            odata_type: DEVICE_TYPE,
            id: &d.id,
            display_name: d.display_name.as_deref(),
            serial_number: &d.serial,
            manufacturer: &d.manufacturer,
            model: &d.model,
            secret_key: None,
            time_interval_in_seconds: d.interval,
            status: &d.status,
            last_used_date_time: rfc3339(d.last_used),
            assigned_to: d.user.as_ref().map(|(id, name)| IdentityOut {
                id,
                display_name: name,
            }),
            hash_function: &d.hash,
        }
    }
}

impl<'a> MethodOut<'a> {
    fn of(d: &'a Device) -> Self {
        Self {
            odata_type: METHOD_TYPE,
            id: &d.id,
            created_date_time: rfc3339(d.assigned_at),
            last_used_date_time: rfc3339(d.last_used),
            device: DeviceOut::of(d),
        }
    }
}

fn to_map(v: impl serde::Serialize) -> Map<String, Value> {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// A device in Graph's flat shape; the secret is always `null`.
pub(crate) fn device_json(d: &Device) -> Map<String, Value> {
    to_map(DeviceOut::of(d))
}

fn method_json(d: &Device) -> Map<String, Value> {
    to_map(MethodOut::of(d))
}

fn user_json(u: &User) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), u.id.clone().into());
    m.insert("displayName".into(), u.display_name.clone().into());
    m.insert("userPrincipalName".into(), u.upn.clone().into());
    m.insert("mail".into(), u.upn.clone().into());
    m.insert("accountEnabled".into(), true.into());
    m
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

// ---------------------------------------------------------------- devices

const DEVICE_FILTER: &[&str] = &[
    "id",
    "serialNumber",
    "manufacturer",
    "model",
    "displayName",
    "timeIntervalInSeconds",
    "hashFunction",
    "status",
    "assignedTo/id",
];
const DEVICE_SELECT: &[&str] = &[
    "id",
    "displayName",
    "serialNumber",
    "manufacturer",
    "model",
    "secretKey",
    "timeIntervalInSeconds",
    "status",
    "lastUsedDateTime",
    "assignedTo",
    "hashFunction",
];

fn device_conds(q: &Query) -> Result<Vec<Cond>, GraphError> {
    q.filter
        .iter()
        .map(|c| {
            let col = match c.property.as_str() {
                "id" => "d.id",
                "serialNumber" => "d.serial",
                "manufacturer" => "d.manufacturer",
                "model" => "d.model",
                "displayName" => "d.display_name",
                "timeIntervalInSeconds" => "d.interval",
                "hashFunction" => "d.hash",
                "status" => "d.status",
                _ => "d.user_id",
            };
            match &c.value {
                Literal::Null => Ok(Cond::Null(col)),
                Literal::Int(i) if col == "d.interval" => Ok(Cond::Int(col, *i)),
                Literal::Str(s) if col == "d.interval" => s
                    .parse()
                    .map(|i| Cond::Int(col, i))
                    .map_err(|_| bad_request("timeIntervalInSeconds takes a number")),
                Literal::Str(s) => Ok(Cond::Text(col, s.clone())),
                Literal::Int(_) | Literal::Bool(_) => {
                    Err(bad_request(format!("{} takes a quoted string", c.property)))
                }
            }
        })
        .collect()
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

async fn list_devices(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    who.require(&[perm::POLICY_READ_ALL, perm::POLICY_RW_AUTH])?;
    who.admin(&[
        role::GLOBAL_READER,
        role::AUTHENTICATION_POLICY_ADMINISTRATOR,
    ])?;
    let q = odata::parse(
        raw.as_deref().unwrap_or(""),
        Allowed {
            filter: DEVICE_FILTER,
            select: DEVICE_SELECT,
            max_top: PAGE,
        },
    )
    .map_err(query_error)?;
    let conds = device_conds(&q)?;
    let limit = q.top.unwrap_or(PAGE);
    let devices = st
        .db
        .devices(
            &who.tenant,
            &conds,
            q.skiptoken.as_deref(),
            i64::try_from(limit).unwrap_or(1000),
        )
        .await?;
    let last = devices.last().map(|d| d.serial.clone());
    let items = devices
        .iter()
        .map(|d| {
            let mut m = device_json(d);
            odata::apply_select(&mut m, q.select.as_deref());
            m
        })
        .collect();
    let base = base_url(&st, &headers);
    Ok(page(
        format!("{base}/beta/$metadata#directory/authenticationMethodDevices/hardwareOathDevices"),
        &format!("{base}{DEVICES}"),
        &q,
        items,
        last,
        limit,
    ))
}

async fn find_device(st: &DirState, tenant: &str, id: &str) -> Result<Device, GraphError> {
    st.db.device(tenant, id).await?.ok_or_else(|| not_found(id))
}

async fn get_device(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    who.require(&[perm::POLICY_READ_ALL, perm::POLICY_RW_AUTH])?;
    who.admin(&[
        role::GLOBAL_READER,
        role::AUTHENTICATION_POLICY_ADMINISTRATOR,
    ])?;
    let d = find_device(&st, &who.tenant, &id).await?;
    let base = base_url(&st, &headers);
    Ok(entity(
        StatusCode::OK,
        format!(
            "{base}/beta/$metadata#directory/authenticationMethodDevices/hardwareOathDevices/$entity"
        ),
        device_json(&d),
    ))
}

/// Reads one device of a create body (POST or a `#$delta` item); `seq` is
/// its place in the request (for its time-ordered id).
async fn new_device(
    st: &DirState,
    who: &Principal,
    m: &DeviceIn<'_>,
    (now, seq): (i64, u16),
    rng: &mut (impl rand08::RngCore + rand08::CryptoRng),
) -> Result<Device, GraphError> {
    fn required<'t>(key: &str, v: Option<&'t Text<'_>>) -> Result<&'t str, GraphError> {
        v.map(|t| t.as_str().trim())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad_request(format!("{key} is required")))
    }
    let serial = required("serialNumber", m.serial_number.as_ref())?.to_owned();
    let manufacturer = required("manufacturer", m.manufacturer.as_ref())?.to_owned();
    let model = required("model", m.model.as_ref())?.to_owned();
    let secret = rules::secret(required("secretKey", m.secret_key.as_ref())?)
        .map_err(|e| bad_request(e.0))?;
    // Microsoft's bulk example sends the interval as a string.
    let interval = m
        .time_interval_in_seconds
        .and_then(|s| s.0)
        .ok_or_else(|| bad_request("timeIntervalInSeconds is required (30 or 60)"))?;
    let interval = rules::interval(interval).map_err(|e| bad_request(e.0))?;
    let hash = rules::hash_function(m.hash_function.as_ref().map(Text::as_str))
        .map_err(|e| bad_request(e.0))?;
    let assign = match &m.assign_to {
        None => None,
        Some(a) => Some(
            a.id.as_ref()
                .ok_or_else(|| bad_request("assignTo needs an id"))?
                .as_str(),
        ),
    };
    let user = match assign {
        Some(id) => {
            who.require(&[perm::UAM_RW_ALL])?;
            who.admin(&[
                role::AUTHENTICATION_ADMINISTRATOR,
                role::PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
            ])?;
            let u = st
                .db
                .user(&who.tenant, id)
                .await?
                .ok_or_else(|| not_found(id))?;
            Some((u.id, u.display_name))
        }
        None => None,
    };
    let id = crate::ordered_id(rng, now, seq);
    let sealed = st
        .master
        .seal(rng, &crate::seal_purpose(&id), secret.expose());
    Ok(Device {
        status: if user.is_some() {
            status::ASSIGNED.into()
        } else {
            status::AVAILABLE.into()
        },
        assigned_at: user.as_ref().map(|_| now),
        user,
        id,
        tenant_id: who.tenant.clone(),
        serial,
        display_name: m.display_name.as_ref().map(|t| t.as_str().to_owned()),
        manufacturer,
        model,
        sealed,
        interval,
        hash: hash.to_owned(),
        last_used: None,
        drift: 0,
        last_counter: None,
        created: now,
    })
}

async fn create_device(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    who.require(&[perm::POLICY_RW_AUTH])?;
    who.admin(&[role::AUTHENTICATION_POLICY_ADMINISTRATOR])?;
    let m: DeviceIn<'_> = wire_object(&body)?;
    let now = st.now();
    let d = new_device(&st, &who, &m, (now, 0), &mut rand08::rngs::OsRng).await?;
    if let Some((user, _)) = &d.user {
        check_method_cap(&st, user).await?;
    }
    st.db.insert_devices(std::slice::from_ref(&d)).await?;
    let base = base_url(&st, &headers);
    Ok(entity(
        StatusCode::CREATED,
        format!(
            "{base}/beta/$metadata#directory/authenticationMethodDevices/hardwareOathDevices/$entity"
        ),
        device_json(&d),
    ))
}

/// `PATCH …/hardwareOathDevices` with `@context: #$delta`: creates every
/// item or none (see `docs/directory.md`).
async fn create_delta(
    State(st): State<Arc<DirState>>,
    who: Principal,
    body: Bytes,
) -> Result<Response, GraphError> {
    who.require(&[perm::POLICY_RW_AUTH])?;
    who.admin(&[role::AUTHENTICATION_POLICY_ADMINISTRATOR])?;
    let delta: DeltaIn<'_> = wire_object(&body)?;
    let items = delta
        .value
        .ok_or_else(|| bad_request("the body needs a \"value\" array of tokens"))?;
    if items.len() > st.settings.max_delta {
        return Err(bad_request(format!(
            "at most {} tokens per request",
            st.settings.max_delta
        )));
    }
    let now = st.now();
    // One draw from the OS for the whole request (ids and nonces).
    let mut rng = <rand08::rngs::StdRng as rand08::SeedableRng>::from_rng(rand08::rngs::OsRng)
        .map_err(|_| {
            GraphError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceNotAvailable",
                "no randomness",
            )
        })?;
    let mut devices = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let obj: DeviceIn<'_> = match wire::object(item.get().as_bytes()) {
            Ok(obj) => obj,
            Err(wire::BodyError::NotObject) => {
                return Err(bad_request(format!("value[{i}] is not an object")));
            }
            Err(wire::BodyError::Shape(e) | wire::BodyError::Syntax(e)) => {
                return Err(bad_request(format!("value[{i}]: {e}")));
            }
        };
        let label = obj.content_id.as_ref().map_or_else(
            || format!("value[{i}]"),
            |c| format!("@contentId {}", c.as_str()),
        );
        let seq = u16::try_from(i).unwrap_or(u16::MAX);
        let d = new_device(&st, &who, &obj, (now, seq), &mut rng)
            .await
            .map_err(|e| e.prefixed(&format!("{label}: ")))?;
        if !seen.insert(d.serial.clone()) {
            return Err(GraphError::new(
                StatusCode::CONFLICT,
                "Request_MultipleObjectsWithSameKeyValue",
                format!(
                    "{label}: serial number {} appears twice in the request",
                    d.serial
                ),
            ));
        }
        devices.push(d);
    }
    st.db.insert_devices(&devices).await?;
    // Written straight from the devices (no intermediate JSON tree).
    let value: Vec<MethodOut<'_>> = devices.iter().map(MethodOut::of).collect();
    Ok(ok_json(StatusCode::CREATED, Created { value }))
}

async fn update_device(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, GraphError> {
    who.require(&[perm::POLICY_RW_AUTH])?;
    who.admin(&[role::AUTHENTICATION_POLICY_ADMINISTRATOR])?;
    let m = body_json(&body)?;
    let mut d = find_device(&st, &who.tenant, &id).await?;
    if d.user.is_some() {
        return Err(bad_request(
            "The token needs to be unassigned before it can be updated.",
        ));
    }
    for key in m.keys() {
        match key.as_str() {
            "secretKey" | "serialNumber" => {
                return Err(bad_request(format!("{key} cannot be updated")));
            }
            "manufacturer"
            | "model"
            | "displayName"
            | "timeIntervalInSeconds"
            | "hashFunction"
            | "@odata.type" => {}
            other => return Err(bad_request(format!("Property '{other}' cannot be updated"))),
        }
    }
    if let Some(v) = str_field(&m, "manufacturer") {
        v.clone_into(&mut d.manufacturer);
    }
    if let Some(v) = str_field(&m, "model") {
        v.clone_into(&mut d.model);
    }
    if m.contains_key("displayName") {
        d.display_name = str_field(&m, "displayName").map(str::to_owned);
    }
    if let Some(v) = m.get("timeIntervalInSeconds") {
        let n = v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| bad_request("timeIntervalInSeconds takes 30 or 60"))?;
        d.interval = rules::interval(n).map_err(|e| bad_request(e.0))?;
    }
    if m.contains_key("hashFunction") {
        d.hash = rules::hash_function(str_field(&m, "hashFunction"))
            .map_err(|e| bad_request(e.0))?
            .to_owned();
    }
    st.db.save_device(&d).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_device(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    who.require(&[perm::POLICY_RW_AUTH])?;
    who.admin(&[role::AUTHENTICATION_POLICY_ADMINISTRATOR])?;
    let d = find_device(&st, &who.tenant, &id).await?;
    if d.user.is_some() {
        return Err(bad_request(
            "The token needs to be unassigned before it can be deleted.",
        ));
    }
    st.db.delete_device(&d.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- users

const USER_FILTER: &[&str] = &["id", "userPrincipalName", "displayName", "mail"];
const USER_SELECT: &[&str] = &[
    "id",
    "displayName",
    "userPrincipalName",
    "mail",
    "accountEnabled",
];

async fn list_users(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    who.require(&[
        perm::USER_READ_ALL,
        perm::USER_READBASIC_ALL,
        perm::DIRECTORY_READ_ALL,
    ])?;
    let q = odata::parse(
        raw.as_deref().unwrap_or(""),
        Allowed {
            filter: USER_FILTER,
            select: USER_SELECT,
            max_top: 999,
        },
    )
    .map_err(query_error)?;
    let conds = q
        .filter
        .iter()
        .map(|c| {
            let col = match c.property.as_str() {
                "id" => "id",
                "displayName" => "display_name",
                _ => "upn",
            };
            match &c.value {
                Literal::Str(s) if col == "upn" => Ok(Cond::Text(col, s.to_ascii_lowercase())),
                Literal::Str(s) => Ok(Cond::Text(col, s.clone())),
                _ => Err(bad_request(format!("{} takes a quoted string", c.property))),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let limit = q.top.unwrap_or(100);
    let users = st
        .db
        .users(
            &who.tenant,
            &conds,
            q.skiptoken.as_deref(),
            i64::try_from(limit).unwrap_or(100),
        )
        .await?;
    let last = users.last().map(|u| u.upn.clone());
    let items = users
        .iter()
        .map(|u| {
            let mut m = user_json(u);
            odata::apply_select(&mut m, q.select.as_deref());
            m
        })
        .collect();
    let base = base_url(&st, &headers);
    Ok(page(
        format!("{base}/beta/$metadata#users"),
        &format!("{base}/beta/users"),
        &q,
        items,
        last,
        limit,
    ))
}

async fn find_user(st: &DirState, tenant: &str, id_or_upn: &str) -> Result<User, GraphError> {
    st.db
        .user(tenant, id_or_upn)
        .await?
        .ok_or_else(|| not_found(id_or_upn))
}

async fn get_user(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    Path(user): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    who.require(&[
        perm::USER_READ_ALL,
        perm::USER_READBASIC_ALL,
        perm::DIRECTORY_READ_ALL,
    ])?;
    let q = odata::parse(
        raw.as_deref().unwrap_or(""),
        Allowed {
            filter: &[],
            select: USER_SELECT,
            max_top: 1,
        },
    )
    .map_err(query_error)?;
    let u = find_user(&st, &who.tenant, &user).await?;
    let mut m = user_json(&u);
    odata::apply_select(&mut m, q.select.as_deref());
    let base = base_url(&st, &headers);
    Ok(entity(
        StatusCode::OK,
        format!("{base}/beta/$metadata#users/$entity"),
        m,
    ))
}

async fn get_me(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    let id = who.user.clone().ok_or_else(me_needs_user)?;
    let u = find_user(&st, &who.tenant, &id).await?;
    let base = base_url(&st, &headers);
    Ok(entity(
        StatusCode::OK,
        format!("{base}/beta/$metadata#users/$entity"),
        user_json(&u),
    ))
}

fn me_needs_user() -> GraphError {
    bad_request("/me request is only valid with delegated authentication flow.")
}

// ---------------------------------------------------------------- user methods

/// The user a `/users/{user}/…` or `/me/…` path names, checked against the
/// caller's grants (`write`: changing methods).
async fn target(
    st: &DirState,
    who: &Principal,
    user: Option<&str>,
    write: bool,
) -> Result<User, GraphError> {
    if let Some(u) = user {
        if write {
            who.require(&[perm::UAM_RW_ALL])?;
            who.admin(&[
                role::AUTHENTICATION_ADMINISTRATOR,
                role::PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
            ])?;
        } else {
            who.require(&[perm::UAM_READ_ALL, perm::UAM_RW_ALL])?;
            who.admin(&[
                role::GLOBAL_READER,
                role::AUTHENTICATION_ADMINISTRATOR,
                role::PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
            ])?;
        }
        return find_user(st, &who.tenant, u).await;
    }
    let me = who.user.clone().ok_or_else(me_needs_user)?;
    if write {
        who.require(&[perm::UAM_RW, perm::UAM_RW_ALL])?;
    } else {
        who.require(&[
            perm::UAM_READ,
            perm::UAM_RW,
            perm::UAM_READ_ALL,
            perm::UAM_RW_ALL,
        ])?;
    }
    find_user(st, &who.tenant, &me).await
}

/// Path parameters of the per-user routes (`user` is absent under `/me`).
#[derive(Debug, serde::Deserialize)]
struct UserPath {
    user: Option<String>,
    method: Option<String>,
}

/// The user's method `method` (its device).
async fn users_device(
    st: &DirState,
    who: &Principal,
    user: &User,
    method: Option<&str>,
) -> Result<Device, GraphError> {
    let id = method.unwrap_or_default();
    let d = find_device(st, &who.tenant, id).await?;
    if d.user.as_ref().map(|u| u.0.as_str()) != Some(user.id.as_str()) {
        return Err(not_found(id));
    }
    Ok(d)
}

async fn list_methods(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    Path(p): Path<UserPath>,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), false).await?;
    let devices = st
        .db
        .devices(
            &who.tenant,
            &[Cond::Text("d.user_id", user.id.clone())],
            None,
            100,
        )
        .await?;
    let base = base_url(&st, &headers);
    let value: Vec<Value> = devices
        .iter()
        .map(|d| Value::Object(method_json(d)))
        .collect();
    Ok(ok_json(
        StatusCode::OK,
        json!({
            "@odata.context": format!("{base}/beta/$metadata#users('{}')/authentication/hardwareOathMethods", user.id),
            "value": value,
        }),
    ))
}

async fn get_method(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    Path(p): Path<UserPath>,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), false).await?;
    let d = users_device(&st, &who, &user, p.method.as_deref()).await?;
    let base = base_url(&st, &headers);
    Ok(entity(
        StatusCode::OK,
        format!(
            "{base}/beta/$metadata#users('{}')/authentication/hardwareOathMethods/$entity",
            user.id
        ),
        method_json(&d),
    ))
}

async fn check_method_cap(st: &DirState, user_id: &str) -> Result<(), GraphError> {
    if st.db.methods_of(user_id).await? >= rules::MAX_METHODS_PER_USER {
        return Err(bad_request(format!(
            "The user already has {} OATH methods, the most allowed.",
            rules::MAX_METHODS_PER_USER
        )));
    }
    Ok(())
}

/// Gives `d` to `user` (it must be available, or already theirs).
async fn give(st: &DirState, d: &mut Device, user: &User, now: i64) -> Result<(), GraphError> {
    match &d.user {
        Some((owner, _)) if *owner == user.id => return Ok(()),
        Some(_) => {
            return Err(GraphError::new(
                StatusCode::CONFLICT,
                "Request_BadRequest",
                "The hardware OATH token is assigned to another user.",
            ));
        }
        None => {}
    }
    check_method_cap(st, &user.id).await?;
    d.user = Some((user.id.clone(), user.display_name.clone()));
    d.assigned_at = Some(now);
    d.status = status::ASSIGNED.into();
    Ok(())
}

fn device_id(m: &Map<String, Value>) -> Result<String, GraphError> {
    m.get("device")
        .and_then(|d| d.get("id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| bad_request("device.id is required"))
}

async fn assign(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    Path(p): Path<UserPath>,
    body: Bytes,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let m = body_json(&body)?;
    let mut d = find_device(&st, &who.tenant, &device_id(&m)?).await?;
    let now = st.now();
    give(&st, &mut d, &user, now).await?;
    st.db.save_device(&d).await?;
    let base = base_url(&st, &headers);
    let mut out = Map::new();
    out.insert("@odata.type".into(), METHOD_TYPE.into());
    out.insert("id".into(), d.id.clone().into());
    out.insert(
        "createdDateTime".into(),
        rfc3339(d.assigned_at).map_or(Value::Null, Value::String),
    );
    Ok(entity(
        StatusCode::CREATED,
        format!(
            "{base}/beta/$metadata#users('{}')/authentication/hardwareOathMethods/$entity",
            user.id
        ),
        out,
    ))
}

async fn assign_ref(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(p): Path<UserPath>,
    body: Bytes,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let m = body_json(&body)?;
    let reference =
        str_field(&m, "@odata.id").ok_or_else(|| bad_request("@odata.id is required"))?;
    let named = reference.rsplit('/').next().unwrap_or_default();
    let to = find_user(&st, &who.tenant, named).await?;
    let mut d = find_device(&st, &who.tenant, p.method.as_deref().unwrap_or_default()).await?;
    let _ = user;
    give(&st, &mut d, &to, st.now()).await?;
    st.db.save_device(&d).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Checks an activation code; a wrong one leaves the token `failedActivation`.
async fn activate_with(
    st: &DirState,
    d: &mut Device,
    m: &Map<String, Value>,
) -> Result<(), GraphError> {
    let code = match m.get("verificationCode") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(bad_request("verificationCode is required")),
    };
    if let Some(name) = str_field(m, "displayName") {
        d.display_name = Some(name.to_owned());
    }
    let now = st.now();
    let secret = crate::open_secret(st, d)?;
    let Some(ok) = rules::check(d, &secret, &code, now, Purpose::Activation) else {
        d.status = status::FAILED_ACTIVATION.into();
        st.db.save_device(d).await?;
        return Err(bad_request(
            "The verification code is not valid for this token.",
        ));
    };
    d.status = status::ACTIVATED.into();
    d.drift = ok.drift;
    d.last_counter = Some(ok.counter);
    d.last_used = Some(now);
    st.db.save_device(d).await?;
    Ok(())
}

async fn activate(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(p): Path<UserPath>,
    body: Bytes,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let m = body_json(&body)?;
    let mut d = users_device(&st, &who, &user, p.method.as_deref()).await?;
    activate_with(&st, &mut d, &m).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn deactivate(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(p): Path<UserPath>,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let mut d = users_device(&st, &who, &user, p.method.as_deref()).await?;
    d.status = status::ASSIGNED.into();
    st.db.save_device(&d).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn assign_and_activate(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(p): Path<UserPath>,
    body: Bytes,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let m = body_json(&body)?;
    let mut d = find_device(&st, &who.tenant, &device_id(&m)?).await?;
    give(&st, &mut d, &user, st.now()).await?;
    activate_with(&st, &mut d, &m).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn assign_and_activate_by_serial(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(p): Path<UserPath>,
    body: Bytes,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let m = body_json(&body)?;
    let serial =
        str_field(&m, "serialNumber").ok_or_else(|| bad_request("serialNumber is required"))?;
    let mut d = st
        .db
        .device_by_serial(&who.tenant, serial)
        .await?
        .ok_or_else(|| not_found(serial))?;
    give(&st, &mut d, &user, st.now()).await?;
    activate_with(&st, &mut d, &m).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn unassign(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(p): Path<UserPath>,
) -> Result<Response, GraphError> {
    let user = target(&st, &who, p.user.as_deref(), true).await?;
    let mut d = users_device(&st, &who, &user, p.method.as_deref()).await?;
    d.user = None;
    d.assigned_at = None;
    d.status = status::AVAILABLE.into();
    d.drift = 0;
    st.db.save_device(&d).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
