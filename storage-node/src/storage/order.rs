//! Ordering between writers: records made durable concurrently apply in LSN order
//! ([`ApplyOrder`]), compaction waits until no upsert holds reserved slots
//! ([`PlacingGate`]), and every lock of the engine recovers from poisoning the same way
//! ([`Unpoison`]).

use std::sync::{Condvar, LockResult, Mutex, MutexGuard, PoisonError, TryLockError, TryLockResult};

/// Takes a lock whether or not a thread panicked while holding it. Every state the engine
/// guards with a lock stays valid between statements (what must be all-or-nothing goes
/// through the WAL, and a failed write stops the store), so a panic elsewhere must not
/// turn every later call into a second panic.
pub(super) trait Unpoison {
    type Guard;
    fn unpoisoned(self) -> Self::Guard;
}

impl<G> Unpoison for LockResult<G> {
    type Guard = G;
    fn unpoisoned(self) -> G {
        self.unwrap_or_else(PoisonError::into_inner)
    }
}

/// `None` when the lock is held elsewhere.
impl<G> Unpoison for TryLockResult<G> {
    type Guard = Option<G>;
    fn unpoisoned(self) -> Option<G> {
        match self {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

/// Lets operations made durable concurrently apply in LSN order.
pub(super) struct ApplyOrder {
    applied: Mutex<u64>,
    turn: Condvar,
}

impl ApplyOrder {
    pub fn new(applied: u64) -> ApplyOrder {
        ApplyOrder {
            applied: Mutex::new(applied),
            turn: Condvar::new(),
        }
    }

    pub fn applied(&self) -> u64 {
        *self.applied.lock().unpoisoned()
    }

    pub fn wait_turn(&self, lsn: u64) {
        let mut applied = self.applied.lock().unpoisoned();
        while *applied + 1 != lsn {
            applied = self.turn.wait(applied).unpoisoned();
        }
    }

    pub fn finish(&self, lsn: u64) {
        *self.applied.lock().unpoisoned() = lsn;
        self.turn.notify_all();
    }
}

/// Counts upserts between reserving slots and applying them, so compaction can wait for
/// none to be in flight.
#[derive(Default)]
pub(super) struct PlacingGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    in_flight: usize,
    closed: bool,
}

impl PlacingGate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unpoisoned()
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, GateState>) -> MutexGuard<'a, GateState> {
        self.changed.wait(guard).unpoisoned()
    }

    pub fn enter(&self) {
        let mut state = self.lock();
        while state.closed {
            state = self.wait(state);
        }
        state.in_flight += 1;
    }

    pub fn leave(&self) {
        self.lock().in_flight -= 1;
        self.changed.notify_all();
    }

    /// Waits until no upsert is in flight and keeps new ones out until the guard drops.
    pub fn close(&self) -> GateClosed<'_> {
        let mut state = self.lock();
        while state.closed {
            state = self.wait(state);
        }
        state.closed = true;
        while state.in_flight > 0 {
            state = self.wait(state);
        }
        GateClosed { gate: self }
    }
}

pub(super) struct GateClosed<'a> {
    gate: &'a PlacingGate,
}

impl Drop for GateClosed<'_> {
    fn drop(&mut self) {
        self.gate.lock().closed = false;
        self.gate.changed.notify_all();
    }
}
