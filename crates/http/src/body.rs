//! Discarding a request body without buffering it (RFC 9112 6 and 7.1).
//!
//! A static server never needs request bodies, but to keep a connection alive
//! after, say, a 405 to a POST it must read past the body to find the next
//! request. [`BodySkipper`] is a byte-driven state machine: feed it whatever
//! arrived, it reports how much was body and whether the body has ended.

use crate::parse::{Body, Error};
use crate::util::is_tchar;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Content-Length body: `remaining` bytes to go.
    Length,
    /// Reading chunk-size hex digits (`line` counts digits so far).
    Size,
    /// After the size: BWS, then `;` extensions or CR.
    SizeWs,
    /// After `;`: BWS, then the first byte of an extension name.
    ExtName0,
    /// Inside an extension name (a token).
    ExtName,
    /// After a name: BWS, then `=`, `;` or CR.
    ExtAfterName,
    /// After `=`: BWS, then a token or a quoted-string.
    ExtVal0,
    /// Inside a token value.
    ExtValTok,
    /// Inside a quoted-string value.
    ExtQuoted,
    /// After a backslash inside a quoted-string.
    ExtQuotedEsc,
    /// After a value: BWS, then `;` or CR.
    ExtAfterVal,
    /// Expecting the LF of the chunk-size line.
    SizeLf,
    /// `remaining` bytes of chunk data to go.
    Data,
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or of the final empty line).
    TrailerStart,
    /// Inside a trailer field line, up to CR.
    Trailer,
    /// Expecting the LF ending a trailer field line.
    TrailerLf,
    /// Expecting the LF of the final empty line.
    FinalLf,
    Done,
    Failed,
}

/// Incremental discarding of a request body. Sans-I/O.
#[derive(Debug, Clone)]
pub struct BodySkipper {
    state: State,
    /// Bytes left of a Content-Length body or the current chunk; during
    /// `Size` the chunk size accumulated so far.
    remaining: u64,
    /// Bytes of the current chunk-size line, or of the trailer section.
    line: u32,
}

impl BodySkipper {
    /// A skipper for the body framed as `body` ([`Body::None`] is done at once).
    pub fn new(body: Body) -> Self {
        let (state, remaining) = match body {
            Body::None => (State::Done, 0),
            Body::Length(n) => (State::Length, n),
            Body::Chunked => (State::Size, 0),
        };
        BodySkipper {
            state,
            remaining,
            line: 0,
        }
    }

    /// Whether the whole body has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes body bytes from the start of `input`. Returns how many bytes
    /// belonged to the body and whether the body is now complete; bytes past
    /// the end of the body (a pipelined request) are not consumed. A framing
    /// error (400) is final: later calls return it again.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, bool), Error> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Done => break,
                State::Failed => return Err(bad("malformed chunked body")),
                State::Length | State::Data => {
                    let avail = (input.len() - i) as u64;
                    let take = avail.min(self.remaining);
                    // take <= avail, which came from a usize.
                    i += take as usize;
                    self.remaining -= take;
                    if self.remaining == 0 {
                        self.state = if self.state == State::Length {
                            State::Done
                        } else {
                            State::DataCr
                        };
                    }
                    continue;
                }
                _ => {}
            }
            let b = input.get(i).copied().unwrap_or(0);
            i += 1;
            if let Err(e) = self.step(b) {
                self.state = State::Failed;
                return Err(e);
            }
        }
        // A zero-length Content-Length body is complete without any input.
        if self.state == State::Length && self.remaining == 0 {
            self.state = State::Done;
        }
        if self.state == State::Failed {
            return Err(bad("malformed chunked body"));
        }
        Ok((i, self.state == State::Done))
    }

    /// One byte of chunked framing (every state but Length/Data/Done/Failed).
    fn step(&mut self, b: u8) -> Result<(), Error> {
        match self.state {
            State::Size
            | State::SizeWs
            | State::ExtName0
            | State::ExtName
            | State::ExtAfterName
            | State::ExtVal0
            | State::ExtValTok
            | State::ExtQuoted
            | State::ExtQuotedEsc
            | State::ExtAfterVal => {
                self.line += 1;
                if self.line > MAX_CHUNK_LINE {
                    return Err(bad("chunk-size line too long"));
                }
            }
            State::TrailerStart | State::Trailer | State::TrailerLf => {
                self.line += 1;
                if self.line > MAX_TRAILER_LEN {
                    return Err(bad("trailer section too long"));
                }
            }
            _ => {}
        }
        self.state = match (self.state, b) {
            (State::Size, _) if b.is_ascii_hexdigit() => {
                let d = (b as char).to_digit(16).unwrap_or(0) as u64;
                if self.remaining > u64::MAX >> 4 {
                    return Err(bad("chunk size overflow"));
                }
                self.remaining = self.remaining << 4 | d;
                State::Size
            }
            // At least one hex digit is required before anything else.
            (State::Size, _) if self.line == 1 => return Err(bad("bad chunk size")),
            // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
            // (RFC 9112 7.1.1), ext-val = token / quoted-string. Checked, not
            // just skipped: a parser that skips differently is a smuggling risk.
            (State::Size | State::SizeWs, b' ' | b'\t') => State::SizeWs,
            (State::ExtName, b' ' | b'\t') => State::ExtAfterName,
            (State::ExtValTok, b' ' | b'\t') => State::ExtAfterVal,
            (
                State::ExtName0 | State::ExtAfterName | State::ExtVal0 | State::ExtAfterVal,
                b' ' | b'\t',
            ) => self.state,
            (
                State::Size
                | State::SizeWs
                | State::ExtName
                | State::ExtAfterName
                | State::ExtValTok
                | State::ExtAfterVal,
                b';',
            ) => State::ExtName0,
            // BWS is only allowed before ";" : "5 \r\n" is invalid.
            (
                State::Size
                | State::ExtName
                | State::ExtAfterName
                | State::ExtValTok
                | State::ExtAfterVal,
                b'\r',
            ) => State::SizeLf,
            (State::ExtName0 | State::ExtName, _) if is_tchar(b) => State::ExtName,
            (State::ExtName | State::ExtAfterName, b'=') => State::ExtVal0,
            (State::ExtVal0 | State::ExtValTok, _) if is_tchar(b) => State::ExtValTok,
            (State::ExtVal0, b'"') => State::ExtQuoted,
            (State::ExtQuoted, b'"') => State::ExtAfterVal,
            (State::ExtQuoted, b'\\') => State::ExtQuotedEsc,
            // qdtext and quoted-pair: HTAB, SP, VCHAR, obs-text.
            (State::ExtQuoted | State::ExtQuotedEsc, _)
                if b == b'\t' || (b >= 0x20 && b != 0x7f) =>
            {
                State::ExtQuoted
            }
            (State::SizeLf, b'\n') => {
                self.line = 0;
                if self.remaining == 0 {
                    State::TrailerStart
                } else {
                    State::Data
                }
            }
            (State::DataCr, b'\r') => State::DataLf,
            (State::DataLf, b'\n') => State::Size,
            (State::TrailerStart, b'\r') => State::FinalLf,
            (State::TrailerStart, b' ' | b'\t') => return Err(bad("obs-fold in trailer")),
            (State::Trailer, b'\r') => State::TrailerLf,
            (State::TrailerStart | State::Trailer, _) if b == b'\t' || (b >= 0x20 && b != 0x7f) => {
                State::Trailer
            }
            (State::TrailerLf, b'\n') => State::TrailerStart,
            (State::FinalLf, b'\n') => State::Done,
            _ => return Err(bad("malformed chunked body")),
        };
        Ok(())
    }
}
