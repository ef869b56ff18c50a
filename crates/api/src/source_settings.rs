//! Settings of the platform sources (`/api/sources/*`), read with the rest of
//! [`Settings`](crate::configuration::Settings) at start-up.
//!
//! Each source is configured on its own and is off (its routes answer 404)
//! when none of its variables is set. A source with some of its variables
//! set but not all is a start-up error naming each missing one, so a typo
//! does not silently turn a source off.

use std::time::Duration;

use secrecy::SecretString;

/// The Graph API version used when `META_GRAPH_VERSION` is not set.
pub const DEFAULT_GRAPH_VERSION: &str = "v21.0";

/// Every platform source; `None` is off.
#[derive(Debug, Default)]
pub struct SourceSettings {
    pub google_ads: Option<GoogleAdsSettings>,
    pub meta: Option<MetaSettings>,
    pub whatsapp: Option<WhatsAppSettings>,
}

/// Google Ads lead form webhooks (`GOOGLE_ADS_WEBHOOK_KEY`).
#[derive(Debug)]
pub struct GoogleAdsSettings {
    /// The key pasted into the lead form's webhook settings; Google sends it
    /// back as `google_key` in every body.
    pub key: SecretString,
}

/// Meta Lead Ads (`META_*`).
#[derive(Debug)]
pub struct MetaSettings {
    /// The app secret: the HMAC key of `X-Hub-Signature-256`.
    pub app_secret: SecretString,
    /// The token typed into the app's webhook settings, echoed on verification.
    pub verify_token: SecretString,
    /// A page access token with `leads_retrieval`, for reading each lead.
    pub page_access_token: SecretString,
    /// Graph API base URL, without a trailing slash.
    pub graph_url: String,
    /// Graph API version path segment, e.g. `v21.0`.
    pub graph_version: String,
    /// Longest wait for one Graph API answer.
    pub graph_timeout: Duration,
}

/// WhatsApp Cloud API (`WHATSAPP_*`).
#[derive(Debug)]
pub struct WhatsAppSettings {
    pub app_secret: SecretString,
    pub verify_token: SecretString,
}

impl SourceSettings {
    /// Reads the sources' variables through `get` (already trimmed, blank as
    /// `None`), adding one line to `problems` per missing or malformed one.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>, problems: &mut Vec<String>) -> SourceSettings {
        let google_ads = group(&get, problems, "Google Ads", &["GOOGLE_ADS_WEBHOOK_KEY"], &[])
            .map(|mut v| GoogleAdsSettings { key: secret(v.remove(0)) });

        let meta = group(
            &get,
            problems,
            "Meta Lead Ads",
            &["META_APP_SECRET", "META_VERIFY_TOKEN", "META_PAGE_ACCESS_TOKEN"],
            &["META_GRAPH_URL", "META_GRAPH_VERSION", "META_GRAPH_TIMEOUT_MS"],
        )
        .map(|mut v| {
            let page_access_token = secret(v.remove(2));
            let verify_token = secret(v.remove(1));
            let app_secret = secret(v.remove(0));
            let graph_url = match get("META_GRAPH_URL") {
                None => "https://graph.facebook.com".to_owned(),
                Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                    problems.push(format!("META_GRAPH_URL must start with http:// or https://, got {url:?}"));
                    String::new()
                }
                Some(url) => url.trim_end_matches('/').to_owned(),
            };
            let graph_version = match get("META_GRAPH_VERSION") {
                None => DEFAULT_GRAPH_VERSION.to_owned(),
                Some(v) if is_graph_version(&v) => v,
                Some(v) => {
                    problems.push(format!("META_GRAPH_VERSION must look like v21.0, got {v:?}"));
                    String::new()
                }
            };
            let graph_timeout = match get("META_GRAPH_TIMEOUT_MS") {
                None => Duration::from_secs(5),
                Some(v) => match v.parse::<u64>() {
                    Ok(ms) if (100..=60_000).contains(&ms) => Duration::from_millis(ms),
                    _ => {
                        problems.push(format!("META_GRAPH_TIMEOUT_MS must be a whole number from 100 to 60000, got {v:?}"));
                        Duration::from_secs(5)
                    }
                },
            };
            MetaSettings { app_secret, verify_token, page_access_token, graph_url, graph_version, graph_timeout }
        });

        let whatsapp = group(&get, problems, "WhatsApp", &["WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"], &[])
            .map(|mut v| {
                let verify_token = secret(v.remove(1));
                WhatsAppSettings { app_secret: secret(v.remove(0)), verify_token }
            });

        SourceSettings { google_ads, meta, whatsapp }
    }
}

/// The values of `required`, when the source is configured: `None` when no
/// variable of the source is set (it is off), and `None` plus a problem per
/// missing variable when only some are.
fn group(
    get: &impl Fn(&str) -> Option<String>,
    problems: &mut Vec<String>,
    source: &str,
    required: &[&str],
    optional: &[&str],
) -> Option<Vec<String>> {
    let values: Vec<Option<String>> = required.iter().map(|name| get(name)).collect();
    let any_set = values.iter().any(Option::is_some) || optional.iter().any(|name| get(name).is_some());
    if !any_set {
        return None;
    }
    let mut complete = true;
    for (name, value) in required.iter().zip(&values) {
        if value.is_none() {
            complete = false;
            problems.push(format!("{name} is missing: {source} is partly configured (set all of {}, or none)", required.join(", ")));
        }
    }
    complete.then(|| values.into_iter().flatten().collect())
}

fn secret(text: String) -> SecretString {
    SecretString::from(text)
}

fn is_graph_version(v: &str) -> bool {
    v.strip_prefix('v').and_then(|rest| rest.split_once('.')).is_some_and(|(major, minor)| {
        !major.is_empty() && !minor.is_empty() && major.chars().chain(minor.chars()).all(|c| c.is_ascii_digit())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> (SourceSettings, Vec<String>) {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        let mut problems = Vec::new();
        let settings = SourceSettings::from_lookup(|name| map.get(name).map(|v| v.to_string()), &mut problems);
        (settings, problems)
    }

    #[test]
    fn no_variables_leave_every_source_off_without_complaint() {
        let (s, problems) = read(&[]);
        assert!(s.google_ads.is_none() && s.meta.is_none() && s.whatsapp.is_none());
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_fully_configured_meta_source_gets_graph_defaults() {
        let (s, problems) = read(&[("META_APP_SECRET", "a"), ("META_VERIFY_TOKEN", "v"), ("META_PAGE_ACCESS_TOKEN", "t")]);
        assert!(problems.is_empty(), "{problems:?}");
        let meta = s.meta.unwrap();
        assert_eq!(meta.app_secret.expose_secret(), "a");
        assert_eq!(meta.verify_token.expose_secret(), "v");
        assert_eq!(meta.page_access_token.expose_secret(), "t");
        assert_eq!(meta.graph_url, "https://graph.facebook.com");
        assert_eq!(meta.graph_version, DEFAULT_GRAPH_VERSION);
        assert_eq!(meta.graph_timeout, Duration::from_secs(5));
    }

    #[test]
    fn a_partly_configured_source_names_each_missing_variable() {
        let (s, problems) = read(&[("META_APP_SECRET", "a"), ("WHATSAPP_VERIFY_TOKEN", "v")]);
        assert!(s.meta.is_none() && s.whatsapp.is_none());
        let text = problems.join("\n");
        for name in ["META_VERIFY_TOKEN", "META_PAGE_ACCESS_TOKEN", "WHATSAPP_APP_SECRET"] {
            assert!(text.contains(name), "{name} not named in {text}");
        }
        assert_eq!(problems.len(), 3, "{text}");
    }

    #[test]
    fn malformed_graph_settings_are_named_with_what_was_given() {
        let (_, problems) = read(&[
            ("META_APP_SECRET", "a"),
            ("META_VERIFY_TOKEN", "v"),
            ("META_PAGE_ACCESS_TOKEN", "t"),
            ("META_GRAPH_URL", "graph.facebook.com"),
            ("META_GRAPH_VERSION", "21"),
            ("META_GRAPH_TIMEOUT_MS", "forever"),
        ]);
        let text = problems.join("\n");
        assert_eq!(problems.len(), 3, "{text}");
        assert!(text.contains("META_GRAPH_URL") && text.contains("\"graph.facebook.com\""), "{text}");
        assert!(text.contains("META_GRAPH_VERSION") && text.contains("\"21\""), "{text}");
        assert!(text.contains("META_GRAPH_TIMEOUT_MS") && text.contains("\"forever\""), "{text}");
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let (s, _) = read(&[
            ("GOOGLE_ADS_WEBHOOK_KEY", "google-key-1"),
            ("WHATSAPP_APP_SECRET", "wa-secret-1"),
            ("WHATSAPP_VERIFY_TOKEN", "wa-token-1"),
        ]);
        let debug = format!("{s:?}");
        for secret in ["google-key-1", "wa-secret-1", "wa-token-1"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(s.google_ads.is_some() && s.whatsapp.is_some());
    }
}
