//! Graph's hardware OATH device as it comes over the wire. Microsoft's pages
//! show it flat (`{"id","serialNumber",…}`) and wrapped
//! (`{"@odata.type":"#microsoft.graph.hardwareOathAuthenticationMethod",
//! "id","device":{…}}` or `{"value":{…}}`); both are read.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A hardware OATH token in the tenant's inventory (`secretKey` is
/// write-only and never read back).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Object id.
    pub id: String,
    /// Serial number (a string: leading zeros matter).
    pub serial_number: String,
    /// Manufacturer.
    #[serde(default)]
    pub manufacturer: Option<String>,
    /// Model.
    #[serde(default)]
    pub model: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `available`, `assigned`, `activated`, `failedActivation`.
    #[serde(default)]
    pub status: Option<String>,
    /// `hmacsha1` or `hmacsha256`.
    #[serde(default)]
    pub hash_function: Option<String>,
    /// 30 or 60.
    #[serde(default, deserialize_with = "number_or_string")]
    pub time_interval_in_seconds: Option<u32>,
    /// The user it is assigned to.
    #[serde(default)]
    pub assigned_to: Option<Identity>,
    /// Last use, as Graph gives it.
    #[serde(default)]
    pub last_used_date_time: Option<String>,
}

/// Graph's `identity` (`id`, `displayName`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// Object id.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A token's clock as the local directory measured it at the last
/// accepted code (beyond Entra).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenClock {
    /// Serial number.
    pub serial_number: String,
    /// Seconds the token runs ahead of the clock (negative: behind).
    pub drift_seconds: i64,
    /// When a code was last accepted (RFC 3339).
    #[serde(default)]
    pub last_used_date_time: Option<String>,
}

/// A token's code lock at the local directory (beyond Entra): wrong codes
/// in a row, and until when it is locked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenLock {
    /// Wrong codes in a row since the last right one.
    #[serde(default)]
    pub failed_attempts: Option<i64>,
    /// Until when it is locked (RFC 3339); `None`: not locked.
    #[serde(default)]
    pub locked_until: Option<String>,
}

/// A user (the fields the commands need).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Object id.
    pub id: String,
    /// User principal name.
    #[serde(default)]
    pub user_principal_name: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A device as it comes over the wire, flat or wrapped, read straight from
/// the body (no JSON tree in between); [`WireDevice::into_device`] unwraps.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireDevice {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    serial_number: Option<String>,
    #[serde(default)]
    manufacturer: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    hash_function: Option<String>,
    #[serde(default, deserialize_with = "number_or_string")]
    time_interval_in_seconds: Option<u32>,
    #[serde(default)]
    assigned_to: Option<Identity>,
    #[serde(default)]
    last_used_date_time: Option<String>,
    /// A user method wraps the device in `device`.
    #[serde(default)]
    device: Option<Box<WireDevice>>,
    /// `{"value": {…}}` wraps a single entity.
    #[serde(default)]
    value: Option<Box<WireDevice>>,
}

impl WireDevice {
    /// The device, unwrapped.
    pub(crate) fn into_device(self) -> Result<Device, String> {
        if let Some(inner) = self.value {
            return inner.into_device();
        }
        if let Some(inner) = self.device {
            return inner.into_device();
        }
        let serial_number = self.serial_number.ok_or("a device without serialNumber")?;
        let id = self
            .id
            .ok_or("a device that does not parse: missing field `id`")?;
        Ok(Device {
            id,
            serial_number,
            manufacturer: self.manufacturer,
            model: self.model,
            display_name: self.display_name,
            status: self.status,
            hash_function: self.hash_function,
            time_interval_in_seconds: self.time_interval_in_seconds,
            assigned_to: self.assigned_to,
            last_used_date_time: self.last_used_date_time,
        })
    }
}

/// A page of devices: `value` and the link to the next page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WirePage {
    #[serde(default)]
    pub(crate) value: Option<Vec<WireDevice>>,
    #[serde(default, rename = "@odata.nextLink")]
    pub(crate) next_link: Option<String>,
}

impl Device {
    /// Reads one device from a flat or a wrapped entity.
    ///
    /// # Errors
    /// A description of what is missing, when it is neither shape.
    pub fn from_value(v: &Value) -> Result<Self, String> {
        WireDevice::deserialize(v)
            .map_err(|e| format!("a device that does not parse: {e}"))?
            .into_device()
    }

    /// The status, or `unknown`.
    #[must_use]
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("unknown")
    }

    /// The assigned user's id, if any.
    #[must_use]
    pub fn user_id(&self) -> Option<&str> {
        self.assigned_to.as_ref().and_then(|a| a.id.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flat_and_wrapped_shapes_read_alike() {
        let flat = json!({
            "id": "aad49556-####-####-####-############", "displayName": "Amy Masters Token",
            "serialNumber": "TOTP123456", "manufacturer": "Contoso", "model": "Hardware Token 1000",
            "secretKey": null, "timeIntervalInSeconds": 30, "status": "activated",
            "lastUsedDateTime": null, "hashFunction": "hmacsha1",
            "assignedTo": { "id": "0cadbf92-####-####-####-############", "displayName": "Amy Masters" }
        });
        let a = Device::from_value(&flat).unwrap();
        let b = Device::from_value(&json!({
            "@odata.type": "#microsoft.graph.hardwareOathAuthenticationMethod",
            "id": "aad49556-####-####-####-############",
            "device": flat.clone()
        }))
        .unwrap();
        let c = Device::from_value(&json!({ "value": flat })).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.user_id(), Some("0cadbf92-####-####-####-############"));
        assert_eq!(a.time_interval_in_seconds, Some(30));
        let s = Device::from_value(
            &json!({"id": "1", "serialNumber": "07", "timeIntervalInSeconds": "60"}),
        )
        .unwrap();
        assert_eq!(
            (s.serial_number.as_str(), s.time_interval_in_seconds),
            ("07", Some(60))
        );
        assert!(Device::from_value(&json!({"id": "1"})).is_err());
    }
}
