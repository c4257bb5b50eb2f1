//! Starting, measuring and stopping the servers under test, each a child
//! process pinned to the server core: the release `wshub` binary, the
//! simple design (this bench binary re-run with `--yardstick-server`), and
//! the tokio yardstick (`benches/tokio-yardstick`, built by the full run);
//! and the `redis-server` that several wshub nodes share topics through.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::ClientConfig;

use crate::tls::BenchCert;
use crate::util;

/// Children alive now, for the watchdog to kill.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Kills every server still running (watchdog, fatal error).
pub fn kill_all() {
    let pids = CHILDREN.lock().map(|v| v.clone()).unwrap_or_default();
    for pid in pids {
        // SAFETY: kill has no memory effects.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

/// Ends the whole run if it lasts longer than `limit`: a hung scenario
/// must never hang CI.
pub fn watchdog(limit: Duration) {
    std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || {
            std::thread::sleep(limit);
            eprintln!("load: watchdog: the run took over {limit:?}; killing the servers");
            kill_all();
            std::process::exit(3);
        })
        .expect("watchdog thread");
}

/// Where and how the servers are started.
pub struct Launcher {
    pub wshub: PathBuf,
    pub self_exe: PathBuf,
    pub use_taskset: bool,
    pub cpu: Option<usize>,
    pub log_dir: PathBuf,
    /// Read timeout of the simple design's broadcast connections.
    pub simple_timeout_ms: u64,
    /// The tokio yardstick's binary, when built.
    pub tokio: Option<PathBuf>,
    /// An earlier wshub build to measure beside this one
    /// (`WSHUB_BENCH_BEFORE`).
    pub before: Option<PathBuf>,
}

/// A running server.
pub struct ServerProc {
    pub name: &'static str,
    pub pid: u32,
    pub addr: SocketAddr,
    /// Whether it runs a thread per connection (the tokio yardstick does not).
    pub thread_per_connection: bool,
    /// For a wshub serving wss:// (`Launcher::wshub_tls`): the client
    /// configuration that trusts its certificate. The scenarios connect
    /// over TLS when it is set.
    pub tls: Option<Arc<ClientConfig>>,
    child: Option<Child>,
    log: PathBuf,
}

/// How a server ended.
pub struct Stopped {
    /// Time from SIGTERM to exit; `None` if it had to be killed.
    pub exit_after: Option<Duration>,
    /// Warning and error lines of its log.
    pub warnings: Vec<String>,
}

impl Launcher {
    pub fn wshub(&self, mode: &str, extra: &[&str], tag: &str) -> Result<ServerProc, String> {
        let mut args = vec!["--addr", "127.0.0.1:0", "--mode", mode];
        args.extend_from_slice(extra);
        self.spawn("wshub", &self.wshub.clone(), &args, tag)
    }

    /// wshub serving https:// and wss:// with `cert`'s files; the scenarios
    /// reach it over TLS.
    pub fn wshub_tls(
        &self,
        mode: &str,
        extra: &[&str],
        cert: &BenchCert,
        tag: &str,
    ) -> Result<ServerProc, String> {
        let (cert_file, key_file) = (cert.cert.to_string_lossy(), cert.key.to_string_lossy());
        let mut args = vec!["--addr", "127.0.0.1:0", "--mode", mode];
        args.extend_from_slice(&["--tls-cert", &cert_file, "--tls-key", &key_file]);
        args.extend_from_slice(extra);
        let mut server = self.spawn("wshub-tls", &self.wshub.clone(), &args, tag)?;
        server.tls = Some(Arc::clone(&cert.client));
        Ok(server)
    }

    pub fn simple(&self, mode: &str, tag: &str) -> Result<ServerProc, String> {
        let timeout = self.simple_timeout_ms.to_string();
        let args = [
            "--yardstick-server",
            "--mode",
            mode,
            "--read-timeout-ms",
            &timeout,
        ];
        self.spawn("simple", &self.self_exe.clone(), &args, tag)
    }

    /// The tokio yardstick, or `None` when it was not built.
    pub fn tokio(&self, mode: &str, tag: &str) -> Result<Option<ServerProc>, String> {
        let Some(program) = self.tokio.clone() else {
            return Ok(None);
        };
        self.spawn("tokio", &program, &["--mode", mode], tag)
            .map(Some)
    }

    /// The earlier wshub build, when one was named, with the same flags.
    pub fn before(
        &self,
        mode: &str,
        extra: &[&str],
        tag: &str,
    ) -> Result<Option<ServerProc>, String> {
        let Some(program) = self.before.clone() else {
            return Ok(None);
        };
        let mut args = vec!["--addr", "127.0.0.1:0", "--mode", mode];
        args.extend_from_slice(extra);
        self.spawn("before", &program, &args, tag).map(Some)
    }

    /// A `redis-server` for nodes that share topics (`wshub --redis`), on
    /// a free loopback port, with no persistence, pinned like the servers;
    /// it answers PING when this returns. Stopping or dropping it ends it.
    pub fn redis(&self, tag: &str) -> Result<ServerProc, String> {
        // The port is free when asked; redis-server takes it a moment
        // later (nothing else here races for loopback ports).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free port for redis-server: {e}"))?
            .port();
        let port_arg = port.to_string();
        let args = [
            "--port",
            &port_arg,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--loglevel",
            "warning",
        ];
        let log = self.log_dir.join(format!("redis-{tag}.log"));
        let log_file = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let out = log_file
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = self
            .command(Path::new("redis-server"), &args)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| {
                format!("starting redis-server: {e} (`bash tests/setup/redis.sh` installs it)")
            })?;
        let mut server = ServerProc::new("redis", child, log);
        server.addr = SocketAddr::from(([127, 0, 0, 1], port));
        server.thread_per_connection = false;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis_answers(server.addr) {
            if Instant::now() >= deadline {
                let log = server.stop().warnings;
                return Err(format!(
                    "redis-server on port {port} did not answer PING within 10 s; log: {log:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// A command that runs `program` pinned to the server CPU, dying with
    /// the generator.
    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = match self.cpu {
            Some(cpu) if self.use_taskset => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(program);
                c
            }
            _ => Command::new(program),
        };
        cmd.args(args).env("RUST_LOG", "warn").stdin(Stdio::null());
        let pin = if self.use_taskset { None } else { self.cpu };
        // SAFETY: the closure only makes async-signal-safe system calls.
        unsafe {
            cmd.pre_exec(move || {
                // The server dies with the generator, however it ends.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if let Some(cpu) = pin {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(cpu, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                }
                Ok(())
            });
        }
        cmd
    }

    fn spawn(
        &self,
        name: &'static str,
        program: &Path,
        args: &[&str],
        tag: &str,
    ) -> Result<ServerProc, String> {
        let log = self.log_dir.join(format!("{name}-{tag}.log"));
        let log_file = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = self
            .command(program, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .map_err(|e| format!("starting {}: {e}", program.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = tx.send(line);
            // Keep the pipe drained and open until the server exits.
            let _ = r.read_to_end(&mut Vec::new());
        });
        let mut server = ServerProc::new(name, child, log);
        server.thread_per_connection = name != "tokio";
        let line = rx.recv_timeout(Duration::from_secs(15)).unwrap_or_default();
        // `... listening on http://ADDR/ ...`, or https:// with TLS.
        let addr = line
            .split("://")
            .nth(1)
            .and_then(|s| s.split('/').next())
            .and_then(|s| s.parse::<SocketAddr>().ok());
        match addr {
            Some(a) => server.addr = a,
            None => {
                let exited = server
                    .child
                    .as_mut()
                    .and_then(|c| c.try_wait().ok().flatten());
                let why = match (exited, line.is_empty()) {
                    (Some(status), true) => format!("{name} ended ({status}) printing no address"),
                    (None, true) => format!("{name} printed no address within 15 s"),
                    _ => format!("{name}: unexpected first line {:?}", line.trim_end()),
                };
                let log = server.log.clone();
                drop(server.stop());
                // Its last words (a refused flag, say), warnings or not.
                let text = fs::read_to_string(&log).unwrap_or_default();
                let last: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                let last = &last[last.len().saturating_sub(3)..];
                return Err(format!("{why}; log: {last:?}"));
            }
        }
        Ok(server)
    }
}

/// Whether a Redis server at `addr` answers PING now.
fn redis_answers(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

impl ServerProc {
    /// A started child, known to the watchdog from now on.
    fn new(name: &'static str, child: Child, log: PathBuf) -> ServerProc {
        let pid = child.id();
        if let Ok(mut v) = CHILDREN.lock() {
            v.push(pid);
        }
        ServerProc {
            name,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            thread_per_connection: true,
            tls: None,
            child: Some(child),
            log,
        }
    }

    pub fn rss(&self) -> u64 {
        util::rss_bytes(self.pid).unwrap_or(0)
    }

    pub fn threads(&self) -> u64 {
        util::threads(self.pid).unwrap_or(0)
    }

    /// The inodes of the sockets it holds: connections it has not closed.
    pub fn sockets(&self) -> HashSet<u64> {
        util::socket_inodes(self.pid).unwrap_or_default()
    }

    pub fn cpu(&self) -> Duration {
        util::proc_cpu(self.pid).unwrap_or_default()
    }

    /// SIGTERM, then up to 10 s for a graceful exit, then SIGKILL.
    pub fn stop(mut self) -> Stopped {
        let exit_after = self.terminate();
        let mut warnings = Vec::new();
        if let Ok(text) = fs::read_to_string(&self.log) {
            for line in text.lines() {
                if line.contains("WARN") || line.contains("ERROR") || line.contains("panicked") {
                    warnings.push(line.to_string());
                }
            }
        }
        Stopped {
            exit_after,
            warnings,
        }
    }

    fn terminate(&mut self) -> Option<Duration> {
        let mut child = self.child.take()?;
        let started = Instant::now();
        // SAFETY: kill has no memory effects.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let mut exited = None;
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.try_wait() {
                exited = Some(started.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if exited.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Ok(mut v) = CHILDREN.lock() {
            v.retain(|&p| p != self.pid);
        }
        exited
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if let Ok(mut v) = CHILDREN.lock() {
                v.retain(|&p| p != self.pid);
            }
        }
    }
}
