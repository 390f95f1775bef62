#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| oathvault_fuzz::read(oathvault_formats::Format::YubicoCsv, data));
