//! The portal's integration tests, one binary: each module is one former
//! test file; `common` holds what they share.

mod api;
mod auth;
mod browser;
mod common;
mod delivery;
mod import_signature;
mod journey;
mod journey_browser;
mod layouts;
mod logs;
mod metrics;
mod pages;
mod web;
