//! The `OData` system query options the directory's list endpoints accept.
//!
//! Microsoft Graph list endpoints take `$filter`, `$select`, `$top`,
//! `$skiptoken` and `$count`. The clients this directory serves (scripts and
//! tools written for the hardware OATH endpoints) use only a small part of
//! `OData`: equality filters on a few properties, a property list, a page size
//! and the paging cursor from `@odata.nextLink`. This module parses exactly
//! that part and refuses the rest the way Graph does, so a client never gets
//! a silently wrong answer:
//!
//! * `$filter`: `property eq literal` comparisons joined by `and`, with
//!   optional parentheses. A property may be a path (`assignedTo/id`). A
//!   literal is a single-quoted string (`''` is a quote), an integer, `true`,
//!   `false` or `null`. Other operators (`ne`, `gt`, `or`, `not`, functions
//!   such as `startswith(...)`, `any`/`all` lambdas) are refused with
//!   `Request_UnsupportedQuery`; a malformed clause with `BadRequest`.
//! * `$select`: a comma-separated property list (`*` means all).
//! * `$top`: a positive integer; values above the resource's maximum are
//!   capped to it, as Graph does.
//! * `$skiptoken`: our opaque paging cursor, passed through.
//! * `$count`: `true` or `false`.
//!
//! Option names are case-insensitive and the `$` is optional (Graph beta
//! accepts `filter=`). Other `$` options (`$orderby`, `$expand`, `$search`,
//! `$skip`, ...) and their `$`-less spellings are refused with
//! `Request_UnsupportedQuery`; other parameters (`api-version`, ...) are
//! ignored. The query string is attacker-controlled: parsing never panics and
//! never recurses, and messages quote at most a short prefix of the input.

//!
//! The parts live in modules by what they do: [`parse`] reads the options
//! (here), `filter` reads `$filter`, `select` reads and applies `$select`,
//! `link` writes the query of `@odata.nextLink`, and `percent` decodes and
//! encodes query strings.

use std::borrow::Cow;

pub use link::next_link_query;
pub use select::apply_select;

use filter::parse_filter;
use percent::decode;
use select::parse_select;

mod filter;
mod link;
mod percent;
mod select;

#[cfg(test)]
mod tests;

/// The error code for a malformed query.
const BAD_REQUEST: &str = "BadRequest";
/// The error code for valid `OData` this directory does not implement.
const UNSUPPORTED: &str = "Request_UnsupportedQuery";
/// The message for any filter beyond `eq` and `and`.
const UNSUPPORTED_FILTER: &str =
    "Unsupported query: only 'eq' comparisons joined by 'and' are supported here";
/// How many characters of client input an error message quotes.
const SHOWN_CHARS: usize = 64;

/// also mean them without the `$` (as Graph beta reads them). Any other
/// `$`-option is refused too; other `$`-less names are ignored.
const OTHER_OPTIONS: &[&str] = &[
    "orderby",
    "expand",
    "search",
    "skip",
    "apply",
    "compute",
    "deltatoken",
];

/// A literal on the right of `eq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// A single-quoted string, unescaped (`''` read as `'`).
    Str(String),
    /// An integer.
    Int(i64),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// One `property eq literal` condition (property may be a path like `assignedTo/id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The property, spelled as in [`Allowed::filter`].
    pub property: String,
    /// The value it must equal.
    pub value: Literal,
}

/// The parsed options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The `$filter` conditions, all of which must hold; empty without `$filter`.
    pub filter: Vec<Condition>,
    /// The `$select` properties, spelled as in [`Allowed::select`]; `None`
    /// without `$select` or with `$select=*`.
    pub select: Option<Vec<String>>,
    /// The `$top` page size, capped to [`Allowed::max_top`].
    pub top: Option<usize>,
    /// The `$skiptoken` paging cursor, percent-decoded.
    pub skiptoken: Option<String>,
    /// Whether `$count=true` was given.
    pub count: bool,
}

/// What a resource allows.
#[derive(Debug, Clone, Copy)]
pub struct Allowed<'a> {
    /// The properties `$filter` may compare, in the resource's spelling.
    pub filter: &'a [&'a str],
    /// The properties `$select` may name, in the resource's spelling.
    pub select: &'a [&'a str],
    /// The largest page; a larger `$top` is capped to it.
    pub max_top: usize,
}

/// Why a query is refused; `message` is shown to the client in Graph's error body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// Graph's error code: `BadRequest` or `Request_UnsupportedQuery`.
    pub code: &'static str,
    /// The message for the client.
    pub message: String,
}

/// A malformed query.
fn bad(message: impl Into<String>) -> QueryError {
    QueryError {
        code: BAD_REQUEST,
        message: message.into(),
    }
}

/// A well-formed query this directory does not implement.
fn unsupported(message: impl Into<String>) -> QueryError {
    QueryError {
        code: UNSUPPORTED,
        message: message.into(),
    }
}

/// At most [`SHOWN_CHARS`] characters of client input, for a message.
fn shown(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => Cow::Owned(format!("{}...", s.get(..end).unwrap_or_default())),
        None => Cow::Borrowed(s),
    }
}

/// The allowed spelling of `name`, compared case-insensitively.
fn lookup<'a>(allowed: &[&'a str], name: &str) -> Option<&'a str> {
    allowed
        .iter()
        .copied()
        .find(|a| a.eq_ignore_ascii_case(name))
}

/// The system query options this module implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opt {
    Filter,
    Select,
    Top,
    Skiptoken,
    Count,
}

impl Opt {
    /// All options, in the order `next_link_query` writes them.
    const ALL: [Opt; 5] = [
        Opt::Filter,
        Opt::Select,
        Opt::Top,
        Opt::Count,
        Opt::Skiptoken,
    ];

    /// The option's name without the `$`.
    fn name(self) -> &'static str {
        match self {
            Opt::Filter => "filter",
            Opt::Select => "select",
            Opt::Top => "top",
            Opt::Skiptoken => "skiptoken",
            Opt::Count => "count",
        }
    }

    /// The option called `name` (without the `$`), case-insensitively.
    fn from_name(name: &str) -> Option<Opt> {
        Opt::ALL
            .into_iter()
            .find(|o| o.name().eq_ignore_ascii_case(name))
    }

    /// A bit for duplicate detection.
    fn bit(self) -> u8 {
        match self {
            Opt::Filter => 1,
            Opt::Select => 2,
            Opt::Top => 4,
            Opt::Skiptoken => 8,
            Opt::Count => 16,
        }
    }
}

/// Parses a raw query string (the part after `?`, still percent-encoded; may be empty).
pub fn parse(raw: &str, allowed: Allowed<'_>) -> Result<Query, QueryError> {
    let raw = raw.strip_prefix('?').unwrap_or(raw);
    let mut query = Query::default();
    let mut seen = 0u8;
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(raw_key)?;
        let value = decode(raw_value)?;
        let (dollar, name) = match key.strip_prefix('$') {
            Some(name) => (true, name),
            None => (false, &*key),
        };
        let Some(opt) = Opt::from_name(name) else {
            if dollar || OTHER_OPTIONS.iter().any(|o| o.eq_ignore_ascii_case(name)) {
                return Err(unsupported(format!(
                    "Unsupported query option '${}': only $filter, $select, $top, $skiptoken \
                     and $count are supported here",
                    shown(name)
                )));
            }
            continue;
        };
        if seen & opt.bit() != 0 {
            return Err(bad(format!(
                "Query option '${}' was specified more than once.",
                opt.name()
            )));
        }
        seen |= opt.bit();
        match opt {
            Opt::Filter => query.filter = parse_filter(&value, allowed.filter)?,
            Opt::Select => query.select = parse_select(&value, allowed.select)?,
            Opt::Top => query.top = Some(parse_top(&value, allowed.max_top)?),
            Opt::Skiptoken => {
                if value.is_empty() {
                    return Err(bad("Invalid value for $skiptoken: it is empty."));
                }
                query.skiptoken = Some(value.into_owned());
            }
            Opt::Count => {
                query.count = if value.eq_ignore_ascii_case("true") {
                    true
                } else if value.eq_ignore_ascii_case("false") {
                    false
                } else {
                    return Err(bad(format!(
                        "Invalid value for $count: '{}'; expected true or false.",
                        shown(&value)
                    )));
                };
            }
        }
    }
    Ok(query)
}

/// Parses `$top`: a positive integer, capped to `max_top`.
fn parse_top(value: &str, max_top: usize) -> Result<usize, QueryError> {
    let invalid = || {
        bad(format!(
            "Invalid value for $top: '{}'; expected an integer from 1 to {max_top}.",
            shown(value)
        ))
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    // All digits, so the only parse error is overflow: a huge page is capped too.
    let top = value.parse::<usize>().unwrap_or(usize::MAX).min(max_top);
    if top == 0 {
        return Err(invalid());
    }
    Ok(top)
}
