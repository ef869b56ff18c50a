//! Run-time configuration, read from `config.json` beside `index.html`, so
//! one release build serves localbase and a real Supabase project alike.

use serde::Deserialize;
use thiserror::Error;

/// Why `config.json` cannot be used; each says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// The web server did not answer.
    #[error("Can't load config.json from the web server.")]
    Unreachable,
    /// The web server answered, but not with the file.
    #[error("config.json is missing (HTTP {status}). The server must serve it beside index.html.")]
    Missing { status: u16 },
    /// The body could not be read.
    #[error("config.json could not be read.")]
    Unreadable,
    /// Not JSON, or not the expected fields.
    #[error("config.json is not valid: {0}. Expected {{\"supabase_url\", \"supabase_anon_key\"}}.")]
    NotJson(String),
    /// `supabase_url` is not an http(s) URL.
    #[error("config.json: supabase_url must start with http:// or https://")]
    NotHttp,
    /// `supabase_url` is plain `http://` to another machine: tokens would cross the network in clear text.
    #[error("config.json: supabase_url must use https:// (plain http:// is allowed only for 127.0.0.1, ::1 and localhost, not for {host})")]
    InsecureUrl { host: String },
    /// `supabase_anon_key` is empty.
    #[error("config.json: supabase_anon_key is empty")]
    MissingKey,
    /// `ingest_url` is not https:// (or http:// to this machine): the
    /// manager's token is sent there.
    #[error("config.json: ingest_url must use https:// (plain http:// only for 127.0.0.1, ::1 and localhost)")]
    InsecureIngestUrl,
}

/// The contents of `config.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AppConfig {
    /// Base URL of the Supabase project or localbase, without a trailing slash.
    pub supabase_url: String,
    /// The anon (legacy JWT) or publishable key.
    pub supabase_anon_key: String,
    /// Base URL of the ingest service (crates/api), which the CSV import
    /// calls; optional: without it the import screen says it is not set up.
    #[serde(default)]
    pub ingest_url: Option<String>,
}

impl AppConfig {
    /// Parses and checks `config.json`. Plain `http://` is refused unless the
    /// host is this machine (localbase during development).
    pub fn parse(text: &str) -> Result<AppConfig, ConfigError> {
        let mut config: AppConfig = serde_json::from_str(text).map_err(|e| ConfigError::NotJson(e.to_string()))?;
        config.supabase_url = config.supabase_url.trim().trim_end_matches('/').to_owned();
        config.supabase_anon_key = config.supabase_anon_key.trim().to_owned();
        if let Some(rest) = config.supabase_url.strip_prefix("http://") {
            let host = host_of(rest);
            if !is_loopback(&host) {
                return Err(ConfigError::InsecureUrl { host });
            }
        } else if !config.supabase_url.starts_with("https://") {
            return Err(ConfigError::NotHttp);
        }
        if config.supabase_anon_key.is_empty() {
            return Err(ConfigError::MissingKey);
        }
        config.ingest_url = config.ingest_url.map(|u| u.trim().trim_end_matches('/').to_owned()).filter(|u| !u.is_empty());
        if let Some(url) = &config.ingest_url {
            let secure = url.starts_with("https://") || url.strip_prefix("http://").is_some_and(|rest| is_loopback(&host_of(rest)));
            if !secure {
                return Err(ConfigError::InsecureIngestUrl);
            }
        }
        Ok(config)
    }

    /// The Realtime websocket URL (`ws(s)://…/realtime/v1/websocket?apikey=…&vsn=1.0.0`).
    pub fn realtime_url(&self) -> String {
        let base = if let Some(rest) = self.supabase_url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = self.supabase_url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            self.supabase_url.clone()
        };
        format!(
            "{base}/realtime/v1/websocket?apikey={}&vsn=1.0.0",
            crate::query::encode_component(&self.supabase_anon_key)
        )
    }

    /// Whether the key is a legacy JWT, which also goes in `Authorization` when no user is signed in.
    pub fn key_is_jwt(&self) -> bool {
        self.supabase_anon_key.starts_with("eyJ")
    }
}

/// The host of a URL without its scheme: no user info, port or path; IPv6 without brackets.
fn host_of(after_scheme: &str) -> String {
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    host.to_ascii_lowercase()
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "::1" | "localhost")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_config_is_trimmed_of_its_trailing_slash() {
        let config = AppConfig::parse(r#"{"supabase_url":"http://127.0.0.1:54321/","supabase_anon_key":"eyJabc"}"#).unwrap();
        assert_eq!(config.supabase_url, "http://127.0.0.1:54321");
        assert!(config.key_is_jwt());
    }

    #[test]
    fn the_realtime_url_switches_to_a_websocket_scheme() {
        let config = AppConfig::parse(r#"{"supabase_url":"https://x.supabase.co","supabase_anon_key":"sb_publishable_1"}"#).unwrap();
        assert_eq!(
            config.realtime_url(),
            "wss://x.supabase.co/realtime/v1/websocket?apikey=sb_publishable_1&vsn=1.0.0"
        );
    }

    #[test]
    fn a_config_without_a_key_is_refused_with_a_reason() {
        let err = AppConfig::parse(r#"{"supabase_url":"https://a","supabase_anon_key":" "}"#).unwrap_err();
        assert_eq!(err, ConfigError::MissingKey);
        assert!(err.to_string().contains("supabase_anon_key"));
    }

    #[test]
    fn a_config_that_is_not_json_is_refused_with_a_reason() {
        let err = AppConfig::parse("<html>").unwrap_err();
        assert!(matches!(err, ConfigError::NotJson(_)));
        assert!(err.to_string().contains("config.json is not valid"));
    }

    fn parse_url(url: &str) -> Result<AppConfig, ConfigError> {
        AppConfig::parse(&format!(r#"{{"supabase_url":"{url}","supabase_anon_key":"k"}}"#))
    }

    #[test]
    fn plain_http_to_another_machine_is_refused_naming_the_host() {
        for (url, host) in [
            ("http://x.supabase.co", "x.supabase.co"),
            ("http://10.0.0.5:54321", "10.0.0.5"),
            ("http://127.0.0.1.evil.example/", "127.0.0.1.evil.example"),
            ("http://127.0.0.1@evil.example", "evil.example"),
            ("http://localhost@evil.example:80", "evil.example"),
            ("http://[2001:db8::1]:8000", "2001:db8::1"),
        ] {
            let err = parse_url(url).unwrap_err();
            assert_eq!(err, ConfigError::InsecureUrl { host: host.to_owned() }, "{url}");
            assert!(err.to_string().contains("https://"), "{err}");
        }
    }

    #[test]
    fn the_ingest_url_is_optional_trimmed_and_must_be_secure_off_this_machine() {
        assert_eq!(parse_url("https://a").unwrap().ingest_url, None);
        let with = |ingest: &str| {
            AppConfig::parse(&format!(r#"{{"supabase_url":"https://a","supabase_anon_key":"k","ingest_url":"{ingest}"}}"#))
        };
        assert_eq!(with("https://ingest.example.com/").unwrap().ingest_url.as_deref(), Some("https://ingest.example.com"));
        assert_eq!(with("http://127.0.0.1:8080").unwrap().ingest_url.as_deref(), Some("http://127.0.0.1:8080"));
        assert_eq!(with(" ").unwrap().ingest_url, None);
        assert_eq!(with("http://ingest.example.com").unwrap_err(), ConfigError::InsecureIngestUrl);
    }

    #[test]
    fn plain_http_to_this_machine_is_allowed_for_local_development() {
        for url in ["http://127.0.0.1:54321", "http://localhost:54321/", "http://LOCALHOST", "http://[::1]:54321"] {
            assert!(parse_url(url).is_ok(), "{url}");
        }
        assert!(parse_url("https://x.supabase.co").is_ok());
        assert_eq!(parse_url("ftp://x").unwrap_err(), ConfigError::NotHttp);
    }
}
