//! Opening files strictly beneath the root directory.
//!
//! `openat2(root, path, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: the kernel refuses any
//! resolution that leaves the root (`..`, absolute symlinks, symlinks pointing outside)
//! and /proc magic links. Symlinks that stay inside the root work. If the kernel has no
//! openat2 (ENOSYS, Linux < 5.6), each component is opened with `openat(O_NOFOLLOW)`
//! instead: then no symlink is followed at all. The path has already been normalized by
//! mote_http::path::normalize, so it holds no `.` or `..` segments.

use crate::num::W;
use crate::sys::{self, Fd};
use core::sync::atomic::{AtomicBool, Ordering};

static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `rel` (relative, NUL-terminated, no dot segments) beneath `root`: the fd, or
/// -errno.
pub fn open(root: Fd, rel: &[u8]) -> isize {
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let r = sys::openat2_beneath(root, rel, sys::O_FILE);
        if r != -sys::ENOSYS {
            return r;
        }
        NO_OPENAT2.store(true, Ordering::Relaxed);
    }
    open_fallback(root, rel)
}

fn open_fallback(root: Fd, rel: &[u8]) -> isize {
    // The components of rel without its NUL, empty and "." ones skipped ("./" alone is
    // the root itself); normalize left no ".." behind, but refuse one anyway.
    let path = rel.strip_suffix(b"\0").unwrap_or(rel);
    let mut parts = path.split(|&b| b == b'/').filter(|p| !p.is_empty() && *p != b".");
    let mut cur = root;
    let mut part = parts.next().unwrap_or(b".");
    let mut name = [0u8; 256];
    loop {
        let after = parts.next();
        let flags = if after.is_some() { sys::O_PATH | sys::O_DIRECTORY | sys::O_CLOEXEC } else { sys::O_FILE };
        let mut w = W::new(&mut name);
        w.put(part).byte(0);
        let r = if part == b".." || w.full { -sys::EACCES } else { sys::openat(cur, w.done(), flags | sys::O_NOFOLLOW) };
        if cur != root {
            sys::close(cur);
        }
        match after {
            Some(p) if r >= 0 => {
                cur = r as Fd;
                part = p;
            }
            _ => return r,
        }
    }
}
