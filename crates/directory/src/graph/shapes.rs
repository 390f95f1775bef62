//! The bodies Graph answers with: devices in the flat shape, users' methods
//! (the device wrapped), users.

use serde_json::{Map, Value};

use super::{DEVICE_TYPE, METHOD_TYPE};
use crate::db::{Device, User};

/// A device in Graph's flat shape, in the order Microsoft's pages show it;
/// the secret is always `null`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeviceOut<'a> {
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
pub(super) struct MethodOut<'a> {
    #[serde(rename = "@odata.type")]
    odata_type: &'static str,
    id: &'a str,
    created_date_time: Option<String>,
    last_used_date_time: Option<String>,
    device: DeviceOut<'a>,
}

pub(super) fn rfc3339(unix: Option<i64>) -> Option<String> {
    unix.map(oathvault_otp::clock::rfc3339)
}

impl<'a> DeviceOut<'a> {
    pub(super) fn of(d: &'a Device) -> Self {
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
    pub(super) fn of(d: &'a Device) -> Self {
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
pub(super) fn device_json(d: &Device) -> Map<String, Value> {
    to_map(DeviceOut::of(d))
}

pub(super) fn method_json(d: &Device) -> Map<String, Value> {
    to_map(MethodOut::of(d))
}

pub(super) fn user_json(u: &User) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), u.id.clone().into());
    m.insert("displayName".into(), u.display_name.clone().into());
    m.insert("userPrincipalName".into(), u.upn.clone().into());
    m.insert("mail".into(), u.upn.clone().into());
    m.insert("accountEnabled".into(), true.into());
    m
}
