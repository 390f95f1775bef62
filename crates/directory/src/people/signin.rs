//! Signing in: user name, password, then the code of a hardware token
//! when the user has an activated one; wrong ones in a row lock the
//! account. And signing out.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;

use super::{PENDING_TTL, SESSION_TTL, cookie, failed, hash, render, set_cookie, start_session};
use crate::DirState;
use crate::codes::Outcome;
use crate::rules::status;

pub(super) fn routes() -> Router<Arc<DirState>> {
    Router::new()
        .route("/login", axum::routing::get(login_page).post(login_user))
        .route("/login/password", post(login_password))
        .route("/login/code", post(login_code))
        .route("/logout", post(logout))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    step: &'static str,
    upn: String,
    problem: Option<String>,
    next: String,
}

#[derive(Template)]
#[template(path = "continue.html")]
struct ContinuePage<'a> {
    next: &'a str,
}

/// After signing in: to `next`. An authorize request is reached from a
/// page (a refresh and a link) rather than by redirecting the form post:
/// its answer redirects to the app, another origin, which the pages'
/// `form-action 'self'` forbids along a form post's redirects.
fn continue_to(next: &str) -> Response {
    if next.contains("/oauth2/v2.0/authorize?") {
        render(StatusCode::OK, &ContinuePage { next })
    } else {
        Redirect::to(next).into_response()
    }
}

/// Where to go after signing in (a path on this directory): device
/// login, an authorize request (`/{tenant}/oauth2/v2.0/authorize?…`, so
/// that the sign-in returns to it), else Security info. Nothing else, so
/// that a link to the sign-in page cannot send anyone elsewhere.
pub(crate) fn next_page(next: Option<&str>) -> String {
    let next = next.unwrap_or_default();
    let bare = next.strip_prefix('/').unwrap_or(next);
    if bare == "devicelogin" {
        return "/devicelogin".into();
    }
    let authorize = next
        .strip_prefix('/')
        .and_then(|rest| rest.split_once('?'))
        .and_then(|(path, _)| path.split_once('/'))
        .is_some_and(|(tenant, path)| {
            path == "oauth2/v2.0/authorize"
                && !tenant.is_empty()
                && tenant
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        });
    if authorize && !next.chars().any(|c| c == '\\' || c.is_control()) {
        next.to_owned()
    } else {
        "/security-info".into()
    }
}

fn login(
    status: StatusCode,
    step: &'static str,
    upn: &str,
    problem: Option<String>,
    next: String,
) -> Response {
    render(
        status,
        &LoginPage {
            step,
            upn: upn.to_owned(),
            problem,
            next,
        },
    )
}

#[derive(serde::Deserialize, Default)]
struct Next {
    next: Option<String>,
    /// The account to prefill (an authorize request's `login_hint`).
    login_hint: Option<String>,
}

async fn login_page(axum::extract::Query(q): axum::extract::Query<Next>) -> Response {
    let hint = q.login_hint.unwrap_or_default();
    login(
        StatusCode::OK,
        "user",
        hint.trim(),
        None,
        next_page(q.next.as_deref()),
    )
}

#[derive(serde::Deserialize)]
struct UserForm {
    upn: String,
    next: Option<String>,
}

/// Like Entra, the user name step does not tell whether the account exists.
async fn login_user(Form(f): Form<UserForm>) -> Response {
    let upn = f.upn.trim();
    let next = next_page(f.next.as_deref());
    if !upn.contains('@') {
        return login(
            StatusCode::UNPROCESSABLE_ENTITY,
            "user",
            upn,
            Some("Enter a valid email address, phone number, or Skype name.".into()),
            next,
        );
    }
    login(StatusCode::OK, "password", upn, None, next)
}

#[derive(serde::Deserialize)]
struct PasswordForm {
    upn: String,
    password: zeroize::Zeroizing<String>,
    next: Option<String>,
}

/// The one answer to a wrong password, an unknown account and a locked
/// one: which of them it was is not told (accounts cannot be enumerated).
const WRONG_PASSWORD: &str = "Your account or password is incorrect. After too many wrong attempts an account is locked for a while: try again later, or ask your administrator.";
const WRONG_CODE: &str = "You didn't enter the expected verification code. Sign in again.";
/// Wrong passwords or codes in a row that lock an account, and for how
/// long: the same rule as the portal's and the desk's staff.
const LOCKOUT: oathvault_store::lockout::Lockout = oathvault_store::lockout::Lockout {
    after: 10,
    seconds: 15 * 60,
};

/// The lockout: counts a wrong password or code against the user.
async fn record_failed_signin(st: &DirState, user_id: &str, now: i64) {
    if let Err(e) = st.db.signin_failed(user_id, now, &LOCKOUT).await {
        tracing::error!(error = %e, "a failed sign-in could not be counted");
    }
}

async fn login_password(State(st): State<Arc<DirState>>, Form(f): Form<PasswordForm>) -> Response {
    let next = next_page(f.next.as_deref());
    let upn = f.upn.trim().to_ascii_lowercase();
    let tenant = upn.split_once('@').map(|(_, d)| d).unwrap_or_default();
    let user = match st.db.tenant(tenant).await {
        Ok(Some(t)) => st.db.user(&t.id, &upn).await.ok().flatten(),
        Ok(None) => None,
        Err(e) => return failed(&e.into()),
    };
    // An unknown user costs an Argon2 check too: one answer, one time.
    let hash = user
        .as_ref()
        .map_or(DUMMY_HASH.as_str(), |u| u.password_hash.as_str());
    let ok = oathvault_vault::password::verify(&f.password, hash) && user.is_some();
    let now = st.now();
    let locked = match &user {
        Some(u) => match st.db.locked_until(&u.id).await {
            Ok(until) => until > now,
            Err(e) => return failed(&e.into()),
        },
        None => false,
    };
    let Some(user) = user.clone().filter(|_| ok && !locked) else {
        if let Some(u) = user.filter(|_| !locked) {
            record_failed_signin(&st, &u.id, now).await;
        }
        return login(
            StatusCode::UNAUTHORIZED,
            "password",
            &upn,
            Some(WRONG_PASSWORD.into()),
            next,
        );
    };
    let devices = match st.db.devices_of(&user.tenant_id, &user.id).await {
        Ok(d) => d,
        Err(e) => return failed(&e.into()),
    };
    let needs_code = devices.iter().any(|d| d.status == status::ACTIVATED);
    let (stage, ttl) = if needs_code {
        ("password", PENDING_TTL)
    } else {
        ("full", SESSION_TTL)
    };
    let cookie = match start_session(&st, &user, stage, ttl).await {
        Ok(c) => c,
        Err(e) => return failed(&e),
    };
    let mut r = if needs_code {
        login(StatusCode::OK, "code", &upn, None, next)
    } else {
        continue_to(&next)
    };
    r.headers_mut().append(header::SET_COOKIE, cookie);
    r
}

static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use rand08::SeedableRng;
    oathvault_vault::password::hash(
        &mut rand08::rngs::StdRng::seed_from_u64(0),
        "not a password",
    )
    .unwrap_or_default()
});

#[derive(serde::Deserialize)]
struct CodeForm {
    code: String,
    next: Option<String>,
}

async fn login_code(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let next = next_page(f.next.as_deref());
    let Some(token) = cookie(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let user = match st.db.session(&hash(&token), st.now()).await {
        Ok(Some((u, stage))) if stage == "password" => u,
        Ok(_) => return Redirect::to("/login").into_response(),
        Err(e) => return failed(&e.into()),
    };
    let devices = match st.db.devices_of(&user.tenant_id, &user.id).await {
        Ok(d) => d,
        Err(e) => return failed(&e.into()),
    };
    // One code per password: a wrong code ends the pending session and
    // counts towards the lock.
    let _ = st.db.delete_session(&hash(&token)).await;
    match crate::otp_api::spend_code(&st, Some(&user), devices, &f.code).await {
        Ok(Outcome::Accepted(_)) => {
            let _ = st.db.signin_succeeded(&user.id).await;
        }
        Ok(Outcome::Refused) => {
            record_failed_signin(&st, &user.id, st.now()).await;
            return login(
                StatusCode::UNAUTHORIZED,
                "password",
                &user.upn,
                Some(WRONG_CODE.into()),
                next,
            );
        }
        Ok(Outcome::Locked(until)) => {
            return login(
                StatusCode::UNAUTHORIZED,
                "password",
                &user.upn,
                Some(crate::codes::locked_message(until)),
                next,
            );
        }
        Err(e) => return failed(&e),
    }
    match start_session(&st, &user, "full", SESSION_TTL).await {
        Ok(c) => {
            let mut r = continue_to(&next);
            r.headers_mut().append(header::SET_COOKIE, c);
            r
        }
        Err(e) => failed(&e),
    }
}

async fn logout(State(st): State<Arc<DirState>>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie(&headers) {
        let _ = st.db.delete_session(&hash(&token)).await;
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut()
        .append(header::SET_COOKIE, set_cookie("", 0));
    r
}
