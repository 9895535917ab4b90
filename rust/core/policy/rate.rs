//! Per-client rate limits: token buckets for messages and bytes per second. A client over
//! its budget is not read until the budget refills, so a flood slows down through TCP and
//! nothing is lost.

use std::time::{Duration, Instant};

/// One bucket: refills at `rate` per second up to one second's worth.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
}

impl Bucket {
    fn new(rate: u64) -> Self {
        Bucket {
            rate: rate as f64,
            tokens: rate as f64,
        }
    }

    fn refill(&mut self, elapsed: f64) {
        self.tokens = (self.tokens + self.rate * elapsed).min(self.rate);
    }

    /// Time until the bucket is out of debt.
    fn wait(&self) -> Duration {
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// The limits of one connection (0: no limit), read when it opens and applied as
/// messages arrive.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    messages: Option<Bucket>,
    bytes: Option<Bucket>,
    last: Instant,
}

impl RateLimiter {
    /// `None` when both limits are 0.
    pub fn new(messages_per_second: u64, bytes_per_second: u64, now: Instant) -> Option<Self> {
        let messages = (messages_per_second > 0).then(|| Bucket::new(messages_per_second));
        let bytes = (bytes_per_second > 0).then(|| Bucket::new(bytes_per_second));
        (messages.is_some() || bytes.is_some()).then_some(RateLimiter {
            messages,
            bytes,
            last: now,
        })
    }

    /// Takes a received message of `len` bytes from the budget (it may go into debt).
    pub fn take(&mut self, len: usize, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        if let Some(b) = &mut self.messages {
            b.refill(elapsed);
            b.tokens -= 1.0;
        }
        if let Some(b) = &mut self.bytes {
            b.refill(elapsed);
            b.tokens -= len as f64;
        }
    }

    /// How long to stop reading before the next message may be read.
    pub fn wait(&self) -> Duration {
        let m = self.messages.as_ref().map_or(Duration::ZERO, Bucket::wait);
        let b = self.bytes.as_ref().map_or(Duration::ZERO, Bucket::wait);
        m.max(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_when_both_are_zero() {
        assert!(RateLimiter::new(0, 0, Instant::now()).is_none());
    }

    #[test]
    fn a_burst_of_one_second_then_the_rate() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(10, 0, t0).unwrap();
        for _ in 0..10 {
            r.take(100, t0);
        }
        assert_eq!(r.wait(), Duration::ZERO, "one second's worth at once");
        r.take(100, t0);
        assert_eq!(r.wait(), Duration::from_millis(100));
        // 100 ms later the debt is paid.
        r.take(100, t0 + Duration::from_millis(100));
        assert_eq!(r.wait(), Duration::from_millis(100));
    }

    #[test]
    fn bytes_limit_with_a_message_larger_than_a_second() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(0, 1000, t0).unwrap();
        r.take(3000, t0);
        assert_eq!(r.wait(), Duration::from_secs(2));
    }
}
