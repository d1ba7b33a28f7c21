//! Restart delays for crashed nodes: the first crash after a healthy run restarts at once,
//! a node that crashes again waits 200 ms, doubling up to 30 s; a minute of uptime makes the
//! next crash a first one again. A node that crashes at start-up does not spin the CPU, and
//! one that crashes rarely comes back as fast as a process can start.

use std::time::{Duration, Instant};

pub const INITIAL_DELAY: Duration = Duration::from_millis(200);
pub const MAX_DELAY: Duration = Duration::from_secs(30);
/// Uptime after which a crash counts as a fresh one.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// The restart schedule of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    next_delay: Duration,
    started_at: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next_delay: Duration::ZERO,
            started_at: None,
        }
    }
}

impl Backoff {
    /// The node (re)started at `now`.
    pub fn started(&mut self, now: Instant) {
        self.started_at = Some(now);
    }

    /// The node was found dead at `now`: how long to wait before restarting it.
    pub fn exited(&mut self, now: Instant) -> Duration {
        let ran_long_enough = self
            .started_at
            .is_some_and(|started| now.saturating_duration_since(started) >= HEALTHY_AFTER);
        if ran_long_enough {
            self.next_delay = Duration::ZERO;
        }
        self.started_at = None;
        let delay = self.next_delay;
        self.next_delay = (delay * 2).clamp(INITIAL_DELAY, MAX_DELAY);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let mut backoff = Backoff::default();
        let now = Instant::now();
        let delays: Vec<u128> = (0..10)
            .map(|_| {
                backoff.started(now);
                backoff.exited(now).as_millis()
            })
            .collect();
        assert_eq!(
            delays,
            [0, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000]
        );
    }

    #[test]
    fn a_minute_of_uptime_resets_the_delay() {
        let mut backoff = Backoff::default();
        let start = Instant::now();
        for _ in 0..4 {
            backoff.started(start);
            backoff.exited(start);
        }
        backoff.started(start);
        assert_eq!(backoff.exited(start + HEALTHY_AFTER), Duration::ZERO);
        backoff.started(start);
        assert_eq!(
            backoff.exited(start + Duration::from_secs(1)),
            INITIAL_DELAY
        );
    }
}
