//! The PL320 DR0 word as the remote core may write it: any 32-bit value,
//! decoded for any MTU, and the encoders checked against the decoder.
//!
//! Invariants: decoding never panics; a word is exactly one of message
//! (with a length of at most the MTU, and the word is that message's own
//! header), ACK word (exactly the words with the ACK mark) or refused
//! header (EBADMSG / EMSGSIZE, with its token so it can still be ACKed);
//! a message header is never taken for an ACK and an ACK never for a
//! message; an ACK completes the in-flight message exactly when it echoes
//! the in-flight token's low 16 bits.
//!
//! The compatible (legacy) format's data registers: any payload of at most
//! 4 * DATANUM bytes round-trips zero-padded through `compat::encode` and
//! `compat::decode`; a longer one is refused with nothing written; any
//! register values decode without panicking into any buffer.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mbox::pl320::wire::{ack_word, acked_token, compat, decode, header, token, Dr0, ACK_MARK};
use mbox::upper::errno::{EBADMSG, EMSGSIZE};

#[derive(Arbitrary, Debug)]
struct Input {
    /// The foreign word.
    dr0: u32,
    /// MTU of the receiver: the real ones are 4 * (DATANUM - 1), DATANUM
    /// 2..=7; any byte value is checked as well.
    mtu: u8,
    /// Token of the sender's message in flight.
    txtoken: u32,
    /// A message the sender encodes.
    len: u8,
    token: u32,
    /// Compatible format: DATANUM (1..=7 after reduction), the registers
    /// as the remote wrote them, a payload to encode.
    datanum: u8,
    regs: [u32; 7],
    payload: Vec<u8>,
}

fuzz_target!(|inp: Input| {
    for mtu in [inp.mtu as usize, 4 * (1 + inp.mtu as usize % 6)] {
        check_word(inp.dr0, mtu, inp.txtoken);
        check_encoders(inp.len as usize, inp.token, mtu, inp.txtoken);
    }
    check_compat(1 + inp.datanum as usize % 7, &inp.regs, &inp.payload);
});

fn check_compat(datanum: usize, regs: &[u32; 7], payload: &[u8]) {
    let mtu = compat::mtu(datanum);
    assert_eq!(mtu, 4 * datanum);
    // Any register values, into a buffer of any size up to the MTU.
    let mut out = [0u8; 28];
    for cap in [0, payload.len() % (mtu + 1), mtu] {
        let n = compat::decode(&regs[..datanum], &mut out[..cap]);
        assert_eq!(n, cap);
        for (i, &b) in out[..n].iter().enumerate() {
            assert_eq!(b, regs[i / 4].to_le_bytes()[i % 4]);
        }
    }
    // Any payload: at most the MTU round-trips zero-padded, more is refused.
    let mut words = [0xA5A5_A5A5u32; 7];
    match compat::encode(payload, &mut words[..datanum]) {
        Ok(()) => {
            assert!(payload.len() <= mtu);
            let mut back = [0xFFu8; 28];
            assert_eq!(compat::decode(&words[..datanum], &mut back[..mtu]), mtu);
            assert_eq!(&back[..payload.len()], payload);
            assert!(back[payload.len()..mtu].iter().all(|&b| b == 0), "not zero-padded");
        }
        Err(e) => {
            assert_eq!(e, EMSGSIZE);
            assert!(payload.len() > mtu);
            assert!(words.iter().all(|&w| w == 0xA5A5_A5A5), "a refused payload wrote registers");
        }
    }
    assert!(words[datanum..].iter().all(|&w| w == 0xA5A5_A5A5), "wrote beyond DATANUM");
}

fn check_word(dr0: u32, mtu: usize, txtoken: u32) {
    let marked = dr0 & ACK_MARK != 0;
    assert!(token(dr0) <= 0xFFFF);
    match decode(dr0, mtu) {
        Dr0::Message { token: t, len } => {
            assert!(!marked, "{dr0:#x}: an ACK word decoded as a message");
            assert!(len <= mtu, "{dr0:#x}: length {len} above the MTU {mtu}");
            assert_eq!(t, token(dr0));
            assert_eq!(header(len, t), dr0, "a message word is its own header");
        }
        Dr0::Ack { token: t } => {
            assert!(marked, "{dr0:#x}: an ACK without the mark");
            assert_eq!(t, token(dr0));
        }
        Dr0::Bad { token: t, err } => {
            assert!(!marked);
            assert_eq!(t, token(dr0), "a refused header keeps its token for the ACK");
            if (dr0 >> 8) & 0xFF != 0 {
                assert_eq!(err, EBADMSG);
            } else {
                assert_eq!(err, EMSGSIZE);
                assert!((dr0 & 0xFF) as usize > mtu);
            }
        }
    }
    match acked_token(dr0, txtoken) {
        None => assert!(!marked, "{dr0:#x}: an ACK word ignored"),
        Some(t) => {
            assert!(marked, "{dr0:#x}: SEND = 2 over a message header taken for an ACK");
            let own = token(dr0) == txtoken & 0xFFFF;
            assert_eq!(t == txtoken, own, "{dr0:#x} with {txtoken:#x} in flight");
            if !own {
                assert_eq!(t, token(dr0));
            }
        }
    }
}

fn check_encoders(len: usize, tok: u32, mtu: usize, txtoken: u32) {
    let h = header(len, tok);
    assert_eq!(h & ACK_MARK, 0, "a header looks like an ACK");
    assert_eq!(acked_token(h, txtoken), None);
    if len <= mtu {
        assert_eq!(decode(h, mtu), Dr0::Message { token: tok & 0xFFFF, len });
    } else {
        assert_eq!(decode(h, mtu), Dr0::Bad { token: tok & 0xFFFF, err: EMSGSIZE });
    }
    let a = ack_word(tok);
    assert_eq!(decode(a, mtu), Dr0::Ack { token: tok & 0xFFFF });
    assert_eq!(acked_token(a, tok), Some(tok), "its own ACK completes a message");
    assert_eq!(acked_token(ack_word(txtoken), txtoken), Some(txtoken));
}
