//! Per-object retry delays: doubling from one second to five minutes, reset by a success.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use sutra_core::backoff;

use super::Error;

const FIRST: Duration = Duration::from_secs(1);
const MAX: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, backoff::Backoff>>,
}

impl Backoff {
    /// The delay before retrying `key` after `error`: conflicts retry at once (another
    /// writer won a race), a bad spec waits for the maximum (a change re-triggers anyway),
    /// everything else doubles per consecutive failure.
    pub fn next(&self, key: &str, error: &Error) -> Duration {
        if error.is_permanent() {
            return MAX;
        }
        if error.metric_label() == "conflict" {
            return FIRST;
        }
        let mut failures = self
            .failures
            .lock()
            .expect("backoff lock is never poisoned");
        failures
            .entry(key.to_owned())
            .or_insert(backoff::Backoff::new(FIRST, MAX))
            .next_delay()
    }

    pub fn reset(&self, key: &str) {
        self.failures
            .lock()
            .expect("backoff lock is never poisoned")
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport_error() -> Error {
        Error::Finalizer("boom".to_owned())
    }

    #[test]
    fn delays_double_up_to_five_minutes_and_reset_on_success() {
        let backoff = Backoff::default();
        let delays: Vec<u64> = (0..12)
            .map(|_| backoff.next("ns/a", &transport_error()).as_secs())
            .collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff.next("ns/b", &transport_error()).as_secs(), 1);
        backoff.reset("ns/a");
        assert_eq!(backoff.next("ns/a", &transport_error()).as_secs(), 1);
    }

    #[test]
    fn an_invalid_spec_waits_for_a_change() {
        let invalid = Error::MissingField {
            kind: "StorageNode",
            field: "metadata.namespace",
        };
        assert_eq!(Backoff::default().next("k", &invalid), MAX);
    }
}
