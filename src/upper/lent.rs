//! Memory a caller lends to a channel for the channel's life: the TX ring
//! (or RX scratch) given to `mbox_chan_init()`, and, with
//! `CONFIG_MBOX_TXFIFO`, the in-flight slots carved from its start.
//!
//! # Invariant
//! A [`Lent`] is made only by [`Lent::new`], whose caller promises that
//! the region is valid for reads and writes, touched by nobody else, and
//! stays so while the `Lent` exists (the channel drops it when it is
//! released after its de-init). A `Lent` is neither `Copy` nor `Clone`, so
//! the region has one owner; every access goes through `&self` or
//! `&mut self`, so Rust's borrow rules keep the slices it hands out
//! exclusive. Its pointer only moves forward in the region (the slots are
//! carved from its front, the ring is what follows): `ptr..ptr + len` is
//! always inside the region, and the `nslots` slots right before `ptr`
//! (inside the `nslots * TXSLOT_SIZE` bytes carved for them) are
//! initialised.

use crate::os::Ticks;
use crate::upper::waiters::Linked;

/// The caller's buffer of one channel, lent to it for its life: the ring
/// (or RX scratch) and, before it, the in-flight slots of a deeper
/// channel.
#[repr(C)]
pub struct Lent {
    /// Start of the ring (or RX scratch); null when none was given.
    ptr: *mut u8,
    len: usize,
    /// In-flight slots carved from the front of the region: the
    /// `nslots * TXSLOT_SIZE` bytes before `ptr`, whose end holds the
    /// slots (0: none, a channel of depth 1). A count, not a pointer: the
    /// bounds check of a slot index is one compare with it.
    #[cfg(feature = "txfifo")]
    nslots: usize,
}

impl Lent {
    /// No memory.
    pub const EMPTY: Lent = Lent {
        ptr: core::ptr::null_mut(),
        len: 0,
        #[cfg(feature = "txfifo")]
        nslots: 0,
    };

    /// Takes `ptr[..len]` as the channel's memory (NULL: none, whatever
    /// `len` says).
    ///
    /// # Safety
    /// `ptr` is NULL, or `ptr[..len]` is one object of at most
    /// `isize::MAX` bytes, valid for reads and writes, and nobody else
    /// reads or writes it while the returned `Lent` exists.
    pub unsafe fn new(ptr: *mut u8, len: usize) -> Lent {
        if ptr.is_null() {
            return Lent::EMPTY;
        }
        Lent {
            ptr,
            len,
            #[cfg(feature = "txfifo")]
            nslots: 0,
        }
    }

    /// Takes a buffer that is the channel's for good.
    pub fn from_static(buf: &'static mut [u8]) -> Lent {
        // Sound without `unsafe`: the exclusive borrow lasts for ever.
        Lent {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
            #[cfg(feature = "txfifo")]
            nslots: 0,
        }
    }

    /// Bytes of the ring (or RX scratch).
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the ring (or RX scratch) starts, null when none was given:
    /// for the lower half's `recv`, which writes a message there (an RX
    /// buffer is never carved, and holds at least an MTU).
    #[inline(always)]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr
    }

    /// The ring, borrowed for as long as `self` is.
    #[inline(always)]
    pub fn bytes(&mut self) -> &mut [u8] {
        // A pointer select, not an early return: the compiler folds it
        // into the ring's own size checks.
        let ptr = if self.len == 0 { core::ptr::NonNull::dangling().as_ptr() } else { self.ptr };
        // SAFETY: ptr is non-null (a NULL buffer has length 0, then ptr is
        // dangling), and ptr[..len] lies in the region lent to this `Lent`
        // alone (the module's invariant); `&mut self` makes this slice the
        // only way to it while it lives.
        unsafe { core::slice::from_raw_parts_mut(ptr, self.len) }
    }

    /// Carves `n` in-flight slots from the front of the ring: skips to an
    /// 8-byte boundary, reserves `n * TXSLOT_SIZE` bytes and makes the `n`
    /// slots there empty ones (`TxSlot::EMPTY`); the ring is what follows.
    /// False (nothing changed) when the ring is too small, or slots were
    /// carved already.
    #[cfg(feature = "txfifo")]
    pub fn carve_slots(&mut self, n: u8) -> bool {
        let skip = self.ptr.align_offset(8);
        // At most 255 * 40 bytes: no overflow.
        let slots = n as usize * TXSLOT_SIZE;
        // skip is usize::MAX when no boundary is reachable: above len; at
        // most len, skip + slots cannot wrap.
        let need = skip.wrapping_add(slots);
        if n == 0 || self.nslots != 0 || skip > self.len || need > self.len {
            return false;
        }
        self.nslots = n as usize;
        self.ptr = self.ptr.wrapping_add(need);
        self.len -= need;
        // The n slots right before the new ptr lie in the old
        // ptr[skip..need] (need <= len: inside the region) and are aligned
        // (ptr is 8-aligned, align_of::<TxSlot>() <= 8 is asserted below).
        // Their bytes are initialised, a valid `TxSlot` whatever they are
        // (integers and an `Option` of a non-null pointer), so slot_mut may
        // hand them out; the assignment reads nothing (no drop glue,
        // asserted below). Typed stores to aligned slots: no byte-wise
        // memset (Arm's `__aeabi_memclr`).
        for i in 0..n {
            *self.slot_mut(i) = TxSlot::EMPTY;
        }
        true
    }

    /// The carved slot `i`, for `i` below the depth the slots were carved
    /// for (the channel never asks for another; the system stops then).
    #[cfg(feature = "txfifo")]
    #[inline(always)]
    pub fn slot(&self, i: u8) -> &TxSlot {
        let p = self.slot_ptr(i);
        // SAFETY: slot_ptr returns one of the carved slots, which are
        // initialised (carve_slots) and lie in the region lent to this
        // `Lent` alone; `&self` keeps `&mut` borrows away meanwhile.
        unsafe { &*p }
    }

    /// The carved slot `i`, mutably (see [`Lent::slot`]).
    #[cfg(feature = "txfifo")]
    #[inline(always)]
    pub fn slot_mut(&mut self, i: u8) -> &mut TxSlot {
        let p = self.slot_ptr(i);
        // SAFETY: as in `slot`; `&mut self` makes this the only reference
        // to it while it lives.
        unsafe { &mut *p }
    }

    /// Where the carved slot `i` is. `i` lies among the carved slots
    /// (none when the channel has depth 1: it checks [`Lent::has_slots`]
    /// first); otherwise the system stops (`os::assert_fail`, out of
    /// line: a compare and a branch never taken, as the channel's hot
    /// paths use it).
    #[cfg(feature = "txfifo")]
    #[inline(always)]
    fn slot_ptr(&self, i: u8) -> *mut TxSlot {
        if i as usize >= self.nslots {
            slot_out_of_range();
        }
        // One of the slots before ptr: ptr - (nslots - i) slots.
        const SIZE: isize = core::mem::size_of::<TxSlot>() as isize;
        self.ptr.wrapping_offset((i as isize - self.nslots as isize) * SIZE).cast::<TxSlot>()
    }

    /// Where the carved slots start (`ptr` when there are none): they end
    /// where the ring starts.
    #[cfg(feature = "txfifo")]
    #[inline(always)]
    fn first_slot(&self) -> *mut TxSlot {
        // Within the carved bytes (TXSLOT_SIZE >= a slot's size per slot).
        self.ptr.wrapping_sub(self.nslots * core::mem::size_of::<TxSlot>()).cast::<TxSlot>()
    }

    /// Every carved slot (none for a channel of depth 1), in memory order
    /// (not the channel's FIFO order).
    #[cfg(feature = "txfifo")]
    #[inline(always)]
    pub fn slots(&self) -> &[TxSlot] {
        // Not the ring's pointer when there are none: it may be null.
        let p = if self.nslots == 0 { core::ptr::NonNull::dangling().as_ptr() } else { self.first_slot() };
        // SAFETY: p is non-null and aligned (dangling for none); the
        // nslots slots from it are initialised (carve_slots) and lie in
        // the region lent to this `Lent` alone; `&self` keeps `&mut`
        // borrows away while the slice lives.
        unsafe { core::slice::from_raw_parts(p, self.nslots) }
    }

    /// Whether slots were carved (the channel keeps more than one message
    /// in flight).
    #[cfg(feature = "txfifo")]
    #[inline(always)]
    pub fn has_slots(&self) -> bool {
        self.nslots != 0
    }
}

/// One in-flight slot. Depth 1 uses the slot inside the channel state; a
/// deeper channel keeps its slots at the start of the caller's buffer.
// Those are written over the caller's bytes (`Lent::carve_slots`): every
// field is an integer or an `Option` of a non-null pointer, so any
// initialised bytes are a valid slot, and nothing is dropped.
#[repr(C)]
pub struct TxSlot {
    pub(crate) deadline: Ticks,
    /// The blocked (or polling) sender of the message, or none.
    pub(crate) waiter: Option<Linked>,
    /// The TX-done client of a non-blocking message, or 0.
    pub(crate) client: usize,
    pub(crate) token: u32,
    pub(crate) result: i32,
    pub(crate) state: u8,
    pub(crate) _pad: [u8; 7],
}

impl TxSlot {
    pub(crate) const EMPTY: TxSlot =
        TxSlot { deadline: 0, waiter: None, client: 0, token: 0, result: 0, state: 0, _pad: [0; 7] };
}

/// Bytes one in-flight slot takes from the buffer of a channel with
/// `txdepth > 1` (`MBOX_TXSLOT_SIZE` in the header).
#[cfg(feature = "txfifo")]
pub const TXSLOT_SIZE: usize = 40;
#[cfg(feature = "txfifo")]
static_assertions::const_assert!(core::mem::size_of::<TxSlot>() <= TXSLOT_SIZE);
#[cfg(feature = "txfifo")]
static_assertions::const_assert!(core::mem::align_of::<TxSlot>() <= 8);
#[cfg(feature = "txfifo")]
static_assertions::const_assert!(!core::mem::needs_drop::<TxSlot>());

/// A slot index beyond the carved slots: a broken channel invariant.
#[cfg(feature = "txfifo")]
#[cold]
#[inline(never)]
fn slot_out_of_range() -> ! {
    crate::os::assert_fail(file!(), line!())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    fn leaked(n: usize) -> Lent {
        Lent::from_static(std::boxed::Box::leak(std::vec![0u8; n].into_boxed_slice()))
    }

    #[test]
    fn a_null_buffer_lends_nothing() {
        // SAFETY: NULL lends no memory.
        let mut l = unsafe { Lent::new(core::ptr::null_mut(), 64) };
        assert_eq!((l.len(), l.as_ptr(), l.bytes().len()), (0, core::ptr::null_mut(), 0));
    }

    #[cfg(feature = "txfifo")]
    #[test]
    fn carved_slots_take_the_front_of_the_buffer_and_the_ring_the_rest() {
        let mut l = leaked(7 + 3 * TXSLOT_SIZE + 16);
        let before = l.len();
        assert!(l.carve_slots(3));
        assert!(l.has_slots());
        assert_eq!(l.slots().len(), 3);
        assert!(l.slots().iter().all(|s| s.state == 0 && s.waiter.is_none()));
        assert!(core::ptr::eq(l.slot(2), &l.slots()[2]));
        assert!(l.len() >= 16 && before - l.len() <= 7 + 3 * TXSLOT_SIZE);
        let ring = l.bytes().as_ptr() as usize;
        assert!(l.slots().as_ptr_range().end as usize <= ring);
        // Carved once only.
        assert!(!l.carve_slots(1));
    }

    #[cfg(feature = "txfifo")]
    #[test]
    fn each_carved_slot_is_its_own_aligned_place_between_the_buffer_start_and_the_ring() {
        for off in 0..8 {
            for n in 1..=5 {
                let buf = std::boxed::Box::leak(std::vec![0u8; 8 + n * TXSLOT_SIZE + 8].into_boxed_slice());
                let start = buf[off..].as_ptr() as usize;
                let mut l = Lent::from_static(&mut buf[off..]);
                assert!(l.carve_slots(n as u8));
                let ring = l.bytes().as_ptr() as usize;
                let at: std::vec::Vec<usize> = (0..n).map(|i| l.slot(i as u8) as *const TxSlot as usize).collect();
                for (i, &a) in at.iter().enumerate() {
                    assert!(a >= start && a + core::mem::size_of::<TxSlot>() <= ring);
                    assert_eq!(a % core::mem::align_of::<TxSlot>(), 0);
                    assert!(core::ptr::eq(l.slot(i as u8), &l.slots()[i]));
                    assert!(at[..i].iter().all(|&b| b.abs_diff(a) >= core::mem::size_of::<TxSlot>()));
                }
            }
        }
    }

    #[cfg(feature = "txfifo")]
    #[test]
    fn carved_slots_are_empty_whatever_the_buffer_held() {
        let buf = std::boxed::Box::leak(std::vec![0xa5u8; 8 + 2 * TXSLOT_SIZE + 8].into_boxed_slice());
        let mut l = Lent::from_static(buf);
        assert!(l.carve_slots(2));
        let e = TxSlot::EMPTY;
        for s in l.slots() {
            assert_eq!(
                (s.deadline, s.client, s.token, s.result, s.state, s._pad),
                (e.deadline, e.client, e.token, e.result, e.state, e._pad)
            );
            assert!(s.waiter.is_none());
        }
        // The ring after them keeps what it held.
        assert!(l.bytes().iter().all(|&b| b == 0xa5));
    }

    #[cfg(feature = "txfifo")]
    #[test]
    fn too_small_a_buffer_carves_nothing() {
        let mut l = leaked(2 * TXSLOT_SIZE - 1);
        assert!(!l.carve_slots(2));
        assert!(!l.has_slots() && l.slots().is_empty());
        assert_eq!(l.len(), 2 * TXSLOT_SIZE - 1);
    }
}
