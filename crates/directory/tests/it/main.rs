//! The directory's integration tests, in one binary (one link instead of
//! one per file): Microsoft's documented requests and responses
//! (`conformance`), Microsoft's own Graph SDK (`msgraph_sdk`), certificate
//! client credentials (`assertion`), the people pages in process (`people`)
//! and in a real browser (`browser`). `common` holds what they share.

mod common;

mod assertion;
mod authorize;
mod browser;
mod codes;
mod conformance;
mod matrix;
mod msgraph_sdk;
mod people;
