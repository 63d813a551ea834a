//! The `Range` request header for a single byte range (RFC 9110 14.1-14.2).

use crate::util::{eq_ic, list, parse_dec, split_once, trim_ows};

/// What to send in answer to a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeDecision {
    /// Ignore the header and send the whole representation (200).
    Full,
    /// Send bytes `start..=end` (206); `end < len` always holds.
    Partial {
        /// First byte.
        start: u64,
        /// Last byte, inclusive.
        end: u64,
    },
    /// Send 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Parses `1*DIGIT`, saturating at u64::MAX: a position too big for 64 bits is
/// simply "past any end", which is what saturation gives.
fn pos(s: &[u8]) -> Option<u64> {
    parse_dec(s, true)
}

/// Decides how to answer `Range: value` for a representation of `len` bytes.
///
/// * Only the `bytes` unit (case-insensitive) is understood; any other unit,
///   a syntax error, or more than one range gives [`RangeDecision::Full`]
///   (RFC 9110 14.2 lets a server ignore Range; serving several ranges needs
///   multipart/byteranges, which a small server does not do).
/// * `a-b` is clamped to `len - 1`; `a-` runs to the end; `-n` is the last `n`
///   bytes (all of them if `n >= len`).
/// * A first position at or past `len`, or a suffix length of 0, is
///   [`RangeDecision::Unsatisfiable`].
/// * `len == 0` always gives `Full`: no byte range of an empty representation
///   can be expressed with an inclusive end, and an empty 200 is a correct
///   answer to any Range request.
///
/// Whitespace is tolerated around the list elements (RFC 9110 5.6.1), not
/// inside a range-spec.
pub fn decide(value: &[u8], len: u64) -> RangeDecision {
    spec(value, len).unwrap_or(RangeDecision::Full)
}

fn spec(value: &[u8], len: u64) -> Option<RangeDecision> {
    // No '=' leaves an empty set, which has no range-spec: ignored.
    let (unit, set) = split_once(trim_ows(value), b'=');
    if !eq_ic(trim_ows(unit), b"bytes") || len == 0 {
        return None;
    }
    let mut specs = list(set);
    let spec = specs.next()?;
    if specs.next().is_some() {
        return None;
    }
    let (first, last) = split_once(spec, b'-');
    if first.len() == spec.len() {
        return None; // no '-'
    }
    let last_byte = len - 1;
    if first.is_empty() {
        // suffix-range: the last n bytes.
        let n = pos(last)?;
        return Some(if n == 0 {
            RangeDecision::Unsatisfiable
        } else {
            RangeDecision::Partial {
                start: len.saturating_sub(n),
                end: last_byte,
            }
        });
    }
    let start = pos(first)?;
    let end = if last.is_empty() {
        u64::MAX
    } else {
        pos(last)?
    };
    if end < start {
        return None; // invalid range-spec: ignore the header
    }
    Some(if start >= len {
        RangeDecision::Unsatisfiable
    } else {
        RangeDecision::Partial {
            start,
            end: end.min(last_byte),
        }
    })
}
