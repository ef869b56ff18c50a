//! The processes `up` starts, and stopping every one of them.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Children started by this process, stopped in reverse order.
#[derive(Default)]
pub struct Supervisor {
    children: Vec<(String, Child)>,
}

impl Supervisor {
    /// Starts `cmd` in a process group of its own, so a Ctrl-C reaches only
    /// this supervisor, which then stops the children in order. Output goes to
    /// `log`.
    pub fn spawn(&mut self, name: &str, cmd: &mut Command, log: &Path) -> anyhow::Result<()> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        self.children.push((name.to_string(), child));
        Ok(())
    }

    /// Fails if a child has exited, naming it and pointing at its log.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        for (name, child) in &mut self.children {
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited ({status}); see its log under .localbase/logs/");
            }
        }
        Ok(())
    }

    /// SIGINT to each child, newest first; SIGKILL after 20 s.
    pub fn stop_all(&mut self) {
        while let Some((name, mut child)) = self.children.pop() {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        eprintln!("{name} did not stop in 20 s; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Polls `url` until it answers 2xx or `timeout` passes.
pub fn wait_http_ok(url: &str, headers: &[(&str, &str)], timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut req = ureq::get(url).timeout(Duration::from_secs(2));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        if req.call().is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not answer within {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Fails with a clear message when something already listens on `port`.
pub fn ensure_port_free(port: u16, what: &str) -> anyhow::Result<()> {
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        bail!("port {port} (for {what}) is already in use; stop whatever holds it (an earlier `cargo xtask up`?)");
    }
    Ok(())
}
