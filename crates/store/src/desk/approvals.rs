//! Destructive actions waiting for (or decided by) a second administrator.

use serde::Serialize;
use sqlx::AssertSqlSafe;

use crate::audit::Event;
use crate::decode::Lines;
use crate::{Error, Store};

/// A destructive action waiting for (or decided by) a second administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Approval {
    /// Row id.
    pub id: i64,
    /// What is to be done (`delete`).
    pub action: String,
    /// Graph object ids of the tokens.
    #[sqlx(try_from = "Lines")]
    pub device_ids: Vec<String>,
    /// Their serials, in the same order.
    #[sqlx(try_from = "Lines")]
    pub serials: Vec<String>,
    /// Who asked.
    pub requested_by: String,
    /// When (Unix seconds).
    pub requested_at: i64,
    /// Undecided after this, it can no longer be approved.
    pub expires: i64,
    /// `pending`, `approved` or `rejected`.
    pub state: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// What carrying it out did, in words.
    pub outcome: Option<String>,
}

const APPROVAL_COLUMNS: &str = "id, action, device_ids, serials, requested_by, requested_at, \
     expires, state, decided_by, outcome";

impl Store {
    /// Files a destructive action for a second administrator; returns its id.
    pub async fn desk_approval_add(
        &self,
        action: &str,
        tokens: &[(String, String)],
        requested_by: &str,
        now: i64,
        expires: i64,
        audit: &Event,
    ) -> Result<i64, Error> {
        let ids: Vec<&str> = tokens.iter().map(|t| t.0.as_str()).collect();
        let serials: Vec<&str> = tokens.iter().map(|t| t.1.as_str()).collect();
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO desk_approval (action, device_ids, serials, requested_by, requested_at, \
             expires, state) VALUES ($1, $2, $3, $4, $5, $6, 'pending') RETURNING id",
        )
        .bind(action.to_owned())
        .bind(ids.join("\n"))
        .bind(serials.join("\n"))
        .bind(requested_by.to_owned())
        .bind(now)
        .bind(expires)
        .fetch_one(&mut *tx)
        .await?;
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Pending approvals (oldest first) and the 50 latest decided ones.
    pub async fn desk_approvals(&self) -> Result<(Vec<Approval>, Vec<Approval>), Error> {
        let pending = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {APPROVAL_COLUMNS} FROM desk_approval WHERE state = 'pending' ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        let decided = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {APPROVAL_COLUMNS} FROM desk_approval WHERE state <> 'pending' \
             ORDER BY id DESC LIMIT 50"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok((pending, decided))
    }

    /// Decides a pending approval, in one guarded step: it must be pending,
    /// and an approval must be in time and by someone other than who
    /// asked. Returns it as decided.
    pub async fn desk_approval_decide(
        &self,
        id: i64,
        by: &str,
        approve: bool,
        now: i64,
        audit: &Event,
    ) -> Result<Approval, Error> {
        let mut tx = self.begin().await?;
        let a: Approval = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {APPROVAL_COLUMNS} FROM desk_approval WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "approval",
            name: id.to_string(),
        })?;
        if a.state != "pending" {
            return Err(Error::Refused(format!(
                "request {id} was already {} by {}",
                a.state,
                a.decided_by.as_deref().unwrap_or("someone")
            )));
        }
        // The one who asked may withdraw (reject) it, never approve it.
        if approve && a.requested_by.eq_ignore_ascii_case(by) {
            return Err(Error::Refused(
                "a second administrator must decide: you asked for this yourself".into(),
            ));
        }
        if approve && a.expires <= now {
            return Err(Error::Refused(format!(
                "request {id} expired unapproved; ask for it again"
            )));
        }
        let state = if approve { "approved" } else { "rejected" };
        let done = sqlx::query(
            "UPDATE desk_approval SET state = $1, decided_by = $2, decided_at = $3 \
             WHERE id = $4 AND state = 'pending'",
        )
        .bind(state)
        .bind(by.to_owned())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(Error::Refused(format!(
                "request {id} was decided meanwhile"
            )));
        }
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(Approval {
            state: state.into(),
            decided_by: Some(by.to_owned()),
            ..a
        })
    }

    /// Records what carrying out an approved action did.
    pub async fn desk_approval_outcome(&self, id: i64, outcome: &str) -> Result<(), Error> {
        sqlx::query("UPDATE desk_approval SET outcome = $1 WHERE id = $2")
            .bind(outcome.to_owned())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
