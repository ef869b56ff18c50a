//! Run-time configuration, read from `config.json` beside `index.html`, so
//! one release build serves localbase and a real Supabase project alike.

use serde::Deserialize;

/// The contents of `config.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AppConfig {
    /// Base URL of the Supabase project or localbase, without a trailing slash.
    pub supabase_url: String,
    /// The anon (legacy JWT) or publishable key.
    pub supabase_anon_key: String,
}

impl AppConfig {
    /// Parses and checks `config.json`; the error says what to fix.
    pub fn parse(text: &str) -> Result<AppConfig, String> {
        let mut config: AppConfig = serde_json::from_str(text)
            .map_err(|e| format!("config.json is not valid: {e}. Expected {{\"supabase_url\", \"supabase_anon_key\"}}."))?;
        config.supabase_url = config.supabase_url.trim().trim_end_matches('/').to_owned();
        config.supabase_anon_key = config.supabase_anon_key.trim().to_owned();
        if !(config.supabase_url.starts_with("http://") || config.supabase_url.starts_with("https://")) {
            return Err("config.json: supabase_url must start with http:// or https://".to_owned());
        }
        if config.supabase_anon_key.is_empty() {
            return Err("config.json: supabase_anon_key is empty".to_owned());
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
        let err = AppConfig::parse(r#"{"supabase_url":"http://a","supabase_anon_key":" "}"#).unwrap_err();
        assert!(err.contains("supabase_anon_key"));
    }

    #[test]
    fn a_config_that_is_not_json_is_refused_with_a_reason() {
        let err = AppConfig::parse("<html>").unwrap_err();
        assert!(err.contains("config.json is not valid"));
    }
}
