//! `$filter`: `property eq literal` comparisons joined by `and`, with
//! parentheses; everything else `OData` allows is refused as unsupported.

use std::iter::Peekable;

use super::{Condition, Literal, QueryError, UNSUPPORTED_FILTER, bad, lookup, shown, unsupported};

/// A malformed `$filter`.
fn bad_filter(detail: &str) -> QueryError {
    bad(format!("Invalid filter clause: {detail}"))
}

/// `OData` comparison, arithmetic and logical operators other than `eq` and
/// `and`: a well-formed query may use them, so they are unsupported rather
/// than malformed.
const OTHER_OPERATORS: &[&str] = &[
    "ne", "gt", "ge", "lt", "le", "has", "in", "or", "not", "add", "sub", "mul", "div", "divby",
    "mod",
];

/// `OData` system query options this module does not implement whose names
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
pub(super) fn parse_filter(value: &str, allowed: &[&str]) -> Result<Vec<Condition>, QueryError> {
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
