//! The `tls` scenario: wshub serving wss:// (`--tls-cert`, `--tls-key`)
//! beside wshub serving ws:// in the same scenario, since the yardsticks
//! speak no TLS:
//!
//! - tls echo: 1, 64 and 256 clients, the echo scenario's closed loop of
//!   32-byte round trips, TLS and plain runs alternated;
//! - tls fan-out: 100 and 1,000 subscribers, the fan-out scenario's
//!   64-byte messages and window, one server at a time;
//! - tls idle: 1,000 and 10,000 connections idle after the TLS handshake
//!   and the upgrade: the server's RSS per connection, as the idle
//!   scenario measures it (a 2 s CPU window instead of 5).
//!
//! Each line ends with the ratio tls/plain. The smoke test runs 8 echo
//! clients, 20 subscribers and 50 idle connections, failing on any error,
//! loss or reordering as the plain scenarios do.
//!
//! The certificate is self-signed for `localhost` and 127.0.0.1, made with
//! rcgen when the scenario starts and written beside the server logs. The
//! generator's client is the plain one (`ws.rs`, the same epoll loops on
//! non-blocking sockets) with a rustls client session per connection
//! (TLS 1.3, the `ring` provider, as the server; rustls's default session
//! resumption): it decrypts and encrypts what the server encrypts and
//! decrypts, on its own core. A line whose generator used 90% of its CPU
//! or more says the figure may be the generator's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, RootCertStore};

use crate::scenarios;
use crate::server::ServerProc;
use crate::util::{self, Errors, size};
use crate::ws::Conn;
use crate::{
    LABEL, Suite, cpu, delivered, describe, echo_plan, fanout_plan, fanout_queue, fanout_runs,
    rate, ratio, summary,
};

/// The run's certificate: its files for the server, and a client
/// configuration that trusts it alone.
pub struct BenchCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client: Arc<ClientConfig>,
}

impl BenchCert {
    /// Makes a self-signed certificate for `localhost` and 127.0.0.1 and
    /// writes it and its key into `dir`.
    pub fn write(dir: &Path) -> Result<BenchCert, String> {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .map_err(|e| format!("making a certificate: {e}"))?;
        let cert = dir.join("tls-localhost.cert.pem");
        let key = dir.join("tls-localhost.key.pem");
        for (path, pem) in [
            (&cert, made.cert.pem()),
            (&key, made.signing_key.serialize_pem()),
        ] {
            std::fs::write(path, pem).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let mut roots = RootCertStore::empty();
        roots
            .add(made.cert.der().clone())
            .map_err(|e| format!("trusting the certificate: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS client configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(BenchCert {
            cert,
            key,
            client: Arc::new(client),
        })
    }
}

pub fn scenario(suite: &mut Suite) -> Result<(), String> {
    let cert = BenchCert::write(&suite.launcher.log_dir)?;
    echo(suite, &cert)?;
    fanout(suite, &cert)?;
    idle(suite, &cert)
}

/// What two connections negotiate (the second may resume the first's
/// session), on a line of its own.
fn negotiated(suite: &mut Suite, server: &ServerProc) {
    let mut errors = Errors::default();
    let text = match scenarios::open(server, 2, 7_000_000) {
        Ok(mut conns) => {
            let summary = |c: &Conn| c.tls_summary().unwrap_or_else(|| "no TLS".into());
            let text = format!(
                "first {}; second {}",
                summary(&conns[0]),
                summary(&conns[1])
            );
            scenarios::close_all(&mut conns, &mut errors);
            text
        }
        Err(e) => {
            errors.add(e);
            "?".into()
        }
    };
    println!("{:<LABEL$}wshub-tls connections: {text}", "tls");
    if errors.count > 0 {
        suite.problem(format!(
            "wshub-tls: probing the TLS connections: {}",
            errors.first.join("; ")
        ));
    }
}

fn echo(suite: &mut Suite, cert: &BenchCert) -> Result<(), String> {
    let sizes: &[usize] = suite.smoke_or(&[8], &[1, 64, 256]);
    let runs = suite.smoke_or(1, 3);
    let plan = echo_plan(suite);
    for &n in sizes {
        let others = util::Others::mark(&suite.cpus);
        // Logs wshub-tls-echo-N.log and wshub-echo-N-vs-tls.log.
        let (tag, plain_tag) = (format!("echo-{n}"), format!("echo-{n}-vs-tls"));
        let t = suite.launcher.wshub_tls("echo", &[], cert, &tag)?;
        let p = suite.launcher.wshub("echo", &[], &plain_tag)?;
        if n == sizes[0] {
            negotiated(suite, &t);
        }
        let (mut rt, mut rp) = (Vec::new(), Vec::new());
        // Alternated, so that a noisy moment hurts both alike.
        for _ in 0..runs {
            rt.push(scenarios::echo(&t, n, plan));
            rp.push(scenarios::echo(&p, n, plan));
        }
        suite.stop(t, &tag);
        suite.stop(p, &plain_tag);
        let (t_sum, p_sum) = (summary(&rt), summary(&rp));
        let label = format!("tls echo {n:>3} client{}", if n == 1 { "" } else { "s" });
        suite.check("wshub", &label, &t_sum);
        suite.check("wshub", &format!("{label} (plain)"), &p_sum);
        suite.generator_bound(&label, &t_sum);
        let text = format!(
            "{label:<LABEL$}wshub-tls {} {} | plain {} {} | tls/plain {}",
            rate(&t_sum, "rt/s"),
            cpu(&t_sum),
            rate(&p_sum, "rt/s"),
            cpu(&p_sum),
            ratio(t_sum.rate, p_sum.rate),
        );
        suite.line(text, &others);
    }
    Ok(())
}

fn fanout(suite: &mut Suite, cert: &BenchCert) -> Result<(), String> {
    let window = suite.opts.window;
    let subscribers: &[usize] = suite.smoke_or(&[20], &[100, 1000]);
    let runs = suite.smoke_or(1, 3);
    let plan = fanout_plan(suite);
    let queue = suite.opts.queue.unwrap_or(fanout_queue(window)).to_string();
    let flags = ["--queue", queue.as_str()];
    for &n in subscribers {
        let others = util::Others::mark(&suite.cpus);
        let (tag, plain_tag) = (
            format!("fanout-{n}-w{window}"),
            format!("fanout-{n}-w{window}-vs-tls"),
        );
        // One server at a time, as in the fan-out scenario.
        let t = suite.launcher.wshub_tls("broadcast", &flags, cert, &tag)?;
        let rt = fanout_runs(&t, n, window, plan, runs);
        suite.stop(t, &tag);
        let p = suite.launcher.wshub("broadcast", &flags, &plain_tag)?;
        let rp = fanout_runs(&p, n, window, plan, runs);
        suite.stop(p, &plain_tag);
        let (t_sum, p_sum) = (summary(&rt), summary(&rp));
        let label = format!("tls fan-out {n:>4} w{window}");
        suite.check("wshub", &label, &t_sum);
        suite.check("wshub", &format!("{label} (plain)"), &p_sum);
        suite.generator_bound(&label, &t_sum);
        let text = format!(
            "{label:<LABEL$}wshub-tls {} | plain {} | tls/plain {}",
            delivered(&t_sum),
            delivered(&p_sum),
            ratio(t_sum.rate, p_sum.rate),
        );
        suite.line(text, &others);
    }
    Ok(())
}

fn idle(suite: &mut Suite, cert: &BenchCert) -> Result<(), String> {
    let sizes: &[usize] = suite.smoke_or(&[50], &[1000, 10000]);
    let window = suite.smoke_or(Duration::from_millis(500), Duration::from_secs(2));
    let flags = ["--max-connections", "20000"];
    for &n in sizes {
        let others = util::Others::mark(&suite.cpus);
        let (tag, plain_tag) = (format!("idle-{n}"), format!("idle-{n}-vs-tls"));
        // One server at a time: each needs a thread per connection.
        let t = suite.launcher.wshub_tls("echo", &flags, cert, &tag)?;
        let rt = scenarios::idle(&t, n, window);
        suite.stop(t, &tag);
        let p = suite.launcher.wshub("echo", &flags, &plain_tag)?;
        let rp = scenarios::idle(&p, n, window);
        suite.stop(p, &plain_tag);
        let label = format!("tls idle {:>6} conns", util::commas(n as u64));
        for (name, r) in [("wshub-tls", &rt), ("wshub", &rp)] {
            if r.errors.count > 0 || r.opened < n {
                suite.problem(format!(
                    "{name} {label}: {} of {n} opened, {} error(s): {}",
                    r.opened,
                    r.errors.count,
                    r.errors.first.join("; ")
                ));
            }
            suite.idle_cpu(name, &label, r);
        }
        let text = format!(
            "{label:<LABEL$}wshub-tls {} | plain {} | RSS tls/plain {} (+{}/conn)",
            describe(&rt),
            describe(&rp),
            ratio(rt.per_conn(), rp.per_conn()),
            size(rt.per_conn() - rp.per_conn()),
        );
        suite.line(text, &others);
    }
    Ok(())
}
