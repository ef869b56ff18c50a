//! Per-address rate limiting of password sign-ins, as GoTrue does: a token
//! bucket per client address that holds `limit` requests and refills `limit`
//! every [`WINDOW`]. An empty bucket answers 429 `over_request_rate_limit`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Supabase's rate limits are counted per 5 minutes.
pub const WINDOW: Duration = Duration::from_secs(300);

/// Buckets kept before full (idle) ones are forgotten.
const PRUNE_ABOVE: usize = 4096;

/// Token buckets by client address.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `limit` requests per [`WINDOW`] per address; 0 turns limiting off.
    pub fn new(limit: u32) -> RateLimiter {
        RateLimiter { limit, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `address`'s bucket; false when it is empty.
    pub fn allow(&self, address: IpAddr) -> bool {
        self.allow_at(address, Instant::now())
    }

    fn allow_at(&self, address: IpAddr, now: Instant) -> bool {
        if self.limit == 0 {
            return true;
        }
        let capacity = f64::from(self.limit);
        let per_second = capacity / WINDOW.as_secs_f64();
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second < capacity);
        }
        let bucket = buckets.entry(address).or_insert(Bucket { tokens: capacity, at: now });
        let refilled = bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() * per_second;
        bucket.tokens = refilled.min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const AWAY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 7));

    #[test]
    fn an_address_gets_its_limit_then_is_refused_while_others_are_not() {
        let limiter = RateLimiter::new(3);
        let now = Instant::now();
        assert_eq!((0..4).map(|_| limiter.allow_at(HOME, now)).collect::<Vec<_>>(), [true, true, true, false]);
        assert!(limiter.allow_at(AWAY, now));
    }

    #[test]
    fn the_bucket_refills_over_the_window() {
        let limiter = RateLimiter::new(3);
        let now = Instant::now();
        for _ in 0..3 {
            assert!(limiter.allow_at(HOME, now));
        }
        assert!(!limiter.allow_at(HOME, now + WINDOW / 6));
        assert!(limiter.allow_at(HOME, now + WINDOW / 3 + Duration::from_millis(10)));
    }

    #[test]
    fn a_limit_of_zero_never_refuses() {
        let limiter = RateLimiter::new(0);
        assert!((0..100).all(|_| limiter.allow(HOME)));
    }
}
