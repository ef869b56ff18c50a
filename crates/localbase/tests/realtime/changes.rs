//! Realtime `postgres_changes` over raw Phoenix frames, against a real
//! PostgreSQL with the project's migrations.

use std::time::Duration;

use serde_json::{json, Value};
use crate::support::{now, sign, user_token, Fixture, PUBLISHABLE_KEY};

const QUIET: Duration = Duration::from_millis(600);

pub fn leads(event: &str) -> Value {
    json!([{"event": event, "schema": "public", "table": "leads"}])
}

#[tokio::test]
async fn a_join_under_vsn_2_is_answered_with_the_bindings_and_a_subscribed_system_message() {
    let fx = Fixture::start().await;
    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    let bindings = json!([
        {"event": "*", "schema": "public", "table": "leads", "filter": "caller_id=eq.42"},
        {"event": "INSERT", "schema": "public", "table": "callers"}
    ]);

    let join_ref = phx.join("leads", bindings, None).await;
    let reply = phx.next().await;
    let system = phx.next().await;

    assert_eq!(reply.event, "phx_reply");
    assert_eq!(reply.topic, "realtime:leads");
    assert_eq!(reply.join_ref, json!(join_ref));
    assert_eq!(reply.r#ref, json!(join_ref));
    assert_eq!(reply.payload["status"], "ok");
    let echoed = reply.payload["response"]["postgres_changes"].as_array().unwrap();
    assert_eq!(echoed.len(), 2);
    assert_eq!(echoed[0]["event"], "*");
    assert_eq!(echoed[0]["table"], "leads");
    assert_eq!(echoed[0]["filter"], "caller_id=eq.42");
    assert_eq!(echoed[1]["event"], "INSERT");
    assert_eq!(echoed[1]["table"], "callers");
    assert!(echoed[0]["id"].as_i64().unwrap() > 0);
    assert_ne!(echoed[0]["id"], echoed[1]["id"]);
    assert_eq!(system.event, "system");
    assert_eq!(system.join_ref, Value::Null);
    assert_eq!(
        system.payload,
        json!({"message": "Subscribed to PostgreSQL", "status": "ok", "extension": "postgres_changes", "channel": "leads"})
    );
    fx.stop().await;
}

#[tokio::test]
async fn a_socket_without_vsn_speaks_1_0_0_objects_and_receives_inserts() {
    let fx = Fixture::start().await;
    let mut phx = fx.connect(&fx.service_role_key, None).await;
    let ids = phx.subscribe("all-leads", leads("*"), None).await;

    let (caller, _) = fx.add_caller("Ravi").await;
    let lead = fx.add_lead("+919800000001", Some(caller)).await;
    let event = phx.change().await;

    assert_eq!(event.topic, "realtime:all-leads");
    assert_eq!(event.payload["ids"], json!(ids));
    let data = &event.payload["data"];
    assert_eq!(data["type"], "INSERT");
    assert_eq!(data["schema"], "public");
    assert_eq!(data["table"], "leads");
    assert_eq!(data["record"]["id"], json!(lead));
    assert_eq!(data["errors"], Value::Null);
    assert!(data.get("old_record").is_none(), "an INSERT has no old_record: {data}");
    fx.stop().await;
}

#[tokio::test]
async fn an_insert_carries_values_typed_like_supabase() {
    let fx = Fixture::start().await;
    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    phx.subscribe("callers", json!([{"event": "INSERT", "schema": "public", "table": "callers"}]), None).await;

    fx.sql
        .execute(
            "insert into public.callers (name, assigned_states, languages, daily_lead_limit, active)
             values ('Meera', '{MH,\"K A\"}', '{}', 25, true)",
            &[],
        )
        .await
        .unwrap();
    let data = phx.change().await.payload["data"].clone();

    let record = &data["record"];
    assert!(record["id"].is_i64(), "{record}");
    assert_eq!(record["name"], "Meera");
    assert_eq!(record["assigned_states"], json!(["MH", "K A"]));
    assert_eq!(record["languages"], json!([]));
    assert_eq!(record["daily_lead_limit"], json!(25));
    assert_eq!(record["active"], json!(true));
    assert_eq!(record["user_id"], Value::Null);
    let created = record["created_at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok(), "ISO 8601 timestamp: {created}");
    let commit = data["commit_timestamp"].as_str().unwrap();
    assert!(commit.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(commit).is_ok(), "{commit}");
    let columns = data["columns"].as_array().unwrap();
    assert_eq!(columns[0], json!({"name": "id", "type": "int8"}));
    assert!(columns.contains(&json!({"name": "assigned_states", "type": "_text"})));
    assert!(columns.contains(&json!({"name": "created_at", "type": "timestamptz"})));
    fx.stop().await;
}

#[tokio::test]
async fn an_update_carries_record_and_old_record_and_jsonb_as_json() {
    let fx = Fixture::start().await;
    let (caller, _) = fx.add_caller("Ravi").await;
    let lead = fx.add_lead("+919800000002", Some(caller)).await;
    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    phx.subscribe("updates", leads("UPDATE"), None).await;

    fx.sql.execute("update public.leads set status = 'contacted' where id = $1", &[&lead]).await.unwrap();
    let data = phx.change().await.payload["data"].clone();

    assert_eq!(data["type"], "UPDATE");
    assert_eq!(data["record"]["status"], "contacted");
    assert_eq!(data["record"]["metadata"], json!({"source_row": 7}));
    assert_eq!(data["old_record"], json!({"id": lead}));
    fx.stop().await;
}

#[tokio::test]
async fn a_delete_on_an_rls_table_carries_only_the_primary_key() {
    let fx = Fixture::start().await;
    fx.sql.execute("alter table public.leads replica identity full", &[]).await.unwrap();
    let (caller, _) = fx.add_caller("Ravi").await;
    let lead = fx.add_lead("+919800000003", Some(caller)).await;
    fx.sql.execute("delete from public.assignment_logs where lead_id = $1", &[&lead]).await.unwrap();
    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    phx.subscribe("deletes", leads("DELETE"), None).await;

    fx.sql.execute("delete from public.leads where id = $1", &[&lead]).await.unwrap();
    let data = phx.change().await.payload["data"].clone();

    assert_eq!(data["type"], "DELETE");
    assert_eq!(data["old_record"], json!({"id": lead}), "even with replica identity full");
    assert!(data.get("record").is_none());
    fx.stop().await;
}

#[tokio::test]
async fn a_caller_receives_its_own_leads_and_never_another_callers() {
    let fx = Fixture::start().await;
    let (ravi, ravi_user) = fx.add_caller("Ravi").await;
    let (meera, meera_user) = fx.add_caller("Meera").await;
    let mut ravi_socket = fx.connect(&fx.anon_key, Some("2.0.0")).await;
    let mut meera_socket = fx.connect(PUBLISHABLE_KEY, None).await;
    ravi_socket.subscribe("mine", leads("*"), Some(&user_token(&ravi_user))).await;
    meera_socket.subscribe("mine", leads("*"), Some(&user_token(&meera_user))).await;

    let for_meera = fx.add_lead("+919800000004", Some(meera)).await;
    let for_ravi = fx.add_lead("+919800000005", Some(ravi)).await;

    let got = ravi_socket.change().await;
    assert_eq!(got.payload["data"]["record"]["id"], json!(for_ravi));
    assert_eq!(got.payload["data"]["record"]["caller_id"], json!(ravi));
    let got = meera_socket.change().await;
    assert_eq!(got.payload["data"]["record"]["id"], json!(for_meera));
    ravi_socket.assert_silent(QUIET).await;
    meera_socket.assert_silent(Duration::from_millis(50)).await;
    fx.stop().await;
}

#[tokio::test]
async fn the_anon_role_receives_nothing_from_a_table_it_may_not_select() {
    let fx = Fixture::start().await;
    let (caller, _) = fx.add_caller("Ravi").await;
    let mut phx = fx.connect(&fx.anon_key, Some("2.0.0")).await;
    phx.subscribe("anon", leads("*"), None).await;
    let mut service = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    service.subscribe("service", leads("INSERT"), None).await;

    fx.add_lead("+919800000006", Some(caller)).await;

    service.change().await;
    phx.assert_silent(QUIET).await;
    fx.stop().await;
}

#[tokio::test]
async fn filters_select_rows_by_column_value() {
    let fx = Fixture::start().await;
    let (ravi, _) = fx.add_caller("Ravi").await;
    let (meera, _) = fx.add_caller("Meera").await;
    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    let ids = phx
        .subscribe(
            "filtered",
            json!([
                {"event": "INSERT", "schema": "public", "table": "leads", "filter": format!("caller_id=eq.{meera}")},
                {"event": "INSERT", "schema": "public", "table": "leads", "filter": format!("caller_id=in.({ravi},0)")},
                {"event": "INSERT", "schema": "public", "table": "leads", "filter": format!("caller_id=gt.{}", ravi.max(meera))},
                {"event": "INSERT", "schema": "public", "table": "leads", "filter": "state=neq.MH"}
            ]),
            None,
        )
        .await;

    let to_ravi = fx.add_lead("+919800000007", Some(ravi)).await;
    let to_meera = fx.add_lead("+919800000008", Some(meera)).await;

    let first = phx.change().await;
    assert_eq!(first.payload["data"]["record"]["id"], json!(to_ravi));
    assert_eq!(first.payload["ids"], json!([ids[1]]));
    let second = phx.change().await;
    assert_eq!(second.payload["data"]["record"]["id"], json!(to_meera));
    assert_eq!(second.payload["ids"], json!([ids[0]]));
    phx.assert_silent(QUIET).await;
    fx.stop().await;
}

#[tokio::test]
async fn a_forged_or_expired_token_gets_a_join_error() {
    let fx = Fixture::start().await;
    let mut phx = fx.connect(&fx.anon_key, Some("2.0.0")).await;
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "x", "role": "service_role", "exp": now() + 60}),
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-project-secret"),
    )
    .unwrap();
    let expired = sign(&json!({"sub": "x", "role": "authenticated", "exp": now() - 10}));
    let unknown_role = sign(&json!({"sub": "x", "role": "superhero", "exp": now() + 60}));

    for (topic, token) in [("forged", forged), ("expired", expired), ("role", unknown_role), ("junk", "junk".into())] {
        phx.join(topic, leads("*"), Some(&token)).await;
        let reply = phx.next().await;
        assert_eq!(reply.event, "phx_reply");
        assert_eq!(reply.payload["status"], "error", "{topic}: {reply:?}");
        assert!(reply.payload["response"]["reason"].as_str().unwrap().len() > 5, "{reply:?}");
    }
    assert_eq!(fx.state.subscriber_count(), 0);
    fx.stop().await;
}

#[tokio::test]
async fn a_token_without_exp_gets_a_join_error() {
    let fx = Fixture::start().await;
    let mut phx = fx.connect(&fx.anon_key, Some("2.0.0")).await;
    let forever = sign(&json!({"sub": uuid::Uuid::new_v4(), "role": "authenticated", "aud": "authenticated"}));

    phx.join("leads", leads("*"), Some(&forever)).await;

    let reply = phx.next().await;
    assert_eq!(reply.event, "phx_reply");
    assert_eq!(reply.payload["status"], "error", "{reply:?}");
    assert!(reply.payload["response"]["reason"].as_str().unwrap().contains("exp"), "{reply:?}");
    assert_eq!(fx.state.subscriber_count(), 0);
    fx.stop().await;
}

#[tokio::test]
async fn heartbeats_are_answered_on_the_phoenix_topic() {
    let fx = Fixture::start().await;
    for vsn in [Some("2.0.0"), Some("1.0.0")] {
        let mut phx = fx.connect(&fx.anon_key, vsn).await;
        let r = phx.push(None, "phoenix", "heartbeat", json!({})).await;
        let reply = phx.next().await;
        assert_eq!(reply.topic, "phoenix");
        assert_eq!(reply.event, "phx_reply");
        assert_eq!(reply.r#ref, json!(r));
        assert_eq!(reply.payload, json!({"status": "ok", "response": {}}));
    }
    fx.stop().await;
}

#[tokio::test]
async fn leaving_replies_ok_closes_the_channel_and_stops_its_events() {
    let fx = Fixture::start().await;
    let (caller, _) = fx.add_caller("Ravi").await;
    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    phx.subscribe("leaving", leads("*"), None).await;
    let join_ref = "1";

    let r = phx.push(Some(join_ref), "realtime:leaving", "phx_leave", json!({})).await;
    let reply = phx.next().await;
    let close = phx.next().await;
    fx.add_lead("+919800000009", Some(caller)).await;

    assert_eq!(reply.event, "phx_reply");
    assert_eq!(reply.r#ref, json!(r));
    assert_eq!(reply.payload["status"], "ok");
    assert_eq!(close.event, "phx_close");
    assert_eq!(close.topic, "realtime:leaving");
    assert_eq!(fx.state.subscriber_count(), 0);
    phx.assert_silent(QUIET).await;
    fx.stop().await;
}

#[tokio::test]
async fn malformed_frames_get_error_replies_and_the_socket_stays_usable() {
    let fx = Fixture::start().await;
    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;

    phx.send_raw("{not json").await;
    let e = phx.next().await;
    assert_eq!(e.event, "phx_error");
    assert!(e.payload["reason"].as_str().unwrap().contains("not JSON"));

    phx.send_raw(r#"["1","2","realtime:x"]"#).await;
    assert_eq!(phx.next().await.event, "phx_error");

    phx.send_raw(r#"[null,"3",42,"phx_join",{}]"#).await;
    let e = phx.next().await;
    assert_eq!((e.event.as_str(), e.r#ref.clone()), ("phx_reply", json!("3")));
    assert_eq!(e.payload["status"], "error");

    phx.send_raw(r#"[null,"4","realtime:x","phx_join","not an object"]"#).await;
    let e = phx.next().await;
    assert_eq!((e.event.as_str(), e.payload["status"].clone()), ("phx_reply", json!("error")));

    phx.send_raw(r#"[null,"5","realtime:nobody","dance",{}]"#).await;
    let e = phx.next().await;
    assert_eq!(e.payload["response"]["reason"], "unmatched topic");

    phx.send_raw(r#"["6","6","realtime:x","phx_join",{"config":{"postgres_changes":[{"event":"EXPLODE","schema":"public"}]}}]"#).await;
    let e = phx.next().await;
    assert_eq!(e.payload["status"], "error");

    phx.send_raw(r#"["7","7","realtime:x","phx_join",{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"leads","filter":"caller_id=like.4"}]}}]"#).await;
    assert_eq!(phx.next().await.payload["status"], "error");

    phx.send_raw(r#"["8","8","realtime:x","phx_join",{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"no_such_table"}]}}]"#).await;
    let e = phx.next().await;
    assert_eq!(e.payload["status"], "error");
    assert!(e.payload["response"]["reason"].as_str().unwrap().contains("Unable to subscribe"));

    phx.send_raw(r#"["9","9","realtime:x","phx_join",{"config":{"postgres_changes":[{"event":"*","schema":"public","table":"leads","filter":"no_column=eq.1"}]}}]"#).await;
    assert_eq!(phx.next().await.payload["status"], "error");

    phx.ws.send(tokio_tungstenite::tungstenite::Message::Binary(vec![3u8, 0, 1].into())).await.unwrap();
    assert_eq!(phx.next().await.event, "phx_error");

    let ids = phx.subscribe("still-works", leads("*"), None).await;
    assert_eq!(ids.len(), 1);
    let r = phx.push(Some("x"), "realtime:still-works", "mystery", json!({})).await;
    let e = phx.next().await;
    assert_eq!((e.r#ref.clone(), e.payload["status"].clone()), (json!(r), json!("error")));
    phx.push(None, "phoenix", "heartbeat", json!({})).await;
    assert_eq!(phx.next().await.payload["status"], "ok");
    fx.stop().await;
}

use futures::SinkExt;

#[tokio::test]
async fn a_missing_or_unknown_apikey_is_refused_before_the_upgrade() {
    let fx = Fixture::start().await;
    for url in [fx.url.clone(), format!("{}?apikey=nope", fx.url), format!("{}?apikey=", fx.url)] {
        let err = tokio_tungstenite::connect_async(url.as_str()).await.expect_err("refused");
        match err {
            tokio_tungstenite::tungstenite::Error::Http(response) => assert_eq!(response.status(), 401, "{url}"),
            other => panic!("expected an HTTP 401 for {url}, got {other}"),
        }
    }
    let err = tokio_tungstenite::connect_async(format!("{}?apikey={}&vsn=9.9.9", fx.url, fx.anon_key))
        .await
        .expect_err("refused");
    assert!(matches!(err, tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 400));
    fx.stop().await;
}

#[tokio::test]
async fn a_bad_access_token_update_closes_the_channel_with_a_system_error() {
    let fx = Fixture::start().await;
    let (caller, user) = fx.add_caller("Ravi").await;
    let mut phx = fx.connect(&fx.anon_key, Some("2.0.0")).await;
    phx.subscribe("mine", leads("*"), Some(&user_token(&user))).await;

    // A good token changes nothing visible and gets no reply: the socket
    // handles frames in order, so the next frame answers the heartbeat.
    phx.push(Some("1"), "realtime:mine", "access_token", json!({"access_token": user_token(&user)})).await;
    let heartbeat = phx.push(None, "phoenix", "heartbeat", json!({})).await;
    let reply = phx.next().await;
    assert_eq!((reply.event.as_str(), reply.r#ref.clone()), ("phx_reply", json!(heartbeat)));
    let lead = fx.add_lead("+919800000010", Some(caller)).await;
    assert_eq!(phx.change().await.payload["data"]["record"]["id"], json!(lead));

    phx.push(Some("1"), "realtime:mine", "access_token", json!({"access_token": "forged.token.here"})).await;
    let system = phx.next().await;
    let close = phx.next().await;

    assert_eq!(system.event, "system");
    assert_eq!(system.payload["status"], "error");
    assert_eq!(system.payload["channel"], "mine");
    assert_eq!(close.event, "phx_close");
    assert_eq!(fx.state.subscriber_count(), 0);
    fx.stop().await;
}

#[tokio::test]
async fn a_token_refresh_switches_whose_rows_the_channel_sees() {
    let fx = Fixture::start().await;
    let (ravi, ravi_user) = fx.add_caller("Ravi").await;
    let (meera, meera_user) = fx.add_caller("Meera").await;
    let mut phx = fx.connect(&fx.anon_key, Some("2.0.0")).await;
    phx.subscribe("mine", leads("INSERT"), Some(&user_token(&ravi_user))).await;

    phx.push(Some("1"), "realtime:mine", "access_token", json!({"access_token": user_token(&meera_user)})).await;
    // The socket handles frames in order and answers no `access_token`, so
    // a heartbeat's reply says the switch is done (a sleep raced it under load).
    let heartbeat = phx.push(None, "phoenix", "heartbeat", json!({})).await;
    let reply = phx.next().await;
    assert_eq!((reply.event.as_str(), reply.r#ref.clone()), ("phx_reply", json!(heartbeat)));
    fx.add_lead("+919800000011", Some(ravi)).await;
    let for_meera = fx.add_lead("+919800000012", Some(meera)).await;

    assert_eq!(phx.change().await.payload["data"]["record"]["id"], json!(for_meera));
    phx.assert_silent(QUIET).await;
    fx.stop().await;
}

#[tokio::test]
async fn a_channel_is_closed_when_its_token_expires() {
    let fx = Fixture::start().await;
    let (_, user) = fx.add_caller("Ravi").await;
    let mut phx = fx.connect(&fx.anon_key, Some("2.0.0")).await;
    let short = sign(&json!({"sub": user, "role": "authenticated", "exp": now() + 2}));
    phx.subscribe("short", leads("*"), Some(&short)).await;

    let system = phx.next().await;
    let close = phx.next().await;

    assert_eq!(system.event, "system");
    assert!(system.payload["message"].as_str().unwrap().starts_with("Token has expired"));
    assert_eq!(close.event, "phx_close");
    fx.stop().await;
}

#[tokio::test]
async fn changes_arrive_in_commit_order() {
    let fx = Fixture::start().await;
    let (caller, _) = fx.add_caller("Ravi").await;
    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    phx.subscribe("order", leads("*"), None).await;

    let mut expected = Vec::new();
    for i in 0..20 {
        let lead = fx.add_lead(&format!("+9198000001{i:02}"), Some(caller)).await;
        fx.sql.execute("update public.leads set notes = 'n' where id = $1", &[&lead]).await.unwrap();
        expected.push((lead, "INSERT"));
        expected.push((lead, "UPDATE"));
    }

    for (lead, kind) in expected {
        let data = phx.change().await.payload["data"].clone();
        assert_eq!((data["record"]["id"].clone(), data["type"].clone()), (json!(lead), json!(kind)));
    }
    fx.stop().await;
}

#[tokio::test]
async fn a_table_added_to_the_publication_later_starts_streaming() {
    let fx = Fixture::start().await;
    fx.sql
        .batch_execute(
            "create table public.notes_for_realtime (id bigint generated always as identity primary key, body text);
             grant select on public.notes_for_realtime to service_role;",
        )
        .await
        .unwrap();
    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    phx.subscribe("notes", json!([{"event": "*", "schema": "public", "table": "notes_for_realtime"}]), None).await;

    fx.sql.execute("insert into public.notes_for_realtime (body) values ('before')", &[]).await.unwrap();
    phx.assert_silent(Duration::from_millis(1500)).await;
    fx.sql.execute("alter publication supabase_realtime add table public.notes_for_realtime", &[]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    fx.sql.execute("insert into public.notes_for_realtime (body) values ('after')", &[]).await.unwrap();

    let data = phx.change().await.payload["data"].clone();
    assert_eq!(data["record"]["body"], "after");
    fx.stop().await;
}

#[tokio::test]
async fn shutting_down_drops_the_replication_slot() {
    let fx = Fixture::start().await;
    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    phx.subscribe("shutdown", leads("INSERT"), None).await;
    assert_eq!(slot_count(&fx.sql).await, 1);

    fx.state.shutdown().await;

    assert_eq!(slot_count(&fx.sql).await, 0);
}

pub async fn slot_count(sql: &tokio_postgres::Client) -> i64 {
    sql.query_one(
        "select count(*) from pg_replication_slots where slot_name like 'localbase_realtime_%' and database = current_database()",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn the_slot_is_streamed_by_a_walsender_that_confirms_what_it_read() {
    let fx = Fixture::start().await;
    let (caller, _) = fx.add_caller("Ravi").await;
    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    phx.subscribe("confirm", leads("INSERT"), None).await;
    let state: String = fx
        .sql
        .query_one("select state from pg_stat_replication where application_name = 'localbase realtime wal'", &[])
        .await
        .expect("one walsender streams the slot")
        .get(0);
    assert_eq!(state, "streaming");

    let lead = fx.add_lead("+919800000201", Some(caller)).await;
    assert_eq!(phx.change().await.payload["data"]["record"]["id"], json!(lead));
    // The insert's commit is behind this position; the reader reports it as
    // flushed (with the commit, or at its next status update), so the slot
    // need not decode it again.
    let written: String = fx.sql.query_one("select pg_current_wal_lsn()::text", &[]).await.unwrap().get(0);
    let mut confirmed = false;
    for _ in 0..50 {
        confirmed = fx
            .sql
            .query_one(
                "select bool_and(confirmed_flush_lsn >= $1::text::pg_lsn) from pg_replication_slots
                 where slot_name like 'localbase_realtime_%' and database = current_database()",
                &[&written],
            )
            .await
            .unwrap()
            .get::<_, Option<bool>>(0)
            .unwrap_or(false);
        if confirmed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(confirmed, "the slot's confirmed position reached {written} within 5 s");
    fx.stop().await;
}

#[tokio::test]
async fn a_lost_slot_session_is_replaced_and_later_changes_still_arrive() {
    let fx = Fixture::start().await;
    let (caller, _) = fx.add_caller("Ravi").await;
    let mut phx = fx.connect(&fx.service_role_key, Some("2.0.0")).await;
    phx.subscribe("lost", leads("INSERT"), None).await;
    let slot_row = "select slot_name::text, active_pid from pg_replication_slots
                    where slot_name like 'localbase_realtime_%' and database = current_database()";
    let first = fx.sql.query_one(slot_row, &[]).await.unwrap();
    let (first_name, pid): (String, i32) = (first.get(0), first.get(1));

    fx.sql.execute("select pg_terminate_backend($1)", &[&pid]).await.unwrap();
    let mut replaced = false;
    for _ in 0..100 {
        let rows = fx.sql.query(slot_row, &[]).await.unwrap();
        if rows.len() == 1 && rows[0].get::<_, String>(0) != first_name && rows[0].get::<_, Option<i32>>(1).is_some() {
            replaced = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(replaced, "a new slot replaced {first_name} within 10 s");

    let lead = fx.add_lead("+919800000202", Some(caller)).await;
    assert_eq!(phx.change().await.payload["data"]["record"]["id"], json!(lead));
    fx.stop().await;
}
