//! The web kit of oathvault's three web apps — the vendor portal, the help
//! desk and the directory — so that each is only its own pages:
//!
//! - [`mod@harden`]: CSRF refusal of cross-site form posts, request tracing
//!   (bearer tokens in link paths masked), security headers, HSTS;
//! - [`metrics`]: `/metrics` in Prometheus' text format, requests counted
//!   by route template, answered to loopback or a bearer token;
//! - [`page`]: rendering a template, cookies, redirects with a notice, the
//!   client's address, and [`page::OperationId`] — the number a failure
//!   page shows and the log holds;
//! - [`signin`]: the sign-in pages' steps and routes, generic over the app;
//! - [`upload`]: a seed file sent with a form, read whole;
//! - [`CSS`]: the one stylesheet, mobile first.

pub mod client;
pub mod harden;
pub mod metrics;
pub mod page;
pub mod signin;
pub mod upload;

pub use client::{ClientAddr, TrustedProxies, with_client_addr};
pub use harden::harden;
pub use metrics::{Gauge, Metrics, MetricsToken, instrument};
pub use page::{
    OperationId, cookie, query_value, render, see_other, serve_css, set_cookie, source_of, when,
};
pub use signin::{SignInApp, SignInForm, SignInSteps, signin_routes};

/// The one stylesheet of the three apps (served at [`CSS_PATH`]).
pub const CSS: &str = include_str!("../static/oathvault.css");

/// Where every app serves [`CSS`].
pub const CSS_PATH: &str = "/static/oathvault.css";
