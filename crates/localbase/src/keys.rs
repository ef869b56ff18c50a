//! The project's keys: the ES256 signing key published in the JWKS, the
//! legacy HS256 JWT secret, the legacy `anon` / `service_role` JWT keys and
//! the newer `sb_publishable_…` / `sb_secret_…` keys.
//!
//! Kept in `<dir>/keys.json` so tokens and keys stay valid across restarts.

use std::path::Path;

use anyhow::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// What `keys.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredKeys {
    jwt_secret: String,
    signing_kid: String,
    signing_key_pem: String,
    anon_key: String,
    service_role_key: String,
    publishable_key: String,
    secret_key: String,
}

/// Which kind of key an `apikey` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyKind {
    /// Legacy `anon` JWT.
    LegacyAnon,
    /// Legacy `service_role` JWT.
    LegacyServiceRole,
    /// `sb_publishable_…`: acts as `anon`.
    Publishable,
    /// `sb_secret_…`: acts as `service_role`.
    Secret,
}

impl ApiKeyKind {
    /// The database role the key stands for.
    pub fn role(self) -> &'static str {
        match self {
            ApiKeyKind::LegacyAnon | ApiKeyKind::Publishable => "anon",
            ApiKeyKind::LegacyServiceRole | ApiKeyKind::Secret => "service_role",
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is expired")]
    Expired,
    #[error("invalid JWT: {0}")]
    Invalid(String),
}

/// The project's keys, loaded once.
pub struct Keys {
    stored: StoredKeys,
    encoding_es256: EncodingKey,
    decoding_es256: DecodingKey,
    encoding_hs256: EncodingKey,
    decoding_hs256: DecodingKey,
    public_jwk: Value,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("kid", &self.stored.signing_kid).finish_non_exhaustive()
    }
}

impl Keys {
    /// Loads `<dir>/keys.json`, creating it with fresh keys the first time.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Keys> {
        let path = dir.join("keys.json");
        let stored = if path.exists() {
            crate::private::make_private_file(&path)?;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| {
                format!("{} is not a localbase key file; delete it to make new keys", path.display())
            })?
        } else {
            let stored = generate()?;
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            crate::private::write_private(&path, &serde_json::to_string_pretty(&stored)?)?;
            stored
        };
        Keys::from_stored(stored)
    }

    fn from_stored(stored: StoredKeys) -> anyhow::Result<Keys> {
        let secret = p256::SecretKey::from_pkcs8_pem(&stored.signing_key_pem)
            .map_err(|e| anyhow::anyhow!("keys.json: the signing key does not parse: {e}"))?;
        let jwk = secret.public_key().to_jwk();
        let mut public_jwk: Value = serde_json::from_str(&jwk.to_string())?;
        let x = public_jwk["x"].as_str().unwrap_or_default().to_string();
        let y = public_jwk["y"].as_str().unwrap_or_default().to_string();
        public_jwk["kid"] = json!(stored.signing_kid);
        public_jwk["alg"] = json!("ES256");
        public_jwk["use"] = json!("sig");
        public_jwk["key_ops"] = json!(["verify"]);
        Ok(Keys {
            encoding_es256: EncodingKey::from_ec_pem(stored.signing_key_pem.as_bytes())?,
            decoding_es256: DecodingKey::from_ec_components(&x, &y)?,
            encoding_hs256: EncodingKey::from_secret(stored.jwt_secret.as_bytes()),
            decoding_hs256: DecodingKey::from_secret(stored.jwt_secret.as_bytes()),
            public_jwk,
            stored,
        })
    }

    pub fn jwt_secret(&self) -> &str {
        &self.stored.jwt_secret
    }
    pub fn anon_key(&self) -> &str {
        &self.stored.anon_key
    }
    pub fn service_role_key(&self) -> &str {
        &self.stored.service_role_key
    }
    pub fn publishable_key(&self) -> &str {
        &self.stored.publishable_key
    }
    pub fn secret_key(&self) -> &str {
        &self.stored.secret_key
    }
    pub fn kid(&self) -> &str {
        &self.stored.signing_kid
    }

    /// `GET /auth/v1/.well-known/jwks.json`: the public signing key only;
    /// the HMAC secret is never listed.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.public_jwk] })
    }

    /// The keys REST verifies tokens with, as a JWK Set for postrust's
    /// `PGRST_JWT_SECRET`: the ES256 public key (by `kid`) and the legacy
    /// HS256 secret (for tokens without a `kid`).
    pub fn postgrest_jwk_set(&self) -> String {
        json!({ "keys": [
            self.public_jwk,
            { "kty": "oct", "alg": "HS256", "k": URL_SAFE_NO_PAD.encode(self.stored.jwt_secret.as_bytes()) },
        ]})
        .to_string()
    }

    /// Which of the project's keys `apikey` is, if any. Compared in constant
    /// time: SHA-256 digests (so the keys' lengths do not show either), every
    /// key compared whatever matched.
    pub fn api_key_kind(&self, apikey: &str) -> Option<ApiKeyKind> {
        use sha2::{Digest, Sha256};
        use subtle::ConstantTimeEq;
        let presented = Sha256::digest(apikey.as_bytes());
        let s = &self.stored;
        let candidates = [
            (&s.anon_key, ApiKeyKind::LegacyAnon),
            (&s.service_role_key, ApiKeyKind::LegacyServiceRole),
            (&s.publishable_key, ApiKeyKind::Publishable),
            (&s.secret_key, ApiKeyKind::Secret),
        ];
        let mut found = None;
        for (key, kind) in candidates {
            let equal: bool = Sha256::digest(key.as_bytes()).ct_eq(&presented).into();
            if equal {
                found = Some(kind);
            }
        }
        found
    }

    /// The legacy JWT key standing for the same role as `kind`, which is
    /// what a `sb_…` key turns into before REST sees the request.
    pub fn role_jwt(&self, kind: ApiKeyKind) -> &str {
        match kind.role() {
            "anon" => &self.stored.anon_key,
            _ => &self.stored.service_role_key,
        }
    }

    /// Signs user access tokens (ES256 with the published `kid`).
    pub fn sign_es256(&self, claims: &Value) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.stored.signing_kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding_es256)?)
    }

    /// Signs with the legacy HS256 secret, as legacy keys are signed.
    pub fn sign_hs256(&self, claims: &Value) -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding_hs256)?)
    }

    /// Verifies a JWT signed by this project (ES256 user token or HS256
    /// legacy token) and returns its claims. A token must carry `exp`, and
    /// must not be past it: a token without one would be valid forever.
    pub fn verify(&self, token: &str) -> Result<Value, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenError::Invalid(format!("unable to parse or verify signature, {e}")))?;
        let key = match header.alg {
            Algorithm::ES256 => {
                if header.kid.as_deref().is_some_and(|kid| kid != self.stored.signing_kid) {
                    return Err(TokenError::Invalid("signing key not found".into()));
                }
                &self.decoding_es256
            }
            Algorithm::HS256 => &self.decoding_hs256,
            other => return Err(TokenError::Invalid(format!("unsupported signing algorithm {other:?}"))),
        };
        let mut validation = Validation::new(header.alg);
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 0;
        match jsonwebtoken::decode::<Value>(token, key, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(TokenError::Expired)
            }
            Err(e) => Err(TokenError::Invalid(format!("unable to parse or verify signature, {e}"))),
        }
    }
}

/// Realtime checks `apikey` and `access_token` with the same keys.
impl crate::realtime::TokenVerifier for Keys {
    fn api_key_role(&self, apikey: &str) -> Option<String> {
        self.api_key_kind(apikey).map(|kind| kind.role().to_string())
    }

    fn verify(&self, token: &str) -> Result<Value, String> {
        Keys::verify(self, token).map_err(|e| e.to_string())
    }
}

fn generate() -> anyhow::Result<StoredKeys> {
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let pem = secret
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding the signing key: {e}"))?;
    let jwt_secret = random_string(48);
    let hs = EncodingKey::from_secret(jwt_secret.as_bytes());
    let iat = chrono::Utc::now().timestamp();
    let legacy = |role: &str| -> anyhow::Result<String> {
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &json!({ "iss": "supabase", "ref": "localbase", "role": role, "iat": iat, "exp": iat + 10 * 365 * 24 * 3600 }),
            &hs,
        )?)
    };
    Ok(StoredKeys {
        signing_kid: uuid::Uuid::new_v4().to_string(),
        signing_key_pem: pem.to_string(),
        anon_key: legacy("anon")?,
        service_role_key: legacy("service_role")?,
        publishable_key: format!("sb_publishable_{}", random_string(31)),
        secret_key: format!("sb_secret_{}", random_string(31)),
        jwt_secret,
    })
}

/// A random string of letters and digits.
pub fn random_string(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::from_stored(generate().unwrap()).unwrap()
    }

    #[test]
    fn a_token_signed_es256_verifies_and_carries_its_claims() {
        let k = keys();
        let exp = chrono::Utc::now().timestamp() + 60;
        let token = k.sign_es256(&json!({"sub": "u1", "role": "authenticated", "exp": exp})).unwrap();
        assert_eq!(k.verify(&token).unwrap()["sub"], "u1");
    }

    #[test]
    fn an_expired_token_is_refused_as_expired() {
        let k = keys();
        let token = k.sign_es256(&json!({"role": "authenticated", "exp": 1000})).unwrap();
        assert_eq!(k.verify(&token), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_without_exp_is_refused_even_when_well_signed() {
        let k = keys();
        let es = k.sign_es256(&json!({"sub": "u1", "role": "authenticated"})).unwrap();
        let hs = k.sign_hs256(&json!({"role": "service_role"})).unwrap();
        assert!(matches!(k.verify(&es), Err(TokenError::Invalid(why)) if why.contains("exp")));
        assert!(matches!(k.verify(&hs), Err(TokenError::Invalid(why)) if why.contains("exp")));
    }

    #[test]
    fn an_api_key_is_recognised_only_when_every_byte_matches() {
        let k = keys();
        assert_eq!(k.api_key_kind(k.anon_key()), Some(ApiKeyKind::LegacyAnon));
        assert_eq!(k.api_key_kind(k.service_role_key()), Some(ApiKeyKind::LegacyServiceRole));
        assert_eq!(k.api_key_kind(k.secret_key()), Some(ApiKeyKind::Secret));
        let mut near = k.secret_key().to_string();
        let last = if near.ends_with('A') { "B" } else { "A" };
        near.replace_range(near.len() - 1.., last);
        assert_eq!(k.api_key_kind(&near), None);
        assert_eq!(k.api_key_kind(&k.secret_key()[..k.secret_key().len() - 1]), None);
        assert_eq!(k.api_key_kind(""), None);
    }

    #[test]
    fn a_token_signed_by_another_project_is_refused() {
        let (a, b) = (keys(), keys());
        let token = b.sign_hs256(&json!({"role": "service_role", "exp": chrono::Utc::now().timestamp() + 60})).unwrap();
        assert!(matches!(a.verify(&token), Err(TokenError::Invalid(_))));
        assert!(matches!(a.verify(b.anon_key()), Err(TokenError::Invalid(_))));
    }

    #[test]
    fn legacy_keys_carry_their_roles_and_new_keys_map_to_them() {
        let k = keys();
        assert_eq!(k.verify(k.anon_key()).unwrap()["role"], "anon");
        assert_eq!(k.verify(k.service_role_key()).unwrap()["role"], "service_role");
        assert_eq!(k.api_key_kind(k.publishable_key()), Some(ApiKeyKind::Publishable));
        assert_eq!(k.role_jwt(ApiKeyKind::Secret), k.service_role_key());
        assert_eq!(k.api_key_kind("sb_publishable_nope"), None);
    }

    #[test]
    fn the_jwks_lists_only_the_public_key() {
        let jwks = keys().jwks();
        let listed = jwks["keys"].as_array().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["kty"], "EC");
        assert!(listed[0].get("d").is_none());
    }
}
