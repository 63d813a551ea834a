//! From a parsed request to a response: the head (and any small body) written into the
//! connection's output buffer, plus the file range to send with sendfile.

use crate::config::Config;
use crate::etag::{self, Cache};
use crate::files;
use crate::log::Clock;
use crate::num::W;
use crate::sys::{self, Fd, Stat};
use mote_http::cond::{self, Outcome};
use mote_http::encoding::{self, Encoding};
use mote_http::range::{self, RangeDecision};
use mote_http::{path, HeadWriter, Method, Request, Version};

/// Longest path we try to open: Linux's PATH_MAX.
const PATH_MAX: usize = 4096;

pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub root: Fd,
    pub clock: &'a Clock,
    pub cache: &'a mut Cache,
}

/// What to send: `out[..head]` then `len` bytes of `file` from `off`.
pub struct Plan {
    pub status: u16,
    pub head: usize,
    pub file: Fd,
    pub off: u64,
    pub len: u64,
    /// Body bytes that are part of `out[..head]` (small generated bodies), for the log.
    pub inline_body: u64,
    pub close: bool,
}

const ALLOW: &[u8] = b"Allow: GET, HEAD, OPTIONS\r\n";

/// A response without a file: `status`, extra header lines and a text body, by default
/// "<code> <reason>\n". `head_only` drops the body (HEAD requests); 204 and 304 never
/// have one.
pub fn page(ctx: &Ctx, out: &mut [u8], status: u16, lines: &[u8], body: Option<&[u8]>, head_only: bool, close: bool) -> Plan {
    let mut b = [0u8; 64];
    let mut w = W::new(&mut b);
    w.dec(status as u64).byte(b' ').put(mote_http::reason_phrase(status).as_bytes()).byte(b'\n');
    let n = w.len;
    let body = body.unwrap_or(b.get(..n).unwrap_or(&[]));
    let no_body = status == 204 || status == 304;
    let mut h = HeadWriter::new(out, status);
    raw(&mut h, &ctx.clock.date_line);
    raw(&mut h, lines);
    raw(&mut h, ctx.cfg.extra());
    if !no_body {
        raw(&mut h, b"Content-Type: text/plain; charset=utf-8\r\n");
        h.header_u64(b"Content-Length", body.len() as u64);
    }
    if close {
        raw(&mut h, b"Connection: close\r\n");
    }
    let Ok(n) = h.finish() else { return fallback(out) };
    let mut plan = Plan { status, head: n, file: -1, off: 0, len: 0, inline_body: 0, close };
    if !head_only && !no_body {
        let Some(d) = out.get_mut(n..n + body.len()) else { return fallback(out) };
        d.copy_from_slice(body);
        plan.head += body.len();
        plan.inline_body = body.len() as u64;
    }
    plan
}

/// The last resort when a head does not fit in the output buffer.
#[inline(never)]
fn fallback(out: &mut [u8]) -> Plan {
    const R: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let head = match out.get_mut(..R.len()) {
        Some(d) => {
            d.copy_from_slice(R);
            R.len()
        }
        None => 0,
    };
    Plan { status: 500, head, file: -1, off: 0, len: 0, inline_body: 0, close: true }
}

/// Types worth precompressing: mote_http::mime gives every textual type (HTML, CSS, JS,
/// JSON, SVG, XML, ...) a `charset=utf-8`; plus WebAssembly. Only for these are variants
/// looked for, so images and archives cost no extra openat2 per request.
fn compressible(mime: &[u8]) -> bool {
    mime.ends_with(b"utf-8") || mime.ends_with(b"wasm")
}

/// What `open` found: a regular file (its fd, with `st` filled in), a directory, or the
/// status to answer.
#[derive(PartialEq)]
enum Open {
    File(Fd),
    Dir,
    Err(u16),
}

/// Opens `pb[..base]` + `suffix` (relative, "./...") beneath the root and classifies it.
#[inline(never)]
fn open(ctx: &Ctx, pb: &mut [u8], base: usize, suffix: &[u8], st: &mut Stat) -> Open {
    let mut w = W::new(pb.get_mut(base..).unwrap_or(&mut []));
    w.put(suffix).byte(0);
    let end = base + w.len;
    let r = files::open(ctx.root, pb.get(..end).unwrap_or(&[]));
    if r < 0 {
        return Open::Err(match -r {
            sys::EACCES | sys::EPERM => 403,
            sys::ENAMETOOLONG => 414,
            sys::EMFILE | sys::ENFILE | sys::ENOMEM => 503,
            // ENOENT, ENOTDIR, EXDEV (escapes the root), ELOOP (symlink refused), ...
            _ => 404,
        });
    }
    let fd = r as Fd;
    let o = if sys::fstat(fd, st) < 0 {
        Open::Err(500)
    } else if st.is_file() {
        return Open::File(fd);
    } else if st.is_dir() {
        Open::Dir
    } else {
        Open::Err(404)
    };
    sys::close(fd);
    o
}

/// Builds the response for a complete request.
pub fn respond(ctx: &mut Ctx, req: &Request, out: &mut [u8], close: bool) -> Plan {
    let head_only = req.method == Method::Head;
    let err = |ctx: &Ctx, out: &mut [u8], s| page(ctx, out, s, b"", None, head_only, close);
    match req.method {
        Method::Get | Method::Head => {}
        Method::Options => return page(ctx, out, 204, ALLOW, None, true, close),
        Method::Other => return err(ctx, out, 501),
        _ => return page(ctx, out, 405, ALLOW, None, head_only, close),
    }
    let rawp = req.path;
    if rawp.len() > PATH_MAX {
        return err(ctx, out, 414);
    }
    // One buffer: the normalized path, later turned into the relative path to open
    // ("/a/b" becomes "./a/b") with room for "index.html", a variant suffix and the NUL.
    let mut pb = [0u8; PATH_MAX + 16];
    let len = match path::normalize(rawp, pb.get_mut(1..PATH_MAX).unwrap_or(&mut [])) {
        Ok(n) if n.first() == Some(&b'/') => n.len(),
        _ => return err(ctx, out, 400),
    };
    let norm = pb.get(1..1 + len).unwrap_or(&[]);
    if !ctx.cfg.health.is_empty() && norm == ctx.cfg.health {
        return page(ctx, out, 200, b"Cache-Control: no-store\r\n", Some(b"ok\n"), head_only, close);
    }
    if !ctx.cfg.hidden && path::has_hidden_segment(norm) {
        return err(ctx, out, 404);
    }
    let trailing = norm.last() == Some(&b'/');
    // SPA fallback applies to a last segment without an extension.
    let spa = ctx.cfg.spa && !norm.rsplit(|&b| b == b'/').next().unwrap_or(&[]).contains(&b'.');
    // "/a/b" -> "./a/b"
    pb[0] = b'.';
    let mut base = 1 + len;
    let mut st = Stat::new();
    let mut opened = open(ctx, &mut pb, base, b"", &mut st);
    if let Open::Dir = opened {
        if !trailing {
            return redirect(ctx, out, pb.get(2..base).unwrap_or(&[]), req.query, head_only, close);
        }
        // Directory: serve its index.html, never a listing.
        opened = open(ctx, &mut pb, base, b"index.html", &mut st);
        base += 10;
    }
    if let (Open::Err(404), true) = (&opened, spa) {
        opened = open(ctx, &mut pb, 2, b"index.html", &mut st);
        base = 12;
    }
    let mut fd = match opened {
        Open::File(fd) => fd,
        Open::Dir => return err(ctx, out, 404),
        Open::Err(s) => return err(ctx, out, s),
    };
    let mime = mote_http::mime::from_path(pb.get(..base).unwrap_or(&[]));
    // Precompressed variants beside the file, chosen by Accept-Encoding.
    let vary = compressible(mime);
    let mut enc: Option<Encoding> = None;
    let mut vst = Stat::new();
    let mut stp = &st;
    if let (true, Some(ae)) = (vary, req.header(b"accept-encoding")) {
        let mut avail: u8 = 0b111;
        while let Some(e) = encoding::negotiate(ae, avail) {
            avail &= !(1u8 << (e as u8));
            if let Open::File(vfd) = open(ctx, &mut pb, base, e.ext(), &mut vst) {
                sys::close(fd);
                fd = vfd;
                stp = &vst;
                enc = Some(e);
                break;
            }
        }
    }
    let (size, mtime) = (stp.size(), stp.mtime());
    let mut tag = [0u8; 32];
    let tag_len = etag::etag(ctx.cache, fd, stp, enc.map_or(&b""[..], |e| e.ext()), &mut tag);
    let tag = tag.get(..tag_len).unwrap_or(&[]);

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
    if status >= 400 {
        sys::close(fd);
        let mut cr = [0u8; 64];
        let mut w = W::new(&mut cr);
        if status == 416 {
            w.put(b"Content-Range: bytes */").dec(size).put(b"\r\n");
        }
        let n = w.len;
        return page(ctx, out, status, cr.get(..n).unwrap_or(&[]), None, head_only, close);
    }
    let mut h = HeadWriter::new(out, status);
    raw(&mut h, &ctx.clock.date_line);
    hdr(&mut h, b"ETag", tag);
    h.header_date(b"Last-Modified", mtime);
    if vary {
        raw(&mut h, b"Vary: Accept-Encoding\r\n");
    }
    if status != 304 {
        hdr(&mut h, b"Content-Type", mime);
        h.header_u64(b"Content-Length", len);
        raw(&mut h, b"Accept-Ranges: bytes\r\n");
        if let Some(e) = enc {
            hdr(&mut h, b"Content-Encoding", e.token());
        }
        if status == 206 {
            h.content_range(off, off + len - 1, size);
        }
    }
    raw(&mut h, ctx.cfg.extra());
    if close {
        raw(&mut h, b"Connection: close\r\n");
    } else if req.version == Version::Http10 {
        raw(&mut h, b"Connection: keep-alive\r\n");
    }
    let Ok(head) = h.finish() else {
        sys::close(fd);
        return fallback(out);
    };
    if head_only || status == 304 || len == 0 {
        sys::close(fd);
        fd = -1;
        len = 0;
    }
    Plan { status, head, file: fd, off, len, inline_body: 0, close }
}

/// 301 to the slash form of a directory path (`norm` without its leading '/'), keeping the query. The Location is built
/// from the normalized path, percent-encoded, with repeated slashes collapsed, so it can
/// never become a scheme-relative `//host` redirect.
fn redirect(ctx: &Ctx, out: &mut [u8], norm: &[u8], query: Option<&[u8]>, head_only: bool, close: bool) -> Plan {
    let mut lb = [0u8; 2048];
    let mut w = W::new(&mut lb);
    w.put(b"Location: /");
    let mut prev = b'/';
    for &b in norm {
        if b == b'/' && prev == b'/' {
            continue;
        }
        prev = b;
        if b.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&b) {
            w.byte(b);
        } else {
            w.byte(b'%').hex(b as u64 >> 4, 1).hex(b as u64 & 15, 1);
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
        return page(ctx, out, 414, b"", None, head_only, close);
    }
    let n = w.len;
    page(ctx, out, 301, lb.get(..n).unwrap_or(&[]), None, head_only, close)
}

// Out-of-line wrappers: one call per header instead of an inlined copy at every site.
#[inline(never)]
fn raw(h: &mut HeadWriter, s: &[u8]) {
    h.raw(s);
}
#[inline(never)]
fn hdr(h: &mut HeadWriter, n: &[u8], v: &[u8]) {
    h.header(n, v);
}
