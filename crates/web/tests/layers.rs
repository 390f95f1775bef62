//! The crates' layers, read from `cargo metadata`: a crate may use the
//! crates below it, never one beside or above it. The help desk and the
//! portal stand side by side on the web kit; the kit and the accounts know
//! no app.
#![allow(
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test: a failure is a failed test"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Every workspace crate and the workspace crates it depends on (normal
/// dependencies only: tests may drive other apps).
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let mut deps = BTreeMap::new();
    for p in meta["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().expect("name").to_owned();
        let uses: BTreeSet<String> = p["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str())
            .filter(|n| n.starts_with("oathvault-"))
            .map(str::to_owned)
            .collect();
        deps.insert(name, uses);
    }
    deps
}

#[test]
fn no_crate_reaches_beside_or_above_itself() {
    let deps = dependencies();
    assert!(
        deps.len() >= 15,
        "the workspace's crates: {:?}",
        deps.keys()
    );
    let forbidden: &[(&str, &[&str])] = &[
        (
            "oathvault-desk",
            &["oathvault-portal", "oathvault-directory", "oathvault"],
        ),
        (
            "oathvault-portal",
            &["oathvault-desk", "oathvault-directory", "oathvault"],
        ),
        (
            "oathvault-directory",
            &["oathvault-portal", "oathvault-desk", "oathvault"],
        ),
        (
            "oathvault-web",
            &[
                "oathvault-portal",
                "oathvault-desk",
                "oathvault-directory",
                "oathvault",
            ],
        ),
        (
            "oathvault-accounts",
            &[
                "oathvault-web",
                "oathvault-portal",
                "oathvault-desk",
                "oathvault-directory",
            ],
        ),
        (
            "oathvault-store",
            &[
                "oathvault-accounts",
                "oathvault-web",
                "oathvault-portal",
                "oathvault-desk",
            ],
        ),
        (
            "oathvault-formats",
            &["oathvault-store", "oathvault-web", "oathvault-portal"],
        ),
        (
            "oathvault-token",
            &["oathvault-formats", "oathvault-otp", "oathvault-store"],
        ),
    ];
    let mut wrong = Vec::new();
    for (krate, not) in forbidden {
        let uses = deps
            .get(*krate)
            .unwrap_or_else(|| panic!("{krate} is not in the workspace"));
        for n in *not {
            if uses.contains(*n) {
                wrong.push(format!("{krate} depends on {n}"));
            }
        }
    }
    assert!(wrong.is_empty(), "layers broken: {wrong:?}");
}

#[test]
fn the_desk_stands_beside_the_portal() {
    let deps = dependencies();
    let desk = &deps["oathvault-desk"];
    assert!(!desk.contains("oathvault-portal"), "{desk:?}");
    assert!(desk.contains("oathvault-web") && desk.contains("oathvault-accounts"));
    assert!(deps["oathvault-portal"].contains("oathvault-web"));
}
