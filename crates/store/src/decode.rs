//! Column types for `#[sqlx(try_from = …)]` where a stored value is not
//! the field's type as it is: a boolean expression (an integer on SQLite,
//! a bool on PostgreSQL) and a newline-separated list.

use sqlx::any::{Any, AnyTypeInfo, AnyValueRef};
use sqlx::error::BoxDynError;
use sqlx::{Decode, Type};

/// A boolean expression's value, whichever way the backend returns it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag(bool);

impl From<Flag> for bool {
    fn from(f: Flag) -> Self {
        f.0
    }
}

impl Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <bool as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <bool as Type<Any>>::compatible(ty) || <i64 as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for Flag {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        match <bool as Decode<Any>>::decode(value.clone()) {
            Ok(b) => Ok(Self(b)),
            Err(_) => Ok(Self(<i64 as Decode<Any>>::decode(value)? != 0)),
        }
    }
}

/// Text holding one item a line (empty lines skipped).
#[derive(Debug, Clone)]
pub(crate) struct Lines(String);

impl From<Lines> for Vec<String> {
    fn from(l: Lines) -> Self {
        l.0.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

impl Type<Any> for Lines {
    fn type_info() -> AnyTypeInfo {
        <String as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        <String as Type<Any>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Any> for Lines {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(<String as Decode<Any>>::decode(value)?))
    }
}
