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

/// Why a frame could not be read, with whatever could still be read from it
/// so that the error can be answered on the right topic and ref.
#[derive(Debug, Clone, PartialEq)]
pub struct BadFrame {
    pub topic: Option<String>,
    pub join_ref: Value,
    pub r#ref: Value,
    pub reason: String,
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<Inbound, BadFrame> {
    let value: Value = serde_json::from_str(text).map_err(|e| BadFrame {
        topic: None,
        join_ref: Value::Null,
        r#ref: Value::Null,
        reason: format!("malformed frame: not JSON ({e})"),
    })?;
    let (join_ref, r#ref, topic, event, payload) = match value {
        Value::Array(mut items) => {
            if items.len() != 5 {
                return Err(BadFrame {
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
                topic: None,
                join_ref: Value::Null,
                r#ref: Value::Null,
                reason: "malformed frame: expected a JSON object or array".into(),
            })
        }
    };
    let join_ref = valid_ref(join_ref);
    let r#ref = valid_ref(r#ref);
    let bad = |topic: Option<String>, reason: &str| BadFrame {
        topic,
        join_ref: join_ref.clone(),
        r#ref: r#ref.clone(),
        reason: format!("malformed frame: {reason}"),
    };
    let topic = match topic {
        Value::String(t) if !t.is_empty() => t,
        _ => return Err(bad(None, "topic must be a non-empty string")),
    };
    let event = match event {
        Value::String(e) if !e.is_empty() => e,
        _ => return Err(bad(Some(topic), "event must be a non-empty string")),
    };
    if !payload.is_object() {
        return Err(bad(Some(topic), "payload must be a JSON object"));
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
}
