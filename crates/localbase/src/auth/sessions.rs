//! Sessions, rotating refresh tokens and access tokens.
//!
//! Each sign-in makes a row in `auth.sessions` and a first refresh token.
//! A refresh revokes the token it used and issues a child. Presenting a
//! revoked token again within [`REUSE_INTERVAL_SECS`] of its rotation
//! answers with the current child (two tabs refreshing at once); later, it
//! is treated as theft and the whole session is revoked, as GoTrue does.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::error::AuthError;
use super::users::{self, User};
use super::AuthState;
use crate::keys::random_string;

/// GoTrue's `GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL` default.
pub const REUSE_INTERVAL_SECS: i64 = 10;

/// An issued session: what the token endpoint answers.
pub struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub expires_at: i64,
    pub user: User,
}

impl Issued {
    pub fn to_json(&self) -> Value {
        json!({
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "user": self.user.to_json(),
        })
    }
}

/// Signs `user` in: a new session and its first refresh token.
pub async fn sign_in(state: &AuthState, user: User, method: &str) -> Result<Issued, AuthError> {
    let session_id = Uuid::new_v4();
    let token = random_string(22);
    let mut tx = state.pool.begin().await?;
    let created_at: DateTime<Utc> = sqlx::query_scalar(
        "insert into auth.sessions (id, user_id, created_at, updated_at, aal) \
         values ($1, $2, now(), now(), 'aal1') returning created_at",
    )
    .bind(session_id)
    .bind(user.id)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "insert into auth.refresh_tokens (token, user_id, revoked, created_at, updated_at, session_id) \
         values ($1, $2::uuid, false, now(), now(), $3)",
    )
    .bind(&token)
    .bind(user.id.to_string())
    .bind(session_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    users::touch_sign_in(&state.pool, user.id).await?;
    let user = users::by_id(&state.pool, user.id).await?.unwrap_or(user);
    issue(state, user, session_id, created_at, method, token)
}

fn not_found() -> AuthError {
    AuthError::new(
        StatusCode::BAD_REQUEST,
        "refresh_token_not_found",
        "Invalid Refresh Token: Refresh Token Not Found",
    )
}

/// `grant_type=refresh_token`.
pub async fn refresh(state: &AuthState, presented: &str) -> Result<Issued, AuthError> {
    if presented.is_empty() {
        return Err(not_found());
    }
    let mut tx = state.pool.begin().await?;
    let Some(row) = sqlx::query(
        "select rt.id, coalesce(rt.revoked, false) as revoked, rt.updated_at, rt.session_id, \
                s.user_id, s.created_at as session_created_at, s.not_after \
         from auth.refresh_tokens rt join auth.sessions s on s.id = rt.session_id \
         where rt.token = $1 for update of rt, s",
    )
    .bind(presented)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Err(not_found());
    };
    let token_id: i64 = row.try_get("id")?;
    let revoked: bool = row.try_get("revoked")?;
    let rotated_at: Option<DateTime<Utc>> = row.try_get("updated_at")?;
    let session_id: Uuid = row.try_get("session_id")?;
    let user_id: Uuid = row.try_get("user_id")?;
    let session_created_at: Option<DateTime<Utc>> = row.try_get("session_created_at")?;
    let not_after: Option<DateTime<Utc>> = row.try_get("not_after")?;

    if not_after.is_some_and(|t| t < Utc::now()) {
        return Err(AuthError::new(StatusCode::BAD_REQUEST, "session_expired", "Invalid Refresh Token: Session Expired"));
    }

    let token = if revoked {
        let within_reuse = rotated_at
            .is_some_and(|t| (Utc::now() - t).num_seconds() < REUSE_INTERVAL_SECS);
        let active: Option<String> = sqlx::query_scalar(
            "select token::text from auth.refresh_tokens \
             where session_id = $1 and not coalesce(revoked, false) order by id desc limit 1",
        )
        .bind(session_id)
        .fetch_optional(&mut *tx)
        .await?;
        match (within_reuse, active) {
            (true, Some(active)) => active,
            _ => {
                sqlx::query("delete from auth.sessions where id = $1")
                    .bind(session_id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Err(AuthError::new(
                    StatusCode::BAD_REQUEST,
                    "refresh_token_already_used",
                    "Invalid Refresh Token: Already Used",
                ));
            }
        }
    } else {
        let child = random_string(22);
        sqlx::query("update auth.refresh_tokens set revoked = true, updated_at = now() where id = $1")
            .bind(token_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "insert into auth.refresh_tokens (token, user_id, revoked, created_at, updated_at, parent, session_id) \
             values ($1, $2::uuid, false, now(), now(), $3, $4)",
        )
        .bind(&child)
        .bind(user_id.to_string())
        .bind(presented)
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("update auth.sessions set updated_at = now(), refreshed_at = now() where id = $1")
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
        child
    };
    tx.commit().await?;

    let Some(user) = users::by_id(&state.pool, user_id).await? else {
        return Err(not_found());
    };
    if user.is_banned() {
        return Err(AuthError::new(StatusCode::BAD_REQUEST, "user_banned", "User is banned"));
    }
    issue(state, user, session_id, session_created_at.unwrap_or_else(Utc::now), "password", token)
}

fn issue(
    state: &AuthState,
    user: User,
    session_id: Uuid,
    signed_in_at: DateTime<Utc>,
    method: &str,
    refresh_token: String,
) -> Result<Issued, AuthError> {
    let iat = Utc::now().timestamp();
    let expires_in = state.jwt_expiry_secs;
    let exp = iat + expires_in as i64;
    let claims = json!({
        "iss": state.issuer,
        "sub": user.id,
        "aud": user.aud,
        "exp": exp,
        "iat": iat,
        "email": user.email.clone().unwrap_or_default(),
        "phone": user.phone,
        "app_metadata": user.app_metadata,
        "user_metadata": user.user_metadata,
        "role": user.role,
        "aal": "aal1",
        "amr": [{ "method": method, "timestamp": signed_in_at.timestamp() }],
        "session_id": session_id,
        "is_anonymous": user.is_anonymous,
    });
    let access_token = state.keys.sign_es256(&claims).map_err(AuthError::internal)?;
    Ok(Issued { access_token, refresh_token, expires_in, expires_at: exp, user })
}

/// Whether the session an access token names still exists.
pub async fn exists(pool: &PgPool, session_id: Uuid) -> Result<bool, AuthError> {
    let found: Option<i32> = sqlx::query_scalar("select 1 from auth.sessions where id = $1")
        .bind(session_id)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

/// Which sessions `POST /logout` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutScope {
    Global,
    Local,
    Others,
}

pub async fn logout(
    pool: &PgPool,
    user_id: Uuid,
    session_id: Option<Uuid>,
    scope: LogoutScope,
) -> Result<(), AuthError> {
    match (scope, session_id) {
        (LogoutScope::Local, Some(sid)) => {
            sqlx::query("delete from auth.sessions where id = $1").bind(sid).execute(pool).await?;
        }
        (LogoutScope::Others, Some(sid)) => {
            sqlx::query("delete from auth.sessions where user_id = $1 and id <> $2")
                .bind(user_id)
                .bind(sid)
                .execute(pool)
                .await?;
        }
        (LogoutScope::Others, None) => {}
        (LogoutScope::Global, _) | (LogoutScope::Local, None) => revoke_sessions(pool, user_id).await?,
    }
    Ok(())
}

/// Ends every session of a user (their refresh tokens go with them), as a
/// global logout, a ban or a soft delete does. Access tokens already issued
/// stop working at once, because `GET /user` and friends check the session.
pub async fn revoke_sessions<'e>(db: impl sqlx::PgExecutor<'e>, user_id: Uuid) -> Result<(), AuthError> {
    sqlx::query("delete from auth.sessions where user_id = $1").bind(user_id).execute(db).await?;
    Ok(())
}
