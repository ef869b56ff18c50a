//! Reconnect and heartbeat bookkeeping, kept free of timers so it can be
//! tested natively; the socket task asks it what to do next.

/// Delays between reconnect attempts, as Supabase's clients use (1, 2, 5, 10 s, then 10 s).
const SCHEDULE_MS: [u32; 4] = [1_000, 2_000, 5_000, 10_000];

/// After this many failed attempts in a row the indicator says "offline".
pub const OFFLINE_AFTER_FAILURES: u32 = 4;

/// Counts consecutive failed connection attempts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// Records a failed or dropped connection and returns how long to wait before the next try.
    pub fn next_delay_ms(&mut self) -> u32 {
        let index = (self.failures as usize).min(SCHEDULE_MS.len() - 1);
        self.failures = self.failures.saturating_add(1);
        SCHEDULE_MS[index]
    }

    /// A connection succeeded: the next drop starts the schedule again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Whether to show "offline" rather than "reconnecting".
    pub fn looks_offline(&self) -> bool {
        self.failures >= OFFLINE_AFTER_FAILURES
    }
}

/// Tracks the outstanding heartbeat; a reply that does not come back in time
/// means the socket is dead even if the browser has not noticed yet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heartbeat {
    pending: Option<String>,
}

/// What the heartbeat timer should do on a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeartbeatAction {
    /// Send a heartbeat with this ref.
    Send(String),
    /// The previous heartbeat got no reply: close and reconnect.
    TimedOut,
}

impl Heartbeat {
    /// A tick of the 25 s timer; `next_ref` is the ref to use if one is sent.
    pub fn tick(&mut self, next_ref: String) -> HeartbeatAction {
        if self.pending.is_some() {
            self.pending = None;
            return HeartbeatAction::TimedOut;
        }
        self.pending = Some(next_ref.clone());
        HeartbeatAction::Send(next_ref)
    }

    /// A `phx_reply` on topic `phoenix` arrived with this ref.
    pub fn reply(&mut self, reference: &str) {
        if self.pending.as_deref() == Some(reference) {
            self.pending = None;
        }
    }

    /// Forget any outstanding heartbeat (the socket was replaced).
    pub fn clear(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delays_follow_the_schedule_and_then_stay_at_ten_seconds() {
        let mut backoff = Backoff::default();
        let delays: Vec<u32> = (0..6).map(|_| backoff.next_delay_ms()).collect();
        assert_eq!(delays, [1_000, 2_000, 5_000, 10_000, 10_000, 10_000]);
    }

    #[test]
    fn a_successful_connection_restarts_the_schedule() {
        let mut backoff = Backoff::default();
        backoff.next_delay_ms();
        backoff.next_delay_ms();
        backoff.reset();
        assert_eq!(backoff.next_delay_ms(), 1_000);
        assert_eq!(backoff.failures(), 1);
    }

    #[test]
    fn the_indicator_turns_offline_only_after_several_failures() {
        let mut backoff = Backoff::default();
        for _ in 0..OFFLINE_AFTER_FAILURES - 1 {
            backoff.next_delay_ms();
        }
        assert!(!backoff.looks_offline());
        backoff.next_delay_ms();
        assert!(backoff.looks_offline());
    }

    #[test]
    fn a_heartbeat_without_a_reply_by_the_next_tick_times_out() {
        let mut heartbeat = Heartbeat::default();
        assert_eq!(heartbeat.tick("1".into()), HeartbeatAction::Send("1".into()));
        assert_eq!(heartbeat.tick("2".into()), HeartbeatAction::TimedOut);
    }

    #[test]
    fn a_heartbeat_reply_with_the_right_ref_clears_it() {
        let mut heartbeat = Heartbeat::default();
        heartbeat.tick("7".into());
        heartbeat.reply("6");
        heartbeat.reply("7");
        assert_eq!(heartbeat.tick("8".into()), HeartbeatAction::Send("8".into()));
    }
}
