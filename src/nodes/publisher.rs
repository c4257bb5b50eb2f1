//! The publisher thread: sends what the node publishes, in order, over
//! one connection, as many commands at a time as are waiting (one write,
//! one read of all the answers); beats; renews the node's names.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::warn;

use super::envelope::{self, Kind};
use super::keys::Keys;
use super::link::{self, Backoff, Link, Side};
use super::{Address, BEAT, HISTORY_TTL, Listener, NAME_TTL, Nodes, OUTBOX_BYTES, Outgoing};
use crate::hub::Hub;

/// Numbers a room's message, keeps it in the room's history and publishes
/// it, as one step: so the history and what subscribers receive agree on
/// every number, and a newcomer can tell what it has from what is coming.
/// KEYS: the room's counter, its history. ARGV: channel, head, body, how
/// many to keep, seconds to keep them.
const SEQUENCED: &str = r"
local seq = redis.call('INCR', KEYS[1])
local item = seq .. ' ' .. ARGV[3]
local keep = tonumber(ARGV[4])
if keep > 0 then
  redis.call('RPUSH', KEYS[2], item)
  redis.call('LTRIM', KEYS[2], -keep, -1)
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('PUBLISH', ARGV[1], ARGV[2] .. item)
return seq
";

/// Keeps a name this node holds (or makes it again after Redis lost it):
/// 1, or 0 if another node holds it now. KEYS: the name. ARGV: node, TTL.
const RENEW: &str = r"
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] or not owner then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return 0
";

/// Gives a name up if this node holds it. KEYS: the name. ARGV: node.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
";

/// The most commands sent in one write.
const BATCH: usize = 256;

struct Publisher {
    id: String,
    keys: Keys,
    address: Address,
    link: Arc<Link>,
    queued: Arc<AtomicUsize>,
    stale_members: Arc<AtomicBool>,
    listener: Arc<OnceLock<Arc<dyn Listener>>>,
    rx: Receiver<Outgoing>,
    hub: Hub,
}

/// The scripts' digests on the connection's server.
struct Scripts {
    sequenced: String,
    renew: String,
    release: String,
}

pub(super) fn spawn(
    nodes: &Nodes,
    rx: Receiver<Outgoing>,
    hub: Hub,
) -> std::io::Result<JoinHandle<()>> {
    let publisher = Publisher {
        id: nodes.id.clone(),
        keys: nodes.keys.clone(),
        address: nodes.address.clone(),
        link: nodes.link.clone(),
        queued: nodes.queued.clone(),
        stale_members: nodes.stale_members.clone(),
        listener: nodes.listener.clone(),
        rx,
        hub,
    };
    std::thread::Builder::new()
        .name("wshub-redis-out".into())
        .spawn(move || publisher.run())
}

/// Why serving ended.
enum End {
    Stopped,
    Failed(String),
}

impl Publisher {
    fn run(self) {
        let mut backoff = Backoff::new();
        loop {
            match self.connect() {
                Ok((mut con, scripts)) => {
                    backoff = Backoff::new();
                    if self.link.set(Side::Publisher, true, &self.address, "")
                        && let Some(listener) = self.listener.get()
                    {
                        listener.on_connected(&self.hub);
                    }
                    match self.serve(&mut con, &scripts) {
                        End::Stopped => return,
                        End::Failed(why) => {
                            self.link.set(Side::Publisher, false, &self.address, &why);
                        }
                    }
                }
                Err(e) => {
                    self.link
                        .set(Side::Publisher, false, &self.address, &e.to_string());
                }
            }
            // Away: what is handed over meanwhile is dropped, not kept
            // (pub/sub delivers at most once, and memory stays bounded).
            let until = Instant::now() + backoff.next();
            loop {
                match self.rx.recv_deadline(until) {
                    Ok(Outgoing::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                    Ok(dropped) => self.done(&dropped),
                    Err(RecvTimeoutError::Timeout) => break,
                }
            }
        }
    }

    fn connect(&self) -> redis::RedisResult<(redis::Connection, Scripts)> {
        let mut con = link::connect(&self.address, Duration::from_secs(2))?;
        let mut load = |script: &str| -> redis::RedisResult<String> {
            redis::cmd("SCRIPT").arg("LOAD").arg(script).query(&mut con)
        };
        let scripts = Scripts {
            sequenced: load(SEQUENCED)?,
            renew: load(RENEW)?,
            release: load(RELEASE)?,
        };
        Ok((con, scripts))
    }

    fn done(&self, what: &Outgoing) {
        self.queued.fetch_sub(what.len(), Ordering::Relaxed);
    }

    fn serve(&self, con: &mut redis::Connection, scripts: &Scripts) -> End {
        let beat = self.keys.beat();
        let alive = envelope::encode(&self.id, Kind::Alive, b"");
        let mut next_beat = Instant::now();
        let mut next_renewal = Instant::now();
        loop {
            let mut pipe = redis::pipe();
            let now = Instant::now();
            if now >= next_beat {
                pipe.cmd("PUBLISH").arg(&beat).arg(&alive[..]).ignore();
                next_beat = now + BEAT;
            }
            if now >= next_renewal {
                next_renewal = now + NAME_TTL / 3;
                if let Err(e) = self.renew(con, scripts) {
                    return End::Failed(e.to_string());
                }
            }
            if self.queued.load(Ordering::Relaxed) < OUTBOX_BYTES / 2
                && self.stale_members.swap(false, Ordering::Relaxed)
                && let Some(listener) = self.listener.get()
            {
                listener.announce(&self.hub);
            }
            let mut stopping = false;
            let first = match self.rx.recv_deadline(next_beat) {
                Ok(first) => Some(first),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return End::Stopped,
            };
            let batch = first
                .into_iter()
                .chain(std::iter::from_fn(|| self.rx.try_recv().ok()))
                .take(BATCH);
            for what in batch {
                self.done(&what);
                match what {
                    Outgoing::Stop => {
                        stopping = true;
                        break;
                    }
                    other => self.add(&mut pipe, scripts, other),
                }
            }
            // Everything handed over before the stop goes out first.
            if stopping {
                let bye = envelope::encode(&self.id, Kind::Bye, b"");
                pipe.cmd("PUBLISH").arg(&beat).arg(bye).ignore();
                let _ = pipe.query::<()>(con);
                return End::Stopped;
            }
            // Nothing to say this round (woken for nothing): the client
            // refuses an empty pipeline, and there is nothing to send.
            if pipe.is_empty() {
                continue;
            }
            if let Err(e) = pipe.query::<()>(con) {
                return End::Failed(e.to_string());
            }
        }
    }

    fn add(&self, pipe: &mut redis::Pipeline, scripts: &Scripts, what: Outgoing) {
        match what {
            Outgoing::Publish { channel, payload } => {
                pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
            }
            Outgoing::Sequenced {
                channel,
                room,
                head,
                body,
                keep,
            } => {
                pipe.cmd("EVALSHA")
                    .arg(&scripts.sequenced)
                    .arg(2)
                    .arg(self.keys.counter(&room))
                    .arg(self.keys.history(&room))
                    .arg(channel)
                    .arg(head)
                    .arg(body)
                    .arg(keep)
                    .arg(HISTORY_TTL.as_secs())
                    .ignore();
            }
            Outgoing::Release(name) => {
                pipe.cmd("EVALSHA")
                    .arg(&scripts.release)
                    .arg(1)
                    .arg(self.keys.name(&name))
                    .arg(&self.id)
                    .ignore();
            }
            Outgoing::Stop => {}
        }
    }

    /// Renews every name the chat holds; warns of one another node took
    /// while this one could not renew it (Redis was away past `NAME_TTL`).
    fn renew(&self, con: &mut redis::Connection, scripts: &Scripts) -> redis::RedisResult<()> {
        let Some(listener) = self.listener.get() else {
            return Ok(());
        };
        let names = listener.claims();
        if names.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for name in &names {
            pipe.cmd("EVALSHA")
                .arg(&scripts.renew)
                .arg(1)
                .arg(self.keys.name(name))
                .arg(&self.id)
                .arg(NAME_TTL.as_secs());
        }
        let kept: Vec<i64> = pipe.query(con)?;
        for (name, kept) in names.iter().zip(kept) {
            if kept == 0 {
                warn!(
                    "redis: the name {name} of a client here is now held by another node too (Redis lost it while this node was away)"
                );
            }
        }
        Ok(())
    }
}
