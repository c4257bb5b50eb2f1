//! `GET /metrics`: the server's counters in the Prometheus text exposition
//! format (version 0.0.4), for a scraper or a quick `curl`.
//!
//! The counting is always on, and costs an atomic add or two where it
//! happens (a write of many frames adds once); only the endpoint is off
//! unless [`Server::metrics`](crate::Server::metrics) turns it on, because
//! anyone who can reach the port could read it.
//!
//! No series has a label per room, topic or client: their number is chosen
//! by visitors, and every label value is a series a scraper keeps.
//!
//! Where each number is counted:
//! - accepted: `listener::spawn`, for every TCP connection accepted;
//! - open: held by a WebSocket's connection thread (`connection::websocket`)
//!   from its 101 until its thread is done with it;
//! - received: `connection::websocket`, each text or binary message, before
//!   its handler has it;
//! - sent: when a data frame has gone whole to the socket, by the connection
//!   thread's fast path (`hub::socket`) or the hub (`hub::outbox`);
//! - too slow: `hub::slow`, when the hub closes a client with 1008 for
//!   falling behind (the count bound, the byte bound, a full budget).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::budget::Budget;
use crate::frame;
use crate::http;
use crate::hub::Hub;

/// Where the metrics are served, when they are on.
pub(crate) const PATH: &str = "/metrics";

/// The Prometheus text format's media type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One server's counters, shared by the listener, every connection thread
/// and the hub.
///
/// Every access is `Relaxed`: each counter is a number on its own, and
/// nothing is decided from it (no other memory is published through it), so
/// no ordering with other memory is needed; an atomic add is never lost
/// whatever its ordering. A scrape may see one counter a moment ahead of
/// another, which it could not rule out anyway: the samples are read one by
/// one while traffic goes on, not as one snapshot.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    accepted: AtomicU64,
    open: AtomicU64,
    received_messages: AtomicU64,
    received_bytes: AtomicU64,
    sent_messages: AtomicU64,
    sent_bytes: AtomicU64,
    too_slow: AtomicU64,
}

impl Metrics {
    /// A TCP connection was accepted.
    pub(crate) fn accepted(&self) {
        self.accepted.fetch_add(1, Relaxed);
    }

    /// A WebSocket is open until the returned guard is dropped.
    pub(crate) fn opened(self: &Arc<Self>) -> OpenGuard {
        self.open.fetch_add(1, Relaxed);
        OpenGuard(self.clone())
    }

    /// A data message of `payload` bytes was read from a client.
    pub(crate) fn received(&self, payload: usize) {
        self.received_messages.fetch_add(1, Relaxed);
        self.received_bytes.fetch_add(payload as u64, Relaxed);
    }

    /// `wire` went whole to a socket: counted if it is a data frame.
    pub(crate) fn sent_frame(&self, wire: &[u8]) {
        let mut tally = Tally::default();
        tally.frame(wire);
        self.sent(tally);
    }

    /// Adds what one write of a client's queue sent.
    pub(crate) fn sent(&self, tally: Tally) {
        if tally.messages > 0 {
            self.sent_messages.fetch_add(tally.messages, Relaxed);
            self.sent_bytes.fetch_add(tally.bytes, Relaxed);
        }
    }

    /// The hub closed a client with 1008 for falling behind.
    pub(crate) fn closed_too_slow(&self) {
        self.too_slow.fetch_add(1, Relaxed);
    }

    /// Every series, in the text format.
    fn render(&self, budget: &Budget, topics: usize, redis: Option<bool>) -> String {
        let n = |counter: &AtomicU64| counter.load(Relaxed);
        // One entry a series: a new series is one more entry.
        let mut series = vec![
            Series::gauge(
                "wshub_connections_open",
                "WebSocket connections open now (from the 101 until the connection's thread is done with it).",
                n(&self.open),
            ),
            Series::counter(
                "wshub_connections_accepted_total",
                "TCP connections accepted: WebSockets, page and metrics requests, and those answered with an HTTP error (503 over --max-connections included).",
                n(&self.accepted),
            ),
            Series::counter(
                "wshub_received_messages_total",
                "Data messages (text and binary) read from clients.",
                n(&self.received_messages),
            ),
            Series::counter(
                "wshub_received_bytes_total",
                "Payload bytes of the data messages read from clients.",
                n(&self.received_bytes),
            ),
            Series::counter(
                "wshub_sent_messages_total",
                "Data messages (text and binary) written whole to a client's socket, counted once per client, when its last byte is written (one queued but dropped, its client closed first, is not counted). Pings, pongs and closes are not counted.",
                n(&self.sent_messages),
            ),
            Series::counter(
                "wshub_sent_bytes_total",
                "Payload bytes of the data messages in wshub_sent_messages_total.",
                n(&self.sent_bytes),
            ),
            Series::counter(
                "wshub_clients_closed_too_slow_total",
                "Clients closed with 1008 for not keeping up: their queue over --queue messages, over --queue-bytes while taking nothing, or holding the most output when the memory budget was full.",
                n(&self.too_slow),
            ),
            Series::gauge(
                "wshub_memory_budget_used_bytes",
                "Bytes of message data held now against the memory budget (large messages being read, frames not yet written).",
                budget.used() as u64,
            ),
            Series::gauge(
                "wshub_memory_budget_limit_bytes",
                "The memory budget (--memory).",
                budget.limit() as u64,
            ),
            Series::gauge(
                "wshub_topics",
                "Topics with at least one subscriber now (chat rooms with members, broadcast topics, the library's own).",
                topics as u64,
            ),
        ];
        if let Some(up) = redis {
            series.push(Series::gauge(
                "wshub_redis_connected",
                "1 while both of this node's connections to Redis (--redis) are up, 0 while it retries; absent without --redis.",
                u64::from(up),
            ));
        }
        let mut out = String::with_capacity(2048);
        for s in series {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n",
                name = s.name,
                help = s.help,
                kind = s.kind,
                value = s.value,
            );
        }
        out
    }
}

/// Keeps a WebSocket counted as open while it lives, however its thread
/// ends.
pub(crate) struct OpenGuard(Arc<Metrics>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
    }
}

/// Data frames sent by one write, added to the counters once per write
/// rather than once per frame: the hub writes many frames per system call
/// when it fans out, and the counters' cache line is shared with every
/// connection thread.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    messages: u64,
    bytes: u64,
}

impl Tally {
    /// `wire` (one whole frame, as the server encodes them, or a connection
    /// thread's control replies) has been written.
    pub(crate) fn frame(&mut self, wire: &[u8]) {
        if let Some(payload) = frame::data_payload_len(wire) {
            self.messages += 1;
            self.bytes += payload as u64;
        }
    }
}

/// One series of one sample: its name, type, help text and value.
struct Series {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    value: u64,
}

impl Series {
    fn counter(name: &'static str, help: &'static str, value: u64) -> Series {
        Series {
            name,
            kind: "counter",
            help,
            value,
        }
    }

    fn gauge(name: &'static str, help: &'static str, value: u64) -> Series {
        Series {
            name,
            kind: "gauge",
            help,
            value,
        }
    }
}

/// The response to a GET or HEAD of [`PATH`].
pub(crate) fn respond(hub: &Hub, head_only: bool) -> Vec<u8> {
    // Every scrape must see the numbers of now, never a cache's.
    let extra = format!("Cache-Control: no-store\r\n{}", http::CSP);
    #[cfg(feature = "redis")]
    let redis = hub.nodes().map(|n| n.connected());
    #[cfg(not(feature = "redis"))]
    let redis = None;
    let body = hub.metrics().render(hub.budget(), hub.topic_count(), redis);
    http::response(200, CONTENT_TYPE, &extra, body.as_bytes(), head_only)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Opcode;

    #[test]
    fn every_series_has_help_and_type_before_one_sample() {
        let metrics = Metrics::default();
        let budget = Budget::new(1 << 20);
        let text = metrics.render(&budget, 3, None);
        assert!(text.ends_with('\n'));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() % 3, 0);
        for three in lines.chunks(3) {
            let name = three[2].split(' ').next().unwrap();
            assert!(
                three[0].starts_with(&format!("# HELP {name} ")),
                "{three:?}"
            );
            let kind = three[1].strip_prefix(&format!("# TYPE {name} ")).unwrap();
            assert!(name.starts_with("wshub_"));
            assert_eq!(kind == "counter", name.ends_with("_total"), "{name}");
            // A backslash or a newline would need escaping in HELP.
            assert!(!three[0].contains('\\'));
        }
        assert!(text.contains("\nwshub_memory_budget_limit_bytes 1048576\n"));
    }

    #[test]
    fn sent_counts_data_frames_and_their_payload_only() {
        let metrics = Metrics::default();
        let mut tally = Tally::default();
        tally.frame(&frame::encode(Opcode::Text, b"hello"));
        tally.frame(&frame::encode(Opcode::Binary, &[0; 300]));
        tally.frame(&frame::encode(Opcode::Binary, &[0; 70_000]));
        tally.frame(&frame::encode(Opcode::Ping, b"x"));
        tally.frame(&frame::close(1000, "bye"));
        metrics.sent(tally);
        assert_eq!(metrics.sent_messages.load(Relaxed), 3);
        assert_eq!(metrics.sent_bytes.load(Relaxed), 70_305);
    }

    #[test]
    fn the_open_gauge_follows_its_guards() {
        let metrics = Arc::new(Metrics::default());
        let a = metrics.opened();
        let b = metrics.opened();
        assert_eq!(metrics.open.load(Relaxed), 2);
        drop(a);
        drop(b);
        assert_eq!(metrics.open.load(Relaxed), 0);
    }
}
