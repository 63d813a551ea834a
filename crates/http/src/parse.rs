//! Request head parsing (RFC 9112 sections 2, 3, 5 and 6; RFC 9110 section 7.2).
//!
//! The parser is strict where leniency enables request smuggling or cache
//! poisoning (line endings, whitespace before the colon, obs-fold, duplicate or
//! conflicting framing headers) and returns [`Parsed::Partial`] whenever the
//! bytes seen so far are a valid prefix of a head. An error is only returned
//! when no continuation could make the head valid, so a caller may retry
//! after every read.

use crate::util::{
    at, eq_ic, find, has, is_field_byte, is_host_byte, is_tchar, list, parse_u64, span, sub,
    trim_ows, word_index,
};

/// Longest request-target accepted, in bytes; longer ones get 414.
///
/// A static server's targets are file paths plus an occasional cache-busting
/// query. 2048 bytes is the historical de-facto URL limit of browsers (IE's
/// 2083) and of many CDNs, so real clients stay below it, and it keeps the
/// request line well inside a small per-connection buffer. RFC 9112 3 only asks
/// for 8000 octets of *request line* support from general-purpose servers.
pub const MAX_TARGET: usize = 2048;

/// Empty lines (CRLF) tolerated before the request line (RFC 9112 2.2: "SHOULD
/// ignore at least one empty line"). Old clients send one stray CRLF after a
/// POST body; more than a handful is not a real client, so answer 400 rather
/// than keep reading.
pub const MAX_LEADING_EMPTY_LINES: usize = 4;

/// Shape of an HTTP-version (RFC 9112 2.3); `#` stands for a digit.
const VERSION_SHAPE: &[u8; 8] = b"HTTP/#.#";

/// Request method (RFC 9110 9). Methods are case-sensitive: `get` is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Options,
    Post,
    Put,
    Delete,
    Patch,
    Trace,
    Connect,
    /// Any other valid token; see [`Request::method_raw`].
    Other,
}

impl Method {
    /// Maps a method token to the enum (case-sensitive, RFC 9110 9.1).
    pub fn from_bytes(m: &[u8]) -> Method {
        // A word list rather than a `match` on slices, which compiles to a
        // byte-compare tree several times the size of this loop.
        const ALL: [Method; 9] = [
            Method::Get,
            Method::Head,
            Method::Options,
            Method::Post,
            Method::Put,
            Method::Delete,
            Method::Patch,
            Method::Trace,
            Method::Connect,
        ];
        word_index(
            b"GET HEAD OPTIONS POST PUT DELETE PATCH TRACE CONNECT",
            b' ',
            m,
            false,
        )
        .and_then(|i| ALL.get(i).copied())
        .unwrap_or(Method::Other)
    }

    /// GET or HEAD: the methods a static server serves and the only ones for
    /// which 304 and If-Modified-Since apply.
    pub fn is_get_or_head(self) -> bool {
        matches!(self, Method::Get | Method::Head)
    }
}

/// Protocol version of a request. Only HTTP/1.0 and HTTP/1.1 are accepted;
/// other well-formed versions are answered with 505.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// One header field, borrowed from the request buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Header<'b> {
    /// Field name as sent (a valid token; compare case-insensitively).
    pub name: &'b [u8],
    /// Field value with leading and trailing whitespace removed.
    pub value: &'b [u8],
}

/// How the request body is framed (RFC 9112 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body.
    None,
    /// Content-Length bytes follow the head.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head. Every slice borrows from the caller's buffer, except
/// `path`, which is the static `"/"` for an absolute-form target without a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'b, 'h> {
    pub method: Method,
    /// The method token as sent.
    pub method_raw: &'b [u8],
    /// Raw request-target as sent.
    pub target: &'b [u8],
    /// Raw (still percent-encoded) path: `"*"` for `OPTIONS *`, the path of
    /// an absolute-form target (`"/"` if it has none), else the target up to `?`.
    pub path: &'b [u8],
    /// The query after `?`, without the `?` (`Some(b"")` for a bare `?`).
    pub query: Option<&'b [u8]>,
    pub version: Version,
    /// The authority of an absolute-form target, else the Host header value
    /// (`None` only for an HTTP/1.0 request without Host). RFC 9112 3.2.2: the
    /// target's authority wins over a disagreeing Host header.
    pub host: Option<&'b [u8]>,
    /// The filled prefix of the caller's header array, in arrival order.
    pub headers: &'h [Header<'b>],
    pub body: Body,
    /// Whether the connection may stay open after the response: HTTP/1.1
    /// unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`
    /// (and no `close`).
    pub keep_alive: bool,
    /// Bytes of the buffer taken by the head, including skipped leading empty
    /// lines and the final empty line. The body (or the next request) starts here.
    pub head_len: usize,
}

impl<'b> Request<'b, '_> {
    /// Value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &[u8]) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| eq_ic(h.name, name))
            .map(|h| h.value)
    }
}

/// Result of [`parse_request`] on a well-formed prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'b, 'h> {
    Complete(Request<'b, 'h>),
    /// The bytes so far are a valid prefix; read more and call again.
    Partial,
}

/// A request the server must refuse. Parse errors always close the connection:
/// after a framing error the start of the next request is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    /// The status code to answer with (400, 414, 431, 501 or 505).
    pub status: u16,
    /// A short static explanation, suitable for a log line or response body.
    pub reason: &'static str,
}

/// Why parsing stopped, as one byte while parsing; turned into an [`Error`]
/// once, in [`parse_request`]. A failure site is then a byte constant rather
/// than a status, a pointer and a length, and the reasons are only kept in the
/// binary when the caller reads [`Error::reason`]. `Partial` ("need more
/// bytes") travels the same way, which lets every step use `?`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fail {
    Partial,
    BareCr,
    BareLf,
    LeadingWs,
    EmptyLines,
    BadMethod,
    FragmentInTarget,
    NoVersion,
    TargetCtl,
    EmptyTarget,
    BadVersion,
    Asterisk,
    TargetForm,
    BadAuthority,
    ObsFold,
    BadName,
    ValueCtl,
    NoHost,
    DupHost,
    BadHost,
    DupCl,
    BadCl,
    TeHttp10,
    TeAndCl,
    ChunkedTwice,
    ChunkedNotLast,
    // Every variant above answers 400; from here on, see `status`.
    TargetLong,
    TooMany,
    Connect,
    TeUnsupported,
    Version505,
}

impl Fail {
    fn status(self) -> u16 {
        // The variants from TargetLong on are in this order; all before are 400.
        // A range test and a 10-byte table: a `match` became a jump table.
        const FROM_TARGET_LONG: [u16; 5] = [414, 431, 501, 501, 505];
        let i = (self as usize).wrapping_sub(Fail::TargetLong as usize);
        FROM_TARGET_LONG.get(i).copied().unwrap_or(400)
    }

    /// Short on purpose: these strings are read-only data of the server.
    fn reason(self) -> &'static str {
        match self {
            Fail::Partial => "incomplete head",
            Fail::BareCr => "bare CR",
            Fail::BareLf => "bare LF",
            Fail::LeadingWs => "space before request line",
            Fail::EmptyLines => "too many empty lines",
            Fail::BadMethod => "bad method",
            Fail::FragmentInTarget => "fragment in target",
            Fail::NoVersion => "no HTTP version",
            Fail::TargetCtl => "control byte in target",
            Fail::EmptyTarget => "empty target",
            Fail::BadVersion => "bad HTTP version",
            Fail::Asterisk => "* is only for OPTIONS",
            Fail::TargetForm => "bad target form",
            Fail::BadAuthority => "bad authority",
            Fail::ObsFold => "obs-fold or leading space",
            Fail::BadName => "bad header name",
            Fail::ValueCtl => "control byte in header",
            Fail::NoHost => "missing Host",
            Fail::DupHost => "duplicate Host",
            Fail::BadHost => "bad Host",
            Fail::DupCl => "duplicate Content-Length",
            Fail::BadCl => "bad Content-Length",
            Fail::TeHttp10 => "Transfer-Encoding in HTTP/1.0",
            Fail::TeAndCl => "Transfer-Encoding and Content-Length",
            Fail::ChunkedTwice => "chunked twice",
            Fail::ChunkedNotLast => "chunked not last",
            Fail::TargetLong => "target too long",
            Fail::TooMany => "too many header fields",
            Fail::Connect => "CONNECT not supported",
            Fail::TeUnsupported => "unsupported transfer coding",
            Fail::Version505 => "HTTP version not supported",
        }
    }
}

/// The end of a line at `i`: the index past a CRLF there, `Fail::Partial` when the
/// buffer ends first, `Fail::BareCr` / `Fail::BareLf` for a lone CR or LF, and `other`
/// for any other byte. Shared by every line of the head.
#[inline(never)]
fn eol(buf: &[u8], i: usize, other: Fail) -> Result<usize, Fail> {
    match at(buf, i) {
        Some(b'\r') => match at(buf, i + 1) {
            Some(b'\n') => Ok(i + 2),
            Some(_) => Err(Fail::BareCr),
            None => Err(Fail::Partial),
        },
        Some(b'\n') => Err(Fail::BareLf),
        Some(_) => Err(other),
        None => Err(Fail::Partial),
    }
}

/// Is `b` allowed in a request-target? Any visible byte (obs-text passes so
/// raw UTF-8 paths from sloppy clients still work; the path normalizer
/// validates further) but `#`: no request-target form has a fragment
/// (RFC 9112 3.2) and clients never send one.
fn is_target_byte(b: u8) -> bool {
    b > 0x20 && b != 0x7f && b != b'#'
}

/// Splits a request-target into (path, query, authority).
/// Origin-form (`/p?q`), absolute-form (`http://host/p?q`), and asterisk-form
/// (`*`, OPTIONS only). Authority-form is only valid for Fail::Connect, which was
/// refused earlier, so it is a 400 here like any other unknown form.
#[allow(clippy::type_complexity)]
fn split_target(
    method: Method,
    target: &[u8],
) -> Result<(&[u8], Option<&[u8]>, Option<&[u8]>), Fail> {
    if target == b"*" {
        return if method == Method::Options {
            Ok((target, None, None))
        } else {
            Err(Fail::Asterisk)
        };
    }
    let (pq, authority) = if target.first() == Some(&b'/') {
        (target, None)
    } else {
        // "http://" or "https://", the scheme case-insensitive: the scheme is
        // looked up with the shared word_index (smaller than prefix compares).
        let colon = find(target, b':').ok_or(Fail::TargetForm)?;
        word_index(b"http https", b' ', sub(target, 0, colon), true).ok_or(Fail::TargetForm)?;
        let [b'/', b'/', rest @ ..] = sub(target, colon + 1, target.len()) else {
            return Err(Fail::TargetForm);
        };
        // The authority runs to the first '/' or '?' (neither is a host byte).
        let end = span(rest, 0, is_host_byte);
        if end == 0 || !matches!(at(rest, end), None | Some(b'/' | b'?')) {
            return Err(Fail::BadAuthority);
        }
        (sub(rest, end, rest.len()), Some(sub(rest, 0, end)))
    };
    let (path, query) = match find(pq, b'?') {
        Some(q) => (sub(pq, 0, q), Some(sub(pq, q + 1, pq.len()))),
        None => (pq, None),
    };
    // An absolute-form target may lack a path ("http://h" or "http://h?q");
    // its path is then "/" (RFC 9110 4.2.3).
    let path: &[u8] = if path.is_empty() { b"/" } else { path };
    Ok((path, query, authority))
}

/// Parses a request head from the start of `buf` into `headers`.
///
/// Returns `Ok(Parsed::Partial)` while `buf` holds a valid but incomplete head
/// (use [`status_for_full_buffer`] when the buffer is full), `Ok(Complete)` with
/// [`Request::head_len`] telling where the body starts, or the [`Error`] to
/// answer with. More header lines than `headers.len()` is a 431.
pub fn parse_request<'b, 'h>(
    buf: &'b [u8],
    headers: &'h mut [Header<'b>],
) -> Result<Parsed<'b, 'h>, Error> {
    match head(buf, headers) {
        Ok(req) => Ok(Parsed::Complete(req)),
        Err(Fail::Partial) => Ok(Parsed::Partial),
        Err(bad) => Err(Error {
            status: bad.status(),
            reason: bad.reason(),
        }),
    }
}

/// [`parse_request`] with `Err(Fail::Partial)` for an incomplete head. Every check
/// is made left to right as the bytes arrive, so an error is reported as soon
/// as the offending byte is in, and a longer buffer never changes the result.
fn head<'b, 'h>(buf: &'b [u8], headers: &'h mut [Header<'b>]) -> Result<Request<'b, 'h>, Fail> {
    // RFC 9112 2.2: skip a few empty lines before the request line.
    let mut pos = 0;
    let mut empty = 0;
    loop {
        match at(buf, pos) {
            Some(b' ' | b'\t') => return Err(Fail::LeadingWs),
            Some(b'\r' | b'\n') | None => {}
            Some(_) => break,
        }
        pos = eol(buf, pos, Fail::Partial)?;
        empty += 1;
        if empty > MAX_LEADING_EMPTY_LINES {
            return Err(Fail::EmptyLines);
        }
    }

    // method = token, then exactly one SP (RFC 9112 3). It is not empty:
    // the loop above stopped at a byte that is not SP.
    let i = span(buf, pos, is_tchar);
    let method_raw = sub(buf, pos, i);
    match at(buf, i) {
        Some(b' ') => {}
        Some(_) => return Err(Fail::BadMethod),
        None => return Err(Fail::Partial),
    }
    let method = Method::from_bytes(method_raw);
    if method == Method::Connect {
        // We are an origin server, not a proxy: a tunnel is a method we do not
        // implement, which RFC 9110 9.1 answers with 501.
        return Err(Fail::Connect);
    }

    let t0 = i + 1;
    let i = span(buf, t0, is_target_byte);
    if i - t0 > MAX_TARGET {
        return Err(Fail::TargetLong);
    }
    match at(buf, i) {
        Some(b' ') if i > t0 => {}
        Some(b' ') => return Err(Fail::EmptyTarget),
        Some(b'#') => return Err(Fail::FragmentInTarget),
        Some(b'\r' | b'\n') => return Err(Fail::NoVersion),
        Some(_) => return Err(Fail::TargetCtl),
        None => return Err(Fail::Partial),
    }
    let target = sub(buf, t0, i);

    // HTTP-version = "HTTP/" DIGIT "." DIGIT, then CRLF. Checked byte by byte
    // so that another protocol (RTSP/1.0, ICE/1.0) is refused at once, and a
    // well-formed version other than 1.0/1.1 gets 505 as soon as its eight
    // bytes are in, whatever follows.
    let v0 = i + 1;
    let mut i = v0;
    for &want in VERSION_SHAPE {
        let b = at(buf, i).ok_or(Fail::Partial)?;
        if !(b == want || (want == b'#' && b.is_ascii_digit())) {
            return Err(if b == b'\n' {
                Fail::BareLf
            } else {
                Fail::BadVersion
            });
        }
        i += 1;
    }
    let version = match (at(buf, v0 + 5), at(buf, v0 + 7)) {
        (Some(b'1'), Some(b'1')) => Version::Http11,
        (Some(b'1'), Some(b'0')) => Version::Http10,
        _ => return Err(Fail::Version505),
    };
    let mut pos = eol(buf, i, Fail::BadVersion)?;

    // Check the target's form before reading headers, so a bad target is
    // rejected as early as possible.
    let (path, query, authority) = split_target(method, target)?;

    let mut count = 0;
    let mut framing = Framing::default();
    let head_len = loop {
        match at(buf, pos) {
            // RFC 9112 5.2: obs-fold in a request MUST be rejected (or
            // replaced); also catches whitespace before the first header.
            Some(b' ' | b'\t') => return Err(Fail::ObsFold),
            Some(b'\r' | b'\n') | None => break eol(buf, pos, Fail::Partial)?,
            Some(_) => {}
        }
        // field-name = token, then ':' at once: RFC 9112 5.1 MUST reject
        // whitespace between name and colon.
        let i = span(buf, pos, is_tchar);
        match at(buf, i) {
            Some(b':') if i > pos => {}
            Some(_) => return Err(Fail::BadName),
            None => return Err(Fail::Partial),
        }
        let name = sub(buf, pos, i);
        let end = span(buf, i + 1, is_field_byte);
        let value = trim_ows(sub(buf, i + 1, end));
        pos = eol(buf, end, Fail::ValueCtl)?;
        let header = Header { name, value };
        // Framing fields are checked as soon as their line is complete, so a
        // bad one is refused without waiting for the rest of the head.
        framing.field(header, version)?;
        *headers.get_mut(count).ok_or(Fail::TooMany)? = header;
        count += 1;
    };
    let all: &'h [Header<'b>] = headers;
    let headers = all.get(..count).unwrap_or(&[]);

    // RFC 9112 3.2: exactly one Host in HTTP/1.1 (duplicates were refused above).
    if framing.host.is_none() && version == Version::Http11 {
        return Err(Fail::NoHost);
    }
    let body = if framing.te.seen() {
        framing.te.finish()?
    } else {
        match framing.content_length {
            Some(n) => Body::Length(n),
            None => Body::None,
        }
    };
    let keep_alive = framing.conn & 1 == 0 && (version == Version::Http11 || framing.conn & 2 != 0);
    Ok(Request {
        method,
        method_raw,
        target,
        path,
        query,
        version,
        host: authority.or(framing.host),
        headers,
        body,
        keep_alive,
        head_len,
    })
}

/// What the header fields seen so far say about framing and connection use.
#[derive(Default)]
struct Framing<'b> {
    host: Option<&'b [u8]>,
    content_length: Option<u64>,
    te: Te,
    /// Connection tokens seen: 1 = close, 2 = keep-alive.
    conn: u8,
}

impl<'b> Framing<'b> {
    /// Takes one header field into account, refusing it if it makes the
    /// request's framing ambiguous.
    fn field(&mut self, h: Header<'b>, version: Version) -> Result<(), Fail> {
        let value = h.value;
        match word_index(
            b"host content-length transfer-encoding connection",
            b' ',
            h.name,
            true,
        ) {
            Some(0) => {
                if self.host.is_some() {
                    return Err(Fail::DupHost);
                }
                // RFC 3986 reg-name / IP-literal / port characters only.
                if span(value, 0, is_host_byte) != value.len() {
                    return Err(Fail::BadHost);
                }
                self.host = Some(value);
            }
            Some(1) => {
                // RFC 9110 8.6 lets a recipient accept "5, 5" or a repeated
                // equal value; we do not, since disagreeing parsers are how
                // requests get smuggled. A value past 2^64-1 is treated as
                // malformed (400), not as too large (413): no real body is
                // that long.
                if self.content_length.is_some() {
                    return Err(Fail::DupCl);
                }
                self.content_length = Some(parse_u64(value).ok_or(Fail::BadCl)?);
            }
            Some(2) => {
                if version == Version::Http10 {
                    // RFC 9112 6.1: HTTP/1.0 has no chunked; the framing is
                    // untrustworthy.
                    return Err(Fail::TeHttp10);
                }
                self.te.add(value)?;
            }
            Some(_) => {
                for token in list(value) {
                    // Bit 0: close, bit 1: keep-alive. One word lookup rather than
                    // two comparisons per token.
                    if let Some(i) = word_index(b"close keep-alive", b' ', token, true) {
                        self.conn |= 1 << i;
                    }
                }
            }
            None => {}
        }
        if self.te.seen() && self.content_length.is_some() {
            // RFC 9112 6.1 permits dropping Content-Length, but the pair is the
            // classic smuggling vector: refuse it.
            return Err(Fail::TeAndCl);
        }
        Ok(())
    }
}

/// The Transfer-Encoding codings seen so far, across all TE header fields,
/// as bits of one byte (`TE_*`): four separate bools were packed by the
/// compiler into a word and updated with shifts and masks, larger code.
#[derive(Default)]
struct Te(u8);

/// A Transfer-Encoding field was seen.
const TE_SEEN: u8 = 1;
/// `chunked` was seen.
const TE_CHUNKED: u8 = 2;
/// The last coding so far is `chunked`.
const TE_LAST_CHUNKED: u8 = 4;
/// A coding other than `chunked` was seen.
const TE_OTHER: u8 = 8;

impl Te {
    fn seen(&self) -> bool {
        self.0 & TE_SEEN != 0
    }

    fn add(&mut self, value: &[u8]) -> Result<(), Fail> {
        self.0 |= TE_SEEN;
        for coding in list(value) {
            if eq_ic(coding, b"chunked") {
                if self.0 & TE_CHUNKED != 0 {
                    // RFC 9112 6.1: MUST NOT apply chunked more than once.
                    return Err(Fail::ChunkedTwice);
                }
                self.0 |= TE_CHUNKED | TE_LAST_CHUNKED;
            } else {
                self.0 = (self.0 | TE_OTHER) & !TE_LAST_CHUNKED;
            }
        }
        Ok(())
    }

    fn finish(&self) -> Result<Body, Fail> {
        if self.0 & TE_LAST_CHUNKED == 0 {
            // RFC 9112 6.3 item 4: chunked not final (or absent) in a request
            // means the length cannot be determined: MUST answer 400.
            Err(Fail::ChunkedNotLast)
        } else if self.0 & TE_OTHER != 0 {
            // e.g. "gzip, chunked": RFC 9112 6.1 says 501 for codings we do
            // not understand.
            Err(Fail::TeUnsupported)
        } else {
            Ok(Body::Chunked)
        }
    }
}

/// Status to answer when the caller's buffer is full and [`parse_request`]
/// still says `Partial`: 414 while the request line is incomplete (the target
/// is what is too long), else 431 (the header section is too large).
pub fn status_for_full_buffer(buf: &[u8]) -> u16 {
    let mut rest = buf;
    while let [b'\r', b'\n', tail @ ..] = rest {
        rest = tail;
    }
    if has(rest, b'\n') {
        431
    } else {
        414
    }
}
