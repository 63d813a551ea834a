//! Opening files strictly beneath the root directory.
//!
//! `openat2(root, path, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: the kernel refuses any
//! resolution that leaves the root (`..`, absolute symlinks, symlinks pointing outside)
//! and /proc magic links. Symlinks that stay inside the root work. If the kernel has no
//! openat2 (ENOSYS, Linux < 5.6), each component is opened with `openat(O_NOFOLLOW)`
//! instead: then no symlink is followed at all. The path has already been normalized by
//! mote_http::path::normalize, so it holds no `.` or `..` segments.

use crate::num::{find, sub};
use crate::sys::{self, Fd};
use core::sync::atomic::{AtomicBool, Ordering};

static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// Opens `rel` (relative, NUL-terminated, no dot segments) beneath `root`: the fd, or
/// -errno. `rel` is only borrowed mutably for the fallback, which cuts it into
/// components in place and restores it.
pub fn open(root: Fd, rel: &mut [u8]) -> isize {
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let r = sys::openat2_beneath(root, rel, sys::O_FILE);
        if r != -sys::ENOSYS {
            return r;
        }
        NO_OPENAT2.store(true, Ordering::Relaxed);
    }
    open_fallback(root, rel)
}

/// One `openat(O_NOFOLLOW)` per component: each '/' is turned into the component's NUL
/// for its call and put back (no copy of the name). Empty and "." components open the
/// directory itself ("./" alone is the root); normalize left no "..", but one is
/// refused anyway.
fn open_fallback(root: Fd, rel: &mut [u8]) -> isize {
    let mut cur = root;
    let mut start = 0;
    loop {
        let end = start + find(sub(rel, start, usize::MAX), b'/');
        let last = end >= rel.len();
        let (flags, saved) = match rel.get_mut(end) {
            Some(b) if !last => (sys::O_PATH | sys::O_DIRECTORY | sys::O_CLOEXEC, core::mem::replace(b, 0)),
            _ => (sys::O_FILE, 0),
        };
        let r = match sub(rel, start, end + 1) {
            b"..\0" => -sys::EACCES,
            b"\0" => sys::openat(cur, b".\0", flags | sys::O_NOFOLLOW),
            name => sys::openat(cur, name, flags | sys::O_NOFOLLOW),
        };
        if let Some(b) = rel.get_mut(end) {
            *b = saved;
        }
        if cur != root {
            sys::close(cur);
        }
        if last || r < 0 {
            return r;
        }
        cur = r as Fd;
        start = end + 1;
    }
}
