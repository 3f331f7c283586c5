//! How many messages the worker handles at once and how many receive loops it runs, adjusted
//! while it runs (issue 22).
//!
//! Two things bound a worker's rate: handler slots (at most `limit` messages in hand, so
//! `limit / handler latency` messages a second) and receives (each loop makes one
//! ReceiveMessage at a time). Every [`Settings::adapt_tick`](super::Settings) the controller
//! looks at what happened since the last look:
//!
//! - **Slots are the bottleneck** when the loops spent a quarter of their time waiting for free
//!   slots while the receives came back (mostly) full, so the queue has a backlog. If handler
//!   latency has stayed flat, more slots mean more throughput: the limit doubles, up to the
//!   configured concurrency.
//! - **Handlers are congested** when their mean latency has doubled over the lowest seen (and
//!   by more than 5 ms): what they call (a database, an API) is saturated and more messages in
//!   hand only wait longer. The limit shrinks by a fifth, down to one batch.
//! - **Receives are the bottleneck** when the receives come back full and the loops did not
//!   wait for slots: another loop starts, up to the configured number. A loop whose receive
//!   comes back less than half full stops (one always stays), so an idle worker makes as few
//!   receive calls as one loop does.
//!
//! The limit starts at [`START_LIMIT`] and the loops at [`START_POLLERS`] (or the configured
//! bounds, if lower). With adaptation off both stay at their configured values.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};

/// The concurrency limit a worker starts with (the fixed default before it adapted).
pub(crate) const START_LIMIT: usize = 20;
/// The receive loops a worker starts with.
pub(crate) const START_POLLERS: usize = 2;

/// The worker's current bounds and what the controller reads, shared with the loops and the
/// message tasks.
#[derive(Debug)]
pub(crate) struct Adapt {
    enabled: bool,
    /// The smallest limit: one batch.
    floor: usize,
    /// The configured concurrency.
    ceiling: usize,
    /// The configured number of loops.
    max_pollers: usize,
    per_call: usize,
    limit: AtomicUsize,
    pollers: AtomicUsize,
    /// Permits still to take out of circulation after a shrink (they are in use now).
    debt: AtomicUsize,
    /// Asks the run loop to start one more receive loop.
    pub(crate) more_pollers: Notify,
    window: Window,
}

/// What happened since the controller last looked.
#[derive(Debug, Default)]
struct Window {
    slot_wait_nanos: AtomicU64,
    receives: AtomicU64,
    full_receives: AtomicU64,
    handled: AtomicU64,
    handler_nanos: AtomicU64,
}

/// What the controller remembers between looks.
#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// The lowest mean handler latency seen, in seconds, slowly forgotten.
    baseline: Option<f64>,
    /// The limit changed at the last look in a way whose effect must show first: the handlers
    /// finishing since then mostly started under the old limit, so this look only watches.
    changed: bool,
}

impl Adapt {
    pub(crate) fn new(enabled: bool, concurrency: usize, pollers: usize, per_call: usize) -> Self {
        let (limit, start_pollers) = if enabled {
            (
                START_LIMIT.clamp(per_call, concurrency),
                START_POLLERS.min(pollers),
            )
        } else {
            (concurrency, pollers)
        };
        Adapt {
            enabled,
            floor: per_call,
            ceiling: concurrency,
            max_pollers: pollers,
            per_call,
            limit: AtomicUsize::new(limit),
            pollers: AtomicUsize::new(start_pollers),
            debt: AtomicUsize::new(0),
            more_pollers: Notify::new(),
            window: Window::default(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// The concurrency limit now (the permits in circulation once any shrink has settled).
    pub(crate) fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// The receive loops the worker means to run now (the run loop starts or lets go of loops
    /// to match, and always keeps one until the shutdown).
    pub(crate) fn pollers(&self) -> usize {
        self.pollers.load(Ordering::Relaxed)
    }

    pub(crate) fn waited_for_slots(&self, waited: Duration) {
        if self.enabled {
            self.window
                .slot_wait_nanos
                .fetch_add(nanos(waited), Ordering::Relaxed);
        }
    }

    pub(crate) fn received(&self, messages: usize) {
        if self.enabled {
            self.window.receives.fetch_add(1, Ordering::Relaxed);
            if messages >= self.per_call {
                self.window.full_receives.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A handler call that succeeded took `took`. (Failures are left out: a handler failing
    /// fast, its database refusing connections, would teach the controller a latency it
    /// cannot get back to.)
    pub(crate) fn handled(&self, took: Duration) {
        if self.enabled {
            self.window.handled.fetch_add(1, Ordering::Relaxed);
            self.window
                .handler_nanos
                .fetch_add(nanos(took), Ordering::Relaxed);
        }
    }

    /// Takes up to `n` permits of a shrink's debt off the caller, who then forgets that many
    /// of the permits it holds. (A shrink can take out only the permits free at the time; the
    /// rest are taken as the loops acquire them, or waiting loops would get them first.)
    pub(crate) fn take_debt(&self, n: usize) -> usize {
        match self
            .debt
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                (d > 0).then(|| d - d.min(n))
            }) {
            Ok(before) => before.min(n),
            Err(_) => 0,
        }
    }

    /// Whether the loop that just received `messages` should stop: its receive came back less
    /// than half full and another loop is running.
    pub(crate) fn retire_after(&self, messages: usize) -> bool {
        if !self.enabled || messages * 2 >= self.per_call {
            return false;
        }
        self.pollers
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                (p > 1).then(|| p - 1)
            })
            .is_ok()
    }

    /// One look: adjusts the limit (through `slots`) and asks for a loop if receives are the
    /// bottleneck.
    pub(crate) fn tick(&self, slots: &Semaphore, tick: Duration, memory: &mut Memory) {
        // Permits owed by an earlier shrink leave as they come back. The debt is taken whole
        // (one atomic step, as the loops take theirs) and what could not be forgotten now is
        // owed again.
        let owed = self.take_debt(usize::MAX);
        if owed > 0 {
            let taken = slots.forget_permits(owed);
            self.debt.fetch_add(owed - taken, Ordering::Relaxed);
        }
        let w = &self.window;
        let slot_wait = w.slot_wait_nanos.swap(0, Ordering::Relaxed);
        let receives = w.receives.swap(0, Ordering::Relaxed);
        let full = w.full_receives.swap(0, Ordering::Relaxed);
        // Latency is judged on at least a batch of calls: slow handlers finish fewer than that
        // in one look, so their calls add up over several looks.
        let (handled, handler_nanos) = if w.handled.load(Ordering::Relaxed) >= self.per_call as u64
        {
            (
                w.handled.swap(0, Ordering::Relaxed),
                w.handler_nanos.swap(0, Ordering::Relaxed),
            )
        } else {
            (0, 0)
        };

        let pollers = self.pollers().max(1) as u64;
        let starved = slot_wait * 4 >= nanos(tick) * pollers;
        let mostly_full = receives > 0 && full * 4 >= receives * 3;

        let measured = handled >= self.per_call as u64;
        let mut congested = false;
        // Latency within 10 % (or 1 ms) of the best: room to double. Within 50 % (or 2 ms):
        // room to add a quarter.
        let mut near = true;
        let mut flat = true;
        if measured {
            let mean = handler_nanos as f64 / handled as f64 / 1e9;
            // Forget the lowest latency slowly (about a third a minute at 10 looks a second), so
            // a handler that became slower for good is not held to its old best for long.
            let baseline = memory.baseline.map_or(mean, |b| (b * 1.0005).min(mean));
            memory.baseline = Some(baseline);
            congested = mean > 2.0 * baseline && mean - baseline > 0.005;
            flat = mean <= 1.5 * baseline || mean - baseline <= 0.002;
            near = mean <= 1.1 * baseline || mean - baseline <= 0.001;
        }
        if std::mem::take(&mut memory.changed) {
            return;
        }

        let limit = self.limit();
        if congested && limit > self.floor {
            let new = (limit - limit / 5).max(self.floor);
            self.limit.store(new, Ordering::Relaxed);
            let taken = slots.forget_permits(limit - new);
            self.debt.fetch_add(limit - new - taken, Ordering::Relaxed);
            memory.changed = true;
            tracing::debug!(target: "baton_worker", from = limit, to = new, "handlers congested; fewer at once");
        } else if measured && starved && mostly_full && flat && limit < self.ceiling {
            // Doubling reaches the bound within a few looks while latency stays at its best: a
            // backlog is being held back now.
            let step = if near {
                limit
            } else {
                (limit / 4).max(self.per_call)
            };
            let new = (limit + step).min(self.ceiling);
            // Repay a shrink's debt before adding permits.
            let add = new - limit;
            let repaid = self.take_debt(add);
            slots.add_permits(add - repaid);
            self.limit.store(new, Ordering::Relaxed);
            // A doubling at the best latency goes on at the next look (a backlog waits); any
            // other change waits one look for the latency to show its effect.
            memory.changed = !near;
            tracing::debug!(target: "baton_worker", from = limit, to = new, "handler slots are the bottleneck; more at once");
        }
        if !starved
            && mostly_full
            && self
                .pollers
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                    (p < self.max_pollers).then_some(p + 1)
                })
                .is_ok()
        {
            tracing::debug!(target: "baton_worker", pollers = self.pollers(), "receives are the bottleneck; one more receive loop");
            self.more_pollers.notify_one();
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Runs the controller until the task is aborted.
pub(crate) async fn control<Q>(shared: Arc<super::Shared<Q>>, slots: Arc<Semaphore>) {
    let tick = shared.settings.adapt_tick;
    let adapt = &shared.adapt;
    let mut memory = Memory::default();
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        adapt.tick(&slots, tick, &mut memory);
        shared.stats.set_gauges(adapt.limit(), adapt.pollers());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(100);

    /// One look's worth of traffic: `handled` calls of `latency` each, receives full or not,
    /// loops waiting for slots the whole look or not at all.
    fn look(adapt: &Adapt, handled: usize, latency: Duration, full: bool, starved: bool) {
        for _ in 0..handled {
            adapt.handled(latency);
        }
        for _ in 0..4 {
            adapt.received(if full { 10 } else { 3 });
        }
        if starved {
            adapt.waited_for_slots(TICK * adapt.pollers() as u32);
        }
    }

    #[test]
    fn a_shrink_settles_through_the_loops_and_a_grow_repays_it_first() {
        let adapt = Adapt::new(true, 100, 4, 10);
        let slots = Semaphore::new(adapt.limit());
        let mut memory = Memory::default();
        assert_eq!(adapt.limit(), 20);
        // Every slot in use.
        let held = slots.try_acquire_many(20).unwrap();
        look(&adapt, 20, Duration::from_millis(10), true, false);
        adapt.tick(&slots, TICK, &mut memory);
        // Latency five times its best: a fifth fewer. No permit is free, so all 4 are owed.
        look(&adapt, 20, Duration::from_millis(50), true, true);
        adapt.tick(&slots, TICK, &mut memory);
        assert_eq!(adapt.limit(), 16);
        assert_eq!(adapt.debt.load(Ordering::Relaxed), 4);
        // A loop that gets 10 permits gives 4 of them up.
        drop(held);
        let mut batch = slots.try_acquire_many(10).unwrap();
        assert_eq!(adapt.take_debt(10), 4);
        batch.split(4).unwrap().forget();
        drop(batch);
        assert_eq!(slots.available_permits(), 16);
        // Nothing left to take: the debt does not wrap around.
        adapt.tick(&slots, TICK, &mut memory);
        assert_eq!(adapt.debt.load(Ordering::Relaxed), 0);
        assert_eq!(slots.available_permits(), 16);
        // Latency back at its best, loops waiting for slots, receives full: doubles.
        look(&adapt, 20, Duration::from_millis(10), true, true);
        adapt.tick(&slots, TICK, &mut memory);
        assert_eq!(adapt.limit(), 32);
        assert_eq!(slots.available_permits(), 32);
    }

    #[test]
    fn a_grow_during_a_shrink_s_debt_repays_it_instead_of_adding_permits() {
        let adapt = Adapt::new(true, 100, 4, 10);
        let slots = Semaphore::new(adapt.limit());
        let mut memory = Memory::default();
        let held = slots.try_acquire_many(20).unwrap();
        look(&adapt, 20, Duration::from_millis(10), true, false);
        adapt.tick(&slots, TICK, &mut memory);
        look(&adapt, 20, Duration::from_millis(50), true, true);
        adapt.tick(&slots, TICK, &mut memory);
        assert_eq!((adapt.limit(), adapt.debt.load(Ordering::Relaxed)), (16, 4));
        // The look after a change only watches.
        adapt.tick(&slots, TICK, &mut memory);
        look(&adapt, 20, Duration::from_millis(10), true, true);
        adapt.tick(&slots, TICK, &mut memory);
        // 16 -> 32: 4 of the 16 new slots cancel the debt, 12 are added.
        assert_eq!(adapt.limit(), 32);
        assert_eq!(adapt.debt.load(Ordering::Relaxed), 0);
        drop(held);
        assert_eq!(slots.available_permits(), 32);
    }

    #[test]
    fn slots_never_exceed_the_bound_and_stop_at_one_batch() {
        let adapt = Adapt::new(true, 50, 4, 10);
        let slots = Semaphore::new(adapt.limit());
        let mut memory = Memory::default();
        for _ in 0..10 {
            look(&adapt, 20, Duration::from_millis(10), true, true);
            adapt.tick(&slots, TICK, &mut memory);
        }
        assert_eq!(adapt.limit(), 50);
        assert_eq!(slots.available_permits(), 50);
        // Latency climbing look after look: down to one batch, never below.
        for i in 2..40 {
            look(&adapt, 20, Duration::from_millis(10 * i), true, true);
            adapt.tick(&slots, TICK, &mut memory);
        }
        assert_eq!(adapt.limit(), 10);
        assert_eq!(slots.available_permits(), 10);
    }

    #[test]
    fn slow_handlers_are_judged_on_calls_added_up_over_several_looks() {
        let adapt = Adapt::new(true, 100, 4, 10);
        let slots = Semaphore::new(adapt.limit());
        let mut memory = Memory::default();
        // Two seconds a call: three finish per look. No verdict on latency, so no growth yet,
        // however starved the loops are.
        for _ in 0..3 {
            look(&adapt, 3, Duration::from_secs(2), true, true);
            adapt.tick(&slots, TICK, &mut memory);
            assert_eq!(adapt.limit(), 20);
        }
        // The fourth look brings the count to a batch: judged, and grown.
        look(&adapt, 3, Duration::from_secs(2), true, true);
        adapt.tick(&slots, TICK, &mut memory);
        assert_eq!(adapt.limit(), 40);
    }

    #[test]
    fn loops_are_added_up_to_the_bound_and_retire_down_to_one() {
        let adapt = Adapt::new(true, 100, 3, 10);
        let slots = Semaphore::new(adapt.limit());
        let mut memory = Memory::default();
        assert_eq!(adapt.pollers(), 2);
        for _ in 0..5 {
            look(&adapt, 20, Duration::from_millis(1), true, false);
            adapt.tick(&slots, TICK, &mut memory);
        }
        assert_eq!(adapt.pollers(), 3);
        assert!(!adapt.retire_after(10));
        assert!(adapt.retire_after(4));
        assert!(adapt.retire_after(0));
        assert!(!adapt.retire_after(0), "one loop always stays");
        assert_eq!(adapt.pollers(), 1);
    }

    #[test]
    fn without_adaptation_nothing_moves() {
        let adapt = Adapt::new(false, 30, 3, 10);
        let slots = Semaphore::new(adapt.limit());
        assert_eq!((adapt.limit(), adapt.pollers()), (30, 3));
        assert!(!adapt.retire_after(0));
        let mut memory = Memory::default();
        look(&adapt, 20, Duration::from_millis(500), true, true);
        adapt.tick(&slots, TICK, &mut memory);
        assert_eq!((adapt.limit(), adapt.pollers()), (30, 3));
    }
}
