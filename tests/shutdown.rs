//! Graceful shutdown through the library: clients get 1001 and every
//! thread the server started is gone. (One test in this file, so the
//! process's thread count is this test's alone.)

mod common;

use common::*;
use wshub::{Server, modes::Echo};

#[test]
fn shutdown_closes_clients_with_1001_and_leaves_no_thread_behind() {
    let threads_before = threads();
    let fds_before = fds();
    let s = Server::new("127.0.0.1:0").start(Echo).unwrap();
    let addr = s.local_addr();
    let mut clients: Vec<Ws> = (0..5).map(|_| connect(addr, "/ws")).collect();
    // A connection still in its HTTP phase must not hold shutdown up.
    let _idle_http = std::net::TcpStream::connect(addr).unwrap();
    wait_until("the connection threads", || {
        threads() >= threads_before + 2 + 6
    });

    // Stop from another thread while this one reads.
    let stopper = std::thread::spawn(move || s.shutdown());
    for ws in &mut clients {
        assert_eq!(close_code(ws), 1001);
    }
    drop(clients);
    assert_eq!(stopper.join().unwrap(), 5);
    // `shutdown` joined every thread it started before returning.
    assert_eq!(threads(), threads_before);
    wait_until("descriptors to return", || fds() <= fds_before + 1);
}
