//! Change capture: a logical replication slot decoded by wal2json and
//! streamed over the replication protocol.
//!
//! The slot is temporary, so PostgreSQL drops it whenever its session ends,
//! even if localbase is killed. It is named after the backend that owns it;
//! permanent slots of ours whose backend is gone (left by older versions) are
//! dropped at start.
//!
//! Why a stream and not `pg_logical_slot_get_changes` polls: every call of
//! that function builds a new decoding context and decodes all WAL from the
//! slot's `restart_lsn` again, only to skip what was already confirmed. On
//! PostgreSQL 15 `restart_lsn` moves only when decoding passes a
//! running-transactions record (every 15 s, or at a checkpoint), so under a
//! steady write load each 10 ms poll re-decoded up to 15 s of WAL: 2.3–3.4 ms
//! of CPU per lead for a slow writer (docs/benchmarks.md, issue 14). A
//! walsender (`START_REPLICATION … LOGICAL`) keeps one decoding context for
//! the session and decodes each WAL record once, as Supabase's own Realtime
//! and `pg_recvlogical` do.
//!
//! tokio-postgres cannot speak the replication sub-protocol (copy-both), so
//! [`Conn`] is a small client of its own over `postgres-protocol`: startup
//! with `replication=database`, password or SCRAM login, simple queries, and
//! the copy-both stream of `XLogData` and keepalive messages.
//!
//! Delivery: wal2json writes a `B` line, the changes, then a `C` line whose
//! position is the end of the commit record. The reader hands the poller
//! whole transactions only, in commit order, and reports that position as
//! flushed, so the slot can release WAL.
//!
//! The reader does not parse the changes: it reads each line's action from
//! its first bytes and hands the lines on as they came ([`ChangeLine`]). The
//! poller parses them only when someone subscribes, and then only those of
//! the publication's tables. Parsing every line into values took most of
//! localbase's CPU under a write load with no subscriber (a profile of the
//! ingest benchmark, docs/benchmarks.md, issue 14), CPU that the writers on
//! the same machine then lacked.
//!
//! The stream carries every table's changes, and the poller keeps those of
//! the publication's tables (re-read every second). wal2json's `add-tables`
//! would narrow it at the source, but its options are fixed when streaming
//! starts, and PostgreSQL 15 cannot start a second logical stream in the same
//! session (the walsender keeps its "copy done" flags from the first one and
//! ends the new stream at once), while a temporary slot cannot move to
//! another session. Tables outside the publication cost their decoding and
//! one JSON line per change, which a poll paid too.

use std::time::Duration;

use bytes::{Buf, BytesMut};
use postgres_protocol::authentication::sasl;
use postgres_protocol::message::frontend;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use super::binding::ChangeKind;
use super::catalog::quote_literal;

/// Every slot of ours starts with this.
pub const SLOT_PREFIX: &str = "localbase_realtime_";

/// The most changes one batch gathers before it is dispatched (a larger
/// transaction still comes whole).
const MAX_CHANGES_PER_BATCH: usize = 2000;
/// Whole transactions read ahead of the poller; beyond this the reader stops
/// reading and the walsender waits (TCP back-pressure).
const QUEUED_TRANSACTIONS: usize = 1024;
/// How often the flushed position is reported without being asked.
const STATUS_EVERY: Duration = Duration::from_secs(1);
/// How long a clean stop (end the stream, drop the slot) may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// One column of a wal2json `columns` or `identity` list.
#[derive(Debug, Clone, Deserialize)]
pub struct RawColumn {
    pub name: String,
    #[serde(default)]
    pub typeoid: u32,
    #[serde(default)]
    pub value: Value,
}

/// One wal2json format-version 2 line.
#[derive(Debug, Clone, Deserialize)]
pub struct RawChange {
    pub action: String,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub schema: String,
    #[serde(default)]
    pub table: String,
    #[serde(default)]
    pub columns: Vec<RawColumn>,
    #[serde(default)]
    pub identity: Vec<RawColumn>,
}

/// One wal2json line of a change, as it came off the stream: parsed only
/// if someone may want it.
pub struct ChangeLine(Vec<u8>);

/// The part of a line that says which table it is about.
#[derive(Deserialize)]
struct LineTable {
    #[serde(default)]
    schema: String,
    #[serde(default)]
    table: String,
}

/// Just a line's action.
#[derive(Deserialize)]
struct LineAction {
    action: String,
}

impl ChangeLine {
    /// The line parsed whole, if it is about a table `wanted(schema, table)`
    /// accepts (the other fields are skipped unparsed until then).
    pub fn parse_if(&self, wanted: impl Fn(&str, &str) -> bool) -> Option<RawChange> {
        let about = match serde_json::from_slice::<LineTable>(&self.0) {
            Ok(about) => about,
            Err(e) => {
                tracing::warn!(error = %e, "skipping an unreadable wal2json line");
                return None;
            }
        };
        if !wanted(&about.schema, &about.table) {
            return None;
        }
        serde_json::from_slice::<RawChange>(&self.0)
            .inspect_err(|e| tracing::warn!(error = %e, "skipping an unreadable wal2json line"))
            .ok()
    }
}

/// A line's action (`B`, `C`, `I`, …): wal2json's format-version 2 writes it
/// first, so it is read from the line's start; a line written otherwise is
/// parsed for it.
fn action_of(line: &[u8]) -> Option<String> {
    const START: &[u8] = b"{\"action\":\"";
    if let Some([action, b'"', ..]) = line.strip_prefix(START) {
        if action.is_ascii_alphabetic() {
            return Some(char::from(*action).to_string());
        }
    }
    serde_json::from_slice::<LineAction>(line).ok().map(|l| l.action)
}

impl RawChange {
    /// The change kind, or `None` for lines we do not forward (truncate, messages).
    pub fn kind(&self) -> Option<ChangeKind> {
        match self.action.as_str() {
            "I" => Some(ChangeKind::Insert),
            "U" => Some(ChangeKind::Update),
            "D" => Some(ChangeKind::Delete),
            _ => None,
        }
    }

    /// `commit_timestamp` as Supabase writes it: `2026-11-19T00:22:40.877Z`.
    pub fn commit_timestamp(&self) -> String {
        let raw = self.timestamp.as_deref().unwrap_or("");
        ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%#z"]
            .iter()
            .find_map(|fmt| chrono::DateTime::parse_from_str(raw, fmt).ok())
            .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
    }
}

/// What the reader hands the poller: a committed transaction's changes, or
/// why the stream ended.
type Item = Result<Vec<ChangeLine>, String>;

/// The slot, streamed by a reader task that owns its session.
pub struct Slot {
    pub name: String,
    rx: mpsc::Receiver<Item>,
    stop: Option<oneshot::Sender<()>>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Slot {
    /// Opens a replication session, drops our stale slots on this database,
    /// creates a fresh temporary slot and starts streaming it. Changes
    /// committed after this returns are delivered.
    pub async fn create(url: &str) -> anyhow::Result<Slot> {
        let mut conn = Conn::connect(url).await?;
        let level = conn.simple("show wal_level").await?;
        let level = level.first().and_then(|r| r.first().cloned().flatten()).unwrap_or_default();
        anyhow::ensure!(
            level == "logical",
            "Realtime needs wal_level=logical, but the database has wal_level={level}"
        );
        let pid = conn.simple("select pg_backend_pid()").await?;
        let pid = pid.first().and_then(|r| r.first().cloned().flatten()).unwrap_or_default();
        drop_stale_slots(&mut conn).await?;
        let name = format!("{SLOT_PREFIX}{pid}_{:08x}", rand::random::<u32>());
        let created = conn
            .simple(&format!("CREATE_REPLICATION_SLOT {name} TEMPORARY LOGICAL wal2json (SNAPSHOT 'nothing')"))
            .await
            .map_err(|e| anyhow::anyhow!("creating the wal2json replication slot failed (is postgresql-15-wal2json installed?): {e}"))?;
        let consistent = created.first().and_then(|r| r.get(1).cloned().flatten()).unwrap_or_default();
        let from = parse_lsn(&consistent).ok_or_else(|| anyhow::anyhow!("the new slot has no position: {consistent:?}"))?;
        conn.start(&name, from).await?;

        let (tx, rx) = mpsc::channel(QUEUED_TRANSACTIONS);
        let (stop, stop_rx) = oneshot::channel();
        let reader = Reader { conn, name: name.clone(), received: from, reported: 0, open: None, tx };
        let reader = tokio::spawn(reader.run(stop_rx));
        Ok(Slot { name, rx, stop: Some(stop), reader: Some(reader) })
    }

    /// Waits up to `wait` for committed changes, then takes every whole
    /// transaction already read (about [`MAX_CHANGES_PER_BATCH`] changes at
    /// most), in commit order. An empty list means nothing came in time; an
    /// error means the session is gone (and with it the slot).
    pub async fn next_batch(&mut self, wait: Duration) -> anyhow::Result<Vec<ChangeLine>> {
        let first = match tokio::time::timeout(wait, self.rx.recv()).await {
            Err(_) => return Ok(Vec::new()),
            Ok(None) => anyhow::bail!("the realtime replication stream ended"),
            Ok(Some(item)) => item.map_err(anyhow::Error::msg)?,
        };
        let mut changes = first;
        while changes.len() < MAX_CHANGES_PER_BATCH {
            match self.rx.try_recv() {
                Ok(Ok(more)) => changes.extend(more),
                Ok(Err(e)) => {
                    // Deliver what was read; the next call reports the end.
                    tracing::warn!(error = %e, "the realtime replication stream failed");
                    break;
                }
                Err(_) => break,
            }
        }
        Ok(changes)
    }

    /// Ends the stream and drops the slot, so the database stops keeping WAL
    /// for it. Falls back to closing the session (which drops a temporary
    /// slot too) if the clean way takes too long.
    pub async fn close(mut self) {
        self.rx.close();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(reader) = self.reader.take() {
            if tokio::time::timeout(STOP_TIMEOUT, reader).await.is_err() {
                tracing::warn!(slot = %self.name, "the realtime slot did not stop in time; closing its session");
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            reader.abort();
        }
    }
}

/// The task that owns the replication session: reads wal2json lines,
/// gathers them into transactions, answers keepalives and reports progress.
struct Reader {
    conn: Conn,
    name: String,
    /// The position read up to: the end of the last commit read, or the
    /// server's position when it said so between transactions.
    received: u64,
    /// The position last reported as flushed.
    reported: u64,
    /// The transaction being read, between its `B` and `C` lines.
    open: Option<Vec<ChangeLine>>,
    tx: mpsc::Sender<Item>,
}

impl Reader {
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut status = tokio::time::interval(STATUS_EVERY);
        status.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let outcome: anyhow::Result<()> = async {
            loop {
                tokio::select! {
                    message = self.conn.read() => {
                        let (tag, body) = message?;
                        if !self.handle(tag, &body).await? {
                            return Ok(());
                        }
                    }
                    _ = status.tick() => {
                        if self.received > self.reported {
                            self.report().await?;
                        }
                    }
                    _ = &mut stop => return Ok(()),
                }
            }
        }
        .await;
        match outcome {
            Ok(()) => {
                let name = self.name.clone();
                let clean = async {
                    self.conn.end_copy().await?;
                    self.conn.simple(&format!("DROP_REPLICATION_SLOT {name}")).await?;
                    self.conn.terminate().await
                };
                if let Err(e) = clean.await {
                    tracing::debug!(slot = %name, error = %e, "realtime slot not dropped cleanly; its session ends instead");
                }
            }
            Err(e) => {
                let _ = self.tx.send(Err(e.to_string())).await;
            }
        }
    }

    /// Handles one message of the copy-both stream. `Ok(false)` means no one
    /// is reading any more: stop cleanly.
    async fn handle(&mut self, tag: u8, body: &[u8]) -> anyhow::Result<bool> {
        match tag {
            b'd' if body.first() == Some(&b'w') && body.len() >= 25 => {
                let lsn = u64::from_be_bytes(body[1..9].try_into().unwrap_or_default());
                let line = &body[25..];
                let Some(action) = action_of(line) else {
                    tracing::warn!("skipping a wal2json line without an action");
                    return Ok(true);
                };
                match action.as_str() {
                    "B" => self.open = Some(Vec::new()),
                    "C" => {
                        self.received = self.received.max(lsn);
                        let changes = self.open.take().unwrap_or_default();
                        if !changes.is_empty() && self.tx.send(Ok(changes)).await.is_err() {
                            return Ok(false);
                        }
                    }
                    // Lines outside a transaction (non-transactional messages) are not changes.
                    _ => {
                        if let Some(open) = self.open.as_mut() {
                            open.push(ChangeLine(line.to_vec()));
                        }
                    }
                }
            }
            b'd' if body.first() == Some(&b'k') && body.len() >= 18 => {
                let server_end = u64::from_be_bytes(body[1..9].try_into().unwrap_or_default());
                // Between transactions, everything before the server's
                // position has been read: a transaction still running there
                // commits later and would be decoded whole again.
                if self.open.is_none() {
                    self.received = self.received.max(server_end);
                }
                if body[17] != 0 {
                    self.report().await?;
                }
            }
            b'd' => {}
            b'E' => anyhow::bail!("the replication stream failed: {}", error_text(body)),
            b'c' => anyhow::bail!("the server ended the replication stream"),
            _ => {}
        }
        Ok(true)
    }

    /// Sends a standby status update: everything up to `received` is written,
    /// flushed and applied. (The slot is temporary, so nothing outlives the
    /// session that could need an earlier position.)
    async fn report(&mut self) -> anyhow::Result<()> {
        let micros_since_2000 = (chrono::Utc::now().timestamp_micros() - 946_684_800_000_000).max(0);
        let mut body = Vec::with_capacity(34);
        body.push(b'r');
        for _ in 0..3 {
            body.extend_from_slice(&self.received.to_be_bytes());
        }
        body.extend_from_slice(&micros_since_2000.to_be_bytes());
        body.push(0);
        let mut buf = BytesMut::new();
        frontend::CopyData::new(&body[..])?.write(&mut buf);
        self.conn.send(&buf).await?;
        self.reported = self.received;
        Ok(())
    }
}

/// Drops slots of ours on this database whose owning backend is gone (a
/// localbase that was killed). The backend pid is part of the slot name.
async fn drop_stale_slots(conn: &mut Conn) -> anyhow::Result<()> {
    let rows = conn
        .simple(&format!(
            "select slot_name::text from pg_replication_slots
             where starts_with(slot_name::text, {}) and database = current_database() and not active",
            quote_literal(SLOT_PREFIX)
        ))
        .await?;
    let live: Vec<i32> = conn
        .simple("select pid from pg_stat_activity where pid is not null")
        .await?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten()?.parse().ok())
        .collect();
    for row in rows {
        let Some(name) = row.into_iter().next().flatten() else { continue };
        let owner = name[SLOT_PREFIX.len()..].split('_').next().and_then(|p| p.parse::<i32>().ok());
        if owner.is_some_and(|pid| !live.contains(&pid)) {
            tracing::info!(slot = %name, "dropping a stale realtime replication slot");
            // Another localbase may race us to it; that is fine.
            let _ = conn.simple(&format!("select pg_drop_replication_slot({})", quote_literal(&name))).await;
        }
    }
    Ok(())
}

/// `X/Y` (hex) as PostgreSQL writes a WAL position.
fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

fn format_lsn(lsn: u64) -> String {
    format!("{:X}/{:X}", lsn >> 32, lsn & 0xffff_ffff)
}

/// The `M` (message) and `C` (code) fields of an ErrorResponse.
fn error_text(body: &[u8]) -> String {
    let mut message = String::new();
    let mut code = String::new();
    for field in body.split(|b| *b == 0) {
        match field.split_first() {
            Some((b'M', text)) => message = String::from_utf8_lossy(text).into_owned(),
            Some((b'C', text)) => code = String::from_utf8_lossy(text).into_owned(),
            _ => {}
        }
    }
    format!("{message} ({code})")
}

/// A session in logical replication mode (`replication=database`): plain
/// SQL and replication commands by simple query, then a copy-both stream.
struct Conn {
    rd: Box<dyn AsyncRead + Send + Unpin>,
    wr: Box<dyn AsyncWrite + Send + Unpin>,
    buf: BytesMut,
}

impl Conn {
    /// Connects and logs in. The startup parameters fix how wal2json writes
    /// values (dates in ISO, UTC), as the session settings did for polls.
    async fn connect(url: &str) -> anyhow::Result<Conn> {
        let config: tokio_postgres::Config = url.parse()?;
        let user = config.get_user().ok_or_else(|| anyhow::anyhow!("the database URL names no user"))?.to_owned();
        let dbname = config.get_dbname().unwrap_or(&user).to_owned();
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let (rd, wr): (Box<dyn AsyncRead + Send + Unpin>, Box<dyn AsyncWrite + Send + Unpin>) =
            match config.get_hosts().first() {
                #[cfg(unix)]
                Some(tokio_postgres::config::Host::Unix(dir)) => {
                    let path = dir.join(format!(".s.PGSQL.{port}"));
                    let (r, w) = tokio::net::UnixStream::connect(path).await?.into_split();
                    (Box::new(r), Box::new(w))
                }
                Some(tokio_postgres::config::Host::Tcp(host)) => {
                    let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
                    stream.set_nodelay(true)?;
                    let (r, w) = stream.into_split();
                    (Box::new(r), Box::new(w))
                }
                _ => anyhow::bail!("the database URL names no host realtime can reach"),
            };
        let mut conn = Conn { rd, wr, buf: BytesMut::with_capacity(64 * 1024) };
        let mut out = BytesMut::new();
        frontend::startup_message(
            [
                ("user", user.as_str()),
                ("database", dbname.as_str()),
                ("replication", "database"),
                ("application_name", "localbase realtime wal"),
                ("client_encoding", "UTF8"),
                ("standard_conforming_strings", "on"),
                ("TimeZone", "UTC"),
                ("DateStyle", "ISO, MDY"),
                ("IntervalStyle", "postgres"),
            ],
            &mut out,
        )?;
        conn.send(&out).await?;
        conn.login(&user, config.get_password().unwrap_or_default()).await?;
        Ok(conn)
    }

    async fn login(&mut self, user: &str, password: &[u8]) -> anyhow::Result<()> {
        let mut scram: Option<sasl::ScramSha256> = None;
        loop {
            let (tag, body) = self.read().await?;
            let mut out = BytesMut::new();
            match tag {
                b'R' => {
                    let mut b = &body[..];
                    anyhow::ensure!(b.len() >= 4, "a short authentication message");
                    match b.get_i32() {
                        0 => {}
                        3 => {
                            frontend::password_message(password, &mut out)?;
                            self.send(&out).await?;
                        }
                        5 => {
                            anyhow::ensure!(b.len() >= 4, "a short MD5 request");
                            let salt = [b[0], b[1], b[2], b[3]];
                            let hash = postgres_protocol::authentication::md5_hash(user.as_bytes(), password, salt);
                            frontend::password_message(hash.as_bytes(), &mut out)?;
                            self.send(&out).await?;
                        }
                        10 => {
                            let offers_scram = b.split(|c| *c == 0).any(|m| m == sasl::SCRAM_SHA_256.as_bytes());
                            anyhow::ensure!(offers_scram, "the server offers no SASL mechanism realtime supports");
                            let s = sasl::ScramSha256::new(password, sasl::ChannelBinding::unsupported());
                            frontend::sasl_initial_response(sasl::SCRAM_SHA_256, s.message(), &mut out)?;
                            self.send(&out).await?;
                            scram = Some(s);
                        }
                        11 => {
                            let s = scram.as_mut().ok_or_else(|| anyhow::anyhow!("SASL continue without a start"))?;
                            s.update(b)?;
                            frontend::sasl_response(s.message(), &mut out)?;
                            self.send(&out).await?;
                        }
                        12 => {
                            let s = scram.as_mut().ok_or_else(|| anyhow::anyhow!("SASL final without a start"))?;
                            s.finish(b)?;
                        }
                        other => anyhow::bail!("unsupported authentication request {other}"),
                    }
                }
                b'E' => anyhow::bail!("{}", error_text(&body)),
                b'Z' => return Ok(()),
                _ => {}
            }
        }
    }

    /// Runs one simple query; returns its rows as text.
    async fn simple(&mut self, sql: &str) -> anyhow::Result<Vec<Vec<Option<String>>>> {
        let mut out = BytesMut::new();
        frontend::query(sql, &mut out)?;
        self.send(&out).await?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let (tag, body) = self.read().await?;
            match tag {
                b'D' => rows.push(data_row(&body)?),
                b'E' => error = Some(error_text(&body)),
                b'Z' => break,
                _ => {}
            }
        }
        match error {
            Some(e) => anyhow::bail!(e),
            None => Ok(rows),
        }
    }

    /// Starts streaming the slot from `from` with wal2json's options.
    async fn start(&mut self, slot: &str, from: u64) -> anyhow::Result<()> {
        let command = format!(
            "START_REPLICATION SLOT {slot} LOGICAL {} (\"format-version\" '2', \"include-pk\" 'true', \
             \"include-timestamp\" 'true', \"include-type-oids\" 'true', \"include-transaction\" 'true')",
            format_lsn(from)
        );
        let mut out = BytesMut::new();
        frontend::query(&command, &mut out)?;
        self.send(&out).await?;
        loop {
            let (tag, body) = self.read().await?;
            match tag {
                b'W' => return Ok(()),
                b'E' => anyhow::bail!("starting the realtime replication stream failed: {}", error_text(&body)),
                _ => {}
            }
        }
    }

    /// Ends the copy-both stream and waits until the session is ready for a
    /// command again (to drop the slot). Data still in flight is dropped.
    async fn end_copy(&mut self) -> anyhow::Result<()> {
        let mut out = BytesMut::new();
        frontend::copy_done(&mut out);
        self.send(&out).await?;
        loop {
            let (tag, body) = self.read().await?;
            match tag {
                b'Z' => return Ok(()),
                b'E' => anyhow::bail!("ending the realtime replication stream failed: {}", error_text(&body)),
                _ => {}
            }
        }
    }

    async fn terminate(&mut self) -> anyhow::Result<()> {
        let mut out = BytesMut::new();
        frontend::terminate(&mut out);
        self.send(&out).await?;
        self.wr.shutdown().await?;
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.wr.write_all(bytes).await?;
        self.wr.flush().await
    }

    /// Reads one backend message: its tag and body. Cancel-safe: a message
    /// is taken from the buffer only once it is whole.
    async fn read(&mut self) -> anyhow::Result<(u8, Vec<u8>)> {
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
                anyhow::ensure!(len >= 4, "a malformed message from the database");
                if self.buf.len() > len {
                    let tag = self.buf[0];
                    self.buf.advance(5);
                    let body = self.buf.split_to(len - 4).to_vec();
                    return Ok((tag, body));
                }
                self.buf.reserve(len + 1 - self.buf.len());
            }
            if self.rd.read_buf(&mut self.buf).await? == 0 {
                anyhow::bail!("the database closed the realtime replication session");
            }
        }
    }
}

/// The columns of a DataRow as text (`None` for null).
fn data_row(body: &[u8]) -> anyhow::Result<Vec<Option<String>>> {
    let mut b = body;
    anyhow::ensure!(b.len() >= 2, "a short data row");
    let count = b.get_i16();
    let mut row = Vec::with_capacity(count.max(0) as usize);
    for _ in 0..count {
        anyhow::ensure!(b.len() >= 4, "a short data row");
        let len = b.get_i32();
        if len < 0 {
            row.push(None);
        } else {
            let len = len as usize;
            anyhow::ensure!(b.len() >= len, "a short data row");
            row.push(Some(String::from_utf8_lossy(&b[..len]).into_owned()));
            b.advance(len);
        }
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_timestamps_are_utc_with_milliseconds() {
        let c: RawChange = serde_json::from_str(
            r#"{"action":"I","timestamp":"2026-11-25 22:51:08.556509+05:30","schema":"public","table":"t"}"#,
        )
        .unwrap();
        assert_eq!(c.commit_timestamp(), "2026-11-25T17:21:08.556Z");
    }

    #[test]
    fn wal_positions_read_and_write_as_postgresql_does() {
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert_eq!(format_lsn(0x16_B374_D848), "16/B374D848");
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("nonsense"), None);
    }

    #[test]
    fn data_rows_and_errors_are_read_from_their_wire_form() {
        let mut row = vec![0, 2, 0, 0, 0, 2, b'o', b'k', 0xff, 0xff, 0xff, 0xff];
        assert_eq!(data_row(&row).unwrap(), vec![Some("ok".to_owned()), None]);
        row.truncate(7);
        assert!(data_row(&row).is_err());
        let error = b"SERROR\0C42704\0Mreplication slot \"x\" does not exist\0\0";
        assert_eq!(error_text(error), r#"replication slot "x" does not exist (42704)"#);
    }

    #[test]
    fn a_lines_action_is_read_from_its_start_or_else_parsed() {
        assert_eq!(action_of(br#"{"action":"B"}"#).as_deref(), Some("B"));
        assert_eq!(action_of(br#"{"action":"I","schema":"public","table":"t","columns":[]}"#).as_deref(), Some("I"));
        assert_eq!(action_of(br#"{ "table": "t", "action": "U" }"#).as_deref(), Some("U"));
        assert_eq!(action_of(br#"{"action":"#), None);
        assert_eq!(action_of(b"not json"), None);
    }

    #[test]
    fn a_line_is_parsed_whole_only_for_a_wanted_table() {
        let line = ChangeLine(
            br#"{"action":"I","schema":"public","table":"leads","columns":[{"name":"id","typeoid":20,"value":7}]}"#.to_vec(),
        );
        assert!(line.parse_if(|_, table| table == "callers").is_none());
        let change = line.parse_if(|schema, table| schema == "public" && table == "leads").unwrap();
        assert_eq!((change.action.as_str(), change.columns.len()), ("I", 1));
        assert_eq!(change.columns[0].value, serde_json::json!(7));
        assert!(ChangeLine(b"{broken".to_vec()).parse_if(|_, _| true).is_none());
    }

    #[test]
    fn truncates_and_messages_are_not_changes() {
        let c: RawChange = serde_json::from_str(r#"{"action":"T","schema":"public","table":"t"}"#).unwrap();
        assert_eq!(c.kind(), None);
    }
}
