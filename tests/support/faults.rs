//! The fault-injection bed, shared by the `faults` test and the
//! `fault_injection` example (both include this file with `#[path]`).
//!
//! One PostgreSQL cluster of our own (durable: `fsync` and
//! `synchronous_commit` on, as in production), the `localbase` binary over
//! it, and two `bloc-api` binaries over localbase, all as child processes so
//! that each can be killed. Make-like senders deliver leads with a fixed
//! `Idempotency-Key` each and retry 5xx, timeouts and connection errors with
//! the same key and a backoff, switching instance on every retry. Some keys
//! are replayed to the other instance after their first 2xx, some are sent
//! to both instances at once, some batches of five are sent as one
//! delivery, and some phones are sent again under a new key.
//!
//! While they run, [`Bed::run_schedule`] injects, one phase each: lock
//! timeouts, deadlocks, a PostgreSQL crash (`SIGQUIT` to the postmaster,
//! which is what `pg_ctl stop -m immediate` sends) and restart, statement
//! timeouts, a localbase `SIGKILL` and restart on its port, and a `SIGKILL`
//! of one ingest instance while it has a batch in flight, then a recovery
//! phase. [`check`] then reads the history and the database.

#![allow(clippy::unwrap_used, dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgcluster::{Cluster, ClusterOptions};
use rand::Rng;
use serde_json::{json, Value};

/// The one webhook secret the senders authenticate with.
pub const SECRET: &str = "fault-injection-secret";

/// Callers in the team; each takes MH and KA at the same limit and weight,
/// so fairness is exact: loads differ by at most one.
pub const CALLERS: usize = 4;

/// The assignment lock's advisory key (engine.lock_assignments()).
const ASSIGNMENT_LOCK: &str = "select pg_catalog.pg_advisory_xact_lock(1112297283, 1)";

/// How long a sender keeps retrying one delivery before giving up.
const GIVE_UP_AFTER: Duration = Duration::from_secs(90);

/// The phases of the schedule, in order.
pub const PHASES: [&str; 8] = [
    "steady",
    "lock timeout",
    "deadlock",
    "postgres crash",
    "statement timeout",
    "localbase crash",
    "ingest crash",
    "recovery",
];

/// How big a run is.
#[derive(Debug, Clone)]
pub struct Options {
    /// Deliveries to send at least (a batch delivery holds five leads); the
    /// senders go on until the schedule is over, so every phase has traffic.
    pub deliveries: usize,
    /// Length of the whole fault schedule.
    pub schedule: Duration,
    /// Concurrent senders.
    pub senders: usize,
    /// Each caller's `daily_lead_limit`.
    pub limit: i32,
}

// ---------------------------------------------------------------- processes

/// A binary the bed runs: `$var` if set, else beside the running executable's
/// folder (`target/<profile>/<name>`, where `cargo build -p localbase -p
/// bloc-api` and `cargo xtask test` put it).
fn binary(var: &str, name: &str) -> PathBuf {
    if let Ok(path) = std::env::var(var) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p localbase -p bloc-api` (or set {var}); `cargo xtask test` builds it",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new().create(true).append(true).open(dir.join(name)).unwrap()
}

/// The last `lines` lines of a log, for failure messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Counts of the database errors the schedule provokes, read from the
/// server log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Provoked {
    pub lock_timeouts: usize,
    pub statement_timeouts: usize,
    pub deadlocks: usize,
}

impl Provoked {
    fn of_log(text: &str) -> Provoked {
        Provoked {
            lock_timeouts: text.matches("canceling statement due to lock timeout").count(),
            statement_timeouts: text.matches("canceling statement due to statement timeout").count(),
            deadlocks: text.matches("ERROR:  deadlock detected").count(),
        }
    }

    fn minus(self, earlier: Provoked) -> Provoked {
        Provoked {
            lock_timeouts: self.lock_timeouts.saturating_sub(earlier.lock_timeouts),
            statement_timeouts: self.statement_timeouts.saturating_sub(earlier.statement_timeouts),
            deadlocks: self.deadlocks.saturating_sub(earlier.deadlocks),
        }
    }

    fn plus(self, other: Provoked) -> Provoked {
        Provoked {
            lock_timeouts: self.lock_timeouts + other.lock_timeouts,
            statement_timeouts: self.statement_timeouts + other.statement_timeouts,
            deadlocks: self.deadlocks + other.deadlocks,
        }
    }
}

/// The running system under test.
pub struct Bed {
    pub dir: tempfile::TempDir,
    cluster: Option<Cluster>,
    cluster_options: ClusterOptions,
    /// The database, as the `postgres` superuser (localbase's `DATABASE_URL`).
    pub db_url: String,
    localbase: Option<Child>,
    localbase_port: u16,
    service_key: String,
    ingest: [Option<Child>; 2],
    pub ingest_urls: [String; 2],
    ingest_ports: [u16; 2],
    /// Provoked errors counted in server logs already replaced by a restart.
    provoked_before_restarts: Provoked,
}

impl Bed {
    /// Starts everything and adds the team. Blocking (call it from
    /// `spawn_blocking` or before a runtime exists).
    pub fn start(options: &Options) -> Bed {
        let dir = tempfile::Builder::new().prefix("bloc-faults-").tempdir().unwrap();
        let cluster_options = ClusterOptions { dir: dir.path().join("pg"), port: None, durable: true };
        let cluster = Cluster::start(&cluster_options).expect("a PostgreSQL 15 cluster starts");
        let cluster_options = ClusterOptions { port: Some(cluster.port()), ..cluster_options };
        let db_url = cluster.url("postgres");
        // Short lock waits and quick deadlock detection for the service's
        // sessions (PostgREST logs in as `postgres` here). The schedule's
        // own sessions override them.
        let mut admin = postgres::Client::connect(&db_url, postgres::NoTls).unwrap();
        admin
            .batch_execute(
                "alter role postgres in database postgres set lock_timeout = '300ms';
                 alter role postgres in database postgres set deadlock_timeout = '100ms';",
            )
            .unwrap();
        drop(admin);
        let mut bed = Bed {
            localbase_port: free_port(),
            ingest_ports: [free_port(), free_port()],
            ingest_urls: [String::new(), String::new()],
            dir,
            cluster: Some(cluster),
            cluster_options,
            db_url,
            localbase: None,
            service_key: String::new(),
            ingest: [None, None],
            provoked_before_restarts: Provoked::default(),
        };
        bed.ingest_urls = bed.ingest_ports.map(|p| format!("http://127.0.0.1:{p}"));
        bed.start_localbase();
        let mut db = postgres::Client::connect(&bed.db_url, postgres::NoTls).unwrap();
        for i in 0..CALLERS {
            db.execute(
                "insert into public.callers (name, assigned_states, daily_lead_limit) values ($1, '{MH,KA}', $2)",
                &[&format!("Caller {i}"), &options.limit],
            )
            .unwrap();
        }
        for instance in 0..2 {
            bed.start_ingest(instance);
        }
        bed
    }

    fn localbase_dir(&self) -> PathBuf {
        self.dir.path().join("localbase")
    }

    fn start_localbase(&mut self) {
        let dir = self.localbase_dir();
        let _ = std::fs::remove_file(dir.join("status.json"));
        let migrations = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../supabase/migrations");
        let child = Command::new(binary("LOCALBASE_BIN", "localbase"))
            .args(["--port", &self.localbase_port.to_string(), "--builtin-migrations", "--migrations"])
            .arg(&migrations)
            .arg("--dir")
            .arg(&dir)
            .env("DATABASE_URL", &self.db_url)
            .env("RUST_LOG", "localbase=info,postrust_server=error,postrust_engine=off,warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file(self.dir.path(), "localbase.log"))
            .stderr(log_file(self.dir.path(), "localbase.log"))
            .spawn()
            .expect("the localbase binary starts");
        self.localbase = Some(child);
        let status = dir.join("status.json");
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(text) = std::fs::read_to_string(&status) {
                if let Ok(value) = serde_json::from_str::<Value>(&text) {
                    self.service_key = value["service_role_key"].as_str().unwrap().to_string();
                    return;
                }
            }
            if let Some(exit) = self.localbase.as_mut().unwrap().try_wait().unwrap() {
                panic!("localbase exited ({exit}):\n{}", tail(&self.dir.path().join("localbase.log"), 40));
            }
            assert!(Instant::now() < deadline, "localbase not up in 90 s:\n{}", tail(&self.dir.path().join("localbase.log"), 40));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn start_ingest(&mut self, instance: usize) {
        let log = format!("ingest-{instance}.log");
        let child = Command::new(binary("BLOC_API_BIN", "bloc-api"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SUPABASE_URL", format!("http://127.0.0.1:{}", self.localbase_port))
            .env("SUPABASE_SERVICE_ROLE_KEY", &self.service_key)
            .env("WEBHOOK_SECRETS", SECRET)
            .env("BIND_ADDR", format!("127.0.0.1:{}", self.ingest_ports[instance]))
            .env("MAINTENANCE_INTERVAL_SECS", "0")
            .env("RPC_TIMEOUT_MS", "3000")
            .env("WORKERS", "2")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log_file(self.dir.path(), &log))
            .stderr(log_file(self.dir.path(), &log))
            .spawn()
            .expect("the bloc-api binary starts");
        self.ingest[instance] = Some(child);
        let url = format!("{}/readyz", self.ingest_urls[instance]);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http_status(&url) == Some(200) {
                return;
            }
            if let Some(exit) = self.ingest[instance].as_mut().unwrap().try_wait().unwrap() {
                panic!("ingest {instance} exited ({exit}):\n{}", tail(&self.dir.path().join(&log), 40));
            }
            assert!(Instant::now() < deadline, "ingest {instance} not ready in 60 s:\n{}", tail(&self.dir.path().join(&log), 40));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `SIGKILL`, then reaps it.
    fn kill(child: &mut Option<Child>) {
        if let Some(mut child) = child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.cluster_options.dir.join("postgres.log")).unwrap_or_default()
    }

    /// Lock timeouts, statement timeouts and deadlocks so far, over every
    /// server log of this run.
    pub fn provoked(&self) -> Provoked {
        self.provoked_before_restarts.plus(Provoked::of_log(&self.server_log()))
    }

    /// PostgreSQL killed as `pg_ctl stop -m immediate` does (`SIGQUIT` to
    /// the postmaster: no checkpoint, crash recovery on start), down for
    /// `down`, then started again on its port.
    fn crash_postgres(&mut self, down: Duration) {
        let pgdata = self.cluster_options.dir.join("pgdata");
        let pid: i32 = std::fs::read_to_string(pgdata.join("postmaster.pid"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGQUIT).unwrap();
        // The postmaster is our child: it stays a zombie until reaped, so
        // wait for its state rather than for the pid to vanish.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !process_exited(pid) {
            assert!(Instant::now() < deadline, "postgres ignored SIGQUIT for 30 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        self.provoked_before_restarts = self.provoked();
        drop(self.cluster.take());
        std::thread::sleep(down);
        self.cluster = Some(Cluster::start(&self.cluster_options).expect("postgres restarts after the crash"));
    }

    fn crash_localbase(&mut self, down: Duration) {
        Bed::kill(&mut self.localbase);
        std::thread::sleep(down);
        self.start_localbase();
    }

    /// Kills ingest `instance` once it has a batch delivery in flight (or
    /// after 20 s without one), then starts it again on its port. Returns
    /// whether a batch was in flight.
    fn crash_ingest(&mut self, instance: usize, down: Duration, history: &History) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut mid_batch = false;
        while Instant::now() < deadline {
            if history.batches_in_flight[instance].load(Ordering::SeqCst) > 0 {
                mid_batch = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Bed::kill(&mut self.ingest[instance]);
        std::thread::sleep(down);
        self.start_ingest(instance);
        mid_batch
    }

    /// Runs the fault schedule while `history`'s senders deliver. Blocking.
    pub fn run_schedule(&mut self, options: &Options, history: &History) -> Vec<PhaseNote> {
        let phase = options.schedule / PHASES.len() as u32;
        let mut notes = Vec::new();
        for (n, name) in PHASES.iter().enumerate() {
            history.phase.store(n, Ordering::SeqCst);
            let before = self.provoked();
            let started = Instant::now();
            let mut note = String::new();
            match *name {
                "steady" => {
                    // A cold stack's first calls can take seconds (pools,
                    // caches, a loaded machine): the faults start only once
                    // the senders have had a 2xx, so each phase meets traffic.
                    let deadline = Instant::now() + Duration::from_secs(120);
                    while !history.answered_once() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
                "lock timeout" => {
                    // The service's sessions wait at most 300 ms for a lock;
                    // this one holds the assignment lock for 1 s at a time.
                    hold_assignment_lock(&self.db_url, phase, Duration::from_millis(1000));
                }
                "deadlock" => {
                    let made = provoke_deadlocks(&self.db_url, phase, self);
                    let _ = write!(note, "{made} side transactions closed a cycle");
                }
                "postgres crash" => {
                    // From the restart on, the service's sessions get a
                    // 500 ms statement timeout and no lock timeout, so the
                    // next phase's waits end as statement timeouts.
                    let mut admin = postgres::Client::connect(&self.db_url, postgres::NoTls).unwrap();
                    admin
                        .batch_execute(
                            "alter role postgres in database postgres set lock_timeout = 0;
                             alter role postgres in database postgres set statement_timeout = '500ms';",
                        )
                        .unwrap();
                    drop(admin);
                    self.crash_postgres(phase / 3);
                    note.push_str("SIGQUIT to the postmaster (as pg_ctl -m immediate), restarted on its port");
                }
                "statement timeout" => {
                    hold_assignment_lock(&self.db_url, phase, Duration::from_millis(1200));
                }
                "localbase crash" => {
                    // Back to no timeouts; localbase's new sessions get them.
                    let mut admin = postgres::Client::connect(&self.db_url, postgres::NoTls).unwrap();
                    admin.batch_execute("alter role postgres in database postgres reset all").unwrap();
                    drop(admin);
                    self.crash_localbase(phase / 3);
                    note.push_str("SIGKILL, restarted on its port");
                }
                "ingest crash" => {
                    let mid_batch = self.crash_ingest(0, phase / 3, history);
                    note.push_str(if mid_batch { "SIGKILL with a batch in flight" } else { "SIGKILL (no batch was in flight)" });
                }
                _ => {}
            }
            if let Some(rest) = phase.checked_sub(started.elapsed()) {
                std::thread::sleep(rest);
            }
            notes.push(PhaseNote { provoked: self.provoked().minus(before), note, seconds: started.elapsed().as_secs_f64() });
        }
        history.schedule_over.store(true, Ordering::SeqCst);
        notes
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        for instance in 0..2 {
            Bed::kill(&mut self.ingest[instance]);
        }
        Bed::kill(&mut self.localbase);
        drop(self.cluster.take());
    }
}

/// Whether process `pid` has exited (gone, or a zombie not yet reaped).
fn process_exited(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// The status of `GET url` (plain HTTP/1.1 on loopback), or `None` when
/// nothing answers within 2 s.
fn http_status(url: &str) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(url.trim_start_matches("http://").split('/').next()?).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let path = format!("/{}", url.trim_start_matches("http://").split_once('/')?.1);
    use std::io::{Read, Write};
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// A side session that overrides the service's short timeouts.
fn side_session(db_url: &str) -> Option<postgres::Client> {
    let mut client = postgres::Client::connect(db_url, postgres::NoTls).ok()?;
    client
        .batch_execute("set lock_timeout = 0; set statement_timeout = 0; set deadlock_timeout = '10s'")
        .ok()?;
    Some(client)
}

/// For `length`: takes the assignment lock, keeps it `hold`, lets go for
/// 200 ms, again. Ingests that wait longer than their lock or statement
/// timeout fail inside the RPC.
fn hold_assignment_lock(db_url: &str, length: Duration, hold: Duration) {
    let end = Instant::now() + length;
    let Some(mut client) = side_session(db_url) else { return };
    while Instant::now() + hold < end {
        let mut tx = client.transaction().unwrap();
        tx.execute(ASSIGNMENT_LOCK, &[]).unwrap();
        std::thread::sleep(hold);
        tx.commit().unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// For `length`: row locks on today's caller loads first, then the
/// assignment lock, the reverse of the engine's order. An ingest that took
/// the assignment lock and waits for a load row closes the cycle; its
/// 100 ms `deadlock_timeout` expires long before this session's 10 s, so the
/// ingest is the one PostgreSQL aborts (40P01). Returns how many side
/// transactions had to wait for the assignment lock (a cycle formed).
fn provoke_deadlocks(db_url: &str, length: Duration, bed: &Bed) -> usize {
    let end = Instant::now() + length;
    let Some(mut client) = side_session(db_url) else { return 0 };
    let mut cycles = 0;
    let before = bed.provoked().deadlocks;
    // Keep going past the phase until at least one deadlock really happened
    // (bounded), so the phase always tests what it names.
    let hard_end = end + length * 2;
    while Instant::now() < end || (bed.provoked().deadlocks == before && Instant::now() < hard_end) {
        let mut tx = client.transaction().unwrap();
        tx.execute("select 1 from public.caller_daily_loads for update", &[]).unwrap();
        std::thread::sleep(Duration::from_millis(40));
        let asked = Instant::now();
        tx.execute(ASSIGNMENT_LOCK, &[]).unwrap();
        if asked.elapsed() > Duration::from_millis(50) {
            cycles += 1;
        }
        tx.commit().unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }
    cycles
}

/// What the schedule did in one phase.
#[derive(Debug, Clone, Default)]
pub struct PhaseNote {
    pub provoked: Provoked,
    pub note: String,
    /// How long the phase lasted (a restart can make it longer than planned).
    pub seconds: f64,
}

// ------------------------------------------------------------------ senders

/// What one HTTP attempt got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Status(u16),
    Timeout,
    Connection,
}

/// One HTTP attempt, with the phase it was sent in.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub phase: usize,
    pub outcome: Outcome,
    /// A repeat of an earlier attempt of the same delivery (not a replay).
    pub retry: bool,
    /// A 503 that said when to come back.
    pub retry_after: bool,
}

/// A final 2xx, as sent: the instance, the status and the body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub instance: usize,
    pub status: u16,
    pub body: Vec<u8>,
    /// Sent again after an earlier 2xx, to the other instance.
    pub replay: bool,
}

/// One delivery: a key, a body (one lead or a batch of five) and what the
/// sender ended with.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub index: usize,
    pub key: String,
    pub body: String,
    /// The leads' phones as stored (E.164).
    pub phones: Vec<String>,
    pub batch: bool,
    /// Sent to both instances at once.
    pub both_at_once: bool,
    /// Sent again to the other instance after its first 2xx.
    pub replayed: bool,
    /// Every 2xx it got (one per lane, plus the replay).
    pub answers: Vec<Answer>,
    /// Any 4xx it got: status and body.
    pub refused: Vec<(u16, String)>,
    /// Some lane gave up after [`GIVE_UP_AFTER`] without a 2xx.
    pub unfinished: bool,
}

/// Delivery `i`'s plan. One in ten is a batch of five leads, one in ten goes
/// to both instances at once, one in four is replayed, and one in ten
/// repeats the phone of delivery `i - 7` under a new key.
fn plan(i: usize) -> Delivery {
    let batch = i % 10 == 3;
    let state = |n: usize| [Some("MH"), Some("KA"), None][n % 3];
    let phone_of = |n: usize| format!("98{:08}", n);
    let leads: Vec<(String, Value)> = if batch {
        (0..5)
            .map(|j| {
                let phone = phone_of(i * 5 + j);
                (phone.clone(), json!({"phone": phone, "state": state(i + j), "name": format!("Lead {i}.{j}"), "source": "faults"}))
            })
            .collect()
    } else {
        let phone = if i % 10 == 7 { phone_of((i - 7) * 5) } else { phone_of(i * 5) };
        vec![(phone.clone(), json!({"phone": phone, "state": state(i), "name": format!("Lead {i}"), "source": "faults"}))]
    };
    let body = if batch {
        Value::Array(leads.iter().map(|(_, l)| l.clone()).collect()).to_string()
    } else {
        leads[0].1.to_string()
    };
    Delivery {
        index: i,
        key: format!("faults-{i}-{}", uuid_like(i)),
        body,
        phones: leads.iter().map(|(p, _)| format!("+91{p}")).collect(),
        batch,
        both_at_once: i % 10 == 5,
        replayed: i % 4 == 1 || i % 20 == 3,
        answers: Vec::new(),
        refused: Vec::new(),
        unfinished: false,
    }
}

/// A key part that differs per run, as Make's execution ids do.
fn uuid_like(i: usize) -> String {
    let run = std::process::id();
    format!("{run:x}-{i:x}")
}

/// Everything the senders saw, and what the schedule shares with them.
pub struct History {
    pub phase: AtomicUsize,
    /// Batch deliveries sent to each instance and not yet answered.
    pub batches_in_flight: [AtomicUsize; 2],
    ingest_urls: [String; 2],
    next: AtomicUsize,
    pub attempts: Mutex<Vec<Attempt>>,
    pub deliveries: Mutex<Vec<Delivery>>,
    /// Set by [`Bed::run_schedule`] at its end: senders stop taking new
    /// deliveries once they have sent `Options::deliveries`.
    pub schedule_over: AtomicBool,
}

impl History {
    pub fn new(ingest_urls: [String; 2]) -> History {
        History {
            phase: AtomicUsize::new(0),
            batches_in_flight: [AtomicUsize::new(0), AtomicUsize::new(0)],
            ingest_urls,
            next: AtomicUsize::new(0),
            attempts: Mutex::new(Vec::new()),
            deliveries: Mutex::new(Vec::new()),
            schedule_over: AtomicBool::new(false),
        }
    }

    /// Whether any attempt got a 2xx yet.
    fn answered_once(&self) -> bool {
        self.attempts.lock().unwrap().iter().any(|a| matches!(a.outcome, Outcome::Status(200..=299)))
    }

    fn record(&self, phase: usize, outcome: Outcome, retry: bool, retry_after: bool) {
        self.attempts.lock().unwrap().push(Attempt { phase, outcome, retry, retry_after });
    }
}

/// How a lane ended.
enum Lane {
    Answered(Answer),
    Refused(u16, String),
    GaveUp,
}

/// One lane of a delivery: sends until a 2xx or a 4xx, retrying everything
/// else with the same key and body after a backoff (100 ms doubling to at
/// most 1 s, with jitter; a `Retry-After` is honoured up to that cap, so the
/// run stays short). `pinned` keeps to one instance; otherwise each retry
/// goes to the other one, as a sender behind a load balancer would.
async fn lane(
    history: &History,
    client: &reqwest::Client,
    delivery: &Delivery,
    first: usize,
    pinned: bool,
    replay: bool,
) -> Lane {
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        let instance = if pinned { first } else { (first + attempt as usize) % 2 };
        let phase = history.phase.load(Ordering::SeqCst);
        if delivery.batch {
            history.batches_in_flight[instance].fetch_add(1, Ordering::SeqCst);
        }
        let sent = client
            .post(format!("{}/api/ingest", history.ingest_urls[instance]))
            .header("Content-Type", "application/json")
            .header("X-Webhook-Secret", SECRET)
            .header("Idempotency-Key", &delivery.key)
            .body(delivery.body.clone())
            .send()
            .await;
        let received = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                response.bytes().await.map(|body| (status, retry_after, body.to_vec()))
            }
            Err(e) => Err(e),
        };
        if delivery.batch {
            history.batches_in_flight[instance].fetch_sub(1, Ordering::SeqCst);
        }
        let retry = attempt > 0;
        let mut wait_hint = None;
        match received {
            Ok((status, retry_after, body)) => {
                history.record(phase, Outcome::Status(status), retry, retry_after.is_some());
                if (200..300).contains(&status) {
                    return Lane::Answered(Answer { instance, status, body, replay });
                }
                if (400..500).contains(&status) {
                    return Lane::Refused(status, String::from_utf8_lossy(&body).into_owned());
                }
                wait_hint = retry_after;
            }
            Err(e) => history.record(phase, if e.is_timeout() { Outcome::Timeout } else { Outcome::Connection }, retry, false),
        }
        if started.elapsed() > GIVE_UP_AFTER {
            return Lane::GaveUp;
        }
        let backoff = Duration::from_millis(100 * 2u64.pow(attempt.min(4))).min(Duration::from_secs(1));
        let hinted = wait_hint.map(Duration::from_secs).unwrap_or_default().min(Duration::from_secs(1));
        let jitter = rand::thread_rng().gen_range(0.5..1.5);
        tokio::time::sleep(backoff.max(hinted).mul_f64(jitter)).await;
        attempt += 1;
    }
}

fn settle(delivery: &mut Delivery, lane: Lane) {
    match lane {
        Lane::Answered(answer) => delivery.answers.push(answer),
        Lane::Refused(status, body) => delivery.refused.push((status, body)),
        Lane::GaveUp => delivery.unfinished = true,
    }
}

/// One sender: takes the next delivery until `options.deliveries` are taken
/// and the schedule is over, pacing itself so that they spread over it.
async fn sender(history: Arc<History>, options: Options, me: usize) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(4)).build().unwrap();
    let pace = options.schedule.mul_f64(options.senders as f64 / options.deliveries.max(1) as f64);
    loop {
        if history.schedule_over.load(Ordering::SeqCst) && history.next.load(Ordering::SeqCst) >= options.deliveries {
            return;
        }
        let i = history.next.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let mut delivery = plan(i);
        let home = (i + me) % 2;
        if delivery.both_at_once {
            let (a, b) = futures::join!(
                lane(&history, &client, &delivery, home, true, false),
                lane(&history, &client, &delivery, 1 - home, true, false)
            );
            settle(&mut delivery, a);
            settle(&mut delivery, b);
        } else {
            let first = lane(&history, &client, &delivery, home, false, false).await;
            settle(&mut delivery, first);
        }
        if delivery.replayed {
            if let Some(first) = delivery.answers.first().map(|a| a.instance) {
                let again = lane(&history, &client, &delivery, 1 - first, true, true).await;
                settle(&mut delivery, again);
            }
        }
        history.deliveries.lock().unwrap().push(delivery);
        if let Some(rest) = pace.checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
}

/// Runs `options.senders` senders to the end.
pub async fn run_senders(history: Arc<History>, options: Options) {
    let senders: Vec<_> =
        (0..options.senders).map(|me| tokio::spawn(sender(history.clone(), options.clone(), me))).collect();
    for s in senders {
        s.await.unwrap();
    }
}

// ------------------------------------------------------------ the history

/// One row of the table: what the senders saw in one phase.
#[derive(Debug, Clone, Default)]
pub struct PhaseRow {
    pub name: &'static str,
    pub requests: usize,
    pub ok: usize,
    pub client_errors: usize,
    pub unavailable: usize,
    pub other_5xx: usize,
    pub timeouts: usize,
    pub connection_errors: usize,
    pub retries: usize,
    pub provoked: Provoked,
    pub note: String,
    pub seconds: f64,
}

/// The history check's result.
#[derive(Debug, Default)]
pub struct Report {
    pub phases: Vec<PhaseRow>,
    pub deliveries: usize,
    pub leads_sent: usize,
    pub leads_stored: usize,
    pub replays_compared: usize,
    pub concurrent_pairs_compared: usize,
    pub overflow: i64,
    pub loads: Vec<i32>,
    /// Each broken guarantee, named, with what broke it; empty when all hold.
    pub violations: Vec<(&'static str, String)>,
}

/// Records that `guarantee` broke, and how.
fn broke(v: &mut Vec<(&'static str, String)>, guarantee: &'static str, how: impl Into<String>) {
    let mut how: String = how.into();
    if how.len() > 600 {
        let mut end = 600;
        while !how.is_char_boundary(end) {
            end -= 1;
        }
        how.truncate(end);
        how.push('…');
    }
    v.push((guarantee, how));
}

/// The lead ids a 2xx body names, with their phones' positions.
fn lead_ids(delivery: &Delivery, answer: &Answer) -> Result<Vec<i64>, String> {
    let value: Value = serde_json::from_slice(&answer.body)
        .map_err(|_| format!("delivery {}: a {} that is not JSON", delivery.index, answer.status))?;
    let items: Vec<&Value> = if delivery.batch {
        if answer.status != 200 {
            return Err(format!("delivery {}: a batch answered {}", delivery.index, answer.status));
        }
        value["results"].as_array().map(|r| r.iter().collect()).unwrap_or_default()
    } else {
        let expected = match value["status"].as_str() {
            Some("assigned") => 201,
            Some("duplicate") => 200,
            Some("unassigned") => 202,
            _ => 0,
        };
        if expected != answer.status {
            return Err(format!("delivery {}: {} with body {value}", delivery.index, answer.status));
        }
        vec![&value]
    };
    if items.len() != delivery.phones.len() {
        return Err(format!("delivery {}: {} results for {} leads: {value}", delivery.index, items.len(), delivery.phones.len()));
    }
    items
        .iter()
        .map(|item| match (item["status"].as_str(), item["lead_id"].as_i64()) {
            (Some("assigned" | "duplicate" | "unassigned"), Some(id)) => Ok(id),
            _ => Err(format!("delivery {}: a valid lead answered {item}", delivery.index)),
        })
        .collect()
}

/// Reads the senders' history and the database, and lists every broken
/// guarantee. Blocking.
pub fn check(bed: &Bed, history: &History, notes: &[PhaseNote], options: &Options) -> Report {
    let mut report = Report::default();
    let attempts = history.attempts.lock().unwrap().clone();
    let deliveries = history.deliveries.lock().unwrap().clone();
    let v = &mut report.violations;

    for (n, name) in PHASES.iter().enumerate() {
        let mut row = PhaseRow { name, ..PhaseRow::default() };
        if let Some(note) = notes.get(n) {
            row.provoked = note.provoked;
            row.note = note.note.clone();
            row.seconds = note.seconds;
        }
        for a in attempts.iter().filter(|a| a.phase == n) {
            row.requests += 1;
            row.retries += usize::from(a.retry);
            match a.outcome {
                Outcome::Status(200..=299) => row.ok += 1,
                Outcome::Status(400..=499) => row.client_errors += 1,
                Outcome::Status(503) => row.unavailable += 1,
                Outcome::Status(_) => row.other_5xx += 1,
                Outcome::Timeout => row.timeouts += 1,
                Outcome::Connection => row.connection_errors += 1,
            }
        }
        report.phases.push(row);
    }
    let without_retry_after = attempts.iter().filter(|a| a.outcome == Outcome::Status(503) && !a.retry_after).count();
    if without_retry_after > 0 {
        broke(v, "a 503 says when to retry", format!("{without_retry_after} answers of 503 carried no Retry-After"));
    }
    let other_5xx: Vec<Outcome> =
        attempts.iter().filter(|a| matches!(a.outcome, Outcome::Status(s) if s >= 500 && s != 503)).map(|a| a.outcome).collect();
    if !other_5xx.is_empty() {
        broke(v, "a transient fault is a 503", format!("{} transient faults answered a 5xx other than 503: {:?}", other_5xx.len(), &other_5xx[..other_5xx.len().min(5)]));
    }

    report.deliveries = deliveries.len();
    if deliveries.len() < options.deliveries || deliveries.len() != history.next.load(Ordering::SeqCst) {
        broke(v, "every delivery is accounted for", format!("{} of {} deliveries were recorded", deliveries.len(), options.deliveries));
    }
    // phone -> every lead id any answer named for it
    let mut answered: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    let mut sent_phones: BTreeSet<String> = BTreeSet::new();
    for d in &deliveries {
        sent_phones.extend(d.phones.iter().cloned());
        for (status, body) in &d.refused {
            broke(v, "no valid lead gets a 4xx", format!("delivery {} (valid leads) was refused {status}: {body}", d.index));
        }
        if d.unfinished {
            broke(v, "every delivery is finished", format!("delivery {} got no 2xx within {} s of retrying", d.index, GIVE_UP_AFTER.as_secs()));
        }
        if let Some(first) = d.answers.first() {
            for other in &d.answers[1..] {
                if other.replay {
                    report.replays_compared += 1;
                } else {
                    report.concurrent_pairs_compared += 1;
                }
                if (other.status, &other.body) != (first.status, &first.body) {
                    broke(v, "a replay gets the first answer byte for byte", format!(
                        "delivery {} (key {}): instance {} answered {} {} but instance {} answered {} {}{}",
                        d.index,
                        d.key,
                        first.instance,
                        first.status,
                        String::from_utf8_lossy(&first.body),
                        other.instance,
                        other.status,
                        String::from_utf8_lossy(&other.body),
                        if other.replay { " to the replay" } else { " at the same time" }
                    ));
                }
            }
        }
        for answer in &d.answers {
            match lead_ids(d, answer) {
                Ok(ids) => {
                    for (phone, id) in d.phones.iter().zip(ids) {
                        answered.entry(phone.clone()).or_default().insert(id);
                    }
                }
                Err(e) => broke(v, "every 2xx names its leads", e),
            }
        }
    }
    report.leads_sent = sent_phones.len();

    let mut db = postgres::Client::connect(&bed.db_url, postgres::NoTls).unwrap();
    let mut stored: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for row in db.query("select id, phone from public.leads", &[]).unwrap() {
        stored.entry(row.get(1)).or_default().push(row.get(0));
    }
    report.leads_stored = stored.values().map(Vec::len).sum();
    for (phone, ids) in &answered {
        if ids.len() != 1 {
            broke(v, "one lead per phone in the answers", format!("{phone}: answers named several leads {ids:?}"));
        }
        match stored.get(phone).map(Vec::as_slice) {
            Some([id]) if ids.contains(id) => {}
            Some([id]) => broke(v, "every 2xx is stored", format!("{phone}: answered as lead {ids:?} but stored as lead {id}")),
            Some(many) => broke(v, "every phone is stored once", format!("{phone}: stored {} times: {many:?}", many.len())),
            None => broke(v, "every 2xx is stored", format!("{phone}: acknowledged as {ids:?} but not stored")),
        }
    }
    // Each answered item's answer is kept in the database with its lead
    // (engine.deliveries), which is what lets any instance replay it.
    let kept: HashMap<String, i64> = db
        .query("select key, count(*) from engine.deliveries group by key", &[])
        .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        .unwrap_or_else(|e| {
            broke(v, "every answer is kept in the database", format!("reading engine.deliveries: {e}"));
            HashMap::new()
        });
    for d in deliveries.iter().filter(|d| !d.answers.is_empty()) {
        let rows = kept.get(&d.key).copied().unwrap_or(0);
        if rows != d.phones.len() as i64 {
            broke(v, "every answer is kept in the database", format!("delivery {} (key {}): {rows} rows in engine.deliveries for {} items", d.index, d.key, d.phones.len()));
        }
    }
    for (phone, ids) in &stored {
        if !sent_phones.contains(phone) {
            broke(v, "nothing is stored that was not sent", format!("{phone}: stored as {ids:?} but never sent"));
        }
    }

    engine_invariants(&mut db, options, &mut report);
    report
}

/// The routing rule's invariants after the run, as tests/engine/06_concurrency.rs
/// checks them after a clean one: every lead assigned once and logged once,
/// loads equal to the log, no limit exceeded outside overflow, overflow only
/// once everyone was full, equal loads (to one) for equal callers, and each
/// logged decision made on the loads of every decision before it.
fn engine_invariants(db: &mut postgres::Client, options: &Options, report: &mut Report) {
    let scalar = |db: &mut postgres::Client, sql: &str| -> i64 { db.query_one(sql, &[]).unwrap().get(0) };
    let v = &mut report.violations;
    let leads = scalar(db, "select count(*) from public.leads");
    let zero_checks = [
        ("select count(*) from public.leads where caller_id is null or status <> 'new'", "leads left unassigned while callers were eligible"),
        (
            "select count(*) from public.leads l where (select count(*) from public.assignment_logs g where g.lead_id = l.id) <> 1",
            "leads without exactly one assignment log row",
        ),
        (
            "select count(*) from public.leads l join public.assignment_logs g on g.lead_id = l.id where g.caller_id <> l.caller_id",
            "log rows naming another caller than the lead's",
        ),
        (
            "select count(*) from public.caller_daily_loads d
              where d.assigned <> (select count(*) from public.assignment_logs g where g.caller_id = d.caller_id)",
            "daily loads that differ from the log",
        ),
        (
            "select count(*) from (select g.caller_id from public.assignment_logs g join public.callers c on c.id = g.caller_id
              where g.tier in (1, 2) group by g.caller_id, c.daily_lead_limit having count(*) > c.daily_lead_limit) o",
            "callers over daily_lead_limit outside recorded overflow",
        ),
    ];
    for (sql, what) in zero_checks {
        match db.query_one(sql, &[]) {
            Ok(row) => {
                let n: i64 = row.get(0);
                if n != 0 {
                    broke(v, "the routing invariants hold", format!("{n} {what}"));
                }
            }
            Err(e) => broke(v, "the routing invariants hold", format!("checking {what}: {e}")),
        }
    }
    let log_rows = scalar(db, "select count(*) from public.assignment_logs");
    if log_rows != leads {
        broke(v, "the routing invariants hold", format!("{log_rows} assignment log rows for {leads} leads"));
    }
    report.loads = db
        .query("select (select coalesce(sum(assigned), 0)::int from public.caller_daily_loads d where d.caller_id = c.id) from public.callers c order by c.id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let spread = report.loads.iter().max().unwrap_or(&0) - report.loads.iter().min().unwrap_or(&0);
    if spread > 1 {
        broke(v, "fairness: equal callers within one lead", format!("equal callers' loads differ by more than one: {:?}", report.loads));
    }
    report.overflow = scalar(db, "select count(*) from public.assignment_logs where tier = 4");
    let expected_overflow = (leads - (CALLERS as i64 * i64::from(options.limit))).max(0);
    if report.overflow != expected_overflow {
        broke(v, "the cap: overflow only once everyone is full", format!("{} overflow assignments for {leads} leads and {} places: overflow before everyone was full", report.overflow, CALLERS as i64 * i64::from(options.limit)));
    }
    log_replay(db, v);
}

/// Replays the assignment log in decision order: each decision's candidate
/// snapshot must equal the loads all earlier decisions produced, and the
/// chosen caller must be the rule's best (as 06_concurrency.rs does).
fn log_replay(db: &mut postgres::Client, v: &mut Vec<(&'static str, String)>) {
    let rows = db
        .query(
            "select g.caller_id, g.tier, g.candidates, l.state from public.assignment_logs g
               join public.leads l on l.id = g.lead_id order by g.id",
            &[],
        )
        .unwrap();
    let callers: HashMap<i64, (Vec<String>, i32, i32)> = db
        .query("select id, assigned_states, daily_lead_limit, weight from public.callers", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    let mut loads: BTreeMap<i64, i64> = BTreeMap::new();
    for (n, row) in rows.iter().enumerate() {
        let chosen: i64 = row.get(0);
        let tier: Option<i32> = row.get(1);
        let candidates: Value = row.get(2);
        let state: Option<String> = row.get(3);
        let snapshot: Vec<(i64, i64)> = candidates
            .as_array()
            .map(|c| c.iter().map(|c| (c["caller_id"].as_i64().unwrap_or(0), c["assigned_today"].as_i64().unwrap_or(-1))).collect())
            .unwrap_or_default();
        for &(id, seen) in &snapshot {
            let expected = *loads.get(&id).unwrap_or(&0);
            if seen != expected {
                broke(v, "each decision sees every decision before it", format!("decision {n}: saw caller {id} at load {seen}, earlier decisions made it {expected}"));
                return;
            }
        }
        let tier_of = |id: i64, load: i64| {
            let (states, limit, _) = &callers[&id];
            if load >= i64::from(*limit) {
                4
            } else if state.as_ref().is_some_and(|s| states.contains(s)) {
                1
            } else {
                2
            }
        };
        let key = |id: i64, load: i64| {
            let t = tier_of(id, load);
            (t, if t == 4 { load as f64 } else { load as f64 / f64::from(callers[&id].2) })
        };
        let Some(best) = snapshot.iter().map(|&(id, load)| key(id, load)).min_by(|a, b| a.partial_cmp(b).unwrap()) else {
            broke(v, "each decision sees every decision before it", format!("decision {n}: no candidates logged"));
            return;
        };
        let chosen_key = key(chosen, *loads.get(&chosen).unwrap_or(&0));
        if Some(best.0) != tier || chosen_key.0 != best.0 || (chosen_key.1 - best.1).abs() > 1e-9 {
            broke(v, "each decision sees every decision before it", format!("decision {n}: chose caller {chosen} {chosen_key:?} (tier {tier:?}) over the best {best:?}"));
            return;
        }
        *loads.entry(chosen).or_insert(0) += 1;
    }
}

impl Report {
    /// The table the example prints and the docs quote.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| phase | s | requests | 2xx | 4xx | 503 | other 5xx | timeouts | conn. errors | retries | lock timeouts | statement timeouts | deadlocks | fault |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        for r in &self.phases {
            let _ = writeln!(
                out,
                "| {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.name,
                r.seconds,
                r.requests,
                r.ok,
                r.client_errors,
                r.unavailable,
                r.other_5xx,
                r.timeouts,
                r.connection_errors,
                r.retries,
                r.provoked.lock_timeouts,
                r.provoked.statement_timeouts,
                r.provoked.deadlocks,
                r.note
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "deliveries {}, leads sent {}, leads stored {}, replays compared {}, concurrent pairs compared {}, overflow {}, loads {:?}",
            self.deliveries,
            self.leads_sent,
            self.leads_stored,
            self.replays_compared,
            self.concurrent_pairs_compared,
            self.overflow,
            self.loads
        );
        if self.violations.is_empty() {
            let _ = writeln!(out, "guarantees: all hold");
        } else {
            let mut by_guarantee: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (guarantee, how) in &self.violations {
                by_guarantee.entry(guarantee).or_default().push(how);
            }
            let _ = writeln!(out, "guarantees: {} broken, {} times in all", by_guarantee.len(), self.violations.len());
            for (guarantee, hows) in by_guarantee {
                let _ = writeln!(out, "  BROKEN {guarantee} ({} times), e.g.:", hows.len());
                for how in hows.iter().take(3) {
                    let _ = writeln!(out, "    - {how}");
                }
            }
        }
        out
    }
}
