//! Property tests of the three platform parsers: whatever a platform (or
//! anyone) sends, reading it neither panics nor answers 5xx. Values are
//! drawn from the platforms' own key names so the generated bodies reach
//! deep into the documented shapes.

use actix_web::ResponseError;
use bloc_api::sources::{google_ads, meta, whatsapp};
use bloc_shared::phone::PhoneRegion;
use proptest::prelude::*;
use secrecy::SecretString;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "object", "entry", "id", "time", "changes", "field", "value", "leadgen_id", "page_id", "form_id", "messages",
    "contacts", "statuses", "profile", "name", "wa_id", "from", "type", "text", "body", "button", "interactive",
    "referral", "metadata", "phone_number_id", "lead_id", "google_key", "is_test", "user_column_data", "column_id",
    "column_name", "string_value", "timestamp", "x",
];
const WORDS: &[&str] = &[
    "leadgen", "messages", "page", "whatsapp_business_account", "text", "FULL_NAME", "PHONE_NUMBER", "REGION",
    "EMAIL", "g-key", "919876543210", "+447911123456", "12", "", "Maharashtra", "../x", "wamid.1", "\u{0}", "ﬁ",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(WORDS).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>())),
        ]
    })
}

/// A generated value, or raw bytes that are usually not JSON at all.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_google_ads_reader_never_panics_or_answers_5xx(body in body(), authentic in any::<bool>()) {
        let key = SecretString::from("g-key".to_owned());
        let body = if authentic {
            // Put the right key in, so the mapping past authentication is reached too.
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(mut o)) => { o.insert("google_key".into(), "g-key".into()); Value::Object(o).to_string().into_bytes() }
                _ => body,
            }
        } else { body };
        if let Err(e) = google_ads::read(&body, &key, PhoneRegion::IN) {
            prop_assert!(e.status_code().is_client_error(), "{e:?}");
        }
    }

    #[test]
    fn the_meta_reader_never_panics_or_answers_5xx(body in body()) {
        match meta::read(&body) {
            Ok(items) => for item in items.into_iter().flatten() {
                prop_assert!(item.leadgen_id.bytes().all(|b| b.is_ascii_digit()), "only plain ids reach the Graph API path");
            },
            Err(e) => prop_assert!(e.status_code().is_client_error(), "{e:?}"),
        }
    }

    #[test]
    fn the_whatsapp_reader_never_panics_or_answers_5xx(body in body()) {
        match whatsapp::read(&body, PhoneRegion::IN) {
            Ok(items) => for lead in items.into_iter().flatten() {
                prop_assert!(lead.payload.phone.starts_with('+'), "{}", lead.payload.phone);
            },
            Err(e) => prop_assert!(e.status_code().is_client_error(), "{e:?}"),
        }
    }
}
