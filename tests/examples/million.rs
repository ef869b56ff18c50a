//! Every request the web app makes, timed through localbase's REST over a
//! cluster seeded with 1,000,000 leads (issue 12 §5; docs/benchmarks.md
//! records the runs):
//!
//! ```text
//! cargo build --release -p localbase
//! cargo run -p bloc-tests --release --example million -- --dir /tmp/bloc-million
//! ```
//!
//! It starts a PostgreSQL 15 cluster of its own (loopback only, no pg_cron,
//! so no sweep changes the seed while it is timed), applies
//! `supabase/bootstrap.sql` and the migrations in `--migrations` (default
//! `supabase/migrations`), and seeds `--leads` leads (default 1,000,000)
//! spread over 90 days with set-based SQL: 50 callers, realistic statuses,
//! states, sources, names and phones, one assignment log per assigned lead
//! (plus an earlier one for the 2 % moved by the SLA sweep) and the daily
//! loads. Every run then builds the report rollup of every closed day, as
//! the every-minute pg_cron job `refresh_report_days` would have (this
//! cluster runs no pg_cron). It then starts the `localbase` binary (`LOCALBASE_BIN`, else beside
//! this example's profile folder) over that database, signs in an admin and
//! a caller through localbase Auth, and sends each request of [`requests`]
//! with the headers the web app sends (`apikey`, the user's Bearer token,
//! `Accept: application/json`, and its `Prefer`): `--warmup` untimed runs
//! (default 3), then `--runs` timed ones (default 20), and prints the p50,
//! p95 and maximum of each, in milliseconds, as a Markdown table.
//!
//! `--dir` keeps the cluster there: a later run with the same `--dir`
//! reuses the seed (seeding takes minutes) and applies only the migrations
//! not yet applied, which is how the before and after figures of
//! docs/benchmarks.md were taken on the same data (first with a migrations
//! folder lacking the index migration, then with the full one).
//! `--web-before` sends the leads table's requests as the web app sent them
//! before (`count=exact`, `.nullslast` on descending orders).
//! `--only <text>` times only the requests whose name contains the text.
//! The engine's clock is pinned to one minute after the seed's newest lead
//! (or to `--now <timestamp>`), so that a run hours after seeding still
//! times a working day: unpinned, "today" in the team's zone would soon be
//! a day without leads and every "today" request would look cheaper than
//! it is on a real team. `--wall-clock` runs on the real clock instead.
//! Exits 1 if a request answers other than 2xx.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pgcluster::{Cluster, ClusterOptions, Scheduler};
use serde_json::{json, Value};

/// Who sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Admin,
    Caller,
}

/// One request the web app makes, as it makes it.
struct Req {
    name: String,
    who: Who,
    /// `GET` or `POST`.
    method: &'static str,
    /// Below `/rest/v1/`, with the query string.
    path: String,
    body: Option<Value>,
    prefer: Option<&'static str>,
}

fn get(name: &str, who: Who, path: String, prefer: Option<&'static str>) -> Req {
    Req { name: name.into(), who, method: "GET", path, body: None, prefer }
}

fn rpc(name: &str, who: Who, function: &str, body: Value) -> Req {
    Req { name: name.into(), who, method: "POST", path: format!("rpc/{function}"), body: Some(body), prefer: None }
}

/// The leads table's search, newest first, on the first page.
fn search(f: &Fixture, name: &str, term: &str, or_param: &str) -> Req {
    search_page(f, name, term, or_param, json!({}), 0)
}

/// The leads table's search as `crates/web/src/query.rs` sends it: `POST
/// rpc/lead_search?select=*&order=…` with the term, the filters in
/// `args` (`{"status": "new"}`, and `sort`/`descending`, newest first
/// unless named), one row more than a page of 25 and the page's offset,
/// without `Prefer: count` (a search shows no total). `--web-before`: `GET
/// leads?or=(name.ilike…)` newest first with `count=exact`, as before
/// issue 12 §5 (`args` and `page` ignored).
fn search_page(f: &Fixture, name: &str, term: &str, or_param: &str, args: Value, page: u64) -> Req {
    if f.before {
        return get(name, Who::Admin, leads_table(&format!("or={or_param}"), &desc(f, "created_at"), 0), Some("count=exact"));
    }
    let mut body = json!({"term": term, "sort": "created_at", "descending": true, "row_limit": 26, "row_offset": page * 25});
    body.as_object_mut().unwrap().extend(args.as_object().unwrap().clone());
    let dir = if body["descending"] == true { "desc" } else { "asc" };
    let order = match body["sort"].as_str().unwrap() {
        "created_at" => format!("created_at.{dir}%2Cid.{dir}"),
        column => format!("{column}.{dir}%2Ccreated_at.{dir}%2Cid.{dir}"),
    };
    let path = format!("rpc/lead_search?select=%2A&order={order}");
    Req { name: name.into(), who: Who::Admin, method: "POST", path, body: Some(body), prefer: None }
}

/// One call of the CSV export of a search as `crates/web/src/api/import.rs`
/// sends it: the search's first 1,000 matches, newest first, in calls of
/// 250 (`SEARCH_EXPORT_PAGE`), each the leads table's request with one row
/// more than its page; `call` 0 to 3 (the last reads the most leads).
/// `--web-before`: `GET leads?or=(name.ilike…)&limit=1000` as the export
/// sent it before migration …3200.
fn export_search(f: &Fixture, name: &str, term: &str, call: u64) -> Req {
    if f.before {
        let path = format!("leads?select=%2A&or=%28name.ilike.%2A{term}%2A%29&order=created_at.desc%2Cid.desc&limit=1000&offset=0");
        return get(name, Who::Admin, path, None);
    }
    let body = json!({"term": term, "sort": "created_at", "descending": true, "row_limit": 251, "row_offset": call * 250});
    let path = "rpc/lead_search?select=%2A&order=created_at.desc%2Cid.desc".to_owned();
    Req { name: name.into(), who: Who::Admin, method: "POST", path, body: Some(body), prefer: None }
}

/// What the seed and sign-in left for the requests to name.
struct Fixture {
    admin_user: String,
    caller_user: String,
    caller_id: i64,
    /// A lead of the caller's, for the detail panel.
    lead_id: i64,
    /// Yesterday and seven days ago, as the leads table's `created_at`
    /// bounds for a local date (`YYYY-MM-DDT18:30:00.000Z` in Asia/Kolkata).
    yesterday_start: String,
    yesterday_end: String,
    week_start: String,
    /// `--web-before`: the leads table's requests as the web app sent them
    /// before issue 12 §5 (`Prefer: count=exact`, descending orders with
    /// `.nullslast`), for the "before" figures.
    before: bool,
}

/// The leads table's query string as `crates/web/src/query.rs` builds it:
/// `select=*`, the filters, the order with `id` as the tie-break, a page of
/// 25, and the offset. The web sends it with `Prefer: count=planned` and
/// shows "about N" for a planned total (see `query::Total`).
fn leads_table(filters: &str, order: &str, page: u64) -> String {
    let filters = if filters.is_empty() { String::new() } else { format!("{filters}&") };
    format!("leads?select=%2A&{filters}order={order}&limit=25&offset={}", page * 25)
}

/// A descending order on `column` as the web app sends it
/// (`query::LeadQuery::order`): the column, then the time received, then
/// `id`, all descending, so one `(column, created_at, id)` index serves it.
/// `--web-before`: `column.desc.nullslast,id.desc`, as before issue 12 §5.
fn desc(f: &Fixture, column: &str) -> String {
    if f.before {
        return format!("{column}.desc.nullslast%2Cid.desc");
    }
    match column {
        "created_at" => "created_at.desc%2Cid.desc".into(),
        _ => format!("{column}.desc%2Ccreated_at.desc%2Cid.desc"),
    }
}

/// An ascending order on `column` as the web app sends it (see [`desc`]);
/// `--web-before`: `column.asc,id.asc`.
fn asc(f: &Fixture, column: &str) -> String {
    if f.before {
        return format!("{column}.asc%2Cid.asc");
    }
    format!("{column}.asc%2Ccreated_at.asc%2Cid.asc")
}

/// Every request, in the order the app makes them. Add a line here when the
/// web app gains a request.
fn requests(f: &Fixture) -> Vec<Req> {
    use Who::{Admin, Caller};
    let newest = desc(f, "created_at");
    let t = |filters: &str| leads_table(filters, &newest, 0);
    let count = Some(if f.before { "count=exact" } else { "count=planned" });
    vec![
        // Signing in (app.rs), both roles.
        get("membership (admin)", Admin, format!("team_members?select=*&user_id=eq.{}", f.admin_user), None),
        get("settings", Admin, "settings?select=*&limit=1".into(), None),
        // Dashboard.
        rpc("dashboard_today()", Admin, "dashboard_today", json!({})),
        get("live feed (12 newest)", Admin, "leads?select=*&order=created_at.desc,id.desc&limit=12".into(), None),
        get("callers", Admin, "callers?select=*&order=name.asc,id.asc".into(), None),
        rpc("caller_conversion_today()", Admin, "caller_conversion_today", json!({})),
        // Reports (reports_page.rs), Settings (settings_page.rs).
        rpc("report: today", Admin, "report", json!({"preset": "today"})),
        rpc("report: 7 days", Admin, "report", json!({"preset": "7d"})),
        rpc("report: 30 days", Admin, "report", json!({"preset": "30d"})),
        rpc("team_today()", Admin, "team_today", json!({})),
        rpc("team_settings()", Admin, "team_settings", json!({})),
        rpc("time_zone_names()", Admin, "time_zone_names", json!({})),
        get(
            "settings audit (20 newest)",
            Admin,
            "settings_audit?select=changed_at,changed_by_email,field,old_value,new_value&order=changed_at.desc,id.desc&limit=20".into(),
            None,
        ),
        // The leads table: each filter alone, a few together, search, sorts, deep pages.
        get("leads: first page", Admin, t(""), count),
        // The Source filter's options (absent before migration …2800).
        rpc("leads: sources in use", Admin, "lead_sources", json!({})),
        get("leads: status new", Admin, t("status=eq.new"), count),
        get("leads: status converted", Admin, t("status=eq.converted"), count),
        get("leads: status unassigned", Admin, t("status=eq.unassigned"), count),
        get("leads: one caller", Admin, t(&format!("caller_id=eq.{}", f.caller_id)), count),
        get("leads: nobody (unassigned)", Admin, t("caller_id=is.null"), count),
        get("leads: state MH", Admin, t("state=eq.MH"), count),
        get("leads: source WhatsApp", Admin, t("source=eq.WhatsApp"), count),
        get(
            "leads: yesterday",
            Admin,
            t(&format!("created_at=gte.{}&created_at=lt.{}", f.yesterday_start, f.yesterday_end)),
            count,
        ),
        get("leads: last 7 days", Admin, t(&format!("created_at=gte.{}", f.week_start)), count),
        get("leads: qualified in SK (few rows)", Admin, t("status=eq.qualified&state=eq.SK"), count),
        get("leads: lost, WhatsApp, KA", Admin, t("status=eq.lost&state=eq.KA&source=eq.WhatsApp"), count),
        get(
            "leads: one caller's converted this week",
            Admin,
            t(&format!("status=eq.converted&caller_id=eq.{}&created_at=gte.{}", f.caller_id, f.week_start)),
            count,
        ),
        search(f, "leads: search a name (Priya)", "Priya", "%28name.ilike.%2APriya%2A%29"),
        search(f, "leads: search a full name", "Priya Naidu", "%28name.ilike.%2APriya%20Naidu%2A%29"),
        search(f, "leads: search that finds nothing", "zzqx", "%28name.ilike.%2Azzqx%2A%29"),
        search(f, "leads: search 5 phone digits", "98765", "%28name.ilike.%2A98765%2A%2Cphone.like.%2A98765%2A%29"),
        search(
            f,
            "leads: search 10 phone digits",
            "9876543210",
            "%28name.ilike.%2A9876543210%2A%2Cphone.like.%2A9876543210%2A%29",
        ),
        // Under 3 characters the web app sends no search (query::MIN_SEARCH_CHARS).
        search(f, "leads: search 3 letters (ash)", "ash", "%28name.ilike.%2Aash%2A%29"),
        search_page(f, "leads: search Priya, status converted", "Priya", "", json!({"status": "converted"}), 0),
        search_page(f, "leads: search Priya, state SK", "Priya", "", json!({"state": "SK"}), 0),
        search_page(f, "leads: search Priya, sort name asc", "Priya", "", json!({"sort": "name", "descending": false}), 0),
        search_page(f, "leads: search Priya, sort status desc", "Priya", "", json!({"sort": "status"}), 0),
        // A search reaches its first 1,000 matches (…3200): page 40 of 25 is the deepest.
        search_page(f, "leads: search Priya page 40 (the deepest)", "Priya", "", json!({}), 39),
        search_page(f, "leads: search Priya, sort name asc, page 40", "Priya", "", json!({"sort": "name", "descending": false}), 39),
        // "Export CSV" with a search (crates/web/src/api/import.rs): the first 1,000 matches in 4 calls of 250.
        export_search(f, "leads: export search Priya, call 1 of 4 (rows 1-251)", "Priya", 0),
        export_search(f, "leads: export search Priya, call 4 of 4 (rows 751-1,001)", "Priya", 3),
        search_page(f, "leads: search Priya Naidu page 20", "Priya Naidu", "", json!({}), 19),
        get("leads: sort name asc", Admin, leads_table("", &asc(f, "name"), 0), count),
        get("leads: sort name desc", Admin, leads_table("", &desc(f, "name"), 0), count),
        get("leads: sort state asc", Admin, leads_table("", &asc(f, "state"), 0), count),
        get("leads: sort status asc", Admin, leads_table("", &asc(f, "status"), 0), count),
        get("leads: sort assigned desc", Admin, leads_table("", &desc(f, "assigned_at"), 0), count),
        get("leads: page 40", Admin, leads_table("", &newest, 39), count),
        get("leads: page 400 (the deepest)", Admin, leads_table("", &newest, 399), count),
        get("leads: state MH page 400", Admin, leads_table("state=eq.MH", &newest, 399), count),
        // The detail panel.
        get("lead", Admin, format!("leads?select=*&id=eq.{}", f.lead_id), None),
        get(
            "assignment timeline",
            Admin,
            format!("assignment_timeline?select=*&lead_id=eq.{}&order=created_at.asc,id.asc", f.lead_id),
            None,
        ),
        // The caller's side.
        get("membership (caller)", Caller, format!("team_members?select=*&user_id=eq.{}", f.caller_user), None),
        get(
            "caller: queue, first page",
            Caller,
            format!("caller_queue?select=*&caller_id=eq.{}&order=follow_up.asc,assigned_at.asc,id.asc&limit=20&offset=0", f.caller_id),
            None,
        ),
        // Sent with every queue page (crates/web/src/api/queue.rs): the tabs' exact counts.
        rpc("caller: caller_queue_counts()", Caller, "caller_queue_counts", json!({})),
        get(
            "caller: queue, page 10",
            Caller,
            format!("caller_queue?select=*&caller_id=eq.{}&order=follow_up.asc,assigned_at.asc,id.asc&limit=20&offset=180", f.caller_id),
            None,
        ),
        get(
            "caller: closed leads, first page",
            Caller,
            format!(
                "leads?select=*&caller_id=eq.{}&status=in.(converted,lost)&order=status_changed_at.desc.nullslast,id.desc&limit=20&offset=0",
                f.caller_id
            ),
            None,
        ),
        rpc("caller: team_today()", Caller, "team_today", json!({})),
        get("caller: lead", Caller, format!("leads?select=*&id=eq.{}", f.lead_id), None),
    ]
}

// ------------------------------------------------------------------ seeding

/// 50 callers, two states each; the first is the one who signs in.
const SEED_CALLERS: &str = r"
insert into public.callers (name, email, assigned_states, daily_lead_limit, weight)
select 'Caller ' || pg_catalog.lpad(i::text, 2, '0'),
       'caller' || i || '@bench.test',
       array[s.codes[1 + i % 36], s.codes[1 + (i * 7) % 36]],
       400, 1 + i % 3
  from pg_catalog.generate_series(1, 50) as i,
       (select array['MH','UP','KA','TN','DL','GJ','WB','RJ','TG','AP','KL','MP','BR','PB','HR','OR',
                     'AS','JH','CT','UK','HP','JK','GA','CH','TR','PY','ML','MN','NL','AR','MZ','SK',
                     'AN','DN','LD','LA'] as codes) as s;
";

/// The leads over 90 days up to now, set-based. `$1` is the number of leads.
/// Each lead draws its shape from `random()` (seeded first, so runs match):
/// 0.4 % unassigned, states skewed towards the populous ones, three sources,
/// names from 40 × 30 parts, Indian mobile numbers, and a status by age:
/// everything under 2 hours is `new`; older leads are mostly worked.
const SEED_LEADS: &str = r"
with callers as (
  select pg_catalog.array_agg(id order by id) as ids from public.callers
), base as (
  select i,
         pg_catalog.now() - interval '90 days' * (($1 - i)::float8 / $1) - interval '1 second' as created_at,
         pg_catalog.random() as r_status, pg_catalog.random() as r_state, pg_catalog.random() as r_source,
         pg_catalog.random() as r_caller, pg_catalog.random() as r_name, pg_catalog.random() as r_time,
         pg_catalog.random() as r_extra
    from pg_catalog.generate_series(1, $1::int) as i
), shaped as (
  select b.*,
         case when b.r_caller < 0.004 then null else c.ids[1 + (pg_catalog.floor(b.r_caller * 100000)::int % 50)] end as caller_id,
         case
           when b.r_caller < 0.004 then 'unassigned'
           when b.created_at > pg_catalog.now() - interval '2 hours' then 'new'
           when b.created_at > pg_catalog.now() - interval '2 days' and b.r_status < 0.5 then 'new'
           when b.r_status < 0.05 then 'new'
           when b.r_status < 0.40 then 'contacted'
           when b.r_status < 0.55 then 'qualified'
           when b.r_status < 0.67 then 'converted'
           else 'lost'
         end as status,
         b.r_extra < 0.02 as sla_moved
    from base b, callers c
)
insert into public.leads (phone, name, email, state, city, language, source, status, caller_id,
                          assigned_at, contacted_at, qualified_at, converted_at, lost_at, status_changed_at,
                          duplicate_count, last_duplicate_at, reassign_count, created_at, updated_at)
select '+91' || (6000000000 + (s.i::bigint * 2654435761) % 3999999999)::text,
       (array['Priya','Rahul','Anita','Vikram','Sneha','Arjun','Kavita','Suresh','Pooja','Amit',
              'Neha','Rajesh','Deepa','Manoj','Asha','Karan','Meera','Sanjay','Lakshmi','Ravi',
              'Divya','Nikhil','Swati','Gaurav','Rekha','Vivek','Anjali','Harish','Nisha','Ajay',
              'Shreya','Mohan','Ishita','Tarun','Bhavna','Farhan','Zoya','Imran','Gurpreet','Tenzin'])[1 + pg_catalog.floor(s.r_name * 40)::int]
         || ' ' ||
       (array['Sharma','Patel','Reddy','Iyer','Nair','Singh','Kumar','Gupta','Das','Mehta',
              'Joshi','Rao','Naidu','Khan','Chopra','Bose','Pillai','Menon','Verma','Yadav',
              'Shah','Desai','Kulkarni','Banerjee','Mishra','Agarwal','Sinha','Ghosh','Jain','Bhat'])[1 + pg_catalog.floor((s.r_name * 977 - pg_catalog.floor(s.r_name * 977)) * 30)::int],
       case when s.r_extra < 0.3 then 'lead' || s.i || '@example.in' end,
       case when s.r_state < 0.02 then null else
         (array['MH','UP','KA','TN','DL','GJ','WB','RJ','TG','AP','KL','MP','BR','PB','HR','OR',
                'AS','JH','CT','UK','HP','JK','GA','CH','TR','PY','ML','MN','NL','AR','MZ','SK',
                'AN','DN','LD','LA'])[1 + pg_catalog.floor(s.r_state * s.r_state * 36)::int] end,
       null,
       (array['hi','en','mr','ta','te','kn','bn','gu'])[1 + pg_catalog.floor(s.r_source * 8)::int],
       case when s.r_source < 0.45 then 'Google Ads' when s.r_source < 0.80 then 'Meta Lead Ads'
            when s.r_source < 0.97 then 'WhatsApp' end,
       s.status,
       s.caller_id,
       case when s.caller_id is not null then s.created_at + case when s.sla_moved then interval '2 hours' else interval '2 seconds' end end,
       case when s.status in ('contacted','qualified','converted') then least(pg_catalog.now(), s.created_at + interval '3 hours' * s.r_time) end,
       case when s.status in ('qualified','converted') then least(pg_catalog.now(), s.created_at + interval '1 day' * s.r_time) end,
       case when s.status = 'converted' then least(pg_catalog.now(), s.created_at + interval '2 days' * s.r_time) end,
       case when s.status = 'lost' then least(pg_catalog.now(), s.created_at + interval '1 day' * s.r_time) end,
       case when s.status not in ('new','unassigned') then least(pg_catalog.now(), s.created_at + interval '1 day' * s.r_time) end,
       case when s.r_extra > 0.95 then 1 else 0 end,
       case when s.r_extra > 0.95 then least(pg_catalog.now(), s.created_at + interval '1 hour') end,
       case when s.sla_moved then 1 else 0 end,
       s.created_at,
       s.created_at
  from shaped s
 order by s.i
";

/// One log row per assignment: 80 % state match, 15 % global, 5 % overflow;
/// a lead the SLA sweep moved has its first assignment (to the next caller)
/// and the `sla_reassign` that gave it to its caller.
const SEED_LOGS: &str = r"
insert into public.assignment_logs (lead_id, caller_id, previous_caller_id, reason, tier, candidates, created_at)
select l.id, (select c.id from public.callers c where c.id > l.caller_id order by c.id limit 1), null,
       'state_match', 1, '[]'::json, l.created_at + interval '2 seconds'
  from public.leads l
 where l.reassign_count = 1
union all
select l.id, l.caller_id,
       case when l.reassign_count = 1 then (select c.id from public.callers c where c.id > l.caller_id order by c.id limit 1) end,
       case when l.reassign_count = 1 then 'sla_reassign'
            when l.id % 20 = 0 then 'overflow' when l.id % 20 < 4 then 'global' else 'state_match' end,
       case when l.reassign_count = 1 then 1 when l.id % 20 = 0 then 4 when l.id % 20 < 4 then 2 else 1 end,
       '[]'::json, l.assigned_at
  from public.leads l
 where l.caller_id is not null
";

const SEED_LOADS: &str = r"
insert into public.caller_daily_loads (caller_id, day, assigned, last_assigned_at)
select caller_id, (created_at at time zone engine.time_zone())::date, count(*), max(created_at)
  from public.assignment_logs
 where caller_id is not null
 group by 1, 2
";

fn seed(url: &str, leads: i32) {
    let mut db = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let have: i64 = db.query_one("select count(*) from public.leads", &[]).unwrap().get(0);
    if have > 0 {
        println!("reusing the seed: {have} leads");
        return;
    }
    let started = Instant::now();
    let mut tx = db.transaction().unwrap();
    tx.batch_execute("set local synchronous_commit = off; select pg_catalog.setseed(0.42)").unwrap();
    tx.batch_execute(SEED_CALLERS).unwrap();
    tx.execute(SEED_LEADS, &[&leads]).unwrap();
    println!("seeded {leads} leads in {:.1} s", started.elapsed().as_secs_f64());
    tx.batch_execute(SEED_LOGS).unwrap();
    tx.batch_execute(SEED_LOADS).unwrap();
    tx.commit().unwrap();
    println!("seeded logs and loads, {:.1} s in all", started.elapsed().as_secs_f64());
    db.batch_execute("vacuum analyze").unwrap();
    println!("vacuum analyze done, {:.1} s in all", started.elapsed().as_secs_f64());
}

/// Does what the every-minute pg_cron job `refresh_report_days` would have
/// done by the time a manager opens the reports (this cluster runs without
/// pg_cron): builds the report rollup of every closed day not yet built or
/// marked dirty, 31 days per call, until nothing is left. Without it every
/// day of a fresh seed would be computed live and the report timings would
/// measure a state production never stays in.
fn refresh_report_rollup(url: &str) {
    let mut db = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let exists: bool = db
        .query_one("select pg_catalog.to_regprocedure('engine.refresh_report_days()') is not null", &[])
        .unwrap()
        .get(0);
    if !exists {
        return;
    }
    let started = Instant::now();
    let mut days = 0;
    loop {
        let built: i32 = db.query_one("select engine.refresh_report_days()", &[]).unwrap().get(0);
        if built == 0 {
            break;
        }
        days += built;
    }
    if days > 0 {
        db.batch_execute("vacuum analyze engine.report_days, engine.report_first_contacts").unwrap();
        println!("report rollup: built {days} days in {:.1} s (what pg_cron's job would have done)", started.elapsed().as_secs_f64());
    }
}

/// Pins `engine.now()` for every later session of this bench database (the
/// database-level `bloc.now`, honoured because the bench enables
/// `engine.clock_settings.override_allowed`; production never does), or
/// removes the pin with `None`. Returns the instant pinned, as UTC text.
fn pin_clock(url: &str, at: Option<&str>) -> Option<String> {
    let mut db = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let Some(at) = at else {
        db.batch_execute("do $$ begin execute pg_catalog.format('alter database %I reset bloc.now', pg_catalog.current_database()); end $$")
            .unwrap();
        return None;
    };
    // The instant is parsed by PostgreSQL and printed back before it is
    // spliced into the statement, so only a valid timestamp gets there.
    let pinned: String = db
        .query_one(
            "select pg_catalog.to_char(coalesce(nullif($1, 'newest lead')::timestamptz,
                                                (select max(created_at) + interval '1 minute' from public.leads))
                                       at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
            &[&at],
        )
        .unwrap_or_else(|e| panic!("--now {at:?} is not a timestamp PostgreSQL reads: {e}"))
        .get(0);
    db.batch_execute(&format!(
        "update engine.clock_settings set override_allowed = true;
         do $$ begin execute pg_catalog.format('alter database %I set bloc.now = %L', pg_catalog.current_database(), '{pinned}'); end $$"
    ))
    .unwrap();
    Some(pinned)
}

// ----------------------------------------------------------------- services

fn localbase_binary() -> PathBuf {
    if let Ok(path) = std::env::var("LOCALBASE_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(Path::parent).unwrap().join("localbase");
    assert!(path.exists(), "{} is missing: run `cargo build --release -p localbase` (or set LOCALBASE_BIN)", path.display());
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts localbase over `db_url` (the migrations are applied already, so
/// its runner finds nothing to do)
/// and returns it with its status.json.
fn start_localbase(dir: &Path, db_url: &str, migrations: &Path) -> (Child, Value) {
    let lb_dir = dir.join("localbase");
    std::fs::create_dir_all(&lb_dir).unwrap();
    let _ = std::fs::remove_file(lb_dir.join("status.json"));
    let log = std::fs::File::create(dir.join("localbase.log")).unwrap();
    let mut child = Command::new(localbase_binary())
        .args(["--port", &free_port().to_string(), "--builtin-migrations", "--migrations"])
        .arg(migrations)
        .arg("--dir")
        .arg(&lb_dir)
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("the localbase binary starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = std::fs::read_to_string(lb_dir.join("status.json")).ok().and_then(|t| serde_json::from_str(&t).ok()) {
            return (child, status);
        }
        if let Some(exit) = child.try_wait().unwrap() {
            panic!("localbase exited ({exit}); see {}", dir.join("localbase.log").display());
        }
        assert!(Instant::now() < deadline, "localbase not up in 120 s; see {}", dir.join("localbase.log").display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Signed {
    user_id: String,
    token: String,
}

async fn sign_up_and_in(http: &reqwest::Client, status: &Value, email: &str) -> Signed {
    let api = status["api_url"].as_str().unwrap();
    let service = status["service_role_key"].as_str().unwrap();
    let anon = status["anon_key"].as_str().unwrap();
    let password = "bench-password-1";
    let created = http
        .post(format!("{api}/auth/v1/admin/users"))
        .header("apikey", service)
        .bearer_auth(service)
        .json(&json!({"email": email, "password": password, "email_confirm": true}))
        .send()
        .await
        .unwrap();
    let created_status = created.status();
    let created: Value = created.json().await.unwrap_or_default();
    // A kept --dir already has the user.
    assert!(created_status.is_success() || created_status.as_u16() == 422, "creating {email}: {created_status} {created}");
    let session: Value = http
        .post(format!("{api}/auth/v1/token?grant_type=password"))
        .header("apikey", anon)
        .bearer_auth(anon)
        .header("X-Supabase-Api-Version", "2024-01-01")
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Signed {
        user_id: session["user"]["id"].as_str().unwrap_or_else(|| panic!("signing in {email}: {session}")).to_string(),
        token: session["access_token"].as_str().unwrap().to_string(),
    }
}

// ------------------------------------------------------------------ timing

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let number = |name: &str, default: usize| arg(name).map(|v| v.parse().unwrap()).unwrap_or(default);
    let leads = number("--leads", 1_000_000);
    let runs = number("--runs", 20).max(1);
    let warmup = number("--warmup", 3);
    let only = arg("--only");
    let web_before = args.iter().any(|a| a == "--web-before");
    let migrations = arg("--migrations")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../supabase/migrations"));
    let temp = tempfile::Builder::new().prefix("bloc-million-").tempdir().unwrap();
    let dir = arg("--dir").map(PathBuf::from).unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();

    let started = Instant::now();
    let cluster_options = ClusterOptions { dir: dir.join("pg"), port: None, durable: false };
    let mut cluster = Cluster::start_with(&cluster_options, Scheduler::Absent).expect("a PostgreSQL 15 cluster starts");
    let db_url = cluster.url("postgres");
    pgcluster::bootstrap(&db_url).unwrap();
    let applied = pgcluster::migrations::apply(&db_url, &migrations).unwrap();
    println!("cluster up, migrations from {} applied now: {applied:?}", migrations.display());
    seed(&db_url, i32::try_from(leads).unwrap());
    let clock = if args.iter().any(|a| a == "--wall-clock") {
        pin_clock(&db_url, None)
    } else {
        pin_clock(&db_url, Some(arg("--now").as_deref().unwrap_or("newest lead")))
    };
    match &clock {
        Some(at) => println!("the engine's clock is pinned at {at} (--now, --wall-clock)"),
        None => println!("the engine runs on the wall clock"),
    }
    refresh_report_rollup(&db_url);
    if !applied.is_empty() {
        let mut db = postgres::Client::connect(&db_url, postgres::NoTls).unwrap();
        db.batch_execute("analyze").unwrap();
    }

    let (mut localbase, status) = start_localbase(&dir, &db_url, &migrations);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let failed = runtime.block_on(async {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let admin = sign_up_and_in(&http, &status, "admin@bench.test").await;
        let caller = sign_up_and_in(&http, &status, "caller1@bench.test").await;
        let mut db = tokio_postgres::connect(&db_url, tokio_postgres::NoTls).await.unwrap();
        let connection = db.1;
        tokio::spawn(connection);
        let db = &mut db.0;
        db.execute(
            "insert into public.team_members (user_id, role) values ($1::text::uuid, 'admin') on conflict (user_id) do nothing",
            &[&admin.user_id],
        )
        .await
        .unwrap();
        let caller_id: i64 = db
            .query_one("select id from public.callers where email = 'caller1@bench.test'", &[])
            .await
            .unwrap()
            .get(0);
        db.execute(
            "insert into public.team_members (user_id, role, caller_id) values ($1::text::uuid, 'caller', $2)
             on conflict (user_id) do update set role = 'caller', caller_id = excluded.caller_id",
            &[&caller.user_id, &caller_id],
        )
        .await
        .unwrap();
        let lead_id: i64 = db
            .query_one("select max(id) from public.leads where caller_id = $1 and reassign_count = 1", &[&caller_id])
            .await
            .unwrap()
            .get(0);
        let bounds = db
            .query_one(
                "with d as (select (engine.now() at time zone engine.time_zone())::date as today)
                 select pg_catalog.to_char(((today - 1)::timestamp at time zone engine.time_zone()) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.000\"Z\"'),
                        pg_catalog.to_char((today::timestamp at time zone engine.time_zone()) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.000\"Z\"'),
                        pg_catalog.to_char(((today - 6)::timestamp at time zone engine.time_zone()) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.000\"Z\"')
                   from d",
                &[],
            )
            .await
            .unwrap();
        let encode = |s: String| s.replace(':', "%3A");
        let fixture = Fixture {
            admin_user: admin.user_id.clone(),
            caller_user: caller.user_id.clone(),
            caller_id,
            lead_id,
            yesterday_start: encode(bounds.get(0)),
            yesterday_end: encode(bounds.get(1)),
            week_start: encode(bounds.get(2)),
            before: web_before,
        };
        let leads_now: i64 = db.query_one("select count(*) from public.leads", &[]).await.unwrap().get(0);
        println!(
            "localbase up; {leads_now} leads; {warmup} warm-up and {runs} timed runs per request; {:.1} s so far\n",
            started.elapsed().as_secs_f64()
        );

        let api = status["api_url"].as_str().unwrap().to_string();
        let anon = status["anon_key"].as_str().unwrap().to_string();
        println!("| request | p50 ms | p95 ms | max ms | rows | Content-Range |");
        println!("|---|---:|---:|---:|---:|---|");
        let mut failed = false;
        for req in requests(&fixture) {
            if only.as_deref().is_some_and(|o| !req.name.contains(o)) {
                continue;
            }
            let token = match req.who {
                Who::Admin => &admin.token,
                Who::Caller => &caller.token,
            };
            let mut times = Vec::with_capacity(runs);
            let mut rows = 0;
            let mut range = String::new();
            for run in 0..warmup + runs {
                let url = format!("{api}/rest/v1/{}", req.path);
                let mut builder = match req.method {
                    "POST" => http.post(&url),
                    _ => http.get(&url),
                }
                .header("apikey", &anon)
                .bearer_auth(token)
                .header("Accept", "application/json");
                if let Some(prefer) = req.prefer {
                    builder = builder.header("Prefer", prefer);
                }
                if let Some(body) = &req.body {
                    builder = builder.header("Content-Type", "application/json").body(body.to_string());
                }
                let sent = Instant::now();
                let response = builder.send().await.unwrap();
                let code = response.status();
                range = response
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                let text = response.text().await.unwrap();
                let elapsed = sent.elapsed().as_secs_f64() * 1000.0;
                if !code.is_success() {
                    println!("| {} | HTTP {code}: {} |", req.name, text.chars().take(200).collect::<String>());
                    failed = true;
                    break;
                }
                rows = serde_json::from_str::<Value>(&text).ok().and_then(|v| v.as_array().map(Vec::len)).unwrap_or(1);
                if run >= warmup {
                    times.push(elapsed);
                }
            }
            if times.is_empty() {
                continue;
            }
            times.sort_by(f64::total_cmp);
            println!(
                "| {} | {:.1} | {:.1} | {:.1} | {rows} | {range} |",
                req.name,
                percentile(&times, 0.5),
                percentile(&times, 0.95),
                times[times.len() - 1]
            );
        }
        failed
    });
    let _ = localbase.kill();
    let _ = localbase.wait();
    cluster.stop();
    println!("\ntotal {:.1} s", started.elapsed().as_secs_f64());
    if failed {
        std::process::exit(1);
    }
}
