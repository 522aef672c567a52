//! The TX queue's ring of records (`mbox::upper::queue::TxQueue`) over a buffer
//! of any size, driven by any sequence of push / peek / pop / clear with
//! any payload size and client word, against a `VecDeque` model.
//!
//! Invariants: nothing panics (overflow checks are on); the ring hands out
//! exactly the model's messages, in order, byte for byte, with their
//! sequence numbers and clients; a refused push changes nothing; an empty
//! ring accepts every record that fits its capacity; a non-empty ring
//! refuses only when it is short of contiguous room (at most one record of
//! wrap padding plus the fragmentation of one record).

#![no_main]

use std::collections::VecDeque;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use mbox::upper::queue::TxQueue;

/// Record header bytes (length, sequence number) and the client word.
const HDR: usize = 6;
const CLIENT: usize = std::mem::size_of::<usize>();
/// Largest payload a record describes.
const MAX_PAYLOAD: usize = 0x7FFE;

#[derive(Arbitrary, Debug)]
enum Op {
    /// A small message (most of the traffic).
    Push {
        len: u8,
        client: bool,
        fill: u8,
    },
    /// Any size, up to past the largest payload.
    PushBig {
        len: u16,
        client: bool,
        fill: u8,
    },
    Peek,
    Pop,
    /// Decode the head, then drop it with `pop_head`.
    PopHead,
    Clear,
}

struct Msg {
    seq: u32,
    client: usize,
    data: Vec<u8>,
}

impl Msg {
    fn size(&self) -> usize {
        HDR + if self.client != 0 { CLIENT } else { 0 } + self.data.len()
    }
}

fn run(u: &mut Unstructured) -> arbitrary::Result<()> {
    // Mostly small rings, where wrapping happens; sometimes one large
    // enough for the largest payload.
    let cap =
        if u.ratio(1, 16)? { u.int_in_range(0..=MAX_PAYLOAD + HDR + CLIENT + 8)? } else { u.int_in_range(0..=300)? };
    let mut buf = vec![0u8; cap];
    let mut q = TxQueue::new();
    let mut model: VecDeque<Msg> = VecDeque::new();
    let mut seq = u.arbitrary::<u32>()?;
    let mut n = 0u32;
    while !u.is_empty() && n < 2000 {
        n += 1;
        match u.arbitrary::<Op>()? {
            Op::Push { len, client, fill } => push(&mut q, &mut buf, &mut model, &mut seq, len as usize, client, fill),
            Op::PushBig { len, client, fill } => {
                push(&mut q, &mut buf, &mut model, &mut seq, len as usize, client, fill)
            }
            Op::Peek => {
                let got = q.peek(&buf).map(|(s, d)| (s, d.to_vec()));
                assert_eq!(got, model.front().map(|m| (m.seq, m.data.clone())));
            }
            Op::Pop => {
                q.pop(&buf);
                model.pop_front();
            }
            Op::PopHead => match (q.head(&buf), model.pop_front()) {
                (Some(h), Some(m)) => {
                    assert_eq!((h.seq, h.client), (m.seq, m.client));
                    assert_eq!(q.payload(&buf, &h), &m.data[..]);
                    q.pop_head(cap, &h);
                }
                (None, None) => {}
                (h, m) => panic!("head {:?} but model has {}", h, m.is_some()),
            },
            Op::Clear => {
                assert_eq!(q.clear(), model.len());
                model.clear();
            }
        }
        assert_eq!(q.len(), model.len());
        assert_eq!(q.is_empty(), model.is_empty());
        match (q.head(&buf), model.front()) {
            (Some(h), Some(m)) => {
                assert_eq!((h.seq, h.client), (m.seq, m.client));
                assert_eq!(q.payload(&buf, &h), &m.data[..]);
            }
            (None, None) => {}
            (h, m) => panic!("head {:?} but model has {}", h, m.is_some()),
        }
    }
    // Drain: everything comes out, in order.
    while let Some(m) = model.pop_front() {
        let h = q.head(&buf).expect("the ring lost a message");
        assert_eq!((h.seq, h.client, q.payload(&buf, &h)), (m.seq, m.client, &m.data[..]));
        q.pop_head(cap, &h);
    }
    assert!(q.is_empty() && q.head(&buf).is_none());
    Ok(())
}

fn push(q: &mut TxQueue, buf: &mut [u8], model: &mut VecDeque<Msg>, seq: &mut u32, len: usize, client: bool, fill: u8) {
    let cap = buf.len();
    let data: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
    // Any non-zero client value, all bytes used.
    let client = if client { (*seq as usize).wrapping_mul(0x9E37_79B9) | 1 } else { 0 };
    let m = Msg { seq: *seq, client, data };
    *seq = seq.wrapping_add(1);
    let before = (q.len(), q.peek(buf).map(|(s, d)| (s, d.to_vec())));
    if q.push_client(buf, m.seq, m.client, &m.data) {
        assert!(len <= MAX_PAYLOAD, "accepted a {len}-byte payload");
        assert!(m.size() <= cap);
        model.push_back(m);
        return;
    }
    // Refused: nothing changed.
    assert_eq!((q.len(), q.peek(buf).map(|(s, d)| (s, d.to_vec()))), before, "a refused push changed the ring");
    if len > MAX_PAYLOAD || m.size() > cap {
        return;
    }
    let need = m.size();
    assert!(!model.is_empty(), "empty ring of {cap} refused a {need}-byte record");
    let used: usize = model.iter().map(Msg::size).sum();
    let largest = model.iter().map(Msg::size).max().unwrap_or(0);
    assert!(
        used + largest + 2 * need > cap,
        "ring of {cap} with {used} bytes in {} records refused a {need}-byte record",
        model.len()
    );
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
