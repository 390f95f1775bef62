//! The rules of an account, in one place for the three web apps: the
//! vendor portal's staff, the help desk's operators and the directory's
//! users.
//!
//! - [`password`]: Argon2id hashes, the strength rule, and a dummy hash so
//!   a miss costs as much as a wrong password;
//! - [`totp`]: the second factor's enrolment (`otpauth://` URI, QR code) and
//!   the purpose its sealed secret is bound to;
//! - [`Lockout`]: wrong attempts in a row lock an account for a while (one
//!   implementation, the store's, over whichever table holds the accounts);
//! - [`auth`]: signing in to one app over the store — password, then the
//!   code; lockout, rate limit, sessions;
//! - [`enrol`]: making an account with its role in each app;
//! - [`Policy`]: the sign-in limits and lifetimes;
//! - [`session`]: session tokens (random, shown once) and the hashes stored;
//! - [`App`]: which app an account signs in to; roles belong to each app.
//!
//! Nothing here reads the clock; randomness is passed in.

pub mod auth;
pub mod enrol;
pub mod password;
pub mod session;
pub mod totp;

pub use auth::{Auth, AuthError, may_use};
pub use enrol::{AccountError, NewAccount, add_account, check_email};
pub use oathvault_store::lockout::Lockout;

/// The web apps an account can sign in to; an account has a role in each
/// app separately (a help-desk operator is not a portal reviewer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    /// The vendor portal's staff pages.
    Portal,
    /// The help-desk console.
    Desk,
}

impl App {
    /// The app's name in messages and the audit (`portal`, `desk`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Portal => "portal",
            Self::Desk => "desk",
        }
    }
}

/// Sign-in limits and lifetimes.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Wrong passwords or codes in a row, and how long they lock an account.
    pub lockout: Lockout,
    /// Sign-in attempts allowed per source address per minute.
    pub per_source_per_minute: i64,
    /// Between the password and the code (seconds).
    pub pending_ttl: i64,
    /// A signed-in session (seconds).
    pub session_ttl: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            lockout: Lockout::default(),
            per_source_per_minute: 30,
            pending_ttl: 5 * 60,
            session_ttl: 8 * 3600,
        }
    }
}
