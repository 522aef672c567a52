//! The PL320 wire words, as pure functions: the framed format's DR0
//! (encoding and decoding) and the compatible format's data registers
//! ([`compat`]).
//!
//! DR0 is the one register whose meaning the driver decides from what the
//! remote core wrote, so everything it may hold is decided here, without
//! registers, locks or channel state (and fuzzed on its own, `fuzz/`).
//!
//! ```text
//!   message header  [31:16] low 16 bits of the token  [15:8] 0          [7:0] length
//!   ACK word        [31:16] echoed token              [8] ACK_MARK (1)
//! ```
//!
//! A word with [`ACK_MARK`] set is an ACK word whatever its other bits say;
//! any other word with bits 15:8 not 0 is a malformed header; a header
//! whose length is above the MTU is refused; the rest are messages.

#![deny(unsafe_code)]

use crate::upper::errno::{EBADMSG, EMSGSIZE};

/// Marks DR0 as an ACK word (bits 15:8 of a message header are 0). A late
/// ACK can land between the sender's DR0 write and its SEND = 1 of the
/// next message (ctest/test_race.c with injected late ACKs); without the
/// mark the receiver would then take the ACK word for an empty message.
pub const ACK_MARK: u32 = 1 << 8;

/// DR0 of a message of `len` bytes carrying the low 16 bits of `token`.
/// Only bits 7:0 of `len` fit: the sender refuses a message above the MTU
/// (at most 24 bytes) before it builds a header.
pub const fn header(len: usize, token: u32) -> u32 {
    ((token & 0xFFFF) << 16) | (len as u32 & 0xFF)
}

/// DR0 of the receiver's ACK of the message with `token`.
pub const fn ack_word(token: u32) -> u32 {
    ((token & 0xFFFF) << 16) | ACK_MARK
}

/// The token field of any DR0 word (16 bits).
pub const fn token(dr0: u32) -> u32 {
    dr0 >> 16
}

/// What a DR0 word is, for a receiver whose MTU is `mtu` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dr0 {
    /// A message header: `len` (at most the MTU) payload bytes follow in
    /// DR1 onwards.
    Message {
        /// Token field.
        token: u32,
        /// Payload bytes.
        len: usize,
    },
    /// An ACK word (ACK_MARK set): never a message.
    Ack {
        /// The echoed token field.
        token: u32,
    },
    /// A header that cannot be received: `err` is `EBADMSG` (bits 15:8 not
    /// 0) or `EMSGSIZE` (length above the MTU), positive. The receiver
    /// still ACKs it with `token`, so that the sender is not left waiting.
    Bad {
        /// Token field.
        token: u32,
        /// Positive errno.
        err: i32,
    },
}

/// Decodes DR0 as a receiver whose MTU is `mtu` bytes sees it.
pub const fn decode(dr0: u32, mtu: usize) -> Dr0 {
    let token = token(dr0);
    if dr0 & ACK_MARK != 0 {
        Dr0::Ack { token }
    } else if (dr0 >> 8) & 0xFF != 0 {
        Dr0::Bad { token, err: EBADMSG }
    } else if (dr0 & 0xFF) as usize > mtu {
        Dr0::Bad { token, err: EMSGSIZE }
    } else {
        Dr0::Message { token, len: (dr0 & 0xFF) as usize }
    }
}

/// The token a sender passes to `mbox_chan_tx_done_token()` for the DR0
/// word `dr0` it finds with SEND = 2 while the message with `txtoken` is
/// in flight; `None` when `dr0` is no ACK word (an ACK split around a
/// timeout leaves SEND = 2 over the next message's own header, which must
/// complete nothing).
///
/// The echo has 16 bits: when they are those of `txtoken`, the ACK is that
/// message's; otherwise the echoed value itself is returned, which is
/// never `txtoken` (it is below 2^16 and differs from `txtoken`'s low 16
/// bits), so it completes nothing and is counted as stale.
pub const fn acked_token(dr0: u32, txtoken: u32) -> Option<u32> {
    if dr0 & ACK_MARK == 0 {
        return None;
    }
    let echoed = token(dr0);
    Some(if echoed == txtoken & 0xFFFF { txtoken } else { echoed })
}

/// Payload word `i` of `msg`, as both formats put it in a data register:
/// bytes `4i..4i+3` little-endian, zero beyond the message. Built a byte at
/// a time, so that a sender writes its registers straight from the
/// message, with no word array to fill and no copy call per word.
pub fn word(msg: &[u8], i: usize) -> u32 {
    let bytes = msg.chunks(4).nth(i).unwrap_or(&[]);
    bytes.iter().rev().fold(0, |w, &b| w << 8 | b as u32)
}

/// The compatible (legacy) wire format, `CONFIG_MBOX_PL320_WIRE_COMPAT`
/// (the default): the one of the NuttX C driver and Linux's pl320-ipc.
///
/// ```text
///   DR0 .. DR(DATANUM-1)  payload, little-endian, zero-padded
/// ```
///
/// There is no header: the receiver reads every data register and gets
/// `4 * DATANUM` bytes whatever the sender wrote (the protocol carries no
/// length). The ACK is SEND = 2 alone, with no token.
pub mod compat {
    use super::word;
    use crate::upper::errno::EMSGSIZE;

    /// Payload bytes of a mailbox with `datanum` data registers.
    pub const fn mtu(datanum: usize) -> usize {
        4 * datanum
    }

    /// The data register values of `msg`: word `i` holds bytes `4i..4i+3`
    /// little-endian, zero beyond the message; every word of `out` is
    /// written. `Err(EMSGSIZE)` (positive), with `out` untouched, when
    /// `msg` is longer than `4 * out.len()`.
    pub fn encode(msg: &[u8], out: &mut [u32]) -> Result<(), i32> {
        if msg.len() > mtu(out.len()) {
            return Err(EMSGSIZE);
        }
        for (i, w) in out.iter_mut().enumerate() {
            *w = word(msg, i);
        }
        Ok(())
    }

    /// The bytes of the data register values `words` into `out`: as many
    /// as both hold (`min(4 * words.len(), out.len())`), which it returns.
    pub fn decode(words: &[u32], out: &mut [u8]) -> usize {
        let n = mtu(words.len()).min(out.len());
        for (chunk, w) in out[..n].chunks_mut(4).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes()[..chunk.len()]);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compat_roundtrips_every_length_up_to_the_mtu_zero_padded() {
        let msg: [u8; 28] = core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(1));
        for datanum in 1..=7usize {
            assert_eq!(compat::mtu(datanum), 4 * datanum);
            for len in 0..=compat::mtu(datanum) {
                let mut words = [0xDEAD_BEEFu32; 7];
                assert_eq!(compat::encode(&msg[..len], &mut words[..datanum]), Ok(()));
                // Beyond DATANUM nothing is written.
                assert!(words[datanum..].iter().all(|&w| w == 0xDEAD_BEEF));
                let mut out = [0xAAu8; 28];
                assert_eq!(compat::decode(&words[..datanum], &mut out), 4 * datanum);
                assert_eq!(&out[..len], &msg[..len]);
                // The receiver gets all DATANUM words: zero past the message.
                assert!(out[len..4 * datanum].iter().all(|&b| b == 0));
                assert!(out[4 * datanum..].iter().all(|&b| b == 0xAA));
            }
        }
    }

    #[test]
    fn payload_word_is_little_endian_and_zero_past_the_message() {
        let msg = [1u8, 2, 3, 4, 5, 6];
        assert_eq!(word(&msg, 0), 0x0403_0201);
        assert_eq!(word(&msg, 1), 0x0000_0605);
        assert_eq!(word(&msg, 2), 0);
        assert_eq!(word(&msg, usize::MAX), 0);
        assert_eq!(word(&[], 0), 0);
    }

    #[test]
    fn compat_is_little_endian_per_register() {
        let mut words = [0u32; 7];
        let msg: [u8; 28] = core::array::from_fn(|i| i as u8);
        assert_eq!(compat::encode(&msg, &mut words), Ok(()));
        assert_eq!(words[0], 0x0302_0100);
        assert_eq!(words[6], 0x1B1A_1918);
        assert_eq!(compat::encode(&[0x11, 0x22, 0x33], &mut words[..1]), Ok(()));
        assert_eq!(words[0], 0x0033_2211);
    }

    #[test]
    fn compat_refuses_more_than_the_data_registers_and_writes_nothing() {
        let mut words = [5u32; 7];
        assert_eq!(compat::encode(&[0u8; 29], &mut words), Err(EMSGSIZE));
        assert_eq!(compat::encode(&[0u8; 5], &mut words[..1]), Err(EMSGSIZE));
        assert_eq!(compat::encode(&[1u8], &mut []), Err(EMSGSIZE));
        assert_eq!(words, [5u32; 7]);
        assert_eq!(compat::encode(&[], &mut []), Ok(()));
    }

    #[test]
    fn compat_decode_into_a_short_buffer_stops_at_its_end() {
        let words = [0x0403_0201u32, 0x0807_0605];
        let mut out = [0u8; 6];
        assert_eq!(compat::decode(&words, &mut out), 6);
        assert_eq!(out, [1, 2, 3, 4, 5, 6]);
        assert_eq!(compat::decode(&[], &mut out), 0);
    }

    const MTU: usize = 24;

    #[test]
    fn header_roundtrips_every_length_up_to_the_mtu() {
        for len in 0..=MTU {
            for t in [0u32, 1, 0xFFFF, 0x1_0000, 0xABCD_1234, u32::MAX] {
                assert_eq!(decode(header(len, t), MTU), Dr0::Message { token: t & 0xFFFF, len });
            }
        }
    }

    #[test]
    fn ack_word_is_never_a_message_and_echoes_the_token() {
        for t in [0u32, 7, 0xFFFF, 0x1_0005, u32::MAX] {
            assert_eq!(decode(ack_word(t), MTU), Dr0::Ack { token: t & 0xFFFF });
            assert_eq!(acked_token(ack_word(t), t), Some(t));
        }
    }

    #[test]
    fn header_with_bits_15_to_8_or_above_the_mtu_is_refused_with_its_token() {
        assert_eq!(decode(0x1234_0200, MTU), Dr0::Bad { token: 0x1234, err: EBADMSG });
        assert_eq!(decode(0x1234_8000, MTU), Dr0::Bad { token: 0x1234, err: EBADMSG });
        assert_eq!(decode(0x1234_0019, MTU), Dr0::Bad { token: 0x1234, err: EMSGSIZE });
        assert_eq!(decode(0x1234_00FF, MTU), Dr0::Bad { token: 0x1234, err: EMSGSIZE });
        assert_eq!(decode(0x1234_0018, MTU), Dr0::Message { token: 0x1234, len: 24 });
    }

    #[test]
    fn stale_or_foreign_echo_never_yields_the_inflight_token() {
        // Another message's echo.
        assert_eq!(acked_token(ack_word(4), 5), Some(4));
        // Same low 16 bits, the in-flight token is above 2^16: its own ACK.
        assert_eq!(acked_token(ack_word(0x3_0005), 0x3_0005), Some(0x3_0005));
        // A message header with SEND = 2 is no ACK.
        assert_eq!(acked_token(header(4, 5), 5), None);
        // Any word with the mark is an ACK word, whatever bits 15:9 and 7:0 say.
        assert_eq!(acked_token(0x0005_FFFF, 5), Some(5));
        for echoed in [0u32, 1, 0xFFFF] {
            for tx in [0u32, 1, 0xFFFF, 0x1_0000, 0x1_0001, u32::MAX] {
                let got = acked_token(ack_word(echoed), tx);
                assert_eq!(got == Some(tx), echoed == tx & 0xFFFF, "echo {echoed:#x} tx {tx:#x}");
            }
        }
    }
}
