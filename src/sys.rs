//! The few system calls std does not offer: `poll(2)`, a wake-up descriptor,
//! a non-blocking vectored `send(2)`, and giving a thread's unused stack
//! pages back (`madvise(2)`).
//!
//! Everything here works on Linux and macOS. Only two threads ever sleep in
//! `poll`: the listener (its socket and a stop signal) and the hub (its inbox
//! signal and the sockets whose output is blocked). Connection threads sleep
//! in a plain blocking `read`, so no connection needs a descriptor of its own
//! besides its socket.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::time::Duration;

/// What a caller wants to wait for on one descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// One entry of a poll set, reusable between calls.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub(crate) struct PollFd(libc::pollfd);

impl PollFd {
    pub(crate) fn new(fd: RawFd, interest: Interest) -> Self {
        let events = match interest {
            Interest::Read => libc::POLLIN,
            Interest::Write => libc::POLLOUT,
        };
        PollFd(libc::pollfd {
            fd,
            events,
            revents: 0,
        })
    }

    /// True when the descriptor is ready, or in error (which the next
    /// read or write will report properly).
    pub(crate) fn ready(&self) -> bool {
        self.0.revents != 0
    }
}

/// Sleeps until a descriptor is ready or `timeout` passes (`None`: forever).
pub(crate) fn poll(fds: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    let ms = match timeout {
        None => -1,
        // Round up, so a deadline 0.4 ms away does not become a busy loop.
        Some(t) => t.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int,
    };
    loop {
        // SAFETY: PollFd is repr(transparent) over libc::pollfd, and we pass
        // the slice's own length.
        let n = unsafe {
            libc::poll(
                fds.as_mut_ptr().cast::<libc::pollfd>(),
                fds.len() as libc::nfds_t,
                ms,
            )
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// A descriptor another thread can make readable to wake a sleeper in
/// [`poll`], plus a flag so that a burst of wake-ups costs one system call.
///
/// The flag means "the sleeper is awake or already signalled". The sleeper
/// clears it just before it checks for work and sleeps; a waker only writes
/// the descriptor when it is the one that sets the flag.
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
            // SAFETY: eventfd returns a fresh descriptor or -1.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Waker {
                // SAFETY: fd is a valid descriptor we own.
                read: unsafe { OwnedFd::from_raw_fd(fd) },
                signalled: AtomicBool::new(false),
            })
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let mut fds = [0 as libc::c_int; 2];
            // SAFETY: pipe fills two descriptors or returns -1.
            if unsafe { libc::pipe(fds.as_mut_ptr()) } < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: both descriptors are valid and ours.
            let (read, write) =
                unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
            for fd in [&read, &write] {
                set_nonblocking_cloexec(fd.as_raw_fd())?;
            }
            Ok(Waker {
                read,
                write,
                signalled: AtomicBool::new(false),
            })
        }
    }

    /// The descriptor to put in the sleeper's poll set.
    pub(crate) fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
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
        // SAFETY: reading into a local buffer from our own descriptor; it is
        // non-blocking, so this returns at once when drained. One read
        // empties an eventfd; a pipe may take a few.
        while unsafe { libc::read(self.fd(), buf.as_mut_ptr().cast(), buf.len()) } > 0 {
            if cfg!(any(target_os = "linux", target_os = "android")) {
                break;
            }
        }
    }

    fn signal(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let (fd, bytes) = (self.read.as_raw_fd(), 1u64.to_ne_bytes());
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let (fd, bytes) = (self.write.as_raw_fd(), [1u8; 1]);
        // A full pipe or a saturated counter already means "wake up", so the
        // result does not matter.
        // SAFETY: writing a local buffer to our own descriptor.
        unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_nonblocking_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl < 0 || libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// How many buffers one `sendmsg` takes at most; well under every IOV_MAX.
pub(crate) const MAX_IOVECS: usize = 64;

/// Writes as much of `bufs` as the socket takes now, never blocking, with one
/// system call however many buffers there are. Returns the bytes written;
/// `WouldBlock` when the socket takes nothing.
pub(crate) fn send_vectored_nonblocking(fd: RawFd, bufs: &[&[u8]]) -> io::Result<usize> {
    let n = bufs.len().min(MAX_IOVECS);
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; MAX_IOVECS];
    for (v, b) in iov.iter_mut().zip(&bufs[..n]) {
        v.iov_base = b.as_ptr() as *mut libc::c_void;
        v.iov_len = b.len();
    }
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = n as _;
    // MSG_DONTWAIT makes this one call non-blocking while the connection
    // thread keeps blocking reads on the same socket.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = libc::MSG_DONTWAIT;
    loop {
        // SAFETY: iov points at live slices for the duration of the call.
        let r = unsafe { libc::sendmsg(fd, &msg, flags) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// macOS has no MSG_NOSIGNAL; the socket option does the same job there.
pub(crate) fn no_sigpipe(_fd: RawFd) {
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    // SAFETY: setsockopt with a valid int option value.
    unsafe {
        let one: libc::c_int = 1;
        libc::setsockopt(
            _fd,
            libc::SOL_SOCKET,
            libc::SO_NOSIGPIPE,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// The calling thread's stack: where it starts and ends, as the system
/// reports them. Taken when a connection thread starts, and used by that
/// thread only (it is not `Send`), for [`Stack::release_below_here`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stack {
    low: usize,
    top: usize,
    page: usize,
    /// Ties a `Stack` to the thread that took it.
    _this_thread: std::marker::PhantomData<*const ()>,
}

impl Stack {
    /// The calling thread's stack, if the system says where it is.
    #[cfg(target_os = "linux")]
    pub(crate) fn current() -> Option<Stack> {
        // SAFETY: pthread_getattr_np fills a zeroed attr for the given
        // thread, here the calling one; the attr is destroyed once its
        // stack has been read. sysconf only reads a system constant.
        unsafe {
            let page = usize::try_from(libc::sysconf(libc::_SC_PAGESIZE)).ok()?;
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
                return None;
            }
            let mut addr: *mut libc::c_void = std::ptr::null_mut();
            let mut size: libc::size_t = 0;
            let got = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
            libc::pthread_attr_destroy(&mut attr);
            let low = addr as usize;
            (got == 0 && low != 0 && page.is_power_of_two()).then_some(Stack {
                low,
                top: low.checked_add(size)?,
                page,
                _this_thread: std::marker::PhantomData,
            })
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(crate) fn current() -> Option<Stack> {
        None
    }

    /// Gives the kernel back the pages of this stack below the caller's
    /// frame. Short deep work (the handshake, log formatting, `on_open`)
    /// leaves those pages resident for the thread's life; after this an
    /// idle connection keeps only the pages its blocking read reaches (2
    /// instead of 3 of them: 4 KiB less per connection). A page touched
    /// again is faulted back in, zero-filled, at the cost of a page fault.
    #[inline(never)]
    pub(crate) fn release_below_here(&self) {
        let here = 0u8;
        let sp = std::ptr::addr_of!(here) as usize;
        if !(self.low < sp && sp < self.top) {
            // Not this stack: never touch memory we cannot vouch for.
            return;
        }
        let low = self.low.next_multiple_of(self.page);
        // Whole pages only (the kernel rounds a length up to a page), well
        // clear of this frame and of the 128-byte red zone below the stack
        // pointer that leaf functions may use.
        let end = sp.saturating_sub(512) & !(self.page - 1);
        if end <= low {
            return;
        }
        #[cfg(target_os = "linux")]
        // SAFETY: [low, end) is whole pages of this thread's own stack (the
        // stack pointer was checked to lie in the range the system gave
        // for it, and a Stack never leaves the thread that took it), all
        // below this frame: no live frame, return address or red zone is
        // in it, and nothing refers to memory below the stack pointer. On
        // older glibc the range may include the guard page, where
        // MADV_DONTNEED does nothing. Touching a dropped page again maps a
        // zero-filled one.
        unsafe {
            libc::madvise(low as *mut libc::c_void, end - low, libc::MADV_DONTNEED);
        }
    }
}
