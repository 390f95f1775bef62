//! The fuzz seeds in `testdata/` open as their README says.
#![allow(clippy::panic, reason = "test helpers: a failure is a failed test")]

use std::path::Path;

use oathvault_packaging::Password;
use oathvault_packaging::package::{Layer, SignatureStatus, Unseal, open};
use oathvault_packaging::pgp::Opened;

fn testdata(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn fuzz_seeds_open_with_their_password() {
    let pw = Password::new("fuzz");
    let unseal = Unseal {
        password: Some(&pw),
        ..Unseal::default()
    };
    let zip = open(&testdata("golden-aes.zip"), "golden-aes.zip", &unseal)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(zip.layers, vec![Layer::Zip { encrypted: true }]);
    let sym = open(&testdata("golden-sym.pgp"), "golden-sym.pgp", &unseal)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sym.layers,
        vec![Layer::Pgp(Opened::Password), Layer::Zip { encrypted: true }]
    );
    for opened in [zip, sym] {
        assert_eq!(opened.files.len(), 1);
        assert_eq!(
            opened.files.first().map(|f| f.name.as_str()),
            Some("golden.entra.csv")
        );
        assert!(opened.mismatches.is_empty());
        assert!(opened.manifest.is_some());
        assert_eq!(opened.signature, SignatureStatus::Absent);
    }
}
