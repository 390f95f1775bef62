//! A vendor file against the tenant's inventory, by serial: what the
//! tenant lacks, what it has beyond the file, serials twice on either side,
//! and the states of the file's tokens in the tenant.

use std::collections::BTreeMap;

use oathvault_token::Token;

use crate::Device;

/// What a comparison found; every list by serial.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciliation {
    /// Serials in the file (once each).
    pub in_file: usize,
    /// Serials in the file and the tenant.
    pub in_both: usize,
    /// In the file, not in the tenant.
    pub missing: Vec<String>,
    /// In the tenant, not in the file.
    pub extra: Vec<String>,
    /// Twice or more in the file.
    pub file_duplicates: Vec<String>,
    /// Twice or more in the tenant.
    pub tenant_duplicates: Vec<String>,
    /// The file's tokens in the tenant, by status.
    pub states: BTreeMap<String, usize>,
}

impl Reconciliation {
    /// The file is all in the tenant, and no serial is there twice.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty()
            && self.file_duplicates.is_empty()
            && self.tenant_duplicates.is_empty()
    }
}

/// Compares `tokens` (a vendor file) with `devices` (the tenant).
#[must_use]
pub fn compare(tokens: &[Token], devices: &[Device]) -> Reconciliation {
    let mut in_file: BTreeMap<&str, usize> = BTreeMap::new();
    for t in tokens {
        *in_file.entry(t.serial.as_str()).or_default() += 1;
    }
    let mut in_tenant: BTreeMap<&str, Vec<&Device>> = BTreeMap::new();
    for d in devices {
        in_tenant
            .entry(d.serial_number.as_str())
            .or_default()
            .push(d);
    }
    let owned = |s: &&str| (*s).to_owned();
    let missing: Vec<String> = in_file
        .keys()
        .filter(|s| !in_tenant.contains_key(*s))
        .map(owned)
        .collect();
    let mut states = BTreeMap::new();
    for s in in_file.keys() {
        for d in in_tenant.get(s).into_iter().flatten() {
            *states.entry(d.status().to_owned()).or_default() += 1;
        }
    }
    Reconciliation {
        in_file: in_file.len(),
        in_both: in_file.len() - missing.len(),
        extra: in_tenant
            .keys()
            .filter(|s| !in_file.contains_key(*s))
            .map(owned)
            .collect(),
        file_duplicates: in_file
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(s, _)| owned(s))
            .collect(),
        tenant_duplicates: in_tenant
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(s, _)| owned(s))
            .collect(),
        missing,
        states,
    }
}

#[cfg(test)]
mod tests {
    use oathvault_token::{Secret, Serial, Step};

    use super::*;

    fn token(serial: &str) -> Token {
        Token::totp(
            Serial::new(serial).unwrap_or_else(|_| unreachable!()),
            Secret::new(vec![7; 20]).unwrap_or_else(|_| unreachable!()),
            Step::S30,
        )
    }

    fn device(serial: &str, status: &str) -> Device {
        Device {
            id: format!("id-{serial}"),
            serial_number: serial.into(),
            status: Some(status.into()),
            ..Device::default()
        }
    }

    #[test]
    fn every_difference_by_serial() {
        let file = [token("A"), token("B"), token("B"), token("C")];
        let tenant = [
            device("A", "available"),
            device("B", "activated"),
            device("D", "available"),
            device("D", "assigned"),
        ];
        let r = compare(&file, &tenant);
        assert_eq!(r.in_file, 3);
        assert_eq!(r.in_both, 2);
        assert_eq!(r.missing, ["C"]);
        assert_eq!(r.extra, ["D"]);
        assert_eq!(r.file_duplicates, ["B"]);
        assert_eq!(r.tenant_duplicates, ["D"]);
        assert_eq!(
            r.states.into_iter().collect::<Vec<_>>(),
            [("activated".to_owned(), 1), ("available".to_owned(), 1)]
        );
        assert!(!compare(&file, &tenant).is_clean());
        assert!(compare(&[token("A")], &[device("A", "available")]).is_clean());
    }
}
