//! Webhook authentication, checked on the raw body before anything is parsed.
//!
//! A request passes if any configured secret verifies any of:
//! - `X-Webhook-Secret: <secret>`;
//! - `X-Signature-256: sha256=<hex HMAC-SHA256(secret, message)>`, where the
//!   message is `"<timestamp>.<body>"` when `X-Signature-Timestamp:
//!   <unix seconds>` is sent (the timestamp within 5 minutes of now either
//!   way), and the raw body alone when it is not (refused when
//!   `REQUIRE_SIGNED_TIMESTAMP` is on);
//! - Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`
//!   (`v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`, space-separated list),
//!   with a `whsec_` secret and a 5-minute tolerance either way.
//!
//! Every comparison is constant-time, and every secret is tried (no early
//! exit that would tell which one matched). A shared secret is compared as
//! SHA-256 digests of both sides, so the time taken does not depend on
//! whether the guess has the secret's length. The error says nothing of
//! which part failed.
//!
//! A pass names the sender: the [`WebhookSecret::sender_id`] of the first
//! configured secret that verified, chosen by a constant-time conditional
//! select while every secret is still tried. Idempotency keys are scoped to
//! it, so two senders never share a key space.
//!
//! A pass by `X-Signature-256` over a timestamp also names the delivery: its
//! [`Authenticated::signed_key`] is derived from the signature, so a captured
//! request replayed within its 5 minutes, under any `Idempotency-Key` (which
//! no signature covers), is the same delivery as the first.

use actix_web::http::header::HeaderMap;
use base64::Engine;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::configuration::WebhookSecret;

type HmacSha256 = Hmac<Sha256>;

/// How far a signed timestamp (Standard Webhooks' `webhook-timestamp`, or
/// `X-Signature-Timestamp`) may be from now, either way.
pub const TIMESTAMP_TOLERANCE_SECS: u64 = 5 * 60;

/// Which method authenticated the request (for logs and metrics only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    SharedSecret,
    HmacSignature,
    StandardWebhooks,
}

/// An authenticated request: how, and who sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub method: AuthMethod,
    /// The sender id of the secret that verified ([`WebhookSecret::sender_id`]),
    /// never the secret itself.
    pub sender: String,
    /// The delivery's idempotency key as the signature fixes it, for an
    /// `X-Signature-256` over `X-Signature-Timestamp` and the body:
    /// [`SIGNED_KEY_PREFIX`] and the signature's lowercase hex. The same
    /// timestamp and body (a sender's retry, or a replay) give the same key
    /// whatever else the request carries; a new timestamp or body, another.
    /// `None` for every other method (a Standard Webhooks delivery's key is
    /// its signed `webhook-id` header).
    pub signed_key: Option<String>,
}

/// How a [`Authenticated::signed_key`] begins: the header it comes from.
pub const SIGNED_KEY_PREFIX: &str = "x-signature-256:";

/// The request is not authenticated. Deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unauthenticated;

/// Checks `headers` and the raw `body` against `secrets` at time `now_secs`.
/// With `require_signed_timestamp`, an `X-Signature-256` that signs the body
/// alone (no `X-Signature-Timestamp`) is refused.
pub fn verify(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[WebhookSecret],
    now_secs: i64,
    require_signed_timestamp: bool,
) -> Result<Authenticated, Unauthenticated> {
    if let Some(given) = header(headers, "x-webhook-secret") {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        let mut found = FirstMatch::default();
        for (index, secret) in secrets.iter().enumerate() {
            found.record(index, secret.text_digest().ct_eq(&given));
        }
        if let Some(sender) = found.sender(secrets) {
            return Ok(Authenticated { method: AuthMethod::SharedSecret, sender, signed_key: None });
        }
    }

    if let Some(given) = header(headers, "x-signature-256") {
        let hex = given.trim().strip_prefix("sha256=").unwrap_or(given.trim());
        let signed_prefix = match header(headers, "x-signature-timestamp").map(str::trim) {
            // A timestamp that is sent must be fresh; it never falls back to the body alone.
            Some(ts) => fresh(ts, now_secs).then_some(Some(ts)),
            None if require_signed_timestamp => None,
            None => Some(None),
        };
        if let (Some(signed_prefix), Some(given_mac)) = (signed_prefix, decode_hex(hex)) {
            let message: [&[u8]; 3] = match signed_prefix {
                Some(ts) => [ts.as_bytes(), b".", body],
                None => [b"", b"", body],
            };
            let mut found = FirstMatch::default();
            for (index, secret) in secrets.iter().enumerate() {
                let mac = hmac(secret.text.expose_secret().as_bytes(), &message);
                found.record(index, mac.as_slice().ct_eq(&given_mac));
            }
            if let Some(sender) = found.sender(secrets) {
                let signed_key = signed_prefix.map(|_| format!("{SIGNED_KEY_PREFIX}{}", to_hex(&given_mac)));
                return Ok(Authenticated { method: AuthMethod::HmacSignature, sender, signed_key });
            }
        }
    }

    if let (Some(id), Some(timestamp), Some(signatures)) = (
        header(headers, "webhook-id"),
        header(headers, "webhook-timestamp"),
        header(headers, "webhook-signature"),
    ) {
        if fresh(timestamp.trim(), now_secs) {
            let given: Vec<Vec<u8>> = signatures
                .split_whitespace()
                .filter_map(|s| s.strip_prefix("v1,"))
                .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .collect();
            let mut found = FirstMatch::default();
            for (index, secret) in secrets.iter().enumerate() {
                let Some(key) = &secret.standard_key else { continue };
                let mac = hmac(key.expose_secret(), &[id.as_bytes(), b".", timestamp.trim().as_bytes(), b".", body]);
                let mut matched = Choice::from(0);
                for sig in &given {
                    matched |= mac.as_slice().ct_eq(sig);
                }
                found.record(index, matched);
            }
            if let Some(sender) = found.sender(secrets) {
                return Ok(Authenticated { method: AuthMethod::StandardWebhooks, sender, signed_key: None });
            }
        }
    }

    Err(Unauthenticated)
}

/// The first secret that matched, chosen without branching on any match:
/// every secret is recorded, and the index is updated by a conditional
/// select only while nothing has matched yet.
struct FirstMatch {
    found: Choice,
    index: u64,
}

impl Default for FirstMatch {
    fn default() -> Self {
        FirstMatch { found: Choice::from(0), index: 0 }
    }
}

impl FirstMatch {
    fn record(&mut self, index: usize, matched: Choice) {
        let first = matched & !self.found;
        self.index = u64::conditional_select(&self.index, &(index as u64), first);
        self.found |= matched;
    }

    /// The matching secret's sender id; read only after every secret was tried.
    fn sender(&self, secrets: &[WebhookSecret]) -> Option<String> {
        if !bool::from(self.found) {
            return None;
        }
        secrets.get(self.index as usize).map(|secret| secret.sender_id().to_owned())
    }
}

/// Whether `timestamp` is Unix seconds within [`TIMESTAMP_TOLERANCE_SECS`]
/// of `now_secs`, either way (any value, however large, without overflow).
fn fresh(timestamp: &str, now_secs: i64) -> bool {
    timestamp.parse::<i64>().is_ok_and(|ts| now_secs.abs_diff(ts) <= TIMESTAMP_TOLERANCE_SECS)
}

/// HMAC-SHA256 over the concatenated `parts`.
pub fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase hex, as Make.com's `sha256(text; "hex"; key)` writes it.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex (either case); `None` for odd length or a non-hex digit.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const NOW: i64 = 1_764_000_000;

    fn secrets() -> Vec<WebhookSecret> {
        vec![WebhookSecret::parse("old-secret").unwrap(), WebhookSecret::parse("new-secret").unwrap(), WebhookSecret::parse(WHSEC).unwrap()]
    }

    fn headers(pairs: &[(&str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        map
    }

    fn method(outcome: Result<Authenticated, Unauthenticated>) -> Result<AuthMethod, Unauthenticated> {
        outcome.map(|authenticated| authenticated.method)
    }

    fn sender(outcome: Result<Authenticated, Unauthenticated>) -> String {
        outcome.unwrap().sender
    }

    fn standard_signature(id: &str, ts: i64, body: &[u8]) -> String {
        let key = base64::engine::general_purpose::STANDARD.decode(&WHSEC[6..]).unwrap();
        let mac = hmac(&key, &[id.as_bytes(), b".", ts.to_string().as_bytes(), b".", body]);
        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac))
    }

    #[test]
    fn any_configured_shared_secret_passes() {
        for s in ["old-secret", "new-secret"] {
            let h = headers(&[("x-webhook-secret", s.into())]);
            assert_eq!(method(verify(&h, b"{}", &secrets(), NOW, false)), Ok(AuthMethod::SharedSecret));
        }
        let h = headers(&[("x-webhook-secret", "old-secreT".into())]);
        assert_eq!(verify(&h, b"{}", &secrets(), NOW, false), Err(Unauthenticated));
    }

    #[test]
    fn an_hmac_of_the_exact_body_passes_and_of_another_body_fails() {
        let sig = format!("sha256={}", to_hex(&hmac(b"new-secret", &[b"{\"phone\":\"1\"}"])));
        let h = headers(&[("x-signature-256", sig)]);
        assert_eq!(method(verify(&h, b"{\"phone\":\"1\"}", &secrets(), NOW, false)), Ok(AuthMethod::HmacSignature));
        assert_eq!(verify(&h, b"{\"phone\":\"2\"}", &secrets(), NOW, false), Err(Unauthenticated));
    }

    /// `X-Signature-256` and `X-Signature-Timestamp` headers signing `ts.body` with `secret`.
    fn timestamped(secret: &str, ts: &str, body: &[u8]) -> HeaderMap {
        let sig = format!("sha256={}", to_hex(&hmac(secret.as_bytes(), &[ts.as_bytes(), b".", body])));
        headers(&[("x-signature-256", sig), ("x-signature-timestamp", ts.to_string())])
    }

    #[test]
    fn an_hmac_over_a_fresh_timestamp_and_the_body_passes_either_way_of_now() {
        let body = b"{\"phone\":\"1\"}";
        for ts in [NOW, NOW - 300, NOW + 300] {
            let h = timestamped("new-secret", &ts.to_string(), body);
            assert_eq!(method(verify(&h, body, &secrets(), NOW, false)), Ok(AuthMethod::HmacSignature), "ts {ts}");
            assert_eq!(method(verify(&h, body, &secrets(), NOW, true)), Ok(AuthMethod::HmacSignature), "ts {ts}");
        }
    }

    #[test]
    fn a_stale_future_or_unreadable_signed_timestamp_fails() {
        let body = b"{}";
        let stale_or_future = [NOW - 301, NOW + 301, i64::MIN, i64::MAX, -1, 0].map(|ts| ts.to_string());
        let unreadable = ["", "soon", "99999999999999999999", "1764000000.5"].map(String::from);
        for ts in stale_or_future.iter().chain(&unreadable) {
            let h = timestamped("new-secret", ts, body);
            assert_eq!(verify(&h, body, &secrets(), NOW, false), Err(Unauthenticated), "ts {ts:?}");
        }
    }

    #[test]
    fn a_signed_timestamp_cannot_be_changed_nor_added_to_a_body_only_signature() {
        let body = b"{\"phone\":\"1\"}";
        // Tampered: a fresh timestamp swapped in under a signature made for another.
        let mut h = timestamped("new-secret", &(NOW - 100).to_string(), body);
        h.insert(HeaderName::from_static("x-signature-timestamp"), HeaderValue::from_str(&NOW.to_string()).unwrap());
        assert_eq!(verify(&h, body, &secrets(), NOW, false), Err(Unauthenticated));
        // A captured body-only signature replayed with a fresh timestamp.
        let body_only = format!("sha256={}", to_hex(&hmac(b"new-secret", &[body])));
        let h = headers(&[("x-signature-256", body_only), ("x-signature-timestamp", NOW.to_string())]);
        assert_eq!(verify(&h, body, &secrets(), NOW, false), Err(Unauthenticated));
        // Forged: signed with a secret the service does not know.
        let h = timestamped("not-a-secret", &NOW.to_string(), body);
        assert_eq!(verify(&h, body, &secrets(), NOW, false), Err(Unauthenticated));
        // The body changed under a good timestamp.
        let h = timestamped("new-secret", &NOW.to_string(), body);
        assert_eq!(verify(&h, b"{\"phone\":\"2\"}", &secrets(), NOW, false), Err(Unauthenticated));
    }

    #[test]
    fn a_signed_timestamp_keys_the_delivery_on_its_signature_and_nothing_else_does() {
        let body = b"{\"phone\":\"1\"}";
        let key = |h: &HeaderMap| verify(h, body, &secrets(), NOW, false).unwrap().signed_key;
        let first = timestamped("new-secret", &NOW.to_string(), body);
        let mut with_other_headers = first.clone();
        with_other_headers.insert(HeaderName::from_static("idempotency-key"), HeaderValue::from_static("fresh"));
        with_other_headers.insert(HeaderName::from_static("webhook-id"), HeaderValue::from_static("msg_1"));
        let mut upper_case = first.clone();
        let shouted = upper_case.get("x-signature-256").unwrap().to_str().unwrap().replace("sha256=", "").to_uppercase();
        upper_case.insert(HeaderName::from_static("x-signature-256"), HeaderValue::from_str(&shouted).unwrap());

        let signed = key(&first).expect("a signed timestamp names its delivery");
        assert!(signed.starts_with(SIGNED_KEY_PREFIX) && signed.len() == SIGNED_KEY_PREFIX.len() + 64, "{signed}");
        assert_eq!(key(&with_other_headers), Some(signed.clone()), "unsigned headers do not change it");
        assert_eq!(key(&upper_case), Some(signed.clone()), "nor the signature's spelling");
        assert_ne!(key(&timestamped("new-secret", &(NOW - 1).to_string(), body)), Some(signed), "a new timestamp, a new delivery");
        let body_only = headers(&[("x-signature-256", format!("sha256={}", to_hex(&hmac(b"new-secret", &[body]))))]);
        assert_eq!(key(&body_only), None);
        assert_eq!(key(&headers(&[("x-webhook-secret", "new-secret".into())])), None);
        let standard = headers(&[
            ("webhook-id", "msg_1".into()),
            ("webhook-timestamp", NOW.to_string()),
            ("webhook-signature", standard_signature("msg_1", NOW, body)),
        ]);
        assert_eq!(key(&standard), None, "its key is the webhook-id header");
    }

    #[test]
    fn a_body_only_signature_is_refused_when_a_signed_timestamp_is_required() {
        let body = b"{}";
        let h = headers(&[("x-signature-256", format!("sha256={}", to_hex(&hmac(b"new-secret", &[body]))))]);
        assert_eq!(method(verify(&h, body, &secrets(), NOW, false)), Ok(AuthMethod::HmacSignature));
        assert_eq!(verify(&h, body, &secrets(), NOW, true), Err(Unauthenticated));
        let shared = headers(&[("x-webhook-secret", "new-secret".into())]);
        let shared_secret = method(verify(&shared, body, &secrets(), NOW, true));
        assert_eq!(shared_secret, Ok(AuthMethod::SharedSecret), "only X-Signature-256 is affected");
    }

    #[test]
    fn a_standard_webhooks_signature_passes_within_tolerance() {
        let body = b"{\"phone\":\"9876543210\"}";
        for ts in [NOW, NOW - 299, NOW + 299] {
            let h = headers(&[
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", format!("v1,bm90IHRoaXM= {}", standard_signature("msg_1", ts, body))),
            ]);
            assert_eq!(method(verify(&h, body, &secrets(), NOW, false)), Ok(AuthMethod::StandardWebhooks), "ts {ts}");
        }
    }

    #[test]
    fn a_stale_or_future_standard_webhooks_timestamp_fails() {
        let body = b"{}";
        for ts in [NOW - 301, NOW + 301] {
            let h = headers(&[
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", standard_signature("msg_1", ts, body)),
            ]);
            assert_eq!(verify(&h, body, &secrets(), NOW, false), Err(Unauthenticated));
        }
    }

    #[test]
    fn a_standard_signature_for_another_id_fails() {
        let h = headers(&[
            ("webhook-id", "msg_2".into()),
            ("webhook-timestamp", NOW.to_string()),
            ("webhook-signature", standard_signature("msg_1", NOW, b"{}")),
        ]);
        assert_eq!(verify(&h, b"{}", &secrets(), NOW, false), Err(Unauthenticated));
    }

    #[test]
    fn a_hostile_webhook_timestamp_fails_without_overflowing() {
        let body = b"{}";
        for ts in [i64::MIN, i64::MIN + 1, i64::MAX, -1, 0] {
            let h = headers(&[
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts.to_string()),
                ("webhook-signature", standard_signature("msg_1", ts, body)),
            ]);
            assert_eq!(verify(&h, body, &secrets(), NOW, false), Err(Unauthenticated), "ts {ts}");
        }
        let h = headers(&[
            ("webhook-id", "msg_1".into()),
            ("webhook-timestamp", NOW.to_string()),
            ("webhook-signature", standard_signature("msg_1", NOW, body)),
        ]);
        assert_eq!(verify(&h, body, &secrets(), i64::MIN, false), Err(Unauthenticated), "a clock at i64::MIN");
    }

    /// The fastest of `runs` checks of `given` against a single long secret.
    fn fastest_check(secret: &[WebhookSecret], given: &str, runs: usize) -> std::time::Duration {
        let h = headers(&[("x-webhook-secret", given.to_string())]);
        (0..runs)
            .map(|_| {
                let started = std::time::Instant::now();
                let outcome = verify(&h, b"{}", secret, NOW, false);
                let elapsed = started.elapsed();
                assert_eq!(outcome, Err(Unauthenticated));
                elapsed
            })
            .min()
            .unwrap()
    }

    #[test]
    fn a_wrong_shared_secret_of_the_right_length_takes_as_long_as_one_of_another_length() {
        // Compared as written, a guess of another length is refused at once
        // and one of the right length only after every byte: the time tells
        // the secret's length. Compared as digests, both hash the guess.
        let secret = "s".repeat(128 * 1024);
        let secrets = vec![WebhookSecret::parse(&secret).unwrap()];
        let same_length = "g".repeat(secret.len());
        let one_longer = "g".repeat(secret.len() + 1);
        let (same, longer) = (fastest_check(&secrets, &same_length, 40), fastest_check(&secrets, &one_longer, 40));
        let (slow, fast) = (same.max(longer), same.min(longer));
        assert!(
            slow.as_secs_f64() < fast.as_secs_f64() * 3.0,
            "right length {same:?}, one longer {longer:?}: the time depends on the length"
        );
    }

    #[test]
    fn each_method_names_the_sender_of_the_secret_that_verified() {
        let all = secrets();
        let shared = headers(&[("x-webhook-secret", "new-secret".into())]);
        assert_eq!(sender(verify(&shared, b"{}", &all, NOW, false)), all[1].sender_id());

        let sig = format!("sha256={}", to_hex(&hmac(b"old-secret", &[b"{}"])));
        let signed = headers(&[("x-signature-256", sig)]);
        assert_eq!(sender(verify(&signed, b"{}", &all, NOW, false)), all[0].sender_id());

        let standard = headers(&[
            ("webhook-id", "msg_1".into()),
            ("webhook-timestamp", NOW.to_string()),
            ("webhook-signature", standard_signature("msg_1", NOW, b"{}")),
        ]);
        assert_eq!(sender(verify(&standard, b"{}", &all, NOW, false)), all[2].sender_id());
        assert_ne!(all[0].sender_id(), all[1].sender_id());
    }

    #[test]
    fn a_secret_configured_twice_names_the_first_and_same_sender() {
        let twice = vec![
            WebhookSecret::parse("other").unwrap(),
            WebhookSecret::parse("shared").unwrap(),
            WebhookSecret::parse("shared").unwrap(),
        ];
        let h = headers(&[("x-webhook-secret", "shared".into())]);
        assert_eq!(sender(verify(&h, b"{}", &twice, NOW, false)), twice[1].sender_id());
    }

    #[test]
    fn no_credentials_fail() {
        assert_eq!(verify(&HeaderMap::new(), b"{}", &secrets(), NOW, false), Err(Unauthenticated));
    }
}
