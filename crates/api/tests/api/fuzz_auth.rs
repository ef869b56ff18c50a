//! Property tests of webhook authentication (`auth::verify`): arbitrary
//! header values and bodies never pass without a configured secret, a
//! correctly signed random body always passes, and a signature one bit off
//! never does. Every run draws fresh random secrets.
//!
//! Cases per property are set in each `proptest!` block's config; they add up
//! to 12,000 here (see docs/fuzzing.md for the whole budget).

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine;
use bloc_api::auth::{hmac, to_hex, verify};
use bloc_api::configuration::WebhookSecret;
use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::helpers::now_secs;

const AUTH_HEADERS: [&str; 6] =
    ["x-webhook-secret", "x-signature-256", "x-signature-timestamp", "webhook-id", "webhook-timestamp", "webhook-signature"];

fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A shared secret and a Standard Webhooks key, both random.
#[derive(Debug, Clone)]
struct Secrets {
    text: String,
    standard_key: Vec<u8>,
}

impl Secrets {
    fn configured(&self) -> Vec<WebhookSecret> {
        vec![
            WebhookSecret::parse(&self.text).unwrap(),
            WebhookSecret::parse(&format!("whsec_{}", b64(&self.standard_key))).unwrap(),
        ]
    }
}

fn secrets() -> impl Strategy<Value = Secrets> {
    ("[A-Za-z0-9_.~-]{16,64}", prop::collection::vec(any::<u8>(), 24..64))
        .prop_map(|(text, standard_key)| Secrets { text, standard_key })
}

/// Header values an attacker might send: plausible shapes with random
/// content, arbitrary bytes (obs-text included), and very long ones.
fn header_value(now: i64) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..80),
        1 => prop::collection::vec(any::<u8>(), 32..=32).prop_map(move |mac| format!("sha256={}", to_hex(&mac)).into_bytes()),
        1 => prop::collection::vec(prop::collection::vec(any::<u8>(), 32..=32), 1..4)
            .prop_map(|macs| macs.iter().map(|m| format!("v1,{}", b64(m))).collect::<Vec<_>>().join(" ").into_bytes()),
        1 => (-400i64..400).prop_map(move |d| (now + d).to_string().into_bytes()),
        1 => prop::sample::select(vec![
            "", " ", "sha256=", "v1,", "v1, ", "whsec_", "0", "-9223372036854775808", "99999999999999999999",
            "v1,AAAA v1,==== v2,x", "sha256=zz", "sha256=0", "\u{e9}",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => (any::<u8>(), 1000usize..20_000).prop_map(|(b, n)| vec![b'a' + b % 26; n]),
    ]
}

fn header_map(pairs: &[(String, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) {
            map.append(name, value);
        }
    }
    map
}

/// The methods: shared secret, HMAC of the body, Standard Webhooks, HMAC
/// of `"<timestamp>.<body>"`.
const METHODS: u8 = 4;

/// Correct credentials for `body` by one of the [`METHODS`].
fn signed(method: u8, secrets: &Secrets, body: &[u8], id: &str, timestamp: i64) -> Vec<(String, Vec<u8>)> {
    match method % METHODS {
        0 => vec![("x-webhook-secret".into(), secrets.text.clone().into_bytes())],
        1 => vec![(
            "x-signature-256".into(),
            format!("sha256={}", to_hex(&hmac(secrets.text.as_bytes(), &[body]))).into_bytes(),
        )],
        3 => {
            let ts = timestamp.to_string();
            let mac = hmac(secrets.text.as_bytes(), &[ts.as_bytes(), b".", body]);
            vec![
                ("x-signature-timestamp".into(), ts.into_bytes()),
                ("x-signature-256".into(), format!("sha256={}", to_hex(&mac)).into_bytes()),
            ]
        }
        _ => {
            let mac = hmac(&secrets.standard_key, &[id.as_bytes(), b".", timestamp.to_string().as_bytes(), b".", body]);
            vec![
                ("webhook-id".into(), id.as_bytes().to_vec()),
                ("webhook-timestamp".into(), timestamp.to_string().into_bytes()),
                ("webhook-signature".into(), format!("v1,{}", b64(&mac)).into_bytes()),
            ]
        }
    }
}

proptest! {
    #![proptest_config(config(6_000))]

    #[test]
    fn arbitrary_credentials_and_bodies_never_pass_without_a_configured_secret(
        secrets in secrets(),
        pairs in prop::collection::vec(
            (
                prop_oneof![4 => prop::sample::select(AUTH_HEADERS.to_vec()).prop_map(str::to_owned), 1 => "[a-z-]{1,20}"],
                header_value(now_secs()),
            ),
            0..8,
        ),
        body in prop::collection::vec(any::<u8>(), 0..2048),
        require_signed_timestamp in any::<bool>(),
    ) {
        let headers = header_map(&pairs);
        let outcome = verify(&headers, &body, &secrets.configured(), now_secs(), require_signed_timestamp);
        prop_assert!(outcome.is_err(), "{headers:?} passed");
    }
}

proptest! {
    #![proptest_config(config(3_000))]

    #[test]
    fn a_correctly_signed_random_body_passes_by_each_method(
        secrets in secrets(),
        method in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 0..1024),
        id in "[!-~]{1,64}",
        skew in -290i64..290,
        decoys in prop::collection::vec((prop::sample::select(AUTH_HEADERS.to_vec()).prop_map(str::to_owned), header_value(now_secs())), 0..3),
        require_signed_timestamp in any::<bool>(),
    ) {
        let now = now_secs();
        let mut pairs = signed(method, &secrets, &body, &id, now + skew);
        // Wrong credentials for the other methods do not spoil the right one.
        let family = match method % METHODS {
            0 => "x-webhook-",
            1 | 3 => "x-signature-",
            _ => "webhook-",
        };
        pairs.extend(decoys.into_iter().filter(|(name, _)| !name.starts_with(family)));
        let headers = header_map(&pairs);
        let outcome = verify(&headers, &body, &secrets.configured(), now, require_signed_timestamp);
        if method % METHODS == 1 && require_signed_timestamp {
            prop_assert!(outcome.is_err(), "a body-only signature passed although a signed timestamp is required");
        } else {
            prop_assert!(outcome.is_ok(), "method {} refused", method % METHODS);
        }
    }
}

proptest! {
    #![proptest_config(config(3_000))]

    #[test]
    fn credentials_one_bit_off_or_for_another_body_never_pass(
        secrets in secrets(),
        method in any::<u8>(),
        body in prop::collection::vec(any::<u8>(), 1..1024),
        id in "[!-~]{1,64}",
        bit in 0usize..8192,
        what in 0u8..4,
        require_signed_timestamp in any::<bool>(),
    ) {
        let now = now_secs();
        let (pairs, sent_body) = match (method % METHODS, what) {
            // The same credentials for a body with one bit flipped.
            (1..=3, 0) => {
                let mut other = body.clone();
                other[(bit / 8) % body.len()] ^= 1 << (bit % 8);
                (signed(method, &secrets, &body, &id, now), other)
            }
            // A signature with one bit flipped.
            (1, _) => {
                let mut mac = hmac(secrets.text.as_bytes(), &[&body]);
                let at = (bit / 8) % mac.len();
                mac[at] ^= 1 << (bit % 8);
                (vec![("x-signature-256".into(), format!("sha256={}", to_hex(&mac)).into_bytes())], body)
            }
            (2, 1) => {
                let mut mac = hmac(&secrets.standard_key, &[id.as_bytes(), b".", now.to_string().as_bytes(), b".", &body]);
                let at = (bit / 8) % mac.len();
                mac[at] ^= 1 << (bit % 8);
                let pairs = vec![
                    ("webhook-id".into(), id.clone().into_bytes()),
                    ("webhook-timestamp".into(), now.to_string().into_bytes()),
                    ("webhook-signature".into(), format!("v1,{}", b64(&mac)).into_bytes()),
                ];
                (pairs, body)
            }
            // A Standard Webhooks signature replayed under another id.
            (2, 2) => {
                let mut pairs = signed(2, &secrets, &body, &id, now);
                pairs[0].1 = format!("{id}x").into_bytes();
                (pairs, body)
            }
            // A Standard Webhooks signature outside the 5-minute tolerance.
            (2, _) => {
                let stale = now + if bit % 2 == 0 { 301 + bit as i64 } else { -301 - bit as i64 };
                (signed(2, &secrets, &body, &id, stale), body)
            }
            // A timestamped HMAC outside the tolerance.
            (3, 1) => {
                let stale = now + if bit % 2 == 0 { 301 + bit as i64 } else { -301 - bit as i64 };
                (signed(3, &secrets, &body, &id, stale), body)
            }
            // A timestamped HMAC whose timestamp header was changed.
            (3, 2) => {
                let mut pairs = signed(3, &secrets, &body, &id, now);
                pairs[0].1 = (now - 1 - (bit % 200) as i64).to_string().into_bytes();
                (pairs, body)
            }
            // A body-only HMAC sent with a timestamp it does not cover.
            (3, _) => {
                let mut pairs = signed(1, &secrets, &body, &id, now);
                pairs.push(("x-signature-timestamp".into(), now.to_string().into_bytes()));
                (pairs, body)
            }
            // A shared secret with one character changed, added or dropped.
            _ => {
                let mut text: Vec<char> = secrets.text.chars().collect();
                let at = bit % text.len();
                match what {
                    0 => text[at] = if text[at] == 'a' { 'b' } else { 'a' },
                    1 => text.push('a'),
                    2 => { text.remove(at); }
                    _ => text = text.into_iter().map(|c| c.to_ascii_uppercase()).chain(Some('Z')).collect(),
                }
                (vec![("x-webhook-secret".into(), String::from_iter(text).into_bytes())], body)
            }
        };
        let headers = header_map(&pairs);
        let outcome = verify(&headers, &sent_body, &secrets.configured(), now, require_signed_timestamp);
        prop_assert!(outcome.is_err(), "{headers:?} passed");
    }
}
