//! Discarding a request body without buffering it (RFC 9112 6 and 7.1).
//!
//! A static server never needs request bodies, but to keep a connection alive
//! after, say, a 405 to a POST it must read past the body to find the next
//! request. [`BodySkipper`] is a byte-driven state machine: feed it whatever
//! arrived, it reports how much was body and whether the body has ended.

use crate::parse::{Body, Error};

/// Longest chunk-size line (size, extensions, CRLF) accepted. Chunk extensions
/// are practically unused; 1 KiB leaves room for any legitimate one while
/// bounding the work an attacker can make us do per chunk.
pub const MAX_CHUNK_LINE: u32 = 1024;

/// Longest trailer section accepted (all trailer field lines together). We
/// discard trailers; the limit only stops a peer from streaming an endless
/// trailer instead of ending the message. 8 KiB matches common header limits.
pub const MAX_TRAILER_LEN: u32 = 8192;

const fn bad(reason: &'static str) -> Error {
    Error {
        status: 400,
        reason,
    }
}

// The skipper's states, as plain bytes: the chunked-framing states are the
// rows of `NEXT`, in this order, so a state is its own row index.
/// At the first byte of a chunk-size: a hex digit.
const SIZE0: u8 = 0;
/// Reading further chunk-size hex digits.
const SIZE: u8 = 1;
/// After the size: BWS, then `;` extensions.
const SIZE_WS: u8 = 2;
/// After `;`: BWS, then the first byte of an extension name.
const EXT_NAME0: u8 = 3;
/// Inside an extension name (a token).
const EXT_NAME: u8 = 4;
/// After a name: BWS, then `=`, `;` or CR.
const EXT_AFTER_NAME: u8 = 5;
/// After `=`: BWS, then a token or a quoted-string.
const EXT_VAL0: u8 = 6;
/// Inside a token value.
const EXT_VAL_TOK: u8 = 7;
/// Inside a quoted-string value.
const EXT_QUOTED: u8 = 8;
/// After a backslash inside a quoted-string.
const EXT_QUOTED_ESC: u8 = 9;
/// After a value: BWS, then `;` or CR.
const EXT_AFTER_VAL: u8 = 10;
/// Expecting the LF of the chunk-size line.
const SIZE_LF: u8 = 11;
/// Expecting the CR after chunk data.
const DATA_CR: u8 = 12;
/// Expecting the LF after chunk data.
const DATA_LF: u8 = 13;
/// At the start of a trailer line (or of the final empty line).
const TRAILER_START: u8 = 14;
/// Inside a trailer field line, up to CR.
const TRAILER: u8 = 15;
/// Expecting the LF ending a trailer field line.
const TRAILER_LF: u8 = 16;
/// Expecting the LF of the final empty line.
const FINAL_LF: u8 = 17;
/// `remaining` bytes of chunk data to go (not a row: skipped in bulk).
const DATA: u8 = 18;
/// Content-Length body: `remaining` bytes to go.
const LENGTH: u8 = 19;
const DONE: u8 = 20;
const FAILED: u8 = 21;
/// In `NEXT`: the byte is not allowed here.
const NO: u8 = 0xff;

/// Byte classes, the columns of `NEXT`.
const HEX: usize = 0; // hex digit (also a tchar)
const TCHAR: usize = 1; // any other tchar
const WS: usize = 2; // SP, HTAB
const SEMI: usize = 3; // ;
const EQ: usize = 4; // =
const DQUOTE: usize = 5; // "
const BSLASH: usize = 6; // \
const CR: usize = 7;
const LF: usize = 8;
const VCHAR: usize = 9; // any other visible byte or obs-text
const CTL: usize = 10; // NUL, other controls, DEL

/// The class of byte `b` (a `const fn`, to build `CLASSES` at compile time).
const fn class_of(b: u8) -> usize {
    match b {
        b';' => SEMI,
        b'=' => EQ,
        b'"' => DQUOTE,
        b'\\' => BSLASH,
        b'\r' => CR,
        b'\n' => LF,
        b' ' | b'\t' => WS,
        b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => HEX,
        b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~' => TCHAR,
        b'g'..=b'z' | b'G'..=b'Z' => TCHAR,
        _ if b >= 0x20 && b != 0x7f => VCHAR,
        _ => CTL,
    }
}

/// The classes of bytes 0..128, two per byte (low nibble: even byte). A 64-byte
/// table and a shift are smaller than the compare chain of `class_of`.
const CLASSES: [u8; 64] = {
    let mut t = [0u8; 64];
    let mut b = 0;
    while b < 128 {
        t[b / 2] |= (class_of(b as u8) as u8) << (b % 2 * 4);
        b += 1;
    }
    t
};

fn class(b: u8) -> usize {
    match CLASSES.get(b as usize / 2) {
        Some(&pair) => (pair >> (b % 2 * 4)) as usize & 15,
        None => VCHAR, // obs-text
    }
}

/// The chunked framing as a transition table: `NEXT[state][class]`.
///
/// chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
/// (RFC 9112 7.1.1), ext-val = token / quoted-string: checked, not just
/// skipped, since a parser that skips differently is a smuggling risk. BWS is
/// only allowed before ";" ("5 \r\n" is invalid); qdtext and quoted-pair take
/// HTAB, SP, VCHAR and obs-text; trailer lines are field bytes up to CRLF and
/// may not start with whitespace (obs-fold).
///
/// A table rather than a `match` on (state, byte): the match compiled to
/// jump tables of 8-byte addresses several times the size of these 198 bytes.
/// The two actions beyond a state change (accumulating the size and choosing
/// between data and trailer after the size line) are in `step`.
#[rustfmt::skip]
const NEXT: [[u8; 11]; 18] = [
    //  HEX            TCHAR          WS              SEMI       EQ        DQUOTE      BSLASH          CR          LF             VCHAR       CTL
    [SIZE,          NO,            NO,             NO,        NO,       NO,         NO,             NO,         NO,            NO,         NO], // SIZE0
    [SIZE,          NO,            SIZE_WS,        EXT_NAME0, NO,       NO,         NO,             SIZE_LF,    NO,            NO,         NO], // SIZE
    [NO,            NO,            SIZE_WS,        EXT_NAME0, NO,       NO,         NO,             NO,         NO,            NO,         NO], // SIZE_WS
    [EXT_NAME,      EXT_NAME,      EXT_NAME0,      NO,        NO,       NO,         NO,             NO,         NO,            NO,         NO], // EXT_NAME0
    [EXT_NAME,      EXT_NAME,      EXT_AFTER_NAME, EXT_NAME0, EXT_VAL0, NO,         NO,             SIZE_LF,    NO,            NO,         NO], // EXT_NAME
    [NO,            NO,            EXT_AFTER_NAME, EXT_NAME0, EXT_VAL0, NO,         NO,             SIZE_LF,    NO,            NO,         NO], // EXT_AFTER_NAME
    [EXT_VAL_TOK,   EXT_VAL_TOK,   EXT_VAL0,       NO,        NO,       EXT_QUOTED, NO,             NO,         NO,            NO,         NO], // EXT_VAL0
    [EXT_VAL_TOK,   EXT_VAL_TOK,   EXT_AFTER_VAL,  EXT_NAME0, NO,       NO,         NO,             SIZE_LF,    NO,            NO,         NO], // EXT_VAL_TOK
    [EXT_QUOTED,    EXT_QUOTED,    EXT_QUOTED,     EXT_QUOTED,EXT_QUOTED,EXT_AFTER_VAL,EXT_QUOTED_ESC,NO,       NO,            EXT_QUOTED, NO], // EXT_QUOTED
    [EXT_QUOTED,    EXT_QUOTED,    EXT_QUOTED,     EXT_QUOTED,EXT_QUOTED,EXT_QUOTED, EXT_QUOTED,     NO,         NO,            EXT_QUOTED, NO], // EXT_QUOTED_ESC
    [NO,            NO,            EXT_AFTER_VAL,  EXT_NAME0, NO,       NO,         NO,             SIZE_LF,    NO,            NO,         NO], // EXT_AFTER_VAL
    [NO,            NO,            NO,             NO,        NO,       NO,         NO,             NO,         DATA,          NO,         NO], // SIZE_LF
    [NO,            NO,            NO,             NO,        NO,       NO,         NO,             DATA_LF,    NO,            NO,         NO], // DATA_CR
    [NO,            NO,            NO,             NO,        NO,       NO,         NO,             NO,         SIZE0,         NO,         NO], // DATA_LF
    [TRAILER,       TRAILER,       NO,             TRAILER,   TRAILER,  TRAILER,    TRAILER,        FINAL_LF,   NO,            TRAILER,    NO], // TRAILER_START
    [TRAILER,       TRAILER,       TRAILER,        TRAILER,   TRAILER,  TRAILER,    TRAILER,        TRAILER_LF, NO,            TRAILER,    NO], // TRAILER
    [NO,            NO,            NO,             NO,        NO,       NO,         NO,             NO,         TRAILER_START, NO,         NO], // TRAILER_LF
    [NO,            NO,            NO,             NO,        NO,       NO,         NO,             NO,         DONE,          NO,         NO], // FINAL_LF
];

/// Incremental discarding of a request body. Sans-I/O.
#[derive(Debug, Clone)]
pub struct BodySkipper {
    /// One of the state constants above.
    state: u8,
    /// Bytes left of a Content-Length body or the current chunk; during
    /// `SIZE` the chunk size accumulated so far.
    remaining: u64,
    /// Bytes of the current chunk-size line, or of the trailer section.
    line: u32,
}

impl BodySkipper {
    /// A skipper for the body framed as `body` ([`Body::None`] is done at once).
    pub fn new(body: Body) -> Self {
        let (state, remaining) = match body {
            Body::None => (DONE, 0),
            Body::Length(n) => (LENGTH, n),
            Body::Chunked => (SIZE0, 0),
        };
        BodySkipper {
            state,
            remaining,
            line: 0,
        }
    }

    /// Whether the whole body has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == DONE
    }

    /// Consumes body bytes from the start of `input`. Returns how many bytes
    /// belonged to the body and whether the body is now complete; bytes past
    /// the end of the body (a pipelined request) are not consumed. A framing
    /// error (400) is final: later calls return it again.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), Error> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                DONE => break,
                FAILED => return Err(bad("malformed chunked body")),
                LENGTH | DATA => {
                    let avail = (input.len() - i) as u64;
                    let take = avail.min(self.remaining);
                    // take <= avail, which came from a usize.
                    i += take as usize;
                    self.remaining -= take;
                    if self.remaining == 0 {
                        self.state = if self.state == LENGTH { DONE } else { DATA_CR };
                    }
                    continue;
                }
                _ => {}
            }
            let b = input.get(i).copied().unwrap_or(0);
            i += 1;
            if let Err(e) = self.step(b) {
                self.state = FAILED;
                return Err(e);
            }
        }
        // A zero-length Content-Length body is complete without any input.
        if self.state == LENGTH && self.remaining == 0 {
            self.state = DONE;
        }
        if self.state == FAILED {
            return Err(bad("malformed chunked body"));
        }
        Ok((i, self.state == DONE))
    }

    /// One byte of chunked framing (every state but LENGTH/DATA/DONE/FAILED).
    fn step(&mut self, b: u8) -> Result<(), Error> {
        let state = self.state;
        if state <= EXT_AFTER_VAL || (TRAILER_START..=TRAILER_LF).contains(&state) {
            self.line += 1;
            if state <= EXT_AFTER_VAL && self.line > MAX_CHUNK_LINE {
                return Err(bad("chunk-size line too long"));
            }
            if self.line > MAX_TRAILER_LEN {
                return Err(bad("trailer section too long"));
            }
        }
        let c = class(b);
        let next = NEXT
            .get(state as usize)
            .and_then(|row| row.get(c))
            .copied()
            .unwrap_or(NO);
        if next == NO {
            // At least one hex digit is required before anything else (the
            // SIZE0 row); the reason is chosen here only, off the byte path.
            return Err(bad(if state == SIZE0 {
                "bad chunk size"
            } else {
                "malformed chunked body"
            }));
        }
        if state <= SIZE && c == HEX {
            if self.remaining > u64::MAX >> 4 {
                return Err(bad("chunk size overflow"));
            }
            // `class` said HEX, so `b` is 0-9, A-F or a-f: the low nibble,
            // plus 9 for a letter (bit 6 set). Smaller than `to_digit(16)`.
            let d = ((b & 0x0f) + 9 * (b >> 6)) as u64;
            self.remaining = self.remaining << 4 | d;
        }
        self.state = next;
        if state == SIZE_LF {
            // End of the size line: the data, or after the last chunk (size
            // 0) the trailer section.
            self.line = 0;
            if self.remaining == 0 {
                self.state = TRAILER_START;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::is_tchar;

    #[test]
    fn class_table_matches_the_grammar() {
        for b in 0..=255u8 {
            let want = match b {
                b';' => SEMI,
                b'=' => EQ,
                b'"' => DQUOTE,
                b'\\' => BSLASH,
                b'\r' => CR,
                b'\n' => LF,
                b' ' | b'\t' => WS,
                _ if b.is_ascii_hexdigit() => HEX,
                _ if is_tchar(b) => TCHAR,
                _ if b >= 0x20 && b != 0x7f => VCHAR,
                _ => CTL,
            };
            assert_eq!(class(b), want, "byte {b:#x}");
        }
    }
}
