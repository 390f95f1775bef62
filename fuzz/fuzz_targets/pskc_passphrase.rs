#![no_main]
//! The passphrase (PBKDF2) path of the PSKC reader: the passphrase of
//! RFC 6030 figure 7 ("qwerty"), iterations capped at 2,000 so a fuzzed
//! IterationCount cannot stall a run (figure 7 and the draft's figure 5,
//! among the seeds, ask for 1,000 and reach decryption and the MACs).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| oathvault_fuzz::read_passphrase(data, 2_000));
