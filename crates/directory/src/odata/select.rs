//! `$select`: reading the property list and keeping only those
//! properties of an answer.

use serde_json::{Map, Value};

use super::{QueryError, bad, lookup, shown};

/// Parses `$select`: comma-separated properties; `*` selects everything.
pub(super) fn parse_select(
    value: &str,
    allowed: &[&str],
) -> Result<Option<Vec<String>>, QueryError> {
    let mut selected = Vec::new();
    let mut everything = false;
    for item in value.split(',') {
        let item = item.trim_matches(|c: char| c.is_ascii_whitespace());
        if item.is_empty() {
            return Err(bad(
                "Parsing OData Select and Expand failed: a property name is empty.",
            ));
        }
        if item == "*" {
            everything = true;
            continue;
        }
        let Some(name) = lookup(allowed, item) else {
            return Err(bad(format!(
                "Parsing OData Select and Expand failed: Could not find a property named '{}'.",
                shown(item)
            )));
        };
        if !selected.iter().any(|s: &String| s == name) {
            selected.push(name.to_owned());
        }
    }
    Ok(if everything { None } else { Some(selected) })
}

/// Keeps only the selected properties of a JSON object (always keeping keys starting with `@odata.`); no-op when select is None.
///
/// A selected path (`assignedTo/id`) keeps its first segment (`assignedTo`),
/// and a property's annotations (`status@odata.type`) stay with it.
pub fn apply_select(obj: &mut Map<String, Value>, select: Option<&[String]>) {
    let Some(select) = select else {
        return;
    };
    obj.retain(|key, _| {
        if key.starts_with("@odata.") {
            return true;
        }
        let property = key.split_once('@').map_or(key.as_str(), |(p, _)| p);
        select
            .iter()
            .any(|s| s.split_once('/').map_or(s.as_str(), |(head, _)| head) == property)
    });
}
