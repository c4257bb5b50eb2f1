//! The `nodes` scenario: two wshub nodes sharing topics through Redis
//! (`--redis redis://127.0.0.1:PORT`, broadcast mode), one topic with its
//! subscribers split evenly over the two nodes and one publisher on the
//! first, beside the same load on one node without Redis:
//!
//! - a `redis-server` of its own on a free loopback port, with no
//!   persistence, pinned to the server CPU with the nodes (the server CPU
//!   figure of the two-node set is the nodes' and Redis's together), and
//!   ended with the scenario, also on a panic or a failure (it is a
//!   `ServerProc`: dropping it kills it);
//! - 2 x 250 subscribers (then 2 x 50) on `/ws?topic=bench`, and beside
//!   them, on a third node without Redis, 500 (then 100) on the same topic;
//!   both sets open at once and their runs alternated, after an unmeasured
//!   warm-up run each;
//! - each run makes the same deliveries in both sets (2,000,000: 4,000
//!   messages for 500 subscribers, 20,000 for 100), and the publisher keeps
//!   at most W messages (the fan-out window, 64 by default) not yet
//!   received by every subscriber, so that neither Redis's output buffer
//!   for the second node's subscription nor a node's per-client queue can
//!   grow past W messages of 64 bytes;
//! - the line gives each set's deliveries per second and delivery latency
//!   p50/p99 (medians of 3 runs; the latency from the publisher's send to a
//!   subscriber's receipt, on either node) and the ratio two nodes / one,
//!   the median and each run's.
//!
//! It is the fan-out scenario's machinery (`scenarios::Fanout`): every
//! subscriber must receive every message in the order sent, each exactly
//! once; a loss, a reordering or an error fails the run. Every run is
//! bounded by its count and 20 s, then 10 s for the last deliveries. The
//! smoke test runs 2 x 25 beside 50, 200 messages, once.

use std::time::Duration;

use crate::scenarios::{Fanout, Plan, Run};
use crate::server::ServerProc;
use crate::topics::{alternated, short_runs};
use crate::util::{self, commas};
use crate::{LABEL, Suite, delivered, fanout_queue, ratio, summary};

/// Deliveries in each run of the full test.
const DELIVERIES: u64 = 2_000_000;

/// The topic every subscriber is on.
const TOPIC: &str = "bench";

/// Messages the publisher sends in a run to `subs` subscribers.
pub fn messages(smoke: bool, subs: usize) -> u64 {
    if smoke { 200 } else { DELIVERIES / subs as u64 }
}

/// Subscribers on each node, per set.
fn sizes(smoke: bool) -> &'static [usize] {
    if smoke { &[25] } else { &[250, 50] }
}

/// The header's description of the scenario.
pub fn describe(smoke: bool) -> String {
    let sets: Vec<String> = sizes(smoke)
        .iter()
        .map(|n| format!("{n} ({} messages)", commas(messages(smoke, 2 * n))))
        .collect();
    format!(
        "nodes 2xN wW: one topic, N subscribers on each of two wshub nodes sharing it through a \
         redis-server of their own (--redis), one publisher on the first node, beside 2N \
         subscribers on one node without Redis; N = {}; at most W in flight; nodes and Redis \
         all on the server CPU (srv is theirs together); both sets open at once and their runs \
         alternated{}",
        sets.join(", "),
        if smoke { "" } else { "; medians of 3 runs" }
    )
}

pub fn scenario(suite: &mut Suite) -> Result<(), String> {
    for &per_node in sizes(suite.opts.smoke) {
        one_size(suite, per_node)?;
    }
    Ok(())
}

/// Two nodes of `per_node` subscribers each beside one node of twice as
/// many.
fn one_size(suite: &mut Suite, per_node: usize) -> Result<(), String> {
    let window = suite.opts.window;
    let subs = 2 * per_node;
    let runs = suite.smoke_or(1, 3);
    let count = messages(suite.opts.smoke, subs);
    let plan = Plan {
        warmup: Duration::ZERO,
        // Only a bound: the runs end with their count.
        measure: Duration::from_secs(20),
        count,
    };
    let warmup = suite.smoke_or(
        None,
        Some(Plan {
            count: count / 8,
            ..plan
        }),
    );
    let queue = suite.opts.queue.unwrap_or(fanout_queue(window)).to_string();
    let topic = [Some(TOPIC)];

    let others = util::Others::mark(&suite.cpus);
    let tag = format!("nodes-{per_node}x2-w{window}");
    let single =
        suite
            .launcher
            .wshub("broadcast", &["--queue", &queue], &format!("{tag}-single"))?;
    // The nodes; when they cannot start (no redis-server, or a wshub
    // without --redis), the one-node set still runs and the two-node set
    // fails with why.
    let pair = start_pair(suite, &queue, &tag);
    let two = match &pair {
        Ok((redis, a, b)) => Fanout::open_on(&[a, b], subs, &topic).map(|mut set| {
            set.count_cpu_of(redis);
            set
        }),
        Err(e) => Err(e.clone()),
    };
    let one = Fanout::open(&single, subs, &topic);
    let mut results = alternated(vec![two, one], window, plan, warmup, runs).into_iter();
    if let Ok((redis, a, b)) = pair {
        suite.stop(a, &format!("{tag}-a"));
        suite.stop(b, &format!("{tag}-b"));
        stop_redis(suite, redis, &tag);
    }
    suite.stop(single, &format!("{tag}-single"));
    let (r2, r1) = (
        results.next().unwrap_or_default(),
        results.next().unwrap_or_default(),
    );

    let (two_sum, one_sum) = (summary(&r2), summary(&r1));
    let label = format!("nodes 2x{per_node:<3} w{window}");
    let (label2, label1) = (format!("{label} (2 nodes)"), format!("{label} (1 node)"));
    suite.check("wshub", &label2, &two_sum);
    suite.check("wshub", &label1, &one_sum);
    suite.generator_bound(&label2, &two_sum);
    suite.generator_bound(&label1, &one_sum);
    let expected = count * subs as u64;
    short_runs(suite, &label2, &r2, expected, plan);
    short_runs(suite, &label1, &r1, expected, plan);
    let each: Vec<String> = r2
        .iter()
        .zip(&r1)
        .map(|(two, one)| ratio(two.rate, one.rate))
        .collect();
    // A set that never ran has no figures to show.
    let figures = |r: &Run| {
        if r.ops == 0 && r.errors.count > 0 {
            "FAILED (below)".to_string()
        } else {
            delivered(r)
        }
    };
    let text = format!(
        "{label:<LABEL$}wshub 2 nodes x {per_node}: {} | 1 node x {subs}: {} | 2 nodes/1 {} \
         (runs {}; {} deliveries each)",
        figures(&two_sum),
        figures(&one_sum),
        ratio(two_sum.rate, one_sum.rate),
        each.join(", "),
        commas(expected),
    );
    suite.line(text, &others);
    Ok(())
}

/// A redis-server and two wshub nodes sharing topics through it.
fn start_pair(
    suite: &Suite,
    queue: &str,
    tag: &str,
) -> Result<(ServerProc, ServerProc, ServerProc), String> {
    let redis = suite.launcher.redis(tag)?;
    let url = format!("redis://{}", redis.addr);
    let flags = ["--queue", queue, "--redis", &url];
    let a = suite
        .launcher
        .wshub("broadcast", &flags, &format!("{tag}-a"))
        .map_err(|e| format!("node A (--redis {url}): {e}"))?;
    let b = suite
        .launcher
        .wshub("broadcast", &flags, &format!("{tag}-b"))
        .map_err(|e| format!("node B (--redis {url}): {e}"))?;
    Ok((redis, a, b))
}

/// Stops the scenario's redis-server; its log's warnings are notes, but
/// for the one every redis-server on a machine without memory overcommit
/// prints at start.
fn stop_redis(suite: &mut Suite, redis: ServerProc, tag: &str) {
    let stopped = redis.stop();
    if stopped.exit_after.is_none() {
        suite.problem(format!(
            "redis-server ({tag}) did not exit within 10 s of SIGTERM"
        ));
    }
    let warnings: Vec<&String> = stopped
        .warnings
        .iter()
        .filter(|l| !l.contains("overcommit"))
        .collect();
    if let Some(first) = warnings.first() {
        let line = format!(
            "redis-server log ({tag}): {} warning/error line(s), first: {first}",
            warnings.len()
        );
        suite.pending.push(line.clone());
        suite.notes.push(line);
    }
}
