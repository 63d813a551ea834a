//! Turning a raw request path into a safe, normalized path (RFC 3986 5.2.4
//! remove_dot_segments after percent-decoding).
//!
//! The result is meant to be resolved beneath a document root, so anything
//! that could change which file is meant after decoding is refused rather than
//! repaired: an encoded `/` (`%2F`) would turn one segment into two, `\` is a
//! separator on other systems, NUL ends a C string, and a `..` that climbs
//! above the root is an attack, not a typo, so it is not clamped.

use crate::util::at;

/// Value of the hex digit `b` (either case), or `None`. Arithmetic rather than
/// `char::to_digit(16)`, which is larger. Out of line (measured): it was inlined at
/// both of its call sites.
#[inline(never)]
fn hex(b: u8) -> Option<u8> {
    let d = if b.is_ascii_digit() {
        b - b'0'
    } else {
        // 'a'..='f' (or 'A'..='F', folded by | 0x20) to 10..=15; anything
        // else lands at 16 or above (wrapping).
        (b | 0x20).wrapping_sub(b'a').wrapping_add(10)
    };
    if d < 16 {
        Some(d)
    } else {
        None
    }
}

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// A `%` not followed by two hex digits (answer 400).
    BadEncoding,
    /// An encoded `/`, a `\` (raw or encoded), NUL or another control
    /// character, or a path that does not start with `/` (answer 400 or 403).
    Forbidden,
    /// A `..` segment would leave the root (answer 400 or 403).
    Escapes,
    /// `out` is too small. It never is when `out.len() >= raw.len()`: the
    /// normalized path is never longer than the raw one.
    TooLong,
}

/// Percent-decodes `raw` (an origin-form path, without the query) and removes
/// dot segments and empty segments (`//`) into `out`.
///
/// The result always starts with `/` and keeps a trailing `/` (a directory
/// request stays one: `/a/b/..` gives `/a/`). Bytes >= 0x80 pass through, so
/// UTF-8 file names work whether sent raw or percent-encoded. A `%2E` counts
/// as `.`, so `/%2e%2e/` is a `..` segment, like in every browser.
pub fn normalize<'o>(raw: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], PathError> {
    if raw.first() != Some(&b'/') {
        return Err(PathError::Forbidden);
    }
    match out.first_mut() {
        Some(slot) => *slot = b'/',
        None => return Err(PathError::TooLong),
    }
    // out[..len] is the normalized path so far; it always ends with '/'
    // when a new segment starts.
    let mut len = 1;
    let mut i = 1;
    loop {
        let seg_start = len;
        // Decode one segment (up to the next raw '/') into out[seg_start..len].
        while let Some(b) = at(raw, i) {
            if b == b'/' {
                break;
            }
            let byte = if b == b'%' {
                let hi = at(raw, i + 1).and_then(hex).ok_or(PathError::BadEncoding)?;
                let lo = at(raw, i + 2).and_then(hex).ok_or(PathError::BadEncoding)?;
                i += 3;
                hi << 4 | lo
            } else {
                i += 1;
                b
            };
            if byte == b'/' || byte == b'\\' || byte < 0x20 || byte == 0x7f {
                return Err(PathError::Forbidden);
            }
            *out.get_mut(len).ok_or(PathError::TooLong)? = byte;
            len += 1;
        }
        let more = i < raw.len(); // raw[i] is '/', another segment follows
        match out.get(seg_start..len) {
            // "." and "" (from "//" or a trailing "/") add nothing.
            Some(b".") | Some(b"") => len = seg_start,
            Some(b"..") => {
                if seg_start == 1 {
                    return Err(PathError::Escapes);
                }
                // Drop the '/' before this segment, then the previous segment.
                len = seg_start - 1;
                while len > 1 && at(out, len - 1) != Some(b'/') {
                    len -= 1;
                }
            }
            _ => {
                if more {
                    *out.get_mut(len).ok_or(PathError::TooLong)? = b'/';
                    len += 1;
                }
            }
        }
        if !more {
            break;
        }
        i += 1;
    }
    Ok(out.get(..len).unwrap_or(&[]))
}

/// Whether `path` has a segment starting with `.` (`/.git/config`,
/// `/a/.env`). Servers usually refuse such "hidden" files. Meant for a
/// normalized path, where `.` and `..` segments no longer occur.
pub fn has_hidden_segment(path: &[u8]) -> bool {
    path.first() == Some(&b'.') || path.windows(2).any(|w| w == b"/.")
}
