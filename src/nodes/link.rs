//! The state of a node's connections to Redis, the one log line per
//! change of it, and the wait between attempts.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use log::{info, warn};

use super::{Address, MAX_BACKOFF};

/// Which connection a change is about.
#[derive(Clone, Copy)]
pub(super) enum Side {
    Publisher,
    Subscriber,
}

#[derive(Default)]
pub(crate) struct Link {
    /// Each connection's own state, written by its thread; read by anyone
    /// (`Relaxed`: a reader wants the latest figure, nothing depends on
    /// it in step with other memory).
    publisher: AtomicBool,
    subscriber: AtomicBool,
    /// Whether the node last said (in the log) it had Redis. The lock
    /// makes the two threads' changes say one line each time the whole
    /// changes; it is held for a comparison and a log call, nothing else.
    said_up: Mutex<Option<bool>>,
}

impl Link {
    pub(super) fn publisher_up(&self) -> bool {
        self.publisher.load(Ordering::Relaxed)
    }

    pub(crate) fn up(&self) -> bool {
        self.publisher.load(Ordering::Relaxed) && self.subscriber.load(Ordering::Relaxed)
    }

    /// Records a connection's change and logs the node's, once; true when
    /// this change made the whole link up.
    pub(super) fn set(&self, side: Side, up: bool, address: &Address, why: &str) -> bool {
        match side {
            Side::Publisher => self.publisher.store(up, Ordering::Relaxed),
            Side::Subscriber => self.subscriber.store(up, Ordering::Relaxed),
        }
        let now = self.up();
        let mut said = self.said_up.lock().unwrap_or_else(|e| e.into_inner());
        if *said == Some(now) || (now != up) {
            return false;
        }
        match (now, *said) {
            (true, _) => {
                info!("redis: connected to {address}; sharing topics with the other nodes")
            }
            (false, Some(true)) => warn!(
                "redis: lost {address} ({why}); serving this node's clients only, and retrying"
            ),
            (false, _) => warn!(
                "redis: cannot reach {address} ({why}); serving this node's clients only, and retrying (is redis-server running there?)"
            ),
        }
        *said = Some(now);
        now
    }
}

/// A connection with `timeout` for connecting, reading and writing.
pub(super) fn connect(
    address: &Address,
    timeout: Duration,
) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(address.connection_info()?)?;
    let con = client.get_connection_with_timeout(timeout)?;
    con.set_read_timeout(Some(timeout))?;
    con.set_write_timeout(Some(timeout))?;
    Ok(con)
}

/// The error of a round trip that could not be made.
pub(super) fn down() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        "not connected to redis",
    ))
}

/// Waits between attempts: 100 ms, doubling up to `MAX_BACKOFF`.
pub(super) struct Backoff(Duration);

impl Backoff {
    pub(super) fn new() -> Backoff {
        Backoff(Duration::from_millis(100))
    }

    pub(super) fn next(&mut self) -> Duration {
        let now = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        now
    }
}
