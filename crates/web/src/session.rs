//! The signed-in session (GoTrue's token response) and when to refresh it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Refresh this many seconds before the access token expires.
pub const REFRESH_MARGIN_SECS: i64 = 90;

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionUser {
    pub id: String,
    pub email: Option<String>,
}

/// What is kept in localStorage between visits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub access_token: String,
    pub refresh_token: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub user: SessionUser,
}

impl Session {
    /// Reads a `/auth/v1/token` response; `now_secs` fills in `expires_at` when only `expires_in` is sent.
    pub fn from_token_response(body: &Value, now_secs: i64) -> Option<Session> {
        let access_token = body.get("access_token")?.as_str()?.to_owned();
        let refresh_token = body.get("refresh_token")?.as_str()?.to_owned();
        let expires_at = body
            .get("expires_at")
            .and_then(Value::as_i64)
            .or_else(|| body.get("expires_in").and_then(Value::as_i64).map(|s| now_secs + s))
            .unwrap_or(now_secs + 3600);
        let user: SessionUser = body.get("user").cloned().and_then(|u| serde_json::from_value(u).ok())?;
        if access_token.is_empty() || user.id.is_empty() {
            return None;
        }
        Some(Session { access_token, refresh_token, expires_at, user })
    }

    /// Whether to refresh now.
    pub fn needs_refresh(&self, now_secs: i64) -> bool {
        self.expires_at - now_secs <= REFRESH_MARGIN_SECS
    }

    /// Whether the access token is already unusable.
    pub fn expired(&self, now_secs: i64) -> bool {
        self.expires_at <= now_secs
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_token_response_becomes_a_session() {
        let body = json!({"access_token": "a", "refresh_token": "r", "expires_in": 3600,
            "user": {"id": "u1", "email": "x@y.z", "aud": "authenticated"}});
        let session = Session::from_token_response(&body, 1000).unwrap();
        assert_eq!(session.expires_at, 4600);
        assert_eq!(session.user.email.as_deref(), Some("x@y.z"));
    }

    #[test]
    fn a_token_response_without_a_user_is_refused() {
        assert!(Session::from_token_response(&json!({"access_token": "a", "refresh_token": "r"}), 0).is_none());
        assert!(Session::from_token_response(&json!("nope"), 0).is_none());
    }

    #[test]
    fn the_session_refreshes_shortly_before_it_expires() {
        let session = Session { access_token: "a".into(), refresh_token: "r".into(), expires_at: 1000, user: SessionUser::default() };
        assert!(!session.needs_refresh(1000 - REFRESH_MARGIN_SECS - 1));
        assert!(session.needs_refresh(1000 - REFRESH_MARGIN_SECS));
        assert!(session.expired(1000));
    }
}
