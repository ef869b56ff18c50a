//! Requests generated from the service's own `GET /api/openapi.json`, sent to
//! the running service over a real localbase: for every operation, a body and
//! headers built from the document, then mutated (wrong types, missing
//! fields, oversize, invalid UTF-8, wrong content types, bad signatures, bad
//! idempotency keys, huge headers, control characters, deep nesting). An
//! operation the document secures with a bearer token (the CSV import) is
//! sent a real admin's token, so its checks past the sign-in are reached.
//!
//! Afterwards: no 5xx for any of it, every 4xx is a status the document
//! lists for the operation and, where the document gives it a body, the JSON
//! error (`{"error": "<stable_code>", "message": …}`); the service still
//! answers `/healthz`, and no phone sent only in refused requests was stored.
//!
//! The random choices come from one seed, printed on failure; set
//! `BLOC_FUZZ_SEED` to replay a run.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::helpers::{now_secs, signature_header, spawn_app_with, standard_headers, token_for, SECRET};

/// Rounds over every operation and mutation; with 12 operations and 15
/// mutations, 3,600 requests.
const ROUNDS: usize = 20;
/// The body limit the service gets here, so oversize bodies stay cheap.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// xorshift64*: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn text(&mut self, max: usize) -> String {
        let alphabet: Vec<char> = "abcXYZ 09-_.@&+/éßİ😀\u{a0}\u{200b}\u{202e}".chars().collect();
        (0..self.below(max + 1)).map(|_| *self.pick(&alphabet)).collect()
    }

    /// A fresh 10-digit Indian mobile number.
    fn phone(&mut self) -> String {
        format!("9{:09}", self.next() % 1_000_000_000)
    }
}

struct Operation {
    method: String,
    path: String,
    body_schema: Option<Value>,
    query: Vec<String>,
    /// Documented responses by status: whether each has a body.
    responses: BTreeMap<u16, bool>,
    /// The operation names a security requirement (a user's bearer token).
    secured: bool,
}

/// Every operation of the document, with its body schema (refs resolved)
/// and query parameters.
fn operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let body_schema = op["requestBody"]["content"]
                .as_object()
                .and_then(|content| content.values().next())
                .map(|media| resolve(doc, &media["schema"]));
            let query = op["parameters"]
                .as_array()
                .map(|params| {
                    params
                        .iter()
                        .filter(|p| p["in"] == "query")
                        .filter_map(|p| p["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let responses = op["responses"]
                .as_object()
                .map(|all| {
                    all.iter()
                        .filter_map(|(status, r)| Some((status.parse().ok()?, r["content"].as_object().is_some_and(|c| !c.is_empty()))))
                        .collect()
                })
                .unwrap_or_default();
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            ops.push(Operation { method: method.to_uppercase(), path: path.clone(), body_schema, query, responses, secured });
        }
    }
    ops
}

fn resolve(doc: &Value, schema: &Value) -> Value {
    match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/")) {
        Some(pointer) => resolve(doc, doc.pointer(&format!("/{pointer}")).unwrap_or(&Value::Null)),
        None => schema.clone(),
    }
}

/// A value of `schema`'s shape. An untyped object (the ingest body is
/// documented as one) is a lead.
fn instance(doc: &Value, schema: &Value, rng: &mut Rng, phone: &str, depth: usize) -> Value {
    let schema = resolve(doc, schema);
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds.iter().find(|k| *k != "null").and_then(Value::as_str).unwrap_or("object").to_owned(),
        Value::String(kind) => kind.clone(),
        _ => "object".to_owned(),
    };
    match kind.as_str() {
        "object" => match schema["properties"].as_object() {
            Some(properties) if depth < 4 => Value::Object(
                properties.iter().map(|(k, s)| (k.clone(), instance(doc, s, rng, phone, depth + 1))).collect(),
            ),
            _ => json!({
                "phone": phone,
                "name": format!("Fuzz {}", rng.text(12)),
                "state": rng.pick(&["MH", "Maharashtra", "in-ka", "Atlantis", ""]),
                "language": rng.pick(&["hi", "Hindi", "Klingon"]),
                "utm_source": "openapi-fuzz",
            }),
        },
        "array" => Value::Array(vec![instance(doc, &schema["items"], rng, phone, depth + 1)]),
        "integer" => json!(rng.next() % 1000),
        "number" => json!(rng.below(1000) as f64 / 7.0),
        "boolean" => json!(rng.below(2) == 1),
        _ => json!(phone),
    }
}

/// One request as sent.
struct Request {
    content_type: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    query: String,
}

const MUTATIONS: [&str; 15] = [
    "valid",
    "wrong_types",
    "missing_fields",
    "oversize",
    "invalid_utf8",
    "wrong_content_type",
    "bad_secret",
    "bad_hmac",
    "stale_standard_webhook",
    "long_idempotency_key",
    "odd_idempotency_key",
    "huge_header",
    "control_characters",
    "deep_nesting",
    "odd_batch",
];

/// The base request for `op`, with `mutation` applied, signed where the
/// mutation is not about credentials.
/// An operation with a `security` requirement (the CSV import) gets an
/// admin's `token`, except under `bad_secret`, so its refusals past the
/// sign-in are reached too.
fn build(doc: &Value, op: &Operation, mutation: &str, rng: &mut Rng, phone: &str, token: &str) -> Request {
    let mut body = op.body_schema.as_ref().map(|s| instance(doc, s, rng, phone, 0)).unwrap_or(Value::Null);
    let mut content_type = Some("application/json".to_owned());
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    let mut raw: Option<Vec<u8>> = None;
    let query = op
        .query
        .iter()
        .map(|name| format!("{name}={}", rng.pick(&["subscribe", "x", "%ff", "", "1"])))
        .collect::<Vec<_>>()
        .join("&");

    match mutation {
        "wrong_types" => {
            let wrong = rng.pick(&[json!(123), json!(true), json!([1, 2]), json!({"a": 1}), Value::Null, json!(1e300)]).clone();
            if let Value::Object(map) = &mut body {
                let key = map.keys().next().cloned().unwrap_or_else(|| "phone".into());
                map.insert(key, wrong);
                map.insert("phone".into(), json!({"number": phone}));
            } else {
                body = wrong;
            }
        }
        "missing_fields" => body = json!({"name": format!("No phone {phone}")}),
        "oversize" => {
            if let Value::Object(map) = &mut body {
                map.insert("padding".into(), json!("x".repeat(MAX_BODY_BYTES + rng.below(4096))));
            } else {
                body = json!("x".repeat(MAX_BODY_BYTES + 1));
            }
        }
        "invalid_utf8" => {
            let mut bytes = format!("{{\"phone\":\"{phone}\",\"name\":\"").into_bytes();
            let invalid: [&[u8]; 4] = [b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"];
            let chosen = invalid[rng.below(invalid.len())];
            bytes.extend_from_slice(chosen);
            bytes.extend_from_slice(b"\"}");
            raw = Some(bytes);
        }
        "wrong_content_type" => {
            content_type = rng
                .pick(&[Some("text/plain"), Some("application/xml"), Some("multipart/form-data; boundary=x"), None, Some("application/jsonx")])
                .map(str::to_owned)
        }
        "long_idempotency_key" => {
            let name = rng.pick(&["Idempotency-Key", "webhook-id"]).to_string();
            headers.push((name, "k".repeat(256 + rng.below(4000)).into_bytes()));
        }
        "odd_idempotency_key" => {
            let keys: [&[u8]; 5] = [b" ", b"\xff\xfe", "ключ".as_bytes(), b"a\tb", b"\x7f"];
            let key = keys[rng.below(keys.len())];
            headers.push(("Idempotency-Key".into(), key.to_vec()));
        }
        "huge_header" => headers.push(("X-Junk".into(), "j".repeat(8 * 1024 + rng.below(24 * 1024)).into_bytes())),
        "control_characters" => {
            let odd = rng.pick(&["\u{0}", "\u{1}\u{1b}[31m", "\u{7f}", "a\u{0}b", "\u{feff}", "\u{d7ff}\u{fffe}"]).to_string();
            if let Value::Object(map) = &mut body {
                for key in ["name", "city", "notes"] {
                    map.insert(key.into(), json!(format!("x{odd}y")));
                }
                map.insert(format!("key{odd}"), json!(odd));
            }
        }
        "deep_nesting" => {
            let depth = rng.pick(&[100usize, 126, 127, 128, 129, 5000]).to_owned();
            let nested: Value = serde_json::from_str(&format!("{}1{}", "[".repeat(depth.min(120)), "]".repeat(depth.min(120)))).unwrap();
            if depth <= 120 {
                if let Value::Object(map) = &mut body {
                    map.insert("nested".into(), nested);
                }
            } else {
                let text = format!("{{\"phone\":\"{phone}\",\"nested\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
                raw = Some(text.into_bytes());
            }
        }
        "odd_batch" => {
            body = match rng.below(4) {
                0 => json!([]),
                1 => Value::Array(vec![json!({"phone": phone}); 1001]),
                2 => json!([{"phone": phone}, 7, null, "x", {"phone": "not a phone"}]),
                _ => json!("just a string"),
            };
        }
        _ => {}
    }
    let body = raw.unwrap_or_else(|| if body.is_null() { Vec::new() } else { serde_json::to_vec(&body).unwrap() });

    match mutation {
        "bad_secret" => headers.push(("X-Webhook-Secret".into(), format!("{SECRET}x").into_bytes())),
        "bad_hmac" => {
            let text = String::from_utf8_lossy(&body).into_owned();
            let mut signature = signature_header(SECRET, &format!("{text} "));
            if rng.below(2) == 0 {
                signature = format!("sha256={}", "zz".repeat(32));
            }
            headers.push(("X-Signature-256".into(), signature.into_bytes()));
        }
        "stale_standard_webhook" => {
            let text = String::from_utf8_lossy(&body).into_owned();
            for (name, value) in standard_headers(&format!("msg_{phone}"), now_secs() - 3600, &text) {
                headers.push((name.into(), value.into_bytes()));
            }
        }
        _ if rng.below(2) == 0 && std::str::from_utf8(&body).is_ok() => {
            let text = String::from_utf8_lossy(&body).into_owned();
            headers.push(("X-Signature-256".into(), signature_header(SECRET, &text).into_bytes()));
        }
        _ => headers.push(("X-Webhook-Secret".into(), SECRET.as_bytes().to_vec())),
    }
    if op.secured && mutation != "bad_secret" {
        headers.push(("Authorization".into(), format!("Bearer {token}").into_bytes()));
    }
    Request { content_type, headers, body, query }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_generated_from_the_openapi_document_never_get_a_5xx_and_refusals_are_json_errors_that_store_nothing() {
    let seed: u64 = std::env::var("BLOC_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now_secs() as u64 ^ 0x9e37_79b9_7f4a_7c15);
    let mut rng = Rng(seed | 1);
    let app = spawn_app_with(&[("MAX_BODY_BYTES", &MAX_BODY_BYTES.to_string())]).await;
    app.add_caller("Asha", &["MH"]).await;
    let token = token_for(&app, "fuzz-admin@example.com", "admin").await;
    let doc: Value = app.client.get(format!("{}/api/openapi.json", app.address)).send().await.unwrap().json().await.unwrap();
    let ops = operations(&doc);
    assert!(ops.iter().any(|op| op.path == "/api/ingest" && op.method == "POST"), "the document lists POST /api/ingest");
    assert!(ops.iter().any(|op| op.path == "/api/imports" && op.secured), "the import is documented with its token");

    let started = Instant::now();
    let mut sent = 0usize;
    let mut failures: Vec<String> = Vec::new();
    let mut tally: BTreeMap<(String, u16), usize> = BTreeMap::new();
    let mut refused_phones: BTreeSet<String> = BTreeSet::new();
    let mut accepted_phones: BTreeSet<String> = BTreeSet::new();
    for _ in 0..ROUNDS {
        for op in &ops {
            for mutation in MUTATIONS {
                let phone = rng.phone();
                let request = build(&doc, op, mutation, &mut rng, &phone, &token);
                let url = if request.query.is_empty() {
                    format!("{}{}", app.address, op.path)
                } else {
                    format!("{}{}?{}", app.address, op.path, request.query)
                };
                let method = reqwest::Method::from_bytes(op.method.as_bytes()).unwrap();
                let mut builder = app.client.request(method, &url).timeout(Duration::from_secs(20));
                if let Some(ct) = &request.content_type {
                    builder = builder.header("Content-Type", ct);
                }
                for (name, value) in &request.headers {
                    if let Ok(value) = reqwest::header::HeaderValue::from_bytes(value) {
                        builder = builder.header(name.as_str(), value);
                    }
                }
                if op.body_schema.is_some() || !request.body.is_empty() && op.method == "POST" {
                    builder = builder.body(request.body.clone());
                }
                sent += 1;
                let what = format!("{} {} [{mutation}] seed {seed}", op.method, op.path);
                let response = match builder.send().await {
                    Ok(response) => response,
                    Err(e) => {
                        failures.push(format!("{what}: no answer: {e}"));
                        continue;
                    }
                };
                let status = response.status().as_u16();
                *tally.entry((mutation.to_owned(), status)).or_default() += 1;
                let body = response.bytes().await.unwrap_or_default();
                if status >= 500 {
                    failures.push(format!("{what}: {status} {}", String::from_utf8_lossy(&body)));
                } else if status >= 400 && op.responses.get(&status) == Some(&false) {
                    // Documented without a body (an unconfigured source's 404 looks like an unknown route).
                    if !body.is_empty() {
                        failures.push(format!("{what}: {status} is documented without a body: {:?}", String::from_utf8_lossy(&body)));
                    }
                } else if status >= 400 {
                    if !op.responses.contains_key(&status) {
                        failures.push(format!("{what}: {status} is not documented for this operation"));
                    }
                    match serde_json::from_slice::<Map<String, Value>>(&body) {
                        Ok(error) => {
                            let code = error.get("error").and_then(Value::as_str).unwrap_or_default();
                            let stable = !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                            if !stable || !error.get("message").is_some_and(Value::is_string) {
                                failures.push(format!("{what}: {status} without a stable code: {error:?}"));
                            }
                        }
                        Err(_) => failures.push(format!("{what}: {status} is not a JSON error: {:?}", String::from_utf8_lossy(&body))),
                    }
                    if op.path == "/api/ingest" {
                        refused_phones.insert(phone);
                    }
                } else if op.path == "/api/ingest" && op.method == "POST" {
                    accepted_phones.insert(phone);
                }
            }
        }
    }
    let elapsed = started.elapsed();
    eprintln!("openapi fuzz: seed {seed}, {sent} requests to {} operations in {elapsed:?}", ops.len());
    for ((mutation, status), n) in &tally {
        eprintln!("  {mutation:<24} {status} x{n}");
    }

    let health = app.client.get(format!("{}/healthz", app.address)).send().await.expect("the service still answers");
    assert_eq!(health.status().as_u16(), 200);
    let refused: Vec<String> = refused_phones.difference(&accepted_phones).map(|p| format!("+91{p}")).collect();
    let stored: i64 = app
        .db
        .query_one("select count(*) from public.leads where phone = any($1)", &[&refused])
        .await
        .unwrap()
        .get(0);
    assert!(sent >= 2000, "only {sent} requests");
    assert!(failures.is_empty(), "{} of {sent} requests failed (seed {seed}):\n{}", failures.len(), failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n"));
    assert_eq!(stored, 0, "leads were stored for refused requests");
    assert!(!accepted_phones.is_empty() && app.lead_count().await > 0, "valid requests were stored");
}
