//! The hardware OATH endpoints of Graph (beta): the tenant's inventory and
//! a user's methods.

use std::fmt::Write as _;

use oathvault_token::{Hash, Kind, SecretEncoding, Token};
use reqwest::Method;
use serde_json::json;
use zeroize::Zeroizing;

use crate::Error;
use crate::client::Graph;
use crate::model::{Device, TokenClock, TokenLock, User, WireDevice, WirePage};

/// The inventory collection.
pub const DEVICES: &str = "/directory/authenticationMethodDevices/hardwareOathDevices";

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
#[must_use]
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// An OData string literal: quoted, inner quotes doubled.
#[must_use]
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn path_segment(value: &str) -> String {
    encode(value)
}

fn unexpected(what: &str, detail: &str) -> Error {
    Error::Unexpected {
        url: what.to_owned(),
        detail: detail.to_owned(),
    }
}

/// The body Graph takes to create a device from a token (the secret as
/// upper-case Base32 without padding), in a wiped buffer.
///
/// # Errors
/// None for a token that passed Entra's limits; `Invalid` for HOTP.
pub fn device_body(
    token: &Token,
    content_id: Option<usize>,
    assign_to: Option<&str>,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    let Kind::Totp { step, .. } = token.kind else {
        return Err(Error::Invalid(format!(
            "serial {}: Entra takes TOTP tokens only",
            token.serial.as_str()
        )));
    };
    let secret = SecretEncoding::Base32.encode(&token.secret);
    // Written field by field into the wiped buffer (no JSON tree per token);
    // strings go through serde_json for their escaping.
    let mut out = Zeroizing::new(Vec::with_capacity(320));
    let mut field = |name: &str, value: &str| {
        let sep: &[u8] = if out.is_empty() { b"{\"" } else { b",\"" };
        out.extend_from_slice(sep);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        let _ = serde_json::to_writer(&mut *out, value);
    };
    if let Some(id) = content_id {
        field("@contentId", &id.to_string());
    }
    field("serialNumber", token.serial.as_str());
    field(
        "manufacturer",
        token.manufacturer.as_deref().unwrap_or_default(),
    );
    field("model", token.model.as_deref().unwrap_or_default());
    field(
        "hashFunction",
        match token.hash {
            Hash::Sha256 => "hmacsha256",
            _ => "hmacsha1",
        },
    );
    out.extend_from_slice(b",\"timeIntervalInSeconds\":");
    out.extend_from_slice(step.seconds().to_string().as_bytes());
    if let Some(u) = assign_to {
        out.extend_from_slice(b",\"assignTo\":{\"id\":");
        let _ = serde_json::to_writer(&mut *out, u);
        out.push(b'}');
    }
    // The secret goes last, into room reserved first, so that no growth of
    // the buffer leaves a copy of it behind. Base32 needs no escaping.
    out.reserve(secret.len() + 16);
    out.extend_from_slice(b",\"secretKey\":\"");
    out.extend_from_slice(secret.as_bytes());
    out.extend_from_slice(b"\"}");
    Ok(out)
}

/// A refusal of the beyond-Entra clock endpoints: Microsoft Graph answers
/// a path outside its versions with `400 Invalid version`, others with 404
/// or 405; any 4xx means "not reported here" (429 and 401 were retried).
fn not_reported(e: &Error) -> bool {
    e.graph().is_some_and(|g| (400..500).contains(&g.status))
}

impl Graph {
    /// Every device matching `filter` (an OData `$filter`, unencoded),
    /// following every `@odata.nextLink`; `on_page` hears the count so far.
    ///
    /// # Errors
    /// The first failing page.
    pub async fn list_devices(
        &self,
        filter: Option<&str>,
        mut on_page: impl FnMut(usize),
    ) -> Result<Vec<Device>, Error> {
        let mut next = Some(match filter {
            Some(f) => format!("{DEVICES}?$filter={}", encode(f)),
            None => DEVICES.to_owned(),
        });
        let mut out = Vec::new();
        while let Some(path) = next.take() {
            let reply = self.call(Method::GET, &path, None).await?;
            let page: WirePage = reply.json()?;
            let Some(items) = page.value else {
                return Err(unexpected(&path, "a list without a value array"));
            };
            out.reserve(items.len());
            for item in items {
                out.push(item.into_device().map_err(|e| unexpected(&path, &e))?);
            }
            on_page(out.len());
            next = page.next_link;
        }
        Ok(out)
    }

    /// The device with this serial, if the tenant has it.
    ///
    /// # Errors
    /// As [`Graph::call`]; `Unexpected` when the serial is there twice.
    pub async fn device_by_serial(&self, serial: &str) -> Result<Option<Device>, Error> {
        let mut found = self
            .list_devices(
                Some(&format!("serialNumber eq {}", literal(serial))),
                |_| {},
            )
            .await?;
        // Graph's eq is case-insensitive; serials are compared exactly.
        found.retain(|d| d.serial_number == serial);
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            n => Err(unexpected(
                DEVICES,
                &format!("serial {serial} is in the tenant {n} times"),
            )),
        }
    }

    /// The device with this id.
    ///
    /// # Errors
    /// As [`Graph::call`] (`404` for an unknown id).
    pub async fn device(&self, id: &str) -> Result<Device, Error> {
        let path = format!("{DEVICES}/{}", path_segment(id));
        let reply = self.call(Method::GET, &path, None).await?;
        reply
            .json::<WireDevice>()?
            .into_device()
            .map_err(|e| unexpected(&path, &e))
    }

    /// Creates one device (`POST`).
    ///
    /// # Errors
    /// As [`Graph::call`].
    pub async fn create_device(
        &self,
        token: &Token,
        assign_to: Option<&str>,
    ) -> Result<Device, Error> {
        let body = device_body(token, None, assign_to)?;
        let reply = self
            .call_bytes(Method::POST, DEVICES, Some(body.into()))
            .await?;
        reply
            .json::<WireDevice>()?
            .into_device()
            .map_err(|e| unexpected(DEVICES, &e))
    }

    /// Creates many devices in one `PATCH` with `@context: #$delta`;
    /// `assign` gives each token's user object id, if any.
    ///
    /// # Errors
    /// As [`Graph::call`]: the whole request failed.
    pub async fn create_devices(
        &self,
        tokens: &[(&Token, Option<&str>)],
    ) -> Result<Vec<Device>, Error> {
        let mut body = Zeroizing::new(Vec::with_capacity(tokens.len() * 256 + 64));
        body.extend_from_slice(br##"{"@context":"#$delta","value":["##);
        for (i, (t, user)) in tokens.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&device_body(t, Some(i + 1), *user)?);
        }
        body.extend_from_slice(b"]}");
        let reply = self
            .call_bytes(Method::PATCH, DEVICES, Some(body.into()))
            .await?;
        let Some(items) = reply.json::<WirePage>()?.value else {
            return Err(unexpected(
                DEVICES,
                "a #$delta answer without a value array",
            ));
        };
        items
            .into_iter()
            .map(|v| v.into_device().map_err(|e| unexpected(DEVICES, &e)))
            .collect()
    }

    /// Deletes a device (it must be unassigned).
    ///
    /// # Errors
    /// As [`Graph::call`].
    pub async fn delete_device(&self, id: &str) -> Result<(), Error> {
        self.call(
            Method::DELETE,
            &format!("{DEVICES}/{}", path_segment(id)),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Every user of the tenant (id, UPN, display name), following every
    /// `@odata.nextLink`.
    ///
    /// # Errors
    /// The first failing page.
    pub async fn list_users(&self) -> Result<Vec<User>, Error> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            value: Option<Vec<User>>,
            #[serde(default, rename = "@odata.nextLink")]
            next_link: Option<String>,
        }
        let mut next = Some("/users?$select=id,userPrincipalName,displayName&$top=999".to_owned());
        let mut out = Vec::new();
        while let Some(path) = next.take() {
            let page: Page = self.call(Method::GET, &path, None).await?.json()?;
            let Some(items) = page.value else {
                return Err(unexpected(&path, "a list without a value array"));
            };
            out.extend(items);
            next = page.next_link;
        }
        Ok(out)
    }

    /// The clocks of the tokens a code was accepted from, as the local
    /// directory measures them (`GET /api/tokens`, beyond Entra: Microsoft
    /// Graph does not report drift). `None` where the endpoint does not
    /// exist (a real tenant answers 400 or 404).
    ///
    /// # Errors
    /// Any other failure of a page.
    pub async fn token_clocks(&self) -> Result<Option<Vec<TokenClock>>, Error> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            value: Vec<TokenClock>,
            #[serde(default)]
            next_after: Option<String>,
        }
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("{}/api/tokens", self.origin());
            if let Some(a) = &after {
                url.push_str("?after=");
                url.push_str(&encode(a));
            }
            let page: Page = match self.call(Method::GET, &url, None).await {
                Ok(r) => r.json()?,
                Err(e) if not_reported(&e) => return Ok(None),
                Err(e) => return Err(e),
            };
            out.extend(page.value);
            match page.next_after {
                Some(a) => after = Some(a),
                None => return Ok(Some(out)),
            }
        }
    }

    /// One token's clock from the local directory (`GET /api/tokens/{serial}`);
    /// `None` where drift is not reported (a real tenant) or the token was
    /// never used.
    ///
    /// # Errors
    /// Any other failure.
    pub async fn token_clock(&self, serial: &str) -> Result<Option<TokenClock>, Error> {
        let url = format!("{}/api/tokens/{}", self.origin(), path_segment(serial));
        match self.call(Method::GET, &url, None).await {
            Ok(r) => {
                let c: TokenClock = r.json()?;
                Ok(c.last_used_date_time.is_some().then_some(c))
            }
            Err(e) if not_reported(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A token's code lock at the local directory (`GET
    /// /api/tokens/{serial}`, beyond Entra); `None` where it is not
    /// reported (a real tenant) or no wrong code is counted.
    ///
    /// # Errors
    /// Any other failure.
    pub async fn token_lock(&self, serial: &str) -> Result<Option<TokenLock>, Error> {
        let url = format!("{}/api/tokens/{}", self.origin(), path_segment(serial));
        match self.call(Method::GET, &url, None).await {
            Ok(r) => {
                let l: TokenLock = r.json()?;
                Ok((l.failed_attempts.is_some() || l.locked_until.is_some()).then_some(l))
            }
            Err(e) if not_reported(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Clears a token's code lock at the local directory (`DELETE
    /// /api/locks/tokens/{serial}`, beyond Entra).
    ///
    /// # Errors
    /// As [`Graph::call`].
    pub async fn clear_token_lock(&self, serial: &str) -> Result<(), Error> {
        let url = format!(
            "{}/api/locks/tokens/{}",
            self.origin(),
            path_segment(serial)
        );
        self.call(Method::DELETE, &url, None).await?;
        Ok(())
    }

    /// Clears a user's code lock at the local directory (`DELETE
    /// /api/locks/users/{user}`, beyond Entra).
    ///
    /// # Errors
    /// As [`Graph::call`].
    pub async fn clear_user_lock(&self, user: &str) -> Result<(), Error> {
        let url = format!("{}/api/locks/users/{}", self.origin(), path_segment(user));
        self.call(Method::DELETE, &url, None).await?;
        Ok(())
    }

    /// A user by object id or user principal name.
    ///
    /// # Errors
    /// As [`Graph::call`] (`404` for an unknown user).
    pub async fn user(&self, id_or_upn: &str) -> Result<User, Error> {
        let path = format!(
            "/users/{}?$select=id,userPrincipalName,displayName",
            path_segment(id_or_upn)
        );
        let reply = self.call(Method::GET, &path, None).await?;
        reply.json()
    }

    fn methods(user: &str) -> String {
        format!(
            "/users/{}/authentication/hardwareOathMethods",
            path_segment(user)
        )
    }

    /// Assigns a device to a user.
    ///
    /// # Errors
    /// As [`Graph::call`].
    pub async fn assign(&self, user: &str, device_id: &str) -> Result<(), Error> {
        let body = json!({ "device": { "id": device_id } });
        self.call(Method::POST, &Self::methods(user), Some(&body))
            .await
            .map(|_| ())
    }

    /// Activates a user's device with the code it shows (a string: leading
    /// zeros matter).
    ///
    /// # Errors
    /// As [`Graph::call`] (a wrong code is a `400`).
    pub async fn activate(&self, user: &str, device_id: &str, code: &str) -> Result<(), Error> {
        let body = json!({ "verificationCode": code });
        let path = format!(
            "{}/{}/activate",
            Self::methods(user),
            path_segment(device_id)
        );
        self.call(Method::POST, &path, Some(&body))
            .await
            .map(|_| ())
    }

    /// Deactivates a user's device (it stays assigned).
    ///
    /// # Errors
    /// As [`Graph::call`].
    pub async fn deactivate(&self, user: &str, device_id: &str) -> Result<(), Error> {
        let path = format!(
            "{}/{}/deactivate",
            Self::methods(user),
            path_segment(device_id)
        );
        self.call(Method::POST, &path, None).await.map(|_| ())
    }

    /// Unassigns a device from its user (it stays in the inventory).
    ///
    /// # Errors
    /// As [`Graph::call`].
    pub async fn unassign(&self, user: &str, device_id: &str) -> Result<(), Error> {
        let path = format!("{}/{}", Self::methods(user), path_segment(device_id));
        self.call(Method::DELETE, &path, None).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oathvault_token::{Secret, Serial, Step};
    use serde_json::Value;

    #[test]
    fn encoding_and_literals() {
        assert_eq!(
            encode("serialNumber eq 'A 1'"),
            "serialNumber%20eq%20%27A%201%27"
        );
        assert_eq!(literal("O'Brien"), "'O''Brien'");
        assert_eq!(encode("ü"), "%C3%BC");
    }

    #[test]
    fn device_body_is_graphs_shape() {
        let mut t = Token::totp(
            Serial::new("007").unwrap(),
            Secret::new(b"12345678901234567890".to_vec()).unwrap(),
            Step::S60,
        );
        t.manufacturer = Some("Contoso".into());
        t.model = Some("M \"1\"".into());
        let b = device_body(&t, Some(3), Some("u-1")).unwrap();
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(
            v,
            json!({
                "@contentId": "3", "serialNumber": "007", "manufacturer": "Contoso",
                "model": "M \"1\"", "timeIntervalInSeconds": 60, "hashFunction": "hmacsha1",
                "assignTo": { "id": "u-1" }, "secretKey": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
            })
        );
    }
}
