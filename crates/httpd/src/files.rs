//! Opening files strictly beneath the root directory.
//!
//! `openat2(root, path, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: the kernel refuses any
//! resolution that leaves the root (`..`, absolute symlinks, symlinks pointing outside)
//! and /proc magic links. Symlinks that stay inside the root work. If the kernel has no
//! openat2 (ENOSYS, Linux < 5.6), each component is opened with `openat(O_NOFOLLOW)`
//! instead: then no symlink is followed at all. The path has already been normalized by
//! mote_http::path::normalize, so it holds no `.` or `..` segments.

use crate::num::{find, sub};
use crate::sys::{self, Fd, Stat};
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

/// Regular files kept open for reuse, as lighttpd's stat cache and nginx's
/// `open_file_cache` do: a hit costs one fstat instead of openat2 + fstat + close. An
/// entry is used only within the second (monotonic clock) in which it was opened, so a
/// file replaced or removed is seen at the latest one second later, and it is closed
/// once that second is over (`expire`), so a removed file's space is not held. Keyed by
/// the exact relative path passed to openat2 (after normalization, the hidden-file check
/// and with any variant suffix), compared byte for byte: no hash collision can make one
/// path serve another file.
///
/// Ownership: an fd handed out by `take` (or just opened and `put`) is lent to the
/// request being built; `release` gives it back (or closes it when not cached), `keep`
/// takes it out of the cache for good (a body sent with sendfile, closed when the
/// response ends). A lent entry is never evicted, so no fd is closed under a user.
pub struct Cache {
    e: [Entry; ENTRIES],
}

const ENTRIES: usize = 8;
/// Longest cached path with its NUL ("./assets/app.3f9a8b7c.js.br\0" is 30).
const KEY: usize = 72;

/// `path[0] == 0`: empty (all zeros, so the cache starts as one memset). A stored path
/// ends with its NUL, so comparing the first `key.len()` bytes with a key (which ends with
/// its only NUL) is an exact match without a length field. `key` is the stat's
/// `Stat::key` (dev, ino, size, mtime, ctime), all that revalidation compares.
#[derive(Clone, Copy)]
struct Entry {
    fd: Fd,
    lent: bool,
    sec: u64,
    key: [u64; 7],
    path: [u8; KEY],
}

impl Cache {
    pub const fn new() -> Self {
        Cache { e: [Entry { fd: 0, lent: false, sec: 0, key: [0; 7], path: [0; KEY] }; ENTRIES] }
    }

    fn slot(&mut self, path: &[u8]) -> &mut Entry {
        // A cheap spread: the length and the last byte before the NUL.
        let h = path.len() ^ path.get(path.len().wrapping_sub(2)).copied().unwrap_or(0) as usize;
        &mut self.e[h % ENTRIES]
    }

    /// The cached fd of `path` (with its NUL) if opened in second `now`, lent out, with
    /// its stat in `st`.
    pub fn take(&mut self, path: &[u8], now: u64, st: &mut Stat) -> Option<Fd> {
        let e = self.slot(path);
        // An fstat of the open file (no path walk) sees any write to it at once (size,
        // mtime, ctime); only a rename over it or its removal waits for the second to end.
        if e.lent || e.sec != now || sub(&e.path, 0, path.len()) != path || sys::fstat(e.fd, st) < 0 || st.key() != e.key {
            return None;
        }
        e.lent = true;
        Some(e.fd)
    }

    /// Caches `fd`, a regular file just opened as `path`, lent to the caller. Evicts
    /// (closes) what its slot held, unless that is lent.
    pub fn put(&mut self, path: &[u8], fd: Fd, st: &Stat, now: u64) {
        let e = self.slot(path);
        if e.lent || path.len() > KEY {
            return;
        }
        if e.path[0] != 0 {
            sys::close(e.fd);
        }
        e.fd = fd;
        e.lent = true;
        e.sec = now;
        e.key = st.key();
        sys::copy(&mut e.path, path);
    }

    fn find(&mut self, fd: Fd) -> Option<&mut Entry> {
        self.e.iter_mut().find(|e| e.lent && e.fd == fd)
    }

    /// The request is done with `fd`: back into the cache, or closed if not cached.
    pub fn release(&mut self, fd: Fd) {
        match self.find(fd) {
            Some(e) => e.lent = false,
            None => {
                sys::close(fd);
            }
        }
    }

    /// Closes the entries of past seconds (they are never used again); whether the cache
    /// is then empty, so the loop may sleep without a timeout. Called between requests,
    /// when nothing is lent.
    pub fn expire(&mut self, now: u64) -> bool {
        let mut empty = true;
        for e in self.e.iter_mut().filter(|e| e.path[0] != 0) {
            if e.sec == now {
                empty = false;
            } else {
                sys::close(e.fd);
                e.path[0] = 0;
            }
        }
        empty
    }

    /// The request keeps `fd` (it closes it itself): out of the cache.
    pub fn keep(&mut self, fd: Fd) {
        if let Some(e) = self.find(fd) {
            e.path[0] = 0;
            e.lent = false;
        }
    }
}
