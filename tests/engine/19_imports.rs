//! CSV imports: `import_leads` stores rows through `ingest_leads` for admins
//! only and remembers each row's answer for good, so the same file imported
//! again creates nothing twice; `import_preview` forecasts without writing.

#![allow(clippy::unwrap_used)]

use postgres::Client;
use serde_json::{json, Value};

use crate::support::{phone, sqlstate, Caller, Db};

const FILE_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const FILE_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Calls `function(import_ref, rows)` as the signed-in user `sub`, as
/// PostgREST does, and commits.
fn call_as(client: &mut Client, sub: &str, function: &str, import_ref: &str, rows: &Value) -> Result<Value, postgres::Error> {
    let mut tx = client.transaction()?;
    let claims = json!({"sub": sub, "role": "authenticated"}).to_string();
    tx.execute("select set_config('request.jwt.claims', $1, true)", &[&claims])?;
    tx.batch_execute("set local role authenticated")?;
    let answer: Value = tx.query_one(&format!("select public.{function}($1, $2)"), &[&import_ref, rows])?.get(0);
    tx.commit()?;
    Ok(answer)
}

fn import(db: &mut Db, sub: &str, import_ref: &str, rows: &Value) -> Vec<Value> {
    call_as(&mut db.client, sub, "import_leads", import_ref, rows).unwrap().as_array().unwrap().clone()
}

fn row(n: i32, phone: &str, state: &str) -> Value {
    json!({"row": n, "lead": {"phone": phone, "state": state, "name": format!("Row {n}"), "source": "csv", "metadata": {}}})
}

fn leads(db: &mut Db) -> i64 {
    db.scalar_i64("select count(*) from leads")
}

fn logs(db: &mut Db) -> i64 {
    db.scalar_i64("select count(*) from assignment_logs")
}

#[test]
fn an_admin_import_stores_each_row_through_the_engine_and_answers_per_row_in_order() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A").states(&["MH"]));
    let admin = db.add_member("admin@example.com", "admin", None);

    let answers = import(&mut db, &admin, FILE_A, &json!([row(3, &phone(1), "MH"), row(2, &phone(2), "MH")]));

    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["row"], 3, "answers come in the order sent");
    assert_eq!(answers[1]["row"], 2);
    for answer in &answers {
        assert_eq!(answer["status"], "assigned", "{answer}");
        assert_eq!(answer["caller_id"], a);
        assert_eq!(answer["replayed"], false);
    }
    assert_eq!(leads(&mut db), 2);
    assert_eq!(logs(&mut db), 2, "logged like any ingested lead");
    assert_eq!(db.load(a), 2, "the imported leads count toward today's limit");
    assert_eq!(db.scalar_i64("select count(*) from engine.lead_imports"), 2);
}

#[test]
fn importing_the_same_file_again_creates_nothing_twice_and_gives_the_first_answers() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A").states(&["MH"]));
    let admin = db.add_member("admin@example.com", "admin", None);
    let rows = json!([row(1, &phone(1), "MH"), row(2, &phone(2), "MH")]);
    let first = import(&mut db, &admin, FILE_A, &rows);
    let (leads_before, logs_before) = (leads(&mut db), logs(&mut db));

    let again = import(&mut db, &admin, FILE_A, &json!([row(1, &phone(1), "MH"), row(2, &phone(2), "MH"), row(3, &phone(3), "MH")]));

    assert_eq!(again.len(), 3);
    for k in 0..2 {
        assert_eq!(again[k]["replayed"], true, "{}", again[k]);
        assert_eq!(again[k]["lead_id"], first[k]["lead_id"]);
        assert_eq!(again[k]["status"], "assigned", "the first answer, not `duplicate`");
    }
    assert_eq!(again[2]["replayed"], false, "a row not imported before is imported now");
    assert_eq!(leads(&mut db), leads_before + 1);
    assert_eq!(logs(&mut db), logs_before + 1);
    assert_eq!(db.load(a), 3, "a replayed row books no load");
}

#[test]
fn a_re_import_days_later_still_creates_nothing_after_the_delivery_records_expired() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    let admin = db.add_member("admin@example.com", "admin", None);
    db.set_now("2026-11-01 10:00+05:30");
    let rows = json!([row(1, &phone(1), "MH")]);
    let first = import(&mut db, &admin, FILE_A, &rows);

    db.set_now("2026-11-09 10:00+05:30");
    db.client.execute("select engine.purge_deliveries()", &[]).unwrap();
    let again = import(&mut db, &admin, FILE_A, &rows);

    assert_eq!(again[0]["replayed"], true);
    assert_eq!(again[0]["lead_id"], first[0]["lead_id"]);
    assert_eq!(leads(&mut db), 1, "outside the duplicate window a new lead would have been made");
}

#[test]
fn the_same_phone_in_another_file_is_the_engines_duplicate_not_a_replay() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    let admin = db.add_member("admin@example.com", "admin", None);
    let first = import(&mut db, &admin, FILE_A, &json!([row(1, &phone(1), "MH")]));

    let other = import(&mut db, &admin, FILE_B, &json!([row(1, &phone(1), "MH")]));

    assert_eq!(other[0]["status"], "duplicate");
    assert_eq!(other[0]["replayed"], false);
    assert_eq!(other[0]["lead_id"], first[0]["lead_id"], "the original lead");
    assert_eq!(leads(&mut db), 1);
}

#[test]
fn rows_no_caller_can_take_wait_unassigned_for_the_backlog() {
    let mut db = Db::new();
    db.add_caller(Caller::named("Off").states(&["MH"]).inactive());
    let admin = db.add_member("admin@example.com", "admin", None);

    let answers = import(&mut db, &admin, FILE_A, &json!([row(1, &phone(1), "MH")]));

    assert_eq!(answers[0]["status"], "unassigned", "{}", answers[0]);
    assert_eq!(db.scalar_i64("select count(*) from leads where status = 'unassigned' and caller_id is null"), 1);
}

#[test]
fn rows_past_a_callers_daily_limit_are_overflow_as_for_a_webhook_lead() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A").states(&["MH"]).limit(1));
    let admin = db.add_member("admin@example.com", "admin", None);

    let answers = import(&mut db, &admin, FILE_A, &json!([row(1, &phone(1), "MH"), row(2, &phone(2), "MH")]));

    assert_eq!(answers[0]["reason"], "state_match", "{}", answers[0]);
    assert_eq!(answers[1]["reason"], "overflow", "{}", answers[1]);
    assert_eq!(answers[1]["caller_id"], a);
}

#[test]
fn an_invalid_row_is_answered_invalid_stores_nothing_and_is_remembered() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    let admin = db.add_member("admin@example.com", "admin", None);
    let rows = json!([{"row": 1, "lead": {"phone": "not a phone", "metadata": {}}}, row(2, &phone(2), "MH")]);

    let answers = import(&mut db, &admin, FILE_A, &rows);
    let again = import(&mut db, &admin, FILE_A, &rows);

    assert_eq!(answers[0]["status"], "invalid", "{}", answers[0]);
    assert_eq!(answers[1]["status"], "assigned");
    assert_eq!(again[0]["status"], "invalid");
    assert_eq!(again[0]["replayed"], true);
    assert_eq!(leads(&mut db), 1);
}

#[test]
fn a_caller_or_a_stranger_cannot_import_or_preview_and_nothing_changes() {
    let mut db = Db::new();
    let a = db.add_caller(Caller::named("A").states(&["MH"]));
    let caller = db.add_member("caller@example.com", "caller", Some(a));
    let stranger: String = db.client.query_one("insert into auth.users (email) values ('x@example.com') returning id::text", &[]).unwrap().get(0);
    let rows = json!([row(1, &phone(1), "MH")]);
    let phones = json!([{"row": 1, "phone": phone(1)}]);

    for sub in [&caller, &stranger] {
        assert_eq!(sqlstate(call_as(&mut db.client, sub, "import_leads", FILE_A, &rows)), "42501");
        assert_eq!(sqlstate(call_as(&mut db.client, sub, "import_preview", FILE_A, &phones)), "42501");
    }
    let anon = db.client.batch_execute("begin; set local role anon; select public.import_leads('x', '[]'); commit");
    db.client.batch_execute("rollback").unwrap();
    assert_eq!(sqlstate(anon), "42501", "anon may not even call it");
    assert_eq!(leads(&mut db), 0);
    assert_eq!(db.scalar_i64("select count(*) from engine.lead_imports"), 0);
}

#[test]
fn a_malformed_import_is_refused_and_changes_nothing() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    let admin = db.add_member("admin@example.com", "admin", None);
    let one = json!([row(1, &phone(1), "MH")]);
    let many: Vec<Value> = (1..=1001).map(|n| row(n, &phone(n as u32), "MH")).collect();

    for (import_ref, rows) in [
        ("ABC", one.clone()),
        (&FILE_A.to_uppercase()[..], one.clone()),
        (FILE_A, json!([])),
        (FILE_A, json!({"row": 1})),
        (FILE_A, json!([{"row": 0, "lead": {"phone": phone(1)}}])),
        (FILE_A, json!([{"row": 1.5, "lead": {"phone": phone(1)}}])),
        (FILE_A, json!([{"row": 1, "lead": "+919800000001"}])),
        (FILE_A, json!([row(1, &phone(1), "MH"), row(1, &phone(2), "MH")])),
        (FILE_A, Value::Array(many)),
    ] {
        let admin = admin.clone();
        assert_eq!(sqlstate(call_as(&mut db.client, &admin, "import_leads", import_ref, &rows)), "22023", "{rows}");
    }
    assert_eq!(leads(&mut db), 0);
    assert_eq!(db.scalar_i64("select count(*) from engine.lead_imports"), 0);
}

#[test]
fn the_preview_names_duplicates_repeated_rows_and_imported_rows_without_writing() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    let admin = db.add_member("admin@example.com", "admin", None);
    let existing = db.ingest(json!({"phone": phone(1), "state": "MH"}))["lead_id"].as_i64().unwrap();
    import(&mut db, &admin, FILE_A, &json!([row(4, &phone(4), "MH")]));
    let (leads_before, logs_before) = (leads(&mut db), logs(&mut db));

    let preview = call_as(
        &mut db.client,
        &admin,
        "import_preview",
        FILE_A,
        &json!([
            {"row": 1, "phone": phone(1)},
            {"row": 2, "phone": phone(2)},
            {"row": 3, "phone": phone(2)},
            {"row": 4, "phone": phone(4)},
        ]),
    )
    .unwrap();

    assert_eq!(preview[0]["duplicate_of"], existing);
    assert_eq!(preview[1]["duplicate_of"], Value::Null);
    assert_eq!(preview[1]["repeats_row"], Value::Null);
    assert_eq!(preview[2]["repeats_row"], 2, "the same phone twice in the file");
    assert_eq!(preview[3]["imported"]["status"], "assigned", "row 4 of this file was imported");
    assert_eq!(preview[0]["imported"], Value::Null);
    assert_eq!(leads(&mut db), leads_before);
    assert_eq!(logs(&mut db), logs_before);
}

#[test]
fn the_preview_counts_a_duplicate_only_inside_the_teams_window() {
    let mut db = Db::new();
    db.add_caller(Caller::named("A").states(&["MH"]));
    let admin = db.add_member("admin@example.com", "admin", None);
    db.set_now("2026-11-01 10:00+05:30");
    db.ingest(json!({"phone": phone(1), "state": "MH"}));
    db.set_now("2026-11-03 10:00+05:30");

    let preview = call_as(&mut db.client, &admin, "import_preview", FILE_A, &json!([{"row": 1, "phone": phone(1)}])).unwrap();

    assert_eq!(preview[0]["duplicate_of"], Value::Null, "48 h later, past the 24 h window");
}
