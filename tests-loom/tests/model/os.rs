//! The loom implementation of `mbox::os::Os`'s parts that do not depend
//! on a model: the wait object of a blocked sender, the watchdog timer and
//! task identity. Each model (`Model`, `FifoModel`) implements `Os` itself
//! (its critical section is its own channel mutex) with these.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc as StdArc;
use std::sync::Mutex as StdMutex;

use loom::sync::atomic::{AtomicU64, Ordering::SeqCst};
use loom::sync::{Arc, Condvar, Mutex};

use mbox::os::{OsWait, ReadyWait, Ticks, FOREVER};
use mbox::upper::errno::*;

/// The state behind one wait object: the model of `mbox_os_wait_s` (a
/// binary semaphore for exactly one waiter, with a timed wait on the
/// model clock).
pub struct WaitCell {
    posted: Mutex<bool>,
    cv: Condvar,
    /// Posts so far: a blocked sender's object is posted at most once
    /// (its message ends once).
    posts: AtomicUsize,
}

impl WaitCell {
    /// The clock moved: re-evaluate a timed wait.
    pub fn tick(&self) {
        let _g = self.posted.lock().unwrap();
        self.cv.notify_all();
    }
}

/// Every wait object a model's OS made, so that the clock can wake timed
/// waits. Not loom state (std `Arc`s and mutex: bookkeeping that adds no
/// interleavings; loom runs one thread at a time, so it is never
/// contended): only the wait objects' own mutex and condvar are.
pub struct Waits {
    all: StdMutex<Vec<StdArc<WaitCell>>>,
    clock: Arc<AtomicU64>,
    /// Initialised and not yet destroyed.
    pub live: AtomicUsize,
}

impl Waits {
    pub fn new(clock: Arc<AtomicU64>) -> StdArc<Waits> {
        StdArc::new(Waits { all: StdMutex::new(Vec::new()), clock, live: AtomicUsize::new(0) })
    }

    /// `Os::wait_object`.
    pub fn make(waits: &StdArc<Waits>) -> LoomWait {
        let cell = StdArc::new(WaitCell { posted: Mutex::new(false), cv: Condvar::new(), posts: AtomicUsize::new(0) });
        waits.all.lock().unwrap().push(cell.clone());
        LoomWait { cell, waits: waits.clone(), init: false }
    }

    /// The clock moved: every timed wait re-evaluates.
    pub fn tick_all(&self) {
        let all: Vec<StdArc<WaitCell>> = self.all.lock().unwrap().clone();
        for c in all {
            c.tick();
        }
    }
}

/// `Os::Wait` of the models.
pub struct LoomWait {
    cell: StdArc<WaitCell>,
    waits: StdArc<Waits>,
    init: bool,
}

impl OsWait for LoomWait {
    type Ready = LoomWait;

    /// Initialised (counted live) for the length of `f`.
    fn ready<R>(&mut self, f: impl FnOnce(Result<&LoomWait, i32>) -> R) -> R {
        assert!(!self.init, "wait object initialised twice");
        self.init = true;
        self.waits.live.fetch_add(1, Relaxed);
        let r = f(Ok(self));
        assert!(self.init, "destroy of an uninitialised wait object");
        self.init = false;
        self.waits.live.fetch_sub(1, Relaxed);
        r
    }
}

impl ReadyWait for LoomWait {
    /// Posted: 0 (consuming the post); the model clock reached `deadline`
    /// first: -ETIMEDOUT. A deadline that has passed returns at once (a
    /// pending post stays), as the port's does. A wait of at most one tick
    /// (the one-tick nap of a teardown) lets the other threads run once
    /// and returns: one tick is shorter than anything the models time,
    /// and their clock moves only in big steps.
    fn wait_until(&self, deadline: Ticks) -> i32 {
        assert!(self.init, "wait on an uninitialised wait object");
        let clock = &self.waits.clock;
        if deadline != FOREVER && clock.load(SeqCst) >= deadline {
            return -ETIMEDOUT;
        }
        let mut p = self.cell.posted.lock().unwrap();
        loop {
            if *p {
                *p = false;
                return 0;
            }
            let now = clock.load(SeqCst);
            if deadline != FOREVER && now >= deadline {
                return -ETIMEDOUT;
            }
            if deadline != FOREVER && deadline <= now + 1 {
                drop(p);
                loom::thread::yield_now();
                return -ETIMEDOUT;
            }
            p = self.cell.cv.wait(p).unwrap();
        }
    }

    fn post(&self) {
        assert!(self.init, "post of an uninitialised (or destroyed) wait object");
        assert_eq!(self.cell.posts.fetch_add(1, Relaxed), 0, "waiter woken twice");
        let mut p = self.cell.posted.lock().unwrap();
        *p = true;
        self.cell.cv.notify_all();
    }
}

/// `Os::Timer` of the models: the absolute expiry it is armed for. The
/// expiry is fired by the model's clock step (`on_timer` in a critical
/// section of its own), not by a thread.
#[derive(Default)]
pub struct LoomTimer {
    expiry: std::cell::Cell<Option<Ticks>>,
}

impl LoomTimer {
    pub fn start(&self, now: Ticks, ticks: Ticks) {
        assert!(ticks >= 1);
        self.expiry.set(Some(now.saturating_add(ticks)));
    }

    pub fn cancel(&self) {
        self.expiry.set(None);
    }

    pub fn armed(&self) -> Option<Ticks> {
        self.expiry.get()
    }

    /// Pops the expiry if it has passed (the port's timer thread).
    pub fn fire(&self, now: Ticks) -> bool {
        match self.expiry.get() {
            Some(d) if d <= now => {
                self.expiry.set(None);
                true
            }
            _ => false,
        }
    }
}

static NEXT_TASK: AtomicUsize = AtomicUsize::new(1);

loom::thread_local! {
    static TASK: usize = NEXT_TASK.fetch_add(1, Relaxed);
    static GATE: std::cell::Cell<Option<usize>> = std::cell::Cell::new(None);
}

/// Makes the running thread's next critical section (the glue's first:
/// the submission) start only once the model's gate `g` is open, inside
/// that same section (see each model's `gated`), so that gating adds no
/// critical section of its own.
pub fn set_gate(g: Option<usize>) {
    GATE.with(|c| c.set(g));
}

/// The gate set for this thread's next critical section, cleared.
pub fn take_gate() -> Option<usize> {
    GATE.with(|c| c.take())
}

/// `Os::current`: a non-zero identifier of the running loom thread.
pub fn current() -> usize {
    TASK.with(|t| *t)
}

/// Implements `mbox::os::Os` for a model type with fields `chan` (the
/// loom mutex that stands for the critical section), `clock` and `waits`,
/// given its guard type.
#[macro_export]
macro_rules! loom_os {
    ($model:ty, $guard:ty, |$s:ident| $enter:expr) => {
        impl mbox::os::Os for $model {
            type Guard<'a> = $guard;
            type Wait = $crate::model::os::LoomWait;
            type Timer = $crate::model::os::LoomTimer;

            fn enter(&self) -> Self::Guard<'_> {
                let $s = self;
                $enter
            }

            fn now(&self) -> mbox::os::Ticks {
                self.clock.load(loom::sync::atomic::Ordering::SeqCst)
            }

            /// The glue never asks (the C entry points check the context);
            /// the models' threads stand for tasks and interrupts by what
            /// they call.
            fn in_interrupt(&self) -> bool {
                false
            }

            fn current(&self) -> usize {
                $crate::model::os::current()
            }

            fn wait_object(&self) -> Self::Wait {
                $crate::model::os::Waits::make(&self.waits)
            }

            fn timer_start(
                &self,
                t: &Self::Timer,
                ticks: mbox::os::Ticks,
                _cb: mbox::os::TimerFn,
                _arg: usize,
            ) -> Result<(), i32> {
                t.start(self.now(), ticks);
                Ok(())
            }

            fn timer_cancel(&self, t: &Self::Timer) {
                t.cancel();
            }

            fn timer_init(&self, t: &Self::Timer) -> Result<(), i32> {
                t.cancel();
                Ok(())
            }

            fn timer_destroy(&self, t: &Self::Timer) {
                t.cancel();
            }
        }
    };
}
