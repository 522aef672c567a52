//! `TxQueue`: a ring of length-prefixed messages over the caller's buffer.
//!
//! Why not the `ringbuf` crate: the queue state must live inside the C
//! struct `mbox_chan_s` with a fixed `repr(C)` layout (ringbuf's types are
//! not `repr(C)`, and `SharedRb` alone is 384 bytes); the lower half's
//! `send` needs each message as one contiguous slice, so records never
//! wrap; and the upper half must peek a record's sequence number without
//! consuming it. All of that is ~100 lines here.
//!
//! Record layout: `[len: u16 LE][seq: u32 LE][client: usize]?[payload; len]`.
//! Bit 15 of `len` says that the optional `client` word follows (the
//! TX-done client of the message, docs/beyond.md §1), so messages without
//! one pay nothing for the feature. A record never wraps: when it does not fit at the end, the writer leaves a wrap
//! marker (`len == 0xFFFF`, if at least two bytes remain) and starts again
//! at offset 0. Every operation is O(1) in the number of queued messages.

#![deny(unsafe_code)]

/// Bytes of the per-record header.
pub(crate) const HDR: usize = 6;
const WRAP: u16 = 0xFFFF;
/// Bit of the length field that announces a client word.
const HAS_CLIENT: u16 = 0x8000;
/// Bytes of the optional client word.
pub(crate) const CLIENT: usize = core::mem::size_of::<usize>();
/// Largest payload a record can describe.
pub(crate) const MAX_PAYLOAD: usize = 0x7FFE;

/// The decoded oldest record of a [`TxQueue`].
#[derive(Debug, Clone, Copy)]
pub struct Head {
    at: usize,
    /// Sequence number (token) of the message.
    pub seq: u32,
    /// TX-done client of the message (0: none).
    pub client: usize,
    /// Header bytes (HDR, or HDR + CLIENT with a client).
    hdr: usize,
    len: usize,
}

/// Ring indices; the bytes are the caller's buffer, passed in per call.
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub struct TxQueue {
    /// Offset of the oldest record.
    head: u32,
    /// Offset where the next record goes.
    tail: u32,
    /// Number of records.
    count: u32,
    /// Bytes in use, including wrap padding.
    used: u32,
}

impl TxQueue {
    pub const fn new() -> TxQueue {
        TxQueue { head: 0, tail: 0, count: 0, used: 0 }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends one message. Returns false (and changes nothing) when it
    /// does not fit.
    pub fn push(&mut self, buf: &mut [u8], seq: u32, data: &[u8]) -> bool {
        self.push_client(buf, seq, 0, data)
    }

    /// Appends one message with its TX-done client (0: none). Returns
    /// false (and changes nothing) when it does not fit.
    pub fn push_client(&mut self, buf: &mut [u8], seq: u32, client: usize, data: &[u8]) -> bool {
        let cap = buf.len();
        let hdr = if client != 0 { HDR + CLIENT } else { HDR };
        let need = hdr + data.len();
        if data.len() > MAX_PAYLOAD || need > cap {
            return false;
        }
        if self.count == 0 {
            self.head = 0;
            self.tail = 0;
            self.used = 0;
        }
        let tail = self.tail as usize;
        let head = self.head as usize;
        let at;
        let mut pad = 0;
        if self.count == 0 || tail > head {
            // Free space: [tail, cap) then [0, head).
            if cap - tail >= need {
                at = tail;
            } else if head >= need {
                pad = cap - tail;
                at = 0;
            } else {
                return false;
            }
        } else {
            // tail <= head with records present: free is [tail, head).
            if head - tail >= need {
                at = tail;
            } else {
                return false;
            }
        }
        if pad >= 2 {
            buf[tail..tail + 2].copy_from_slice(&WRAP.to_le_bytes());
        }
        let mut next = at + need;
        if next == cap {
            next = 0;
        }
        self.tail = next as u32;
        self.used += (pad + need) as u32;
        self.count += 1;
        // One bounds check for the whole record, and the payload's copy
        // last: nothing has to be kept across it.
        let rec = &mut buf[at..at + need];
        let flag = if client != 0 { HAS_CLIENT } else { 0 };
        rec[..2].copy_from_slice(&(data.len() as u16 | flag).to_le_bytes());
        rec[2..HDR].copy_from_slice(&seq.to_le_bytes());
        if client != 0 {
            rec[HDR..hdr].copy_from_slice(&client.to_le_bytes());
        }
        rec[hdr..].copy_from_slice(data);
        true
    }

    /// The oldest message, decoded once: where it is, its sequence number
    /// and its length (for [`TxQueue::payload`] and [`TxQueue::pop_head`]).
    // Inlined into the channel's start of the next message (with pop_head
    // and payload): the Head then stays in registers.
    #[inline]
    pub fn head(&self, buf: &[u8]) -> Option<Head> {
        if self.count == 0 {
            return None;
        }
        let at = self.head_at(buf);
        // One bounds check for the whole header (a record always holds
        // one: push_client never writes a shorter one).
        let h: &[u8; HDR] = buf[at..at + HDR].try_into().expect("queue record header");
        let word = u16::from_le_bytes([h[0], h[1]]);
        let len = (word & !HAS_CLIENT) as usize;
        let seq = u32::from_le_bytes([h[2], h[3], h[4], h[5]]);
        let (client, hdr) = if word & HAS_CLIENT != 0 {
            let mut w = [0u8; CLIENT];
            w.copy_from_slice(&buf[at + HDR..at + HDR + CLIENT]);
            (usize::from_le_bytes(w), HDR + CLIENT)
        } else {
            (0, HDR)
        };
        Some(Head { at, seq, client, hdr, len })
    }

    /// The payload of `h` (from [`TxQueue::head`] on the same buffer).
    #[inline]
    pub fn payload<'a>(&self, buf: &'a [u8], h: &Head) -> &'a [u8] {
        // A 0-byte payload is described by the record's own address: real
        // memory inside the ring (its header), never one past its end.
        let at = if h.len == 0 { h.at } else { h.at + h.hdr };
        &buf[at..at + h.len]
    }

    /// Drops the oldest message, `h`, as [`TxQueue::head`] returned it.
    #[inline]
    pub fn pop_head(&mut self, cap: usize, h: &Head) {
        if h.at != self.head as usize {
            self.used -= (cap - self.head as usize) as u32;
        }
        let mut next = h.at + h.hdr + h.len;
        if next == cap {
            next = 0;
        }
        self.used -= (h.hdr + h.len) as u32;
        self.head = next as u32;
        self.count -= 1;
        if self.count == 0 {
            self.head = 0;
            self.tail = 0;
            self.used = 0;
        }
    }

    /// Offset of the head record, skipping a wrap marker.
    fn head_at(&self, buf: &[u8]) -> usize {
        let h = self.head as usize;
        // No room for a header before the end, or a wrap marker: the
        // record starts at 0.
        match buf.get(h..h + HDR) {
            Some(r) if u16::from_le_bytes([r[0], r[1]]) != WRAP => h,
            _ => 0,
        }
    }

    /// Sequence number and payload of the oldest message.
    pub fn peek<'a>(&self, buf: &'a [u8]) -> Option<(u32, &'a [u8])> {
        self.head(buf).map(|h| (h.seq, self.payload(buf, &h)))
    }

    /// Drops the oldest message (after it was sent).
    pub fn pop(&mut self, buf: &[u8]) {
        if let Some(h) = self.head(buf) {
            self.pop_head(buf.len(), &h);
        }
    }

    /// Forgets every message; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.count as usize;
        *self = TxQueue::new();
        n
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::VecDeque;
    use std::vec::Vec;

    #[test]
    fn fifo_roundtrip_and_full() {
        let mut buf = [0u8; 32];
        let mut q = TxQueue::new();
        assert!(q.push(&mut buf, 1, &[1, 2, 3]));
        assert!(q.push(&mut buf, 2, &[4; 10]));
        // 9 + 16 = 25 used; 7 left at the end, head is busy: 8 bytes won't fit.
        assert!(!q.push(&mut buf, 3, &[5; 2]));
        assert_eq!(q.peek(&buf), Some((1, &[1u8, 2, 3][..])));
        q.pop(&buf);
        // Now [0, 9) is free at the front: a 3-byte payload fits after wrapping.
        assert!(q.push(&mut buf, 3, &[7; 3]));
        assert_eq!(q.peek(&buf).unwrap().0, 2);
        q.pop(&buf);
        assert_eq!(q.peek(&buf), Some((3, &[7u8; 3][..])));
        q.pop(&buf);
        assert!(q.is_empty());
        assert_eq!(q.peek(&buf), None);
    }

    #[test]
    fn client_word_roundtrips_and_costs_its_bytes() {
        let mut buf = [0u8; 40];
        let mut q = TxQueue::new();
        assert!(q.push_client(&mut buf, 5, 0xDEAD_BEEF, &[1, 2, 3]));
        assert!(q.push(&mut buf, 6, &[4; 3]));
        // 17 + 9 = 26 used: a 14-byte client record with 1 payload byte
        // (15) does not fit in the 14 left; a plain one (7) does.
        assert!(!q.push_client(&mut buf, 7, 1, &[9]));
        assert!(q.push(&mut buf, 7, &[9]));
        let h = q.head(&buf).unwrap();
        assert_eq!((h.seq, h.client, q.payload(&buf, &h)), (5, 0xDEAD_BEEF, &[1u8, 2, 3][..]));
        q.pop_head(buf.len(), &h);
        let h = q.head(&buf).unwrap();
        assert_eq!((h.seq, h.client, q.payload(&buf, &h)), (6, 0, &[4u8; 3][..]));
        q.pop_head(buf.len(), &h);
        q.pop(&buf);
        assert!(q.is_empty());
    }

    #[test]
    fn oversize_never_fits() {
        let mut buf = [0u8; 16];
        let mut q = TxQueue::new();
        assert!(!q.push(&mut buf, 1, &[0; 11]));
        assert!(q.push(&mut buf, 1, &[0; 10]));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn zero_length_messages() {
        let mut buf = [0u8; 13];
        let mut q = TxQueue::new();
        assert!(q.push(&mut buf, 9, &[]));
        assert!(q.push(&mut buf, 10, &[]));
        assert!(!q.push(&mut buf, 11, &[]));
        assert_eq!(q.peek(&buf), Some((9, &[][..])));
        q.pop(&buf);
        assert_eq!(q.peek(&buf), Some((10, &[][..])));
    }

    /// A 0-byte payload is handed out at its record's own address, inside
    /// the buffer, also when the record ends exactly at the buffer's end.
    #[test]
    fn zero_length_payload_points_at_its_record() {
        let mut buf = [0u8; 2 * HDR];
        let mut q = TxQueue::new();
        assert!(q.push(&mut buf, 1, &[]));
        assert!(q.push(&mut buf, 2, &[]));
        let range = buf.as_ptr_range();
        for at in [0, HDR] {
            let h = q.head(&buf).unwrap();
            let p = q.payload(&buf, &h);
            assert!(p.is_empty());
            assert_eq!(p.as_ptr(), buf[at..].as_ptr());
            assert!(range.contains(&p.as_ptr()));
            q.pop_head(buf.len(), &h);
        }
    }

    /// Random pushes and pops against a VecDeque model: same order, same
    /// bytes, and the ring accepts whenever the model says it has room for
    /// a contiguous record.
    #[test]
    fn model_check_random() {
        let mut seed: u64 = 0x1234_5678;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for cap in [6usize, 7, 17, 64, 100] {
            let mut buf = std::vec![0u8; cap];
            let mut q = TxQueue::new();
            let mut model: VecDeque<(u32, Vec<u8>)> = VecDeque::new();
            let mut clients: VecDeque<usize> = VecDeque::new();
            let mut seq = 0u32;
            for _ in 0..20000 {
                if rnd() % 2 == 0 {
                    let len = (rnd() % 20) as usize;
                    let data: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
                    let client = if rnd() % 3 == 0 { rnd() as usize | 1 } else { 0 };
                    if q.push_client(&mut buf, seq, client, &data) {
                        model.push_back((seq, data));
                        clients.push_back(client);
                    } else {
                        // An empty ring must take anything that fits its
                        // capacity; a non-empty one must be short of room
                        // (counting at most one wrapped record of padding).
                        let hdr = if client != 0 { HDR + CLIENT } else { HDR };
                        let used: usize = model.iter().map(|(_, d)| d.len() + HDR + CLIENT).sum();
                        assert!(!model.is_empty() || hdr + len > cap, "empty ring refused");
                        assert!(used + hdr + len > cap / 2, "refused with half the ring free");
                    }
                    seq = seq.wrapping_add(1);
                } else {
                    let got = q.peek(&buf).map(|(s, d)| (s, d.to_vec()));
                    let want = model.front().cloned();
                    assert_eq!(got, want);
                    assert_eq!(q.head(&buf).map(|h| h.client), clients.front().copied());
                    q.pop(&buf);
                    model.pop_front();
                    clients.pop_front();
                }
                assert_eq!(q.len(), model.len());
            }
        }
    }
}
