//! Why a connected, unchallenged tab may still take no new work: LMArena's rate-limit
//! cooldown (`retry-after`), pacing between its upstream requests
//! (`upstream_min_interval_seconds`), or a reCAPTCHA checkbox waiting for a person.

use std::time::{Duration, Instant};

/// The per-tab gate the pool checks before granting a slot.
#[derive(Debug, Default)]
pub(super) struct Gate {
    /// LMArena answered 429 with `retry-after`: no upstream request before then.
    cooling_until: Option<Instant>,
    /// Pacing: no upstream request before then.
    next_start: Option<Instant>,
    /// A v2 checkbox is shown in the tab and waits for a person.
    needs_human: bool,
}

impl Gate {
    /// True when the tab may start an upstream request at `now`.
    pub(super) fn open(&self, now: Instant) -> bool {
        !self.needs_human && self.reopens_at(now).is_none()
    }

    /// When the time-based closings (cooldown, pacing) end; `None` when none is in force.
    pub(super) fn reopens_at(&self, now: Instant) -> Option<Instant> {
        [self.cooling_until, self.next_start]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .max()
    }

    /// What is left of a rate-limit cooldown.
    pub(super) fn cooldown_left(&self, now: Instant) -> Option<Duration> {
        self.cooling_until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|left| !left.is_zero())
    }

    /// Starts (or extends, never shortens) a cooldown until `until`.
    pub(super) fn cool_down(&mut self, until: Instant) {
        self.cooling_until = Some(self.cooling_until.map_or(until, |u| u.max(until)));
    }

    /// An upstream request starts now: with pacing on, the next may start `interval` later.
    /// Returns when the gate opens again, if pacing closed it.
    pub(super) fn started(&mut self, now: Instant, interval: Duration) -> Option<Instant> {
        if interval.is_zero() {
            return None;
        }
        let next = now + interval;
        self.next_start = Some(next);
        Some(next)
    }

    pub(super) fn needs_human(&self) -> bool {
        self.needs_human
    }

    /// Sets the person-in-the-loop flag; false when it already had that value.
    pub(super) fn set_needs_human(&mut self, on: bool) -> bool {
        let changed = self.needs_human != on;
        self.needs_human = on;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cooldown_closes_the_gate_until_it_ends_and_is_never_shortened() {
        let now = Instant::now();
        let mut gate = Gate::default();
        assert!(gate.open(now));
        gate.cool_down(now + Duration::from_secs(60));
        gate.cool_down(now + Duration::from_secs(10));
        assert!(!gate.open(now));
        assert_eq!(gate.cooldown_left(now), Some(Duration::from_secs(60)));
        assert_eq!(gate.reopens_at(now), Some(now + Duration::from_secs(60)));
        let later = now + Duration::from_secs(60);
        assert!(gate.open(later));
        assert_eq!(gate.cooldown_left(later), None);
    }

    #[test]
    fn pacing_closes_the_gate_for_the_interval_only_when_on() {
        let now = Instant::now();
        let mut gate = Gate::default();
        assert_eq!(gate.started(now, Duration::ZERO), None);
        assert!(gate.open(now));
        let next = gate.started(now, Duration::from_secs(3));
        assert_eq!(next, Some(now + Duration::from_secs(3)));
        assert!(!gate.open(now + Duration::from_secs(2)));
        assert!(gate.open(now + Duration::from_secs(3)));
        assert_eq!(gate.cooldown_left(now), None, "pacing is not a cooldown");
    }

    #[test]
    fn a_person_in_the_loop_closes_the_gate_once() {
        let now = Instant::now();
        let mut gate = Gate::default();
        assert!(gate.set_needs_human(true));
        assert!(!gate.set_needs_human(true), "a second prompt is refused");
        assert!(!gate.open(now));
        assert!(gate.needs_human());
        assert!(gate.set_needs_human(false));
        assert!(gate.open(now));
    }
}
