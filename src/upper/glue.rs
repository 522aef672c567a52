//! The blocking glue between the channel state machine ([`crate::upper::chan`])
//! and the OS ([`Os`]): everything that sleeps, spins, or hands out
//! callbacks around a transition.
//!
//! It owns:
//! - the blocking send ([`send_blocking`]): the sender's waiter and wait
//!   object on its stack, the wait loop, and the waiter timeout when its
//!   own deadline passes;
//! - the polling send ([`send_poll`]): the spin that completes ACKed
//!   messages until its own is done or its spins are spent;
//! - the watchdog expiry path ([`on_timer`]);
//! - the hand-out of TX-done callbacks after a transition ([`hand_out`],
//!   [`hand_out_rest`]), one context at a time, outside the critical
//!   section;
//! - the one-tick naps of a teardown ([`nap_until`]).
//!
//! It is generic over a channel ([`Chan`]: the state machine, its
//! environment and its client table, reached under the critical section)
//! and over the OS ([`Os`]), and depends on neither the C entry points nor
//! the C types: `capi.rs` implements [`Chan`] for `mbox_chan_s` over
//! [`crate::os::PortOs`], and tests-loom implements it for a plain Rust
//! channel over loom, so the model checker runs this very code.
//! Argument checks, raw-pointer conversion and errno mapping stay in
//! `capi.rs`; they reach this module through the `accept` closures.
//!
//! It is safe Rust: a blocked sender's frame is a pinned
//! [`crate::upper::waiters::Frame`] on this module's stack, which the channel
//! reaches through the handle [`crate::upper::waiters::Unsent::submit`] gives
//! it.

#![deny(unsafe_code)]

use crate::os::{Os, OsWait, ReadyWait, Ticks};
use crate::upper::chan::{ChanEnv, ChanState, Completion, Submit};
use crate::upper::waiters::Frame;

/// The held critical section of a channel's OS.
pub type Guard<'a, C> = <<C as Chan>::Os as Os>::Guard<'a>;

/// The initialised wait object of a channel's OS.
type ReadyOf<C> = <<<C as Chan>::Os as Os>::Wait as OsWait>::Ready;

/// One channel as the glue sees it: its OS, and its state machine,
/// environment and client table under the OS's critical section.
pub trait Chan {
    /// The OS the channel runs on.
    type Os: Os;
    /// The channel's environment (lower half and OS, for the state
    /// machine), borrowing the channel.
    type Env<'c>: ChanEnv
    where
        Self: 'c;
    /// A TX-done callback looked up in the client table.
    type Callback;

    /// The OS. Context: any.
    fn os(&self) -> &Self::Os;

    /// Runs `f` on the channel's state machine. `g` is the critical
    /// section the caller holds (entered with [`Chan::os`]).
    fn with_state<R>(&self, g: &mut Guard<'_, Self>, f: impl FnOnce(&mut ChanState) -> R) -> R;

    /// Runs `f` on the channel's state machine and its environment, under
    /// the critical section `g`. The channel is live, or was live and is
    /// being torn down (its environment stays valid until the teardown
    /// returns).
    fn with<R>(&self, g: &mut Guard<'_, Self>, f: impl FnOnce(&mut ChanState, &mut Self::Env<'_>) -> R) -> R;

    /// The TX-done callback registered for the client of `c` at this
    /// moment (None: it unregistered, no call). Under the critical section
    /// `g`.
    fn txdone_of(&self, g: &mut Guard<'_, Self>, c: &Completion) -> Option<Self::Callback>;

    /// Calls a TX-done callback with the result of `c`. Without the
    /// critical section; never two of one channel at once (the hand-out
    /// claim).
    fn call_txdone(&self, cb: Self::Callback, c: &Completion);
}

/// Blocking send: `accept` (the caller's argument checks) runs under the
/// critical section on the state machine and returns the message and its
/// timeout in ticks, or the error that refuses it (nothing changed); then
/// the message is submitted, and the caller sleeps on its own wait object
/// until its message ends or its deadline passes (then it takes the
/// message back). Every blocked sender gets exactly its own message's
/// result.
///
/// Context: task (the caller checks it). Returns `accept`'s error, the
/// wait object's init error, or the message's result: 0, -ETIMEDOUT, the
/// lower half's send error, or -ECANCELED.
pub fn send_blocking<'m, C: Chan>(c: &C, accept: impl FnOnce(&mut ChanState) -> Result<(&'m [u8], Ticks), i32>) -> i32 {
    // The wait object is initialised in place before the critical section
    // (a port may need to allocate or block there), so a single pass under
    // the lock validates and submits; it is destroyed when the sender is
    // done with it.
    let mut wait = c.os().wait_object();
    wait.ready(|wait| match wait {
        Ok(wait) => send_blocking_on(c, wait, accept),
        Err(e) => e,
    })
}

/// [`send_blocking`] with the sender's initialised wait object.
#[inline(always)]
fn send_blocking_on<'m, C: Chan>(
    c: &C,
    wait: &ReadyOf<C>,
    accept: impl FnOnce(&mut ChanState) -> Result<(&'m [u8], Ticks), i32>,
) -> i32 {
    let os = c.os();
    // The frame stays here until its message ended (its drop checks that).
    Frame::scope(wait, |once| {
        let f = once.frame();
        let mut result = {
            let mut g = os.enter();
            // Checked on the state alone: a channel that `accept` refuses
            // may have no environment (never initialised).
            match c.with_state(&mut g, accept) {
                Err(e) => Some(e),
                Ok((msg, ticks)) => c.with(&mut g, |st, env| {
                    let w = once.submit(msg, ChanState::deadline_from(os.now(), ticks));
                    match st.submit_blocking(env, w) {
                        Submit::Done(r) => Some(r),
                        Submit::Pending => None,
                    }
                }),
            }
        };
        while result.is_none() {
            // Fixed since submission.
            let deadline = f.deadline();
            let timed_out = f.wait_until(deadline) < 0;
            let mut g = os.enter();
            if let Some(r) = f.outcome() {
                result = Some(r);
            } else if timed_out && os.now() >= deadline {
                // Our own deadline passed: take the message back. The
                // channel is live: a teardown would have made the waiter
                // Done.
                result = Some(c.with(&mut g, |st, env| st.waiter_timeout(env, f.waiter())));
                hand_out(c, g);
            }
            // Otherwise an early or spurious wake-up: wait again.
        }
        result.unwrap_or(-crate::upper::errno::EINVAL)
    })
}

/// Polling send that never sleeps: `accept` runs under the critical
/// section and returns the message or the error that refuses it; the
/// message is submitted with the channel timeout as its deadline and takes
/// its turn like a blocking send; then, at most `spins` times, the oldest
/// message in flight is completed if the lower half shows its ACK
/// ([`ChanState::poll_acked`]), handing out what that ended. When the
/// spins are spent the message is taken back.
///
/// Context: task or interrupt; never sleeps. Returns `accept`'s error or
/// the message's result: 0, -ETIMEDOUT (spins spent, or timed out by the
/// channel meanwhile), the lower half's send error, or -ECANCELED.
#[cfg(feature = "txdone-methods")]
pub fn send_poll<'m, C: Chan>(c: &C, spins: u32, accept: impl FnOnce(&mut ChanState) -> Result<&'m [u8], i32>) -> i32 {
    let os = c.os();
    // Without a wait object: the channel never wakes a polling owner.
    Frame::scope_polled(|once| {
        let f = once.frame();
        let mut result = {
            let mut g = os.enter();
            // Checked on the state alone, as in send_blocking().
            match c.with_state(&mut g, accept) {
                Err(e) => Some(e),
                Ok(msg) => c.with(&mut g, |st, env| {
                    // Bounded by the channel timeout too (an ACK that never
                    // comes is timed out by the watchdog when the spins
                    // outlast it).
                    let w = once.submit(msg, ChanState::deadline_from(os.now(), st.timeout()));
                    match st.submit_blocking(env, w) {
                        Submit::Done(r) => Some(r),
                        Submit::Pending => None,
                    }
                }),
            }
        };
        let mut left = spins;
        while result.is_none() {
            let mut g = os.enter();
            if let Some(r) = f.outcome() {
                result = Some(r);
                drop(g);
                core::hint::spin_loop();
                continue;
            }
            // The channel is live: a teardown would have made the waiter
            // Done.
            if left == 0 {
                result = Some(c.with(&mut g, |st, env| st.waiter_timeout(env, f.waiter())));
            } else {
                left -= 1;
                c.with(&mut g, |st, env| st.poll_acked(env));
            }
            if !hand_out(c, g) {
                core::hint::spin_loop();
            }
        }
        result.unwrap_or(-crate::upper::errno::EINVAL)
    })
}

/// The watchdog expiry of a channel (the body of its timer callback):
/// times out what is due on a live channel, re-arms for the rest, and
/// hands out what that ended. An expiry on a dead channel does nothing.
///
/// Context: interrupt (the watchdog callback).
pub fn on_timer<C: Chan>(c: &C) {
    let mut g = c.os().enter();
    if c.with_state(&mut g, |st| st.is_live()) {
        c.with(&mut g, |st, env| st.timer_expired(env));
        hand_out(c, g);
    }
}

/// Ends an operation that may have ended messages with a TX-done client:
/// the one place that hands out TX-done callbacks after a transition. Their
/// hand-out is claimed while the operation's critical section `g` is still
/// held, so a deinit cannot complete in between (it waits for the claim)
/// and nothing touches the channel after the deinit returns; then the lock
/// is dropped and they are handed out. Without completions, or with another
/// context already handing out (it re-checks before it lets go), it only
/// drops the lock. Returns true when it handed out.
///
/// Context: task or interrupt; `g` is the critical section of the
/// caller's operation, which this call ends.
// Inlined where its check is a couple of instructions (no TX-done
// clients): it ends every operation, and most have nothing to hand out.
#[cfg_attr(not(feature = "txdone-callback"), inline(always))]
pub fn hand_out<C: Chan>(c: &C, mut g: Guard<'_, C>) -> bool {
    if !c.with_state(&mut g, |st| st.has_completion()) {
        return false;
    }
    claim_and_deliver(c, g)
}

/// The rest of [`hand_out`] when something can be handed out: claims the
/// hand-out under the operation's critical section `g` (or leaves it to
/// the context that holds it), then hands out without the lock. Kept out
/// of line (cold): most operations end nothing with a TX-done client.
#[cold]
#[inline(never)]
fn claim_and_deliver<C: Chan>(c: &C, mut g: Guard<'_, C>) -> bool {
    let os = c.os();
    if !c.with_state(&mut g, |st| st.claim_delivery(os.current())) {
        return false;
    }
    drop(g);
    deliver_claimed(c);
    true
}

/// Waits until no other context hands out completions of the channel,
/// then hands out what is left (teardown: no callback may run after it
/// returns).
///
/// Context: task, critical section not held.
pub fn hand_out_rest<C: Chan>(c: &C) {
    // Without TX-done clients nothing is ever handed out, nor claimed
    // (see [`ChanState::has_completion`]).
    if !crate::upper::chan::TX_CLIENTS {
        return;
    }
    let me = c.os().current();
    nap_until(c, |st| st.claim_delivery(me));
    deliver_claimed(c);
}

/// Hands the ended messages that have a TX-done client to their
/// callbacks, one at a time and in submission order, without the critical
/// section, then releases the hand-out claim (re-checking under the lock,
/// so nothing ended meanwhile is left behind).
///
/// The caller holds the channel's hand-out claim
/// ([`ChanState::claim_delivery`]) and not the critical section.
fn deliver_claimed<C: Chan>(c: &C) {
    loop {
        let (cb, done);
        {
            let mut g = c.os().enter();
            let next = c.with(&mut g, |st, env| {
                let next = st.take_completion(env);
                if next.is_none() {
                    st.release_delivery();
                }
                next
            });
            let Some(n) = next else {
                return;
            };
            // A client that unregistered meanwhile is not found: no call.
            cb = c.txdone_of(&mut g, &n);
            done = n;
        }
        if let Some(cb) = cb {
            c.call_txdone(cb, &done);
        }
    }
}

/// Sleeps one tick at a time (on a private wait object, initialised for
/// the call, never posted) until `done`, evaluated under the critical
/// section, returns true.
///
/// Context: task, critical section not held. Bounded by whatever makes
/// `done` true (another context's hand-out or reception finishing).
pub fn nap_until<C: Chan>(c: &C, mut done: impl FnMut(&mut ChanState) -> bool) {
    let os = c.os();
    let mut done = || {
        let mut g = os.enter();
        c.with_state(&mut g, &mut done)
    };
    // Without a wait object (its init failed) the loop spins.
    os.wait_object().ready(|nap| {
        while !done() {
            match nap {
                Ok(nap) => _ = nap.wait_until(os.now().saturating_add(1)),
                Err(_) => core::hint::spin_loop(),
            }
        }
    })
}
