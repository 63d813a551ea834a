//! Response head writing into a caller-provided buffer.

use crate::date;
use crate::util::{fmt_u64, is_field_byte, is_tchar, span, U64_DIGITS};

/// The reason phrases of 1xx to 5xx, groups separated by `GROUP`. In a group
/// each phrase follows one byte, its code's last two digits (0..=31: a control
/// byte, never part of a phrase; so a phrase ends at the next control byte). Scanned linearly rather than a `match`
/// (a jump table plus a pointer and length per arm, several hundred bytes more
/// in a 20 KiB server), and one key byte rather than three ASCII digits per
/// phrase; this runs once per response.
const REASONS: &str = concat!(
    "\x00Continue\x1e",
    "\x00OK\x04No Content\x06Partial Content\x1e",
    "\x01Moved Permanently\x02Found\x04Not Modified\x07Temporary Redirect\x08Permanent Redirect\x1e",
    "\x00Bad Request\x03Forbidden\x04Not Found\x05Method Not Allowed\x06Not Acceptable\x08Request Timeout\x0bLength Required\x0cPrecondition Failed\x0dContent Too Large\x0eURI Too Long\x0fUnsupported Media Type\x10Range Not Satisfiable\x11Expectation Failed\x1dToo Many Requests\x1fRequest Header Fields Too Large\x1e",
    "\x00Internal Server Error\x01Not Implemented\x02Bad Gateway\x03Service Unavailable\x04Gateway Timeout\x05HTTP Version Not Supported",
);

/// The reason phrase for `status` (RFC 9110 15), or `""` for codes a static
/// server never sends (an empty reason is valid, RFC 9112 4).
#[inline(never)]
pub fn reason_phrase(status: u16) -> &'static str {
    /// Separates the groups of REASONS: 30, a code no group has.
    const GROUP: u8 = 0x1e;
    let (group, key) = (status / 100, status % 100);
    if key > 31 {
        return "";
    }
    let bytes = REASONS.as_bytes();
    let mut g = 1;
    for (i, &b) in bytes.iter().enumerate() {
        if b == GROUP {
            g += 1;
        } else if g == group && b as u16 == key {
            let mut end = i + 1;
            while bytes.get(end).is_some_and(|&c| c > 31) {
                end += 1;
            }
            return REASONS.get(i + 1..end).unwrap_or("");
        }
    }
    ""
}

/// Returned by [`HeadWriter::finish`] when the head could not be written as
/// asked: it did not fit in the buffer, or a field was refused (a name that is
/// not a token, a value with CR, LF, NUL or another control character, or a
/// status outside 100..=999). The buffer contents are then unspecified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooSmall;

/// Writes a response head (`HTTP/1.1 <status> <reason>`, fields, empty line)
/// into a caller-provided buffer.
///
/// Failure is sticky: once a call does not fit (or is refused), every later
/// call is a no-op and [`finish`](Self::finish) returns `Err(TooSmall)`, so a
/// truncated head can never be sent. The calls chain:
/// `w.header(b"Server", b"mote").header_u64(b"Content-Length", 5);`
pub struct HeadWriter<'o> {
    out: &'o mut [u8],
    len: usize,
    failed: bool,
}

impl<'o> HeadWriter<'o> {
    /// Starts a head with the status line. The version is always HTTP/1.1
    /// (RFC 9112 2.3: a server sends its highest conformant version).
    pub fn new(out: &'o mut [u8], status: u16) -> Self {
        let mut w = HeadWriter {
            out,
            len: 0,
            failed: false,
        };
        if !(100..=999).contains(&status) {
            w.failed = true;
        }
        w.put(b"HTTP/1.1 ");
        w.put_u64(status as u64);
        w.put(b" ");
        w.put(reason_phrase(status).as_bytes());
        w.put(b"\r\n");
        w
    }

    /// Appends `bytes`, or marks the writer failed if they do not fit.
    fn put(&mut self, bytes: &[u8]) {
        if self.failed {
            return;
        }
        // len <= out.len() and slices are at most isize::MAX long: no overflow.
        let end = self.len + bytes.len();
        match self.out.get_mut(self.len..end) {
            Some(dst) => {
                // A zip instead of copy_from_slice: same memcpy, but no
                // length-mismatch panic path for the compiler to keep.
                dst.iter_mut().zip(bytes).for_each(|(d, s)| *d = *s);
                self.len = end;
            }
            None => self.failed = true,
        }
    }

    /// Appends `v` in decimal.
    #[inline(never)]
    fn put_u64(&mut self, v: u64) {
        let mut digits = [0; U64_DIGITS];
        self.put(fmt_u64(v, &mut digits));
    }

    /// `name: ` after checking the name is a token (RFC 9110 5.1).
    fn name(&mut self, name: &[u8]) {
        if name.is_empty() || span(name, 0, is_tchar) != name.len() {
            self.failed = true;
        }
        self.put(name);
        self.put(b": ");
    }

    /// Appends `name: value`. Refuses (fails the writer) a value with CR, LF,
    /// NUL or another control character other than HTAB, so a value derived
    /// from a request (a redirect Location) can never split the response.
    pub fn header(&mut self, name: &[u8], value: &[u8]) -> &mut Self {
        if span(value, 0, is_field_byte) != value.len() {
            self.failed = true;
        }
        self.name(name);
        self.put(value);
        self.put(b"\r\n");
        self
    }

    /// Appends `name: <decimal value>`.
    pub fn header_u64(&mut self, name: &[u8], value: u64) -> &mut Self {
        let mut digits = [0; U64_DIGITS];
        self.header(name, fmt_u64(value, &mut digits))
    }

    /// Appends `name: <IMF-fixdate>` for a Unix time (see [`date::format`]).
    pub fn header_date(&mut self, name: &[u8], unix: u64) -> &mut Self {
        let mut d = [0; date::IMF_LEN];
        date::format(unix, &mut d);
        self.header(name, &d)
    }

    /// Appends `Content-Range: bytes start-end/total` (RFC 9110 14.4).
    pub fn content_range(&mut self, start: u64, end_inclusive: u64, total: u64) -> &mut Self {
        self.put(b"Content-Range: bytes ");
        self.put_u64(start);
        self.put(b"-");
        self.put_u64(end_inclusive);
        self.content_range_total(total)
    }

    /// Appends `Content-Range: bytes */total`, for a 416 (RFC 9110 15.5.17).
    pub fn content_range_unsatisfied(&mut self, total: u64) -> &mut Self {
        self.put(b"Content-Range: bytes *");
        self.content_range_total(total)
    }

    fn content_range_total(&mut self, total: u64) -> &mut Self {
        self.put(b"/");
        self.put_u64(total);
        self.put(b"\r\n");
        self
    }

    /// Appends pre-formatted field lines verbatim; each must end with CRLF.
    /// For fixed fields the server builds once (e.g. security headers).
    pub fn raw(&mut self, lines: &[u8]) -> &mut Self {
        self.put(lines);
        self
    }

    /// Appends the empty line ending the head and returns the head's length.
    pub fn finish(mut self) -> Result<usize, TooSmall> {
        self.put(b"\r\n");
        if self.failed {
            Err(TooSmall)
        } else {
            Ok(self.len)
        }
    }
}
