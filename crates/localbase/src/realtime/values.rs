//! Turning wal2json's column values into the JSON Supabase Realtime sends.
//!
//! wal2json writes numbers and booleans as JSON, and everything else as the
//! type's text output. Supabase sends `to_jsonb`-like values: `jsonb` as JSON,
//! arrays as JSON arrays, timestamps in ISO 8601 with a `T`. Conversion is
//! driven by `pg_type` facts looked up once per type oid.

use serde_json::{Map, Number, Value};

/// What conversion needs to know about a type (`pg_type`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeInfo {
    /// `typname`, e.g. `int8`, `_text`, `timestamptz`: what `columns[].type` shows.
    pub name: String,
    /// `typcategory`: `A` array, `N` numeric, `B` boolean, `D` date/time, …
    pub category: u8,
    /// Element type of an array, else 0.
    pub element: u32,
    /// Base type of a domain, else 0.
    pub base: u32,
}

/// Looks up type facts by oid.
pub trait Types {
    fn get(&self, oid: u32) -> Option<&TypeInfo>;
}

impl Types for std::collections::HashMap<u32, TypeInfo> {
    fn get(&self, oid: u32) -> Option<&TypeInfo> {
        std::collections::HashMap::get(self, &oid)
    }
}

/// Converts one wal2json value of type `oid`.
pub fn convert(types: &dyn Types, oid: u32, raw: &Value) -> Value {
    let text = match raw {
        Value::String(s) => s,
        // Numbers, booleans and nulls already arrive as JSON.
        _ => return raw.clone(),
    };
    convert_text(types, oid, text)
}

/// Converts the text output of a value of type `oid`.
fn convert_text(types: &dyn Types, oid: u32, text: &str) -> Value {
    let Some(info) = resolve_domain(types, oid) else {
        return Value::String(text.to_owned());
    };
    if info.category == b'A' && info.element != 0 {
        return match parse_array(text) {
            Some(items) => array_to_json(types, info.element, items),
            None => Value::String(text.to_owned()),
        };
    }
    match info.name.as_str() {
        "json" | "jsonb" => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())),
        "bool" => match text {
            "t" | "true" => Value::Bool(true),
            "f" | "false" => Value::Bool(false),
            _ => Value::String(text.to_owned()),
        },
        "int2" | "int4" | "int8" | "oid" | "float4" | "float8" | "numeric" => number(text),
        "timestamptz" => Value::String(iso_timestamp(text, true)),
        "timestamp" => Value::String(iso_timestamp(text, false)),
        _ => Value::String(text.to_owned()),
    }
}

fn resolve_domain(types: &dyn Types, mut oid: u32) -> Option<&TypeInfo> {
    for _ in 0..8 {
        let info = types.get(oid)?;
        if info.base == 0 {
            return Some(info);
        }
        oid = info.base;
    }
    None
}

/// A number as JSON when it is finite, else (NaN, Infinity) the text itself.
fn number(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::Number(i.into());
    }
    match serde_json::from_str::<Number>(text) {
        Ok(n) => Value::Number(n),
        Err(_) => Value::String(text.to_owned()),
    }
}

/// `2026-11-19 00:22:40.877+00` → `2026-11-19T00:22:40.877+00:00`, as `to_jsonb` writes it.
pub fn iso_timestamp(text: &str, with_zone: bool) -> String {
    let bytes = text.as_bytes();
    // Only rewrite what looks like `YYYY-MM-DD HH:…`; `infinity` and BC dates stay as they are.
    if bytes.len() < 19 || bytes[4] != b'-' || bytes[10] != b' ' || text.ends_with(" BC") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 4);
    out.push_str(&text[..10]);
    out.push('T');
    out.push_str(&text[11..]);
    if with_zone {
        // The zone is `+HH`, `+HH:MM` or `+HH:MM:SS`; `to_jsonb` always writes minutes.
        if let Some(pos) = out.rfind(['+', '-']) {
            if pos > 10 && out.len() - pos == 3 {
                out.push_str(":00");
            }
        }
    }
    out
}

/// One element of a parsed array literal.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayItem {
    Null,
    Text(String),
    Nested(Vec<ArrayItem>),
}

/// Parses PostgreSQL's array output (`{a,"b c",NULL}`, `{{1,2},{3,4}}`,
/// `[0:1]={1,2}`). Returns `None` for text that is not an array literal.
pub fn parse_array(text: &str) -> Option<Vec<ArrayItem>> {
    let text = match text.find("={") {
        Some(pos) if text.starts_with('[') => &text[pos + 1..],
        _ => text,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut pos = 0;
    let items = parse_level(&chars, &mut pos)?;
    if pos != chars.len() {
        return None;
    }
    Some(items)
}

fn parse_level(chars: &[char], pos: &mut usize) -> Option<Vec<ArrayItem>> {
    if chars.get(*pos) != Some(&'{') {
        return None;
    }
    *pos += 1;
    let mut items = Vec::new();
    if chars.get(*pos) == Some(&'}') {
        *pos += 1;
        return Some(items);
    }
    loop {
        match chars.get(*pos)? {
            '{' => items.push(ArrayItem::Nested(parse_level(chars, pos)?)),
            '"' => {
                *pos += 1;
                let mut s = String::new();
                loop {
                    match chars.get(*pos)? {
                        '\\' => {
                            s.push(*chars.get(*pos + 1)?);
                            *pos += 2;
                        }
                        '"' => {
                            *pos += 1;
                            break;
                        }
                        c => {
                            s.push(*c);
                            *pos += 1;
                        }
                    }
                }
                items.push(ArrayItem::Text(s));
            }
            _ => {
                let start = *pos;
                while !matches!(chars.get(*pos)?, ',' | '}') {
                    *pos += 1;
                }
                let s: String = chars[start..*pos].iter().collect();
                let s = s.trim();
                if s.eq_ignore_ascii_case("NULL") {
                    items.push(ArrayItem::Null);
                } else {
                    items.push(ArrayItem::Text(s.to_owned()));
                }
            }
        }
        match chars.get(*pos)? {
            ',' => *pos += 1,
            '}' => {
                *pos += 1;
                return Some(items);
            }
            _ => return None,
        }
    }
}

fn array_to_json(types: &dyn Types, element: u32, items: Vec<ArrayItem>) -> Value {
    Value::Array(
        items
            .into_iter()
            .map(|item| match item {
                ArrayItem::Null => Value::Null,
                ArrayItem::Text(s) => convert_text(types, element, &s),
                ArrayItem::Nested(inner) => array_to_json(types, element, inner),
            })
            .collect(),
    )
}

/// A record (column name → converted value) from wal2json's column list.
pub fn record(types: &dyn Types, columns: &[super::wal::RawColumn]) -> Map<String, Value> {
    columns
        .iter()
        .map(|c| (c.name.clone(), convert(types, c.typeoid, &c.value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn types() -> HashMap<u32, TypeInfo> {
        let t = |name: &str, category: u8, element: u32, base: u32| TypeInfo {
            name: name.into(),
            category,
            element,
            base,
        };
        HashMap::from([
            (20, t("int8", b'N', 0, 0)),
            (23, t("int4", b'N', 0, 0)),
            (25, t("text", b'S', 0, 0)),
            (16, t("bool", b'B', 0, 0)),
            (1007, t("_int4", b'A', 23, 0)),
            (1009, t("_text", b'A', 25, 0)),
            (3802, t("jsonb", b'U', 0, 0)),
            (1184, t("timestamptz", b'D', 0, 0)),
            (1185, t("_timestamptz", b'A', 1184, 0)),
            (90000, t("positive_int", b'N', 0, 23)),
        ])
    }

    #[test]
    fn jsonb_text_becomes_json() {
        assert_eq!(convert(&types(), 3802, &json!("{\"x\": [1, 2]}")), json!({"x":[1,2]}));
    }

    #[test]
    fn text_arrays_become_json_arrays_with_nulls_and_quotes() {
        assert_eq!(
            convert(&types(), 1009, &json!(r#"{a,"b c",NULL,"NULL","q\"x"}"#)),
            json!(["a", "b c", null, "NULL", "q\"x"])
        );
    }

    #[test]
    fn nested_integer_arrays_become_nested_number_arrays() {
        assert_eq!(convert(&types(), 1007, &json!("{{1,2},{3,4}}")), json!([[1, 2], [3, 4]]));
        assert_eq!(convert(&types(), 1007, &json!("{}")), json!([]));
    }

    #[test]
    fn timestamps_get_a_t_and_a_full_offset() {
        assert_eq!(
            convert(&types(), 1184, &json!("2026-11-19 00:22:40.877+00")),
            json!("2026-11-19T00:22:40.877+00:00")
        );
        assert_eq!(iso_timestamp("2026-11-19 05:52:40+05:30", true), "2026-11-19T05:52:40+05:30");
        assert_eq!(iso_timestamp("infinity", true), "infinity");
        assert_eq!(
            convert(&types(), 1185, &json!(r#"{"2026-11-19 00:22:40+00"}"#)),
            json!(["2026-11-19T00:22:40+00:00"])
        );
    }

    #[test]
    fn numbers_and_booleans_pass_through_and_domains_use_their_base_type() {
        assert_eq!(convert(&types(), 20, &json!(42)), json!(42));
        assert_eq!(convert(&types(), 16, &json!(true)), json!(true));
        assert_eq!(convert(&types(), 90000, &json!("7")), json!(7));
        assert_eq!(convert(&types(), 25, &json!("7")), json!("7"));
    }

    #[test]
    fn unknown_types_and_broken_literals_stay_text() {
        assert_eq!(convert(&types(), 12345, &json!("x")), json!("x"));
        assert_eq!(convert(&types(), 1009, &json!("{a,b")), json!("{a,b"));
    }
}
