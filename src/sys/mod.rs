//! The few system calls std does not offer: `poll(2)`, a wake-up descriptor,
//! a non-blocking vectored `send(2)`, and giving a thread's unused stack
//! pages back (`madvise(2)`).
//!
//! Everything here works on Linux and macOS. Only two threads ever sleep in
//! `poll`: the listener (its socket and a stop signal) and the hub (its inbox
//! signal and the sockets whose output is blocked). Connection threads sleep
//! in a plain blocking `read`, so no connection needs a descriptor of its own
//! besides its socket.
//!
//! The calls go through rustix's safe wrappers, which take borrowed
//! descriptors and slices, so none of this needs `unsafe`. The exception is
//! [`memory`]: nothing safe reads a thread's own stack bounds or drops its
//! pages, and glibc's `mallopt` has no wrapper; that module is the only
//! place in the crate allowed `unsafe` code.

mod memory;
mod poll;
mod send;

pub(crate) use memory::Stack;
pub use memory::tune_allocator;
pub(crate) use poll::{PollFd, PollFlags, Waker, poll, ready};
pub(crate) use send::{MAX_IOVECS, no_sigpipe, send_vectored_nonblocking};
