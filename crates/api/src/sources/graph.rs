//! A small Graph API client: reads one Lead Ads lead by its `leadgen_id`.
//!
//! The base URL and version are configured (`META_GRAPH_URL`,
//! `META_GRAPH_VERSION`) so tests run against a local stub; every call has a
//! deadline (`META_GRAPH_TIMEOUT_MS`). Errors are classified where they
//! arise: no answer, a 5xx, a rate limit (codes 4, 17, 32, 613, 80000–80014,
//! whatever the HTTP status) or `is_transient` are [`GraphError::Unavailable`];
//! any other refusal is [`GraphError::Refused`].

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::source_settings::MetaSettings;

/// The lead fields asked for.
const FIELDS: &str = "id,created_time,field_data,ad_id,adset_id,campaign_id,form_id,platform,is_organic";

/// A lead as the Graph API gives it; fields it adds later are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GraphLead {
    pub id: String,
    #[serde(default)]
    pub created_time: Option<String>,
    #[serde(default)]
    pub field_data: Vec<FieldData>,
    #[serde(default)]
    pub ad_id: Option<String>,
    #[serde(default)]
    pub adset_id: Option<String>,
    #[serde(default)]
    pub campaign_id: Option<String>,
    #[serde(default)]
    pub form_id: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub is_organic: Option<bool>,
}

/// One answered question: `{name, values}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FieldData {
    pub name: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// Why a lead could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GraphError {
    /// Transient: no answer in time, a 5xx, a rate limit, or an error Meta
    /// marks `is_transient`. Meta's redelivery will find it.
    #[error("Graph API unavailable: {0}")]
    Unavailable(String),
    /// The Graph API refused this lead: token, permission, or a lead it
    /// does not show (deleted and not permitted look the same, code 100/33).
    #[error("Graph API refused ({status}, code {code:?}, subcode {subcode:?}): {message}")]
    Refused { status: u16, code: Option<i64>, subcode: Option<i64>, message: String },
}

#[derive(Deserialize)]
struct ErrorBody {
    error: GraphErrorDetail,
}

#[derive(Deserialize)]
struct GraphErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    error_subcode: Option<i64>,
    #[serde(default)]
    is_transient: Option<bool>,
}

/// Codes Meta uses for throttling, sent with 400 or 403.
pub fn is_rate_limit(code: i64) -> bool {
    matches!(code, 4 | 17 | 32 | 613) || (80000..=80014).contains(&code)
}

/// A Graph API client bound to the page access token.
#[derive(Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    base: String,
    version: String,
    token: SecretString,
}

impl GraphClient {
    pub fn new(settings: &MetaSettings) -> GraphClient {
        let http = reqwest::Client::builder()
            .timeout(settings.graph_timeout)
            .connect_timeout(settings.graph_timeout.min(Duration::from_secs(3)))
            .build()
            .unwrap_or_default();
        GraphClient {
            http,
            base: settings.graph_url.clone(),
            version: settings.graph_version.clone(),
            token: settings.page_access_token.clone(),
        }
    }

    /// `GET /<version>/<leadgen_id>`. `leadgen_id` must be a plain id (the
    /// caller checks it is digits), so it cannot change the path.
    pub async fn lead(&self, leadgen_id: &str) -> Result<GraphLead, GraphError> {
        let url = format!("{}/{}/{}", self.base, self.version, leadgen_id);
        let response = self
            .http
            .get(url)
            .query(&[("fields", FIELDS), ("access_token", self.token.expose_secret())])
            .send()
            .await
            // Without the URL: it carries the access token.
            .map_err(|e| GraphError::Unavailable(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| GraphError::Unavailable(e.without_url().to_string()))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body)
                .map_err(|e| GraphError::Unavailable(format!("unreadable lead ({status}): {e}")));
        }
        Err(classify(status, &body))
    }
}

/// What a non-2xx answer means.
pub fn classify(status: u16, body: &[u8]) -> GraphError {
    let detail = serde_json::from_slice::<ErrorBody>(body).ok().map(|b| b.error);
    let message = detail.as_ref().map(|d| d.message.clone()).unwrap_or_else(|| format!("HTTP {status}"));
    let code = detail.as_ref().and_then(|d| d.code);
    let subcode = detail.as_ref().and_then(|d| d.error_subcode);
    let transient = detail.as_ref().and_then(|d| d.is_transient) == Some(true);
    if status >= 500 || status == 429 || transient || code.is_some_and(is_rate_limit) {
        GraphError::Unavailable(format!("HTTP {status}, code {code:?}: {message}"))
    } else {
        GraphError::Refused { status, code, subcode, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: i64, subcode: Option<i64>) -> Vec<u8> {
        serde_json::json!({"error": {"message": "m", "type": "OAuthException", "code": code, "error_subcode": subcode, "fbtrace_id": "A1"}})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn rate_limits_are_transient_with_400_or_403() {
        for (status, code) in [(400, 4), (403, 17), (400, 32), (400, 613), (400, 80001)] {
            assert!(matches!(classify(status, &error(code, None)), GraphError::Unavailable(_)), "{status} {code}");
        }
    }

    #[test]
    fn server_errors_and_unreadable_5xx_are_transient() {
        assert!(matches!(classify(500, b"<html>oops</html>"), GraphError::Unavailable(_)));
        assert!(matches!(classify(503, &error(2, None)), GraphError::Unavailable(_)));
    }

    #[test]
    fn token_and_permission_errors_are_refusals() {
        assert!(matches!(classify(400, &error(190, Some(463))), GraphError::Refused { code: Some(190), .. }));
        assert!(matches!(
            classify(400, &error(100, Some(33))),
            GraphError::Refused { code: Some(100), subcode: Some(33), .. }
        ));
    }
}
