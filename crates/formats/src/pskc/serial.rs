//! Where a PSKC key's serial comes from: `DeviceInfo/SerialNo`, else
//! `Key/@Id`; with `--serial-from`, the key's Id always, or a made-up
//! serial (a prefix and a running number) for keys that carry neither.

use std::fmt;
use std::str::FromStr;

/// How keys get a serial when the file does not give one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SerialFrom {
    /// Every key's serial is its `Key/@Id` (`KeyId` in the drafts), even
    /// when the device has a `SerialNo` (one device, several keys).
    KeyId,
    /// Keys without `SerialNo` and `Id` are named this prefix followed by
    /// 1, 2, … in file order.
    Sequence(String),
}

impl FromStr for SerialFrom {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "key-id" {
            return Ok(Self::KeyId);
        }
        if let Some(prefix) = s.strip_prefix("sequence:") {
            if prefix.chars().any(char::is_control) || prefix.len() > 64 {
                return Err("the sequence prefix must be printable and at most 64 bytes".into());
            }
            return Ok(Self::Sequence(prefix.to_owned()));
        }
        Err(format!(
            "unknown serial source {s:?} (known: key-id, sequence:PREFIX)"
        ))
    }
}

impl fmt::Display for SerialFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::KeyId => f.write_str("key-id"),
            Self::Sequence(p) => write!(f, "sequence:{p}"),
        }
    }
}

/// Gives each key its serial, counting those that were made up.
#[derive(Debug, Default)]
pub(crate) struct Serials {
    from: Option<SerialFrom>,
    /// Keys named by the sequence, and by `Key/@Id` under `key-id`.
    made: u64,
}

impl Serials {
    pub(crate) fn new(from: Option<SerialFrom>) -> Self {
        Self { from, made: 0 }
    }

    /// The serial of a key with this device serial and key Id; `None`: it
    /// has none and the reader was not told where to find one.
    pub(crate) fn serial(&mut self, device: Option<&str>, id: Option<&str>) -> Option<String> {
        match &self.from {
            None => device.or(id).map(str::to_owned),
            Some(SerialFrom::KeyId) => {
                let id = id?;
                if device != Some(id) {
                    self.made += 1;
                }
                Some(id.to_owned())
            }
            Some(SerialFrom::Sequence(prefix)) => {
                if let Some(s) = device.or(id) {
                    return Some(s.to_owned());
                }
                self.made += 1;
                Some(format!("{prefix}{}", self.made))
            }
        }
    }

    /// Whether serials are made up in file order (one thread must read).
    pub(crate) fn ordered(&self) -> bool {
        matches!(self.from, Some(SerialFrom::Sequence(_)))
    }

    /// The same source, nothing counted yet (for a reading thread).
    pub(crate) fn fresh(&self) -> Self {
        Self::new(self.from.clone())
    }

    /// Keys whose serial came from the option so far.
    pub(crate) fn made(&self) -> u64 {
        self.made
    }

    /// Adds what a reading thread counted.
    pub(crate) fn absorb(&mut self, made: u64) {
        self.made += made;
    }

    /// One line for the summary, when any serial came from the option.
    pub(crate) fn summary(&self) -> Option<String> {
        match (&self.from, self.made) {
            (_, 0) | (None, _) => None,
            (Some(SerialFrom::KeyId), n) => Some(format!(
                "--serial-from key-id: {n} key(s) took their serial from Key/@Id instead of DeviceInfo/SerialNo"
            )),
            (Some(SerialFrom::Sequence(p)), n) => Some(format!(
                "--serial-from sequence: {n} key(s) without a serial were named {p}1 to {p}{n}"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names() {
        assert_eq!("key-id".parse(), Ok(SerialFrom::KeyId));
        assert_eq!(
            "sequence:KW-".parse(),
            Ok(SerialFrom::Sequence("KW-".into()))
        );
        assert!("device".parse::<SerialFrom>().is_err());
        assert!("sequence:a\nb".parse::<SerialFrom>().is_err());
        let mut s = Serials::new(Some(SerialFrom::Sequence("X".into())));
        assert_eq!(s.serial(Some("1"), None).as_deref(), Some("1"));
        assert_eq!(s.serial(None, Some("k")).as_deref(), Some("k"));
        assert_eq!(s.serial(None, None).as_deref(), Some("X1"));
        assert_eq!(s.serial(None, None).as_deref(), Some("X2"));
        assert!(s.summary().is_some_and(|n| n.contains("X1 to X2")));
        let mut none = Serials::default();
        assert_eq!(none.serial(None, None), None);
        assert_eq!(none.summary(), None);
    }
}
