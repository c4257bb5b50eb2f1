//! Giving memory back to the system: the unused pages of a thread's stack,
//! and large message buffers once freed (glibc's mmap threshold).
//!
//! The one module allowed `unsafe` code: nothing safe in a well-kept crate
//! reads the calling thread's stack bounds (`pthread_getattr_np`), rustix's
//! `madvise` is an `unsafe fn` (it can drop live memory), and glibc's
//! `mallopt` has no wrapper at all. Each block says why it is sound.

#![allow(unsafe_code)]

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
        let page = rustix::param::page_size();
        // SAFETY: pthread_getattr_np fills a zeroed attr for the given
        // thread, here the calling one; the attr is destroyed once its
        // stack has been read.
        let (got, addr, size) = unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
                return None;
            }
            let mut addr: *mut libc::c_void = std::ptr::null_mut();
            let mut size: libc::size_t = 0;
            let got = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
            libc::pthread_attr_destroy(&mut attr);
            (got, addr, size)
        };
        let low = addr as usize;
        (got == 0 && low != 0 && page.is_power_of_two()).then_some(Stack {
            low,
            top: low.checked_add(size)?,
            page,
            _this_thread: std::marker::PhantomData,
        })
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

/// Makes glibc's allocator give large message buffers back to the system
/// when they are freed, so the process's memory follows the budget. For
/// the `wshub` binary, which calls it first thing; it does nothing with
/// other C libraries.
///
/// By default glibc raises its mmap threshold each time a large block is
/// freed (up to 32 MiB), after which message-sized buffers come from
/// per-thread heaps that keep freed memory, and a growing buffer is copied
/// rather than remapped. Measured under 40 clients sending 15 MiB messages
/// with a 64 MiB budget: peaks of 74 to 111 MiB by default.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter, an integer that
    // glibc's free() itself rewrites from any thread (that is the dynamic
    // threshold this turns off), so setting it while other threads
    // allocate is no worse than what glibc does anyway. The binary calls
    // this before it starts any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
