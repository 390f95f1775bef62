//! The people pages' sessions (only the hash of each cookie is stored).

use sqlx::Row;

use super::users::user_row;
use super::{Db, DbError, User};

impl Db {
    /// Starts a people's session (only the hash of its cookie is stored).
    pub async fn create_session(
        &self,
        id_hash: &str,
        user_id: &str,
        stage: &str,
        expires: i64,
        now: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO dir_session (id_hash, user_id, stage, expires, created) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(stage)
        .bind(expires)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session with this hash: its user and stage.
    pub async fn session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<(User, String)>, DbError> {
        let row = sqlx::query(
            "SELECT u.id, u.tenant_id, u.upn, u.display_name, u.password_hash, u.roles, s.stage \
             FROM dir_session s JOIN dir_user u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row
            .map(|r| -> Result<(User, String), sqlx::Error> {
                Ok((user_row(&r)?, r.try_get("stage")?))
            })
            .transpose()?)
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM dir_session WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
