//! The scrub: a rate-limited pass that checks every live vector's values against their
//! checksums, so damage is found (and the store stopped) before a read serves it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::error::StoreError;
use super::{ScrubReport, Store};

impl Store {
    /// Reads every live vector once and checks it against its checksum, a chunk of slots
    /// at a time under the read lock (writes wait at most one chunk). Damage fails with
    /// [`StoreError::Corrupt`] naming the file and offset, and stops the store: every
    /// later call fails with the same reason, so nothing damaged is served. The server
    /// runs this in the background after start-up. It reads at most `max_bytes_per_second`
    /// of vector values (no limit when `None`), so it does not take the disk from the
    /// searches. Setting `cancel` ends it early (the report then says it was not complete).
    pub fn scrub(
        &self,
        cancel: &AtomicBool,
        max_bytes_per_second: Option<u64>,
    ) -> Result<ScrubReport, StoreError> {
        const CHUNK: usize = 4096;
        let started = Instant::now();
        let mut report = ScrubReport::default();
        let mut position = 0;
        let mut slot = 0;
        loop {
            if let Some(rate) = max_bytes_per_second {
                let read = report.vectors_checked * self.layout.dim as u64 * 4;
                let mut wait = scrub_pause(read, started.elapsed(), rate);
                while !wait.is_zero() && !cancel.load(Ordering::Relaxed) {
                    let nap = wait.min(Duration::from_millis(100));
                    std::thread::sleep(nap);
                    wait -= nap;
                }
            }
            if cancel.load(Ordering::Relaxed) {
                return Ok(report);
            }
            self.check_healthy()?;
            let state = self.read_state();
            let verified = state.verify_slots(position, slot..slot + CHUNK);
            drop(state);
            match self.stop_if_corrupt(verified)? {
                None => {
                    report.complete = true;
                    break;
                }
                Some((checked, used)) => {
                    report.vectors_checked += checked;
                    slot += CHUNK;
                    if slot >= used {
                        position += 1;
                        slot = 0;
                    }
                }
            }
        }
        self.counters
            .vectors_verified
            .fetch_add(report.vectors_checked, Ordering::Relaxed);
        Ok(report)
    }
}

/// How long a scrub that has read `read` bytes after `elapsed` waits before reading on, so
/// that it averages at most `bytes_per_second`.
fn scrub_pause(read: u64, elapsed: Duration, bytes_per_second: u64) -> Duration {
    if bytes_per_second == 0 {
        return Duration::ZERO;
    }
    let due = Duration::from_secs_f64(read as f64 / bytes_per_second as f64);
    due.saturating_sub(elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scrub_pauses_to_keep_its_average_rate() {
        let mib = 1 << 20;
        assert_eq!(scrub_pause(0, Duration::ZERO, mib), Duration::ZERO);
        assert_eq!(
            scrub_pause(4 * mib, Duration::from_secs(1), mib),
            Duration::from_secs(3)
        );
        assert_eq!(
            scrub_pause(mib, Duration::from_secs(2), mib),
            Duration::ZERO,
            "behind schedule: no pause"
        );
        assert_eq!(scrub_pause(u64::MAX, Duration::ZERO, 0), Duration::ZERO);
    }
}
