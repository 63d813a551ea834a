//! Conditional requests (RFC 9110 13): entity-tag comparison and the
//! precondition evaluation order of 13.2.2.

use crate::date;
use crate::parse::Request;
use crate::util::{span, trim_ows};

/// What the server should do after evaluating the preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Serve the request. `range_allowed` is false when an `If-Range` did not
    /// match: then any Range header must be ignored and the full
    /// representation sent (RFC 9110 13.1.5).
    Proceed {
        /// Whether a Range header may be honoured.
        range_allowed: bool,
    },
    /// Answer 304 (only ever for GET and HEAD).
    NotModified,
    /// Answer 412.
    PreconditionFailed,
}

/// An entity-tag split into weakness and opaque-tag (with its quotes).
#[derive(Clone, Copy)]
struct Tag<'a> {
    weak: bool,
    opaque: &'a [u8],
}

/// Parses one `[W/] DQUOTE *etagc DQUOTE` from the start of `s` (OWS already
/// removed). Returns the tag and the rest of `s`.
fn tag(s: &[u8]) -> Option<(Tag<'_>, &[u8])> {
    let (weak, s) = match s {
        [b'W', b'/', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    if s.first() != Some(&b'"') {
        return None;
    }
    // etagc = %x21 / %x23-7E / obs-text: no controls, no space.
    let close = span(s, 1, |b| b > 0x20 && b != 0x7f && b != b'"');
    if s.get(close) != Some(&b'"') {
        return None;
    }
    let (opaque, rest) = s.split_at_checked(close + 1)?;
    Some((Tag { weak, opaque }, rest))
}

/// Does the field value `list` (`*` or a list of entity-tags) match `etag`?
/// Weak comparison (RFC 9110 8.8.3.2) compares opaque-tags only; strong
/// comparison also needs both tags strong. List elements are taken in order
/// up to the first syntax error: the tags before it still count, nothing
/// after it does. One function for both comparisons (the public wrappers
/// below), since the list walk is the bulk of the code.
#[inline(never)]
fn list_matches(list: &[u8], etag: &[u8], strong: bool) -> bool {
    if trim_ows(list) == b"*" {
        return true;
    }
    let Some((ours, _)) = tag(etag) else {
        return false;
    };
    if strong && ours.weak {
        return false;
    }
    let mut rest = list;
    loop {
        rest = trim_ows(rest);
        while let [b',', tail @ ..] = rest {
            rest = trim_ows(tail);
        }
        let Some((t, tail)) = tag(rest) else {
            return false;
        };
        if t.opaque == ours.opaque && !(strong && t.weak) {
            return true;
        }
        // After a tag: end, or OWS then a comma.
        rest = trim_ows(tail);
        if rest.first() != Some(&b',') {
            return false;
        }
    }
}

/// Does the field value `list` (`*` or a list of entity-tags) match `etag`
/// under weak comparison (RFC 9110 8.8.3.2: opaque-tags equal, W/ ignored)?
/// Used for If-None-Match.
pub fn etag_matches_weak(list: &[u8], etag: &[u8]) -> bool {
    list_matches(list, etag, false)
}

/// Does the field value `list` (`*` or a list of entity-tags) match `etag`
/// under strong comparison (both strong, opaque-tags equal)? Used for If-Match.
pub fn etag_matches_strong(list: &[u8], etag: &[u8]) -> bool {
    list_matches(list, etag, true)
}

/// Evaluates the preconditions of `req` against the selected representation
/// (which exists: a static server evaluates them once it has found the file),
/// with entity-tag `etag` (e.g. `"5f3a-1c"`, quotes included) and
/// modification time `last_modified` (Unix seconds).
///
/// RFC 9110 13.2.2 order: If-Match, else If-Unmodified-Since; then
/// If-None-Match, else If-Modified-Since (GET/HEAD only); then If-Range.
/// Dates compare at one-second granularity; an unparseable date makes its
/// header ignored. A matching If-None-Match gives 304 for GET/HEAD and 412
/// for other methods.
pub fn evaluate(req: &Request, etag: &[u8], last_modified: u64) -> Outcome {
    let get_or_head = req.method.is_get_or_head();
    if let Some(v) = req.header(b"if-match") {
        if !etag_matches_strong(v, etag) {
            return Outcome::PreconditionFailed;
        }
    } else if let Some(since) = req.header(b"if-unmodified-since").and_then(date::parse) {
        if last_modified > since {
            return Outcome::PreconditionFailed;
        }
    }
    if let Some(v) = req.header(b"if-none-match") {
        if etag_matches_weak(v, etag) {
            return if get_or_head {
                Outcome::NotModified
            } else {
                Outcome::PreconditionFailed
            };
        }
    } else if let (true, Some(since)) = (
        get_or_head,
        req.header(b"if-modified-since").and_then(date::parse),
    ) {
        if last_modified <= since {
            return Outcome::NotModified;
        }
    }
    let range_allowed = match req.header(b"if-range") {
        None => true,
        Some(v) => if_range_matches(v, etag, last_modified),
    };
    Outcome::Proceed { range_allowed }
}

/// RFC 9110 13.1.5: an entity-tag must match strongly (a weak tag on either
/// side never matches); an HTTP date must equal Last-Modified exactly.
fn if_range_matches(value: &[u8], etag: &[u8], last_modified: u64) -> bool {
    let value = trim_ows(value);
    if value.first() == Some(&b'"') || value.starts_with(b"W/") {
        match (tag(value), tag(etag)) {
            (Some((t, [])), Some((ours, _))) => !t.weak && !ours.weak && t.opaque == ours.opaque,
            _ => false,
        }
    } else {
        date::parse(value) == Some(last_modified)
    }
}
