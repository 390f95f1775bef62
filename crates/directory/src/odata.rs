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

use std::borrow::Cow;
use std::iter::Peekable;

use serde_json::{Map, Value};

/// The error code for a malformed query.
const BAD_REQUEST: &str = "BadRequest";
/// The error code for valid `OData` this directory does not implement.
const UNSUPPORTED: &str = "Request_UnsupportedQuery";
/// The message for any filter beyond `eq` and `and`.
const UNSUPPORTED_FILTER: &str =
    "Unsupported query: only 'eq' comparisons joined by 'and' are supported here";
/// How many characters of client input an error message quotes.
const SHOWN_CHARS: usize = 64;

/// `OData` comparison, arithmetic and logical operators other than `eq` and
/// `and`: a well-formed query may use them, so they are unsupported rather
/// than malformed.
const OTHER_OPERATORS: &[&str] = &[
    "ne", "gt", "ge", "lt", "le", "has", "in", "or", "not", "add", "sub", "mul", "div", "divby",
    "mod",
];

/// `OData` system query options this module does not implement whose names
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

/// A malformed `$filter`.
fn bad_filter(detail: &str) -> QueryError {
    bad(format!("Invalid filter clause: {detail}"))
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

/// Percent-decodes one key or value of a query string, reading `+` as a space.
fn decode(s: &str) -> Result<Cow<'_, str>, QueryError> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let high = bytes.next().and_then(hex_value);
                let low = bytes.next().and_then(hex_value);
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(bad(
                        "The query string has an invalid percent-encoding: '%' must be followed \
                         by two hexadecimal digits.",
                    ));
                };
                out.push((high << 4) | low);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| bad("The query string is not valid UTF-8 once percent-decoded."))
}

/// The value of one hexadecimal digit.
fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
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

/// Parses `$select`: comma-separated properties; `*` selects everything.
fn parse_select(value: &str, allowed: &[&str]) -> Result<Option<Vec<String>>, QueryError> {
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

/// A token of a `$filter` expression.
#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    /// `(`
    Open,
    /// `)`
    Close,
    /// `,` (only inside function calls, which are unsupported).
    Comma,
    /// A single-quoted string literal, unescaped.
    Str(String),
    /// Anything else up to whitespace or punctuation: a property, a keyword,
    /// a number, `true`, `null`.
    Word(&'a str),
}

/// Splits a decoded `$filter` into tokens, lazily.
#[derive(Debug)]
struct Lexer<'a> {
    /// What is left to read.
    rest: &'a str,
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Result<Token<'a>, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.rest = self
            .rest
            .trim_start_matches(|c: char| c.is_ascii_whitespace());
        let mut chars = self.rest.chars();
        let first = chars.next()?;
        let after_first = chars.as_str();
        let token = match first {
            '(' => Token::Open,
            ')' => Token::Close,
            ',' => Token::Comma,
            '\'' => return Some(self.string(after_first)),
            _ => {
                let end = self
                    .rest
                    .find(|c: char| c.is_ascii_whitespace() || matches!(c, '(' | ')' | ',' | '\''))
                    .unwrap_or(self.rest.len());
                let (word, rest) = self.rest.split_at_checked(end).unwrap_or((self.rest, ""));
                self.rest = rest;
                return Some(Ok(Token::Word(word)));
            }
        };
        self.rest = after_first;
        Some(Ok(token))
    }
}

impl<'a> Lexer<'a> {
    /// Reads a string literal whose opening quote has been read; `body` follows it.
    fn string(&mut self, body: &'a str) -> Result<Token<'a>, QueryError> {
        let mut out = String::new();
        let mut chars = body.chars();
        loop {
            match chars.next() {
                None => {
                    self.rest = "";
                    return Err(bad_filter("a string literal is not closed."));
                }
                Some('\'') => {
                    let after = chars.as_str();
                    if let Some(escaped) = after.strip_prefix('\'') {
                        out.push('\'');
                        chars = escaped.chars();
                    } else {
                        self.rest = after;
                        return Ok(Token::Str(out));
                    }
                }
                Some(c) => out.push(c),
            }
        }
    }
}

/// The next token, with a lexing error passed on.
fn next_token<'a>(tokens: &mut Peekable<Lexer<'a>>) -> Result<Option<Token<'a>>, QueryError> {
    tokens.next().transpose()
}

/// Whether the next token opens a parenthesis (so the word before it is a
/// function or lambda).
fn opens_call(tokens: &mut Peekable<Lexer<'_>>) -> bool {
    matches!(tokens.peek(), Some(Ok(Token::Open)))
}

/// Whether `word` is an `OData` operator or keyword other than `eq` and `and`.
fn is_other_operator(word: &str) -> bool {
    OTHER_OPERATORS.iter().any(|o| o.eq_ignore_ascii_case(word))
}

/// Parses `$filter`: `property eq literal` joined by `and`, with balanced
/// parentheses anywhere a conjunction may stand. Without `or` and `not` any
/// parenthesisation means the same conjunction, so a depth counter replaces
/// recursion. Properties are checked once the whole clause has parsed, so an
/// unsupported operator is reported before an unknown property.
fn parse_filter(value: &str, allowed: &[&str]) -> Result<Vec<Condition>, QueryError> {
    let mut tokens = Lexer { rest: value }.peekable();
    if tokens.peek().is_none() {
        return Err(bad_filter("it is empty."));
    }
    let mut parsed: Vec<(&str, Literal)> = Vec::new();
    let mut depth = 0usize;
    loop {
        // Opening parentheses, then the property.
        let property = loop {
            match next_token(&mut tokens)? {
                Some(Token::Open) => depth += 1,
                Some(Token::Word(word)) => break word,
                Some(Token::Str(_)) => {
                    return Err(bad_filter(
                        "expected a property name on the left of 'eq', found a string.",
                    ));
                }
                Some(Token::Close | Token::Comma) | None => {
                    return Err(bad_filter("expected a comparison."));
                }
            }
        };
        if property.eq_ignore_ascii_case("not") || opens_call(&mut tokens) {
            return Err(unsupported(UNSUPPORTED_FILTER));
        }
        // The operator.
        match next_token(&mut tokens)? {
            Some(Token::Word(op)) if op.eq_ignore_ascii_case("eq") => {}
            Some(Token::Word(op)) if is_other_operator(op) => {
                return Err(unsupported(UNSUPPORTED_FILTER));
            }
            _ => {
                return Err(bad_filter(&format!(
                    "expected 'eq' after '{}'.",
                    shown(property)
                )));
            }
        }
        // The literal.
        let literal = match next_token(&mut tokens)? {
            Some(Token::Str(s)) => Literal::Str(s),
            Some(Token::Word(word)) => {
                if opens_call(&mut tokens) {
                    return Err(unsupported(UNSUPPORTED_FILTER));
                }
                word_literal(word)?
            }
            _ => return Err(bad_filter("expected a literal after 'eq'.")),
        };
        parsed.push((property, literal));
        // Closing parentheses, then `and` or the end.
        loop {
            match next_token(&mut tokens)? {
                None if depth == 0 => return resolve(parsed, allowed),
                None => return Err(bad_filter("a parenthesis is not closed.")),
                Some(Token::Close) => {
                    depth = depth
                        .checked_sub(1)
                        .ok_or_else(|| bad_filter("a closing parenthesis has no opening one."))?;
                }
                Some(Token::Word(word)) if word.eq_ignore_ascii_case("and") => break,
                Some(Token::Word(word)) if is_other_operator(word) => {
                    return Err(unsupported(UNSUPPORTED_FILTER));
                }
                Some(_) => {
                    return Err(bad_filter("expected 'and' or the end after a comparison."));
                }
            }
        }
    }
}

/// Reads an unquoted literal: `true`, `false`, `null` or an integer.
fn word_literal(word: &str) -> Result<Literal, QueryError> {
    if word.eq_ignore_ascii_case("true") {
        return Ok(Literal::Bool(true));
    }
    if word.eq_ignore_ascii_case("false") {
        return Ok(Literal::Bool(false));
    }
    if word.eq_ignore_ascii_case("null") {
        return Ok(Literal::Null);
    }
    let digits = word.strip_prefix('-').unwrap_or(word);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_filter(&format!(
            "'{}' is not a supported literal; quote strings as 'text'.",
            shown(word)
        )));
    }
    word.parse()
        .map(Literal::Int)
        .map_err(|_| bad_filter(&format!("the integer '{}' is out of range.", shown(word))))
}

/// Maps parsed properties to their allowed spelling.
fn resolve(parsed: Vec<(&str, Literal)>, allowed: &[&str]) -> Result<Vec<Condition>, QueryError> {
    parsed
        .into_iter()
        .map(|(property, value)| match lookup(allowed, property) {
            Some(name) => Ok(Condition {
                property: name.to_owned(),
                value,
            }),
            None => Err(bad_filter(&format!(
                "property '{}' is not supported for filtering",
                shown(property)
            ))),
        })
        .collect()
}

/// Writes a query string (percent-encoded, `$`-prefixed names, spaces as %20) for `@odata.nextLink`, keeping filter/select/top and setting the skiptoken.
///
/// `$count=true` is kept as well, so every page of a counted listing carries
/// `@odata.count`. The result has no leading `?`.
#[must_use]
pub fn next_link_query(q: &Query, skiptoken: &str) -> String {
    let mut out = String::new();
    for opt in Opt::ALL {
        match opt {
            Opt::Filter if !q.filter.is_empty() => {
                let mut filter = String::new();
                for (i, condition) in q.filter.iter().enumerate() {
                    if i > 0 {
                        filter.push_str(" and ");
                    }
                    filter.push_str(&condition.property);
                    filter.push_str(" eq ");
                    match &condition.value {
                        Literal::Str(s) => {
                            filter.push('\'');
                            filter.push_str(&s.replace('\'', "''"));
                            filter.push('\'');
                        }
                        Literal::Int(n) => filter.push_str(&n.to_string()),
                        Literal::Bool(b) => filter.push_str(if *b { "true" } else { "false" }),
                        Literal::Null => filter.push_str("null"),
                    }
                }
                push_option(&mut out, opt);
                encode_into(&mut out, &filter);
            }
            Opt::Select => {
                if let Some(select) = &q.select {
                    push_option(&mut out, opt);
                    for (i, name) in select.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        encode_into(&mut out, name);
                    }
                }
            }
            Opt::Top => {
                if let Some(top) = q.top {
                    push_option(&mut out, opt);
                    out.push_str(&top.to_string());
                }
            }
            Opt::Count if q.count => {
                push_option(&mut out, opt);
                out.push_str("true");
            }
            Opt::Skiptoken => {
                push_option(&mut out, opt);
                encode_into(&mut out, skiptoken);
            }
            Opt::Filter | Opt::Count => {}
        }
    }
    out
}

/// Appends `&$name=` (no `&` first).
fn push_option(out: &mut String, opt: Opt) {
    if !out.is_empty() {
        out.push('&');
    }
    out.push('$');
    out.push_str(opt.name());
    out.push('=');
}

/// Appends `s` percent-encoded for a query value: unreserved characters and
/// the `OData` punctuation `' / , : @ ( )` stay; everything else, spaces
/// included, becomes `%XX`.
fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'_' | b'~' | b'\'' | b'/' | b',' | b':' | b'@' | b'(' | b')'
            )
        {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex_digit(b >> 4));
            out.push(hex_digit(b & 0x0f));
        }
    }
}

/// The upper-case hexadecimal digit for a nibble.
fn hex_digit(nibble: u8) -> char {
    match nibble {
        0..=9 => char::from(b'0' + nibble),
        _ => char::from(b'A' + (nibble & 0x0f) - 10),
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;
    use serde_json::json;

    const FILTER: &[&str] = &[
        "serialNumber",
        "status",
        "assignedTo/id",
        "timeIntervalInSeconds",
        "userPrincipalName",
        "manufacturer",
    ];
    const SELECT: &[&str] = &[
        "id",
        "serialNumber",
        "status",
        "assignedTo",
        "manufacturer",
        "model",
        "timeIntervalInSeconds",
        "displayName",
    ];

    fn allowed() -> Allowed<'static> {
        Allowed {
            filter: FILTER,
            select: SELECT,
            max_top: 100,
        }
    }

    fn ok(raw: &str) -> Query {
        parse(raw, allowed()).unwrap_or_else(|e| panic!("{raw:?}: {e:?}"))
    }

    fn err(raw: &str) -> QueryError {
        parse(raw, allowed()).unwrap_err()
    }

    fn cond(property: &str, value: Literal) -> Condition {
        Condition {
            property: property.to_owned(),
            value,
        }
    }

    fn s(v: &str) -> Literal {
        Literal::Str(v.to_owned())
    }

    fn assert_unsupported_filter(raw: &str) {
        let e = err(raw);
        assert_eq!(e.code, "Request_UnsupportedQuery", "{raw}: {e:?}");
        assert_eq!(e.message, UNSUPPORTED_FILTER, "{raw}");
    }

    fn assert_bad(raw: &str) -> QueryError {
        let e = err(raw);
        assert_eq!(e.code, "BadRequest", "{raw}: {e:?}");
        e
    }

    #[test]
    fn empty_query() {
        assert_eq!(ok(""), Query::default());
        assert_eq!(ok("?"), Query::default());
        assert_eq!(ok("&&"), Query::default());
    }

    #[test]
    fn microsoft_examples() {
        assert_eq!(
            ok("$filter=status eq 'activated'").filter,
            [cond("status", s("activated"))]
        );
        assert_eq!(
            ok("$filter=serialNumber eq 'TOTP123456'").filter,
            [cond("serialNumber", s("TOTP123456"))]
        );
        assert_eq!(
            ok("$filter=assignedTo/id eq '0cadbf92-8b2e-4e4a-9c28-6e2f1b1e0a11'").filter,
            [cond(
                "assignedTo/id",
                s("0cadbf92-8b2e-4e4a-9c28-6e2f1b1e0a11")
            )]
        );
        assert_eq!(
            ok("$filter=timeIntervalInSeconds eq 30").filter,
            [cond("timeIntervalInSeconds", Literal::Int(30))]
        );
        assert_eq!(
            ok("$filter=userPrincipalName eq 'amy@contoso.com'").filter,
            [cond("userPrincipalName", s("amy@contoso.com"))]
        );
    }

    #[test]
    fn full_encoded_example() {
        let q = ok("$filter=serialNumber%20eq%20'TOTP123456'&$select=id,serialNumber&$top=50");
        assert_eq!(
            q,
            Query {
                filter: vec![cond("serialNumber", s("TOTP123456"))],
                select: Some(vec!["id".to_owned(), "serialNumber".to_owned()]),
                top: Some(50),
                skiptoken: None,
                count: false,
            }
        );
    }

    #[test]
    fn encoded_variants() {
        let want = [cond("serialNumber", s("TOTP123456"))];
        for raw in [
            "%24filter=serialNumber%20eq%20%27TOTP123456%27",
            "$filter=serialNumber+eq+'TOTP123456'",
            "filter=serialNumber eq 'TOTP123456'",
            "%24filter=serialNumber+eq+%27TOTP123456%27",
            "%24FILTER=serialNumber%20eq%20'TOTP123456'",
            "$Filter=serialNumber%20eq%20'TOTP123456'",
            "?$filter=serialNumber eq 'TOTP123456'",
            "%24filter=serialNumber%20eq%20%27TOTP123456%27&api-version=1",
        ] {
            assert_eq!(ok(raw).filter, want, "{raw}");
        }
        assert_eq!(ok("select=id").select, Some(vec!["id".to_owned()]));
        assert_eq!(ok("top=5").top, Some(5));
        assert_eq!(ok("%24top=5").top, Some(5));
        assert!(ok("count=true").count);
        assert_eq!(ok("skiptoken=abc").skiptoken.as_deref(), Some("abc"));
    }

    #[test]
    fn utf8_and_escapes() {
        // é as %C3%A9, and raw.
        assert_eq!(
            ok("$filter=userPrincipalName%20eq%20'ren%C3%A9@contoso.com'").filter,
            [cond("userPrincipalName", s("rené@contoso.com"))]
        );
        assert_eq!(
            ok("$filter=userPrincipalName eq 'rené@contoso.com'").filter,
            [cond("userPrincipalName", s("rené@contoso.com"))]
        );
        // Four-byte character.
        assert_eq!(
            ok("$filter=serialNumber eq '%F0%9F%94%91'").filter,
            [cond("serialNumber", s("🔑"))]
        );
        // %2B is a plus, + is a space, %26 an ampersand inside a value.
        assert_eq!(
            ok("$filter=serialNumber+eq+'a%2Bb+c%26d%3De'").filter,
            [cond("serialNumber", s("a+b c&d=e"))]
        );
        // Lower-case hex.
        assert_eq!(
            ok("$filter=serialNumber%20eq%20%27x%2fy%27").filter,
            [cond("serialNumber", s("x/y"))]
        );
    }

    #[test]
    fn invalid_percent_encoding() {
        for raw in [
            "$filter=serialNumber eq '%'",
            "$filter=serialNumber eq '%2'",
            "$filter=serialNumber eq '%zz'",
            "$filter=serialNumber eq '%C3'",    // truncated UTF-8
            "$filter=serialNumber eq '%FF'",    // never valid UTF-8
            "$filter=serialNumber eq '%C0%AF'", // overlong
            "%2=x",
            "api-version=%",
            "$top=1%",
        ] {
            assert_bad(raw);
        }
    }

    #[test]
    fn quote_escapes() {
        assert_eq!(
            ok("$filter=serialNumber eq 'O''Brien'").filter,
            [cond("serialNumber", s("O'Brien"))]
        );
        assert_eq!(
            ok("$filter=serialNumber%20eq%20%27O%27%27Brien%27").filter,
            [cond("serialNumber", s("O'Brien"))]
        );
        assert_eq!(
            ok("$filter=serialNumber eq ''''").filter,
            [cond("serialNumber", s("'"))]
        );
        assert_eq!(
            ok("$filter=serialNumber eq ''").filter,
            [cond("serialNumber", s(""))]
        );
        assert_eq!(
            ok("$filter=serialNumber eq 'a and b eq ''c'''").filter,
            [cond("serialNumber", s("a and b eq 'c'"))]
        );
        assert_bad("$filter=serialNumber eq 'abc");
        assert_bad("$filter=serialNumber eq 'abc''");
    }

    #[test]
    fn literals() {
        assert_eq!(
            ok("$filter=timeIntervalInSeconds eq -30").filter,
            [cond("timeIntervalInSeconds", Literal::Int(-30))]
        );
        assert_eq!(
            ok("$filter=status eq null").filter,
            [cond("status", Literal::Null)]
        );
        assert_eq!(
            ok("$filter=status eq TRUE and manufacturer eq false").filter,
            [
                cond("status", Literal::Bool(true)),
                cond("manufacturer", Literal::Bool(false))
            ]
        );
        assert_eq!(
            ok("$filter=timeIntervalInSeconds eq 9223372036854775807").filter,
            [cond("timeIntervalInSeconds", Literal::Int(i64::MAX))]
        );
        assert_bad("$filter=timeIntervalInSeconds eq 9223372036854775808");
        assert_bad("$filter=timeIntervalInSeconds eq 30.5");
        assert_bad("$filter=timeIntervalInSeconds eq -");
        assert_bad("$filter=serialNumber eq TOTP123456");
        assert_bad("$filter=serialNumber eq status");
    }

    #[test]
    fn case_insensitivity_and_spelling() {
        let q = ok("$filter=SERIALNUMBER EQ 'x' AND Status Eq 'available'&$select=SerialNumber,ID");
        assert_eq!(
            q.filter,
            [cond("serialNumber", s("x")), cond("status", s("available"))]
        );
        assert_eq!(
            q.select,
            Some(vec!["serialNumber".to_owned(), "id".to_owned()])
        );
        assert_eq!(
            ok("$filter=AssignedTo/ID eq 'u1'").filter,
            [cond("assignedTo/id", s("u1"))]
        );
        // String values keep their case.
        assert_eq!(
            ok("$filter=status eq 'Activated'").filter,
            [cond("status", s("Activated"))]
        );
    }

    #[test]
    fn whitespace_and_parentheses() {
        let want = [cond("status", s("available"))];
        for raw in [
            "$filter=(status eq 'available')",
            "$filter=( status  eq   'available' )",
            "$filter=((status eq 'available'))",
            "$filter=  status\teq'available'  ",
            "$filter=status%20%20eq%20%20'available'",
        ] {
            assert_eq!(ok(raw).filter, want, "{raw}");
        }
        let two = [
            cond("status", s("available")),
            cond("serialNumber", s("S1")),
        ];
        for raw in [
            "$filter=status eq 'available' and serialNumber eq 'S1'",
            "$filter=(status eq 'available') and (serialNumber eq 'S1')",
            "$filter=(status eq 'available' and serialNumber eq 'S1')",
            "$filter=((status eq 'available') and serialNumber eq 'S1')",
            "$filter=status eq 'available'  AND  serialNumber eq 'S1'",
        ] {
            assert_eq!(ok(raw).filter, two, "{raw}");
        }
        for raw in [
            "$filter=(status eq 'available'",
            "$filter=status eq 'available')",
            "$filter=(status eq 'available'))",
            "$filter=()",
            "$filter=status eq 'available' and",
            "$filter=status eq 'available' and (",
            "$filter=and status eq 'available'",
            "$filter=status eq",
            "$filter=status 'available'",
            "$filter=status",
            "$filter='available' eq status",
            "$filter=status eq 'a' status eq 'b'",
            "$filter=status eq 'a' eq 'b'",
            "$filter=status eq 'a',",
            "$filter=",
            "$filter=   ",
            "filter",
        ] {
            assert_bad(raw);
        }
    }

    #[test]
    fn unknown_properties() {
        let e = assert_bad("$filter=secretKey eq 'x'");
        assert_eq!(
            e.message,
            "Invalid filter clause: property 'secretKey' is not supported for filtering"
        );
        // Properties are checked after the clause parses.
        assert_eq!(
            err("$filter=secretKey eq 'x' or status eq 'y'").code,
            "Request_UnsupportedQuery"
        );
        let e = assert_bad("$select=id,secretKey");
        assert_eq!(
            e.message,
            "Parsing OData Select and Expand failed: Could not find a property named 'secretKey'."
        );
        assert_bad("$select=id,");
        assert_bad("$select=");
        // Long names are quoted short.
        let long = "x".repeat(10_000);
        let e = assert_bad(&format!("$filter={long} eq 1"));
        assert!(e.message.len() < 200, "{}", e.message.len());
    }

    #[test]
    fn unsupported_operators() {
        for raw in [
            "$filter=status ne 'activated'",
            "$filter=timeIntervalInSeconds gt 30",
            "$filter=timeIntervalInSeconds lt 30",
            "$filter=timeIntervalInSeconds ge 30",
            "$filter=timeIntervalInSeconds LE 30",
            "$filter=startswith(serialNumber,'TOTP')",
            "$filter=startswith(serialNumber, 'TOTP') and status eq 'a'",
            "$filter=contains(serialNumber,'123')",
            "$filter=status eq 'a' or status eq 'b'",
            "$filter=status eq 'a' OR status eq 'b'",
            "$filter=not status eq 'a'",
            "$filter=not(status eq 'a')",
            "$filter=assignedTo/any(a:a/id eq '1')",
            "$filter=assignedTo/all(a:a/id eq '1')",
            "$filter=status in ('a','b')",
            "$filter=timeIntervalInSeconds eq 30 add 1",
            "$filter=status eq tolower('A')",
            "$filter=serialNumber eq 'a' and startswith(status,'x')",
        ] {
            assert_unsupported_filter(raw);
        }
    }

    #[test]
    fn unsupported_options() {
        for raw in [
            "$orderby=serialNumber",
            "$expand=assignedTo",
            "$search=\"TOTP\"",
            "$skip=10",
            "%24skip=10",
            "$ORDERBY=serialNumber",
            "orderby=serialNumber",
            "$whatever=1",
            "$=1",
            "$id=1",
            "$format=json",
        ] {
            let e = err(raw);
            assert_eq!(e.code, "Request_UnsupportedQuery", "{raw}");
        }
        // Other parameters are ignored.
        assert_eq!(
            ok("api-version=2024-01-01&foo&bar=%20&id=1&format=json"),
            Query::default()
        );
    }

    #[test]
    fn duplicates() {
        for raw in [
            "$filter=status eq 'a'&$filter=status eq 'b'",
            "$filter=status eq 'a'&filter=status eq 'b'",
            "$filter=status eq 'a'&%24FILTER=status eq 'b'",
            "$top=1&$top=1",
            "$select=id&select=id",
            "$skiptoken=a&$skiptoken=b",
            "$count=true&count=false",
        ] {
            let e = assert_bad(raw);
            assert!(e.message.contains("more than once"), "{raw}: {e:?}");
        }
    }

    #[test]
    fn top() {
        assert_eq!(ok("$top=1").top, Some(1));
        assert_eq!(ok("$top=100").top, Some(100));
        assert_eq!(ok("$top=007").top, Some(7));
        // Capped, not refused.
        assert_eq!(ok("$top=101").top, Some(100));
        assert_eq!(ok("$top=999999").top, Some(100));
        assert_eq!(ok("$top=99999999999999999999999999999").top, Some(100));
        for raw in [
            "$top=0", "$top=000", "$top=-1", "$top=", "$top=ten", "$top=1.5", "$top= 5", "$top=+5",
        ] {
            let e = assert_bad(raw);
            assert!(
                e.message.starts_with("Invalid value for $top: "),
                "{raw}: {e:?}"
            );
        }
    }

    #[test]
    fn count_and_skiptoken() {
        assert!(ok("$count=true").count);
        assert!(ok("$count=TRUE").count);
        assert!(!ok("$count=false").count);
        assert_bad("$count=yes");
        assert_bad("$count=");
        assert_bad("$count");
        assert_eq!(
            ok("$skiptoken=abc%2Bdef%3D%3D").skiptoken.as_deref(),
            Some("abc+def==")
        );
        assert_bad("$skiptoken=");
    }

    #[test]
    fn select() {
        assert_eq!(
            ok("$select=id, serialNumber ,status").select,
            Some(vec![
                "id".to_owned(),
                "serialNumber".to_owned(),
                "status".to_owned()
            ])
        );
        assert_eq!(ok("$select=id,ID,id").select, Some(vec!["id".to_owned()]));
        assert_eq!(ok("$select=*").select, None);
        assert_eq!(ok("$select=id%2CserialNumber").select.unwrap().len(), 2);
    }

    #[test]
    fn apply_select_keeps_selected_and_annotations() {
        let mut obj = json!({
            "@odata.context": "https://example/$metadata#x/$entity",
            "@odata.type": "#microsoft.graph.hardwareOathTokenAuthenticationMethodDevice",
            "id": "1",
            "serialNumber": "S1",
            "serialNumber@odata.type": "#String",
            "status": "available",
            "assignedTo": {"id": "u1", "displayName": "Amy"},
            "manufacturer": "Contoso",
        })
        .as_object()
        .cloned()
        .unwrap();
        let all = obj.clone();
        apply_select(&mut obj, None);
        assert_eq!(obj, all);

        let q = ok("$select=serialNumber,assignedTo");
        apply_select(&mut obj, q.select.as_deref());
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "@odata.context",
                "@odata.type",
                "assignedTo",
                "serialNumber",
                "serialNumber@odata.type"
            ]
        );
        assert_eq!(obj["assignedTo"]["displayName"], "Amy");

        let mut obj = all.clone();
        apply_select(&mut obj, Some(&["assignedTo/id".to_owned()]));
        assert!(obj.contains_key("assignedTo"));
        assert!(!obj.contains_key("id"));

        let mut obj = all;
        apply_select(&mut obj, Some(&[]));
        assert!(obj.keys().all(|k| k.starts_with("@odata.")));
    }

    #[test]
    fn next_link_round_trip() {
        let queries = [
            "$filter=serialNumber%20eq%20'TOTP123456'&$select=id,serialNumber&$top=50",
            "$filter=serialNumber eq 'O''Brien %26 co %3D 100%25%2B ren%C3%A9 🔑' and timeIntervalInSeconds eq -30 and status eq null and manufacturer eq true",
            "$top=500&$count=true",
            "$select=status",
            "",
        ];
        for raw in queries {
            let q = ok(raw);
            for token in ["abc", "a+b/c=d&e%f é", "x"] {
                let link = next_link_query(&q, token);
                assert!(!link.contains(' '), "{link}");
                assert!(!link.contains('+'), "{link}");
                let back = ok(&link);
                let mut want = q.clone();
                want.skiptoken = Some(token.to_owned());
                assert_eq!(back, want, "{raw} -> {link}");
            }
        }
    }

    #[test]
    fn next_link_shape() {
        let q =
            ok("filter=serialNumber+eq+'TOTP123456'&select=id,serialNumber&top=50&api-version=1");
        assert_eq!(
            next_link_query(&q, "p2"),
            "$filter=serialNumber%20eq%20'TOTP123456'&$select=id,serialNumber&$top=50&$skiptoken=p2"
        );
        assert_eq!(next_link_query(&Query::default(), "t"), "$skiptoken=t");
        assert_eq!(
            next_link_query(&ok("$count=true"), "t"),
            "$count=true&$skiptoken=t"
        );
    }

    #[test]
    fn error_display_is_message() {
        let e = err("$filter=status ne 'a'");
        assert_eq!(e.to_string(), UNSUPPORTED_FILTER);
    }

    #[test]
    fn fuzz_never_panics() {
        const PIECES: &[&str] = &[
            "$filter=",
            "filter=",
            "%24filter=",
            "$select=",
            "$top=",
            "$skiptoken=",
            "$count=",
            "$orderby=",
            "&",
            "=",
            "%",
            "%2",
            "%24",
            "%27",
            "%C3",
            "%A9",
            "%FF",
            "%F0%9F",
            "+",
            " ",
            "'",
            "''",
            "(",
            ")",
            ",",
            "eq",
            "EQ",
            "and",
            "or",
            "not",
            "ne",
            "any(",
            "a:a/",
            "status",
            "serialNumber",
            "assignedTo/id",
            "id",
            "*",
            "0",
            "7",
            "-",
            "99999999999999999999",
            "true",
            "null",
            "é",
            "🔑",
            "\t",
            "?",
            "$",
            "/",
        ];
        let mut state: u64 = 0x5eed_0a7b_1a5e_d00d;
        let mut next = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 33
        };
        let tight = Allowed {
            filter: FILTER,
            select: SELECT,
            max_top: 0,
        };
        for i in 0..2_000 {
            let len = usize::try_from(next() % 40).unwrap();
            let raw = if i % 2 == 0 {
                let bytes: Vec<u8> = (0..len).map(|_| (next() & 0xff) as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                (0..len)
                    .map(|_| PIECES[usize::try_from(next()).unwrap() % PIECES.len()])
                    .collect()
            };
            let _ = parse(&raw, allowed());
            let _ = parse(&raw, tight);
            // Whatever parses survives a round trip, with any token.
            if let Ok(mut q) = parse(&raw, allowed()) {
                let token = format!("t{raw}");
                let link = next_link_query(&q, &token);
                q.skiptoken = Some(token);
                assert_eq!(parse(&link, allowed()), Ok(q), "{raw:?}");
            }
        }
    }
}
