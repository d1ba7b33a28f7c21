//! Retry delays that double after each failure in a row, from a first delay up to a cap,
//! and start again after a success. The operator's reconcile retries, the agent's node
//! restarts and the storage node's status reports share this schedule, each with its own
//! delays.

use std::time::Duration;

/// The retry schedule of one thing that fails and is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    /// Whether the first failure in a row is retried at once (and the second after `first`).
    retry_first_at_once: bool,
    /// Failures since the last success.
    failures: u32,
}

impl Backoff {
    /// Delays `first`, `2 * first`, `4 * first`, ... up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            retry_first_at_once: false,
            failures: 0,
        }
    }

    /// The same schedule after one retry without delay: `0`, `first`, `2 * first`, ...
    pub const fn retrying_first_at_once(self) -> Backoff {
        Backoff {
            retry_first_at_once: true,
            ..self
        }
    }

    /// The longest delay.
    pub const fn max(&self) -> Duration {
        self.max
    }

    /// One more failure: how long to wait before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let failures = self.failures;
        self.failures = failures.saturating_add(1);
        let doublings = if self.retry_first_at_once {
            match failures.checked_sub(1) {
                Some(doublings) => doublings,
                None => return Duration::ZERO,
            }
        } else {
            failures
        };
        let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }

    /// A success: the next failure counts as the first again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delays_ms(mut backoff: Backoff, count: usize) -> Vec<u128> {
        (0..count)
            .map(|_| backoff.next_delay().as_millis())
            .collect()
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let seconds = Backoff::new(Duration::from_secs(1), Duration::from_secs(300));
        assert_eq!(
            delays_ms(seconds, 12),
            [
                1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000, 300000
            ]
        );
        let restarts = Backoff::new(Duration::from_millis(200), Duration::from_secs(30))
            .retrying_first_at_once();
        assert_eq!(
            delays_ms(restarts, 10),
            [0, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000]
        );
    }

    #[test]
    fn a_success_starts_the_schedule_again() {
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(40));
        for _ in 0..5 {
            backoff.next_delay();
        }
        assert_eq!(backoff.next_delay(), Duration::from_millis(40));
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(10));
    }

    #[test]
    fn endless_failures_stay_at_the_cap() {
        let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..100 {
            assert!(backoff.next_delay() <= backoff.max());
        }
        assert_eq!(backoff.next_delay(), Duration::from_secs(60));
    }
}
