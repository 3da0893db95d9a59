//! The node's run slots, shared fairly between functions.
//!
//! A node runs at most `total` calls at once (`--max-concurrency`). A first-come, first-served
//! semaphore would let one busy function hold every slot, and queue everybody else's calls
//! behind its own. Instead:
//!
//! - no function may hold more than [`Slots::share`] of the slots (all but a quarter of them,
//!   at least one kept back), so a call of another function finds a slot free even while one
//!   function is flooded;
//! - a freed slot goes to the waiting function that holds the fewest, not to the oldest
//!   waiter, so functions share the node by count of running calls, whatever their queue
//!   lengths.
//!
//! A waiter that times out leaves the queue; the hand-over happens under one lock, so a slot
//! is never lost to a waiter that has gone.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flint_vmm::sync::lock;
use tokio::sync::oneshot;

/// Why no slot was granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotError {
    /// Too many calls already wait.
    QueueFull,
    /// The wait passed its deadline.
    TimedOut,
}

#[derive(Default)]
struct State {
    free: usize,
    running: HashMap<String, usize>,
    queues: HashMap<String, VecDeque<oneshot::Sender<()>>>,
    waiting: usize,
}

impl State {
    fn running(&self, function: &str) -> usize {
        self.running.get(function).copied().unwrap_or(0)
    }

    fn take(&mut self, function: &str) {
        self.free -= 1;
        *self.running.entry(function.to_string()).or_default() += 1;
    }

    fn give_back(&mut self, function: &str) {
        self.free += 1;
        if let Some(n) = self.running.get_mut(function) {
            *n -= 1;
            if *n == 0 {
                self.running.remove(function);
            }
        }
    }

    /// Hands free slots to waiters: each to the waiting function that runs the fewest calls
    /// and is under `share`.
    fn dispatch(&mut self, share: usize) {
        while self.free > 0 {
            let next = self
                .queues
                .iter()
                .filter(|(f, q)| !q.is_empty() && self.running(f) < share)
                .min_by_key(|(f, _)| self.running(f))
                .map(|(f, _)| f.clone());
            let Some(function) = next else { return };
            let queue = self.queues.get_mut(&function).expect("chosen from the map");
            let waiter = queue.pop_front().expect("chosen as non-empty");
            if queue.is_empty() {
                self.queues.remove(&function);
            }
            self.waiting -= 1;
            if waiter.send(()).is_ok() {
                self.take(&function);
            }
        }
    }
}

/// The node's run slots.
pub struct Slots {
    total: usize,
    share: usize,
    max_waiting: usize,
    state: Mutex<State>,
}

/// One held slot; dropping it frees the slot for the next waiter.
pub struct SlotPermit {
    slots: Arc<Slots>,
    function: String,
}

/// A caller queued for a slot. Dropped before it made a permit (it timed out, or its future
/// was dropped because the client went away), it gives back a slot that was handed to it in
/// the meantime and counts itself out of the queue. Without this, a call cancelled between
/// the hand-over and its next poll kept its slot forever, and enough of them (a load
/// generator closing 64 waiting connections, a few times) left the node answering every call
/// with 503.
struct Waiter<'a> {
    slots: &'a Arc<Slots>,
    function: &'a str,
    rx: oneshot::Receiver<()>,
    /// Whether it made its permit (and has nothing to give back).
    served: bool,
}

impl Waiter<'_> {
    /// Whether a slot was handed over (just after the wait gave up): it is then this caller's.
    fn handed_over(&mut self) -> bool {
        let _state = lock(&self.slots.state);
        self.rx.try_recv().is_ok()
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.served {
            return;
        }
        // Under the lock, so that no hand-over slips between the check and the close.
        let mut state = lock(&self.slots.state);
        if self.rx.try_recv().is_ok() {
            state.give_back(self.function);
            state.dispatch(self.slots.share);
            return;
        }
        self.rx.close();
        drop(state);
        // Our sender stays queued until a dispatch finds it closed; count it out now.
        self.slots.forget_closed(self.function);
    }
}

impl Drop for SlotPermit {
    fn drop(&mut self) {
        let mut state = lock(&self.slots.state);
        state.give_back(&self.function);
        state.dispatch(self.slots.share);
    }
}

impl Slots {
    /// `total` slots, with at most `max_waiting` calls waiting for one.
    pub fn new(total: usize, max_waiting: usize) -> Arc<Self> {
        let total = total.max(1);
        Arc::new(Self {
            total,
            share: Self::share_of(total),
            max_waiting,
            state: Mutex::new(State {
                free: total,
                ..State::default()
            }),
        })
    }

    /// The most slots one function may hold out of `total`: all but a quarter (at least
    /// one kept back when there are two or more).
    pub fn share_of(total: usize) -> usize {
        if total < 2 {
            return total;
        }
        total - (total / 4).max(1)
    }

    /// The most slots one function may hold.
    pub fn share(&self) -> usize {
        self.share
    }

    /// All slots.
    pub fn total(&self) -> usize {
        self.total
    }

    /// A slot for a call of `function`, waiting up to `timeout` for one.
    pub async fn acquire(
        self: &Arc<Self>,
        function: &str,
        timeout: Duration,
    ) -> Result<SlotPermit, SlotError> {
        let permit = || SlotPermit {
            slots: self.clone(),
            function: function.to_string(),
        };
        let rx = {
            let mut state = lock(&self.state);
            let queued = state.queues.get(function).is_some_and(|q| !q.is_empty());
            if state.free > 0 && state.running(function) < self.share && !queued {
                state.take(function);
                return Ok(permit());
            }
            if state.waiting >= self.max_waiting {
                return Err(SlotError::QueueFull);
            }
            let (tx, rx) = oneshot::channel();
            state
                .queues
                .entry(function.to_string())
                .or_default()
                .push_back(tx);
            state.waiting += 1;
            rx
        };
        // From here on, this future may be dropped at any await (the client went away): the
        // waiter then gives back a slot handed to it, so that none is ever lost.
        let mut waiter = Waiter {
            slots: self,
            function,
            rx,
            served: false,
        };
        let waited = tokio::time::timeout(timeout, &mut waiter.rx).await;
        if matches!(waited, Ok(Ok(()))) || waiter.handed_over() {
            waiter.served = true;
            return Ok(permit());
        }
        Err(SlotError::TimedOut)
    }

    /// Drops the closed senders queued for `function` (callers that gave up) from the count.
    fn forget_closed(&self, function: &str) {
        let mut state = lock(&self.state);
        let Some(queue) = state.queues.get_mut(function) else {
            return;
        };
        let before = queue.len();
        queue.retain(|tx| !tx.is_closed());
        let gone = before - queue.len();
        if queue.is_empty() {
            state.queues.remove(function);
        }
        state.waiting -= gone;
    }

    /// Calls running now, for `function`.
    pub fn running(&self, function: &str) -> usize {
        lock(&self.state).running(function)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    #[test]
    fn a_quarter_is_kept_back() {
        assert_eq!(Slots::share_of(1), 1);
        assert_eq!(Slots::share_of(2), 1);
        assert_eq!(Slots::share_of(8), 6);
        assert_eq!(Slots::share_of(64), 48);
    }

    #[tokio::test]
    async fn one_function_cannot_take_every_slot() {
        let slots = Slots::new(4, 100);
        let mut hog = Vec::new();
        for _ in 0..slots.share() {
            hog.push(slots.acquire("hog", WAIT).await.unwrap());
        }
        let short = Duration::from_millis(20);
        assert_eq!(
            slots.acquire("hog", short).await.err(),
            Some(SlotError::TimedOut)
        );
        let other = slots.acquire("other", short).await;
        assert!(other.is_ok(), "the kept-back slot serves another function");
        assert_eq!((slots.running("hog"), slots.running("other")), (3, 1));
    }

    #[tokio::test]
    async fn freed_slots_go_to_the_function_running_fewest() {
        let slots = Slots::new(2, 100);
        let a1 = slots.acquire("a", WAIT).await.unwrap();
        let b1 = slots.acquire("b", WAIT).await.unwrap();
        // Three calls of a wait, then one of b: when b's slot frees, b's one waiter is
        // served before a's older backlog.
        let waiting_a: Vec<_> = (0..3)
            .map(|_| {
                let s = slots.clone();
                tokio::spawn(async move { s.acquire("a", WAIT).await.map(|p| (p, "a")) })
            })
            .collect();
        tokio::task::yield_now().await;
        let s = slots.clone();
        let waiting_b = tokio::spawn(async move { s.acquire("b", WAIT).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(b1);
        let got_b = tokio::time::timeout(WAIT, waiting_b)
            .await
            .unwrap()
            .unwrap();
        assert!(got_b.is_ok(), "b's one waiter is served before a's backlog");
        drop(a1);
        drop(got_b);
        for w in waiting_a {
            drop(w.await.unwrap().unwrap());
        }
        assert_eq!(lock(&slots.state).free, 2, "every slot came back");
    }

    #[tokio::test]
    async fn waiters_that_time_out_lose_no_slot() {
        let slots = Slots::new(2, 100);
        let held = slots.acquire("a", WAIT).await.unwrap();
        let held2 = slots.acquire("b", WAIT).await.unwrap();
        for _ in 0..10 {
            let r = slots.acquire("c", Duration::from_millis(1)).await;
            assert_eq!(r.err(), Some(SlotError::TimedOut));
        }
        drop((held, held2));
        assert_eq!(lock(&slots.state).free, 2);
        assert_eq!(lock(&slots.state).waiting, 0);
        let full = Slots::new(1, 0);
        let _p = full.acquire("a", WAIT).await.unwrap();
        assert_eq!(
            full.acquire("b", WAIT).await.err(),
            Some(SlotError::QueueFull)
        );
    }

    #[tokio::test]
    async fn a_slot_handed_to_a_caller_that_went_away_comes_back() {
        let slots = Slots::new(1, 10);
        let held = slots.acquire("f", WAIT).await.expect("the free slot");
        let queued = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire("f", WAIT).await.map(drop) }
        });
        while lock(&slots.state).waiting == 0 {
            tokio::task::yield_now().await;
        }
        // The slot goes to the queued caller, whose future is dropped before it sees it (on
        // this single-threaded runtime it cannot run in between): the client went away.
        drop(held);
        queued.abort();
        let _ = queued.await;
        let again = tokio::time::timeout(WAIT, slots.acquire("f", WAIT)).await;
        assert!(matches!(again, Ok(Ok(_))), "the slot was lost");
        assert_eq!(lock(&slots.state).waiting, 0);
    }
}
