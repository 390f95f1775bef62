//! `oathvault demo` only: `/demo/outbox` lists the mail the demo's local
//! SMTP sink caught, and `/demo/outbox/{id}` shows one (links clickable),
//! so a newcomer can follow the e-mailed links without a mail client.
//! Without a sink directory (every real deployment) both answer 404.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use oathvault_mail::outbox::{self, StoredMail};

use super::{AppState, Frame, message, render, when};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/demo/outbox", get(list))
        .route("/demo/outbox/{id}", get(show))
}

#[derive(Template)]
#[template(path = "demo_outbox.html")]
struct OutboxPage {
    frame: Frame,
    mails: Vec<(StoredMail, String)>,
    shown: Option<(StoredMail, Vec<Line>)>,
}

/// A line of a message: text, or a link.
struct Line {
    parts: Vec<(String, bool)>,
}

fn lines(text: &str) -> Vec<Line> {
    text.lines()
        .map(|l| Line {
            parts: l
                .split(' ')
                .map(|w| {
                    let link = w.starts_with("http://") || w.starts_with("https://");
                    (w.to_owned(), link)
                })
                .collect(),
        })
        .collect()
}

fn not_here() -> Response {
    message(
        StatusCode::NOT_FOUND,
        Frame::default(),
        "Not found",
        "There is no such page.",
        None,
    )
}

async fn read(st: &AppState) -> Option<Result<Vec<StoredMail>, String>> {
    let dir = st.settings.demo_outbox.clone()?;
    Some(
        tokio::task::spawn_blocking(move || outbox::list(&dir).map_err(|e| e.to_string()))
            .await
            .unwrap_or_else(|e| Err(e.to_string())),
    )
}

async fn page(st: &AppState, id: Option<&str>) -> Response {
    let Some(mails) = read(st).await else {
        return not_here();
    };
    let mut mails = match mails {
        Ok(m) => m,
        Err(e) => {
            return message(
                StatusCode::INTERNAL_SERVER_ERROR,
                Frame::default(),
                "Outbox unreadable",
                &e,
                None,
            );
        }
    };
    mails.reverse(); // newest first
    let shown = match id {
        Some(id) => match mails.iter().find(|m| m.id == id) {
            Some(m) => {
                let text = lines(m.text.as_deref().unwrap_or(""));
                Some((m.clone(), text))
            }
            None => return not_here(),
        },
        None => None,
    };
    let mails = mails
        .into_iter()
        .map(|m| {
            let at = when(i64::try_from(m.received).unwrap_or(0));
            (m, at)
        })
        .collect();
    render(
        StatusCode::OK,
        &OutboxPage {
            frame: Frame::default(),
            mails,
            shown,
        },
    )
}

async fn list(State(st): State<Arc<AppState>>) -> Response {
    page(&st, None).await
}

async fn show(State(st): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    page(&st, Some(&id)).await
}
