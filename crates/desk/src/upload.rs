//! Uploading a vendor's seed file to the tenant: read and check it first
//! (every problem, Entra's limits, what the tenant already has), an
//! optional preflight code from a real token, then the bulk push of
//! [`oathvault_graph::push`] with a result per token. And reconciling a
//! vendor file with the tenant: missing, extra, duplicate serials, states.
//!
//! A file read but not yet pushed lives only in memory, for 15 minutes,
//! for the operator who sent it; its secrets are wiped when it goes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::Router;
use axum::extract::{Form, Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use oathvault_formats::Format;
use oathvault_graph::preflight::{Finding, preflight};
use oathvault_graph::push::{Job, Outcome, Progress, PushOptions, TokenResult, push, validate};
use oathvault_store::{DeskRole, Event};
use oathvault_token::{Kind, Token};
use oathvault_web::upload::{SeedUpload, read_seed_upload};

use crate::DeskState;
use crate::pages::{Frame, Operator, message, render, store_failed};
use crate::tokens::{ResultRow, ResultsPage};

/// How long a read file waits for its push.
const KEEP_FOR: i64 = 15 * 60;

pub(crate) fn routes() -> Router<Arc<DeskState>> {
    Router::new()
        .route("/upload", get(upload_page).post(read))
        .route("/upload/{id}", post(push_file))
        .route("/upload/jobs/{id}", get(job_page))
        .route("/reconcile", get(reconcile_page).post(reconcile))
}

/// A file read and checked, waiting to be pushed.
pub(crate) struct Pending {
    owner: String,
    file_name: String,
    tokens: Vec<Token>,
    expires: i64,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("owner", &self.owner)
            .field("file_name", &self.file_name)
            .field("tokens", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

/// Drops files whose time is up (their secrets are wiped as they drop).
pub(crate) fn sweep(st: &DeskState) {
    let now = st.now();
    st.uploads
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .retain(|_, p| p.expires > now);
}

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    frame: Frame,
    reconcile: bool,
    problems: Vec<String>,
}

fn upload_form(
    op: &Operator,
    reconcile: bool,
    status: StatusCode,
    problems: Vec<String>,
) -> Response {
    let section = if reconcile { "reconcile" } else { "upload" };
    render(
        status,
        &UploadPage {
            frame: op.frame(section),
            reconcile,
            problems,
        },
    )
}

async fn upload_page(State(st): State<Arc<DeskState>>, op: Operator) -> Response {
    if let Err(r) = op
        .require(&st, DeskRole::Administrator, "upload", "seed file")
        .await
    {
        return r;
    }
    upload_form(&op, false, StatusCode::OK, Vec::new())
}

async fn reconcile_page(State(st): State<Arc<DeskState>>, op: Operator) -> Response {
    if let Err(r) = op
        .require(&st, DeskRole::Helpdesk, "reconcile", "seed file")
        .await
    {
        return r;
    }
    upload_form(&op, true, StatusCode::OK, Vec::new())
}

/// Every token of the uploaded file, or every problem reading it.
async fn read_tokens(up: SeedUpload) -> Result<(Format, String, Vec<Token>), Vec<String>> {
    let (format, read) = up.read().await.map_err(|e| vec![e])?;
    if !read.problems.is_empty() {
        return Err(oathvault_web::upload::problem_lines(read.problems));
    }
    if read.tokens.is_empty() {
        return Err(vec![format!("{}: no tokens in the file", up.file_name)]);
    }
    Ok((format, up.file_name.clone(), read.tokens))
}

struct PreviewRow {
    serial: String,
    manufacturer: String,
    model: String,
    hash: String,
    period: String,
    digits: String,
    exists: bool,
}

#[derive(Template)]
#[template(path = "preview.html")]
struct PreviewPage {
    frame: Frame,
    id: String,
    file_name: String,
    format: &'static str,
    count: usize,
    existing: usize,
    violations: Vec<String>,
    rows: Vec<PreviewRow>,
}

fn new_id() -> String {
    let mut raw = [0u8; 16];
    rand08::RngCore::fill_bytes(&mut oathvault_vault::random::os(), &mut raw);
    data_encoding::BASE64URL_NOPAD.encode(&raw)
}

fn period(t: &Token) -> String {
    match t.kind {
        Kind::Totp { step, .. } => format!("{} s", step.seconds()),
        Kind::Hotp { .. } => "counter (HOTP)".into(),
    }
}

async fn read(State(st): State<Arc<DeskState>>, op: Operator, form: Multipart) -> Response {
    if let Err(r) = op
        .require(&st, DeskRole::Administrator, "upload", "seed file")
        .await
    {
        return r;
    }
    let up = match read_seed_upload(form).await {
        Ok(u) => u,
        Err(e) => return upload_form(&op, false, StatusCode::BAD_REQUEST, vec![e]),
    };
    let (format, file_name, tokens) = match read_tokens(up).await {
        Ok(x) => x,
        Err(problems) => {
            return upload_form(&op, false, StatusCode::UNPROCESSABLE_ENTITY, problems);
        }
    };
    let violations: Vec<String> = validate(&tokens).iter().map(ToString::to_string).collect();
    let known = match st.store.desk_serials().await {
        Ok(k) => k,
        Err(e) => return store_failed(&op, &e),
    };
    let mut existing = 0;
    let mut rows = Vec::with_capacity(tokens.len().min(200));
    for (i, t) in tokens.iter().enumerate() {
        let exists = known.contains(t.serial.as_str());
        existing += usize::from(exists);
        if i < 200 {
            rows.push(PreviewRow {
                serial: t.serial.to_string(),
                manufacturer: t.manufacturer.clone().unwrap_or_default(),
                model: t.model.clone().unwrap_or_default(),
                hash: t.hash.to_string(),
                period: period(t),
                digits: t.digits.to_string(),
                exists,
            });
        }
    }
    let id = new_id();
    let page = PreviewPage {
        frame: op.frame("upload"),
        id: id.clone(),
        file_name: file_name.clone(),
        format: format.name(),
        count: tokens.len(),
        existing,
        violations,
        rows,
    };
    let audit = op
        .event("upload-read", &format!("file:{file_name}"))
        .with_detail(format!(
            "{} tokens, {existing} already in the tenant",
            tokens.len()
        ));
    if let Err(e) = st.store.audit(&audit).await {
        return store_failed(&op, &e);
    }
    sweep(&st);
    st.uploads
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(
            id,
            Pending {
                owner: op.email().to_owned(),
                file_name,
                tokens,
                expires: op.now + KEEP_FOR,
            },
        );
    render(StatusCode::OK, &page)
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct PushForm {
    serial: String,
    code: String,
}

fn finding_text(f: &Finding) -> String {
    match f {
        Finding::Fits { drift } => format!("the code fits the file ({drift} s off the clock)"),
        Finding::Misread { reading } => format!(
            "the code does not fit the file as it is; it fits when the file is read {reading}: \
             ask the vendor for a corrected file"
        ),
        Finding::NoMatch => {
            "the code fits no reading of this token's secret: is it the right file, and the right token?".into()
        }
        Finding::NotTotp => "this token is not a 6-digit TOTP token Entra can take".into(),
    }
}

async fn push_file(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
    Form(f): Form<PushForm>,
) -> Response {
    if let Err(r) = op
        .require(&st, DeskRole::Administrator, "upload", "seed file")
        .await
    {
        return r;
    }
    sweep(&st);
    let pending = {
        let mut all = st
            .uploads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match all.get(&id) {
            Some(p) if p.owner == op.email() => all.remove(&id),
            _ => None,
        }
    };
    let Some(pending) = pending else {
        return message(
            StatusCode::GONE,
            op.frame("upload"),
            "Read the file again",
            "This file is no longer held (15 minutes passed, it was uploaded already, or another operator read it). Nothing was uploaded.",
            Some("/upload"),
        );
    };
    let subject = format!("file:{}", pending.file_name);
    if !f.serial.trim().is_empty() || !f.code.trim().is_empty() {
        let serial = f.serial.trim();
        let finding = pending
            .tokens
            .iter()
            .find(|t| t.serial.as_str() == serial)
            .map(|t| preflight(t, f.code.trim(), u64::try_from(op.now).unwrap_or(0)));
        let text = match &finding {
            None => format!("serial {serial} is not in {}", pending.file_name),
            Some(f) => finding_text(f),
        };
        let fits = matches!(finding, Some(Finding::Fits { .. }));
        let e = op
            .event("preflight", &subject)
            .with_outcome(if fits { "ok" } else { "refused" })
            .with_detail(format!("serial {serial}: {text}"));
        if let Err(e) = st.store.audit(&e).await {
            return store_failed(&op, &e);
        }
        if !fits {
            return message(
                StatusCode::UNPROCESSABLE_ENTITY,
                op.frame("upload"),
                "Not uploaded: the code check failed",
                &format!("Serial {serial}: {text}. Nothing was uploaded."),
                Some("/upload"),
            );
        }
    }
    let job = Arc::new(UploadJob {
        owner: op.email().to_owned(),
        file_name: pending.file_name.clone(),
        total: pending.tokens.len(),
        listed: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        end: Mutex::new(None),
    });
    let job_id = new_id();
    sweep_jobs(&st);
    st.jobs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(job_id.clone(), Arc::clone(&job));
    let who = (
        op.email().to_owned(),
        op.source.clone(),
        op.session.staff.id,
    );
    tokio::spawn(run_job(Arc::clone(&st), job, pending, who));
    Redirect::to(&format!("/upload/jobs/{job_id}")).into_response()
}

/// An upload running (or run) in the background, watched on its page.
pub(crate) struct UploadJob {
    owner: String,
    file_name: String,
    total: usize,
    /// Devices already in the tenant, listed so far.
    listed: AtomicUsize,
    /// Tokens with a result.
    done: AtomicUsize,
    /// Of which failed.
    failed: AtomicUsize,
    /// Set when it has finished: when, and the results page's parts.
    end: Mutex<Option<JobEnd>>,
}

impl std::fmt::Debug for UploadJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadJob")
            .field("owner", &self.owner)
            .field("file_name", &self.file_name)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

/// How an upload ended.
#[derive(Debug, Clone)]
struct JobEnd {
    at: i64,
    title: String,
    summary: String,
    rows: Vec<ResultRow>,
}

impl Progress for UploadJob {
    fn listed(&self, existing: usize) {
        self.listed.store(existing, Ordering::Relaxed);
    }

    fn results(&self, results: &[TokenResult]) {
        self.done.fetch_add(results.len(), Ordering::Relaxed);
        let failed = results
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .count();
        self.failed.fetch_add(failed, Ordering::Relaxed);
    }
}

/// Finished uploads stay watchable for an hour.
fn sweep_jobs(st: &DeskState) {
    let now = st.now();
    st.jobs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .retain(|_, j| {
            j.end
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
                .is_none_or(|e| e.at + 3600 > now)
        });
}

/// Pushes the file, then audits, refreshes the copy and records the end.
async fn run_job(
    st: Arc<DeskState>,
    job: Arc<UploadJob>,
    pending: Pending,
    who: (String, String, i64),
) {
    let subject = format!("file:{}", pending.file_name);
    // The operator's role, read again where the upload is carried out.
    if let Err(e) = crate::tokens::holds(&st, who.2, &who.0, DeskRole::Administrator).await {
        let event = Event::ok(st.now(), &who.0, &who.1, "upload", &subject)
            .with_outcome("refused")
            .with_detail(e.to_string());
        if let Err(e) = st.store.audit(&event).await {
            tracing::error!(error = %e, "the refused upload could not be audited");
        }
        *job.end
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(JobEnd {
            at: st.now(),
            title: format!("{} was not uploaded", job.file_name),
            summary: format!("{e}. Nothing was uploaded."),
            rows: Vec::new(),
        });
        return;
    }
    let assign = HashMap::new();
    let done = HashMap::new();
    let work = Job {
        tokens: &pending.tokens,
        assign: &assign,
        done: &done,
    };
    let pushed = push(&st.graph, work, PushOptions::default(), job.as_ref()).await;
    drop(pending);
    if pushed.is_err() {
        st.metrics.add(oathvault_web::metrics::Event {
            name: "push_runs_failed",
            help: "Pushes that could not start (the tenant's inventory could not be listed).",
            labels: Vec::new(),
            by: 1,
        });
    }
    let (event, end) = match pushed {
        Ok(results) => {
            let count = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
            let (created, exists, failed) = (
                count(Outcome::Created),
                count(Outcome::Exists),
                count(Outcome::Failed),
            );
            for (result, n) in [("created", created), ("exists", exists), ("failed", failed)] {
                st.metrics.add(oathvault_web::metrics::Event {
                    name: "push_results",
                    help: "Tokens pushed to the tenant, by result (created, exists, failed).",
                    labels: vec![("result", result)],
                    by: u64::try_from(n).unwrap_or(u64::MAX),
                });
            }
            let summary = format!("{created} created, {exists} already there, {failed} failed.");
            (
                Event::ok(st.now(), &who.0, &who.1, "upload", &subject)
                    .with_outcome(if failed == 0 { "ok" } else { "failed" })
                    .with_detail(summary.clone()),
                JobEnd {
                    at: st.now(),
                    title: format!("Uploaded {}", job.file_name),
                    summary,
                    rows: result_rows(results),
                },
            )
        }
        Err(e) => (
            Event::ok(st.now(), &who.0, &who.1, "upload", &subject)
                .with_outcome("failed")
                .with_detail(e.to_string()),
            JobEnd {
                at: st.now(),
                title: format!("{} was not uploaded", job.file_name),
                summary: format!(
                    "The tenant's inventory could not be listed: {e}. Nothing was uploaded."
                ),
                rows: Vec::new(),
            },
        ),
    };
    if let Err(e) = st.store.audit(&event).await {
        tracing::error!(error = %e, "the upload could not be audited");
    }
    if let Err(e) = crate::sync(&st).await {
        tracing::warn!(error = %e, "sync after upload failed");
    }
    *job.end
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(end);
}

fn result_rows(results: Vec<TokenResult>) -> Vec<ResultRow> {
    results
        .into_iter()
        .map(|r| ResultRow {
            outcome: r.outcome.as_str().to_owned(),
            class: if r.outcome == Outcome::Failed {
                "failed"
            } else {
                "ok"
            },
            status: r.status.unwrap_or_default(),
            code: r.error_code.unwrap_or_default(),
            request_id: r.request_id.unwrap_or_default(),
            message: r.message.unwrap_or_default(),
            id: r.device_id,
            serial: r.serial,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    frame: Frame,
    file_name: String,
    total: usize,
    listed: usize,
    done: usize,
    failed: usize,
}

async fn job_page(
    State(st): State<Arc<DeskState>>,
    op: Operator,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = op
        .require(&st, DeskRole::Administrator, "upload", "seed file")
        .await
    {
        return r;
    }
    let job = st
        .jobs
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&id)
        .cloned();
    let Some(job) = job else {
        return message(
            StatusCode::NOT_FOUND,
            op.frame("upload"),
            "No such upload",
            "Uploads can be watched for an hour after they finish; the audit log keeps what each did.",
            Some("/audit?q=upload"),
        );
    };
    let end = job
        .end
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    match end {
        Some(end) => render(
            StatusCode::OK,
            &ResultsPage {
                frame: op.frame("upload"),
                title: end.title,
                summary: end.summary,
                results: end.rows,
            },
        ),
        None => render(
            StatusCode::OK,
            &JobPage {
                frame: op.frame("upload"),
                file_name: job.file_name.clone(),
                total: job.total,
                listed: job.listed.load(Ordering::Relaxed),
                done: job.done.load(Ordering::Relaxed),
                failed: job.failed.load(Ordering::Relaxed),
            },
        ),
    }
}

#[derive(Template)]
#[template(path = "reconcile.html")]
struct ReconcilePage {
    frame: Frame,
    file_name: String,
    missing: Vec<String>,
    extra: Vec<String>,
    duplicates: Vec<String>,
    states: Vec<(String, usize)>,
}

async fn reconcile(State(st): State<Arc<DeskState>>, op: Operator, form: Multipart) -> Response {
    if let Err(r) = op
        .require(&st, DeskRole::Helpdesk, "reconcile", "seed file")
        .await
    {
        return r;
    }
    let up = match read_seed_upload(form).await {
        Ok(u) => u,
        Err(e) => return upload_form(&op, true, StatusCode::BAD_REQUEST, vec![e]),
    };
    let (_, file_name, tokens) = match read_tokens(up).await {
        Ok(x) => x,
        Err(problems) => return upload_form(&op, true, StatusCode::UNPROCESSABLE_ENTITY, problems),
    };
    let devices = match st.graph.list_devices(None, |_| {}).await {
        Ok(d) => d,
        Err(e) => {
            return upload_form(
                &op,
                true,
                StatusCode::BAD_GATEWAY,
                vec![format!("the tenant's inventory could not be listed: {e}")],
            );
        }
    };
    let r = oathvault_graph::reconcile::compare(&tokens, &devices);
    let mut duplicates: Vec<String> = r
        .file_duplicates
        .iter()
        .chain(&r.tenant_duplicates)
        .cloned()
        .collect();
    duplicates.sort();
    duplicates.dedup();
    let (missing, extra, states) = (r.missing, r.extra, r.states);
    let ev = op
        .event("reconcile", &format!("file:{file_name}"))
        .with_detail(format!(
            "{} missing, {} extra, {} duplicate",
            missing.len(),
            extra.len(),
            duplicates.len()
        ));
    if let Err(e) = st.store.audit(&ev).await {
        return store_failed(&op, &e);
    }
    render(
        StatusCode::OK,
        &ReconcilePage {
            frame: op.frame("reconcile"),
            file_name,
            missing,
            extra,
            duplicates,
            states: states.into_iter().collect(),
        },
    )
}
