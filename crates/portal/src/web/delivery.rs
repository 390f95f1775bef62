//! The customer's delivery pages, reached from the approval e-mail without
//! signing in (`portal.md`, "Delivery and deletion"): `/d/{token}` shows
//! the file and downloads it on a POST (with the password when there is
//! one); `/c/{token}` explains confirmation and destroys the file on a
//! POST; `/c/{token}/receipt` hands out the deletion receipt of a
//! confirmed file.
//!
//! A GET never changes anything (mail scanners open every link). Every
//! link that names no file gets the same 404 page.

use std::convert::Infallible;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use oathvault_store::{DeliveryFile, FileState};

use super::{AppState, Frame, message, render, source_of, when};
use crate::delivery::DeliveryError;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/d/{token}", get(download_page).post(download))
        .route("/c/{token}", get(confirm_page).post(confirm))
        .route("/c/{token}/receipt", get(receipt))
        .route("/vendor-key.asc", get(vendor_key))
}

/// `GET /vendor-key.asc`: the vendor's public signing key (deliveries'
/// `MANIFEST.asc` and deletion receipts verify against it).
async fn vendor_key(State(st): State<Arc<AppState>>) -> Response {
    let key = crate::signing::VendorKey::load_or_generate(
        &st.store,
        &st.master,
        &mut oathvault_vault::random::os(),
        &st.settings.requests.vendor,
        (st.now(), "portal", "portal"),
    )
    .await
    .map_err(DeliveryError::from)
    .and_then(|k| k.public_armored().map_err(DeliveryError::from));
    match key {
        Ok(armored) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/pgp-keys"),
            )],
            armored,
        )
            .into_response(),
        Err(e) => failure(&e),
    }
}

/// Where a request came from (the audit log's source).
struct Source(String);

impl FromRequestParts<Arc<AppState>> for Source {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(source_of(parts)))
    }
}

/// The state to show: a file past its expiry that the sweeper has not
/// reached yet is already expired for the customer.
fn shown_state(f: &DeliveryFile, now: i64) -> FileState {
    if f.state.holds_content() && f.expires.is_some_and(|e| e <= now) {
        FileState::Expired
    } else {
        f.state
    }
}

/// The same page for every link that names no file.
fn unknown_link(st: &AppState) -> Response {
    message(
        StatusCode::NOT_FOUND,
        Frame::default(),
        "Link not valid",
        &format!(
            "This link does not lead to a file. Check that the whole link was copied from the \
             e-mail. For a new link, contact {}.",
            st.settings.requests.contact_hint
        ),
        None,
    )
}

/// The page for a file that no longer exists.
fn gone(st: &AppState, state: FileState, destroyed: Option<i64>) -> Response {
    let why = match state {
        FileState::Confirmed => "receipt was confirmed",
        FileState::Withdrawn => "the request was not approved",
        _ => "it was not confirmed in time",
    };
    let at = destroyed.map_or_else(String::new, |t| format!(" on {}", when(t)));
    message(
        StatusCode::GONE,
        Frame::default(),
        "File deleted",
        &format!(
            "This file was deleted ({}){at}: {why}, and its content and key no longer exist. \
             If you still need the seeds, contact {}.",
            state.as_str(),
            st.settings.requests.contact_hint
        ),
        None,
    )
}

/// A failure on our side: logged, said in general words.
fn failure(e: &DeliveryError) -> Response {
    tracing::error!(error = %e, "a delivery step failed");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        Frame::default(),
        "Something went wrong",
        "The portal could not do this just now; nothing was changed. Try again in a moment.",
        None,
    )
}

/// A step the request's state does not allow (it was rejected or expired
/// meanwhile, say).
fn refused(m: &str) -> Response {
    message(
        StatusCode::CONFLICT,
        Frame::default(),
        "Not possible now",
        &format!("This cannot be done now: {m}."),
        None,
    )
}

#[derive(Template)]
#[template(path = "download.html")]
struct DownloadPage<'a> {
    frame: Frame,
    f: &'a DeliveryFile,
    token: &'a str,
    state: &'static str,
    expires: String,
    pgp: bool,
}

/// The download page of the file a link names (or why there is none),
/// with `status` and a problem to show.
async fn download_view(
    st: &AppState,
    token: &str,
    status: StatusCode,
    problem: Option<&str>,
) -> Response {
    let f = match st.delivery().file_for_download(token).await {
        Ok(f) => f,
        Err(DeliveryError::UnknownLink) => return unknown_link(st),
        Err(e) => return failure(&e),
    };
    let state = shown_state(&f, st.now());
    if !state.holds_content() {
        return gone(st, state, f.destroyed);
    }
    let mut frame = Frame::default();
    if let Some(p) = problem {
        frame = frame.problem(p);
    }
    render(
        status,
        &DownloadPage {
            frame,
            state: state.as_str(),
            expires: f.expires.map_or_else(String::new, when),
            pgp: std::path::Path::new(&f.name)
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("pgp")),
            token,
            f: &f,
        },
    )
}

/// `GET /d/{token}`: the file's name, size, SHA-256, tokens and expiry,
/// and the Download button. Changes nothing.
async fn download_page(State(st): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    download_view(&st, &token, StatusCode::OK, None).await
}

#[derive(Default, serde::Deserialize)]
struct DownloadForm {
    #[serde(default)]
    password: String,
}

impl std::fmt::Debug for DownloadForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DownloadForm([redacted])")
    }
}

/// A file name safe inside a quoted `Content-Disposition` parameter.
fn attachment(name: &str) -> HeaderValue {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    HeaderValue::from_str(&format!("attachment; filename=\"{safe}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// `POST /d/{token}`: the password checked, the file handed out.
async fn download(
    State(st): State<Arc<AppState>>,
    Path(token): Path<String>,
    Source(source): Source,
    Form(form): Form<DownloadForm>,
) -> Response {
    let outcome = st
        .delivery()
        .download(&token, &form.password, &source, st.now())
        .await;
    match outcome {
        Ok(mut d) => {
            let bytes = std::mem::take(&mut *d.bytes);
            (
                [
                    (
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    ),
                    (header::CONTENT_DISPOSITION, attachment(&d.name)),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
                bytes,
            )
                .into_response()
        }
        Err(DeliveryError::WrongPassword) => {
            download_view(
                &st,
                &token,
                StatusCode::FORBIDDEN,
                Some("Wrong password. Type the password chosen when the files were requested."),
            )
            .await
        }
        Err(DeliveryError::Limited) => {
            download_view(
                &st,
                &token,
                StatusCode::TOO_MANY_REQUESTS,
                Some("Too many wrong passwords for this file. Try again in an hour."),
            )
            .await
        }
        Err(DeliveryError::Gone(state)) => {
            let destroyed = st
                .delivery()
                .file_for_download(&token)
                .await
                .ok()
                .and_then(|f| f.destroyed);
            gone(&st, state, destroyed)
        }
        Err(DeliveryError::UnknownLink) => unknown_link(&st),
        Err(
            DeliveryError::Refused(m) | DeliveryError::Store(oathvault_store::Error::Refused(m)),
        ) => refused(&m),
        Err(e) => failure(&e),
    }
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    frame: Frame,
    f: &'a DeliveryFile,
    token: &'a str,
    /// Deleted (confirmed) on this date; empty while it still exists.
    destroyed: String,
    /// What the vendor still holds of the file's shipments, in words.
    remains: String,
}

fn confirm_view(
    st: &AppState,
    status: StatusCode,
    frame: Frame,
    f: &DeliveryFile,
    token: &str,
) -> Response {
    render(
        status,
        &ConfirmPage {
            frame,
            remains: crate::mail::retention_note(&st.settings.requests, &f.shipments),
            destroyed: if f.state == FileState::Confirmed {
                f.destroyed.map_or_else(|| "-".to_owned(), when)
            } else {
                String::new()
            },
            token,
            f,
        },
    )
}

/// `GET /c/{token}`: what confirming does, and the Confirm button; once
/// confirmed, when it was deleted and the receipt. Changes nothing.
async fn confirm_page(State(st): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let f = match st.delivery().file_for_confirm(&token).await {
        Ok(f) => f,
        Err(DeliveryError::UnknownLink) => return unknown_link(&st),
        Err(e) => return failure(&e),
    };
    match shown_state(&f, st.now()) {
        FileState::Ready | FileState::Downloaded | FileState::Confirmed => {
            confirm_view(&st, StatusCode::OK, Frame::default(), &f, &token)
        }
        state => gone(&st, state, f.destroyed),
    }
}

/// `POST /c/{token}`: the file destroyed at once; the receipt offered.
async fn confirm(
    State(st): State<Arc<AppState>>,
    Path(token): Path<String>,
    Source(source): Source,
) -> Response {
    let outcome = st.delivery().confirm(&token, &source, st.now()).await;
    let (status, frame) = match outcome {
        Ok(_) => (
            StatusCode::OK,
            Frame::default().notice(Some(
                "Thank you. The file was deleted from our systems: its content and its key were \
                 destroyed."
                    .to_owned(),
            )),
        ),
        Err(DeliveryError::Gone(FileState::Confirmed)) => (
            StatusCode::GONE,
            Frame::default().problem("This file was already deleted: its receipt was confirmed."),
        ),
        Err(DeliveryError::Gone(state)) => {
            let destroyed = st
                .delivery()
                .file_for_confirm(&token)
                .await
                .ok()
                .and_then(|f| f.destroyed);
            return gone(&st, state, destroyed);
        }
        Err(DeliveryError::UnknownLink) => return unknown_link(&st),
        Err(
            DeliveryError::Refused(m) | DeliveryError::Store(oathvault_store::Error::Refused(m)),
        ) => {
            return refused(&m);
        }
        Err(e) => return failure(&e),
    };
    match st.delivery().file_for_confirm(&token).await {
        Ok(f) => confirm_view(&st, status, frame, &f, &token),
        Err(DeliveryError::UnknownLink) => unknown_link(&st),
        Err(e) => failure(&e),
    }
}

/// `GET /c/{token}/receipt`: the signed deletion receipt of a confirmed
/// file, as a text file; nothing for any other link.
async fn receipt(State(st): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    let d = st.delivery();
    let f = match d.file_for_confirm(&token).await {
        Ok(f) if f.state == FileState::Confirmed => f,
        Ok(_) | Err(DeliveryError::UnknownLink) => return unknown_link(&st),
        Err(e) => return failure(&e),
    };
    let r = match st.store.request(f.request_id).await {
        Ok(r) => r,
        Err(e) => return failure(&DeliveryError::Store(e)),
    };
    let text = match d.receipt(&r, &f, &mut oathvault_vault::random::os()).await {
        Ok(t) => t,
        Err(e) => return failure(&e),
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (
                header::CONTENT_DISPOSITION,
                attachment(&format!("deletion-receipt-{}.txt", r.reference)),
            ),
        ],
        text,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_cannot_break_the_header() {
        assert_eq!(
            attachment("R-ABCD-EFGH-SH-1.zip.pgp"),
            "attachment; filename=\"R-ABCD-EFGH-SH-1.zip.pgp\""
        );
        assert_eq!(
            attachment("a\"b\r\nc d/é.zip"),
            "attachment; filename=\"a_b__c_d__.zip\""
        );
    }
}
