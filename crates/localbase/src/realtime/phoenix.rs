//! Phoenix channel frames, in both of Supabase Realtime's serializers.
//!
//! - `vsn=1.0.0`: a JSON object `{"topic","event","payload","ref","join_ref"}`.
//! - `vsn=2.0.0`: a JSON array `[join_ref, ref, topic, event, payload]`.
//!
//! Incoming frames are accepted in either shape whatever the socket's version;
//! outgoing frames always use the socket's version.

use serde_json::Value;

/// The serializer a socket speaks, from its `vsn` query parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vsn {
    V1,
    V2,
}

impl Vsn {
    /// Reads the `vsn` query parameter; Phoenix assumes 1.0.0 when it is absent.
    pub fn parse(vsn: Option<&str>) -> Result<Vsn, String> {
        match vsn {
            None | Some("1.0.0") => Ok(Vsn::V1),
            Some("2.0.0") => Ok(Vsn::V2),
            Some(other) => Err(format!("unsupported vsn {other:?}: use 1.0.0 or 2.0.0")),
        }
    }
}

/// One message from the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// A string, a number or null, echoed back as it came.
    pub join_ref: Value,
    pub r#ref: Value,
    pub topic: String,
    pub event: String,
    pub payload: Value,
}

/// What was wrong with a frame that could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadFrameKind {
    /// The text is not JSON.
    NotJson,
    /// JSON, but neither an object nor an array.
    NotAFrame,
    /// An array without exactly five elements.
    WrongLength,
    /// `topic` is missing, empty or not a string.
    BadTopic,
    /// `event` is missing, empty or not a string.
    BadEvent,
    /// `payload` is not a JSON object.
    BadPayload,
}

/// Why a frame could not be read, with whatever could still be read from it
/// so that the error can be answered on the right topic and ref.
#[derive(Debug, Clone, PartialEq)]
pub struct BadFrame {
    pub kind: BadFrameKind,
    pub topic: Option<String>,
    pub join_ref: Value,
    pub r#ref: Value,
    pub reason: String,
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<Inbound, BadFrame> {
    let value: Value = serde_json::from_str(text).map_err(|e| BadFrame {
        kind: BadFrameKind::NotJson,
        topic: None,
        join_ref: Value::Null,
        r#ref: Value::Null,
        reason: format!("malformed frame: not JSON ({e})"),
    })?;
    let (join_ref, r#ref, topic, event, payload) = match value {
        Value::Array(mut items) => {
            if items.len() != 5 {
                return Err(BadFrame {
                    kind: BadFrameKind::WrongLength,
                    topic: None,
                    join_ref: Value::Null,
                    r#ref: Value::Null,
                    reason: format!(
                        "malformed frame: expected [join_ref, ref, topic, event, payload], got {} elements",
                        items.len()
                    ),
                });
            }
            let payload = items.pop().unwrap_or(Value::Null);
            let event = items.pop().unwrap_or(Value::Null);
            let topic = items.pop().unwrap_or(Value::Null);
            let r#ref = items.pop().unwrap_or(Value::Null);
            let join_ref = items.pop().unwrap_or(Value::Null);
            (join_ref, r#ref, topic, event, payload)
        }
        Value::Object(mut map) => (
            map.remove("join_ref").unwrap_or(Value::Null),
            map.remove("ref").unwrap_or(Value::Null),
            map.remove("topic").unwrap_or(Value::Null),
            map.remove("event").unwrap_or(Value::Null),
            map.remove("payload").unwrap_or_else(|| Value::Object(Default::default())),
        ),
        _ => {
            return Err(BadFrame {
                kind: BadFrameKind::NotAFrame,
                topic: None,
                join_ref: Value::Null,
                r#ref: Value::Null,
                reason: "malformed frame: expected a JSON object or array".into(),
            })
        }
    };
    let join_ref = valid_ref(join_ref);
    let r#ref = valid_ref(r#ref);
    let bad = |kind: BadFrameKind, topic: Option<String>, reason: &str| BadFrame {
        kind,
        topic,
        join_ref: join_ref.clone(),
        r#ref: r#ref.clone(),
        reason: format!("malformed frame: {reason}"),
    };
    let topic = match topic {
        Value::String(t) if !t.is_empty() => t,
        _ => return Err(bad(BadFrameKind::BadTopic, None, "topic must be a non-empty string")),
    };
    let event = match event {
        Value::String(e) if !e.is_empty() => e,
        _ => return Err(bad(BadFrameKind::BadEvent, Some(topic), "event must be a non-empty string")),
    };
    if !payload.is_object() {
        return Err(bad(BadFrameKind::BadPayload, Some(topic), "payload must be a JSON object"));
    }
    Ok(Inbound { join_ref, r#ref, topic, event, payload })
}

/// Refs are strings in every client we know; numbers are tolerated, anything
/// else is dropped so that it is never echoed back.
fn valid_ref(value: Value) -> Value {
    match value {
        Value::String(_) | Value::Number(_) => value,
        _ => Value::Null,
    }
}

/// Renders one outgoing frame. `payload` is already-serialized JSON, so that a
/// change event serialized once can be sent to many sockets.
pub fn render(vsn: Vsn, join_ref: &Value, r#ref: &Value, topic: &str, event: &str, payload: &str) -> String {
    let topic = json_string(topic);
    let event = json_string(event);
    match vsn {
        Vsn::V1 => format!(
            r#"{{"topic":{topic},"event":{event},"payload":{payload},"ref":{},"join_ref":{}}}"#,
            r#ref, join_ref
        ),
        Vsn::V2 => format!("[{join_ref},{ref},{topic},{event},{payload}]", ref = r#ref),
    }
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_array_frame_reads_as_join_ref_ref_topic_event_payload() {
        let m = parse(r#"["1","2","realtime:x","phx_join",{"a":1}]"#).unwrap();
        assert_eq!(m.join_ref, json!("1"));
        assert_eq!(m.r#ref, json!("2"));
        assert_eq!(m.topic, "realtime:x");
        assert_eq!(m.event, "phx_join");
        assert_eq!(m.payload, json!({"a":1}));
    }

    #[test]
    fn an_object_frame_without_payload_gets_an_empty_payload() {
        let m = parse(r#"{"topic":"phoenix","event":"heartbeat","ref":"7"}"#).unwrap();
        assert_eq!(m.payload, json!({}));
        assert_eq!(m.join_ref, Value::Null);
    }

    #[test]
    fn a_frame_with_a_numeric_topic_is_refused_but_keeps_its_ref() {
        let e = parse(r#"[null,"5",3,"heartbeat",{}]"#).unwrap_err();
        assert_eq!(e.r#ref, json!("5"));
        assert!(e.reason.contains("topic"));
    }

    #[test]
    fn text_that_is_not_json_is_refused_without_a_ref() {
        let e = parse("{nope").unwrap_err();
        assert_eq!(e.r#ref, Value::Null);
        assert!(e.reason.contains("not JSON"));
    }

    #[test]
    fn object_refs_are_never_echoed() {
        let e = parse(r#"[{"x":1},{"y":2},"t","e",[]]"#).unwrap_err();
        assert_eq!(e.r#ref, Value::Null);
        assert_eq!(e.join_ref, Value::Null);
    }

    #[test]
    fn rendering_follows_the_socket_version() {
        let v2 = render(Vsn::V2, &json!("1"), &json!("2"), "realtime:x", "phx_reply", "{}");
        assert_eq!(v2, r#"["1","2","realtime:x","phx_reply",{}]"#);
        let v1: Value =
            serde_json::from_str(&render(Vsn::V1, &Value::Null, &json!("2"), "t", "e", r#"{"a":1}"#)).unwrap();
        assert_eq!(v1, json!({"topic":"t","event":"e","payload":{"a":1},"ref":"2","join_ref":null}));
    }

    #[test]
    fn the_version_defaults_to_1_0_0_and_rejects_others() {
        assert_eq!(Vsn::parse(None), Ok(Vsn::V1));
        assert_eq!(Vsn::parse(Some("2.0.0")), Ok(Vsn::V2));
        assert!(Vsn::parse(Some("3.0.0")).is_err());
    }

    mod properties {
        use super::*;
        use proptest::collection::{hash_map, vec};
        use proptest::prelude::*;

        /// Any JSON value, nested a few levels.
        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                // Fractions with a short decimal form, which serde_json reads back exactly.
                (any::<i32>(), 0..4u32).prop_map(|(m, e)| Value::from(f64::from(m) / f64::from(1u32 << e))),
                ".{0,12}".prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 24, 6, |inner| {
                prop_oneof![
                    vec(inner.clone(), 0..7).prop_map(Value::Array),
                    hash_map(".{0,8}", inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        /// A ref as clients send it: a string, a number or null.
        fn a_ref() -> impl Strategy<Value = Value> {
            prop_oneof![Just(Value::Null), "[0-9a-z]{1,6}".prop_map(Value::from), any::<u32>().prop_map(Value::from)]
        }

        fn payload() -> impl Strategy<Value = Value> {
            hash_map(".{0,8}", json_value(), 0..5).prop_map(|m| Value::Object(m.into_iter().collect()))
        }

        fn vsn() -> impl Strategy<Value = Vsn> {
            prop_oneof![Just(Vsn::V1), Just(Vsn::V2)]
        }

        /// What `parse` must say about a JSON value, worked out independently.
        fn expected_kind(value: &Value) -> Option<BadFrameKind> {
            let non_empty = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
            let (topic, event, payload) = match value {
                Value::Array(items) if items.len() == 5 => (items.get(2), items.get(3), items.get(4)),
                Value::Array(_) => return Some(BadFrameKind::WrongLength),
                Value::Object(map) => (map.get("topic"), map.get("event"), map.get("payload")),
                _ => return Some(BadFrameKind::NotAFrame),
            };
            if !non_empty(topic) {
                Some(BadFrameKind::BadTopic)
            } else if !non_empty(event) {
                Some(BadFrameKind::BadEvent)
            } else if payload.is_some_and(|p| !p.is_object()) {
                Some(BadFrameKind::BadPayload)
            } else {
                None
            }
        }

        proptest! {
            #[test]
            fn text_that_is_not_json_is_refused_as_not_json(text in ".*") {
                prop_assume!(serde_json::from_str::<Value>(&text).is_err());
                let bad = parse(&text).unwrap_err();
                prop_assert_eq!(bad.kind, BadFrameKind::NotJson);
                prop_assert_eq!(bad.r#ref, Value::Null);
                prop_assert_eq!(bad.topic, None);
            }

            #[test]
            fn arbitrary_bytes_read_as_text_give_a_frame_or_a_typed_refusal(bytes in vec(any::<u8>(), 0..64)) {
                let text = String::from_utf8_lossy(&bytes);
                match serde_json::from_str::<Value>(&text) {
                    Err(_) => prop_assert_eq!(parse(&text).unwrap_err().kind, BadFrameKind::NotJson),
                    Ok(value) => prop_assert_eq!(parse(&text).err().map(|b| b.kind), expected_kind(&value)),
                }
            }

            #[test]
            fn any_json_value_is_read_or_refused_with_the_right_kind(value in json_value()) {
                let result = parse(&value.to_string());
                prop_assert_eq!(result.as_ref().err().map(|b| b.kind), expected_kind(&value));
                if let Err(bad) = result {
                    prop_assert!(bad.join_ref.is_null() || bad.join_ref.is_string() || bad.join_ref.is_number());
                    prop_assert!(bad.r#ref.is_null() || bad.r#ref.is_string() || bad.r#ref.is_number());
                }
            }

            #[test]
            fn any_five_element_array_with_a_bad_field_names_that_field(
                join_ref in a_ref(), reference in a_ref(), topic in json_value(), event in json_value(), payload in json_value()
            ) {
                let value = Value::Array(vec![join_ref, reference, topic, event, payload]);
                prop_assert_eq!(parse(&value.to_string()).err().map(|b| b.kind), expected_kind(&value));
            }

            #[test]
            fn any_object_with_a_missing_or_bad_field_names_that_field(
                topic in proptest::option::of(json_value()),
                event in proptest::option::of(json_value()),
                payload in proptest::option::of(json_value()),
            ) {
                let mut map = serde_json::Map::new();
                for (name, field) in [("topic", topic), ("event", event), ("payload", payload)] {
                    if let Some(field) = field {
                        map.insert(name.to_owned(), field);
                    }
                }
                let value = Value::Object(map);
                prop_assert_eq!(parse(&value.to_string()).err().map(|b| b.kind), expected_kind(&value));
            }

            #[test]
            fn a_valid_frame_round_trips_through_render_and_parse_in_both_versions(
                vsn in vsn(), join_ref in a_ref(), reference in a_ref(), topic in ".{1,20}", event in ".{1,12}", payload in payload()
            ) {
                let text = render(vsn, &join_ref, &reference, &topic, &event, &payload.to_string());
                let read = parse(&text).unwrap();
                prop_assert_eq!(read, Inbound { join_ref, r#ref: reference, topic, event, payload });
            }
        }
    }
}
