//! The integration tests of `oathvault-packaging`, in one test binary (one
//! link instead of one per file): each file beside this one is a module.

mod pgp_interop;
mod testdata;
mod zip_interop;
