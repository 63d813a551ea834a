//! mote-http: the sans-I/O HTTP/1.1 core of mote.
//!
//! This crate knows HTTP/1.1 (RFC 9110, RFC 9112) and nothing about sockets,
//! files or clocks, in the manner of smoltcp's `wire` module: every function
//! takes bytes (and numbers the caller measured) and returns a decision, so
//! the same code runs in the Linux server, in a browser (wasm32) and on a
//! microcontroller (riscv32imc), and can be tested exhaustively without I/O.
//!
//! * **Zero-copy, no allocation.** [`parse_request`] borrows every slice of the
//!   [`Request`] from the caller's read buffer and stores header fields in an
//!   array the caller provides; [`HeadWriter`] writes into a caller buffer.
//!   Nothing grows with the input, so the worst case memory is fixed by the
//!   caller's buffer sizes.
//! * **Incremental.** [`parse_request`] returns [`Parsed::Partial`] for a
//!   valid prefix and an [`Error`] (with the status to answer) as soon as no
//!   continuation could be valid. [`BodySkipper`] discards request bodies as
//!   they arrive, one read at a time.
//! * **Strict where it matters.** Framing ambiguities that enable request
//!   smuggling (bare CR/LF, obs-fold, whitespace before a colon, duplicate or
//!   conflicting Content-Length / Transfer-Encoding) are refused.
//! * **Bounded.** Every limit is a named constant with its reason:
//!   [`MAX_TARGET`], [`MAX_LEADING_EMPTY_LINES`], [`body::MAX_CHUNK_LINE`],
//!   [`body::MAX_TRAILER_LEN`]. The header count limit is the length of the
//!   caller's array.
//! * **Small and total.** No `unsafe`, no floating point, no `core::fmt` on any
//!   library path, and no input can panic: indexing goes through `get` or
//!   slice patterns. This matters because the server must fit in 20 KiB and a
//!   panic there is a crash of PID 1.
//!
//! The decisions a static server takes after parsing live in their own
//! modules: [`path`] (percent-decoding and dot segments), [`range`]
//! (`Range: bytes=`), [`cond`] (conditional requests), [`mime`] (content types),
//! [`encoding`] (pre-compressed variants) and [`date`] (HTTP dates).
#![no_std]
#![forbid(unsafe_code)]

pub mod body;
pub mod cond;
pub mod date;
pub mod encoding;
pub mod mime;
pub mod parse;
pub mod path;
pub mod range;
mod util;
pub mod write;

pub use body::BodySkipper;
pub use cond::Outcome;
pub use encoding::Encoding;
pub use parse::{
    parse_request, status_for_full_buffer, Body, Error, Header, Method, Parsed, Request, Version,
    MAX_LEADING_EMPTY_LINES, MAX_TARGET,
};
pub use path::PathError;
pub use range::RangeDecision;
pub use write::{reason_phrase, HeadWriter, TooSmall};
