//! `/admin/users`: user management with the service role key.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::common::{claims, ok, parse_body};
use super::error::AuthError;
use super::sessions;
use super::users::{self, NewUser, UserChange};
use super::AuthState;

/// Only a token whose role is `service_role` (or `supabase_admin`) may
/// manage users, as in GoTrue.
fn require_admin(state: &AuthState, headers: &HeaderMap) -> Result<(), AuthError> {
    let claims = claims(state, headers)?;
    match claims["role"].as_str() {
        Some("service_role") | Some("supabase_admin") => Ok(()),
        _ => Err(AuthError::not_admin()),
    }
}

fn user_id(id: &str) -> Result<Uuid, AuthError> {
    Uuid::parse_str(id).map_err(|_| AuthError::validation("user_id must be an UUID"))
}

/// GoTrue's `ban_duration`: `"none"` lifts a ban, otherwise a Go duration
/// such as `"24h"`, `"30m"` or `"876000h"`.
fn ban_until(duration: &str) -> Result<Option<DateTime<Utc>>, AuthError> {
    if duration == "none" {
        return Ok(None);
    }
    let bad = || AuthError::validation(format!("invalid format for ban duration: {duration:?}"));
    let mut total = 0f64;
    let mut rest = duration.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let (number, tail) = rest.split_at(split);
        let number: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let secs = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return Err(bad()),
        };
        total += number * secs;
        rest = tail;
    }
    if !total.is_finite() || total > 1e11 {
        return Err(bad());
    }
    Ok(Some(Utc::now() + chrono::Duration::milliseconds((total * 1000.0) as i64)))
}

#[derive(Deserialize)]
pub struct AdminUserBody {
    id: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
    email_confirm: Option<bool>,
    phone_confirm: Option<bool>,
    user_metadata: Option<Map<String, Value>>,
    app_metadata: Option<Map<String, Value>>,
    role: Option<String>,
    ban_duration: Option<String>,
}

/// `POST /admin/users`.
pub async fn create(
    State(state): State<AuthState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AuthError> {
    require_admin(&state, &headers)?;
    let body: AdminUserBody = parse_body(&body)?;
    let email = body.email.as_deref().filter(|e| !e.is_empty()).map(users::check_email).transpose()?;
    let phone = body.phone.filter(|p| !p.is_empty());
    if email.is_none() && phone.is_none() {
        return Err(AuthError::validation("Unable to validate email address: invalid format"));
    }
    if let Some(p) = &body.password {
        users::check_password(p)?;
    }
    let id = body.id.as_deref().map(user_id).transpose()?;
    let banned_until = body.ban_duration.as_deref().map(ban_until).transpose()?.flatten();
    let user = users::create(
        &state.pool,
        NewUser {
            id,
            email,
            phone,
            password: body.password,
            email_confirmed: body.email_confirm.unwrap_or(false),
            phone_confirmed: body.phone_confirm.unwrap_or(false),
            user_metadata: body.user_metadata,
            app_metadata: body.app_metadata,
            role: body.role,
            banned_until,
        },
    )
    .await?;
    Ok(ok(user.to_json()))
}

/// `GET /admin/users?page=1&per_page=50`.
pub async fn list(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, AuthError> {
    require_admin(&state, &headers)?;
    let number = |name: &str, default: i64| -> Result<i64, AuthError> {
        match query.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| AuthError::validation(format!("bad {name} parameter: {v:?}"))),
        }
    };
    let page = number("page", 1)?;
    let per_page = number("per_page", 50)?.min(1000);
    let (found, total) = users::list(&state.pool, page, per_page).await?;
    let users: Vec<Value> = found.iter().map(users::User::to_json).collect();
    let mut response = ok(json!({ "users": users, "aud": "authenticated" }));
    if let Ok(v) = HeaderValue::from_str(&total.to_string()) {
        response.headers_mut().insert("x-total-count", v);
    }
    // GoTrue's pagination links, which supabase-js reads into
    // `nextPage` / `lastPage`.
    let last = ((total + per_page - 1) / per_page).max(1);
    let mut links = Vec::new();
    if page < last {
        links.push(format!("</admin/users?page={}&per_page={per_page}>; rel=\"next\"", page + 1));
    }
    links.push(format!("</admin/users?page={last}&per_page={per_page}>; rel=\"last\""));
    if let Ok(v) = HeaderValue::from_str(&links.join(", ")) {
        response.headers_mut().insert("link", v);
    }
    Ok(response)
}

/// `GET /admin/users/{id}`.
pub async fn get(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, AuthError> {
    require_admin(&state, &headers)?;
    let user = users::by_id(&state.pool, user_id(&id)?).await?.ok_or_else(AuthError::user_not_found)?;
    Ok(ok(user.to_json()))
}

/// `PUT /admin/users/{id}`.
pub async fn update(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AuthError> {
    require_admin(&state, &headers)?;
    let body: AdminUserBody = parse_body(&body)?;
    let user = users::by_id(&state.pool, user_id(&id)?).await?.ok_or_else(AuthError::user_not_found)?;
    if let Some(p) = &body.password {
        users::check_password(p)?;
    }
    let email = body.email.as_deref().map(users::check_email).transpose()?;
    let banned_until = body.ban_duration.as_deref().map(ban_until).transpose()?;
    let change = UserChange {
        email,
        phone: body.phone,
        password: body.password,
        email_confirmed: body.email_confirm,
        phone_confirmed: body.phone_confirm,
        user_metadata: body.user_metadata,
        app_metadata: body.app_metadata,
        role: body.role,
        banned_until,
    };
    let user = users::update(&state.pool, &user, change).await?;
    if user.is_banned() {
        sessions::revoke_sessions(&state.pool, user.id).await?;
    }
    Ok(ok(user.to_json()))
}

#[derive(Deserialize, Default)]
struct DeleteBody {
    should_soft_delete: Option<bool>,
}

/// `DELETE /admin/users/{id}`: answers `{}`.
pub async fn delete(
    State(state): State<AuthState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AuthError> {
    require_admin(&state, &headers)?;
    let body: DeleteBody = parse_body(&body)?;
    let id = user_id(&id)?;
    if !users::delete(&state.pool, id, body.should_soft_delete.unwrap_or(false)).await? {
        return Err(AuthError::user_not_found());
    }
    Ok(ok(json!({})))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::ban_until;

    #[test]
    fn a_ban_duration_in_go_syntax_sets_a_future_ban() {
        let until = ban_until("1h30m").unwrap().unwrap();
        let secs = (until - chrono::Utc::now()).num_seconds();
        assert!((5390..=5400).contains(&secs), "{secs}");
    }

    #[test]
    fn none_lifts_a_ban_and_nonsense_is_refused() {
        assert_eq!(ban_until("none").unwrap(), None);
        assert!(ban_until("forever").is_err());
        assert!(ban_until("12").is_err());
        assert!(ban_until("").is_err());
    }
}
