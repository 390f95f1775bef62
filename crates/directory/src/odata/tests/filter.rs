//! The `$filter` grammar: Microsoft's examples, literals, quoting,
//! parentheses, and what is refused.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

use super::super::Literal;
use super::{assert_bad, assert_unsupported_filter, cond, err, ok, s};

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
