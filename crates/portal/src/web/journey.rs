//! The customer's pages: `/request` (find the order) → `/request/shipments`
//! → `/request/protection` → `/request/format` → `/request/summary` →
//! submit. The wizard is a draft in the database behind the `ov_wizard`
//! cookie; every step works without JavaScript.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use oathvault_formats::Format;
use oathvault_formats::custom_csv::Property;
use oathvault_packaging::pgp::KeyInfo;
use oathvault_store::{PickedShipment, Request, Shipment};

use super::{AppState, Frame, cookie, message, render, set_cookie};
use crate::journey::{FormatChoice, Found, JourneyError, Pick, Verified};

const WIZARD: &str = "__Host-ov_wizard";
/// Custom CSV rows on the form.
const COLUMNS: usize = 8;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/request", get(find_page).post(find))
        .route("/request/shipments", get(shipments_page).post(shipments))
        .route("/request/protection", get(protection_page).post(protection))
        .route("/request/format", get(format_page).post(format))
        .route("/request/summary", get(summary_page))
        .route("/request/submit", axum::routing::post(submit))
}

/// The customer's draft, from the wizard cookie; without one (or after it
/// expired) the customer is sent back to the start.
struct Wizard {
    request: Request,
    now: i64,
}

impl FromRequestParts<Arc<AppState>> for Wizard {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let now = st.now();
        let Some(c) = cookie(&parts.headers, WIZARD) else {
            return Err(Redirect::to("/request").into_response());
        };
        match st.journey().draft(&c, now).await {
            Ok(request) => Ok(Self { request, now }),
            Err(JourneyError::Gone) => Err(message(
                StatusCode::GONE,
                Frame::default(),
                "Request expired",
                "This request has expired or was already sent. Please start again.",
                Some("/request"),
            )),
            Err(e) => Err(failure(&e)),
        }
    }
}

/// A refused step: the customer's mistake (422, said on the page), or a
/// failure on our side (500, logged, said in general words).
fn failure(e: &JourneyError) -> Response {
    match e {
        JourneyError::Invalid(m) => message(
            StatusCode::UNPROCESSABLE_ENTITY,
            Frame::default(),
            "Please check",
            m,
            None,
        ),
        JourneyError::Gone => message(
            StatusCode::GONE,
            Frame::default(),
            "Request expired",
            "This request has expired or was already sent. Please start again.",
            Some("/request"),
        ),
        e => {
            tracing::error!(error = %e, "request step failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                Frame::default(),
                "Something went wrong",
                "Your request could not be saved. Nothing was sent; please try again in a moment.",
                None,
            )
        }
    }
}

#[derive(Template)]
#[template(path = "request_find.html")]
struct FindPage<'a> {
    frame: Frame,
    miss: bool,
    identifier: &'a str,
    email: &'a str,
    contact_hint: &'a str,
}

async fn find_page(State(st): State<Arc<AppState>>) -> Response {
    render(
        StatusCode::OK,
        &FindPage {
            frame: Frame::default(),
            miss: false,
            identifier: "",
            email: "",
            contact_hint: &st.settings.requests.contact_hint,
        },
    )
}

#[derive(serde::Deserialize)]
struct FindForm {
    identifier: String,
    email: String,
}

async fn find(
    State(st): State<Arc<AppState>>,
    oathvault_web::ClientAddr(client): oathvault_web::ClientAddr,
    Form(f): Form<FindForm>,
) -> Response {
    // Every answer takes at least the floor, so a hit, an unknown number,
    // a wrong e-mail and a rate limit cannot be told apart by time.
    let started = oathvault_otp::clock::Stopwatch::start();
    let floor = std::time::Duration::from_millis(st.settings.requests.find_floor_ms);
    let source = client.to_string();
    let outcome = st
        .journey()
        .find(
            &f.identifier,
            &f.email,
            &source,
            st.now(),
            &mut oathvault_vault::random::os(),
        )
        .await;
    tokio::time::sleep(floor.saturating_sub(started.elapsed())).await;
    match outcome {
        Ok(Found::Started { cookie, .. }) => {
            let mut r = Redirect::to("/request/shipments").into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                set_cookie(WIZARD, &cookie, st.settings.requests.draft_ttl),
            );
            r
        }
        Ok(Found::Miss) => render(
            StatusCode::OK,
            &FindPage {
                frame: Frame::default(),
                miss: true,
                identifier: &f.identifier,
                email: &f.email,
                contact_hint: &st.settings.requests.contact_hint,
            },
        ),
        Err(e) => failure(&e),
    }
}

#[derive(Template)]
#[template(path = "request_shipments.html")]
struct ShipmentsPage<'a> {
    frame: Frame,
    po: &'a str,
    shipments: Vec<Shipment>,
    ask_code: bool,
    problems: Vec<String>,
    left: i64,
}

async fn shipments_view(st: &AppState, w: &Wizard, problems: Vec<String>, left: i64) -> Response {
    match st.store.order_shipments(w.request.order_id).await {
        Ok(shipments) => render(
            if problems.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            },
            &ShipmentsPage {
                frame: Frame::default(),
                po: &w.request.po,
                shipments,
                ask_code: st.settings.requests.ask_code,
                problems,
                left,
            },
        ),
        Err(e) => failure(&JourneyError::Store(e)),
    }
}

async fn shipments_page(State(st): State<Arc<AppState>>, w: Wizard) -> Response {
    shipments_view(&st, &w, Vec::new(), 0).await
}

async fn shipments(
    State(st): State<Arc<AppState>>,
    w: Wizard,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let picks: Vec<Pick> = fields
        .iter()
        .filter(|(n, _)| n == "pick")
        .filter_map(|(_, v)| v.parse::<i64>().ok())
        .map(|id| Pick {
            shipment_id: id,
            serial: get(&format!("serial-{id}")).unwrap_or_default(),
            code: get(&format!("code-{id}")),
        })
        .collect();
    match st.journey().verify(&w.request, &picks, w.now).await {
        Ok(Verified::Proved) => Redirect::to("/request/protection").into_response(),
        Ok(Verified::Wrong { problems, left }) => shipments_view(&st, &w, problems, left).await,
        Ok(Verified::Locked) => message(
            StatusCode::FORBIDDEN,
            Frame::default(),
            "Request locked",
            &format!(
                "Too many wrong serials or codes: this request is locked and the delivery team has been told. Contact {} to go on.",
                st.settings.requests.contact_hint
            ),
            None,
        ),
        Err(e) => match e {
            JourneyError::Invalid(m) => {
                shipments_view(
                    &st,
                    &w,
                    vec![m],
                    st.settings.requests.wrong_limit - w.request.wrong_answers,
                )
                .await
            }
            e => failure(&e),
        },
    }
}

#[derive(Template)]
#[template(path = "request_protection.html")]
struct ProtectionPage<'a> {
    frame: Frame,
    split: &'a str,
    mode: &'a str,
    pgp_key: &'a str,
}

async fn protection_page(w: Wizard) -> Response {
    render(
        StatusCode::OK,
        &ProtectionPage {
            frame: Frame::default(),
            split: &w.request.split,
            mode: w.request.protection.as_deref().unwrap_or("password"),
            pgp_key: w.request.pgp_key.as_deref().unwrap_or(""),
        },
    )
}

#[derive(serde::Deserialize)]
struct ProtectionForm {
    #[serde(default)]
    split: String,
    #[serde(default)]
    mode: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
    #[serde(default)]
    pgp_key: String,
}

async fn protection(
    State(st): State<Arc<AppState>>,
    w: Wizard,
    Form(f): Form<ProtectionForm>,
) -> Response {
    let outcome = st
        .journey()
        .protect(
            &w.request,
            &f.split,
            &f.mode,
            &f.password,
            &f.password2,
            &f.pgp_key,
            w.now,
            &mut oathvault_vault::random::os(),
        )
        .await;
    match outcome {
        Ok(_) => Redirect::to("/request/format").into_response(),
        Err(JourneyError::Invalid(m)) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ProtectionPage {
                frame: Frame::default().problem(m),
                split: &f.split,
                mode: &f.mode,
                pgp_key: &f.pgp_key,
            },
        ),
        Err(e) => failure(&e),
    }
}

#[derive(Template)]
#[template(path = "request_format.html")]
struct FormatPage {
    frame: Frame,
    key: Option<KeyInfo>,
    formats: Vec<(String, String, bool)>,
    encodings: Vec<(&'static str, bool)>,
    columns: Vec<(String, String)>,
    properties: Vec<&'static str>,
    header: bool,
    preview: String,
}

/// The choices offered: every format that writes, PSKC in its modes.
fn format_options(with_password: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in Format::ALL.into_iter().filter(|f| f.writable()) {
        if f == Format::Pskc {
            out.push((
                "pskc".into(),
                "PSKC (RFC 6030), secrets in plain inside the protected package".into(),
            ));
            if with_password {
                out.push((
                    "pskc-passphrase".into(),
                    "PSKC (RFC 6030), secrets encrypted with your password (PBKDF2)".into(),
                ));
            }
        } else {
            // `describe` speaks to the command line (its flags); customers
            // choose these options on this page.
            let label = match f {
                Format::OktaCsv => "Okta Custom TOTP factor rows (secret encoding chosen below)",
                Format::CustomCsv => "Custom CSV: your own columns, set below",
                f => f.describe(),
            };
            out.push((f.name().to_owned(), label.to_owned()));
        }
    }
    out
}

fn format_view(
    w: &Wizard,
    choice: &FormatChoice,
    preview: String,
    problem: Option<String>,
) -> Response {
    let key = w
        .request
        .pgp_key
        .as_deref()
        .and_then(|k| crate::journey::check_pgp_key(k, w.now).ok())
        .map(|(_, info)| info);
    let mut columns = choice.columns.clone();
    if columns.is_empty() {
        columns = vec![
            ("Serial".into(), "serial".into()),
            ("Secret".into(), "secret".into()),
            ("Period".into(), "step".into()),
        ];
    }
    columns.resize(COLUMNS, (String::new(), String::new()));
    let chosen = match (choice.format.as_str(), choice.pskc.as_deref()) {
        ("pskc", Some("passphrase")) => "pskc-passphrase".to_owned(),
        ("", _) => "entra-csv".to_owned(),
        (f, _) => f.to_owned(),
    };
    render(
        if problem.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        &FormatPage {
            frame: Frame {
                problem,
                ..Frame::default()
            },
            key,
            formats: format_options(w.request.has_password)
                .into_iter()
                .map(|(v, l)| {
                    let on = v == chosen;
                    (v, l, on)
                })
                .collect(),
            encodings: ["base32", "hex", "base64"]
                .into_iter()
                .map(|e| (e, choice.encoding.as_deref().unwrap_or("base32") == e))
                .collect(),
            columns,
            properties: Property::ALL.iter().map(|(n, _)| *n).collect(),
            header: choice.header || choice.columns.is_empty(),
            preview,
        },
    )
}

async fn format_page(w: Wizard) -> Response {
    let choice = w
        .request
        .format_options
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    format_view(&w, &choice, String::new(), None)
}

fn choice_of(fields: &[(String, String)]) -> (FormatChoice, bool) {
    let map: HashMap<&str, &str> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let format = map.get("format").copied().unwrap_or("");
    let (format, pskc) = match format {
        "pskc-passphrase" => ("pskc", Some("passphrase".to_owned())),
        "pskc" => ("pskc", Some("plain".to_owned())),
        f => (f, None),
    };
    let columns = (0..COLUMNS)
        .map(|i| {
            (
                map.get(format!("col-name-{i}").as_str())
                    .copied()
                    .unwrap_or("")
                    .trim()
                    .to_owned(),
                map.get(format!("col-value-{i}").as_str())
                    .copied()
                    .unwrap_or("")
                    .trim()
                    .to_owned(),
            )
        })
        .filter(|(n, _)| !n.is_empty())
        .collect();
    let choice = FormatChoice {
        format: format.to_owned(),
        pskc,
        encoding: map.get("encoding").map(|e| (*e).to_owned()),
        columns,
        header: map.contains_key("header"),
    };
    (choice, map.get("action").copied() == Some("preview"))
}

async fn format(
    State(st): State<Arc<AppState>>,
    w: Wizard,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let (choice, preview) = choice_of(&fields);
    if preview || choice.format == "custom-csv" {
        let shown = match st.journey().preview(&w.request, &choice).await {
            Ok(p) => p,
            Err(JourneyError::Invalid(m)) => {
                return format_view(&w, &choice, String::new(), Some(m));
            }
            Err(e) => return failure(&e),
        };
        if preview {
            return format_view(&w, &choice, shown, None);
        }
    }
    match st.journey().choose_format(&w.request, &choice, w.now).await {
        Ok(()) => Redirect::to("/request/summary").into_response(),
        Err(JourneyError::Invalid(m)) => format_view(&w, &choice, String::new(), Some(m)),
        Err(e) => failure(&e),
    }
}

#[derive(Template)]
#[template(path = "request_summary.html")]
struct SummaryPage {
    frame: Frame,
    r: Request,
    picked: Vec<PickedShipment>,
}

async fn summary_page(State(st): State<Arc<AppState>>, w: Wizard) -> Response {
    let picked = match st.store.picked(w.request.id).await {
        Ok(p) => p,
        Err(e) => return failure(&JourneyError::Store(e)),
    };
    if picked.is_empty() {
        return Redirect::to("/request/shipments").into_response();
    }
    if w.request.protection.is_none() {
        return Redirect::to("/request/protection").into_response();
    }
    if w.request.format.is_none() {
        return Redirect::to("/request/format").into_response();
    }
    render(
        StatusCode::OK,
        &SummaryPage {
            frame: Frame::default(),
            r: w.request,
            picked,
        },
    )
}

async fn submit(State(st): State<Arc<AppState>>, w: Wizard) -> Response {
    match st
        .journey()
        .submit(&w.request, w.now, &mut oathvault_vault::random::os())
        .await
    {
        Ok(()) => {
            let mut r = message(
                StatusCode::OK,
                Frame::default(),
                "Request submitted",
                &format!(
                    "Your request {} was submitted. The delivery team reviews it; you get an e-mail at {} now, and one per file once it is approved.",
                    w.request.reference, w.request.email
                ),
                None,
            );
            r.headers_mut()
                .insert(header::SET_COOKIE, set_cookie(WIZARD, "", 0));
            r
        }
        Err(e) => failure(&e),
    }
}
