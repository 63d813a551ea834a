//! From a parsed request to a response: the head (and any small body) written into the
//! connection's output buffer, plus the file range to send with sendfile.

use crate::etag;
use crate::server::Env;
use crate::files;
use crate::num::{copy_fwd, sub, sub_mut, W};
use crate::sys::{self, Fd, Stat};
use mote_http::cond::{self, Outcome};
use mote_http::encoding::{self, Encoding};
use mote_http::range::{self, RangeDecision};
use mote_http::{path, Method, Request};

/// Longest path we try to open: Linux's PATH_MAX.
const PATH_MAX: usize = 4096;

/// What to send: `out[..head]` then `len` bytes of `file` from `off`. Lives in the
/// connection slot; the functions below fill it in place.
pub struct Plan {
    pub status: u16,
    pub head: usize,
    pub file: Fd,
    pub off: u64,
    pub len: u64,
    /// Body bytes sent so far; starts at the small generated body inside `out[..head]`.
    pub sent: u64,
    /// Set by the caller when the connection ends after this response; error pages
    /// may set it too.
    pub close: bool,
}

impl Plan {
    pub const fn new() -> Self {
        Plan { status: 0, head: 0, file: -1, off: 0, len: 0, sent: 0, close: false }
    }
}

/// One response being built: the server state it needs, the connection's output
/// buffer and its plan.
pub struct Ctx<'a, 'e> {
    pub env: &'a mut Env<'e>,
    pub out: &'a mut [u8],
    pub p: &'a mut Plan,
    /// HEAD: the head only.
    pub head_only: bool,
    /// HTTP/1.0 (a kept-alive connection says so); set by the server from the request.
    pub v10: bool,
}

const ALLOW: &[u8] = b"Allow: GET, HEAD, OPTIONS\r\n";

/// Bytes a redirect Location keeps as they are, one bit per ASCII code: letters, digits
/// and `/-._~!$&'()*+,;=:@`; the rest is percent-encoded. Size trade: one shift and test
/// instead of range checks and a search of the list.
const LOCATION_SAFE: [u8; 16] = {
    let mut m = [0u8; 16];
    let mut b = 0u8;
    while b < 128 {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~' | b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@') {
            m[(b >> 3) as usize] |= 1 << (b & 7);
        }
        b += 1;
    }
    m
};

impl Ctx<'_, '_> {
    /// The one head builder of every response: status line, Date, `lines` (each ending
    /// in CRLF), the configured extra headers, Content-Type and Content-Length (except
    /// for 204/304) and Connection. Resets the plan to "head only". Returns whether a
    /// body follows: not for HEAD, 204 or 304, nor on overflow (the plan is then a bare
    /// 500).
    #[inline(never)]
    fn head(&mut self, status: u16, lines: &[u8], ctype: &[u8], len: u64) -> bool {
        let body = status != 204 && status != 304;
        // Size trade: written with our own bounded writer `W` (the reason phrase still from
        // mote-http) instead of mote_http::HeadWriter, whose name/value/status checks are
        // useless on these constants and whose put/put_u64/finish duplicated W: measured
        // 370 bytes smaller. W's overflow is sticky and never writes past the buffer.
        // Two passes at most: the head, or when it does not fit in the output buffer, the
        // last resort: a bare 500 (its status line from the same code).
        let mut status = status;
        let mut ok = true;
        let head = loop {
            let mut h = W::new(&mut *self.out);
            h.put(b"HTTP/1.1 ").dec(status as u64).byte(b' ').put(mote_http::reason_phrase(status).as_bytes()).put(b"\r\n");
            if !ok {
                break h.put(crate::server::EMPTY_CLOSE).len;
            }
            h.put(&self.env.clock.date_line).put(lines).put(self.env.cfg.extra());
            if body {
                h.put(b"Content-Type: ").put(ctype).put(b"\r\nContent-Length: ").dec(len).put(b"\r\n");
            }
            h.put(if self.p.close {
                b"Connection: close\r\n"
            } else if self.v10 {
                b"Connection: keep-alive\r\n"
            } else {
                b""
            });
            h.put(b"\r\n");
            if !h.full {
                break h.len;
            }
            status = 500;
            ok = false;
            self.p.close = true;
        };
        *self.p = Plan { status, head, close: self.p.close, ..Plan::new() };
        ok && body && !self.head_only
    }

    /// A response without a file: `status`, extra header `lines` and a text body,
    /// "<code> <reason>\n" when `body` is empty. 204 and 304 never have a body.
    #[inline(never)]
    pub fn page(&mut self, status: u16, lines: &[u8], body: &[u8]) {
        // The default body repeats the status line after "HTTP/1.1 ": "404 Not Found\n".
        let len = if body.is_empty() { mote_http::reason_phrase(status).len() + 5 } else { body.len() };
        if self.head(status, lines, b"text/plain; charset=utf-8", len as u64) {
            let h = self.p.head;
            if self.out.len() < h + len {
                return;
            }
            if body.is_empty() {
                copy_fwd(self.out, h, 9, 8 + len);
                if let Some(nl) = self.out.get_mut(h + len - 1) {
                    *nl = b'\n';
                }
            } else {
                W::new(sub_mut(self.out, h, usize::MAX)).put(body);
            }
            self.p.head += len;
            self.p.sent = len as u64;
        }
    }

    fn err(&mut self, status: u16) {
        self.page(status, b"", b"")
    }
}

/// Types worth precompressing: mote_http::mime gives every textual type (HTML, CSS, JS,
/// JSON, SVG, XML, ...) a `charset=utf-8`; plus WebAssembly. Only for these are variants
/// looked for, so images and archives cost no extra openat2 per request. Size trade: the
/// charset is recognized by the type's last byte, `8`, which only the `charset=utf-8`
/// types of mote-http's table end with (its test `only_utf8_types_end_in_8` keeps it so).
#[inline(never)] // measured smaller (size pass 4: 8 bytes on x86_64)
fn compressible(mime: &[u8]) -> bool {
    mime.last() == Some(&b'8') || mime.ends_with(b"wasm")
}

/// The path buffer: "./" + the normalized path, with room for "index.html", a variant
/// suffix and the NUL.
const PB: usize = PATH_MAX + 16;

/// The server's scratch space (`Env::scratch`, one mapping shared by all connections,
/// so no request zeroes or touches big stack buffers): the response's own header lines
/// (up to 2 KiB of redirect Location) in the first `LINES` bytes, the path buffer after
/// them; the ETag fingerprint reads its 4 KiB window into the start once the path is no
/// longer needed. A short path, the lines and the window share the first page.
const LINES: usize = 2048;
pub const SCRATCH: usize = LINES + PB;

/// `open_at` found a directory. Otherwise it returns the fd of a regular file (>= 0,
/// with `st` filled in) or the status to answer, negated.
const DIR: i32 = -1;

/// Opens `pb[..base]` + `suffix` (relative, "./...") beneath the root, or takes it from
/// the open-file cache, and classifies it. A regular file is lent by the cache (see
/// `files::Cache`): give it back with `release` or `keep`.
#[inline(never)]
fn open_at(env: &mut Env, pb: &mut [u8], base: usize, suffix: &[u8], st: &mut Stat) -> i32 {
    let mut w = W::new(sub_mut(pb, base, PB));
    w.put(suffix).byte(0);
    let end = base + w.len;
    let now = env.clock.mono;
    if let Some(fd) = env.files.take(sub(pb, 0, end), now, st) {
        return fd;
    }
    let r = files::open(env.root, sub_mut(pb, 0, end));
    if r < 0 {
        return -match -r {
            sys::EACCES | sys::EPERM => 403,
            sys::ENAMETOOLONG => 414,
            sys::EMFILE | sys::ENFILE | sys::ENOMEM => 503,
            // ENOENT, ENOTDIR, EXDEV (escapes the root), ELOOP (symlink refused), ...
            _ => 404,
        };
    }
    let fd = r as Fd;
    let o = if sys::fstat(fd, st) < 0 {
        -500
    } else if st.is_file() {
        env.files.put(sub(pb, 0, end), fd, st, now);
        return fd;
    } else if st.is_dir() {
        DIR
    } else {
        -404
    };
    sys::close(fd);
    o
}

impl Ctx<'_, '_> {
    /// Builds the response for a complete request.
    pub fn respond(&mut self, req: &Request) {
        // Lent out for the call: the header lines built in it are passed to `head`,
        // which borrows all of self.
        let s = core::mem::take(&mut self.env.scratch);
        let status = self.build(req, s);
        if status != 0 {
            self.err(status);
        }
        self.env.scratch = s;
    }

    /// Builds the response, or returns the status of a plain error page to answer
    /// instead (0: done). Size trade: one `err` call site for the many error exits.
    fn build(&mut self, req: &Request, s: &mut [u8]) -> u16 {
        self.head_only = req.method == Method::Head;
        match req.method {
            Method::Get | Method::Head => {}
            Method::Other => return 501,
            m => {
                let options = m == Method::Options;
                self.head_only |= options;
                self.page(if options { 204 } else { 405 }, ALLOW, b"");
                return 0;
            }
        }
        let rawp = req.path;
        if rawp.len() > PATH_MAX {
            return 414;
        }
        // One buffer: the normalized path, later turned into the relative path to open
        // ("/a/b" becomes "./a/b") with room for "index.html", a variant suffix and the NUL.
        let pb = sub_mut(s, LINES, SCRATCH);
        let len = match path::normalize(rawp, sub_mut(pb, 1, PATH_MAX)) {
            Ok(n) if n.first() == Some(&b'/') => n.len(),
            _ => return 400,
        };
        let norm = sub(pb, 1, 1 + len);
        let cfg = self.env.cfg;
        if !cfg.health.is_empty() && norm == cfg.health {
            self.page(200, b"Cache-Control: no-store\r\n", b"ok\n");
            return 0;
        }
        if !cfg.on(crate::config::HIDDEN) && path::has_hidden_segment(norm) {
            return 404;
        }
        let trailing = norm.last() == Some(&b'/');
        // SPA fallback applies to a last segment without an extension.
        // Whether the last segment has a '.': one pass, no reverse split (bytes).
        let mut ext = false;
        for &b in norm {
            ext = b == b'.' || ext && b != b'/';
        }
        let spa = cfg.on(crate::config::SPA) && !ext;
        // "/a/b" -> "./a/b"
        if let Some(b) = pb.first_mut() {
            *b = b'.';
        }
        let mut base = 1 + len;
        let mut st = Stat::new();
        let mut fd = open_at(self.env, pb, base, b"", &mut st);
        if fd == DIR {
            if !trailing {
                return self.redirect(s, base, req.query);
            }
            // Directory: serve its index.html, never a listing.
            fd = open_at(self.env, pb, base, b"index.html", &mut st);
            base += 10;
        }
        if fd == -404 && spa {
            fd = open_at(self.env, pb, 2, b"index.html", &mut st);
            base = 12;
        }
        if fd < 0 {
            return if fd == DIR { 404 } else { -fd as u16 };
        }
        let mime = mote_http::mime::from_path(sub(pb, 0, base));
        // Precompressed variants beside the file, chosen by Accept-Encoding.
        let vary = compressible(mime);
        let mut enc: Option<Encoding> = None;
        let mut vst = Stat::new();
        let mut stp = &st;
        if let (true, Some(ae)) = (vary, req.header(b"accept-encoding")) {
            let mut avail: u8 = 0b111;
            while let Some(e) = encoding::negotiate(ae, avail) {
                avail &= !(1u8 << (e as u8));
                let vfd = open_at(self.env, pb, base, e.ext(), &mut vst);
                if vfd >= 0 {
                    self.env.files.release(fd);
                    fd = vfd;
                    stp = &vst;
                    enc = Some(e);
                    break;
                }
            }
        }
        let (size, mtime) = (stp.size(), stp.mtime());
        let mut tag = [0u8; 32];
        let tag_len = etag::etag(fd, stp, enc.map_or(&b""[..], |e| e.ext()), s, &mut tag);
        let tag = sub(&tag, 0, tag_len);

        let (mut status, mut off, mut len) = (200, 0, size);
        match cond::evaluate(req, tag, mtime) {
            Outcome::NotModified => status = 304,
            Outcome::PreconditionFailed => status = 412,
            Outcome::Proceed { range_allowed: true } => match req.header(b"range").map(|r| range::decide(r, size)) {
                Some(RangeDecision::Partial { start, end }) => {
                    status = 206;
                    off = start;
                    len = end - start + 1;
                }
                Some(RangeDecision::Unsatisfiable) => status = 416,
                _ => {}
            },
            _ => {}
        }
        // The header lines specific to this response, before the common ones.
        let mut w = W::new(sub_mut(s, 0, LINES));
        if status == 206 || status == 416 {
            w.put(b"Content-Range: bytes ");
            if status == 416 {
                w.byte(b'*');
            } else {
                w.dec(off).byte(b'-').dec(off + len - 1);
            }
            w.byte(b'/').dec(size).put(b"\r\n");
        }
        if status >= 400 {
            self.env.files.release(fd);
            self.page(status, w.done(), b"");
            return 0;
        }
        let mut imf = [0u8; mote_http::date::IMF_LEN];
        mote_http::date::format(mtime, &mut imf);
        w.put(b"ETag: ").put(tag).put(b"\r\nLast-Modified: ").put(&imf).put(b"\r\n");
        if vary {
            w.put(b"Vary: Accept-Encoding\r\n");
        }
        if status != 304 {
            w.put(b"Accept-Ranges: bytes\r\n");
            if let Some(e) = enc {
                w.put(b"Content-Encoding: ").put(e.token()).put(b"\r\n");
            }
        }
        if self.head(status, w.done(), mime, len) {
            // A body that fits in the output buffer after the head is read into it and
            // goes out with the head in one sendto (no sendfile, no second push); the
            // file is closed at once. Larger bodies, or a short read (the file
            // changed), are sent from the file with sendfile.
            let h = self.p.head;
            let room = sub_mut(self.out, h, usize::MAX);
            let n = len as usize;
            if len > room.len() as u64 || sys::pread(fd, sub_mut(room, 0, n), off) != n as isize {
                self.env.files.keep(fd);
                self.p.file = fd;
                self.p.off = off;
                self.p.len = len;
                return 0;
            }
            self.p.head = h + n;
            self.p.sent = len;
        }
        self.env.files.release(fd);
        0
    }

    /// 301 to the slash form of a directory path (the path buffer up to `end`, the
    /// normalized path after its "./"), keeping the query. The Location is built from the
    /// normalized path, percent-encoded, with repeated slashes collapsed, so it can never
    /// become a scheme-relative `//host` redirect.
    fn redirect(&mut self, s: &mut [u8], end: usize, query: Option<&[u8]>) -> u16 {
        let Some((lb, pb)) = s.split_at_mut_checked(LINES) else { return 500 };
        let norm = sub(pb, 2, end);
        let mut w = W::new(lb);
        w.put(b"Location: /");
        let mut prev = b'/';
        for &b in norm {
            if b == b'/' && prev == b'/' {
                continue;
            }
            prev = b;
            if LOCATION_SAFE.get(b as usize >> 3).is_some_and(|m| m >> (b & 7) & 1 != 0) {
                w.byte(b);
            } else {
                w.byte(b'%').hex(b as u64, 2);
            }
        }
        w.byte(b'/');
        if let Some(q) = query {
            // Passed on as sent; the parser admits no controls or spaces in a target.
            if q.iter().all(|&b| b > 0x20 && b < 0x7f) {
                w.byte(b'?').put(q);
            }
        }
        w.put(b"\r\n");
        if w.full {
            return 414;
        }
        self.page(301, w.done(), b"");
        0
    }
}
