//! Property tests of the body parser (`body::parse`): any bytes under any
//! content type are one lead, a batch, or a refusal with a 4xx status and a
//! documented code; never a panic, never a 5xx.
//!
//! Cases per property are set in each `proptest!` block's config; they add up
//! to 34,300 here (see docs/fuzzing.md for the whole budget).

use actix_web::http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use actix_web::ResponseError;
use bloc_api::body::{parse, Parsed, MAX_BATCH};
use bloc_api::error::IngestError;
use bloc_shared::fields::RawLead;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Map, Value};

fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, ..Config::default() }
}

fn headers(content_type: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(content_type) {
        map.insert(CONTENT_TYPE, value);
    }
    map
}

fn json_headers() -> HeaderMap {
    headers(b"application/json")
}

/// The codes a refused body may carry, and the status each has.
fn check_refusal(error: &IngestError) -> Result<(), TestCaseError> {
    let status = error.status_code().as_u16();
    let code = error.code().to_owned();
    let expected = match code.as_str() {
        "malformed_body" => 400,
        "unsupported_media_type" => 415,
        "empty_batch" | "too_many_leads" => 422,
        other => return Err(TestCaseError::fail(format!("undocumented code {other} ({status})"))),
    };
    prop_assert_eq!(status, expected, "{} has the wrong status", code);
    let body = serde_json::to_value(error.body()).unwrap();
    prop_assert_eq!(&body["error"], &json!(code));
    prop_assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    Ok(())
}

/// Content types as senders write them, right and wrong.
fn content_type() -> impl Strategy<Value = Vec<u8>> {
    let known = prop::sample::select(vec![
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=utf-16",
        " application/json ",
        "application/vnd.api+json",
        "application/merge-patch+json",
        "application/x-www-form-urlencoded",
        "APPLICATION/X-WWW-FORM-URLENCODED; charset=ISO-8859-1",
        "text/plain",
        "text/json",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonp",
        "json",
        "",
        ";",
        "application/json\u{0}",
    ]);
    prop_oneof![
        3 => known.prop_map(|s| s.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..40),
        1 => "[ -~]{0,40}".prop_map(String::into_bytes),
    ]
}

/// Bytes that are mostly JSON or form text, with some damage, or just noise.
fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..2000),
        2 => json_value().prop_map(|v| v.to_string().into_bytes()),
        2 => (json_value(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(v, at, byte)| {
            let mut bytes = v.to_string().into_bytes();
            let i = at.index(bytes.len().max(1));
            if i < bytes.len() {
                bytes[i] = byte;
            } else {
                bytes.push(byte);
            }
            bytes
        }),
        1 => "([a-zA-Z_ %+=&0-9]|%[0-9A-Fa-f]{2}|%[^0-9A-Fa-f]){0,60}".prop_map(String::into_bytes),
        1 => prop::sample::select(vec![
            &b""[..], b" ", b"null", b"[]", b"{}", b"[{}]", b"\xef\xbb\xbf{}", b"{\"phone\":\"\xff\"}", b"\"\\ud800\"",
            b"{\"a\":1}garbage", b"[1,]", b"{\"phone\": 1e400}", b"%zz", b"a=%ff%fe", b"=&=&&", b"phone=98765%2043210",
        ])
        .prop_map(<[u8]>::to_vec),
    ]
}

/// Any JSON value, a few levels deep, with extreme numbers and any text.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec!["phone", "9876543210", "Maharashtra", "hi", ""]).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![any::<String>(), prop::sample::select(vec!["phone", "Mobile Number", "state", "name"]).prop_map(str::to_owned)],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object(map: &Map<String, Value>) -> RawLead {
    RawLead::from_json_object(map)
}

proptest! {
    #![proptest_config(config(12_000))]

    #[test]
    fn any_bytes_under_any_content_type_are_read_or_refused_with_a_documented_4xx(
        content_type in content_type(),
        body in body_bytes(),
    ) {
        let headers = headers(&content_type);
        match parse(&headers, &body) {
            Ok(Parsed::One(_)) => {}
            Ok(Parsed::Many(items)) => prop_assert!((1..=MAX_BATCH).contains(&items.len())),
            Err(error) => check_refusal(&error)?,
        }
    }
}

proptest! {
    #![proptest_config(config(10_000))]

    #[test]
    fn any_json_value_is_one_lead_a_batch_or_malformed(value in json_value()) {
        let outcome = parse(&json_headers(), value.to_string().as_bytes());
        match (&value, outcome) {
            (Value::Object(map), Ok(Parsed::One(raw))) => prop_assert_eq!(*raw, object(map)),
            (Value::Array(items), Ok(Parsed::Many(parsed))) => {
                prop_assert!(!items.is_empty() && items.len() <= MAX_BATCH);
                prop_assert_eq!(parsed.len(), items.len());
                for (item, read) in items.iter().zip(&parsed) {
                    match (item, read) {
                        (Value::Object(map), Ok(raw)) => prop_assert_eq!(raw, &object(map)),
                        (_, Err(e)) => prop_assert_eq!(e.error.as_str(), "not_an_object"),
                        (other, Ok(_)) => return Err(TestCaseError::fail(format!("{other} read as a lead"))),
                    }
                }
            }
            (Value::Array(items), Err(error)) => {
                prop_assert!(items.is_empty());
                prop_assert_eq!(error.code(), "empty_batch");
                check_refusal(&error)?;
            }
            (Value::Object(_) | Value::Array(_), Ok(_)) => return Err(TestCaseError::fail("object and array swapped")),
            (Value::Object(_), Err(error)) => return Err(TestCaseError::fail(format!("an object was refused: {error}"))),
            (_, Ok(_)) => return Err(TestCaseError::fail("a scalar read as a lead")),
            (_, Err(error)) => {
                prop_assert_eq!(error.code(), "malformed_body");
                check_refusal(&error)?;
            }
        }
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn a_batch_up_to_the_limit_is_read_item_by_item_and_one_more_is_refused(
        len in prop_oneof![0..=MAX_BATCH + 1, Just(MAX_BATCH), Just(MAX_BATCH + 1), (MAX_BATCH + 1)..(3 * MAX_BATCH)],
        scalar_every in 1usize..50,
    ) {
        let items: Vec<Value> = (0..len)
            .map(|i| if i % scalar_every == 0 { json!(i) } else { json!({"phone": format!("98765{i:05}")}) })
            .collect();
        let outcome = parse(&json_headers(), &serde_json::to_vec(&items).unwrap());
        match outcome {
            Ok(Parsed::Many(parsed)) => {
                prop_assert!((1..=MAX_BATCH).contains(&len));
                prop_assert_eq!(parsed.len(), len);
                for (i, read) in parsed.iter().enumerate() {
                    prop_assert_eq!(read.is_ok(), i % scalar_every != 0);
                }
            }
            Ok(Parsed::One(_)) => return Err(TestCaseError::fail("an array read as one lead")),
            Err(error) => {
                check_refusal(&error)?;
                let expected = if len == 0 { "empty_batch" } else { "too_many_leads" };
                prop_assert!(len == 0 || len > MAX_BATCH, "{len} leads refused");
                prop_assert_eq!(error.code(), expected);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(4_000))]

    #[test]
    fn deep_nesting_is_read_or_refused_without_overflowing_the_stack(
        depth in prop_oneof![1usize..140, 140usize..200_000],
        arrays in any::<bool>(),
        inside_a_lead in any::<bool>(),
    ) {
        let (open, close) = if arrays { ("[", "]") } else { ("{\"a\":", "}") };
        let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        let body = if inside_a_lead { format!("{{\"phone\":\"9876543210\",\"notes\":{nested}}}") } else { nested };
        match parse(&json_headers(), body.as_bytes()) {
            Ok(parsed) => {
                prop_assert!(depth <= 128, "{depth} levels were read");
                if inside_a_lead {
                    let Parsed::One(raw) = parsed else { return Err(TestCaseError::fail("not one lead")) };
                    prop_assert!(raw.metadata.contains_key("notes"));
                }
            }
            Err(error) => {
                prop_assert!(depth >= 100, "only {depth} levels were refused: {error}");
                prop_assert_eq!(error.code(), "malformed_body");
            }
        }
    }
}

proptest! {
    #![proptest_config(config(5_000))]

    #[test]
    fn huge_and_odd_numbers_are_read_as_text_or_refused(
        sign in prop::sample::select(vec!["", "-"]),
        digits in "[0-9]{1,400}",
        fraction in prop::option::of("[0-9]{1,30}"),
        exponent in prop::option::of((prop::sample::select(vec!["e", "E", "e+", "e-"]), 0u32..100_000)),
    ) {
        let mut number = format!("{sign}{digits}");
        if let Some(f) = &fraction {
            number.push('.');
            number.push_str(f);
        }
        if let Some((e, n)) = &exponent {
            number.push_str(&format!("{e}{n}"));
        }
        let body = format!("{{\"phone\":{number},\"budget\":{number}}}");
        match parse(&json_headers(), body.as_bytes()) {
            Ok(Parsed::One(raw)) => {
                let phone = raw.phone.unwrap_or_default();
                prop_assert!(!phone.is_empty(), "{number} lost");
                prop_assert!(raw.metadata.contains_key("budget"));
            }
            Ok(Parsed::Many(_)) => return Err(TestCaseError::fail("an object read as a batch")),
            Err(error) => {
                // serde_json refuses leading zeros and numbers out of f64 range.
                prop_assert_eq!(error.code(), "malformed_body");
                let leading_zero = digits.len() > 1 && digits.starts_with('0');
                prop_assert!(leading_zero || exponent.is_some() || digits.len() > 300, "{number} refused: {error}");
            }
        }
    }
}

proptest! {
    #![proptest_config(config(3_000))]

    #[test]
    fn any_form_pairs_round_trip_through_the_form_parser(
        pairs in prop::collection::vec((any::<String>(), any::<String>()), 0..12),
        charset in prop::sample::select(vec!["", "; charset=utf-8", ";charset=ISO-8859-1"]),
    ) {
        let body = serde_urlencoded::to_string(&pairs).unwrap();
        let headers = headers(format!("application/x-www-form-urlencoded{charset}").as_bytes());
        match parse(&headers, body.as_bytes()) {
            Ok(Parsed::One(raw)) => prop_assert_eq!(*raw, RawLead::from_pairs(pairs)),
            Ok(Parsed::Many(_)) => return Err(TestCaseError::fail("a form read as a batch")),
            Err(error) => return Err(TestCaseError::fail(format!("a well-formed form was refused: {error}"))),
        }
    }
}

#[test]
fn a_body_nested_a_million_levels_deep_is_malformed_not_a_crash() {
    let body = format!("{}{}", "[".repeat(1_000_000), "]".repeat(1_000_000));
    let error = parse(&json_headers(), body.as_bytes()).expect_err("refused");
    assert_eq!(error.code(), "malformed_body");
}
