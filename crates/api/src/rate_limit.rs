//! Per-address rate limit: at most N requests per client address per minute
//! (fixed one-minute windows). Off unless `RATE_LIMIT_PER_MINUTE` is set.
//!
//! Checked before authentication and before the body is read, so a flood of
//! unauthenticated or slow requests is refused at the cost of a map lookup.
//! The client address comes from [`crate::client_addr`]. IPv6 addresses
//! count per /64, the block one host is usually given, so a sender cannot
//! dodge the limit by rotating through its own addresses.
//!
//! Memory is bounded: at most [`MAX_TRACKED_ADDRESSES`] windows are kept.
//! When the table is full, expired windows go first; if it is still full,
//! the eighth of the windows that started longest ago are dropped (those
//! addresses start a fresh window). Dropping in batches keeps the cost per
//! request constant on average.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// Most addresses tracked at once (about 64 bytes each).
pub const MAX_TRACKED_ADDRESSES: usize = 100_000;

pub struct RateLimiter {
    per_minute: u32,
    capacity: usize,
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter::with_capacity(per_minute, MAX_TRACKED_ADDRESSES)
    }

    /// A limiter that tracks at most `capacity` addresses.
    pub fn with_capacity(per_minute: u32, capacity: usize) -> Self {
        RateLimiter { per_minute, capacity: capacity.max(8), windows: Mutex::new(HashMap::new()) }
    }

    /// Counts one request from `client`; `Err(seconds)` when over the limit.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let key = bucket(client);
        let Ok(mut windows) = self.windows.lock() else { return Ok(()) };
        if windows.len() >= self.capacity && !windows.contains_key(&key) {
            self.make_room(&mut windows, now);
        }
        let (start, count) = windows.entry(key).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            *start = now;
            *count = 0;
        }
        if *count >= self.per_minute {
            let left = WINDOW.saturating_sub(now.duration_since(*start));
            return Err(left.as_secs().max(1));
        }
        *count += 1;
        Ok(())
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.windows.lock().map(|w| w.len()).unwrap_or(0)
    }

    fn make_room(&self, windows: &mut HashMap<IpAddr, (Instant, u32)>, now: Instant) {
        windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        if windows.len() < self.capacity {
            return;
        }
        let mut starts: Vec<Instant> = windows.values().map(|(start, _)| *start).collect();
        let eighth = starts.len() / 8;
        let (_, oldest_kept, _) = starts.select_nth_unstable(eighth);
        let oldest_kept = *oldest_kept;
        windows.retain(|_, (start, _)| *start >= oldest_kept);
        if windows.len() >= self.capacity {
            // Every window started at the same instant: drop any eighth.
            let drop: Vec<IpAddr> = windows.keys().take(eighth.max(1)).copied().collect();
            for key in drop {
                windows.remove(&key);
            }
        }
    }
}

/// The key an address counts under: IPv4 (and IPv4-mapped IPv6) as is,
/// other IPv6 addresses by their /64.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn requests_over_the_limit_are_refused_per_sender() {
        let limiter = RateLimiter::new(2);
        let a = ip("127.0.0.1");
        let b = ip("127.0.0.2");
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let retry = limiter.check(a).unwrap_err();
        assert!((1..=60).contains(&retry));
        assert!(limiter.check(b).is_ok());
    }

    #[test]
    fn ipv6_addresses_in_one_slash_64_share_a_window_and_mapped_ipv4_is_ipv4() {
        let limiter = RateLimiter::new(1);
        assert!(limiter.check(ip("2001:db8:1:2::1")).is_ok());
        assert!(limiter.check(ip("2001:db8:1:2:ffff::9")).is_err(), "same /64");
        assert!(limiter.check(ip("2001:db8:1:3::1")).is_ok(), "another /64");
        assert!(limiter.check(ip("192.0.2.1")).is_ok());
        assert!(limiter.check(ip("::ffff:192.0.2.1")).is_err(), "the same IPv4 sender");
    }

    #[test]
    fn the_table_never_holds_more_than_its_capacity_however_many_addresses_send() {
        let limiter = RateLimiter::with_capacity(1, 1000);
        for i in 0..50_000u32 {
            let _ = limiter.check(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i)));
            assert!(limiter.tracked() <= 1000, "after {i}: {}", limiter.tracked());
        }
        // The most recent senders are still counted.
        assert!(limiter.check(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + 49_999))).is_err());
    }
}
