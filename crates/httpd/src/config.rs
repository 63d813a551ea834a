//! Configuration from flags, each also settable by an environment variable
//! (`--max-conns` ⇔ `MOTE_MAX_CONNS`). Flags win over the environment.
//! A bad flag or value prints one line naming it on stderr; the process exits with 2.
//!
//! Table-driven: the `--help` text is also the table of names. Its words that start with
//! `--` are the flags in id order (numeric options first, id = index in `Config::n`);
//! the environment name is derived from the flag name. `set` stores a value by id.

use crate::num::{find, has, parse_u64, sub, sub_mut, W};
use crate::sys::{self, Strs};

pub const EXTRA_MAX: usize = 1024;

#[derive(Clone, Copy, PartialEq)]
pub enum LogMode {
    Clf,
    Json,
    Off,
}

pub struct Config {
    pub v6: bool,
    pub addr: [u8; 16],
    pub port: u16,
    pub root: &'static [u8],
    /// Numeric options, indexed by the constants below (then LISTEN_PID, LISTEN_FDS).
    pub n: [u64; NUMS + 2],
    pub log: LogMode,
    /// Extra response headers, pre-formatted `Name: value\r\n` lines.
    pub extra: [u8; EXTRA_MAX],
    pub extra_len: usize,
    pub health: &'static [u8],
    /// The boolean flags, indexed by id - SPA: --spa, --hidden, --no-seccomp, --allow-root.
    /// Read them with [`Config::on`].
    pub flag: [bool; 4],
}

impl Config {
    /// Whether the boolean flag `id` (SPA, HIDDEN, NO_SECCOMP or ALLOW_ROOT) was given.
    #[inline(always)]
    pub fn on(&self, id: usize) -> bool {
        self.flag[id - SPA]
    }

    pub fn extra(&self) -> &[u8] {
        self.extra.get(..self.extra_len).unwrap_or(&[])
    }
}

// Flag ids. The numeric ones are also their index in `Config::n`.
pub const MAX_CONNS: usize = 0;
pub const BUF_SIZE: usize = 1;
pub const HEADER_TIMEOUT: usize = 2;
pub const IDLE_TIMEOUT: usize = 3;
pub const WRITE_TIMEOUT: usize = 4;
pub const GRACE: usize = 5;
pub const WORKERS: usize = 6;
pub const MAX_BODY: usize = 7;
pub const UID: usize = 8;
pub const GID: usize = 9;
const NUMS: usize = 10;
const LISTEN: usize = 10;
const ROOT: usize = 11;
const LOG: usize = 12;
const HEADER: usize = 13;
const HEALTH: usize = 14;
pub const SPA: usize = 15;
pub const HIDDEN: usize = 16;
/// --no-seccomp: no syscall filter (debugging, or a kernel/emulator without seccomp).
pub const NO_SECCOMP: usize = 17;
/// --allow-root: serve with euid 0 (refused otherwise).
pub const ALLOW_ROOT: usize = 18;
const HELP: usize = 19;
/// Socket activation (`server::listener`): `n[LISTEN_PID]`, `n[LISTEN_FDS]`, 0 when unset.
/// Read here so the environment is scanned once.
pub const LISTEN_PID: usize = NUMS;
pub const LISTEN_FDS: usize = NUMS + 1;
/// "not set" for --uid/--gid
pub const UNSET: u64 = u64::MAX;

/// `--help`, and the table of flags (see the module comment): the flags in id order, each
/// followed by its default (the same as in `Config::new`). No other word may start with `--`.
const USAGE: &[u8] = b"usage: mote-httpd [--flag value]... (each flag also from the environment: MOTE_MAX_CONNS=9)
--max-conns 1024
--buf-size 4096 (request head bytes)
--header-timeout 10 (seconds)
--idle-timeout 60
--write-timeout 30
--grace 10
--workers 1
--max-body 1048576
--uid N
--gid N
--listen 0.0.0.0:8080 (IPv6: [::]:8080)
--root /www
--log clf (or json, off)
--header 'Name: value' (repeatable)
--health /healthz (or off)
--spa
--hidden
--no-seccomp
--allow-root
--help
--version
";

/// Accepted range of each numeric option; `u32::MAX` as the upper end means no limit.
const LIMITS: [(u32, u32); NUMS] = [
    (1, 1 << 20),
    (1024, 1 << 20),
    (1, 86400),
    (1, 86400),
    (1, 86400),
    (0, 86400),
    (1, 256),
    (0, u32::MAX),
    (0, u32::MAX - 1),
    (0, u32::MAX - 1),
];

/// One line on stderr: `mote-httpd: ` and the parts (cut at 500 bytes).
pub fn err_line(parts: &[&[u8]]) {
    let mut b = [0u8; 512];
    let mut w = W::new(sub_mut(&mut b, 0, 511));
    w.put(b"mote-httpd: ");
    for p in parts {
        w.put(p);
    }
    let n = w.len;
    b[n & 511] = b'\n';
    sys::write(2, sub(&b, 0, n + 1));
}

impl Config {
    pub fn new() -> Self {
        Config {
            v6: false,
            addr: [0; 16],
            port: 8080,
            root: b"/www",
            n: [1024, 4096, 10, 60, 30, 10, 1, 1 << 20, UNSET, UNSET, 0, 0],
            log: LogMode::Clf,
            extra: [0; EXTRA_MAX],
            extra_len: 0,
            health: b"/healthz",
            flag: [false; 4],
        }
    }
}

/// Index of `name` among the words of `list` that start with `--` (compared without the
/// `--`; words are separated by a space or a newline). With `env`, `name` is in the
/// environment's form: upper case, `_` for `-`.
#[inline(never)]
fn index(list: &[u8], name: &[u8], env: bool) -> Option<usize> {
    list.split(|&b| b == b' ' || b == b'\n').filter_map(|w| w.strip_prefix(b"--")).position(|f| {
        f.len() == name.len()
            && f.iter().zip(name).all(|(&f, &n)| n == if !env { f } else if f == b'-' { b'_' } else { f & !0x20 })
    })
}

const BAD: &[u8] = b"bad or missing value for ";

/// `WHAT NAME: 'VALUE' (see --help)`; the exit code 2.
fn bad(what: &[u8], name: &[u8], v: &[u8]) -> i32 {
    err_line(&[what, name, b": '", v, b"' (see --help)"]);
    2
}

/// Parses the environment, then the command line, into `c` (which starts with the
/// defaults). Ok(()) to run, Err(exit code) after printing.
pub fn parse(c: &mut Config, mut args: Strs, env: Strs) -> Result<(), i32> {
    // Environment first: MOTE_ + the flag name in upper case, '-' as '_'.
    for kv in env {
        let eq = find(kv, b'=');
        let (key, v) = (sub(kv, 0, eq), sub(kv, eq + 1, usize::MAX));
        if let Some(s) = index(b"--LISTEN_PID --LISTEN_FDS", key, false).and_then(|i| c.n.get_mut(NUMS + i)) {
            *s = parse_u64(v).unwrap_or(0);
        }
        let Some(id) = key.strip_prefix(b"MOTE_").and_then(|k| index(USAGE, k, true)) else { continue };
        if id < HELP && !set(c, id, v) {
            return Err(bad(BAD, key, v));
        }
    }
    // Then the command line: --name VALUE or --name=VALUE; a boolean flag alone is =1.
    while let Some(a) = args.next() {
        let p = find(a, b'=');
        let flag = sub(a, 0, p);
        let Some(id) = flag.strip_prefix(b"--").and_then(|f| index(USAGE, f, false)) else {
            return Err(bad(b"unknown flag", b"", a));
        };
        if id >= HELP {
            sys::write(1, if id == HELP { USAGE } else { concat!("mote-httpd ", env!("CARGO_PKG_VERSION"), "\n").as_bytes() });
            return Err(0);
        }
        let v = if p < a.len() {
            sub(a, p + 1, usize::MAX)
        } else if id >= SPA {
            b"1"
        } else {
            match args.next() {
                Some(v) => v,
                None => return Err(bad(BAD, flag, b"")),
            }
        };
        if !set(c, id, v) {
            return Err(bad(BAD, flag, v));
        }
    }
    Ok(())
}

/// Sets option `id` from `v`; false when the value is refused.
fn set(c: &mut Config, id: usize, v: &'static [u8]) -> bool {
    if let (Some(slot), Some(&(lo, hi))) = (c.n.get_mut(id), LIMITS.get(id)) {
        let hi = if hi == u32::MAX { u64::MAX } else { hi as u64 };
        return match parse_u64(v) {
            Some(x) if x >= lo as u64 && x <= hi => {
                *slot = x;
                true
            }
            _ => false,
        };
    }
    match id {
        LISTEN => listen(c, v),
        ROOT => {
            c.root = v;
            !v.is_empty()
        }
        LOG => match index(b"--clf --json --off", v, false) {
            Some(i) => {
                c.log = match i {
                    0 => LogMode::Clf,
                    1 => LogMode::Json,
                    _ => LogMode::Off,
                };
                true
            }
            None => false,
        },
        // One header per line (MOTE_HEADER holds several).
        HEADER => v.split(|&b| b == b'\n').all(|h| h.is_empty() || add_header(c, h)),
        HEALTH => {
            let off = v == b"off";
            c.health = if off { b"" } else { v };
            off || v.first() == Some(&b'/')
        }
        // Booleans: 1/true, 0/false (or empty: off).
        _ => match index(b"--1 --true --0 --false --", v, false) {
            Some(i) => {
                if let Some(f) = c.flag.get_mut(id.wrapping_sub(SPA)) {
                    *f = i < 2;
                }
                true
            }
            None => false,
        },
    }
}

/// `Name: value` → `Name: value\r\n` appended to the extra headers.
fn add_header(c: &mut Config, v: &[u8]) -> bool {
    let colon = find(v, b':');
    if colon == v.len() {
        return false;
    }
    let (name, value) = (sub(v, 0, colon), trim(sub(v, colon + 1, usize::MAX)));
    if name.is_empty()
        || !name.iter().all(|&b| b.is_ascii_alphanumeric() || has(b"!#$%&'*+-.^_`|~", b))
        || !value.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
    {
        return false;
    }
    let extra_len = c.extra_len;
    let mut w = W::new(sub_mut(&mut c.extra, extra_len, EXTRA_MAX));
    w.put(name).put(b": ").put(value).put(b"\r\n");
    c.extra_len += w.len;
    !w.full
}

/// Strips SP and HTAB from both ends. Out of line (measured, size pass 4: 16 bytes
/// smaller on x86_64 than inlined into its one caller).
#[inline(never)]
fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', r @ ..] = s {
        s = r;
    }
    while let [r @ .., b' ' | b'\t'] = s {
        s = r;
    }
    s
}

/// `HOST:PORT`: a dotted quad (empty for 0.0.0.0) or `[IPv6]` (hex groups with at most
/// one `::`, no embedded IPv4 form). One byte loop for both forms.
fn listen(c: &mut Config, v: &[u8]) -> bool {
    let Some(colon) = v.iter().rposition(|&b| b == b':') else { return false };
    let (host, port) = (sub(v, 0, colon), sub(v, colon + 1, usize::MAX));
    let Some(p) = parse_u64(port).filter(|&p| p < 65536) else { return false };
    c.port = p as u16;
    let h6 = host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]"));
    let v6 = h6.is_some();
    c.v6 = v6;
    let h = h6.unwrap_or(host);
    let (sep, radix, max, need) = if v6 { (b':', 16, 0xffff, 8) } else { (b'.', 10, 255, 4) };
    // g[n] is the group being read (`digits` so far); `gap` is where "::" stood (16: none).
    let mut g = [0u32; 16];
    let (mut n, mut digits, mut gap) = (0, 0, 16);
    let mut i = 0;
    while let Some(&b) = h.get(i) {
        i += 1;
        if b == sep {
            if v6 && h.get(i) == Some(&sep) && gap == 16 {
                i += 1;
                gap = n + (digits > 0) as usize;
            } else if digits == 0 {
                return false; // an empty group
            }
            n += (digits > 0) as usize;
            digits = 0;
            continue;
        }
        // A digit of the radix (`to_digit` is larger): 'a'-'f' in either case are 10-15.
        let d = if b.is_ascii_digit() { b - b'0' } else { (b | 0x20).wrapping_sub(b'a').wrapping_add(10) } as u32;
        if d >= radix {
            return false;
        }
        let x = &mut g[n & 15];
        *x = *x * radix + d;
        digits += 1;
        if *x > max || digits > 4 - !v6 as usize || n >= need {
            return false;
        }
    }
    // A separator at the end only as "::"; then all groups, or fewer with "::" (IPv4: or
    // none at all, for 0.0.0.0).
    let trailing = digits == 0 && n != gap && !h.is_empty();
    n += (digits > 0) as usize;
    if trailing || if gap < 16 { n >= need } else { n != need && (v6 || n != 0) } {
        return false;
    }
    // Move the groups after "::" to the end.
    let mut k = n;
    while k > gap {
        k -= 1;
        g[(k + need - n) & 15] = g[k & 15];
        g[k & 15] = 0;
    }
    for (k, x) in g.iter().take(need).enumerate() {
        if v6 {
            c.addr[(2 * k) & 15] = (x >> 8) as u8;
            c.addr[(2 * k + 1) & 15] = *x as u8;
        } else {
            c.addr[k & 15] = *x as u8;
        }
    }
    true
}
