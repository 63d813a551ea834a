//! From a parsed request to a response: the head (and any small body) written into the
//! connection's output buffer, plus the file range to send with sendfile.

use crate::config::Config;
use crate::etag::{self, Cache};
use crate::files;
use crate::log::Clock;
use crate::num::W;
use crate::sys::{self, Fd};
use mote_http::cond::{self, Outcome};
use mote_http::encoding::{self, Encoding};
use mote_http::range::{self, RangeDecision};
use mote_http::{path, HeadWriter, Method, Request, Version};
use rustix::fs::FileType;

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

/// A response without a file: `status`, an optional text body, extra header lines.
/// `head_only` drops the body (HEAD requests, and statuses that never have one).
pub fn simple(ctx: &Ctx, out: &mut [u8], status: u16, lines: &[u8], body: &[u8], head_only: bool, close: bool) -> Plan {
    let no_body = status == 204 || status == 304;
    let mut h = HeadWriter::new(out, status);
    h.raw(&ctx.clock.date_line).raw(lines).raw(ctx.cfg.extra());
    if !no_body {
        h.raw(b"Content-Type: text/plain; charset=utf-8\r\n").header_u64(b"Content-Length", body.len() as u64);
    }
    if close {
        h.raw(b"Connection: close\r\n");
    }
    let n = match h.finish() {
        Ok(n) => n,
        Err(_) => return fallback(out),
    };
    let mut plan = Plan { status, head: n, file: -1, off: 0, len: 0, inline_body: 0, close };
    if !head_only && !no_body {
        match out.get_mut(n..n + body.len()) {
            Some(d) => d.copy_from_slice(body),
            None => return fallback(out),
        }
        plan.head += body.len();
        plan.inline_body = body.len() as u64;
    }
    plan
}

/// A status with the body "<code> <reason>\n".
pub fn status_page(ctx: &Ctx, out: &mut [u8], status: u16, lines: &[u8], head_only: bool, close: bool) -> Plan {
    let mut b = [0u8; 64];
    let mut w = W::new(&mut b);
    w.dec(status as u64).byte(b' ').put(mote_http::reason_phrase(status).as_bytes()).byte(b'\n');
    let len = w.len;
    simple(ctx, out, status, lines, b.get(..len).unwrap_or(&[]), head_only, close)
}

/// The last resort when a head does not fit in the output buffer.
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

/// Types worth precompressing; only for these are variants looked for, so images and
/// other compressed formats cost no extra openat2 per request.
fn compressible(mime: &[u8]) -> bool {
    mime.starts_with(b"text/")
        || [&b"javascript"[..], b"json", b"xml", b"wasm", b"svg"]
            .iter()
            .any(|k| mime.windows(k.len()).any(|w| w == *k))
}

enum Open {
    File(Fd, rustix::fs::Stat),
    Dir,
    Err(u16),
}

/// Opens `p` (NUL-terminated, relative) beneath the root and classifies it.
fn open(ctx: &Ctx, p: &[u8]) -> Open {
    match files::open(ctx.root, p) {
        Ok(fd) => match rustix::fs::fstat(sys::borrow(fd)) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => Open::File(fd, st),
            Ok(st) => {
                sys::close(fd);
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory { Open::Dir } else { Open::Err(404) }
            }
            Err(_) => {
                sys::close(fd);
                Open::Err(500)
            }
        },
        Err(e) => Open::Err(match e {
            rustix::io::Errno::ACCESS | rustix::io::Errno::PERM => 403,
            rustix::io::Errno::NAMETOOLONG => 414,
            rustix::io::Errno::MFILE | rustix::io::Errno::NFILE | rustix::io::Errno::NOMEM => 503,
            // ENOENT, ENOTDIR, EXDEV (escapes the root), ELOOP (symlink refused), ...
            _ => 404,
        }),
    }
}

/// Builds the response for a complete request.
pub fn respond(ctx: &mut Ctx, req: &Request, out: &mut [u8], close: bool) -> Plan {
    let head_only = req.method == Method::Head;
    match req.method {
        Method::Get | Method::Head => {}
        Method::Options => return simple(ctx, out, 204, ALLOW, b"", true, close),
        Method::Other => return status_page(ctx, out, 501, b"", false, close),
        _ => return status_page(ctx, out, 405, ALLOW, false, close),
    }
    let raw = req.path;
    if raw.first() != Some(&b'/') {
        return status_page(ctx, out, 400, b"", head_only, true);
    }
    if raw.len() > PATH_MAX {
        return status_page(ctx, out, 414, b"", head_only, close);
    }
    // Normalized path + room for "index.html" / ".zst" and the NUL.
    let mut pbuf = [0u8; PATH_MAX + 16];
    let norm_len = match path::normalize(raw, pbuf.get_mut(..PATH_MAX).unwrap_or(&mut [])) {
        Ok(n) => n.len(),
        Err(_) => return status_page(ctx, out, 400, b"", head_only, close),
    };
    let norm = pbuf.get(..norm_len).unwrap_or(&[]);
    if !ctx.cfg.health.is_empty() && norm == ctx.cfg.health {
        return simple(ctx, out, 200, b"Cache-Control: no-store\r\n", b"ok\n", head_only, close);
    }
    if !ctx.cfg.hidden && path::has_hidden_segment(norm) {
        return status_page(ctx, out, 404, b"", head_only, close);
    }
    let trailing = norm.last() == Some(&b'/');
    // Relative path for openat2: drop the leading '/', "." for the root itself.
    let mut rel = [0u8; PATH_MAX + 16];
    let mut rw = W::new(&mut rel);
    rw.put(norm.get(1..).unwrap_or(&[]));
    if rw.len == 0 {
        rw.put(b".");
    }
    let mut base = rw.len; // without NUL
    rw.byte(0);
    let mut opened = open(ctx, rw.done());
    if let Open::Dir = opened {
        if !trailing {
            return redirect(ctx, out, norm, req.query, head_only, close);
        }
        // Directory: serve its index.html, never a listing.
        if rel.first() == Some(&b'.') && base == 1 {
            base = 0;
        }
        let mut rw = W::new(rel.get_mut(base..).unwrap_or(&mut []));
        rw.put(b"index.html\0");
        base += 10;
        opened = match open(ctx, rel.get(..base + 1).unwrap_or(&[])) {
            Open::Dir => Open::Err(404),
            o => o,
        };
    }
    // SPA fallback: a missing path whose last segment has no extension gets /index.html.
    if let Open::Err(404) = opened {
        let last = norm.rsplit(|&b| b == b'/').next().unwrap_or(&[]);
        if ctx.cfg.spa && !last.contains(&b'.') {
            let p = b"index.html\0";
            rel.get_mut(..p.len()).map(|d| d.copy_from_slice(p));
            base = 10;
            opened = match open(ctx, &p[..]) {
                Open::Dir => Open::Err(404),
                o => o,
            };
        }
    }
    let (mut fd, mut st) = match opened {
        Open::File(fd, st) => (fd, st),
        Open::Dir => return status_page(ctx, out, 404, b"", head_only, close),
        Open::Err(s) => return status_page(ctx, out, s, b"", head_only, close),
    };
    let logical = rel.get(..base).unwrap_or(&[]);
    let mime = mote_http::mime::from_path(logical);
    // Precompressed variants beside the file, chosen by Accept-Encoding.
    let vary = compressible(mime);
    let mut enc: Option<Encoding> = None;
    if let (true, Some(ae)) = (vary, req.header(b"accept-encoding")) {
        let mut avail: u8 = 0b111;
        while let Some(e) = encoding::negotiate(ae, avail) {
            avail &= !(1u8 << (e as u8));
            let mut vw = W::new(rel.get_mut(base..).unwrap_or(&mut []));
            vw.put(e.ext()).byte(0);
            let end = base + vw.len;
            if let Open::File(vfd, vst) = open(ctx, rel.get(..end).unwrap_or(&[])) {
                sys::close(fd);
                (fd, st) = (vfd, vst);
                enc = Some(e);
                break;
            } else if avail == 0 {
                break;
            }
        }
    }
    let (size, mtime) = etag::size_mtime(&st);
    let mut tag = [0u8; 32];
    let suffix: &[u8] = match enc {
        None => b"",
        Some(Encoding::Br) => b"-br",
        Some(Encoding::Zstd) => b"-zst",
        Some(Encoding::Gzip) => b"-gz",
    };
    let tag_len = etag::etag(ctx.cache, fd, &st, suffix, &mut tag);
    let tag = tag.get(..tag_len).unwrap_or(&[]);

    let (mut status, mut off, mut len) = (200, 0, size);
    let mut unsatisfied = false;
    match cond::evaluate(req, tag, mtime) {
        Outcome::NotModified => status = 304,
        Outcome::PreconditionFailed => {
            sys::close(fd);
            return status_page(ctx, out, 412, b"", head_only, close);
        }
        Outcome::Proceed { range_allowed } => {
            if let (true, Some(r)) = (range_allowed, req.header(b"range")) {
                match range::decide(r, size) {
                    RangeDecision::Full => {}
                    RangeDecision::Partial { start, end } => {
                        status = 206;
                        off = start;
                        len = end - start + 1;
                    }
                    RangeDecision::Unsatisfiable => unsatisfied = true,
                }
            }
        }
    }
    if unsatisfied {
        sys::close(fd);
        let mut cr = [0u8; 64];
        let mut w = W::new(&mut cr);
        w.put(b"Content-Range: bytes */").dec(size).put(b"\r\n");
        let n = w.len;
        return status_page(ctx, out, 416, cr.get(..n).unwrap_or(&[]), head_only, close);
    }
    let mut h = HeadWriter::new(out, status);
    h.raw(&ctx.clock.date_line).header(b"ETag", tag).header_date(b"Last-Modified", mtime);
    if vary {
        h.raw(b"Vary: Accept-Encoding\r\n");
    }
    if status != 304 {
        h.header(b"Content-Type", mime).header_u64(b"Content-Length", len).raw(b"Accept-Ranges: bytes\r\n");
        if let Some(e) = enc {
            h.header(b"Content-Encoding", e.token());
        }
        if status == 206 {
            h.content_range(off, off + len - 1, size);
        }
    }
    h.raw(ctx.cfg.extra());
    if close {
        h.raw(b"Connection: close\r\n");
    } else if req.version == Version::Http10 {
        h.raw(b"Connection: keep-alive\r\n");
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

/// 301 to the slash form of a directory path, keeping the query. The Location is built
/// from the normalized path, percent-encoded, with repeated slashes collapsed, so it can
/// never become a scheme-relative `//host` redirect.
fn redirect(ctx: &Ctx, out: &mut [u8], norm: &[u8], query: Option<&[u8]>, head_only: bool, close: bool) -> Plan {
    let mut lb = [0u8; 2048];
    let mut w = W::new(&mut lb);
    w.put(b"Location: ");
    let mut prev = 0u8;
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
        return status_page(ctx, out, 414, b"", head_only, close);
    }
    let n = w.len;
    status_page(ctx, out, 301, lb.get(..n).unwrap_or(&[]), head_only, close)
}
