//! Changing a signed-in user's email, as GoTrue does it: `PUT /user` with a
//! new address only records the request (`email_change`, a token and when it
//! was sent); `auth.users.email` and `email_confirmed_at` stay as they are
//! until `POST /verify` with type `email_change` and that token confirms it.
//!
//! GoTrue mails the token. localbase has no mail: it logs the confirmation
//! at info level. Only the new address confirms (GoTrue's behaviour with
//! "secure email change" off).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use sqlx::Row;
use uuid::Uuid;

use super::common::{ok, parse_body};
use super::error::AuthError;
use super::sessions;
use super::users::{self, User};
use super::AuthState;

/// How long a confirmation stays valid: GoTrue's `MAILER_OTP_EXP` default.
pub const TOKEN_VALIDITY_SECS: i64 = 86_400;

/// GoTrue's token hash: SHA-224 of the address and the one-time code, in hex.
/// It is what the link carries and what is stored.
fn token_hash(email: &str, otp: &str) -> String {
    use sha2::{Digest, Sha224};
    Sha224::digest(format!("{email}{otp}").as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A six-digit one-time code, as GoTrue mails.
fn one_time_code() -> String {
    use rand::Rng;
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000))
}

/// Records that `user` asked to change their email to `new_email`, and logs
/// how to confirm it. The user's email itself does not change.
pub async fn request(state: &AuthState, user: &User, new_email: &str) -> Result<User, AuthError> {
    if users::by_email(&state.pool, new_email).await?.is_some_and(|other| other.id != user.id) {
        return Err(AuthError::email_exists());
    }
    let otp = one_time_code();
    let hash = token_hash(new_email, &otp);
    sqlx::query(
        "update auth.users set email_change = $2, email_change_token_new = $3, email_change_sent_at = now(), \
            email_change_confirm_status = 0, updated_at = now() \
         where id = $1",
    )
    .bind(user.id)
    .bind(new_email)
    .bind(&hash)
    .execute(&state.pool)
    .await?;
    tracing::info!(
        user_id = %user.id,
        new_email,
        "email change requested; to confirm it (localbase sends no mail): \
         POST {issuer}/verify {{\"type\":\"email_change\",\"token_hash\":\"{hash}\"}} \
         or supabase.auth.verifyOtp({{ type: 'email_change', email: '{new_email}', token: '{otp}' }})",
        issuer = state.issuer,
    );
    users::by_id(&state.pool, user.id).await?.ok_or_else(AuthError::user_not_found)
}

#[derive(Deserialize)]
struct Verify {
    r#type: Option<String>,
    token_hash: Option<String>,
    token: Option<String>,
    email: Option<String>,
}

fn invalid_or_expired() -> AuthError {
    AuthError::new(StatusCode::FORBIDDEN, "otp_expired", "Token has expired or is invalid")
}

/// `POST /verify` with `{"type":"email_change","token_hash"}` or
/// `{"type":"email_change","email":<new address>,"token":<code>}`: applies
/// the pending change, confirms the new address and answers a session, as
/// GoTrue does. Other types are not implemented here.
pub async fn verify(
    State(state): State<AuthState>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, AuthError> {
    let verify: Verify = parse_body(&body)?;
    let kind = verify.r#type.or_else(|| query.get("type").cloned()).unwrap_or_default();
    if kind != "email_change" {
        return Err(AuthError::validation(format!(
            "Verify requires a verification type; localbase supports email_change, not {kind:?}"
        )));
    }
    let hash = match (verify.token_hash.filter(|h| !h.is_empty()), verify.email, verify.token) {
        (Some(hash), _, _) => hash,
        (None, Some(email), Some(token)) => token_hash(&users::check_email(&email)?, token.trim()),
        _ => return Err(AuthError::validation("Verify requires a token_hash, or an email and a token")),
    };
    let user = confirm(&state, &hash).await?;
    let issued = sessions::sign_in(&state, user, "otp").await?;
    Ok(ok(issued.to_json()))
}

/// Applies the change whose token hash is `hash`, in one transaction, and
/// returns the user with the new, confirmed address.
async fn confirm(state: &AuthState, hash: &str) -> Result<User, AuthError> {
    let mut tx = state.pool.begin().await?;
    let row = sqlx::query(
        "select id, email_change, email_change_sent_at from auth.users \
         where email_change_token_new = $1 and coalesce(email_change, '') <> '' and deleted_at is null \
         for update",
    )
    .bind(hash)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(invalid_or_expired)?;
    let id: Uuid = row.try_get("id")?;
    let new_email: String = row.try_get("email_change")?;
    let sent_at: Option<DateTime<Utc>> = row.try_get("email_change_sent_at")?;
    if sent_at.is_none_or(|t| (Utc::now() - t).num_seconds() > TOKEN_VALIDITY_SECS) {
        return Err(invalid_or_expired());
    }
    let taken: Option<Uuid> = sqlx::query_scalar(
        "select id from auth.users where lower(email) = lower($1) and id <> $2 and deleted_at is null limit 1",
    )
    .bind(&new_email)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if taken.is_some() {
        return Err(AuthError::email_exists());
    }
    sqlx::query(
        "update auth.users set email = email_change, email_confirmed_at = now(), email_change = '', \
            email_change_token_new = '', email_change_sent_at = null, email_change_confirm_status = 0, \
            updated_at = now() \
         where id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(user_id = %id, "email change confirmed");
    users::by_id(&state.pool, id).await?.ok_or_else(AuthError::user_not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_hash_is_gotrues_sha224_of_address_and_code() {
        // sha224("a@b.c" + "123456")
        assert_eq!(token_hash("a@b.c", "123456").len(), 56);
        assert_eq!(token_hash("a@b.c", "123456"), token_hash("a@b.c", "123456"));
        assert_ne!(token_hash("a@b.c", "123456"), token_hash("a@b.c", "123457"));
    }

    #[test]
    fn one_time_codes_are_six_digits() {
        for _ in 0..100 {
            let code = one_time_code();
            assert_eq!(code.len(), 6);
            assert!(code.chars().all(|c| c.is_ascii_digit()));
        }
    }
}
