//! Helpers for the load generator: clocks, statistics, number formatting,
//! figures of another process from /proc, CPU pinning, the descriptor
//! limit, and a small level-triggered epoll wrapper.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Nanoseconds since the generator started: the clock of every timestamp
/// the generator puts in a payload, shared by all its threads.
pub fn now_ns() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

pub const MS: u64 = 1_000_000;
pub const SEC: u64 = 1_000_000_000;

/// The value at `pct` percent of sorted `v` (nearest rank), 0 when empty.
pub fn percentile(sorted: &[u64], pct: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((pct / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of a few figures (the lower middle one for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[(v.len() - 1) / 2]
}

/// `1234567` as `1,234,567`.
pub fn commas(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in nanoseconds as milliseconds with three significant digits.
pub fn ms(ns: u64) -> String {
    let v = ns as f64 / MS as f64;
    if v < 1.0 {
        format!("{v:.3} ms")
    } else if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// Bytes as KiB or MiB.
pub fn size(bytes: f64) -> String {
    if bytes.abs() < 1024.0 * 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{:.2} MiB", bytes / (1024.0 * 1024.0))
    }
}

/// A field of /proc/PID/status in its unit (kB for memory), e.g. `VmRSS`.
pub fn proc_status(pid: u32, key: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

pub fn rss_bytes(pid: u32) -> Option<u64> {
    proc_status(pid, "VmRSS").map(|kb| kb * 1024)
}

pub fn threads(pid: u32) -> Option<u64> {
    proc_status(pid, "Threads")
}

/// The inodes of the sockets a process holds open, from /proc/PID/fd.
pub fn socket_inodes(pid: u32) -> Option<HashSet<u64>> {
    let dir = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let sockets = dir.filter_map(|entry| {
        let link = fs::read_link(entry.ok()?.path()).ok()?;
        let inode = link.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?;
        inode.parse().ok()
    });
    Some(sockets.collect())
}

/// CPU time (user + system) a process has used, from /proc/PID/stat.
pub fn proc_cpu(pid: u32) -> Option<Duration> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields resume after its ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the line (utime, stime) are 11 and 12 here.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_nanos(ticks * SEC / hz))
}

/// CPU time (user + system) used by this process, all threads.
pub fn self_cpu() -> Duration {
    // SAFETY: getrusage fills a local struct.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return Duration::ZERO;
        }
        let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        Duration::from_micros(us(ru.ru_utime) + us(ru.ru_stime))
    }
}

/// Raises the soft descriptor limit to the hard one; returns the new soft
/// limit.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
        lim.rlim_cur
    }
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills a local cpu_set_t.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Pins the calling thread (and the threads it creates later) to one CPU.
pub fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: sched_setaffinity reads a local cpu_set_t.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Makes `close` reset the connection at once (RST, no TIME_WAIT).
pub fn set_linger_zero(fd: RawFd) {
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads a local struct of the given size.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&lg as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Waits until `fd` can take more output, at most `timeout_ms`.
pub fn wait_writable(fd: RawFd, timeout_ms: i32) {
    wait_for(fd, libc::POLLOUT, timeout_ms);
}

/// Waits at most `timeout_ms` for one of `events` (poll(2) flags) on `fd`;
/// returns the events seen, 0 on timeout. POLLHUP and POLLERR are always
/// reported.
pub fn wait_for(fd: RawFd, events: libc::c_short, timeout_ms: i32) -> libc::c_short {
    let mut p = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: poll on one local pollfd.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if n > 0 { p.revents } else { 0 }
}

/// A level-triggered epoll set of readable sockets, each with a token.
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor owned by nobody else.
        Ok(Epoll {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: epoll_ctl reads a local event.
        if unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn delete(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add`.
        unsafe {
            libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev);
        }
    }

    /// Fills `tokens` with the tokens of ready sockets; waits at most
    /// `timeout_ms`.
    pub fn wait(&self, events: &mut [libc::epoll_event], tokens: &mut Vec<u64>, timeout_ms: i32) {
        tokens.clear();
        // SAFETY: epoll_wait writes at most events.len() entries.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                timeout_ms,
            )
        };
        for ev in events.iter().take(n.max(0) as usize) {
            let token = ev.u64;
            tokens.push(token);
        }
    }
}

/// Errors seen in a run: how many, and the first few.
#[derive(Debug, Default, Clone)]
pub struct Errors {
    pub count: u64,
    pub first: Vec<String>,
}

impl Errors {
    pub fn add(&mut self, e: impl Into<String>) {
        self.count += 1;
        if self.first.len() < 4 {
            self.first.push(e.into());
        }
    }

    pub fn merge(&mut self, other: Errors) {
        self.count += other.count;
        for e in other.first {
            if self.first.len() < 4 {
                self.first.push(e);
            }
        }
    }
}

/// CPU time of the children this process has waited for (servers that
/// were stopped).
pub fn children_cpu() -> Duration {
    // SAFETY: getrusage fills a local struct.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) != 0 {
            return Duration::ZERO;
        }
        let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        Duration::from_micros(us(ru.ru_utime) + us(ru.ru_stime))
    }
}

/// Busy time (everything but idle and iowait, steal included) of `cpus`,
/// from /proc/stat.
fn cpus_busy(cpus: &[usize]) -> Duration {
    let Ok(text) = fs::read_to_string("/proc/stat") else {
        return Duration::ZERO;
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut ticks = 0u64;
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let Some(cpu) = f.next().and_then(|n| n.strip_prefix("cpu")) else {
            continue;
        };
        if !cpu.parse::<usize>().is_ok_and(|c| cpus.contains(&c)) {
            continue;
        }
        let v: Vec<u64> = f.filter_map(|x| x.parse().ok()).collect();
        // user nice system idle iowait irq softirq steal (guest is in user)
        ticks += v.iter().take(8).sum::<u64>() - v.get(3).unwrap_or(&0) - v.get(4).unwrap_or(&0);
    }
    Duration::from_nanos(ticks * SEC / hz)
}

/// What else runs on the benchmark's CPUs: a mark taken before a scenario,
/// read after its servers are stopped.
pub struct Others {
    cpus: Vec<usize>,
    at: Instant,
    busy: Duration,
    own: Duration,
}

impl Others {
    pub fn mark(cpus: &[usize]) -> Others {
        Others {
            cpus: cpus.to_vec(),
            at: Instant::now(),
            busy: cpus_busy(cpus),
            own: self_cpu() + children_cpu(),
        }
    }

    /// The share of the CPUs' time used by other processes since the mark
    /// (0.0 to 1.0). Servers must have been stopped (reaped) to count as
    /// our own.
    pub fn share(&self) -> f64 {
        if self.cpus.is_empty() {
            return 0.0;
        }
        let busy = cpus_busy(&self.cpus).saturating_sub(self.busy);
        let own = (self_cpu() + children_cpu()).saturating_sub(self.own);
        let wall = self.at.elapsed().as_secs_f64() * self.cpus.len() as f64;
        (busy.saturating_sub(own).as_secs_f64() / wall.max(1e-9)).clamp(0.0, 1.0)
    }
}

/// `LOAD_VERBOSE=1`: print the phases of every run on stderr.
pub fn verbose() -> bool {
    static V: OnceLock<bool> = OnceLock::new();
    *V.get_or_init(|| std::env::var_os("LOAD_VERBOSE").is_some_and(|v| v != "0"))
}

/// Prints a phase of a run when verbose.
pub fn trace(what: std::fmt::Arguments<'_>) {
    if verbose() {
        eprintln!("[{:9.3} s] {what}", now_ns() as f64 / SEC as f64);
    }
}
