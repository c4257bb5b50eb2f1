//! The `topics` scenario: wshub in broadcast mode with topics
//! (`/ws?topic=NAME`), fan-out to 1,000 subscribers spread over 10 topics
//! (100 each, one publisher per topic, all publishing at once) beside the
//! same number of subscribers on one topic with one publisher, on one
//! server, in the same run:
//!
//! - both sets are opened at once (2,011 connections) and their runs
//!   alternated, so that a noisy moment hurts both alike, after an
//!   unmeasured warm-up run each;
//! - each publisher sends the same number of messages (8,000) and keeps at
//!   most W not yet received by every subscriber of its topic (the fan-out
//!   window, 64 by default), so both sets make the same deliveries
//!   (8,000,000 a run) with at most W messages waiting for any one
//!   subscriber;
//! - the line gives each set's deliveries per second and delivery latency
//!   p50/p99 (medians of 3 runs) and the ratio ten topics / one topic, the
//!   median and each run's.
//!
//! It is the fan-out scenario's machinery (`scenarios::Fanout`: numbered
//! 64-byte payloads, each with its send time and its topic): every
//! subscriber must receive every message of its topic's publisher, in
//! order, and nothing of another topic's (an error); a loss, a reordering
//! or an error fails the run as in the other scenarios. The smoke test
//! runs 50 subscribers on 10 topics beside 50 on one, 200 messages per
//! publisher, once.

use std::time::Duration;

use crate::scenarios::{Fanout, Plan, Run};
use crate::util::{self, Errors, commas};
use crate::{LABEL, Suite, delivered, fanout_queue, ratio, summary};

/// Messages per publisher in a run.
pub fn messages(smoke: bool) -> u64 {
    if smoke { 200 } else { 8000 }
}

pub fn scenario(suite: &mut Suite) -> Result<(), String> {
    let window = suite.opts.window;
    let (subs, k) = suite.smoke_or((50, 10), (1000, 10));
    let runs = suite.smoke_or(1, 3);
    let count = messages(suite.opts.smoke);
    let plan = Plan {
        warmup: Duration::ZERO,
        // Only a bound: the runs end with their count.
        measure: Duration::from_secs(30),
        count,
    };
    let warmup = suite.smoke_or(
        None,
        Some(Plan {
            count: 1000,
            ..plan
        }),
    );
    let queue = suite.opts.queue.unwrap_or(fanout_queue(window)).to_string();
    let names: Vec<String> = (0..k).map(|t| format!("bench-{t}")).collect();
    let many: Vec<Option<&str>> = names.iter().map(|n| Some(n.as_str())).collect();
    let one = [Some("bench-all")];

    let others = util::Others::mark(&suite.cpus);
    let tag = format!("topics-{subs}-w{window}");
    let w = suite
        .launcher
        .wshub("broadcast", &["--queue", &queue], &tag)?;
    let sets = [&many[..], &one[..]]
        .iter()
        .map(|topics| Fanout::open(&w, subs, topics))
        .collect();
    let mut results = alternated(sets, window, plan, warmup, runs).into_iter();
    suite.stop(w, &tag);
    let (rm, r1) = (
        results.next().unwrap_or_default(),
        results.next().unwrap_or_default(),
    );

    let (m_sum, o_sum) = (summary(&rm), summary(&r1));
    let label = format!("topics {subs:>5} w{window}");
    suite.check("wshub", &format!("{label} ({k} topics)"), &m_sum);
    suite.check("wshub", &format!("{label} (1 topic)"), &o_sum);
    suite.generator_bound(&format!("{label} ({k} topics)"), &m_sum);
    suite.generator_bound(&format!("{label} (1 topic)"), &o_sum);
    // The same deliveries in both, unless the time bound cut a run short.
    let expected = count * subs as u64;
    short_runs(suite, &format!("{label} ({k} topics)"), &rm, expected, plan);
    short_runs(suite, &format!("{label} (1 topic)"), &r1, expected, plan);
    let each: Vec<String> = rm
        .iter()
        .zip(&r1)
        .map(|(m, o)| ratio(m.rate, o.rate))
        .collect();
    let text = format!(
        "{label:<LABEL$}wshub {k} topics x {}: {} | 1 topic x {subs}: {} | {k} topics/1 {} \
         (runs {}; {} deliveries each)",
        subs / k,
        delivered(&m_sum),
        delivered(&o_sum),
        ratio(m_sum.rate, o_sum.rate),
        each.join(", "),
        commas(expected),
    );
    suite.line(text, &others);
    Ok(())
}

/// Notes the runs (of a set without errors) that made other than the
/// `expected` deliveries: the time bound of `plan` cut them short.
pub fn short_runs(suite: &mut Suite, label: &str, runs: &[Run], expected: u64, plan: Plan) {
    let short: Vec<String> = runs
        .iter()
        .filter(|r| r.errors.count == 0 && r.ops != expected)
        .map(|r| commas(r.ops))
        .collect();
    if !short.is_empty() {
        let text = format!(
            "wshub {label}: {} deliveries in a run instead of {} (stopped by its {} s bound?)",
            short.join(", "),
            commas(expected),
            plan.measure.as_secs()
        );
        suite.pending.push(text.clone());
        suite.notes.push(text);
    }
}

/// Runs fan-out sets opened at once (or why one could not be opened), in
/// turn, `runs` times each (after an unmeasured `warmup` run each, when
/// given), so that a noisy moment hurts all alike. A set's errors opening,
/// warming up or closing go into its first run's.
pub fn alternated(
    opened: Vec<Result<Fanout<'_>, String>>,
    window: usize,
    plan: Plan,
    warmup: Option<Plan>,
    runs: usize,
) -> Vec<Vec<Run>> {
    let mut early: Vec<Errors> = vec![Errors::default(); opened.len()];
    let mut sets: Vec<Option<Fanout>> = opened
        .into_iter()
        .zip(&mut early)
        .map(|(set, errors)| set.map_err(|e| errors.add(e)).ok())
        .collect();
    if let Some(warmup) = warmup {
        for (set, errors) in sets.iter_mut().zip(&mut early) {
            if let Some(set) = set {
                errors.merge(set.run(window, warmup).errors);
            }
        }
    }
    let mut results: Vec<Vec<Run>> = vec![Vec::new(); sets.len()];
    for _ in 0..runs {
        for (set, out) in sets.iter_mut().zip(&mut results) {
            if let Some(set) = set {
                out.push(set.run(window, plan));
            }
        }
    }
    for ((set, errors), out) in sets.into_iter().zip(&mut early).zip(&mut results) {
        if let Some(set) = set {
            errors.merge(set.close());
        }
        if out.is_empty() {
            out.push(Run::default());
        }
        out[0].errors.merge(std::mem::take(errors));
    }
    results
}
