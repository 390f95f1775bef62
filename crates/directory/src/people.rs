//! The people pages, with Entra's steps: sign in (user name, password,
//! then the code of a hardware token when the user has an activated one),
//! and Security info: the user's methods, "Add sign-in method" → "Hardware
//! token": serial number → name → code → done, and delete.
//!
//! Server-rendered, no JavaScript. Wizard steps carry what was entered in
//! hidden fields and every step checks it again, so no state waits on the
//! server. Sessions are stored as the SHA-256 of their cookie;
//! cross-site posts are refused (`CsrfLayer`).

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};

use crate::db::{Device, User};
use crate::rules::{self, Purpose, status};
use crate::{DirState, GraphError};

const COOKIE: &str = "dir_session";
/// A signed-in session lasts this long (seconds).
const SESSION_TTL: i64 = 8 * 3600;
/// Between the password and the code.
const PENDING_TTL: i64 = 300;

pub(crate) fn routes() -> Router<Arc<DirState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/security-info") }))
        .route("/login", get(login_page).post(login_user))
        .route("/login/password", post(login_password))
        .route("/login/code", post(login_code))
        .route("/logout", post(logout))
        .route("/devicelogin", get(devicelogin_page).post(devicelogin))
        .route("/devicelogin/confirm", post(devicelogin_confirm))
        .route("/security-info", get(security_info))
        .route("/security-info/delete", post(delete_method))
        .route("/security-info/add", get(add_method))
        .route(
            "/security-info/hardware-token",
            get(token_serial_page).post(token_serial),
        )
        .route("/security-info/hardware-token/name", post(token_name))
        .route("/security-info/hardware-token/code", post(token_code))
        .route(
            "/static/directory.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS) }),
        )
}

const CSS: &str = include_str!("../static/directory.css");

fn hash(token: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(token.as_bytes()))
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn render<T: Template>(status: StatusCode, t: &T) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page could not be rendered");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn failed(e: &GraphError) -> Response {
    tracing::error!(error = %e, "people pages: failure");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The directory is not available. Try again later.",
    )
        .into_response()
}

/// A new session; returns the `Set-Cookie` header.
async fn start_session(
    st: &DirState,
    user: &User,
    stage: &str,
    ttl: i64,
) -> Result<HeaderValue, GraphError> {
    let mut raw = zeroize::Zeroizing::new([0u8; 32]);
    rand08::RngCore::fill_bytes(&mut rand08::rngs::OsRng, &mut *raw);
    let token = data_encoding::BASE64URL_NOPAD.encode(&*raw);
    let now = st.now();
    st.db
        .create_session(&hash(&token), &user.id, stage, now + ttl, now)
        .await?;
    Ok(set_cookie(&token, ttl))
}

/// The session's user and stage.
async fn session(st: &DirState, headers: &HeaderMap) -> Result<Option<(User, String)>, GraphError> {
    match cookie(headers) {
        Some(token) => Ok(st.db.session(&hash(&token), st.now()).await?),
        None => Ok(None),
    }
}

/// The signed-in user, or a redirect to sign in.
async fn signed_in(st: &DirState, headers: &HeaderMap) -> Result<User, Response> {
    match session(st, headers).await {
        Ok(Some((user, stage))) if stage == "full" => Ok(user),
        Ok(_) => Err(Redirect::to("/login").into_response()),
        Err(e) => Err(failed(&e)),
    }
}

// ---------------------------------------------------------------- sign-in

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    step: &'static str,
    upn: String,
    problem: Option<&'static str>,
    next: &'static str,
}

/// Where to go after signing in: only these pages.
fn next_page(next: Option<&str>) -> &'static str {
    if next == Some("devicelogin") {
        "devicelogin"
    } else {
        "security-info"
    }
}

fn login(
    status: StatusCode,
    step: &'static str,
    upn: &str,
    problem: Option<&'static str>,
    next: &'static str,
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
}

async fn login_page(axum::extract::Query(q): axum::extract::Query<Next>) -> Response {
    login(
        StatusCode::OK,
        "user",
        "",
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
            Some("Enter a valid email address, phone number, or Skype name."),
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

const WRONG_PASSWORD: &str = "Your account or password is incorrect.";
const LOCKED: &str = "Your account is locked after too many wrong attempts. Try again later.";
const WRONG_CODE: &str = "You didn't enter the expected verification code. Sign in again.";
/// Wrong passwords or codes in a row that lock an account, and for how long.
const LOCK_AFTER: i64 = 10;
const LOCK_FOR: i64 = 15 * 60;

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
    if let Some(u) = &user {
        match st.db.locked_until(&u.id).await {
            Ok(until) if until > now => {
                return login(
                    StatusCode::UNAUTHORIZED,
                    "password",
                    &upn,
                    Some(LOCKED),
                    next,
                );
            }
            Ok(_) => {}
            Err(e) => return failed(&e.into()),
        }
        if !ok {
            let locked = st.db.signin_failed(&u.id, now, LOCK_AFTER, LOCK_FOR).await;
            let msg = if matches!(locked, Ok(t) if t > 0) {
                LOCKED
            } else {
                WRONG_PASSWORD
            };
            return login(StatusCode::UNAUTHORIZED, "password", &upn, Some(msg), next);
        }
    }
    let Some(user) = user.filter(|_| ok) else {
        return login(
            StatusCode::UNAUTHORIZED,
            "password",
            &upn,
            Some(WRONG_PASSWORD),
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
        Redirect::to(&format!("/{next}")).into_response()
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
    match crate::otp_api::spend_code(&st, devices, &f.code).await {
        Ok(Some(_)) => {
            let _ = st.db.signin_succeeded(&user.id).await;
        }
        Ok(None) => {
            let locked = st
                .db
                .signin_failed(&user.id, st.now(), LOCK_AFTER, LOCK_FOR)
                .await;
            let msg = if matches!(locked, Ok(t) if t > 0) {
                LOCKED
            } else {
                WRONG_CODE
            };
            return login(
                StatusCode::UNAUTHORIZED,
                "password",
                &user.upn,
                Some(msg),
                next,
            );
        }
        Err(e) => return failed(&e),
    }
    match start_session(&st, &user, "full", SESSION_TTL).await {
        Ok(c) => {
            let mut r = Redirect::to(&format!("/{next}")).into_response();
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

// ---------------------------------------------------------------- security info

/// A method row on Security info.
struct Method {
    id: String,
    name: String,
    serial: String,
    status: String,
}

#[derive(Template)]
#[template(path = "security_info.html")]
struct SecurityInfo {
    user: User,
    methods: Vec<Method>,
    notice: Option<String>,
}

fn methods(devices: Vec<Device>) -> Vec<Method> {
    devices
        .into_iter()
        .map(|d| Method {
            name: d
                .display_name
                .clone()
                .unwrap_or_else(|| format!("{} {}", d.manufacturer, d.model)),
            id: d.id,
            serial: d.serial,
            status: d.status,
        })
        .collect()
}

#[derive(serde::Deserialize, Default)]
struct Notice {
    notice: Option<String>,
}

async fn security_info(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<Notice>,
) -> Response {
    let user = match signed_in(&st, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match st.db.devices_of(&user.tenant_id, &user.id).await {
        Ok(devices) => render(
            StatusCode::OK,
            &SecurityInfo {
                user,
                methods: methods(devices),
                notice: q.notice.filter(|n| n == "added" || n == "deleted"),
            },
        ),
        Err(e) => failed(&e.into()),
    }
}

#[derive(serde::Deserialize)]
struct DeleteForm {
    id: String,
}

async fn delete_method(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    Form(f): Form<DeleteForm>,
) -> Response {
    let user = match signed_in(&st, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match st.db.device(&user.tenant_id, &f.id).await {
        Ok(Some(mut d)) if d.user.as_ref().is_some_and(|u| u.0 == user.id) => {
            d.user = None;
            d.assigned_at = None;
            d.status = status::AVAILABLE.into();
            d.drift = 0;
            if let Err(e) = st.db.save_device(&d).await {
                return failed(&e.into());
            }
            Redirect::to("/security-info?notice=deleted").into_response()
        }
        Ok(_) => Redirect::to("/security-info").into_response(),
        Err(e) => failed(&e.into()),
    }
}

#[derive(Template)]
#[template(path = "add_method.html")]
struct AddMethod {
    user: User,
}

async fn add_method(State(st): State<Arc<DirState>>, headers: HeaderMap) -> Response {
    match signed_in(&st, &headers).await {
        Ok(user) => render(StatusCode::OK, &AddMethod { user }),
        Err(r) => r,
    }
}

#[derive(Template)]
#[template(path = "hardware_token.html")]
struct TokenStep {
    user: User,
    step: &'static str,
    serial: String,
    name: String,
    interval: i64,
    problem: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct TokenForm {
    #[serde(default)]
    serial: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    code: String,
}

fn token_step(
    user: User,
    step: &'static str,
    f: &TokenForm,
    interval: i64,
    problem: Option<String>,
) -> Response {
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        status,
        &TokenStep {
            user,
            step,
            serial: f.serial.trim().to_owned(),
            name: f.name.trim().to_owned(),
            interval,
            problem,
        },
    )
}

async fn token_serial_page(State(st): State<Arc<DirState>>, headers: HeaderMap) -> Response {
    match signed_in(&st, &headers).await {
        Ok(user) => token_step(user, "serial", &TokenForm::default(), 30, None),
        Err(r) => r,
    }
}

/// The token with this serial, if this user may enrol it: available, or
/// already theirs.
async fn enrollable(
    st: &DirState,
    user: &User,
    serial: &str,
) -> Result<Option<Device>, GraphError> {
    let d = st
        .db
        .device_by_serial(&user.tenant_id, serial.trim())
        .await?;
    Ok(d.filter(|d| match &d.user {
        None => true,
        Some((owner, _)) => *owner == user.id,
    }))
}

const NOT_FOUND: &str = "We couldn't find a hardware token with this serial number that you can add. Check the number on the back of the token, or contact your administrator.";

async fn token_serial(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    let user = match signed_in(&st, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match enrollable(&st, &user, &f.serial).await {
        Ok(Some(d)) => {
            let f = TokenForm {
                name: d.display_name.clone().unwrap_or_default(),
                ..f
            };
            token_step(user, "name", &f, d.interval, None)
        }
        Ok(None) => token_step(user, "serial", &f, 30, Some(NOT_FOUND.into())),
        Err(e) => failed(&e),
    }
}

async fn token_name(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    let user = match signed_in(&st, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match enrollable(&st, &user, &f.serial).await {
        Ok(Some(d)) if f.name.trim().is_empty() => token_step(
            user,
            "name",
            &f,
            d.interval,
            Some("Enter a name for this token.".into()),
        ),
        Ok(Some(d)) => token_step(user, "code", &f, d.interval, None),
        Ok(None) => token_step(user, "serial", &f, 30, Some(NOT_FOUND.into())),
        Err(e) => failed(&e),
    }
}

async fn token_code(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    let user = match signed_in(&st, &headers).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let mut d = match enrollable(&st, &user, &f.serial).await {
        Ok(Some(d)) => d,
        Ok(None) => return token_step(user, "serial", &f, 30, Some(NOT_FOUND.into())),
        Err(e) => return failed(&e),
    };
    if d.user.is_none() {
        match st.db.methods_of(&user.id).await {
            Ok(n) if n >= rules::MAX_METHODS_PER_USER => {
                return token_step(
                    user,
                    "serial",
                    &f,
                    d.interval,
                    Some(format!(
                        "You already have {} authenticator methods of this kind, the most allowed. Delete one first.",
                        rules::MAX_METHODS_PER_USER
                    )),
                );
            }
            Ok(_) => {}
            Err(e) => return failed(&e.into()),
        }
    }
    let secret = match crate::open_secret(&st, &d) {
        Ok(s) => s,
        Err(e) => return failed(&e),
    };
    let now = st.now();
    let Some(ok) = rules::check(&d, &secret, &f.code, now, Purpose::Activation) else {
        return token_step(
            user,
            "code",
            &f,
            d.interval,
            Some("That code didn't work. Enter the code shown on the token now.".into()),
        );
    };
    if d.user.is_none() {
        d.user = Some((user.id.clone(), user.display_name.clone()));
        d.assigned_at = Some(now);
    }
    d.display_name = Some(f.name.trim().to_owned());
    d.status = status::ACTIVATED.into();
    d.drift = ok.drift;
    d.last_counter = Some(ok.counter);
    d.last_used = Some(now);
    if let Err(e) = st.db.save_device(&d).await {
        return failed(&e.into());
    }
    tracing::info!(user = %user.id, device = %d.id, "hardware token registered in Security info");
    token_step(user, "done", &f, d.interval, None)
}

// ---------------------------------------------------------------- device login

#[derive(Template)]
#[template(path = "devicelogin.html")]
struct DeviceLogin {
    user: User,
    step: &'static str,
    user_code: String,
    app: String,
    problem: Option<&'static str>,
}

fn device_page(
    user: User,
    step: &'static str,
    user_code: &str,
    app: &str,
    problem: Option<&'static str>,
) -> Response {
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    render(
        status,
        &DeviceLogin {
            user,
            step,
            user_code: user_code.to_owned(),
            app: app.to_owned(),
            problem,
        },
    )
}

async fn devicelogin_page(State(st): State<Arc<DirState>>, headers: HeaderMap) -> Response {
    match signed_in(&st, &headers).await {
        Ok(user) => device_page(user, "code", "", "", None),
        Err(_) => Redirect::to("/login?next=devicelogin").into_response(),
    }
}

#[derive(serde::Deserialize)]
struct DeviceCodeForm {
    user_code: String,
    decision: Option<String>,
}

const UNKNOWN_CODE: &str = "That code didn't work. Check the code and try again.";

/// The pending grant with this user code in the user's tenant, and its app's name.
async fn pending_grant(
    st: &DirState,
    user: &User,
    user_code: &str,
) -> Result<Option<String>, GraphError> {
    let code = user_code.trim().replace(['-', ' '], "");
    let grant = st.db.device_code(None, Some(&code)).await?;
    let Some(g) = grant
        .filter(|g| g.status == "pending" && g.expires > st.now() && g.tenant_id == user.tenant_id)
    else {
        return Ok(None);
    };
    let app = st.db.app(&g.client_id).await?;
    Ok(Some(app.map_or(g.client_id, |a| a.name)))
}

async fn devicelogin(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    Form(f): Form<DeviceCodeForm>,
) -> Response {
    let Ok(user) = signed_in(&st, &headers).await else {
        return Redirect::to("/login?next=devicelogin").into_response();
    };
    match pending_grant(&st, &user, &f.user_code).await {
        Ok(Some(app)) => device_page(user, "confirm", f.user_code.trim(), &app, None),
        Ok(None) => device_page(user, "code", &f.user_code, "", Some(UNKNOWN_CODE)),
        Err(e) => failed(&e),
    }
}

async fn devicelogin_confirm(
    State(st): State<Arc<DirState>>,
    headers: HeaderMap,
    Form(f): Form<DeviceCodeForm>,
) -> Response {
    let Ok(user) = signed_in(&st, &headers).await else {
        return Redirect::to("/login?next=devicelogin").into_response();
    };
    let app = match pending_grant(&st, &user, &f.user_code).await {
        Ok(Some(app)) => app,
        Ok(None) => return device_page(user, "code", &f.user_code, "", Some(UNKNOWN_CODE)),
        Err(e) => return failed(&e),
    };
    let approve = f.decision.as_deref() == Some("approve");
    let code = f
        .user_code
        .trim()
        .replace(['-', ' '], "")
        .to_ascii_uppercase();
    let status = if approve { "approved" } else { "declined" };
    match st.db.set_device_code(&code, status, Some(&user.id)).await {
        Ok(true) => {
            tracing::info!(user = %user.id, %status, "device code sign-in");
            device_page(
                user,
                if approve { "approved" } else { "declined" },
                &code,
                &app,
                None,
            )
        }
        Ok(false) => device_page(user, "code", &f.user_code, "", Some(UNKNOWN_CODE)),
        Err(e) => failed(&e.into()),
    }
}
