//! The integration tests of `oathvault-otp`, in one test binary (one link
//! instead of one per file): each file beside this one is a module.

mod vectors;
