//! Who a channel acts as: the role and JWT claims its changes are filtered by.

use serde_json::{json, Value};

use super::TokenVerifier;

/// A role and its claims, as PostgREST would set them for the same token.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub role: String,
    /// The claims as JSON text, for `request.jwt.claims`.
    pub claims: String,
    /// The `sub` claim, for the legacy `request.jwt.claim.sub` setting.
    pub sub: Option<String>,
    /// `exp`, in seconds since the epoch.
    pub expires_at: Option<i64>,
    /// The role skips row level security (superuser or `bypassrls`, like `service_role`).
    pub bypass_rls: bool,
    /// Groups subscribers whose RLS checks are the same: role and claims.
    pub key: String,
}

/// Reads a token: an API key gives its role; otherwise it must be a valid JWT
/// with a `role` claim and an `exp` (a token without one would never expire).
/// Returns the role and claims.
pub fn resolve(verifier: &dyn TokenVerifier, token: &str) -> Result<(String, Value), String> {
    if let Some(role) = verifier.api_key_role(token) {
        // Legacy keys are JWTs whose claims PostgREST would set; new keys have none.
        let claims = verifier
            .verify(token)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({ "role": role }));
        return Ok((role, claims));
    }
    let claims = verifier.verify(token)?;
    if !claims.get("exp").is_some_and(Value::is_number) {
        return Err("the token has no exp claim".to_owned());
    }
    let role = claims
        .get("role")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| "the token has no role claim".to_owned())?
        .to_owned();
    Ok((role, claims))
}

impl Identity {
    pub fn new(role: String, claims: &Value, bypass_rls: bool) -> Identity {
        let claims_text = claims.to_string();
        Identity {
            key: format!("{role}\u{0}{claims_text}"),
            sub: claims.get("sub").and_then(Value::as_str).map(str::to_owned),
            expires_at: claims.get("exp").and_then(Value::as_i64),
            role,
            claims: claims_text,
            bypass_rls,
        }
    }

    /// Seconds since the token expired, if it has.
    pub fn expired_for(&self, now: i64) -> Option<i64> {
        self.expires_at.filter(|exp| *exp <= now).map(|exp| now - exp)
    }
}
