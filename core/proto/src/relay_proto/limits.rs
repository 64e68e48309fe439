//! Per-connection limits: what a relay announces in its welcome and
//! enforces, and the token bucket behind the request rate.

use core::time::Duration;

use serde::{Deserialize, Serialize};

/// The limits a relay applies to each connection, announced in
/// [`super::ServerHello::Welcome`] so a client can stay within them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayLimits {
    /// Mailboxes one connection may use (post, fetch, subscribe); one group
    /// per connection means its current and previous epoch: 2.
    pub max_mailboxes: u16,
    /// Most envelopes returned by one fetch (at most [`super::MAX_FETCH`]).
    pub max_fetch: u16,
    /// Posts the relay reads from one connection before their acks.
    pub max_inflight: u16,
    /// Sustained requests per second.
    pub requests_per_second: u32,
    /// Requests allowed in a burst above the sustained rate.
    pub burst: u32,
    /// Leading zero bits of the proof of work that creating a mailbox needs
    /// (0: none).
    pub pow_difficulty: u8,
    /// Seconds without a request after which the relay closes the
    /// connection; a subscriber pings more often than this.
    pub idle_timeout_secs: u32,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_mailboxes: 2,
            max_fetch: super::MAX_FETCH,
            max_inflight: 64,
            requests_per_second: 200,
            burst: 400,
            pow_difficulty: 0,
            idle_timeout_secs: 300,
        }
    }
}

/// One token per request, refilled at a steady rate up to a burst.
///
/// Integer arithmetic in millionths of a token; time is passed in.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    capacity: u64,
    micro_tokens: u64,
    last: Duration,
}

const ONE: u64 = 1_000_000;

impl TokenBucket {
    /// A full bucket: `rate` tokens per second, at most `burst` (≥ 1) held.
    pub fn new(rate: u32, burst: u32, now: Duration) -> Self {
        let capacity = u64::from(burst.max(1)) * ONE;
        Self { rate: u64::from(rate), capacity, micro_tokens: capacity, last: now }
    }

    /// Takes a token, or says how long until one is there.
    pub fn take(&mut self, now: Duration) -> Result<(), Duration> {
        let elapsed = now.saturating_sub(self.last);
        self.last = self.last.max(now);
        let refill = u64::try_from(elapsed.as_micros().saturating_mul(u128::from(self.rate)))
            .unwrap_or(u64::MAX);
        self.micro_tokens = self.micro_tokens.saturating_add(refill).min(self.capacity);
        if self.micro_tokens >= ONE {
            self.micro_tokens -= ONE;
            return Ok(());
        }
        let missing = ONE - self.micro_tokens;
        Err(match self.rate {
            0 => Duration::MAX,
            r => Duration::from_micros(missing.div_ceil(r)),
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn burst_then_steady_rate() {
        let t0 = Duration::from_secs(100);
        let mut b = TokenBucket::new(10, 3, t0);
        for _ in 0..3 {
            assert_eq!(b.take(t0), Ok(()));
        }
        assert_eq!(b.take(t0), Err(Duration::from_millis(100)));
        assert_eq!(b.take(t0 + Duration::from_millis(60)), Err(Duration::from_millis(40)));
        assert_eq!(b.take(t0 + Duration::from_millis(100)), Ok(()));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(b.take(later), Ok(()));
        }
        assert!(b.take(later).is_err());
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let mut b = TokenBucket::new(1, 1, Duration::from_secs(10));
        assert_eq!(b.take(Duration::from_secs(10)), Ok(()));
        assert!(b.take(Duration::from_secs(5)).is_err());
        assert_eq!(b.take(Duration::from_secs(11)), Ok(()));
        let mut zero = TokenBucket::new(0, 1, Duration::ZERO);
        assert_eq!(zero.take(Duration::ZERO), Ok(()));
        assert_eq!(zero.take(Duration::from_secs(9)), Err(Duration::MAX));
    }
}
