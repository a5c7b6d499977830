//! A private `redis-server` child process on a free loopback port, without
//! persistence: what `liveroom serve` runs when `LIVEROOM_REDIS_URL` is unset, and
//! what the test harness starts for each test. The child is killed when this value
//! is dropped, and (Linux) when the parent dies, so none outlives its owner.
//!
//! The tests' other topologies (Redis Cluster, Sentinel) are built from this child
//! by the `liveroom-testkit` workspace crate (`testkit/`), not shipped here.
//!
//! The parent-death signal is tied to the *thread* that started the child: start
//! these from the thread that owns them (a test's thread), not from a short-lived
//! helper thread, or the children die with that thread.

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server` child.
pub struct RedisChild {
    child: Child,
    port: u16,
    /// Killed and reaped by us: the pid may be reused, so no more signals.
    killed: bool,
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl RedisChild {
    /// Starts `redis-server` (from `PATH`) on a free port without persistence, with
    /// extra `args` (later options win), and waits until it answers `PING` (≤ 10 s).
    pub fn start(args: &[&str]) -> Result<Self, String> {
        let mut all = vec!["--appendonly", "no"];
        all.extend_from_slice(args);
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port().map_err(|e| format!("no free port: {e}"))?;
            match Self::start_on_port(port, &all) {
                Ok(child) => return Ok(child),
                Err(e) if e.starts_with("cannot start") => return Err(e),
                Err(e) => last_err = e, // port taken in between: try another
            }
        }
        Err(last_err)
    }

    /// Starts `redis-server` on a given `port` (e.g. to restart one in place, with
    /// `--dir` and `--appendonly yes` in `args` to keep its data), waiting for `PING`.
    pub fn start_on_port(port: u16, args: &[&str]) -> Result<Self, String> {
        Self::spawn(None, port, args)
    }

    /// Starts `redis-server <config_file> --port <port> … <args>` and waits until it
    /// answers `PING` (≤ 10 s). The command line after the file is the same as for
    /// [`start_on_port`](Self::start_on_port) (loopback, no RDB snapshots, log level
    /// `warning`), so options in `args` win over both the file and those defaults.
    ///
    /// Needed for sentinels (`args` = `["--sentinel"]`), which rewrite their
    /// configuration file: it must exist and be writable. Errors: `cannot start …`
    /// when `redis-server` cannot be run; otherwise the server exited at start-up
    /// (e.g. the port is taken, or a bad option) or did not answer within 10 s.
    pub fn start_with_config(port: u16, config_file: &Path, args: &[&str]) -> Result<Self, String> {
        Self::spawn(Some(config_file), port, args)
    }

    fn spawn(config_file: Option<&Path>, port: u16, args: &[&str]) -> Result<Self, String> {
        let mut cmd = Command::new("redis-server");
        if let Some(file) = config_file {
            cmd.arg(file);
        }
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--loglevel", "warning", "--daemonize", "no"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().map_err(|e| {
            format!(
                "cannot start redis-server ({e}); install it (apt-get install redis-server) or set LIVEROOM_REDIS_URL"
            )
        })?;
        let mut this = Self {
            child,
            port,
            killed: false,
        };
        this.wait_ready(Duration::from_secs(10))?;
        Ok(this)
    }

    /// Sends a signal to the server (e.g. `SIGSTOP` / `SIGCONT` to stall it). Does
    /// nothing once [`kill`](Self::kill) has reaped it.
    pub fn signal(&self, signal: i32) {
        if self.killed {
            return;
        }
        // SAFETY: kill(2) on our own child's pid, not yet reaped (so not reused).
        unsafe {
            libc::kill(self.child.id() as i32, signal);
        }
    }

    /// Kills the server with `SIGKILL` (no shutdown, like `kill -9`) and waits for it
    /// to exit. Idempotent; also what dropping does.
    pub fn kill(&mut self) {
        if !self.killed {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.killed = true;
        }
    }

    /// Whether [`kill`](Self::kill) has been called.
    pub fn is_killed(&self) -> bool {
        self.killed
    }

    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        use std::io::Write;
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("redis-server exited at start-up: {status}"));
            }
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 64];
                if s.write_all(b"PING\r\n").is_ok()
                    && matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
                {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("redis-server did not answer PING within 10 s".into())
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisChild {
    fn drop(&mut self) {
        self.kill();
    }
}
