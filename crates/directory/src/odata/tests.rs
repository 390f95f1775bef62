//! The parser's tests: options, encodings, `$select`, `@odata.nextLink`,
//! and a fuzz loop; `$filter` grammar in `filter`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

use serde_json::json;

use super::*;

mod filter;

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
    let q = ok("filter=serialNumber+eq+'TOTP123456'&select=id,serialNumber&top=50&api-version=1");
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
