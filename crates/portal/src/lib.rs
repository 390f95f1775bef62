//! The vendor portal's workflow, shared by the command line and the web
//! pages: administration (customers, orders, shipments, staff), importing
//! factory seed files into a shipment with every secret sealed, rotating
//! the master key. Every action is audited by the store in the same
//! transaction as the change.
//!
//! Time and randomness come from the caller ([`Actor::now`], an RNG).

pub mod admin;
pub mod api;
pub mod checkpoint;
pub mod config;
pub mod delivery;
pub mod enrolment;
pub mod journey;
pub mod mail;
pub mod retention;
pub mod signing;
pub mod web;

pub use admin::{Actor, Admin, Error, ImportOutcome, NewStaff};
pub use config::{Config, ConfigError, LogFormat, WebSettings};
