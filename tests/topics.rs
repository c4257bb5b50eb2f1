//! Topics in the library: `subscribe`, `publish`, `unsubscribe`, and
//! subscriptions ending with their connection.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use wshub::{Client, ClientId, Message, Request, Running, Server};

/// Subscribes each client to the topics named in its URL (`?topic=a&topic=b`
/// is not supported by `query_param`, so several are given as `a,b`), then
/// says so. `hello` gets `hi`. A client's text message `leave:T` unsubscribes it from `T` and
/// replies `left T`. Its first message, `ready ID`, gives its id; `say:T:TEXT` publishes TEXT to T but not to the sender.
struct Topics;

impl wshub::Handler for Topics {
    fn on_open(&self, client: &Client, request: &Request) {
        for topic in request.query_param("topic").unwrap_or_default().split(',') {
            client.subscribe(topic).expect("subscribe");
        }
        client.send(format!("ready {}", client.id())).expect("send");
    }

    fn on_message(&self, client: &Client, message: Message) {
        let text = message.as_text().unwrap_or_default();
        if text == "hello" {
            client.send("hi").expect("send");
        } else if let Some(topic) = text.strip_prefix("leave:") {
            client.unsubscribe(topic).expect("unsubscribe");
            client.send(format!("left {topic}")).expect("send");
        } else if let Some((topic, text)) =
            text.strip_prefix("say:").and_then(|t| t.split_once(':'))
        {
            let hub = client.hub();
            hub.publish_except(topic, client.id(), text)
                .expect("publish");
        }
    }
}

fn start() -> Running {
    Server::new("127.0.0.1:0").start(Topics).expect("start")
}

fn join(addr: SocketAddr, topics: &str) -> Ws {
    join_with_id(addr, topics).0
}

fn join_with_id(addr: SocketAddr, topics: &str) -> (Ws, ClientId) {
    let mut ws = connect(addr, &format!("/ws?topic={topics}"));
    let ready = next_text(&mut ws);
    let id = ready
        .strip_prefix("ready ")
        .expect("ready")
        .parse()
        .unwrap();
    (ws, id)
}

#[test]
fn a_publish_reaches_every_subscriber_and_no_one_else() {
    let s = start();
    let addr = s.local_addr();
    let mut a1 = join(addr, "a");
    let mut a2 = join(addr, "a,b");
    let mut b = join(addr, "b");
    let hub = s.hub();

    hub.publish("a", "to a").unwrap();
    hub.publish("b", "to b").unwrap();
    hub.publish("nobody", "to no one").unwrap();
    assert_eq!(next_text(&mut a1), "to a");
    assert_eq!(next_text(&mut a2), "to a");
    assert_eq!(next_text(&mut a2), "to b");
    // Had "to a" reached b, it would come before "to b".
    assert_eq!(next_text(&mut b), "to b");

    // publish_except leaves out the sender only.
    b.send("say:b:from b".into()).unwrap();
    assert_eq!(next_text(&mut a2), "from b");
    hub.publish("a", "after").unwrap();
    assert_eq!(next_text(&mut a1), "after");
    hub.publish("b", "for b").unwrap();
    assert_eq!(next_text(&mut b), "for b", "b never got its own message");
    assert_eq!(next_text(&mut a2), "after");
    assert_eq!(next_text(&mut a2), "for b");
    assert_eq!(hub.topic_count(), 2);
}

#[test]
fn subscriptions_end_with_the_connection_and_give_their_memory_back() {
    let s = start();
    let addr = s.local_addr();
    let hub = s.hub();
    let baseline = hub.memory_in_use();
    let mut clients: Vec<Ws> = (0..20)
        .map(|i| join(addr, &format!("t{},all", i % 5)))
        .collect();
    wait_until("6 topics", || hub.topic_count() == 6);
    assert!(
        hub.memory_in_use() > baseline,
        "the topic table counts against the budget"
    );
    for ws in &mut clients {
        ws.close(None).unwrap();
        while ws.read().is_ok() {}
    }
    wait_until("no topics", || hub.topic_count() == 0);
    wait_until("the budget back at its baseline", || {
        hub.memory_in_use() == baseline
    });
    // A topic whose subscribers have all gone drops what is published.
    hub.publish("all", "to no one").unwrap();
    let mut late = join(addr, "all");
    hub.publish("all", "hello").unwrap();
    assert_eq!(next_text(&mut late), "hello");
}

/// A reply sent after an unsubscribe comes after everything the topic
/// delivered before it, and nothing from the topic follows it, while
/// another thread publishes as fast as it can.
#[test]
fn a_reply_after_unsubscribe_follows_every_frame_of_the_topic() {
    let s = start();
    let addr = s.local_addr();
    let hub = s.hub().clone();
    for round in 0..100 {
        let (mut ws, id) = join_with_id(addr, "fast");
        let stop = Arc::new(AtomicBool::new(false));
        let publisher = {
            let (hub, stop) = (hub.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) && n < 200_000 {
                    hub.publish("fast", n.to_string()).unwrap();
                    n += 1;
                }
            })
        };
        // Let some frames through first, so the reply has something to
        // overtake; and reply a few times, so the client's thread has the
        // socket's token back whenever the hub has nothing queued for it
        // (replies then go out directly, the path that could overtake).
        let mut last: Option<u32> = None;
        let mut his = 0;
        for i in 0..200 {
            if i % 20 == 0 {
                ws.send("hello".into()).unwrap();
            }
            let text = next_text(&mut ws);
            if text == "hi" {
                his += 1;
                continue;
            }
            let n: u32 = text.parse().expect("a number");
            assert!(last.is_none_or(|l| n == l + 1), "in order");
            last = Some(n);
        }
        ws.send("leave:fast".into()).unwrap();
        loop {
            let text = next_text(&mut ws);
            if text == "left fast" {
                break;
            }
            if text == "hi" {
                his += 1;
                continue;
            }
            let n: u32 = text.parse().expect("a number or the reply");
            assert_eq!(Some(n), last.map(|l| l + 1), "round {round}: in order");
            last = Some(n);
        }
        // Nothing from the topic after the reply: a marker published after
        // the publisher stops is the next thing only if it was subscribed.
        assert_eq!(his, 10, "round {round}: every hello answered");
        stop.store(true, Ordering::Relaxed);
        publisher.join().unwrap();
        s.hub().send(id, "end").unwrap();
        assert_eq!(next_text(&mut ws), "end", "round {round}");
        ws.close(None).unwrap();
        while ws.read().is_ok() {}
    }
}

/// Subscribes at the handshake, then holds `on_open` until told.
struct Early(std::sync::Mutex<crossbeam_channel::Receiver<()>>);

impl wshub::Handler for Early {
    fn on_handshake(&self, _request: &Request) -> Result<wshub::Accepted, wshub::Refusal> {
        Ok(wshub::Accepted::default().subscribe("early"))
    }
    fn on_open(&self, client: &Client, _request: &Request) {
        let go = self.0.lock().unwrap().recv_timeout(WAIT);
        client.send(format!("opened: {go:?}")).unwrap();
    }
    fn on_message(&self, _client: &Client, _message: Message) {}
}

#[test]
fn a_subscription_made_at_the_handshake_misses_nothing_before_on_open() {
    let (go, wait) = crossbeam_channel::bounded(1);
    let s = Server::new("127.0.0.1:0")
        .start(Early(std::sync::Mutex::new(wait)))
        .unwrap();
    // The client has its 101; on_open is still waiting.
    let mut ws = connect(s.local_addr(), "/ws");
    s.hub()
        .publish("early", "published before on_open ran")
        .unwrap();
    go.send(()).unwrap();
    // What on_open sent comes first, then what was held for the client.
    assert_eq!(next_text(&mut ws), "opened: Ok(())");
    assert_eq!(next_text(&mut ws), "published before on_open ran");
}
