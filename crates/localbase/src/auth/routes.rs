//! The public GoTrue routes: token grants, the signed-in user, logout,
//! signup, settings, health and the JWKS.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::common::{claims, ok, parse_body};
use super::email_change;
use super::error::AuthError;
use super::sessions::{self, LogoutScope};
use super::users::{self, NewUser, User, UserChange};
use super::AuthState;
use crate::gateway::ClientAddr;

/// The signed-in user the bearer token names, and its session.
async fn current_user(state: &AuthState, headers: &HeaderMap) -> Result<(User, Option<Uuid>), AuthError> {
    let claims = claims(state, headers)?;
    let sub = claims["sub"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AuthError::bad_jwt("invalid claim: missing sub claim"))?;
    let id = Uuid::parse_str(sub).map_err(|_| AuthError::bad_jwt("invalid claim: sub claim must be a UUID"))?;
    let session_id = match claims.get("session_id").and_then(Value::as_str) {
        Some(s) => Some(Uuid::parse_str(s).map_err(|_| AuthError::bad_jwt("invalid claim: session_id claim must be a UUID"))?),
        None => None,
    };
    if let Some(sid) = session_id {
        if !sessions::exists(&state.pool, sid).await? {
            return Err(AuthError::new(
                StatusCode::FORBIDDEN,
                "session_not_found",
                "Session from session_id claim in JWT does not exist",
            ));
        }
    }
    let user = users::by_id(&state.pool, id).await?.ok_or_else(|| {
        AuthError::new(StatusCode::FORBIDDEN, "user_not_found", "User from sub claim in JWT does not exist")
    })?;
    Ok((user, session_id))
}

#[derive(Deserialize)]
struct PasswordGrant {
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
}

#[derive(Deserialize)]
struct RefreshGrant {
    refresh_token: Option<String>,
}

/// `POST /token?grant_type=password|refresh_token`. Password grants are
/// rate-limited per client address.
pub async fn token(
    State(state): State<AuthState>,
    Query(query): Query<HashMap<String, String>>,
    extensions: Extensions,
    body: Bytes,
) -> Result<Response, AuthError> {
    match query.get("grant_type").map(String::as_str) {
        Some("password") => {
            let client = extensions.get::<ConnectInfo<ClientAddr>>().map(|info| info.0 .0.ip());
            if client.is_some_and(|address| !state.sign_in_limiter.allow(address)) {
                return Err(AuthError::over_request_rate_limit());
            }
            let grant: PasswordGrant = parse_body(&body)?;
            let password = grant.password.unwrap_or_default();
            let user = match (grant.email.filter(|e| !e.is_empty()), grant.phone.filter(|p| !p.is_empty())) {
                (Some(email), _) => users::by_email(&state.pool, email.trim()).await?,
                (None, Some(phone)) => users::by_phone(&state.pool, phone.trim()).await?,
                (None, None) => {
                    return Err(AuthError::validation("missing email or phone"));
                }
            };
            let matches = users::password_matches(user.as_ref(), password).await;
            let Some(user) = user.filter(|_| matches) else { return Err(AuthError::invalid_credentials()) };
            if user.is_banned() {
                return Err(AuthError::new(StatusCode::BAD_REQUEST, "user_banned", "User is banned"));
            }
            if user.email.is_some() && user.email_confirmed_at.is_none() && user.phone_confirmed_at.is_none() {
                return Err(AuthError::new(StatusCode::BAD_REQUEST, "email_not_confirmed", "Email not confirmed"));
            }
            let issued = sessions::sign_in(&state, user, "password").await?;
            Ok(ok(issued.to_json()))
        }
        Some("refresh_token") => {
            let grant: RefreshGrant = parse_body(&body)?;
            let issued = sessions::refresh(&state, grant.refresh_token.as_deref().unwrap_or("")).await?;
            Ok(ok(issued.to_json()))
        }
        Some(other) => Err(AuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("unsupported_grant_type: {other}"),
        )),
        None => Err(AuthError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", "unsupported_grant_type")),
    }
}

/// `GET /user`.
pub async fn get_user(State(state): State<AuthState>, headers: HeaderMap) -> Result<Response, AuthError> {
    let (user, _) = current_user(&state, &headers).await?;
    Ok(ok(user.to_json()))
}

#[derive(Deserialize)]
struct UserUpdate {
    email: Option<String>,
    phone: Option<String>,
    password: Option<String>,
    data: Option<Map<String, Value>>,
}

/// `PUT /user`: a signed-in user changes their password or metadata at once.
/// A new email is only requested: it takes effect when confirmed through
/// `POST /verify` (see [`super::email_change`]), as on GoTrue.
pub async fn put_user(
    State(state): State<AuthState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AuthError> {
    let (user, _) = current_user(&state, &headers).await?;
    let update: UserUpdate = parse_body(&body)?;
    if let Some(p) = &update.password {
        users::check_password(p)?;
    }
    let new_email = update
        .email
        .as_deref()
        .map(users::check_email)
        .transpose()?
        .filter(|e| user.email.as_deref().is_none_or(|current| !current.eq_ignore_ascii_case(e)));
    let change = UserChange {
        phone: update.phone,
        password: update.password,
        user_metadata: update.data,
        ..UserChange::default()
    };
    let user = users::update(&state.pool, &user, change).await?;
    let user = match new_email {
        Some(email) => email_change::request(&state, &user, &email).await?,
        None => user,
    };
    Ok(ok(user.to_json()))
}

/// `POST /logout?scope=global|local|others`: answers 204.
pub async fn logout(
    State(state): State<AuthState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, AuthError> {
    let scope = match query.get("scope").map(String::as_str) {
        None | Some("global") => LogoutScope::Global,
        Some("local") => LogoutScope::Local,
        Some("others") => LogoutScope::Others,
        Some(other) => {
            return Err(AuthError::validation(format!(
                "Unsupported logout scope {other:?}; use global, local or others"
            )))
        }
    };
    let claims = claims(&state, &headers)?;
    let Some(user_id) = claims["sub"].as_str().and_then(|s| Uuid::parse_str(s).ok()) else {
        return Err(AuthError::bad_jwt("invalid claim: missing sub claim"));
    };
    let session_id = claims["session_id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
    sessions::logout(&state.pool, user_id, session_id, scope).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct Signup {
    email: Option<String>,
    password: Option<String>,
    data: Option<Map<String, Value>>,
}

/// `POST /signup`: off unless the instance enables it. Sign-ups are
/// confirmed at once (like a project with email confirmations off), so the
/// answer is a session.
pub async fn signup(State(state): State<AuthState>, body: Bytes) -> Result<Response, AuthError> {
    if !state.enable_signup {
        return Err(AuthError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "signup_disabled",
            "Signups not allowed for this instance",
        ));
    }
    let signup: Signup = parse_body(&body)?;
    let email = users::check_email(signup.email.as_deref().unwrap_or(""))?;
    let password = signup.password.unwrap_or_default();
    users::check_password(&password)?;
    let user = users::create(
        &state.pool,
        NewUser {
            email: Some(email),
            password: Some(password),
            email_confirmed: true,
            user_metadata: signup.data,
            ..NewUser::default()
        },
    )
    .await?;
    let issued = sessions::sign_in(&state, user, "password").await?;
    Ok(ok(issued.to_json()))
}

/// `GET /settings`.
pub async fn settings(State(state): State<AuthState>) -> Response {
    ok(json!({
        "external": { "email": true, "phone": false, "anonymous_users": false },
        "disable_signup": !state.enable_signup,
        "mailer_autoconfirm": true,
        "phone_autoconfirm": false,
        "sms_provider": "",
        "saml_enabled": false,
    }))
}

/// `GET /health`.
pub async fn health() -> Response {
    ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "name": "GoTrue",
        "description": "localbase: the GoTrue subset for local development and tests",
    }))
}

/// `GET /.well-known/jwks.json`.
pub async fn jwks(State(state): State<AuthState>) -> Response {
    ok(state.keys.jwks())
}

/// Any other path under `/auth/v1`.
pub async fn not_found() -> AuthError {
    AuthError::new(StatusCode::NOT_FOUND, "not_found", "Not found: localbase implements a subset of GoTrue")
}
