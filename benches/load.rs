//! `make bench`: a load generator for wshub, run with
//! `cargo bench --bench load` (a few minutes) or
//! `cargo bench --bench load -- --smoke` (a few seconds, for CI).
//!
//! It starts the release `wshub` binary and, beside it, two yardsticks,
//! each pinned to the first CPU while the generator runs on the second:
//!
//! - "simple": a plain tungstenite thread-per-connection server with a
//!   4 KiB read buffer (`load/yardstick.rs`, this same binary re-run with
//!   `--yardstick-server`);
//! - "tokio": a tokio-tungstenite server, a task per connection on tokio's
//!   multi-threaded runtime (`benches/tokio-yardstick`, a crate of its own
//!   that the wshub crate never builds). The full run builds it with
//!   `cargo build --release --manifest-path benches/tokio-yardstick/Cargo.toml
//!   --target-dir target/tokio-yardstick`; if that fails it runs without
//!   it and says so. The smoke test never builds or runs it.
//!
//! It prints one line per scenario with wshub's figures, each yardstick's,
//! and wshub's ratio to each (`ratio 0.98x simple, 1.31x tokio`):
//!
//! - start: RSS of a fresh server, size of the wshub binary;
//! - echo: 1, 64 and 256 clients in closed loop, 32-byte messages, with
//!   the round trip's p50 and p99 for each server;
//! - fan-out: one publisher and 100 or 1,000 subscribers in broadcast mode,
//!   64-byte messages, at most 64 in flight (and 1,000 for 100
//!   subscribers, where throughput rather than latency decides); loss and
//!   reordering must be zero;
//! - idle: 1,000 and 10,000 idle connections: RSS per connection, threads,
//!   CPU while idle;
//! - connect: 32 clients connecting, upgrading and closing in a loop;
//!
//! and for wshub alone:
//!
//! - tls: echo (1, 64, 256 clients), fan-out (100 and 1,000 subscribers)
//!   and idle (1,000 and 10,000 connections: RSS per connection) with
//!   wshub serving wss://, each beside wshub serving ws:// in the same
//!   scenario, and the ratio tls/plain (`load/tls.rs`; the yardsticks
//!   speak no TLS);
//! - topics: in broadcast mode with topics (`/ws?topic=NAME`), fan-out to
//!   1,000 subscribers spread over 10 topics (100 each, a publisher each,
//!   publishing at once) beside 1,000 on one topic (one publisher), with
//!   the same deliveries: each set's deliveries/s and latency, and the
//!   ratio ten topics / one; nothing may be lost or reordered, and a
//!   message of another topic is an error (`load/topics.rs`);
//! - hostile (not in the smoke test): 40 clients each sending
//!   one 15 MiB message in 1 MiB fragments and never reading, in echo mode
//!   with the default flags and with `--max-message 16M`; then, in
//!   broadcast mode, 10 subscribers that never read and 4 publishers
//!   sending 4 messages of 4 MiB. Each shows the server's peak RSS, a
//!   normal client's round trips meanwhile, and how the server ended the
//!   hostile connections, within 20 s.
//!
//! `WSHUB_BENCH_BIN=PATH` measures that wshub binary instead of this
//! tree's release build; `WSHUB_BENCH_BEFORE=PATH` measures that one too,
//! in echo, fan-out and connect, in turn with the others, and adds its
//! column and the ratio now/before (before/after figures from one run).
//!
//! Options (after `--`): `--smoke`; `--only start,echo,fanout,idle,connect,tls,topics,hostile`;
//! `--window N` (the small fan-out window, default 64);
//! `--simple-timeout-ms N` (the simple broadcast's read timeout, default 10);
//! `--queue N` (wshub's `--queue` in fan-out; by default one that holds
//! the window, so that no client is closed as too slow);
//! `--hostile-args "ARGS"` (more wshub flags for the hostile runs,
//! appended to the server's command line, e.g. `"--memory 64M"`).
//! Server logs go to `target/bench-logs/`. The exit status is non-zero if
//! any run saw an error, a lost or reordered message (a yardstick's only
//! in the smoke test: in the full run they are notes).

#[path = "load/hostile.rs"]
mod hostile;
#[path = "load/scenarios.rs"]
mod scenarios;
#[path = "load/server.rs"]
mod server;
#[path = "load/tls.rs"]
mod tls;
#[path = "load/topics.rs"]
mod topics;
#[path = "load/util.rs"]
mod util;
#[path = "load/ws.rs"]
mod ws;
#[path = "load/yardstick.rs"]
mod yardstick;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use scenarios::{Idle, Plan, Run};
use server::{Launcher, ServerProc};
use util::{commas, median, ms, size};

struct Opts {
    smoke: bool,
    only: Option<Vec<String>>,
    window: usize,
    simple_timeout_ms: u64,
    /// wshub's --queue in fan-out, instead of one that fits the window.
    queue: Option<usize>,
    /// More wshub flags for the hostile runs.
    hostile_args: Vec<String>,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut o = Opts {
            smoke: false,
            only: None,
            window: 64,
            simple_timeout_ms: 10,
            queue: None,
            hostile_args: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match a.as_str() {
                "--smoke" => o.smoke = true,
                "--only" => {
                    o.only = Some(value(a)?.split(',').map(str::to_string).collect());
                }
                "--window" => {
                    o.window = value(a)?
                        .parse()
                        .ok()
                        .filter(|w| *w > 0)
                        .ok_or("--window wants a positive number")?;
                }
                "--simple-timeout-ms" => {
                    o.simple_timeout_ms = value(a)?
                        .parse()
                        .ok()
                        .filter(|w| *w > 0)
                        .ok_or("--simple-timeout-ms wants a positive number")?;
                }
                "--queue" => {
                    o.queue = Some(
                        value(a)?
                            .parse()
                            .ok()
                            .filter(|w| *w > 0)
                            .ok_or("--queue wants a positive number")?,
                    );
                }
                "--hostile-args" => {
                    o.hostile_args = value(a)?.split_whitespace().map(str::to_string).collect();
                }
                // What `cargo bench` passes to every bench.
                "--bench" => {}
                other if other.starts_with('-') => return Err(format!("unknown option {other}")),
                // A name filter from `cargo bench NAME`: not used here.
                _ => {}
            }
        }
        Ok(o)
    }

    fn wants(&self, scenario: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|v| v.iter().any(|s| s == scenario))
    }
}

/// The run's state: how servers start, and what went wrong so far.
struct Suite {
    opts: Opts,
    launcher: Launcher,
    wshub_size: u64,
    failures: Vec<String>,
    notes: Vec<String>,
    /// Lines to print under the current scenario's line.
    pending: Vec<String>,
    /// The CPUs the servers and the generator run on.
    cpus: Vec<usize>,
}

const LABEL: usize = 22;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--yardstick-server") {
        util::raise_fd_limit();
        return yardstick::main(&args);
    }
    let opts = match Opts::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::from(2);
        }
    };
    // `cargo test --all-targets` runs bench binaries too, without the
    // `--bench` that `cargo bench` passes: a debug build is no place for a
    // load test, so do nothing then unless asked for the smoke test.
    if !args.iter().any(|a| a == "--bench") && !opts.smoke {
        println!("load: the load generator; run it with `cargo bench --bench load [-- --smoke]`");
        return ExitCode::SUCCESS;
    }
    let began = Instant::now();
    util::now_ns();
    let fds = util::raise_fd_limit();

    // Servers on the first CPU, the generator (this process and every
    // thread it starts from here on) on the second.
    let cpus = util::allowed_cpus();
    let (server_cpu, gen_cpu) = if cpus.len() >= 2 {
        (Some(cpus[0]), Some(cpus[1]))
    } else {
        (None, None)
    };
    if let Some(c) = gen_cpu
        && let Err(e) = util::pin_to(c)
    {
        eprintln!("load: cannot pin the generator to cpu {c}: {e}");
    }
    let use_taskset = std::process::Command::new("taskset")
        .arg("-V")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut launcher = match prepare(use_taskset, server_cpu, &opts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("load: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The tokio yardstick: never in the smoke test, so that CI never
    // compiles tokio; in a full run, built now if any scenario compares.
    let compares = ["start", "echo", "fanout", "idle", "connect"]
        .iter()
        .any(|s| opts.wants(s));
    let tokio_line = if opts.smoke {
        "tokio = not run in the smoke test (so that CI never compiles tokio)".to_string()
    } else if !compares {
        "tokio = not needed by the scenarios chosen".to_string()
    } else {
        match build_tokio(&launcher.log_dir) {
            Ok(binary) => {
                launcher.tokio = Some(binary);
                "tokio = tokio-tungstenite 0.30 (benches/tokio-yardstick), tokio multi-threaded \
                 runtime with available_parallelism worker threads (1 here: pinned to one CPU), \
                 a task per connection, default WebSocketConfig but a 4 KiB read buffer, \
                 TCP_NODELAY, broadcast via per-connection unbounded mpsc channels"
                    .to_string()
            }
            Err(e) => format!("tokio = NOT BUILT, left out of this run: {e}"),
        }
    };
    // Bounds the measurements, not the builds before them.
    server::watchdog(Duration::from_secs(if opts.smoke { 120 } else { 1200 }));
    let wshub_size = std::fs::metadata(wshub_binary().unwrap_or_default())
        .map(|m| m.len())
        .unwrap_or(0);
    println!(
        "wshub load suite ({}): {} CPU(s), servers on {}, load generator on {}; fd limit {fds}",
        if opts.smoke { "smoke" } else { "full" },
        cpus.len(),
        match server_cpu {
            Some(c) if use_taskset => format!("cpu {c} (taskset)"),
            Some(c) => format!("cpu {c} (sched_setaffinity)"),
            None => "any cpu (not pinned)".into(),
        },
        gen_cpu.map_or("any cpu".into(), |c| format!("cpu {c}")),
    );
    println!(
        "simple = tungstenite 0.30, thread per connection, default WebSocketConfig but a {} KiB \
         read buffer, TCP_NODELAY, broadcast via per-connection channels with a {} ms read timeout",
        yardstick::READ_BUFFER / 1024,
        opts.simple_timeout_ms
    );
    println!("{tokio_line}");
    println!(
        "fan-out N wW: N subscribers, 64-byte messages, at most W in flight (not yet received \
         by every subscriber); wshub --queue {}",
        opts.queue
            .map_or("max(1024, W + 64)".to_string(), |q| q.to_string())
    );
    if opts.wants("topics") {
        println!(
            "topics N wW: N subscribers on 10 topics (a publisher each) beside N on one topic \
             (one publisher), the same messages per publisher ({}), at most W in flight per \
             topic, both sets open at once and their runs alternated{}",
            topics::messages(opts.smoke),
            if opts.smoke {
                ""
            } else {
                "; medians of 3 runs"
            }
        );
    }
    if !opts.smoke {
        println!(
            "echo and fan-out: medians of 3 runs of 3 s; connect: of 3 runs of 2 s; \
             idle CPU over 5 s"
        );
    }
    println!(
        "ratio = wshub / simple{} (rates; RSS in start and idle); server logs in {}",
        if launcher.tokio.is_some() {
            " and wshub / tokio"
        } else {
            ""
        },
        launcher.log_dir.display()
    );
    println!();

    let mut suite = Suite {
        opts,
        launcher,
        wshub_size,
        failures: Vec::new(),
        notes: Vec::new(),
        pending: Vec::new(),
        cpus: match (server_cpu, gen_cpu) {
            (Some(a), Some(b)) => vec![a, b],
            _ => cpus.clone(),
        },
    };
    type Scenario = fn(&mut Suite) -> Result<(), String>;
    let scenarios: [(&str, Scenario); 8] = [
        ("start", start),
        ("echo", echo),
        ("fanout", fanout),
        ("idle", idle),
        ("connect", connect),
        ("tls", tls::scenario),
        ("topics", topics::scenario),
        ("hostile", hostile),
    ];
    for (name, run) in scenarios {
        // hostile runs up to a minute: too long for the smoke test.
        let full_only = matches!(name, "start" | "hostile");
        if !suite.opts.wants(name) || (suite.opts.smoke && full_only) {
            continue;
        }
        if let Err(e) = run(&mut suite) {
            println!("{name:<LABEL$}FAILED: {e}");
            suite.failures.push(format!("{name}: {e}"));
        }
    }
    server::kill_all();

    println!();
    for n in &suite.notes {
        println!("note: {n}");
    }
    let took = began.elapsed().as_secs();
    if suite.failures.is_empty() {
        println!(
            "{}: no errors, no loss, no reordering; took {}m{:02}s",
            if suite.opts.smoke { "smoke ok" } else { "done" },
            took / 60,
            took % 60
        );
        ExitCode::SUCCESS
    } else {
        println!("{} FAILURE(S):", suite.failures.len());
        for f in &suite.failures {
            println!("  {f}");
        }
        println!("took {}m{:02}s", took / 60, took % 60);
        ExitCode::FAILURE
    }
}

/// The release wshub binary cargo built for this bench.
fn wshub_binary() -> Option<PathBuf> {
    option_env!("CARGO_BIN_EXE_wshub")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

/// Finds (or builds) wshub and copies it aside, so that a rebuild during
/// the run cannot swap the binary between scenarios.
fn prepare(use_taskset: bool, cpu: Option<usize>, opts: &Opts) -> Result<Launcher, String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Another build of wshub (an earlier commit's, say), for before/after
    // figures from one run of this generator.
    let other = std::env::var_os("WSHUB_BENCH_BIN").map(PathBuf::from);
    let binary = match other.or_else(wshub_binary) {
        Some(b) => b,
        None => {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(cargo)
                .args(["build", "--release", "--bin", "wshub"])
                .current_dir(manifest)
                .status()
                .map_err(|e| format!("cargo build --release: {e}"))?;
            if !status.success() {
                return Err("cargo build --release failed".into());
            }
            manifest.join("target/release/wshub")
        }
    };
    // This tree's target folder (an overriding binary may live anywhere).
    let target = wshub_binary()
        .as_deref()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map_or_else(|| manifest.join("target"), Path::to_path_buf);
    let log_dir = target.join("bench-logs");
    std::fs::create_dir_all(&log_dir).map_err(|e| format!("{}: {e}", log_dir.display()))?;
    let copy = log_dir.join("wshub-under-test");
    std::fs::copy(&binary, &copy).map_err(|e| format!("copying {}: {e}", binary.display()))?;
    let self_exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    Ok(Launcher {
        wshub: copy,
        self_exe,
        use_taskset,
        cpu,
        log_dir,
        simple_timeout_ms: opts.simple_timeout_ms,
        tokio: None,
        before: std::env::var_os("WSHUB_BENCH_BEFORE").map(PathBuf::from),
    })
}

/// Builds the tokio yardstick, its own workspace in
/// `benches/tokio-yardstick`, into `target/tokio-yardstick` (beside
/// `log_dir`, `target/bench-logs`) and returns its binary, or why not.
fn build_tokio(log_dir: &Path) -> Result<PathBuf, String> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/tokio-yardstick/Cargo.toml");
    let target = log_dir.parent().unwrap_or(log_dir).join("tokio-yardstick");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!(
        "load: building the tokio yardstick: cargo build --release --locked --manifest-path {} \
         --target-dir {}",
        manifest.display(),
        target.display()
    );
    let out = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--quiet",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .or_else(|| stderr.lines().find(|l| !l.trim().is_empty()))
            .unwrap_or("no message")
            .trim()
            .to_string();
        return Err(format!("cargo build failed ({}): {why}", out.status));
    }
    let binary = target.join("release/tokio-yardstick");
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!("cargo build left no {}", binary.display()))
    }
}

impl Suite {
    /// Stops a server; its log's warnings and a slow exit become notes.
    fn stop(&mut self, server: ServerProc, tag: &str) {
        let name = server.name;
        let stopped = server.stop();
        if stopped.exit_after.is_none() {
            self.problem(format!(
                "{name} ({tag}) did not exit within 10 s of SIGTERM"
            ));
        }
        if !stopped.warnings.is_empty() {
            let n = stopped.warnings.len();
            let first = &stopped.warnings[0];
            let line = format!("{name} log ({tag}): {n} warning/error line(s), first: {first}");
            self.pending.push(line.clone());
            self.notes.push(line);
        }
    }

    fn problem(&mut self, what: String) {
        self.pending.push(what.clone());
        self.failures.push(what);
    }

    /// A wshub server that used CPU while all its connections were idle
    /// (the full run only: the smoke test's window is too short to judge).
    fn idle_cpu(&mut self, name: &str, label: &str, r: &scenarios::Idle) {
        let busy = r.cpu_idle.as_secs_f64() / r.cpu_window.as_secs_f64().max(1e-9);
        if !self.opts.smoke && busy > 0.01 {
            self.problem(format!(
                "{name} {label}: {:.1}% CPU while idle (expected ~0)",
                busy * 100.0
            ));
        }
    }

    /// A problem of a yardstick (simple or tokio): a failure in the smoke
    /// test (where it points at the generator), only a note in the full
    /// run (where the yardstick may simply not keep up).
    fn simple_problem(&mut self, what: String) {
        if self.opts.smoke {
            self.problem(what);
        } else {
            self.pending.push(what.clone());
            self.notes.push(format!(
                "{what} (the yardstick's, not counted as a failure)"
            ));
        }
    }

    /// Prints a scenario's line, what other processes took of the CPUs
    /// meanwhile, and the problems found.
    fn line(&mut self, text: String, others: &util::Others) {
        let busy = others.share();
        println!("{text} [others {:.0}%]", busy * 100.0);
        if busy > 0.25 && !self.opts.smoke {
            self.notes.push(format!(
                "other processes used {:.0}% of the benchmark CPUs during: {}",
                busy * 100.0,
                text.split("wshub").next().unwrap_or("").trim()
            ));
        }
        for p in std::mem::take(&mut self.pending) {
            println!("{:LABEL$}! {p}", "");
        }
    }

    /// Records a run's errors, loss and reordering as failures.
    fn check(&mut self, server: &str, label: &str, r: &Run) {
        let mut found = Vec::new();
        if r.errors.count > 0 {
            found.push(format!(
                "{server} {label}: {} error(s): {}",
                r.errors.count,
                r.errors.first.join("; ")
            ));
        }
        if r.lost > 0 || r.out_of_order > 0 {
            found.push(format!(
                "{server} {label}: {} lost or late, {} out of order",
                r.lost, r.out_of_order
            ));
        }
        for f in found {
            if server == "wshub" {
                self.problem(f);
            } else {
                self.simple_problem(f);
            }
        }
    }

    /// Says so under the line when the generator's CPU, not the server's,
    /// may have set a figure (the TLS and topics lines).
    fn generator_bound(&mut self, label: &str, r: &Run) {
        if !self.opts.smoke && r.gen_cpu >= 0.9 {
            let what = format!(
                "wshub {label}: the generator used {:.0}% of its CPU (server {:.0}%): the figure \
                 may be the generator's limit",
                r.gen_cpu * 100.0,
                r.server_cpu * 100.0
            );
            self.pending.push(what.clone());
            self.notes.push(what);
        }
    }

    fn smoke_or<T>(&self, smoke: T, full: T) -> T {
        if self.opts.smoke { smoke } else { full }
    }
}

/// Medians of a few runs; counts and errors summed.
fn summary(runs: &[Run]) -> Run {
    let pick = |f: &dyn Fn(&Run) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let mut s = Run {
        rate: pick(&|r| r.rate),
        p50_ns: pick(&|r| r.p50_ns as f64) as u64,
        p99_ns: pick(&|r| r.p99_ns as f64) as u64,
        server_cpu: pick(&|r| r.server_cpu),
        gen_cpu: pick(&|r| r.gen_cpu),
        ..Run::default()
    };
    for r in runs {
        s.ops += r.ops;
        s.lost += r.lost;
        s.out_of_order += r.out_of_order;
        s.errors.merge(r.errors.clone());
    }
    s
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}x", a / b)
    } else {
        "n/a".into()
    }
}

/// wshub's figure over each yardstick's: `0.98x simple, 1.31x tokio`
/// (only `simple` when the tokio yardstick did not run).
fn ratios(wshub: f64, simple: f64, tokio: Option<f64>) -> String {
    let mut text = format!("{} simple", ratio(wshub, simple));
    if let Some(t) = tokio {
        text += &format!(", {} tokio", ratio(wshub, t));
    }
    text
}

/// The earlier build's column and wshub's ratio to it, when it ran.
fn before_column(text: Option<String>, wshub: f64, before: Option<f64>) -> String {
    match (text, before) {
        (Some(t), Some(b)) => format!(" | before {t} | now/before {}", ratio(wshub, b)),
        _ => String::new(),
    }
}

/// The tokio yardstick's column, ` | tokio ...`, when it ran.
fn tokio_column(text: Option<String>) -> String {
    text.map_or_else(String::new, |t| format!(" | tokio {t}"))
}

/// A run's rate and latency: `12,345 rt/s p50 0.61 ms p99 1.2 ms`.
fn rate(r: &Run, unit: &str) -> String {
    format!(
        "{} {unit} p50 {} p99 {}",
        commas(r.rate as u64),
        ms(r.p50_ns),
        ms(r.p99_ns)
    )
}

/// A fan-out run: `rate ... lost 0 ooo 0 (cpu ...)`.
fn delivered(r: &Run) -> String {
    format!(
        "{} lost {} ooo {} {}",
        rate(r, "deliveries/s"),
        r.lost,
        r.out_of_order,
        cpu(r)
    )
}

fn cpu(r: &Run) -> String {
    if r.server_cpu.is_nan() {
        return "(cpu n/a: run too short)".into();
    }
    format!(
        "(cpu srv {:.0}% gen {:.0}%)",
        r.server_cpu * 100.0,
        r.gen_cpu * 100.0
    )
}

fn start(suite: &mut Suite) -> Result<(), String> {
    let others = util::Others::mark(&suite.cpus);
    let measure = |s: &ServerProc| {
        std::thread::sleep(Duration::from_millis(300));
        (s.rss(), s.threads())
    };
    let w = suite.launcher.wshub("echo", &[], "start")?;
    let (w_rss, w_threads) = measure(&w);
    suite.stop(w, "start");
    let s = suite.launcher.simple("echo", "start")?;
    let (s_rss, s_threads) = measure(&s);
    suite.stop(s, "start");
    let t = match suite.launcher.tokio("echo", "start")? {
        Some(t) => {
            let m = measure(&t);
            suite.stop(t, "start");
            Some(m)
        }
        None => None,
    };
    let text = format!(
        "{:<LABEL$}wshub RSS {} ({w_threads} threads), binary {} | simple RSS {} ({s_threads} threads){} | RSS ratio {}",
        "start",
        size(w_rss as f64),
        size(suite.wshub_size as f64),
        size(s_rss as f64),
        tokio_column(
            t.map(|(rss, threads)| format!("RSS {} ({threads} threads)", size(rss as f64)))
        ),
        ratios(w_rss as f64, s_rss as f64, t.map(|(rss, _)| rss as f64)),
    );
    suite.line(text, &others);
    Ok(())
}

/// The echo runs' length (also the TLS echo's).
fn echo_plan(suite: &Suite) -> Plan {
    suite.smoke_or(
        Plan {
            warmup: Duration::ZERO,
            measure: Duration::from_secs(10),
            count: 200,
        },
        Plan {
            warmup: Duration::from_millis(500),
            measure: Duration::from_secs(3),
            count: u64::MAX,
        },
    )
}

fn echo(suite: &mut Suite) -> Result<(), String> {
    let sizes: &[usize] = suite.smoke_or(&[8], &[1, 64, 256]);
    let runs = suite.smoke_or(1, 3);
    let plan = echo_plan(suite);
    for &n in sizes {
        let others = util::Others::mark(&suite.cpus);
        let tag = format!("echo-{n}");
        let w = suite.launcher.wshub("echo", &[], &tag)?;
        let s = suite.launcher.simple("echo", &tag)?;
        let t = suite.launcher.tokio("echo", &tag)?;
        let b = suite.launcher.before("echo", &[], &tag)?;
        let (mut rw, mut rs, mut rt, mut rb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // Alternate the servers, so that a noisy moment hurts all alike.
        for _ in 0..runs {
            rw.push(scenarios::echo(&w, n, plan));
            rs.push(scenarios::echo(&s, n, plan));
            if let Some(t) = &t {
                rt.push(scenarios::echo(t, n, plan));
            }
            if let Some(b) = &b {
                rb.push(scenarios::echo(b, n, plan));
            }
        }
        suite.stop(w, &tag);
        suite.stop(s, &tag);
        for other in [t, b].into_iter().flatten() {
            suite.stop(other, &tag);
        }
        let (w_sum, s_sum) = (summary(&rw), summary(&rs));
        let t_sum = (!rt.is_empty()).then(|| summary(&rt));
        let b_sum = (!rb.is_empty()).then(|| summary(&rb));
        let label = format!("echo {n:>5} client{}", if n == 1 { "" } else { "s" });
        suite.check("wshub", &label, &w_sum);
        suite.check("simple", &label, &s_sum);
        if let Some(t) = &t_sum {
            suite.check("tokio", &label, t);
        }
        let text = format!(
            "{label:<LABEL$}wshub {} {} | simple {} {}{} | ratio {}{}",
            rate(&w_sum, "rt/s"),
            cpu(&w_sum),
            rate(&s_sum, "rt/s"),
            cpu(&s_sum),
            tokio_column(
                t_sum
                    .as_ref()
                    .map(|t| format!("{} {}", rate(t, "rt/s"), cpu(t)))
            ),
            ratios(w_sum.rate, s_sum.rate, t_sum.as_ref().map(|t| t.rate)),
            before_column(
                b_sum
                    .as_ref()
                    .map(|b| format!("{} {}", rate(b, "rt/s"), cpu(b))),
                w_sum.rate,
                b_sum.as_ref().map(|b| b.rate)
            ),
        );
        suite.line(text, &others);
    }
    Ok(())
}

fn fanout(suite: &mut Suite) -> Result<(), String> {
    // (subscribers, messages in flight): a small window shows delivery
    // latency; a large one (100 subscribers only: the simple design
    // cannot drain it for 1,000 in bounded time) shows throughput.
    let small = suite.opts.window;
    let cases: Vec<(usize, usize)> = if suite.opts.smoke {
        vec![(20, small)]
    } else {
        vec![(100, small), (100, BIG_WINDOW), (1000, small)]
    };
    let runs = suite.smoke_or(1, 3);
    let plan = fanout_plan(suite);
    for (n, window) in cases {
        // The window bounds what waits for any one client, so wshub's
        // queue cannot overflow while it holds the window.
        let queue = suite.opts.queue.unwrap_or(fanout_queue(window)).to_string();
        let others = util::Others::mark(&suite.cpus);
        let tag = format!("fanout-{n}-w{window}");
        // One server at a time: the simple design's idle subscribers wake
        // every few milliseconds, which would slow the others down.
        let w = suite
            .launcher
            .wshub("broadcast", &["--queue", &queue], &tag)?;
        let rw = fanout_runs(&w, n, window, plan, runs);
        suite.stop(w, &tag);
        let s = suite.launcher.simple("broadcast", &tag)?;
        let rs = fanout_runs(&s, n, window, plan, runs);
        suite.stop(s, &tag);
        let rt = match suite.launcher.tokio("broadcast", &tag)? {
            Some(t) => {
                let rt = fanout_runs(&t, n, window, plan, runs);
                suite.stop(t, &tag);
                Some(rt)
            }
            None => None,
        };
        let rb = match suite
            .launcher
            .before("broadcast", &["--queue", &queue], &tag)?
        {
            Some(b) => {
                let rb = fanout_runs(&b, n, window, plan, runs);
                suite.stop(b, &tag);
                Some(rb)
            }
            None => None,
        };
        let (w_sum, s_sum) = (summary(&rw), summary(&rs));
        let t_sum = rt.as_deref().map(summary);
        let b_sum = rb.as_deref().map(summary);
        let label = format!("fan-out {n:>5} w{window:<4}");
        suite.check("wshub", &label, &w_sum);
        suite.check("simple", &label, &s_sum);
        if let Some(t) = &t_sum {
            suite.check("tokio", &label, t);
        }
        let timeout = suite.opts.simple_timeout_ms;
        let wakeups = n as u64 * 1000 / timeout;
        if !suite.opts.smoke && s_sum.server_cpu < 0.8 && window < BIG_WINDOW {
            suite.notes.push(format!(
                "simple {label}: server CPU {:.0}%: its rate is bounded by its {timeout} ms read \
                 timeout with {window} messages in flight, not by CPU (see the w{BIG_WINDOW} line)",
                s_sum.server_cpu * 100.0
            ));
        } else if !suite.opts.smoke && wakeups >= 20_000 {
            suite.notes.push(format!(
                "simple {label}: server CPU saturated by its {n} connection threads waking {} \
                 times a second even with nothing to send ({timeout} ms read timeout each)",
                commas(wakeups)
            ));
        }
        let text = format!(
            "{label:<LABEL$}wshub {} | simple {}{} | ratio {}{}",
            delivered(&w_sum),
            delivered(&s_sum),
            tokio_column(t_sum.as_ref().map(delivered)),
            ratios(w_sum.rate, s_sum.rate, t_sum.as_ref().map(|t| t.rate)),
            before_column(
                b_sum.as_ref().map(delivered),
                w_sum.rate,
                b_sum.as_ref().map(|b| b.rate)
            ),
        );
        suite.line(text, &others);
    }
    Ok(())
}

/// The fan-out runs' length (also the TLS fan-out's).
fn fanout_plan(suite: &Suite) -> Plan {
    suite.smoke_or(
        Plan {
            warmup: Duration::ZERO,
            measure: Duration::from_secs(10),
            count: 500,
        },
        Plan {
            warmup: Duration::from_millis(300),
            measure: Duration::from_secs(3),
            count: u64::MAX,
        },
    )
}

/// The throughput-oriented fan-out window.
const BIG_WINDOW: usize = 1000;

/// wshub's per-client queue in fan-out: the default (1024) unless the
/// window needs more.
fn fanout_queue(window: usize) -> usize {
    (window + 64).max(1024)
}

/// Opens a fan-out set once and measures it `runs` times; errors opening
/// or closing go into the first run's figures.
fn fanout_runs(
    server: &ServerProc,
    subs: usize,
    window: usize,
    plan: Plan,
    runs: usize,
) -> Vec<Run> {
    let mut set = match scenarios::Fanout::open(server, subs, &[None]) {
        Ok(set) => set,
        Err(e) => {
            let mut r = Run::default();
            r.errors.add(e);
            return vec![r];
        }
    };
    let mut out: Vec<Run> = (0..runs).map(|_| set.run(window, plan)).collect();
    let closing = set.close();
    if let Some(first) = out.first_mut() {
        first.errors.merge(closing);
    }
    out
}

fn idle(suite: &mut Suite) -> Result<(), String> {
    let sizes: &[usize] = suite.smoke_or(&[50], &[1000, 10000]);
    let window = suite.smoke_or(Duration::from_millis(500), Duration::from_secs(5));
    for &n in sizes {
        let others = util::Others::mark(&suite.cpus);
        let tag = format!("idle-{n}");
        // One server at a time: the thread-per-connection ones need a
        // thread per connection.
        let w = suite
            .launcher
            .wshub("echo", &["--max-connections", "20000"], &tag)?;
        let rw = scenarios::idle(&w, n, window);
        suite.stop(w, &tag);
        let s = suite.launcher.simple("echo", &tag)?;
        let rs = scenarios::idle(&s, n, window);
        suite.stop(s, &tag);
        let rt = match suite.launcher.tokio("echo", &tag)? {
            Some(t) => {
                let rt = scenarios::idle(&t, n, window);
                suite.stop(t, &tag);
                Some(rt)
            }
            None => None,
        };
        let label = format!("idle {:>6} conns", commas(n as u64));
        let mut all = vec![("wshub", &rw), ("simple", &rs)];
        if let Some(t) = &rt {
            all.push(("tokio", t));
        }
        for (name, r) in all {
            if r.errors.count > 0 || r.opened < n {
                let report = if name == "wshub" {
                    Suite::problem
                } else {
                    Suite::simple_problem
                };
                report(
                    suite,
                    format!(
                        "{name} {label}: {} of {n} opened, {} error(s): {}",
                        r.opened,
                        r.errors.count,
                        r.errors.first.join("; ")
                    ),
                );
            }
            if r.threads_after_close > r.threads_before + 2 {
                suite.notes.push(format!(
                    "{name} {label}: {} threads 10 s after the connections were reset (before: {})",
                    r.threads_after_close, r.threads_before
                ));
            }
        }
        suite.idle_cpu("wshub", &label, &rw);
        let text = format!(
            "{label:<LABEL$}wshub {} | simple {}{} | RSS ratio {}",
            describe(&rw),
            describe(&rs),
            tokio_column(rt.as_ref().map(describe)),
            ratios(
                rw.per_conn(),
                rs.per_conn(),
                rt.as_ref().map(Idle::per_conn)
            ),
        );
        suite.line(text, &others);
    }
    Ok(())
}

/// An idle run's figures: `21.3 KiB/conn, 1,002 threads, cpu 0 ms in 5.0 s
/// (opened in 0.41 s)`.
fn describe(r: &Idle) -> String {
    format!(
        "{}/conn, {} threads, cpu {} ms in {:.1} s (opened in {:.2} s)",
        size(r.per_conn()),
        commas(r.threads_after),
        r.cpu_idle.as_millis(),
        r.cpu_window.as_secs_f64(),
        r.open_secs,
    )
}

fn connect(suite: &mut Suite) -> Result<(), String> {
    let clients = 32;
    let runs = suite.smoke_or(1, 3);
    let plan = suite.smoke_or(
        Plan {
            warmup: Duration::ZERO,
            measure: Duration::from_secs(10),
            count: 320,
        },
        Plan {
            warmup: Duration::ZERO,
            measure: Duration::from_secs(2),
            count: 40_000,
        },
    );
    let others = util::Others::mark(&suite.cpus);
    let tag = "connect";
    let w = suite.launcher.wshub("echo", &[], tag)?;
    let s = suite.launcher.simple("echo", tag)?;
    let t = suite.launcher.tokio("echo", tag)?;
    let b = suite.launcher.before("echo", &[], tag)?;
    let (mut rw, mut rs, mut rt, mut rb) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        rw.push(scenarios::connect(&w, clients, plan));
        rs.push(scenarios::connect(&s, clients, plan));
        if let Some(t) = &t {
            rt.push(scenarios::connect(t, clients, plan));
        }
        if let Some(b) = &b {
            rb.push(scenarios::connect(b, clients, plan));
        }
    }
    suite.stop(w, tag);
    suite.stop(s, tag);
    for other in [t, b].into_iter().flatten() {
        suite.stop(other, tag);
    }
    let (w_sum, s_sum) = (summary(&rw), summary(&rs));
    let t_sum = (!rt.is_empty()).then(|| summary(&rt));
    let b_sum = (!rb.is_empty()).then(|| summary(&rb));
    let label = format!("connect {clients:>3} clients");
    suite.check("wshub", &label, &w_sum);
    suite.check("simple", &label, &s_sum);
    if let Some(t) = &t_sum {
        suite.check("tokio", &label, t);
    }
    // The latencies are from connect to the 101.
    let text = format!(
        "{label:<LABEL$}wshub {} {} | simple {} {}{} | ratio {}{}",
        rate(&w_sum, "handshakes/s"),
        cpu(&w_sum),
        rate(&s_sum, "handshakes/s"),
        cpu(&s_sum),
        tokio_column(
            t_sum
                .as_ref()
                .map(|t| format!("{} {}", rate(t, "handshakes/s"), cpu(t)))
        ),
        ratios(w_sum.rate, s_sum.rate, t_sum.as_ref().map(|t| t.rate)),
        before_column(
            b_sum
                .as_ref()
                .map(|b| format!("{} {}", rate(b, "handshakes/s"), cpu(b))),
            w_sum.rate,
            b_sum.as_ref().map(|b| b.rate)
        ),
    );
    suite.line(text, &others);
    Ok(())
}

/// Clients that send huge messages and never read (see `load/hostile.rs`),
/// with `--hostile-args` appended to each server's flags.
fn hostile(suite: &mut Suite) -> Result<(), String> {
    // A server that never ends the hostile connections (wshub without a
    // memory budget) takes this long per run.
    let limit = Duration::from_secs(20);
    let echo = hostile::Attack {
        senders: 40,
        messages: 1,
        fragments: 15,
        fragment: 1 << 20,
        silent: 0,
        broadcast: false,
        pause: Duration::ZERO,
        limit,
    };
    let broadcast = hostile::Attack {
        senders: 4,
        messages: 4,
        fragments: 1,
        fragment: 4 << 20,
        silent: 10,
        broadcast: true,
        // At most 1,000 messages in 20 s.
        pause: Duration::from_millis(20),
        limit,
    };
    let max = ["--max-message", "16M"];
    let runs: [(&str, &[&str], hostile::Attack); 3] = [
        ("echo", &[], echo),
        ("echo", &max, echo),
        ("broadcast", &max, broadcast),
    ];
    let extra = suite.opts.hostile_args.clone();
    for (i, (mode, flags, attack)) in runs.into_iter().enumerate() {
        let others = util::Others::mark(&suite.cpus);
        let tag = format!("hostile-{}", i + 1);
        let mut args = flags.to_vec();
        args.extend(extra.iter().map(String::as_str));
        let w = suite.launcher.wshub(mode, &args, &tag)?;
        let o = hostile::run(&w, attack);
        suite.stop(w, &tag);
        let label = format!("hostile {}", attack.describe());
        if o.errors.count > 0 {
            suite.problem(format!(
                "wshub {label}: {} error(s): {}",
                o.errors.count,
                o.errors.first.join("; ")
            ));
        }
        let silent = if attack.silent > 0 {
            format!(", {} silent subscribers", attack.silent)
        } else {
            String::new()
        };
        // The server's flags, all but --addr.
        let shown: Vec<&str> = ["--mode", mode].into_iter().chain(args).collect();
        let text = format!(
            "{label:<LABEL$}wshub ({}){silent}: peak RSS {} (start {}), normal rt p50 {} p99 {} \
             max {} ({} rt), hostile closed: {}; over after {:.1} s",
            shown.join(" "),
            size(o.rss_peak as f64),
            size(o.rss_start as f64),
            ms(o.p50_ns),
            ms(o.p99_ns),
            ms(o.max_ns),
            commas(o.round_trips),
            o.endings(),
            o.took.as_secs_f64(),
        );
        suite.line(text, &others);
    }
    Ok(())
}
