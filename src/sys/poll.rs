//! Sleeping in `poll(2)` until a descriptor is ready, and the [`Waker`]
//! another thread uses to end that sleep.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::time::Duration;

use rustix::event::Timespec;
// One entry of a poll set: a descriptor, borrowed for as long as the entry
// lives, and what to wait for on it (`PollFlags::IN` or `OUT`).
pub(crate) use rustix::event::{PollFd, PollFlags};

/// True when the descriptor is ready, or in error (which the next read or
/// write will report properly).
pub(crate) fn ready(fd: &PollFd<'_>) -> bool {
    !fd.revents().is_empty()
}

/// Sleeps until a descriptor is ready or `timeout` passes (`None`: forever).
pub(crate) fn poll(fds: &mut [PollFd<'_>], timeout: Option<Duration>) -> io::Result<usize> {
    // Linux sleeps for the exact time (rustix uses `ppoll` there); where
    // rustix falls back to `poll` it rounds up to whole milliseconds, so a
    // deadline 0.4 ms away does not become a busy loop, and refuses more
    // than i32::MAX of them: cap there (24 days), as a millisecond poll
    // would.
    let timeout = timeout
        .map(|t| Timespec::try_from(t.min(Duration::from_millis(i32::MAX as u64))))
        .transpose()
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    loop {
        match rustix::event::poll(fds, timeout.as_ref()) {
            Ok(n) => return Ok(n),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A descriptor another thread can make readable to wake a sleeper in
/// [`poll`], plus a flag so that a burst of wake-ups costs one system call.
///
/// The flag means "the sleeper is awake or already signalled". The sleeper
/// clears it just before it checks for work and sleeps; a waker only writes
/// the descriptor when it is the one that sets the flag.
///
/// Its descriptor, to put in the sleeper's poll set, is the one `as_fd`
/// lends.
pub(crate) struct Waker {
    read: OwnedFd,
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    write: OwnedFd,
    signalled: AtomicBool,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Waker> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use rustix::event::{EventfdFlags, eventfd};
            Ok(Waker {
                read: eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?,
                signalled: AtomicBool::new(false),
            })
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            // macOS has no pipe2, hence the flags one call at a time.
            let (read, write) = rustix::pipe::pipe()?;
            for fd in [&read, &write] {
                rustix::io::ioctl_fionbio(fd, true)?;
                rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC)?;
            }
            Ok(Waker {
                read,
                write,
                signalled: AtomicBool::new(false),
            })
        }
    }

    /// Wakes the sleeper unless it is already awake or signalled.
    pub(crate) fn wake(&self) {
        // Pairs with the fence in `about_to_sleep`: either the sleeper sees
        // our work, or we see its cleared flag and write the descriptor.
        fence(Ordering::SeqCst);
        if !self.signalled.swap(true, Ordering::SeqCst) {
            self.signal();
        }
    }

    /// Called by the sleeper before its last look for work ahead of `poll`.
    pub(crate) fn about_to_sleep(&self) {
        self.signalled.store(false, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Called by the sleeper when `poll` returns: drains the descriptor and
    /// marks itself awake, so wakers skip the system call while it works.
    /// `signalled` says whether `poll` reported the descriptor readable;
    /// if not, there is nothing to drain and no system call is made.
    pub(crate) fn woke(&self, signalled: bool) {
        self.signalled.store(true, Ordering::SeqCst);
        if !signalled {
            return;
        }
        let mut buf = [0u8; 64];
        // The descriptor is non-blocking, so this returns at once when
        // drained. One read empties an eventfd; a pipe may take a few.
        while matches!(rustix::io::read(&self.read, &mut buf), Ok(n) if n > 0) {
            if cfg!(any(target_os = "linux", target_os = "android")) {
                break;
            }
        }
    }

    fn signal(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let (fd, bytes) = (&self.read, 1u64.to_ne_bytes());
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let (fd, bytes) = (&self.write, [1u8; 1]);
        // A full pipe or a saturated counter already means "wake up", so the
        // result does not matter.
        let _ = rustix::io::write(fd, &bytes);
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}
