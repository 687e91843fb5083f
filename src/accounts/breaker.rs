//! The in-memory half of an account's circuit breaker (issue 19): how this process's recent calls
//! to the account went. Each process counts only its own calls and keeps nothing on disk; when the
//! share of failures passes the threshold, the breaker asks once to *trip*, and the circuit
//! supervisor ([`super::circuit`]) writes the open state by compare-and-set, so every process
//! stops calling. Only state changes are shared.
//!
//! Invariants: the window holds at most `BUCKETS + 1` buckets whatever the call rate; a trip is
//! asked for at most once until [`Breaker::reset`] (after the circuit closed again).

use crate::config::BreakerSettings;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// The window is kept as this many time slices, so memory does not grow with the call rate.
const BUCKETS: u32 = 10;

/// Calls and failures that started within one slice of the window.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    started: Instant,
    calls: u32,
    failures: u32,
}

/// Outcomes of recent calls over a sliding window.
#[derive(Debug)]
struct Window {
    length: Duration,
    buckets: VecDeque<Bucket>,
}

impl Window {
    fn new(length: Duration) -> Self {
        Self {
            // A zero window would make every slice zero long: keep a floor.
            length: length.max(Duration::from_millis(10)),
            buckets: VecDeque::new(),
        }
    }

    fn record(&mut self, now: Instant, failed: bool) {
        while let Some(first) = self.buckets.front() {
            if now.duration_since(first.started) < self.length {
                break;
            }
            self.buckets.pop_front();
        }
        let slice = self.length / BUCKETS;
        match self.buckets.back_mut() {
            Some(last) if now.duration_since(last.started) < slice => {
                last.calls += 1;
                last.failures += u32::from(failed);
            }
            _ => self.buckets.push_back(Bucket {
                started: now,
                calls: 1,
                failures: u32::from(failed),
            }),
        }
    }

    /// `(calls, failures)` in the window.
    fn totals(&self) -> (u32, u32) {
        self.buckets
            .iter()
            .fold((0, 0), |(calls, failures), b| (calls + b.calls, failures + b.failures))
    }
}

/// One account's breaker in this process; cheap to share.
#[derive(Debug, Clone)]
pub struct Breaker {
    settings: BreakerSettings,
    window: Arc<Mutex<Window>>,
    /// Set on the trip and kept until [`Breaker::reset`], so a trip is asked for once.
    trip_asked: Arc<AtomicBool>,
    /// Set on the trip until the supervisor takes it.
    trip_pending: Arc<AtomicBool>,
    /// Wakes the circuit supervisor (one per process, shared by every account).
    wake: Arc<Notify>,
}

impl Breaker {
    pub fn new(settings: &BreakerSettings, wake: Arc<Notify>) -> Self {
        Self {
            settings: settings.clone(),
            window: Arc::new(Mutex::new(Window::new(settings.window))),
            trip_asked: Arc::new(AtomicBool::new(false)),
            trip_pending: Arc::new(AtomicBool::new(false)),
            wake,
        }
    }

    pub fn settings(&self) -> &BreakerSettings {
        &self.settings
    }

    /// Counts one finished call; asks for a trip when the failures pass the threshold. Returns
    /// true when this call asked for it.
    pub fn record(&self, failed: bool) -> bool {
        self.record_at(Instant::now(), failed)
    }

    fn record_at(&self, now: Instant, failed: bool) -> bool {
        if !self.settings.enabled {
            return false;
        }
        let (calls, failures) = {
            // A poisoned lock only means another call panicked mid-count: the counts stay usable.
            let mut window = self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            window.record(now, failed);
            window.totals()
        };
        let over = calls >= self.settings.min_calls.max(1)
            && f64::from(failures) >= self.settings.failure_ratio * f64::from(calls);
        if over && !self.trip_asked.swap(true, Ordering::AcqRel) {
            self.trip_pending.store(true, Ordering::Release);
            self.wake.notify_one();
            return true;
        }
        false
    }

    /// Whether a trip was asked for and not yet taken; takes it.
    pub fn take_trip(&self) -> bool {
        self.trip_pending.swap(false, Ordering::AcqRel)
    }

    /// What the window holds now, for the reason of an open circuit.
    pub fn summary(&self) -> String {
        let (calls, failures) = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .totals();
        format!(
            "{failures} of {calls} calls failed within {} s",
            self.settings.window.as_secs()
        )
    }

    /// Forgets the counts and allows the next trip: the circuit closed again.
    pub fn reset(&self) {
        *self.window.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Window::new(self.settings.window);
        self.trip_pending.store(false, Ordering::Release);
        self.trip_asked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            enabled: true,
            failure_ratio: 0.5,
            min_calls: 4,
            window: Duration::from_secs(10),
            cool_down: Duration::from_secs(5),
        }
    }

    #[test]
    fn trips_once_when_half_of_enough_calls_failed() {
        let breaker = Breaker::new(&settings(), Arc::new(Notify::new()));
        let start = Instant::now();
        assert!(!breaker.record_at(start, true));
        assert!(!breaker.record_at(start, false));
        assert!(!breaker.record_at(start, false), "1 of 3: below min_calls and ratio");
        assert!(breaker.record_at(start, true), "2 of 4 failed: trips");
        assert!(!breaker.record_at(start, true), "asked once");
        assert!(breaker.take_trip());
        assert!(!breaker.take_trip(), "taken once");
        breaker.reset();
        assert!(!breaker.take_trip());
        assert!(!breaker.record_at(start, true), "counts start again after a reset");
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let breaker = Breaker::new(&settings(), Arc::new(Notify::new()));
        let start = Instant::now();
        for _ in 0..3 {
            breaker.record_at(start, true);
        }
        let later = start + Duration::from_secs(11);
        for _ in 0..3 {
            assert!(!breaker.record_at(later, false));
        }
        assert!(!breaker.record_at(later, true), "1 of 4 in the window");
        assert_eq!(breaker.window.lock().unwrap().totals(), (4, 1));
    }

    #[test]
    fn a_disabled_breaker_never_trips_and_the_window_stays_bounded() {
        let breaker = Breaker::new(
            &BreakerSettings {
                enabled: false,
                ..settings()
            },
            Arc::new(Notify::new()),
        );
        assert!((0..100).all(|_| !breaker.record(true)));
        let bounded = Breaker::new(&settings(), Arc::new(Notify::new()));
        let start = Instant::now();
        for step in 0..1000u64 {
            bounded.record_at(start + Duration::from_millis(step * 37), false);
        }
        assert!(bounded.window.lock().unwrap().buckets.len() <= BUCKETS as usize + 1);
    }
}
