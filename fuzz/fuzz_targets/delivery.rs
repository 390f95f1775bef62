#![no_main]
//! Opening a delivery (OpenPGP, then ZIP, then the manifest) never panics,
//! whatever the bytes; a password is given so the AES and ZipCrypto paths run.
use libfuzzer_sys::fuzz_target;
use oathvault_packaging::package::{Unseal, open};
use oathvault_packaging::Password;

fuzz_target!(|data: &[u8]| {
    let password = Password::new("fuzz");
    let unseal = Unseal {
        password: Some(&password),
        ..Unseal::default()
    };
    let _ = open(data, "delivery.zip.pgp", &unseal);
});
