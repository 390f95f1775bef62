//! The integration tests of `oathvault-formats`, in one test binary (one
//! link instead of one per file): each file beside this one is a module,
//! and each keeps its proptest regressions beside it.

mod convert;
mod formats;
mod pskc;
mod pskc_seeds;
mod pskc_signature;
mod pskc_threads;
