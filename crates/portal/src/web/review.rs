//! The delivery team's review (`portal.md`, "Delivery team"): the queue of
//! requests at `/admin/requests` (waiting ones first, a filter by state),
//! one request with everything needed to decide at `/admin/requests/{id}`,
//! and the decision: approve, or reject with a reason. Reviewers and
//! administrators alike.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use oathvault_store::{DeliveryFile, PickedShipment, Request, RequestState};

use super::{AppState, Frame, Signed, message, render, see_other, unavailable, when};
use crate::delivery::DeliveryError;
use crate::journey::FormatChoice;

/// The most requests the queue lists at once (each row costs two lookups).
const QUEUE_LIMIT: usize = 500;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/requests", get(requests_page))
        .route("/admin/requests/{id}", get(request_page))
        .route("/admin/requests/{id}/approve", post(approve))
        .route("/admin/requests/{id}/reject", post(reject))
}

/// The queue's filter and a notice after a change.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct QueueQuery {
    #[serde(default)]
    state: String,
    notice: Option<String>,
}

/// One line of the queue.
#[derive(Debug)]
struct QueueRow {
    r: Request,
    shipments: String,
    files: usize,
    submitted: String,
}

#[derive(Template)]
#[template(path = "requests.html")]
struct RequestsPage {
    frame: Frame,
    rows: Vec<QueueRow>,
    states: [RequestState; 8],
    chosen: String,
    /// How many matched, when more than the queue lists.
    more: Option<usize>,
}

/// `/admin/requests`: submitted requests first (oldest first, the order
/// to work in), then the rest, most recently changed first.
async fn requests_page(
    State(st): State<Arc<AppState>>,
    me: Signed,
    Query(q): Query<QueueQuery>,
) -> Response {
    let mut frame = Frame::for_staff(&me, "requests").notice(q.notice);
    let chosen = q.state.trim();
    let mut states = Vec::new();
    if !chosen.is_empty() {
        if let Some(s) = RequestState::parse(chosen) {
            states.push(s);
        } else {
            frame = frame.problem(format!("there is no request state {chosen:?}; showing all"));
        }
    }
    let mut requests = match st.store.requests(&states).await {
        Ok(r) => r,
        Err(e) => return unavailable(frame, &e),
    };
    // Stable: the store's order (newest change first) stays among the rest.
    requests.sort_by_key(|r| match r.state {
        RequestState::Submitted => (0, r.submitted.unwrap_or(r.created), r.id),
        _ => (1, 0, 0),
    });
    let more = (requests.len() > QUEUE_LIMIT).then_some(requests.len());
    requests.truncate(QUEUE_LIMIT);
    let mut rows = Vec::with_capacity(requests.len());
    for r in requests {
        let picked = match st.store.picked(r.id).await {
            Ok(p) => p,
            Err(e) => return unavailable(frame, &e),
        };
        let files = match st.store.files_of(r.id).await {
            Ok(f) => f.len(),
            Err(e) => return unavailable(frame, &e),
        };
        rows.push(QueueRow {
            shipments: picked
                .iter()
                .map(|p| p.number.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            files,
            submitted: r.submitted.map_or_else(String::new, when),
            r,
        });
    }
    render(
        StatusCode::OK,
        &RequestsPage {
            frame,
            rows,
            more,
            states: RequestState::ALL,
            chosen: states
                .first()
                .map_or_else(String::new, |s| s.as_str().to_owned()),
        },
    )
}

/// A delivery file as the reviewer sees it.
#[derive(Debug)]
struct FileRow {
    f: DeliveryFile,
    expires: String,
    destroyed: String,
}

/// An earlier request for the same shipments.
#[derive(Debug)]
struct EarlierRow {
    r: Request,
    submitted: String,
}

#[derive(Template)]
#[template(path = "request.html")]
struct RequestPage {
    frame: Frame,
    r: Request,
    picked: Vec<PickedShipment>,
    files: Vec<FileRow>,
    earlier: Vec<EarlierRow>,
    options: String,
    created: String,
    submitted: String,
    decided: String,
    waiting: bool,
}

/// A request id from the path (anything else names no request).
fn request_id(raw: &str) -> Option<i64> {
    raw.parse().ok().filter(|id| *id > 0)
}

fn no_such_request(me: &Signed) -> Response {
    message(
        StatusCode::NOT_FOUND,
        Frame::for_staff(me, "requests"),
        "No such request",
        "There is no request with that number.",
        Some("/admin/requests"),
    )
}

/// The chosen format's options in words.
fn options_in_words(json: Option<&str>) -> String {
    let Some(json) = json else {
        return String::new();
    };
    let Ok(c) = serde_json::from_str::<FormatChoice>(json) else {
        return json.to_owned();
    };
    let mut out = Vec::new();
    if let Some(p) = &c.pskc {
        out.push(format!("PSKC protection: {p}"));
    }
    if let Some(e) = &c.encoding {
        out.push(format!("secrets in {e}"));
    }
    if !c.columns.is_empty() {
        let columns: Vec<String> = c
            .columns
            .iter()
            .map(|(name, value)| format!("{name} = {value}"))
            .collect();
        out.push(format!("columns: {}", columns.join(", ")));
        out.push(if c.header {
            "header row".into()
        } else {
            "no header row".into()
        });
    }
    if out.is_empty() {
        "defaults".into()
    } else {
        out.join("; ")
    }
}

/// `/admin/requests/{id}`: everything needed to decide.
async fn request_page(
    State(st): State<Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
    Query(q): Query<QueueQuery>,
) -> Response {
    let Some(id) = request_id(&id) else {
        return no_such_request(&me);
    };
    let frame = Frame::for_staff(&me, "requests").notice(q.notice);
    request_view(&st, &me, frame, StatusCode::OK, id).await
}

async fn request_view(
    st: &AppState,
    me: &Signed,
    frame: Frame,
    status: StatusCode,
    id: i64,
) -> Response {
    let r = match st.store.request(id).await {
        Ok(r) => r,
        Err(oathvault_store::Error::NotFound { .. }) => return no_such_request(me),
        Err(e) => return unavailable(frame, &e),
    };
    let picked = match st.store.picked(id).await {
        Ok(p) => p,
        Err(e) => return unavailable(frame, &e),
    };
    let files = match st.store.files_of(id).await {
        Ok(f) => f,
        Err(e) => return unavailable(frame, &e),
    };
    let shipment_ids: Vec<i64> = picked.iter().map(|p| p.shipment_id).collect();
    let earlier = match st.store.earlier_requests(id, &shipment_ids).await {
        Ok(e) => e,
        Err(e) => return unavailable(frame, &e),
    };
    let stamp = |t: Option<i64>| t.map_or_else(String::new, when);
    render(
        status,
        &RequestPage {
            frame,
            options: options_in_words(r.format_options.as_deref()),
            created: when(r.created),
            submitted: stamp(r.submitted),
            decided: stamp(r.decided),
            waiting: r.state == RequestState::Submitted,
            picked,
            files: files
                .into_iter()
                .map(|f| FileRow {
                    expires: stamp(f.expires),
                    destroyed: stamp(f.destroyed),
                    f,
                })
                .collect(),
            earlier: earlier
                .into_iter()
                .map(|r| EarlierRow {
                    submitted: stamp(r.submitted),
                    r,
                })
                .collect(),
            r,
        },
    )
}

/// A decision that was refused: no such request (404), no longer
/// waiting (409), or a failure on our side (500, logged).
fn decision_refused(me: &Signed, id: i64, e: &DeliveryError) -> Response {
    let back = format!("/admin/requests/{id}");
    let frame = Frame::for_staff(me, "requests");
    match e {
        DeliveryError::Store(oathvault_store::Error::NotFound { .. }) => no_such_request(me),
        DeliveryError::Refused(m) | DeliveryError::Store(oathvault_store::Error::Refused(m)) => {
            message(
                StatusCode::CONFLICT,
                frame,
                "Not decided",
                &format!("Nothing was changed: {m}."),
                Some(&back),
            )
        }
        DeliveryError::Store(e) => unavailable(frame, e),
        e => {
            tracing::error!(error = %e, request = id, "a decision failed");
            message(
                StatusCode::INTERNAL_SERVER_ERROR,
                frame,
                "Not decided",
                "The decision could not be recorded; nothing was changed. Try again in a moment.",
                Some(&back),
            )
        }
    }
}

/// Approves: links made, one e-mail per file to the requester.
async fn approve(State(st): State<Arc<AppState>>, me: Signed, Path(id): Path<String>) -> Response {
    let Some(id) = request_id(&id) else {
        return no_such_request(&me);
    };
    match st
        .delivery()
        .approve(
            id,
            &me.session.staff.email,
            &me.source,
            me.now,
            &mut oathvault_vault::random::os(),
        )
        .await
    {
        Ok(()) => see_other(
            &format!("/admin/requests/{id}"),
            "Approved. The requester gets one e-mail per file with its download and \
             confirmation links.",
        ),
        Err(e) => decision_refused(&me, id, &e),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct RejectForm {
    #[serde(default)]
    reason: String,
}

/// Rejects with a reason (the customer reads it); the files are destroyed.
async fn reject(
    State(st): State<Arc<AppState>>,
    me: Signed,
    Path(id): Path<String>,
    Form(f): Form<RejectForm>,
) -> Response {
    let Some(id) = request_id(&id) else {
        return no_such_request(&me);
    };
    if f.reason.trim().is_empty() {
        let frame = Frame::for_staff(&me, "requests")
            .problem("Give the reason for the rejection: the customer reads it.");
        return request_view(&st, &me, frame, StatusCode::UNPROCESSABLE_ENTITY, id).await;
    }
    match st
        .delivery()
        .reject(id, &me.session.staff.email, &f.reason, &me.source, me.now)
        .await
    {
        Ok(()) => see_other(
            &format!("/admin/requests/{id}"),
            "Rejected. The requester is told the reason; the files were deleted.",
        ),
        Err(e) => decision_refused(&me, id, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_options_read_as_words() {
        assert_eq!(options_in_words(None), "");
        assert_eq!(options_in_words(Some(r#"{"format":"jsonl"}"#)), "defaults");
        assert_eq!(
            options_in_words(Some(
                r#"{"format":"custom-csv","encoding":"base64","columns":[["Serial","serial"]],"header":true}"#
            )),
            "secrets in base64; columns: Serial = serial; header row"
        );
        assert_eq!(options_in_words(Some("not json")), "not json");
    }

    #[test]
    fn request_ids_are_positive_numbers() {
        assert_eq!(request_id("12"), Some(12));
        assert_eq!(request_id("0"), None);
        assert_eq!(request_id("-3"), None);
        assert_eq!(request_id("x"), None);
    }
}
