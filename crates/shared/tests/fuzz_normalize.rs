#![allow(clippy::unwrap_used)]
//! Property tests of lead normalization: whatever a sender writes (arbitrary
//! Unicode, control characters, very long text, odd spellings of phones,
//! states and languages), normalizing never panics, refuses only with the
//! documented codes, and what it accepts keeps the invariants the database
//! and the web app rely on.
//!
//! Cases per property are set in each `proptest!` block's config; they add up
//! to 60,000 here (see docs/fuzzing.md for the whole budget).

use std::collections::BTreeSet;

use bloc_shared::fields::{cell_text, match_field, storable, storable_text, RawLead};
use bloc_shared::ingest::{normalize_lead, ApiError, IngestPayload, MAX_FIELD_CHARS};
use bloc_shared::phone::{self, PhoneRegion};
use bloc_shared::{languages, states};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Map, Value};

/// Metadata keys the normalizer itself writes.
const FLAGS: [&str; 3] = ["state_unrecognized", "language_unrecognized", "email_unrecognized"];

fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

/// Text as senders write it, and as they should not: any Unicode, control
/// characters, whitespace runs, lengths either side of the field limit, long
/// repeated runs. (Built from `char`s rather than regexes: generating is then
/// cheap enough for tens of thousands of cases in a debug build.)
fn text() -> impl Strategy<Value = String> {
    let odd = prop::sample::select(vec![
        ' ', '\t', '\r', '\n', '\0', '\u{1}', '\u{1b}', '\u{7f}', '\u{85}', '\u{a0}', '\u{2028}', '\u{feff}',
        '\u{200b}', '\u{202e}', 'İ', 'ß', 'ﬃ', '\u{301}', '😀', '\u{fffd}', 'a', 'Z', '9', '-', '@', '.', '&',
    ]);
    prop_oneof![
        4 => prop::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        3 => prop::collection::vec(odd, 0..16).prop_map(String::from_iter),
        1 => (any::<char>(), (MAX_FIELD_CHARS - 3)..(MAX_FIELD_CHARS + 3)).prop_map(|(c, n)| c.to_string().repeat(n)),
        1 => (prop::collection::vec(any::<char>(), 1..8), 100usize..600).prop_map(|(cs, n)| String::from_iter(cs).repeat(n)),
        1 => Just(String::new()),
    ]
}

/// Phone numbers: every prefix and separator senders use, Unicode digits,
/// far too few and far too many digits, and arbitrary text.
fn phone_text() -> impl Strategy<Value = String> {
    let prefix = prop::sample::select(vec!["", "+", "00", "0", "+91", "91", "0091", "+1", "+44", "(+91) ", "+0", "++", "+-"]);
    let body = prop::collection::vec(
        prop::sample::select(vec!['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '9', '8', '7', ' ', '-', '.', '(', ')', '/', '#', '*', '+']),
        0..24,
    );
    let unicode_digits = prop::collection::vec(
        prop::sample::select(vec!['٣', '९', '০', '０', '１', '𝟗', '۹', '5', '7', '\u{200e}', '\u{0}']),
        1..16,
    );
    prop_oneof![
        5 => (prefix, body).prop_map(|(p, b)| format!("{p}{}", String::from_iter(b))),
        2 => unicode_digits.prop_map(String::from_iter),
        2 => text(),
        1 => prop::sample::select(vec!["9876543210", "+919876543210", "919876543210", "+1 650-253-0000", "+442079460958"])
            .prop_map(str::to_owned),
    ]
}

/// A known spelling (code, name, alias, with or without `IN-`) with noise
/// inserted: random case, punctuation, multi-byte separators.
fn noisy(spellings: Vec<String>) -> impl Strategy<Value = String> {
    let noise = prop::sample::select(vec![' ', '.', '-', '&', '«', '—', '€', '\u{a0}', '\u{301}', 'ı', 'İ', '_', '\t', 'x']);
    (prop::sample::select(spellings), prop::collection::vec((any::<prop::sample::Index>(), noise), 0..4), any::<u64>())
        .prop_map(|(word, inserts, case_bits)| {
            let mut chars: Vec<char> = word
                .chars()
                .enumerate()
                .map(|(i, c)| if case_bits >> (i % 64) & 1 == 1 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            for (at, c) in inserts {
                chars.insert(at.index(chars.len() + 1), c);
            }
            String::from_iter(chars)
        })
}

fn state_spellings() -> Vec<String> {
    let mut all = Vec::new();
    for s in states::STATES {
        all.push(s.code.to_owned());
        all.push(format!("IN-{}", s.code));
        all.push(format!("in{}", s.code));
        all.push(s.name.to_owned());
        all.extend(s.aliases.iter().map(|a| (*a).to_owned()));
    }
    all
}

fn language_spellings() -> Vec<String> {
    let mut all = Vec::new();
    for l in languages::LANGUAGES {
        all.push(l.code.to_owned());
        all.push(l.name.to_owned());
        all.push(l.native_name.to_owned());
        all.extend(l.aliases.iter().map(|a| (*a).to_owned()));
    }
    all
}

fn state_text() -> impl Strategy<Value = String> {
    prop_oneof![3 => noisy(state_spellings()), 1 => text()]
}

fn language_text() -> impl Strategy<Value = String> {
    prop_oneof![3 => noisy(language_spellings()), 1 => text()]
}

/// Keys senders use for lead fields, written every which way, plus unknown keys.
fn key() -> impl Strategy<Value = String> {
    let known = vec![
        "phone", "Phone Number", "phone_number", "MOBILE", "whatsapp", "contact no", "name", "Full Name", "first_name",
        "Last Name", "email", "E-mail", "email.address", "state", "Region", "city", "Town", "language", "lang",
        "Preferred Language", "source", "utm_source", "state_unrecognized", "email_unrecognized", "Budget",
    ];
    prop_oneof![
        3 => noisy(known.into_iter().map(str::to_owned).collect()),
        1 => text(),
    ]
}

/// Any JSON value, nested a few levels, with numbers at their extremes.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(Value::from),
        prop::sample::select(vec![9876543210.0, 919876543210.0, 1e17, 1e18, 1e19, -0.0, 9.87654321e9, f64::MAX])
            .prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A lead-shaped JSON object: field keys with plausible and implausible
/// values, plus unknown keys.
fn lead_object() -> impl Strategy<Value = Map<String, Value>> {
    let field_value = prop_oneof![
        3 => phone_text().prop_map(Value::String),
        2 => state_text().prop_map(Value::String),
        2 => language_text().prop_map(Value::String),
        3 => json_value(),
    ];
    prop::collection::btree_map(key(), field_value, 0..10).prop_map(|m| m.into_iter().collect())
}

fn collapsed(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// E.164: `+`, a country code not starting with 0, at most 15 digits in all.
fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else { return false };
    (2..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// The invariants of a normalized lead, or of a refusal, for `raw`.
fn check(raw: &RawLead, region: PhoneRegion, outcome: &Result<IngestPayload, ApiError>) -> Result<(), TestCaseError> {
    let sent_flags: BTreeSet<&str> = FLAGS.iter().copied().filter(|f| raw.metadata.contains_key(*f)).collect();
    match outcome {
        Err(e) => {
            prop_assert!(
                ["field_too_long", "missing_phone", "invalid_phone"].contains(&e.error.as_str()),
                "undocumented code {}",
                e.error
            );
            prop_assert!(!e.fields.is_empty() && !e.message.is_empty());
            match e.error.as_str() {
                "field_too_long" => {
                    for field in e.fields.keys() {
                        let value = match field.as_str() {
                            "name" => raw.full_name().map(|n| collapsed(&n)),
                            "email" => raw.email.clone(),
                            "state" => raw.state.clone(),
                            "city" => raw.city.clone(),
                            "language" => raw.language.clone(),
                            "source" => raw.source.clone(),
                            other => return Err(TestCaseError::fail(format!("unknown field {other}"))),
                        };
                        prop_assert!(value.is_some_and(|v| chars(&v) > MAX_FIELD_CHARS), "{field} is not too long");
                    }
                }
                "missing_phone" => prop_assert!(raw.phone.is_none()),
                _ => {
                    let sent = raw.phone.as_deref().unwrap_or_default();
                    prop_assert!(phone::normalize(sent, region).is_err(), "{sent:?} normalizes, yet was refused");
                    prop_assert_eq!(e.fields.keys().collect::<Vec<_>>(), vec!["phone"]);
                }
            }
        }
        Ok(p) => {
            prop_assert!(is_e164(&p.phone), "{:?} is not E.164", p.phone);
            prop_assert_eq!(phone::normalize(&p.phone, region), Ok(p.phone.clone()), "E.164 is a fixed point");

            for (field, value) in [("name", &p.name), ("city", &p.city), ("source", &p.source)] {
                if let Some(v) = value {
                    prop_assert!(!v.is_empty(), "{field} is empty");
                    prop_assert_eq!(v, &collapsed(v), "{} keeps stray whitespace", field);
                    prop_assert!(chars(v) <= MAX_FIELD_CHARS, "{field} is too long");
                }
            }
            prop_assert_eq!(p.name.is_some(), raw.full_name().is_some());
            prop_assert_eq!(p.city.is_some(), raw.city.is_some());
            prop_assert_eq!(p.source.is_some(), raw.source.is_some());

            prop_assert_eq!(p.state.is_some(), raw.state.is_some());
            if let (Some(out), Some(sent)) = (&p.state, &raw.state) {
                match states::lookup(sent) {
                    Some(known) => {
                        prop_assert_eq!(out.as_str(), known.code);
                        prop_assert!(states::STATES.iter().any(|s| s.code == out), "{out} is not canonical");
                        if !sent_flags.contains("state_unrecognized") {
                            prop_assert!(!p.metadata.contains_key("state_unrecognized"));
                        }
                    }
                    None => {
                        prop_assert_eq!(out, &collapsed(sent), "an unknown state is kept as sent");
                        prop_assert!(states::lookup(out).is_none(), "the kept text {out:?} now reads as a state");
                        prop_assert_eq!(p.metadata.get("state_unrecognized"), Some(&Value::Bool(true)));
                        prop_assert!(chars(out) <= MAX_FIELD_CHARS);
                    }
                }
            }

            prop_assert_eq!(p.language.is_some(), raw.language.is_some());
            if let (Some(out), Some(sent)) = (&p.language, &raw.language) {
                match languages::lookup(sent) {
                    Some(known) => {
                        prop_assert_eq!(out.as_str(), known.code);
                        prop_assert!(out.len() == 2 && out.chars().all(|c| c.is_ascii_lowercase()), "{out} is not ISO 639-1");
                        if !sent_flags.contains("language_unrecognized") {
                            prop_assert!(!p.metadata.contains_key("language_unrecognized"));
                        }
                    }
                    None => {
                        prop_assert_eq!(out, &collapsed(sent), "an unknown language is kept as sent");
                        prop_assert!(languages::lookup(out).is_none(), "the kept text {out:?} now reads as a language");
                        prop_assert_eq!(p.metadata.get("language_unrecognized"), Some(&Value::Bool(true)));
                        prop_assert!(chars(out) <= MAX_FIELD_CHARS);
                    }
                }
            }

            match (&p.email, &raw.email) {
                (Some(out), Some(sent)) => {
                    prop_assert_eq!(out, &sent.trim().to_lowercase());
                    let (local, domain) = out.split_once('@').unwrap();
                    prop_assert!(!local.is_empty() && domain.contains('.') && !out.chars().any(char::is_whitespace));
                }
                (None, Some(sent)) => prop_assert_eq!(
                    p.metadata.get("email_unrecognized"),
                    Some(&Value::String(sent.trim().to_lowercase()))
                ),
                (Some(_), None) => return Err(TestCaseError::fail("an email out of nothing")),
                (None, None) => {}
            }

            for (key, value) in &raw.metadata {
                if !FLAGS.contains(&key.as_str()) {
                    prop_assert_eq!(p.metadata.get(key), Some(value), "metadata {:?} was lost", key);
                }
            }
            for key in p.metadata.keys() {
                prop_assert!(raw.metadata.contains_key(key) || FLAGS.contains(&key.as_str()), "metadata {key:?} out of nothing");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(12_000))]

    #[test]
    fn any_json_object_normalizes_to_a_valid_lead_or_a_documented_refusal(object in lead_object()) {
        let raw = RawLead::from_json_object(&object);
        let outcome = normalize_lead(raw.clone(), PhoneRegion::IN);
        check(&raw, PhoneRegion::IN, &outcome)?;

        // Nothing the sender sent is dropped: each key is a field, blank, or in metadata.
        if let Ok(p) = &outcome {
            for (key, value) in &object {
                let (key, value) = (&storable_text(key), &storable(value.clone()));
                if FLAGS.contains(&key.as_str()) || object.len() != p.metadata.len() && object.keys().filter(|k| storable_text(k) == *key).count() > 1 {
                    continue;
                }
                let kept = p.metadata.get(key) == Some(value);
                let field = match_field(key).is_some() && (cell_text(value).is_some() || value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty()));
                prop_assert!(kept || field, "{key:?} = {value} was dropped");
            }
        }
    }
}

proptest! {
    #![proptest_config(config(8_000))]

    #[test]
    fn any_form_pairs_normalize_to_a_valid_lead_or_a_documented_refusal(
        pairs in prop::collection::vec((key(), prop_oneof![phone_text(), state_text(), language_text(), text()]), 0..10),
        region in prop::sample::select(vec!["IN", "US", "GB", "AE", "SG", "DE"]),
    ) {
        let region: PhoneRegion = region.parse().unwrap();
        let raw = RawLead::from_pairs(pairs);
        let outcome = normalize_lead(raw.clone(), region);
        check(&raw, region, &outcome)?;
    }
}

proptest! {
    #![proptest_config(config(15_000))]

    #[test]
    fn a_phone_normalizes_to_e164_or_is_refused(
        input in phone_text(),
        region in prop::sample::select(vec!["IN", "US", "GB", "AE", "SG", "DE", "NP", "BD"]),
    ) {
        let region: PhoneRegion = region.parse().unwrap();
        if let Ok(e164) = phone::normalize(&input, region) {
            prop_assert!(is_e164(&e164), "{input:?} -> {e164:?}");
            prop_assert_eq!(phone::normalize(&e164, region), Ok(e164.clone()), "E.164 is a fixed point");
            prop_assert_eq!(phone::normalize(&e164, PhoneRegion::IN), Ok(e164.clone()), "E.164 reads the same in any region");
            prop_assert!(!input.chars().any(char::is_alphabetic));
        }
    }
}

proptest! {
    #![proptest_config(config(10_000))]

    #[test]
    fn a_state_is_found_only_as_a_canonical_code_and_lookup_ignores_noise(input in state_text()) {
        if let Some(state) = states::lookup(&input) {
            prop_assert!(states::STATES.contains(state));
            prop_assert_eq!(states::lookup(state.code), Some(state), "a code finds itself");
            prop_assert_eq!(states::by_code(state.code), Some(state));
            prop_assert_eq!(states::lookup(&input.to_lowercase()), Some(state), "case does not matter");
            prop_assert_eq!(states::lookup(&format!("  {input} ")), Some(state), "surrounding spaces do not matter");
        }
        let _ = states::display_name(&input);
    }
}

proptest! {
    #![proptest_config(config(15_000))]

    #[test]
    fn a_language_is_found_only_as_a_canonical_code(input in language_text()) {
        if let Some(language) = languages::lookup(&input) {
            prop_assert!(languages::LANGUAGES.contains(language));
            prop_assert_eq!(languages::lookup(language.code), Some(language), "a code finds itself");
            prop_assert_eq!(languages::by_code(language.code), Some(language));
            prop_assert_eq!(languages::lookup(&format!(" {input}\t")), Some(language), "surrounding spaces do not matter");
        }
        let _ = languages::display_name(&input);
    }
}

#[test]
fn every_spelling_of_a_state_with_an_iso_prefix_and_a_multibyte_separator_is_read_without_panicking() {
    // `in«mh`: the key reads `inmh`, and checking for an `IN-` prefix sliced
    // the text at byte 3, inside `«`.
    for input in ["in«mh", "in—ka", "IN€TN", "in\u{a0}mh", "in«", "i«nmh"] {
        let _ = states::lookup(input);
    }
    assert_eq!(states::lookup("in«mh"), None, "only `IN-` is a prefix");
    assert_eq!(states::lookup("IN-MH").map(|s| s.code), Some("MH"));
}

