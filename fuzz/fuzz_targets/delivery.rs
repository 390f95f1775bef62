#![no_main]
//! Opening a delivery (OpenPGP, then ZIP, then the manifest) never panics,
//! whatever the bytes. ZIPs get a password so the AES and ZipCrypto paths
//! run; OpenPGP input gets none: a password would run its S2K (65 M SHA-256
//! rounds at GnuPG's default count) on every mutated input and stall the
//! fuzzer, so the OpenPGP side fuzzes the packet parser and the layer logic.
use libfuzzer_sys::fuzz_target;
use oathvault_packaging::Password;
use oathvault_packaging::package::{Unseal, open};
use oathvault_packaging::pgp::is_pgp;

fuzz_target!(|data: &[u8]| {
    let password = Password::new("fuzz");
    let unseal = Unseal {
        password: (!is_pgp(data)).then_some(&password),
        ..Unseal::default()
    };
    let _ = open(data, "delivery.zip.pgp", &unseal);
});
