//! Writing a socket without blocking and without SIGPIPE, while its
//! connection thread keeps blocking reads on it.

use std::io::{self, IoSlice};
use std::os::fd::BorrowedFd;

use rustix::net::{SendAncillaryBuffer, SendFlags, sendmsg};

/// How many buffers one `sendmsg` takes at most; well under every IOV_MAX.
pub(crate) const MAX_IOVECS: usize = 64;

/// Writes as much of `bufs` as the socket takes now, never blocking, with one
/// system call however many buffers there are. Returns the bytes written;
/// `WouldBlock` when the socket takes nothing.
pub(crate) fn send_vectored_nonblocking(fd: BorrowedFd<'_>, bufs: &[&[u8]]) -> io::Result<usize> {
    let n = bufs.len().min(MAX_IOVECS);
    let mut iov = [IoSlice::new(&[]); MAX_IOVECS];
    for (v, b) in iov.iter_mut().zip(&bufs[..n]) {
        *v = IoSlice::new(b);
    }
    // MSG_DONTWAIT makes this one call non-blocking while the connection
    // thread keeps blocking reads on the same socket.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = SendFlags::DONTWAIT;
    loop {
        match sendmsg(fd, &iov[..n], &mut SendAncillaryBuffer::default(), flags) {
            Ok(sent) => return Ok(sent),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// macOS has no MSG_NOSIGNAL; the socket option does the same job there.
pub(crate) fn no_sigpipe(_socket: BorrowedFd<'_>) {
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    let _ = rustix::net::sockopt::set_socket_nosigpipe(_socket, true);
}
