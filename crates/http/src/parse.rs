//! Request head parsing (RFC 9112 sections 2, 3, 5 and 6; RFC 9110 section 7.2).
//!
//! The parser is strict where leniency enables request smuggling or cache
//! poisoning (line endings, whitespace before the colon, obs-fold, duplicate or
//! conflicting framing headers) and returns [`Parsed::Partial`] whenever the
//! bytes seen so far are a valid prefix of a head. An error is only returned
//! when no continuation could make the head valid, so a caller may retry
//! after every read.

use crate::util::{at, eq_ic, has, is_tchar, list, parse_u64, sub, trim_ows};

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
        match m {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"OPTIONS" => Method::Options,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"PATCH" => Method::Patch,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            _ => Method::Other,
        }
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

const fn err(status: u16, reason: &'static str) -> Error {
    Error { status, reason }
}

const BARE_CR: Error = err(400, "bare CR in head");
const BARE_LF: Error = err(400, "bare LF in head (CRLF required)");

/// Outcome of looking for CRLF at `i`: `Ok(true)` if it is there, `Ok(false)`
/// if the buffer ends (CR at the very end), `Err` for a CR not followed by LF.
/// The caller has seen `buf[i] == b'\r'`.
fn crlf_at(buf: &[u8], i: usize) -> Result<bool, Error> {
    match at(buf, i + 1) {
        None => Ok(false),
        Some(b'\n') => Ok(true),
        Some(_) => Err(BARE_CR),
    }
}

/// The request line's parts and the index just past its CRLF.
struct Line<'b> {
    method: &'b [u8],
    target: &'b [u8],
    version: Version,
    end: usize,
}

/// Parses the request line starting at `start`. `Ok(None)` means "valid so far".
fn request_line(buf: &[u8], start: usize) -> Result<Option<Line<'_>>, Error> {
    // method = token, then exactly one SP (RFC 9112 3).
    let mut i = start;
    loop {
        match at(buf, i) {
            None => return Ok(None),
            Some(b' ') => break,
            Some(b) if is_tchar(b) => i += 1,
            Some(_) => return Err(err(400, "bad method token")),
        }
    }
    if i == start {
        return Err(err(400, "empty method"));
    }
    let method = sub(buf, start, i);
    if method == b"CONNECT" {
        // We are an origin server, not a proxy: a tunnel is a method we do not
        // implement, which RFC 9110 9.1 answers with 501.
        return Err(err(501, "CONNECT not supported"));
    }
    // request-target: any visible byte (obs-text passes so raw UTF-8 paths from
    // sloppy clients still work; the path normalizer validates further).
    i += 1;
    let t0 = i;
    loop {
        match at(buf, i) {
            None => return Ok(None),
            Some(b' ') => break,
            Some(b'\r' | b'\n') => return Err(err(400, "request line without version")),
            // No request-target form has a fragment (RFC 9112 3.2); clients
            // never send one.
            Some(b'#') => return Err(err(400, "fragment in request-target")),
            Some(b) if b > 0x20 && b != 0x7f => {
                i += 1;
                if i - t0 > MAX_TARGET {
                    return Err(err(414, "request-target too long"));
                }
            }
            Some(_) => return Err(err(400, "control character in request-target")),
        }
    }
    if i == t0 {
        return Err(err(400, "empty request-target"));
    }
    let target = sub(buf, t0, i);
    // HTTP-version = "HTTP/" DIGIT "." DIGIT, then CRLF. Checked byte by byte
    // so that another protocol (RTSP/1.0, ICE/1.0) is refused at once, and a
    // well-formed version other than 1.0/1.1 gets 505 as soon as its eight
    // bytes are in, whatever follows.
    i += 1;
    let v0 = i;
    for &want in VERSION_SHAPE {
        let b = match at(buf, i) {
            None => return Ok(None),
            Some(b) => b,
        };
        if !(b == want || (want == b'#' && b.is_ascii_digit())) {
            return Err(if b == b'\n' {
                BARE_LF
            } else {
                err(400, "bad HTTP version")
            });
        }
        i += 1;
    }
    let version = match sub(buf, v0, i) {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        _ => return Err(err(505, "HTTP version not supported")),
    };
    match at(buf, i) {
        None => return Ok(None),
        Some(b'\r') => {
            if !crlf_at(buf, i)? {
                return Ok(None);
            }
        }
        Some(b'\n') => return Err(BARE_LF),
        Some(_) => return Err(err(400, "bad HTTP version")),
    }
    Ok(Some(Line {
        method,
        target,
        version,
        end: i + 2,
    }))
}

/// Parses one `name: value CRLF` line at `start` (which is not CR, LF, SP or
/// HTAB). Returns the header and the index past its CRLF.
fn header_line(buf: &[u8], start: usize) -> Result<Option<(Header<'_>, usize)>, Error> {
    let mut i = start;
    loop {
        match at(buf, i) {
            None => return Ok(None),
            Some(b':') => break,
            Some(b) if is_tchar(b) => i += 1,
            // RFC 9112 5.1: MUST reject whitespace between name and colon.
            Some(b' ' | b'\t') => return Err(err(400, "whitespace in header name")),
            Some(b'\r' | b'\n') => return Err(err(400, "header line without colon")),
            Some(_) => return Err(err(400, "bad header name")),
        }
    }
    if i == start {
        return Err(err(400, "empty header name"));
    }
    let name = sub(buf, start, i);
    i += 1;
    let v0 = i;
    loop {
        match at(buf, i) {
            None => return Ok(None),
            Some(b'\r') => {
                if !crlf_at(buf, i)? {
                    return Ok(None);
                }
                break;
            }
            Some(b'\n') => return Err(BARE_LF),
            // field-vchar / SP / HTAB / obs-text (RFC 9110 5.5): no NUL, no CTL.
            Some(b) if b == b'\t' || (b >= 0x20 && b != 0x7f) => i += 1,
            Some(_) => return Err(err(400, "control character in header value")),
        }
    }
    let value = trim_ows(sub(buf, v0, i));
    Ok(Some((Header { name, value }, i + 2)))
}

/// Is `b` allowed in a Host value or an absolute-form authority? RFC 3986
/// reg-name / IP-literal / port characters, excluding userinfo's `@` (RFC 9110
/// 4.2.4 deprecates userinfo) and anything that could smuggle a path.
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b'%'
                | b':'
                | b'['
                | b']'
        )
}

/// Splits a request-target into (path, query, authority).
/// Origin-form (`/p?q`), absolute-form (`http://host/p?q`), and asterisk-form
/// (`*`, OPTIONS only). Authority-form is only valid for CONNECT, which was
/// refused earlier, so it is a 400 here like any other unknown form.
#[allow(clippy::type_complexity)]
fn split_target(
    method: Method,
    target: &[u8],
) -> Result<(&[u8], Option<&[u8]>, Option<&[u8]>), Error> {
    if target == b"*" {
        return if method == Method::Options {
            Ok((target, None, None))
        } else {
            Err(err(400, "asterisk-form is only for OPTIONS"))
        };
    }
    let (pq, authority) = if target.first() == Some(&b'/') {
        (target, None)
    } else {
        let rest = strip_prefix_ic(target, b"http://")
            .or_else(|| strip_prefix_ic(target, b"https://"))
            .ok_or(err(400, "bad request-target form"))?;
        let end = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        let authority = sub(rest, 0, end);
        if authority.is_empty() || !authority.iter().all(|&b| is_host_byte(b)) {
            return Err(err(400, "bad authority in request-target"));
        }
        (sub(rest, end, rest.len()), Some(authority))
    };
    let (path, query) = match pq.iter().position(|&b| b == b'?') {
        Some(q) => (sub(pq, 0, q), Some(sub(pq, q + 1, pq.len()))),
        None => (pq, None),
    };
    // An absolute-form target may lack a path ("http://h" or "http://h?q");
    // its path is then "/" (RFC 9110 4.2.3).
    let path: &[u8] = if path.is_empty() { b"/" } else { path };
    Ok((path, query, authority))
}

fn strip_prefix_ic<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    if eq_ic(head, prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
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
    // RFC 9112 2.2: skip a few empty lines before the request line.
    let mut pos = 0;
    let mut empty = 0;
    loop {
        match at(buf, pos) {
            None => return Ok(Parsed::Partial),
            Some(b'\r') => {
                if !crlf_at(buf, pos)? {
                    return Ok(Parsed::Partial);
                }
                empty += 1;
                if empty > MAX_LEADING_EMPTY_LINES {
                    return Err(err(400, "too many empty lines before request"));
                }
                pos += 2;
            }
            Some(b'\n') => return Err(BARE_LF),
            Some(b' ' | b'\t') => return Err(err(400, "whitespace before request line")),
            Some(_) => break,
        }
    }
    let line = match request_line(buf, pos)? {
        Some(line) => line,
        None => return Ok(Parsed::Partial),
    };
    let method = Method::from_bytes(line.method);
    // Check the target's form before reading headers, so a bad target is
    // rejected as early as possible.
    let (path, query, authority) = split_target(method, line.target)?;

    let mut pos = line.end;
    let mut count = 0;
    let mut framing = Framing::default();
    let head_len = loop {
        match at(buf, pos) {
            None => return Ok(Parsed::Partial),
            Some(b'\r') => {
                if !crlf_at(buf, pos)? {
                    return Ok(Parsed::Partial);
                }
                break pos + 2;
            }
            Some(b'\n') => return Err(BARE_LF),
            // RFC 9112 5.2: obs-fold in a request MUST be rejected (or
            // replaced); also catches whitespace before the first header.
            Some(b' ' | b'\t') => return Err(err(400, "obs-fold or leading whitespace in header")),
            Some(_) => {}
        }
        let (header, next) = match header_line(buf, pos)? {
            Some(h) => h,
            None => return Ok(Parsed::Partial),
        };
        // Framing fields are checked as soon as their line is complete, so a
        // bad one is refused without waiting for the rest of the head.
        framing.field(header, line.version)?;
        match headers.get_mut(count) {
            Some(slot) => *slot = header,
            None => return Err(err(431, "too many header fields")),
        }
        count += 1;
        pos = next;
    };
    let all: &'h [Header<'b>] = headers;
    let headers = all.get(..count).unwrap_or(&[]);

    // RFC 9112 3.2: exactly one Host in HTTP/1.1 (duplicates were refused above).
    if framing.host.is_none() && line.version == Version::Http11 {
        return Err(err(400, "missing Host"));
    }
    let body = if framing.te.seen {
        framing.te.finish()?
    } else {
        match framing.content_length {
            Some(n) => Body::Length(n),
            None => Body::None,
        }
    };
    let keep_alive = match line.version {
        Version::Http11 => !framing.close,
        Version::Http10 => framing.keep && !framing.close,
    };
    Ok(Parsed::Complete(Request {
        method,
        method_raw: line.method,
        target: line.target,
        path,
        query,
        version: line.version,
        host: authority.or(framing.host),
        headers,
        body,
        keep_alive,
        head_len,
    }))
}

/// What the header fields seen so far say about framing and connection use.
#[derive(Default)]
struct Framing<'b> {
    host: Option<&'b [u8]>,
    content_length: Option<u64>,
    te: Te,
    close: bool,
    keep: bool,
}

impl<'b> Framing<'b> {
    /// Takes one header field into account, refusing it if it makes the
    /// request's framing ambiguous.
    fn field(&mut self, h: Header<'b>, version: Version) -> Result<(), Error> {
        let name = h.name;
        if eq_ic(name, b"host") {
            if self.host.is_some() {
                return Err(err(400, "duplicate Host"));
            }
            if !h.value.iter().all(|&b| is_host_byte(b)) {
                return Err(err(400, "bad Host"));
            }
            self.host = Some(h.value);
        } else if eq_ic(name, b"content-length") {
            // RFC 9110 8.6 lets a recipient accept "5, 5" or a repeated equal
            // value; we do not, since disagreeing parsers are how requests get
            // smuggled. A value past 2^64-1 is treated as malformed (400),
            // not as too large (413): no real body is that long.
            if self.content_length.is_some() {
                return Err(err(400, "duplicate Content-Length"));
            }
            self.content_length = Some(parse_u64(h.value).ok_or(err(400, "bad Content-Length"))?);
        } else if eq_ic(name, b"transfer-encoding") {
            if version == Version::Http10 {
                // RFC 9112 6.1: HTTP/1.0 has no chunked; the framing is untrustworthy.
                return Err(err(400, "Transfer-Encoding in HTTP/1.0"));
            }
            self.te.add(h.value)?;
        } else if eq_ic(name, b"connection") {
            for token in list(h.value) {
                self.close |= eq_ic(token, b"close");
                self.keep |= eq_ic(token, b"keep-alive");
            }
        }
        if self.te.seen && self.content_length.is_some() {
            // RFC 9112 6.1 permits dropping Content-Length, but the pair is the
            // classic smuggling vector: refuse it.
            return Err(err(400, "both Transfer-Encoding and Content-Length"));
        }
        Ok(())
    }
}

/// The Transfer-Encoding codings seen so far, across all TE header fields.
#[derive(Default)]
struct Te {
    seen: bool,
    chunked: bool,
    last_is_chunked: bool,
    other: bool,
}

impl Te {
    fn add(&mut self, value: &[u8]) -> Result<(), Error> {
        self.seen = true;
        for coding in list(value) {
            if eq_ic(coding, b"chunked") {
                if self.chunked {
                    // RFC 9112 6.1: MUST NOT apply chunked more than once.
                    return Err(err(400, "chunked applied twice"));
                }
                self.chunked = true;
                self.last_is_chunked = true;
            } else {
                self.other = true;
                self.last_is_chunked = false;
            }
        }
        Ok(())
    }

    fn finish(&self) -> Result<Body, Error> {
        if !self.last_is_chunked {
            // RFC 9112 6.3 item 4: chunked not final (or absent) in a request
            // means the length cannot be determined: MUST answer 400.
            Err(err(400, "chunked is not the final transfer coding"))
        } else if self.other {
            // e.g. "gzip, chunked": RFC 9112 6.1 says 501 for codings we do
            // not understand.
            Err(err(501, "unsupported transfer coding"))
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
