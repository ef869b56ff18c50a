//! Settings, read once from the environment (and `.env`) into typed values.
//!
//! Every problem is collected before failing, so one start-up names each
//! missing or malformed variable instead of the first only.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use bloc_shared::phone::PhoneRegion;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};

use crate::source_settings::SourceSettings;

use crate::client_addr::TrustedProxies;

/// One accepted webhook secret.
///
/// Every secret works for `X-Webhook-Secret` (compared as written) and for
/// `X-Signature-256` (its text is the HMAC key). A `whsec_…` secret also
/// verifies Standard Webhooks signatures with its base64-decoded key.
pub struct WebhookSecret {
    pub text: SecretString,
    /// SHA-256 of `text`, compared with the digest of a given secret.
    text_digest: [u8; 32],
    /// The Standard Webhooks key, for `whsec_` secrets.
    pub standard_key: Option<SecretBox<Vec<u8>>>,
    /// See [`WebhookSecret::sender_id`].
    sender_id: String,
}

impl WebhookSecret {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("contains an empty secret".into());
        }
        let standard_key = match text.strip_prefix("whsec_") {
            Some(b64) => {
                let key = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| "has a whsec_ secret that is not valid base64".to_string())?;
                if key.is_empty() {
                    return Err("has an empty whsec_ secret".into());
                }
                Some(SecretBox::new(Box::new(key)))
            }
            None => None,
        };
        let text_digest = Sha256::digest(text.as_bytes()).into();
        let sender_id = sender_id_of(text);
        Ok(WebhookSecret { text: SecretString::from(text.to_owned()), text_digest, standard_key, sender_id })
    }

    /// The sender this secret authenticates: `secret-` and the first 16 hex
    /// digits of SHA-256 over `"bloc-sender\0" + secret`.
    ///
    /// An id, not the secret: it is stored beside idempotency keys
    /// (`engine.deliveries.sender`) and may appear in logs, so each sender
    /// has its own key space. The domain-separated prefix keeps it from
    /// being any other digest of the secret (such as `text_digest`), and 64
    /// bits of a one-way hash reveal nothing usable about a secret worth
    /// guessing. It is stable across instances and restarts; a rotated
    /// secret is a new sender, whose keys do not match the old one's.
    pub fn sender_id(&self) -> &str {
        &self.sender_id
    }

    /// SHA-256 of the secret's text: fixed length, so comparing it with a
    /// given secret's digest takes the same time whatever was given.
    pub fn text_digest(&self) -> &[u8; 32] {
        &self.text_digest
    }
}

fn sender_id_of(secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"bloc-sender\0");
    hasher.update(secret.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("secret-{hex}")
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.standard_key.is_some() { "WebhookSecret(whsec_[REDACTED])" } else { "WebhookSecret([REDACTED])" })
    }
}

/// Default `MAX_CONNECTIONS`: well under the open-file limit a service gets
/// by default (systemd's soft limit is 1024), leaving room for the
/// connections to PostgREST.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Everything the service needs to run.
#[derive(Debug)]
pub struct Settings {
    /// Project URL, e.g. `https://abcd.supabase.co`; REST is under `/rest/v1`.
    pub supabase_url: String,
    pub service_role_key: SecretString,
    pub webhook_secrets: Vec<WebhookSecret>,
    /// The public listener: `/api/ingest`, `/healthz`, `/api/openapi.json`.
    pub bind_addr: SocketAddr,
    /// A separate listener for `/metrics` and `/readyz` (and `/healthz`);
    /// `None` serves them on `bind_addr`.
    pub admin_bind_addr: Option<SocketAddr>,
    pub default_phone_region: PhoneRegion,
    pub max_body_bytes: usize,
    /// Longest wait for a request's whole body (`BODY_READ_TIMEOUT_MS`);
    /// past it the sender gets 408 `body_read_timeout`.
    pub body_read_timeout: Duration,
    /// Requests per minute per client address, counted before
    /// authentication; `None` is off.
    pub rate_limit_per_minute: Option<u32>,
    /// Proxies whose `X-Forwarded-For` names the client (`TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
    /// Most open connections on the public listener, all workers together
    /// (`MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// How long an idle connection is kept open (`KEEP_ALIVE_SECS`); `None`
    /// closes it after each response.
    pub keep_alive: Option<Duration>,
    /// Longest wait for a request's head once a connection is open
    /// (`CLIENT_REQUEST_TIMEOUT_MS`); past it actix answers 408 and closes.
    pub client_request_timeout: Duration,
    /// Refuse `X-Signature-256` without `X-Signature-Timestamp`
    /// (`REQUIRE_SIGNED_TIMESTAMP`).
    pub require_signed_timestamp: bool,
    /// Coalesce concurrent leads into `ingest_leads` calls.
    pub batching: bool,
    pub batch_window: Duration,
    pub batch_max: usize,
    /// When a gathered batch leaves while another is at the database
    /// (`BATCH_DISPATCH`, [`Dispatch`]).
    pub batch_dispatch: Dispatch,
    /// Batches at the database at once under balanced and settled dispatch
    /// (`BATCH_SLOTS`).
    pub batch_slots: usize,
    /// Period of the service's own SLA/backlog runs; `None` (the default)
    /// leaves them to pg_cron in the database.
    pub maintenance_interval: Option<Duration>,
    /// Longest wait for one PostgREST call before answering 503.
    pub rpc_timeout: Duration,
    /// actix worker threads; defaults to the number of cores.
    pub workers: Option<usize>,
    /// Google Ads, Meta Lead Ads and WhatsApp sources (each off unless configured).
    pub sources: SourceSettings,
    /// Web app origins allowed to call the import routes from a browser
    /// (`CORS_ALLOWED_ORIGINS`, comma-separated `scheme://host[:port]`, or
    /// `*`); empty (the default) allows none.
    pub cors_allowed_origins: Vec<String>,
}

/// Start-up configuration problems, one line per variable.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// Reads the process environment, after loading `.env` if there is one.
    pub fn from_env() -> Result<Settings, ConfigError> {
        let _ = dotenvy::dotenv();
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let mut problems = Vec::new();
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let supabase_url = match get("SUPABASE_URL") {
            None => {
                problems.push("SUPABASE_URL is missing (the project URL, e.g. https://abcd.supabase.co)".into());
                String::new()
            }
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                problems.push(format!("SUPABASE_URL must start with http:// or https://, got {url:?}"));
                String::new()
            }
            Some(url) => url.trim_end_matches('/').trim_end_matches("/rest/v1").to_owned(),
        };

        let service_role_key = match get("SUPABASE_SERVICE_ROLE_KEY") {
            None => {
                problems.push("SUPABASE_SERVICE_ROLE_KEY is missing (the secret or service_role key)".into());
                SecretString::from(String::new())
            }
            Some(key) if !key.chars().all(|c| c.is_ascii_graphic()) => {
                problems.push("SUPABASE_SERVICE_ROLE_KEY contains characters not allowed in a header".into());
                SecretString::from(String::new())
            }
            Some(key) => SecretString::from(key),
        };

        let mut webhook_secrets = Vec::new();
        match get("WEBHOOK_SECRETS") {
            None => problems.push("WEBHOOK_SECRETS is missing (comma-separated accepted secrets)".into()),
            Some(list) => {
                for part in list.split(',') {
                    match WebhookSecret::parse(part) {
                        Ok(secret) => webhook_secrets.push(secret),
                        Err(why) => problems.push(format!("WEBHOOK_SECRETS {why}")),
                    }
                }
            }
        }

        let mut address = |name: &str| -> Option<SocketAddr> {
            let value = get(name)?;
            value.parse().map_err(|_| problems.push(format!("{name} must be ip:port such as 127.0.0.1:8080, got {value:?}"))).ok()
        };
        let bind_addr = address("BIND_ADDR").unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
        let admin_bind_addr = address("ADMIN_BIND_ADDR");

        let default_phone_region = match get("DEFAULT_PHONE_REGION") {
            None => PhoneRegion::IN,
            Some(r) => r.parse().unwrap_or_else(|why: String| {
                problems.push(format!("DEFAULT_PHONE_REGION {why}"));
                PhoneRegion::IN
            }),
        };

        let mut number = |name: &str, default: u64, min: u64, max: u64| -> u64 {
            match get(name) {
                None => default,
                Some(v) => match v.parse::<u64>() {
                    Ok(n) if (min..=max).contains(&n) => n,
                    _ => {
                        problems.push(format!("{name} must be a whole number from {min} to {max}, got {v:?}"));
                        default
                    }
                },
            }
        };
        let max_body_bytes = number("MAX_BODY_BYTES", 1024 * 1024, 256, 64 * 1024 * 1024) as usize;
        let body_read_timeout = Duration::from_millis(number("BODY_READ_TIMEOUT_MS", 10_000, 50, 600_000));
        let rate_limit = number("RATE_LIMIT_PER_MINUTE", 0, 0, 10_000_000) as u32;
        let batch_window = Duration::from_millis(number("BATCH_WINDOW_MS", 2, 0, 1000));
        let batch_max = number("BATCH_MAX", 256, 1, 1000) as usize;
        let batch_slots = number("BATCH_SLOTS", MAX_IN_FLIGHT as u64, 1, 8) as usize;
        let maintenance_secs = number("MAINTENANCE_INTERVAL_SECS", 0, 0, 86_400);
        let rpc_timeout = Duration::from_millis(number("RPC_TIMEOUT_MS", 10_000, 100, 600_000));
        let workers = number("WORKERS", 0, 0, 256) as usize;
        let max_connections = number("MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS as u64, 1, 1_000_000) as usize;
        let keep_alive_secs = number("KEEP_ALIVE_SECS", 5, 0, 3600);
        let client_request_timeout = Duration::from_millis(number("CLIENT_REQUEST_TIMEOUT_MS", 15_000, 100, 600_000));

        let mut flag = |name: &str, default: bool| -> bool {
            match get(name).map(|v| v.to_ascii_lowercase()) {
                None => default,
                Some(v) if ["on", "true", "1", "yes"].contains(&v.as_str()) => true,
                Some(v) if ["off", "false", "0", "no"].contains(&v.as_str()) => false,
                Some(v) => {
                    problems.push(format!("{name} must be on or off (true or false), got {v:?}"));
                    default
                }
            }
        };
        let batching = flag("BATCHING", true);
        let require_signed_timestamp = flag("REQUIRE_SIGNED_TIMESTAMP", false);
        let batch_dispatch = match get("BATCH_DISPATCH").map(|v| v.to_ascii_lowercase()) {
            None => Dispatch::Balanced,
            Some(v) if v == "settled" => Dispatch::Settled,
            Some(v) if v == "eager" => Dispatch::Eager,
            Some(v) if v == "balanced" => Dispatch::Balanced,
            Some(v) => {
                problems.push(format!("BATCH_DISPATCH must be balanced, settled or eager, got {v:?}"));
                Dispatch::Balanced
            }
        };

        let trusted_proxies = match get("TRUSTED_PROXIES") {
            None => TrustedProxies::default(),
            Some(list) => TrustedProxies::parse(&list).unwrap_or_else(|bad| {
                problems.extend(bad.into_iter().map(|why| format!("TRUSTED_PROXIES: {why}")));
                TrustedProxies::default()
            }),
        };

        let mut cors_allowed_origins = Vec::new();
        for origin in get("CORS_ALLOWED_ORIGINS").unwrap_or_default().split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let origin = origin.trim_end_matches('/');
            let well_formed = origin == "*"
                || ((origin.starts_with("http://") || origin.starts_with("https://"))
                    && !origin.split_once("://").is_some_and(|(_, rest)| rest.is_empty() || rest.contains('/')));
            if well_formed {
                cors_allowed_origins.push(origin.to_owned());
            } else {
                problems.push(format!("CORS_ALLOWED_ORIGINS entries must be scheme://host[:port] or *, got {origin:?}"));
            }
        }

        let sources = SourceSettings::from_lookup(get, &mut problems);
        if !problems.is_empty() {
            return Err(ConfigError(problems));
        }
        Ok(Settings {
            supabase_url,
            service_role_key,
            webhook_secrets,
            bind_addr,
            admin_bind_addr,
            default_phone_region,
            max_body_bytes,
            body_read_timeout,
            rate_limit_per_minute: (rate_limit > 0).then_some(rate_limit),
            trusted_proxies,
            max_connections,
            keep_alive: (keep_alive_secs > 0).then(|| Duration::from_secs(keep_alive_secs)),
            client_request_timeout,
            require_signed_timestamp,
            batching,
            batch_window,
            batch_max,
            batch_dispatch,
            batch_slots,
            maintenance_interval: (maintenance_secs > 0).then(|| Duration::from_secs(maintenance_secs)),
            rpc_timeout,
            workers: (workers > 0).then_some(workers),
            sources,
            cors_allowed_origins,
        })
    }

    /// The batcher's settings.
    pub fn batch_policy(&self) -> Policy {
        Policy {
            window: self.batch_window,
            max: self.batch_max,
            dispatch: self.batch_dispatch,
            slots: self.batch_slots,
        }
    }

    /// The PostgREST base URL.
    pub fn rest_url(&self) -> String {
        format!("{}/rest/v1", self.supabase_url)
    }

    /// The service key, for the two headers PostgREST needs.
    pub fn service_key(&self) -> &str {
        self.service_role_key.expose_secret()
    }
}

/// Batches at the database at once: one committing, one being sent.
pub const MAX_IN_FLIGHT: usize = 2;

/// When a gathered batch leaves for the database while another is there
/// (`BATCH_DISPATCH`; see the `batching` module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// Once a slot is free, when it holds its share of the senders (the
    /// recent peak of leads in the service, divided by the slots), or at
    /// once when no other batch is at the database (the default).
    Balanced,
    /// Once a slot is free, when as many leads as the last batch's have
    /// come, or `max` are waiting, or the database is idle and no lead has
    /// come for `window` (the default before; for comparison).
    Settled,
    /// The moment a slot is free (the design before; for comparison).
    Eager,
}

/// How batches form: `BATCH_WINDOW_MS`, `BATCH_MAX`, `BATCH_DISPATCH` and
/// `BATCH_SLOTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub window: Duration,
    pub max: usize,
    pub dispatch: Dispatch,
    /// Batches at the database at once (balanced and settled dispatch;
    /// eager dispatch keeps [`MAX_IN_FLIGHT`]).
    pub slots: usize,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    const BASE: &[(&str, &str)] = &[
        ("SUPABASE_URL", "http://127.0.0.1:54321/"),
        ("SUPABASE_SERVICE_ROLE_KEY", "sb_secret_abc"),
        ("WEBHOOK_SECRETS", "plain-one, whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ];

    #[test]
    fn a_sender_id_is_stable_distinct_per_secret_and_not_the_secret() {
        let one = WebhookSecret::parse("plain-one").unwrap();
        let again = WebhookSecret::parse(" plain-one ").unwrap();
        let other = WebhookSecret::parse("plain-two").unwrap();
        assert_eq!(one.sender_id(), again.sender_id());
        assert_ne!(one.sender_id(), other.sender_id());
        assert_eq!(one.sender_id().len(), "secret-".len() + 16);
        assert!(one.sender_id().starts_with("secret-"));
        assert!(!one.sender_id().contains("plain-one"));
        let plain_digest: String = one.text_digest()[..8].iter().map(|b| format!("{b:02x}")).collect();
        assert!(!one.sender_id().ends_with(&plain_digest), "the id is domain-separated from the compared digest");
    }

    #[test]
    fn the_required_variables_with_defaults_make_settings() {
        let s = settings(BASE).unwrap();
        assert_eq!(s.rest_url(), "http://127.0.0.1:54321/rest/v1");
        assert_eq!(s.webhook_secrets.len(), 2);
        assert!(s.webhook_secrets[1].standard_key.is_some());
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.admin_bind_addr, None);
        assert_eq!(s.max_body_bytes, 1024 * 1024);
        assert_eq!(s.body_read_timeout, Duration::from_secs(10));
        assert_eq!(s.batch_window, Duration::from_millis(2));
        assert_eq!(s.batch_max, 256);
        assert!(s.batching);
        assert_eq!(s.rate_limit_per_minute, None);
        assert_eq!(s.maintenance_interval, None, "sweeps run in the database (pg_cron) unless asked for");
        assert_eq!(s.trusted_proxies, TrustedProxies::default());
        assert_eq!(s.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(s.keep_alive, Some(Duration::from_secs(5)));
        assert_eq!(s.client_request_timeout, Duration::from_secs(15));
        assert!(!s.require_signed_timestamp);
    }

    #[test]
    fn the_maintenance_loop_runs_only_when_an_interval_is_given() {
        let mut vars = BASE.to_vec();
        vars.push(("MAINTENANCE_INTERVAL_SECS", "30"));
        assert_eq!(settings(&vars).unwrap().maintenance_interval, Some(Duration::from_secs(30)));
        let mut off = BASE.to_vec();
        off.push(("MAINTENANCE_INTERVAL_SECS", "0"));
        assert_eq!(settings(&off).unwrap().maintenance_interval, None);
    }

    #[test]
    fn trusted_proxies_are_read_and_each_bad_entry_is_named() {
        let mut vars = BASE.to_vec();
        vars.push(("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1"));
        let s = settings(&vars).unwrap();
        assert!(s.trusted_proxies.contains("10.9.9.9".parse().unwrap()));
        assert!(!s.trusted_proxies.contains("11.0.0.1".parse().unwrap()));
        let mut bad = BASE.to_vec();
        bad.push(("TRUSTED_PROXIES", "10.0.0.0/8, lb.internal, 10.0.0.0/40"));
        let err = settings(&bad).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(err.0.iter().all(|p| p.starts_with("TRUSTED_PROXIES")), "{err}");
        assert!(err.to_string().contains("\"lb.internal\""), "{err}");
    }

    #[test]
    fn connection_settings_are_read_and_bad_ones_named() {
        let mut vars = BASE.to_vec();
        vars.extend([("MAX_CONNECTIONS", "64"), ("KEEP_ALIVE_SECS", "0"), ("CLIENT_REQUEST_TIMEOUT_MS", "2500")]);
        let s = settings(&vars).unwrap();
        assert_eq!(s.max_connections, 64);
        assert_eq!(s.keep_alive, None);
        assert_eq!(s.client_request_timeout, Duration::from_millis(2500));
        let mut bad = BASE.to_vec();
        bad.extend([("MAX_CONNECTIONS", "0"), ("KEEP_ALIVE_SECS", "forever"), ("REQUIRE_SIGNED_TIMESTAMP", "sometimes")]);
        let err = settings(&bad).unwrap_err().to_string();
        for name in ["MAX_CONNECTIONS", "KEEP_ALIVE_SECS", "REQUIRE_SIGNED_TIMESTAMP"] {
            assert!(err.contains(name), "{name} not named in {err}");
        }
    }

    #[test]
    fn every_missing_variable_is_named() {
        let err = settings(&[]).unwrap_err().to_string();
        for name in ["SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "WEBHOOK_SECRETS"] {
            assert!(err.contains(name), "{name} not named in {err}");
        }
    }

    #[test]
    fn malformed_values_are_named_with_what_was_given() {
        let mut vars = BASE.to_vec();
        vars.extend([("BATCH_MAX", "lots"), ("DEFAULT_PHONE_REGION", "Narnia"), ("BATCHING", "maybe"), ("BIND_ADDR", "x")]);
        let err = settings(&vars).unwrap_err();
        assert_eq!(err.0.len(), 4, "{err}");
        let text = err.to_string();
        assert!(text.contains("BATCH_MAX") && text.contains("\"lots\""));
        assert!(text.contains("DEFAULT_PHONE_REGION"));
        assert!(text.contains("BATCHING"));
        assert!(text.contains("BIND_ADDR"));
    }

    #[test]
    fn a_body_read_timeout_is_read_in_milliseconds_and_a_bad_one_is_named() {
        let mut vars = BASE.to_vec();
        vars.push(("BODY_READ_TIMEOUT_MS", "250"));
        assert_eq!(settings(&vars).unwrap().body_read_timeout, Duration::from_millis(250));
        for bad in ["soon", "0", "600001"] {
            let mut vars = BASE.to_vec();
            vars.push(("BODY_READ_TIMEOUT_MS", bad));
            let err = settings(&vars).unwrap_err().to_string();
            assert!(err.contains("BODY_READ_TIMEOUT_MS") && err.contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn a_whsec_secret_must_be_base64() {
        let mut vars = BASE.to_vec();
        vars[2] = ("WEBHOOK_SECRETS", "whsec_***");
        assert!(settings(&vars).unwrap_err().to_string().contains("base64"));
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let s = settings(BASE).unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("sb_secret_abc"));
        assert!(!debug.contains("plain-one"));
    }

    #[test]
    fn an_admin_address_is_read_as_a_socket_address() {
        let mut vars = BASE.to_vec();
        vars.push(("ADMIN_BIND_ADDR", "127.0.0.1:9090"));
        assert_eq!(settings(&vars).unwrap().admin_bind_addr, Some(SocketAddr::from(([127, 0, 0, 1], 9090))));
    }

    #[test]
    fn a_bad_admin_address_is_named_with_what_was_given() {
        for bad in ["9090", "localhost:9090", "127.0.0.1:port", "127.0.0.1:70000"] {
            let mut vars = BASE.to_vec();
            vars.push(("ADMIN_BIND_ADDR", bad));
            let err = settings(&vars).unwrap_err();
            assert_eq!(err.0.len(), 1, "{err}");
            assert!(err.0[0].starts_with("ADMIN_BIND_ADDR must be ip:port"), "{err}");
            assert!(err.0[0].contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn cors_origins_are_read_and_a_malformed_one_is_named() {
        assert!(settings(BASE).unwrap().cors_allowed_origins.is_empty(), "no browser origin unless configured");
        let mut vars = BASE.to_vec();
        vars.push(("CORS_ALLOWED_ORIGINS", "http://127.0.0.1:8000, https://crm.example.com/"));
        assert_eq!(settings(&vars).unwrap().cors_allowed_origins, ["http://127.0.0.1:8000", "https://crm.example.com"]);
        let mut bad = BASE.to_vec();
        bad.push(("CORS_ALLOWED_ORIGINS", "crm.example.com, https://x.test/app"));
        let err = settings(&bad).unwrap_err();
        assert_eq!(err.0.len(), 2, "{err}");
        assert!(err.to_string().contains("\"crm.example.com\""), "{err}");
    }

    #[test]
    fn batching_can_be_turned_off() {
        let mut vars = BASE.to_vec();
        vars.push(("BATCHING", "off"));
        assert!(!settings(&vars).unwrap().batching);
    }

    #[test]
    fn batches_are_balanced_unless_settled_or_eager_dispatch_is_asked_for() {
        use Dispatch;
        assert_eq!(settings(BASE).unwrap().batch_dispatch, Dispatch::Balanced);
        assert_eq!(settings(BASE).unwrap().batch_slots, 2);
        for (value, dispatch) in [("Eager", Dispatch::Eager), ("settled", Dispatch::Settled), ("BALANCED", Dispatch::Balanced)] {
            let mut vars = BASE.to_vec();
            vars.push(("BATCH_DISPATCH", value));
            assert_eq!(settings(&vars).unwrap().batch_dispatch, dispatch, "{value}");
        }
        let mut bad = BASE.to_vec();
        bad.push(("BATCH_DISPATCH", "sometimes"));
        let err = settings(&bad).unwrap_err();
        assert!(err.to_string().contains("BATCH_DISPATCH must be balanced, settled or eager, got \"sometimes\""), "{err}");
    }
}
