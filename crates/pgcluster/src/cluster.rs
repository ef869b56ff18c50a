use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, User};

use crate::binaries::ensure_pg_cron;
use crate::pg_bin_dir;

/// Where and how to run a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Folder holding `pgdata/` and `postgres.log`. Created when missing.
    pub dir: PathBuf,
    /// TCP port on 127.0.0.1; `None` picks a free one.
    pub port: Option<u16>,
    /// `fsync` and `synchronous_commit` on. Benchmarks and `localbase` keep
    /// them on; throwaway test clusters turn them off to save time.
    pub durable: bool,
}

/// Whether a cluster's server runs pg_cron, the scheduler Supabase ships,
/// which runs the engine's sweeps inside the database (see the migration
/// `…001600_sweeps_on_pg_cron.sql` and docs/engine.md, "Sweeps").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheduler {
    /// pg_cron is preloaded and reads its jobs from the `postgres` database,
    /// as on Supabase. That is where localbase applies the migrations, so
    /// they create the extension and schedule the sweeps there. In any other
    /// database (every test database made with `create database`) the
    /// migration skips scheduling with a NOTICE.
    PgCron,
    /// A plain PostgreSQL without pg_cron, like a server that lacks the
    /// library: the migration skips scheduling with a NOTICE.
    Absent,
}

/// A running PostgreSQL server that this process started and will stop.
///
/// Dropping it shuts the server down (fast shutdown), so tests and
/// `localbase` never leave an orphan postmaster behind.
///
/// It listens on 127.0.0.1 only and never trusts a TCP login: `pg_hba.conf`
/// is rewritten on every start to ask for a SCRAM-SHA-256 password. The
/// `postgres` superuser's password is generated once per data folder and kept
/// in `pgdata/pgcluster.password` (0600, inside the 0700 data folder), and
/// [`Cluster::url`] carries it, so every client that takes a URL (tokio-postgres,
/// sqlx, the postgres crate, psql, `supabase db push --db-url`) logs in as before.
/// Throwaway clusters share the password of the cached template they copy.
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    password: String,
    child: Option<Child>,
    _temp: Option<tempfile::TempDir>,
}

impl Cluster {
    /// Starts (and on first use initialises) the cluster described by `opts`,
    /// with pg_cron preloaded ([`Scheduler::PgCron`]).
    pub fn start(opts: &ClusterOptions) -> anyhow::Result<Self> {
        Self::start_with(opts, Scheduler::PgCron)
    }

    /// Like [`Cluster::start`], choosing whether pg_cron runs.
    pub fn start_with(opts: &ClusterOptions, scheduler: Scheduler) -> anyhow::Result<Self> {
        let bin = pg_bin_dir()?;
        if scheduler == Scheduler::PgCron {
            ensure_pg_cron(&bin)?;
        }
        let owner = cluster_owner()?;
        fs::create_dir_all(&opts.dir)
            .with_context(|| format!("creating {}", opts.dir.display()))?;
        let pgdata = opts.dir.join("pgdata");
        if !pgdata.join("PG_VERSION").exists() {
            init_data_dir(&bin, &pgdata, owner.as_ref())?;
        }
        write_hba(&pgdata)?;
        if let Some(user) = &owner {
            chown_tree(&opts.dir, user)?;
        }
        fs::set_permissions(&pgdata, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        stop_leftover_postmaster(&pgdata)?;
        let password = match read_password(&pgdata)? {
            Some(password) => password,
            None => set_new_password(&bin, &pgdata, owner.as_ref())?,
        };
        let port = match opts.port {
            Some(p) => p,
            None => free_port()?,
        };
        let log_path = opts.dir.join("postgres.log");
        let log = fs::File::create(&log_path)?;
        let mut cmd = Command::new(bin.join("postgres"));
        cmd.arg("-D").arg(&pgdata).arg("-p").arg(port.to_string());
        for setting in server_settings(opts.durable, scheduler) {
            cmd.arg("-c").arg(setting);
        }
        cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        if let Some(user) = &owner {
            cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        let child = cmd.spawn().context("spawning postgres")?;
        let mut cluster = Cluster { dir: opts.dir.clone(), port, password, child: Some(child), _temp: None };
        cluster.wait_until_ready(&log_path)?;
        Ok(cluster)
    }

    /// Starts a throwaway cluster in a fresh temp dir, removed on drop, with
    /// pg_cron preloaded ([`Scheduler::PgCron`]).
    /// The data folder is copied from a cached `initdb` template, so this
    /// takes well under a second after the first call on a machine.
    pub fn temporary() -> anyhow::Result<Self> {
        Self::temporary_with(Scheduler::PgCron)
    }

    /// Like [`Cluster::temporary`], choosing whether pg_cron runs.
    pub fn temporary_with(scheduler: Scheduler) -> anyhow::Result<Self> {
        let temp = tempfile::Builder::new().prefix("bloc-pg-").tempdir()?;
        let template = cached_template()?;
        copy_tree(&template, &temp.path().join("pgdata"))?;
        let options = ClusterOptions { dir: temp.path().to_path_buf(), port: None, durable: false };
        let mut cluster = Cluster::start_with(&options, scheduler)?;
        cluster._temp = Some(temp);
        Ok(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of database `db` as the `postgres` superuser, with its password.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres:{}@127.0.0.1:{}/{db}", self.password, self.port)
    }

    /// The `postgres` superuser's password (letters and digits only, so it
    /// needs no escaping in a URL).
    pub fn password(&self) -> &str {
        &self.password
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Fast shutdown; waits for the postmaster to exit. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = kill(pid, Signal::SIGQUIT);
        let _ = child.wait();
    }

    fn wait_until_ready(&mut self, log_path: &Path) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = self.url("postgres");
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!(
                        "postgres exited with {status} while starting; its log says:\n{}",
                        tail(log_path)
                    );
                }
            }
            if postgres::Client::connect(&url, postgres::NoTls).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                bail!("postgres did not accept connections within 60 s; log:\n{}", tail(log_path));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where a data folder keeps its superuser's password.
const PASSWORD_FILE: &str = "pgcluster.password";

/// Password logins over TCP on loopback, for every database and user, and
/// nothing else: no `trust` line, and no Unix socket (see [`server_settings`]).
const HBA_CONF: &str = "\
# Written by pgcluster on every start. Logins need the password in pgcluster.password.
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
";

fn write_hba(pgdata: &Path) -> anyhow::Result<()> {
    let path = pgdata.join("pg_hba.conf");
    fs::write(&path, HBA_CONF).with_context(|| format!("writing {}", path.display()))
}

fn read_password(pgdata: &Path) -> anyhow::Result<Option<String>> {
    let path = pgdata.join(PASSWORD_FILE);
    match fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(Some(text.trim().to_string())),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Gives the `postgres` role a fresh random password (PostgreSQL 15 stores it
/// as a SCRAM-SHA-256 verifier) through a single-user backend, which needs no
/// login, then keeps it in the data folder. The server must not be running.
fn set_new_password(bin: &Path, pgdata: &Path, owner: Option<&User>) -> anyhow::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let password = random_password()?;
    let mut cmd = Command::new(bin.join("postgres"));
    cmd.arg("--single")
        .arg("-D")
        .arg(pgdata)
        .args(["-F", "-c", "exit_on_error=true", "-c", "password_encryption=scram-sha-256", "postgres"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(user) = owner {
        cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    let mut child = cmd.spawn().context("starting a single-user postgres to set the password")?;
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "alter role postgres password '{password}';")?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "setting the postgres password failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let path = pgdata.join(PASSWORD_FILE);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(password.as_bytes())?;
    if let Some(user) = owner {
        nix::unistd::chown(&path, Some(user.uid), Some(user.gid))?;
    }
    Ok(password)
}

/// 32 letters and digits from the kernel's random source.
fn random_password() -> anyhow::Result<String> {
    use std::io::Read;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 64];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    // 248 = 4 * 62: rejecting larger bytes keeps every letter equally likely.
    let password: String = bytes
        .iter()
        .filter(|b| **b < 248)
        .take(32)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    anyhow::ensure!(password.len() == 32, "the random source gave too few usable bytes");
    Ok(password)
}

/// Every setting is passed on the command line at each start, never written
/// into the data folder, so a data folder (localbase's, or the cached test
/// template) made before a setting changed cannot carry a stale one.
fn server_settings(durable: bool, scheduler: Scheduler) -> Vec<String> {
    let on_off = if durable { "on" } else { "off" };
    let mut settings = vec![
        "listen_addresses=127.0.0.1".into(),
        "unix_socket_directories=".into(),
        "wal_level=logical".into(),
        "max_replication_slots=32".into(),
        "max_wal_senders=16".into(),
        "max_connections=400".into(),
        "timezone=UTC".into(),
        format!("fsync={on_off}"),
        format!("synchronous_commit={on_off}"),
        format!("full_page_writes={on_off}"),
    ];
    if scheduler == Scheduler::PgCron {
        settings.extend([
            "shared_preload_libraries=pg_cron".into(),
            "cron.database_name=postgres".into(),
            // A job runs in a background worker of the server instead of a
            // libpq login: this server has no Unix socket and asks every TCP
            // login for a password, which pg_cron would not have.
            "cron.use_background_workers=on".into(),
            // The scheduler and up to 5 concurrent jobs (pg_cron's cap is
            // this less one) next to logical replication and parallel query.
            "max_worker_processes=16".into(),
        ]);
    }
    settings
}

/// `initdb` and `postgres` refuse to run as root, so as root the cluster is
/// owned and run by the `postgres` user.
fn cluster_owner() -> anyhow::Result<Option<User>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match User::from_name("postgres")? {
        Some(user) => Ok(Some(user)),
        None => bail!(
            "running as root needs an unprivileged `postgres` user to own the cluster; \
             install Debian's postgresql-15 package or run as a normal user"
        ),
    }
}

fn init_data_dir(bin: &Path, pgdata: &Path, owner: Option<&User>) -> anyhow::Result<()> {
    let staging = pgdata.with_extension("initdb");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging)?;
    if let Some(user) = owner {
        chown_tree(staging.parent().unwrap_or(Path::new("/")), user)?;
    }
    let mut cmd = Command::new(bin.join("initdb"));
    cmd.arg("-D")
        .arg(&staging)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        .stdin(Stdio::null());
    if let Some(user) = owner {
        cmd.uid(user.uid.as_raw()).gid(user.gid.as_raw());
    }
    let out = cmd.output().context("running initdb")?;
    if !out.status.success() {
        bail!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    fs::rename(&staging, pgdata)?;
    Ok(())
}

/// A postmaster left running by a killed earlier run holds the data folder;
/// stop it so this run can start cleanly on the same data.
fn stop_leftover_postmaster(pgdata: &Path) -> anyhow::Result<()> {
    let Ok(pidfile) = fs::read_to_string(pgdata.join("postmaster.pid")) else { return Ok(()) };
    let Some(pid) = pidfile.lines().next().and_then(|l| l.trim().parse::<i32>().ok()) else {
        return Ok(());
    };
    let pid = Pid::from_raw(pid);
    let cmdline = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if !cmdline.contains("postgres") {
        return Ok(());
    }
    let _ = kill(pid, Signal::SIGINT);
    let deadline = Instant::now() + Duration::from_secs(15);
    while kill(pid, None).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn chown_tree(path: &Path, user: &User) -> anyhow::Result<()> {
    nix::unistd::chown(path, Some(user.uid), Some(user.gid))
        .with_context(|| format!("chown {}", path.display()))?;
    if path.is_dir() {
        for entry in fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_type()?.is_symlink() {
                continue;
            }
            chown_tree(&entry.path(), user)?;
        }
    }
    Ok(())
}

/// An `initdb`-ed data folder, with its superuser password set, kept in the
/// temp dir and copied for each throwaway cluster. Built in a staging folder
/// and renamed into place, so concurrent test processes never see a
/// half-made template.
fn cached_template() -> anyhow::Result<PathBuf> {
    let root = std::env::temp_dir().join("bloc-pg-template-15-scram");
    let done = root.join("pgdata");
    if done.join(PASSWORD_FILE).exists() {
        return Ok(done);
    }
    let bin = pg_bin_dir()?;
    let owner = cluster_owner()?;
    let staging = tempfile::Builder::new().prefix("bloc-pg-template-").tempdir()?;
    let pgdata = staging.path().join("pgdata");
    if let Some(user) = &owner {
        chown_tree(staging.path(), user)?;
    }
    init_data_dir(&bin, &pgdata, owner.as_ref())?;
    set_new_password(&bin, &pgdata, owner.as_ref())?;
    fs::create_dir_all(&root)?;
    match fs::rename(&pgdata, &done) {
        Ok(()) => {}
        Err(_) if done.join(PASSWORD_FILE).exists() => {}
        Err(e) => return Err(e.into()),
    }
    Ok(done)
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
