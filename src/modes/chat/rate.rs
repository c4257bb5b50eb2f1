//! A per-client message allowance: a token bucket.

use std::time::Instant;

/// `per_second` messages on average, `burst` at once.
#[derive(Clone, Copy, Debug)]
pub(super) struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

/// What the allowance says about one message.
pub(super) enum Verdict {
    Pass,
    /// Over the allowance: told to slow down.
    Warn,
    /// Over it again before it recovered: closed.
    Close,
}

#[derive(Debug)]
pub(super) struct Allowance {
    /// Messages this client may still send now.
    left: f64,
    last: Instant,
    /// Told to slow down, and has not since.
    warned: bool,
}

impl Allowance {
    pub(super) fn full(rate: Rate) -> Allowance {
        Allowance {
            left: rate.burst,
            last: Instant::now(),
            warned: false,
        }
    }

    pub(super) fn spend(&mut self, rate: Rate) -> Verdict {
        let now = Instant::now();
        let earned = now.duration_since(self.last).as_secs_f64() * rate.per_second;
        self.left = (self.left + earned).min(rate.burst);
        self.last = now;
        if self.left >= 1.0 {
            self.left -= 1.0;
            self.warned = false;
            Verdict::Pass
        } else if !self.warned {
            self.warned = true;
            Verdict::Warn
        } else {
            Verdict::Close
        }
    }
}
