//! Putting a vendor's tokens into a tenant, safely and resumably:
//!
//! 1. every token is checked against Entra's limits first — one problem and
//!    nothing is uploaded;
//! 2. the tenant's inventory is listed once, so a serial already there is
//!    reported, never created twice (a rerun or `--resume` after an
//!    interruption converges on exactly one device per serial);
//! 3. the rest go up in `#$delta` chunks, several at a time;
//! 4. a chunk that fails is retried token by token with single `POST`s, and
//!    a token whose `POST` fails is looked up by serial before it is called
//!    failed (the chunk may have created it before the connection broke).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use futures_util::StreamExt;
use oathvault_formats::{Target, Violation};
use oathvault_token::Token;
use serde::{Deserialize, Serialize};

use crate::client::Graph;
use crate::{Device, Error};

/// The largest chunk Graph is sent in one `#$delta` request.
pub const MAX_CHUNK: usize = 1000;

/// How to push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushOptions {
    /// Tokens per `#$delta` request (1 ..= [`MAX_CHUNK`]).
    pub chunk: usize,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Only say what would change.
    pub dry_run: bool,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            chunk: 500,
            concurrency: 4,
            dry_run: false,
        }
    }
}

/// What happened to one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Created now.
    Created,
    /// The tenant already had this serial; nothing was created.
    Exists,
    /// `--dry-run`: it would be created.
    WouldCreate,
    /// It could not be created.
    Failed,
}

impl Outcome {
    /// The word in reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Exists => "exists",
            Self::WouldCreate => "would-create",
            Self::Failed => "failed",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResult {
    /// The serial.
    pub serial: String,
    /// What happened.
    pub outcome: Outcome,
    /// The device's object id, when there is one.
    #[serde(default)]
    pub device_id: Option<String>,
    /// The device's status in the tenant, when known.
    #[serde(default)]
    pub status: Option<String>,
    /// Graph's error code, for failures.
    #[serde(default)]
    pub error_code: Option<String>,
    /// Graph's request id, for failures.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The error, in words.
    #[serde(default)]
    pub message: Option<String>,
}

impl TokenResult {
    fn device(serial: &str, outcome: Outcome, d: &Device) -> Self {
        Self {
            serial: serial.to_owned(),
            outcome,
            device_id: Some(d.id.clone()),
            status: d.status.clone(),
            error_code: None,
            request_id: None,
            message: None,
        }
    }

    fn failed(serial: &str, e: &Error) -> Self {
        Self {
            serial: serial.to_owned(),
            outcome: Outcome::Failed,
            device_id: None,
            status: None,
            error_code: Some(e.code().to_owned()),
            request_id: e.request_id().map(str::to_owned),
            message: Some(e.to_string()),
        }
    }
}

/// Every reason Entra would refuse a token of `tokens` (limits and
/// duplicate serials), in file order.
#[must_use]
pub fn validate(tokens: &[Token]) -> Vec<Violation> {
    let mut seen = HashSet::with_capacity(tokens.len());
    let mut out = Vec::new();
    for t in tokens {
        out.extend(Target::EntraGraph.check(t));
        if !seen.insert(t.serial.as_str()) {
            out.push(Violation {
                serial: t.serial.clone(),
                rule: oathvault_formats::Rule::DuplicateSerial,
                found: "a second row with this serial".into(),
            });
        }
    }
    out
}

/// Hears results as soon as they are known (for a journal and a progress
/// bar), a chunk's worth at a time; it must be cheap.
pub trait Progress: Sync {
    /// The inventory was listed: `existing` devices so far.
    fn listed(&self, existing: usize) {
        let _ = existing;
    }
    /// Results of some tokens (one chunk, or one token).
    fn results(&self, results: &[TokenResult]);
}

/// What to push.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    /// The tokens (already validated).
    pub tokens: &'a [Token],
    /// Serial → object id of the user each is created for.
    pub assign: &'a HashMap<String, String>,
    /// Results of an earlier, interrupted run (`--resume`): the tokens it
    /// created are reported as created, not as already there.
    pub done: &'a HashMap<String, TokenResult>,
}

/// Pushes the job's tokens to the tenant. Returns one result per token, in
/// input order.
///
/// # Errors
/// Only when the inventory cannot be listed; every per-token failure is a
/// [`TokenResult`].
pub async fn push(
    graph: &Graph,
    job: Job<'_>,
    options: PushOptions,
    progress: &dyn Progress,
) -> Result<Vec<TokenResult>, Error> {
    let Job {
        tokens,
        assign,
        done,
    } = job;
    let inventory = graph.list_devices(None, |n| progress.listed(n)).await?;
    let by_serial: HashMap<&str, &Device> = inventory
        .iter()
        .map(|d| (d.serial_number.as_str(), d))
        .collect();
    let results: Mutex<Vec<Option<TokenResult>>> = Mutex::new(vec![None; tokens.len()]);
    let record = |batch: Vec<(usize, TokenResult)>| {
        let (indices, batch): (Vec<usize>, Vec<TokenResult>) = batch.into_iter().unzip();
        progress.results(&batch);
        let mut slots = results
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (i, r) in indices.into_iter().zip(batch) {
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(r);
            }
        }
    };
    let mut todo = Vec::new();
    let mut known = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let serial = t.serial.as_str();
        if let Some(d) = by_serial.get(serial) {
            // Created by the interrupted run this resumes: still "created".
            let outcome = match done.get(serial) {
                Some(r) if r.outcome == Outcome::Created => Outcome::Created,
                _ => Outcome::Exists,
            };
            known.push((i, TokenResult::device(serial, outcome, d)));
        } else if options.dry_run {
            known.push((
                i,
                TokenResult {
                    serial: serial.to_owned(),
                    outcome: Outcome::WouldCreate,
                    device_id: None,
                    status: None,
                    error_code: None,
                    request_id: None,
                    message: None,
                },
            ));
        } else {
            todo.push(i);
        }
    }
    if !known.is_empty() {
        record(known);
    }
    let chunk = options.chunk.clamp(1, MAX_CHUNK);
    // Owned chunks: a closure over borrowed slices makes the future fail
    // the `Send` check of a web handler (rustc's higher-ranked lifetimes).
    let chunks: Vec<Vec<usize>> = todo.chunks(chunk).map(<[usize]>::to_vec).collect();
    let record = &record;
    futures_util::stream::iter(chunks)
        .map(|indices| async move { push_chunk(graph, tokens, assign, &indices, record).await })
        .buffer_unordered(options.concurrency.max(1))
        .collect::<Vec<()>>()
        .await;
    let results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(results
        .into_iter()
        .zip(tokens)
        .map(|(r, t)| {
            r.unwrap_or_else(|| {
                TokenResult::failed(
                    t.serial.as_str(),
                    &Error::Invalid("no result (internal error)".into()),
                )
            })
        })
        .collect())
}

async fn push_chunk(
    graph: &Graph,
    tokens: &[Token],
    assign: &HashMap<String, String>,
    indices: &[usize],
    record: &(dyn Fn(Vec<(usize, TokenResult)>) + Sync),
) {
    let batch: Vec<(&Token, Option<&str>)> = indices
        .iter()
        .filter_map(|&i| tokens.get(i))
        .map(|t| (t, assign.get(t.serial.as_str()).map(String::as_str)))
        .collect();
    if batch.len() > 1 {
        match graph.create_devices(&batch).await {
            Ok(devices) if devices.len() == batch.len() => {
                let by_serial: HashMap<&str, &Device> = devices
                    .iter()
                    .map(|d| (d.serial_number.as_str(), d))
                    .collect();
                // The chunk's results reach the journal in one piece; a
                // serial missing from the answer is then tried on its own.
                let mut created = Vec::with_capacity(batch.len());
                let mut missing = Vec::new();
                for (&i, (t, user)) in indices.iter().zip(&batch) {
                    let serial = t.serial.as_str();
                    match by_serial.get(serial) {
                        Some(d) => {
                            created.push((i, TokenResult::device(serial, Outcome::Created, d)));
                        }
                        None => missing.push((i, *t, *user)),
                    }
                }
                record(created);
                for (i, t, user) in missing {
                    record(vec![(i, one(graph, t, user).await)]);
                }
                return;
            }
            Ok(_) | Err(_) => {
                tracing::info!(
                    tokens = batch.len(),
                    "graph: a #$delta chunk failed; one by one"
                );
            }
        }
    }
    for (&i, (t, user)) in indices.iter().zip(&batch) {
        record(vec![(i, one(graph, t, *user).await)]);
    }
}

/// One token by `POST`; on failure, looked up by serial.
async fn one(graph: &Graph, token: &Token, user: Option<&str>) -> TokenResult {
    let serial = token.serial.as_str();
    match graph.create_device(token, user).await {
        Ok(d) => TokenResult::device(serial, Outcome::Created, &d),
        Err(e) => match graph.device_by_serial(serial).await {
            Ok(Some(d)) => TokenResult::device(serial, Outcome::Exists, &d),
            _ => TokenResult::failed(serial, &e),
        },
    }
}
