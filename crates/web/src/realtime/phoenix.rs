//! Phoenix channel frames as Supabase Realtime speaks them (protocol 1.0.0:
//! JSON objects `{topic, event, payload, ref, join_ref}`). Decoding also
//! accepts 2.0.0 arrays, and never fails on unexpected shapes: anything it
//! does not understand becomes [`Incoming::Other`].

use serde_json::{json, Value};

/// The topic heartbeats go to.
pub const PHOENIX_TOPIC: &str = "phoenix";

/// One `postgres_changes` binding asked for in a join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub table: String,
    /// A Realtime filter such as `caller_id=eq.42`.
    pub filter: Option<String>,
}

/// An outgoing frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub topic: String,
    pub event: String,
    pub payload: Value,
    pub reference: String,
    pub join_ref: Option<String>,
}

impl Outgoing {
    /// The 1.0.0 text frame.
    pub fn encode(&self) -> String {
        json!({
            "topic": self.topic,
            "event": self.event,
            "payload": self.payload,
            "ref": self.reference,
            "join_ref": self.join_ref,
        })
        .to_string()
    }

    /// A heartbeat on topic `phoenix`.
    pub fn heartbeat(reference: String) -> Outgoing {
        Outgoing {
            topic: PHOENIX_TOPIC.to_owned(),
            event: "heartbeat".to_owned(),
            payload: json!({}),
            reference,
            join_ref: None,
        }
    }

    /// A `phx_join` for `postgres_changes` on every binding (schema `public`, all events).
    pub fn join(topic: &str, bindings: &[Binding], access_token: Option<&str>, reference: String) -> Outgoing {
        let changes: Vec<Value> = bindings
            .iter()
            .map(|b| {
                let mut binding = json!({"event": "*", "schema": "public", "table": b.table});
                if let Some(filter) = &b.filter {
                    binding["filter"] = json!(filter);
                }
                binding
            })
            .collect();
        let mut payload = json!({
            "config": {
                "broadcast": {"ack": false, "self": false},
                "presence": {"key": "", "enabled": false},
                "postgres_changes": changes,
                "private": false,
            }
        });
        if let Some(token) = access_token {
            payload["access_token"] = json!(token);
        }
        Outgoing {
            topic: topic.to_owned(),
            event: "phx_join".to_owned(),
            payload,
            join_ref: Some(reference.clone()),
            reference,
        }
    }

    /// A fresh access token for a joined channel.
    pub fn access_token(topic: &str, token: &str, join_ref: String, reference: String) -> Outgoing {
        Outgoing {
            topic: topic.to_owned(),
            event: "access_token".to_owned(),
            payload: json!({"access_token": token}),
            reference,
            join_ref: Some(join_ref),
        }
    }
}

/// What kind of row change arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Insert,
    Update,
    Delete,
}

/// A decoded `postgres_changes` event.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub table: String,
    pub kind: ChangeKind,
    /// The new row (INSERT, UPDATE); `Value::Null` for DELETE.
    pub record: Value,
    /// The old row or its primary key (UPDATE, DELETE).
    pub old_record: Value,
}

/// A decoded incoming frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// `phx_reply`: a join, heartbeat or push answered.
    Reply { topic: String, reference: Option<String>, ok: bool, response: Value },
    /// A row change for a channel.
    Change { topic: String, change: Change },
    /// The server closed or errored the channel; rejoin.
    ChannelClosed { topic: String, error: bool },
    /// A `system` message (subscription confirmed or failed).
    System { topic: String, ok: bool, message: String },
    /// Anything else (presence, broadcast, unknown events).
    Other,
}

/// Why a frame could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Decodes a text frame in either protocol version.
pub fn decode(text: &str) -> Result<Incoming, DecodeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| DecodeError(format!("not JSON: {e}")))?;
    let (reference, topic, event, payload) = match &value {
        Value::Object(map) => (
            map.get("ref").and_then(text_of),
            map.get("topic").and_then(text_of),
            map.get("event").and_then(text_of),
            map.get("payload").cloned().unwrap_or(Value::Null),
        ),
        Value::Array(items) if items.len() == 5 => (
            text_of(&items[1]),
            text_of(&items[2]),
            text_of(&items[3]),
            items[4].clone(),
        ),
        _ => return Err(DecodeError("not a Phoenix frame".to_owned())),
    };
    let (Some(topic), Some(event)) = (topic, event) else {
        return Err(DecodeError("frame without topic or event".to_owned()));
    };
    Ok(match event.as_str() {
        "phx_reply" => Incoming::Reply {
            topic,
            reference,
            ok: payload.get("status").and_then(Value::as_str) == Some("ok"),
            response: payload.get("response").cloned().unwrap_or(Value::Null),
        },
        "postgres_changes" => match parse_change(&payload) {
            Some(change) => Incoming::Change { topic, change },
            None => Incoming::Other,
        },
        "phx_close" => Incoming::ChannelClosed { topic, error: false },
        "phx_error" => Incoming::ChannelClosed { topic, error: true },
        "system" => Incoming::System {
            topic,
            ok: payload.get("status").and_then(Value::as_str) != Some("error"),
            message: payload.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
        },
        _ => Incoming::Other,
    })
}

/// Reads a change payload: `{data: {table, type, record, old_record}}`, or the
/// same fields at the top level as older servers send them.
fn parse_change(payload: &Value) -> Option<Change> {
    let data = payload.get("data").unwrap_or(payload);
    let kind = match data.get("type").or_else(|| data.get("eventType")).and_then(Value::as_str)? {
        "INSERT" => ChangeKind::Insert,
        "UPDATE" => ChangeKind::Update,
        "DELETE" => ChangeKind::Delete,
        _ => return None,
    };
    Some(Change {
        table: data.get("table").and_then(Value::as_str)?.to_owned(),
        kind,
        record: data.get("record").cloned().unwrap_or(Value::Null),
        old_record: data.get("old_record").cloned().unwrap_or(Value::Null),
    })
}

/// A reply's failure reason, for the console and the indicator's tooltip.
pub fn reply_reason(response: &Value) -> String {
    response
        .get("reason")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| response.to_string())
}

/// Monotonic refs for outgoing frames.
#[derive(Debug, Clone, Default)]
pub struct RefCounter(u64);

impl RefCounter {
    /// The next ref as text.
    pub fn next_ref(&mut self) -> String {
        self.0 += 1;
        self.0.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_join_carries_the_bindings_and_the_access_token() {
        let bindings = [Binding { table: "leads".into(), filter: Some("caller_id=eq.42".into()) }];
        let frame = Outgoing::join("realtime:leads-1", &bindings, Some("jwt"), "3".into());
        let value: Value = serde_json::from_str(&frame.encode()).unwrap();
        assert_eq!(value["event"], "phx_join");
        assert_eq!(value["ref"], "3");
        assert_eq!(value["join_ref"], "3");
        assert_eq!(value["payload"]["access_token"], "jwt");
        assert_eq!(
            value["payload"]["config"]["postgres_changes"][0],
            json!({"event": "*", "schema": "public", "table": "leads", "filter": "caller_id=eq.42"})
        );
    }

    #[test]
    fn a_heartbeat_goes_to_the_phoenix_topic_with_an_empty_payload() {
        let value: Value = serde_json::from_str(&Outgoing::heartbeat("9".into()).encode()).unwrap();
        assert_eq!(value, json!({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "9", "join_ref": null}));
    }

    #[test]
    fn a_join_reply_decodes_as_ok_with_its_ref() {
        let text = r#"{"topic":"realtime:leads-1","event":"phx_reply","payload":{"status":"ok","response":{"postgres_changes":[{"id":1}]}},"ref":"3","join_ref":"3"}"#;
        let Incoming::Reply { topic, reference, ok, .. } = decode(text).unwrap() else { panic!("not a reply") };
        assert_eq!((topic.as_str(), reference.as_deref(), ok), ("realtime:leads-1", Some("3"), true));
    }

    #[test]
    fn an_error_reply_keeps_its_reason() {
        let text = r#"{"topic":"t","event":"phx_reply","payload":{"status":"error","response":{"reason":"Invalid JWT"}},"ref":"1"}"#;
        let Incoming::Reply { ok, response, .. } = decode(text).unwrap() else { panic!("not a reply") };
        assert!(!ok);
        assert_eq!(reply_reason(&response), "Invalid JWT");
    }

    #[test]
    fn a_change_event_in_either_protocol_version_decodes() {
        let v1 = r#"{"topic":"realtime:x","event":"postgres_changes","payload":{"ids":[1],"data":{"schema":"public","table":"leads","type":"INSERT","record":{"id":46},"errors":null}},"ref":null}"#;
        let v2 = r#"[null,null,"realtime:x","postgres_changes",{"ids":[1],"data":{"schema":"public","table":"leads","type":"UPDATE","record":{"id":46},"old_record":{"id":46}}}]"#;
        let Incoming::Change { change, .. } = decode(v1).unwrap() else { panic!("v1") };
        assert_eq!((change.kind, change.record["id"].as_i64()), (ChangeKind::Insert, Some(46)));
        let Incoming::Change { change, .. } = decode(v2).unwrap() else { panic!("v2") };
        assert_eq!(change.kind, ChangeKind::Update);
        assert_eq!(change.old_record["id"], 46);
    }

    #[test]
    fn close_error_and_system_frames_are_recognised() {
        assert_eq!(
            decode(r#"{"topic":"t","event":"phx_error","payload":{},"ref":"1"}"#).unwrap(),
            Incoming::ChannelClosed { topic: "t".into(), error: true }
        );
        let system = decode(r#"{"topic":"t","event":"system","payload":{"status":"error","message":"boom"},"ref":null}"#).unwrap();
        assert_eq!(system, Incoming::System { topic: "t".into(), ok: false, message: "boom".into() });
    }

    #[test]
    fn malformed_frames_are_errors_or_other_never_panics() {
        assert!(decode("not json").is_err());
        assert!(decode("[1,2]").is_err());
        assert!(decode(r#"{"event":"phx_reply"}"#).is_err());
        assert_eq!(decode(r#"{"topic":"t","event":"postgres_changes","payload":{"data":{"type":"TRUNCATE"}}}"#).unwrap(), Incoming::Other);
        assert_eq!(decode(r#"{"topic":"t","event":"presence_diff","payload":7}"#).unwrap(), Incoming::Other);
        assert_eq!(
            decode(r#"{"topic":"t","event":"phx_reply","payload":"odd","ref":5}"#).unwrap(),
            Incoming::Reply { topic: "t".into(), reference: Some("5".into()), ok: false, response: Value::Null }
        );
    }

    #[test]
    fn refs_count_up_from_one() {
        let mut refs = RefCounter::default();
        assert_eq!((refs.next_ref(), refs.next_ref()), ("1".to_owned(), "2".to_owned()));
    }
}

/// Properties over many generated frames: what the decoder reads back, and
/// which inputs it refuses.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;

    /// Arbitrary text, mixed with bits of JSON that are not frames.
    fn frame_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[0-9]{1,6}",
            "\"[a-z ]{0,10}\"",
            Just("null".to_owned()),
            Just("[1,2]".to_owned()),
            Just(r#"{"topic":"t"}"#.to_owned()),
        ]
    }

    fn change_kind() -> impl Strategy<Value = (&'static str, ChangeKind)> {
        prop::sample::select(vec![("INSERT", ChangeKind::Insert), ("UPDATE", ChangeKind::Update), ("DELETE", ChangeKind::Delete)])
    }

    proptest! {
        #[test]
        fn text_that_is_not_a_frame_is_a_decode_error(text in frame_text()) {
            let frame_shaped = match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(map)) => map.contains_key("topic") && map.contains_key("event"),
                Ok(Value::Array(items)) => items.len() == 5,
                _ => false,
            };
            if !frame_shaped {
                prop_assert!(decode(&text).is_err(), "{:?}", text);
            }
        }

        #[test]
        fn a_change_whose_payload_is_any_string_is_ignored(text in any::<String>()) {
            let frame = json!({"topic": "t", "event": "postgres_changes", "payload": text}).to_string();
            prop_assert_eq!(decode(&frame), Ok(Incoming::Other));
        }

        #[test]
        fn a_row_change_reads_back_whole_in_both_protocol_versions(
            topic in "realtime:[a-z]{1,12}",
            table in "[a-z_]{1,20}",
            (type_name, kind) in change_kind(),
            id in any::<i64>(),
            name in any::<String>(),
        ) {
            let record = json!({"id": id, "name": name});
            let old_record = json!({"id": id});
            let payload = json!({"data": {"table": table, "type": type_name, "record": record, "old_record": old_record}});
            let expected = Incoming::Change { topic: topic.clone(), change: Change { table, kind, record, old_record } };
            let v1 = json!({"topic": topic, "event": "postgres_changes", "payload": payload, "ref": null}).to_string();
            let v2 = json!([null, null, topic, "postgres_changes", payload]).to_string();
            prop_assert_eq!(decode(&v1), Ok(expected.clone()));
            prop_assert_eq!(decode(&v2), Ok(expected));
        }

        #[test]
        fn a_reply_keeps_its_ref_whether_sent_as_text_or_as_a_number(n in any::<u64>(), ok in any::<bool>()) {
            let status = if ok { "ok" } else { "error" };
            for reference in [json!(n), json!(n.to_string())] {
                let frame = json!({"topic": "phoenix", "event": "phx_reply", "payload": {"status": status, "response": {}}, "ref": reference});
                let expected = Incoming::Reply { topic: "phoenix".to_owned(), reference: Some(n.to_string()), ok, response: json!({}) };
                prop_assert_eq!(decode(&frame.to_string()), Ok(expected));
            }
        }
    }
}
