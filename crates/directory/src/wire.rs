//! Request bodies that create tokens (`POST` and `#$delta`), read straight
//! from the request's bytes into typed fields: no JSON tree in between, and
//! strings borrowed from the body wherever they need no unescaping. A
//! string that had to be unescaped (and so copied) is wiped when dropped,
//! since `secretKey` is one of them.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;
use zeroize::Zeroize;

/// A JSON string, borrowed from the body when it can be.
#[derive(Default)]
pub struct Text<'a>(Cow<'a, str>);

impl Text<'_> {
    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for Text<'_> {
    fn drop(&mut self) {
        if let Cow::Owned(s) = &mut self.0 {
            s.zeroize();
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// `timeIntervalInSeconds`: a number, or (as Microsoft's bulk example
/// sends it) a string; a string that is not a number reads as missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seconds(pub Option<i64>);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number of seconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                Ok(Seconds(Some(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                Ok(Seconds(i64::try_from(v).ok()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Seconds, E> {
                Ok(Seconds(None))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Seconds, E> {
                Ok(Seconds(v.trim().parse().ok()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `assignTo`.
#[derive(Default, Deserialize)]
pub struct AssignTo<'a> {
    /// The user's object id.
    #[serde(borrow, default)]
    pub id: Option<Text<'a>>,
}

/// A token to create.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceIn<'a> {
    /// `@contentId` (`#$delta` items).
    #[serde(borrow, default, rename = "@contentId")]
    pub content_id: Option<Text<'a>>,
    /// `serialNumber`.
    #[serde(borrow, default)]
    pub serial_number: Option<Text<'a>>,
    /// `manufacturer`.
    #[serde(borrow, default)]
    pub manufacturer: Option<Text<'a>>,
    /// `model`.
    #[serde(borrow, default)]
    pub model: Option<Text<'a>>,
    /// `displayName`.
    #[serde(borrow, default)]
    pub display_name: Option<Text<'a>>,
    /// `secretKey` (Base32).
    #[serde(borrow, default)]
    pub secret_key: Option<Text<'a>>,
    /// `hashFunction`.
    #[serde(borrow, default)]
    pub hash_function: Option<Text<'a>>,
    /// `timeIntervalInSeconds`.
    #[serde(default)]
    pub time_interval_in_seconds: Option<Seconds>,
    /// `assignTo` (`null` is none).
    #[serde(borrow, default)]
    pub assign_to: Option<AssignTo<'a>>,
}

/// A `#$delta` body: its items are kept raw so that each one's error can
/// name the item.
#[derive(Deserialize)]
pub struct DeltaIn<'a> {
    /// `value`.
    #[serde(borrow, default)]
    pub value: Option<Vec<&'a RawValue>>,
}

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// Not JSON at all.
    Syntax(String),
    /// JSON, but not an object.
    NotObject,
    /// An object with a field of the wrong type.
    Shape(String),
}

/// Reads `T` from an object body.
///
/// # Errors
/// What was wrong, as [`BodyError`].
pub fn object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, BodyError> {
    serde_json::from_slice(body).map_err(|e| {
        let first = body.iter().find(|b| !b.is_ascii_whitespace());
        match e.classify() {
            serde_json::error::Category::Data if first != Some(&b'{') => BodyError::NotObject,
            serde_json::error::Category::Data => BodyError::Shape(e.to_string()),
            _ => BodyError::Syntax(e.to_string()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let body = br#"{"serialNumber":"S-1","model":"caf\u00e9","timeIntervalInSeconds":"60",
            "assignTo":{"id":"u"},"other":[1,{"x":2}]}"#;
        let d: DeviceIn<'_> = object(body).unwrap();
        assert!(matches!(
            d.serial_number.as_ref().unwrap().0,
            Cow::Borrowed("S-1")
        ));
        assert!(matches!(&d.model.as_ref().unwrap().0, Cow::Owned(s) if s == "café"));
        assert_eq!(d.time_interval_in_seconds, Some(Seconds(Some(60))));
        assert_eq!(d.assign_to.unwrap().id.unwrap().as_str(), "u");
        assert!(d.secret_key.is_none());
    }

    #[test]
    fn intervals_read_as_numbers_or_strings() {
        for (json, want) in [
            ("30", Some(30)),
            ("\"60\"", Some(60)),
            ("\"x\"", None),
            ("1.5", None),
        ] {
            let body = format!(r#"{{"timeIntervalInSeconds":{json}}}"#);
            let d: DeviceIn<'_> = object(body.as_bytes()).unwrap();
            assert_eq!(d.time_interval_in_seconds, Some(Seconds(want)), "{json}");
        }
    }

    #[test]
    fn errors_say_what_kind() {
        assert_eq!(
            object::<DeviceIn<'_>>(b"[1]").err(),
            Some(BodyError::NotObject)
        );
        assert!(matches!(
            object::<DeviceIn<'_>>(b"{\"model\":"),
            Err(BodyError::Syntax(_))
        ));
        assert!(matches!(
            object::<DeviceIn<'_>>(b"{\"model\":5}"),
            Err(BodyError::Shape(_))
        ));
        let delta: DeltaIn<'_> = object(br#"{"value":[{"a":1}, 7]}"#).unwrap();
        assert_eq!(delta.value.unwrap().len(), 2);
    }
}
