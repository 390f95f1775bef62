//! The hardware OATH device inventory:
//! `/beta/directory/authenticationMethodDevices/hardwareOathDevices`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value};

use super::list::{Listing, list};
use super::methods::check_method_cap;
use super::shapes::{MethodOut, device_json};
use super::{
    DEVICES, PAGE, Principal, bad_request, base_url, body_json, entity, not_found, ok_json,
    str_field, wire_object,
};
use crate::access::Operation;
use crate::db::{Cond, Db, DbError, Device};
use crate::odata::{Allowed, Literal, Query};
use crate::rules::{self, status};
use crate::wire::{self, DeltaIn, DeviceIn, Text};
use crate::{DirState, GraphError};

pub(super) fn routes() -> Router<Arc<DirState>> {
    Router::new()
        .route(
            DEVICES,
            get(list::<Devices>).post(create_device).patch(create_delta),
        )
        .route(
            &format!("{DEVICES}/{{id}}"),
            get(get_device).patch(update_device).delete(delete_device),
        )
}

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

/// The device inventory, in serial number order.
struct Devices;

impl Listing for Devices {
    type Item = Device;
    const ALLOWED: Allowed<'static> = Allowed {
        filter: DEVICE_FILTER,
        select: DEVICE_SELECT,
        max_top: PAGE,
    };
    const DEFAULT_TOP: usize = PAGE;
    const PATH: &'static str = DEVICES;
    const CONTEXT: &'static str = "directory/authenticationMethodDevices/hardwareOathDevices";

    fn authorize(who: &Principal) -> Result<(), GraphError> {
        who.allow(Operation::ReadDevices, None)
    }

    fn conditions(q: &Query) -> Result<Vec<Cond>, GraphError> {
        device_conds(q)
    }

    fn fetch<'a>(
        db: &'a Db,
        tenant: &'a str,
        conds: &'a [Cond],
        after: Option<&'a str>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Device>, DbError>> + Send + 'a {
        db.devices(tenant, conds, after, limit)
    }

    fn key(d: &Device) -> String {
        d.serial.clone()
    }

    fn json(d: &Device) -> Map<String, Value> {
        device_json(d)
    }
}

pub(super) async fn find_device(
    st: &DirState,
    tenant: &str,
    id: &str,
) -> Result<Device, GraphError> {
    st.db.device(tenant, id).await?.ok_or_else(|| not_found(id))
}

async fn get_device(
    State(st): State<Arc<DirState>>,
    who: Principal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    who.allow(Operation::ReadDevices, None)?;
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
            who.may_try(Operation::WriteMethods)?;
            let u = st
                .db
                .user(&who.tenant, id)
                .await?
                .ok_or_else(|| not_found(id))?;
            who.allow(Operation::WriteMethods, Some(&u))?;
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
    who.allow(Operation::WriteDevices, None)?;
    let m: DeviceIn<'_> = wire_object(&body)?;
    let now = st.now();
    let d = new_device(&st, &who, &m, (now, 0), &mut oathvault_vault::random::os()).await?;
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

/// The `#$delta` answer.
#[derive(serde::Serialize)]
struct Created<'a> {
    value: Vec<MethodOut<'a>>,
}

/// `PATCH …/hardwareOathDevices` with `@context: #$delta`: creates every
/// item or none (see `docs/directory.md`).
async fn create_delta(
    State(st): State<Arc<DirState>>,
    who: Principal,
    body: Bytes,
) -> Result<Response, GraphError> {
    who.allow(Operation::WriteDevices, None)?;
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
    let mut rng =
        <rand08::rngs::StdRng as rand08::SeedableRng>::from_rng(oathvault_vault::random::os())
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
    who.allow(Operation::WriteDevices, None)?;
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
    if !st.db.save_device(&d, None).await? {
        return Err(bad_request(
            "The token needs to be unassigned before it can be updated.",
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delete_device(
    State(st): State<Arc<DirState>>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    who.allow(Operation::WriteDevices, None)?;
    let d = find_device(&st, &who.tenant, &id).await?;
    if d.user.is_some() {
        return Err(bad_request(
            "The token needs to be unassigned before it can be deleted.",
        ));
    }
    if !st.db.delete_device(&d.id).await? {
        return Err(bad_request(
            "The token needs to be unassigned before it can be deleted.",
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
