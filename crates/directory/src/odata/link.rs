//! The query string of `@odata.nextLink`.

use super::percent::encode_into;
use super::{Literal, Opt, Query};

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
