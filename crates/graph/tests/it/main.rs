//! The integration tests of `oathvault-graph`, in one test binary (one link
//! instead of one per file): each file beside this one is a module.

mod replay;
