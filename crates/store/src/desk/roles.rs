//! Operators' desk roles: a staff member with one may use the desk.

use crate::audit::Event;
use crate::{Error, Store};
use serde::Serialize;

/// What an operator may do on the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeskRole {
    /// Sees the inventory, the users and the audit log.
    Viewer,
    /// Also assigns, activates, unassigns, deactivates and replaces tokens.
    Helpdesk,
    /// Also uploads seed files, deletes tokens and manages operators.
    Administrator,
}

impl DeskRole {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Helpdesk => "helpdesk",
            Self::Administrator => "administrator",
        }
    }

    /// Parses a stored or typed name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "helpdesk" | "help-desk" => Some(Self::Helpdesk),
            "administrator" | "admin" => Some(Self::Administrator),
            _ => None,
        }
    }
}

impl Store {
    /// The desk role of the staff member with this id (`None`: no access).
    pub async fn desk_role(&self, staff_id: i64) -> Result<Option<DeskRole>, Error> {
        let role: Option<Option<String>> =
            sqlx::query_scalar("SELECT desk_role FROM staff WHERE id = $1 AND disabled = 0")
                .bind(staff_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(role.flatten().as_deref().and_then(DeskRole::parse))
    }

    /// Gives (or with `None` takes away) a staff member's desk role.
    pub async fn set_desk_role(
        &self,
        email: &str,
        role: Option<DeskRole>,
        audit: &Event,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE staff SET desk_role = $1 WHERE email = $2")
            .bind(role.map(|r| r.as_str().to_owned()))
            .bind(email.to_ascii_lowercase())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound {
                what: "staff member",
                name: email.to_owned(),
            });
        }
        self.chain.append(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Operators: staff with a desk role, by e-mail.
    pub async fn desk_operators(&self) -> Result<Vec<(String, String, DeskRole)>, Error> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT email, name, desk_role FROM staff \
             WHERE desk_role IS NOT NULL AND disabled = 0 ORDER BY email",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(email, name, role)| DeskRole::parse(&role).map(|r| (email, name, r)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_order() {
        for r in [
            DeskRole::Viewer,
            DeskRole::Helpdesk,
            DeskRole::Administrator,
        ] {
            assert_eq!(DeskRole::parse(r.as_str()), Some(r));
        }
        assert!(DeskRole::Viewer < DeskRole::Helpdesk);
        assert!(DeskRole::Helpdesk < DeskRole::Administrator);
        assert_eq!(DeskRole::parse("root"), None);
    }
}
