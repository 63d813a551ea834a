//! Configuration from flags, each also settable by an environment variable
//! (`--max-conns` ⇔ `MOTE_MAX_CONNS`). Flags win over the environment.
//! A bad flag or value prints one line naming it on stderr; the process exits with 2.

use crate::num::{find, has, parse_u64, sub, sub_mut, W};
use crate::sys;

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
    /// Numeric options, indexed by the constants below.
    pub n: [u64; NUMS],
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
}

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
/// "not set" for --uid/--gid
pub const UNSET: u64 = u64::MAX;

impl Config {
    pub fn extra(&self) -> &[u8] {
        self.extra.get(..self.extra_len).unwrap_or(&[])
    }
}

const USAGE: &[u8] = b"usage: mote-httpd [--flag value]... (or env MOTE_FLAG_NAME=value)
 --listen 0.0.0.0:8080|[::]:8080  --root /www  --max-conns 1024  --buf-size 4096
 --header-timeout 10  --idle-timeout 60  --write-timeout 30  --grace 10 (seconds)
 --log clf|json|off  --header 'Name: value'...  --health /healthz|off  --spa  --hidden
 --uid N  --gid N  --allow-root  --no-seccomp  --workers 1  --max-body 1048576
 --help  --version
";

// The option names, by id: numeric options come first (id = index in `n`). One packed
// string rather than an array of slices (16 bytes of pointer and length per name).
const NAMES: &[u8] = b"max-conns buf-size header-timeout idle-timeout write-timeout grace workers \
max-body uid gid listen root log header health spa hidden no-seccomp allow-root help version";

/// Defaults of the numeric options.
const DEFAULTS: [u64; NUMS] = [1024, 4096, 10, 60, 30, 10, 1, 1 << 20, UNSET, UNSET];

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
const HEADER: usize = 13;
pub const SPA: usize = 15;
pub const HIDDEN: usize = 16;
/// --no-seccomp: no syscall filter (debugging, or a kernel/emulator without seccomp).
pub const NO_SECCOMP: usize = 17;
/// --allow-root: serve with euid 0 (refused otherwise).
pub const ALLOW_ROOT: usize = 18;
const HELP: usize = 19;

pub fn err_line(parts: &[&[u8]]) {
    let mut b = [0u8; 512];
    let mut w = W::new(&mut b);
    w.put(b"mote-httpd: ");
    for p in parts {
        w.put(p);
    }
    w.len = w.len.min(500);
    w.full = false;
    w.put(b"\n");
    sys::write(2, w.done());
}

impl Config {
    pub fn new() -> Self {
        Config {
            v6: false,
            addr: [0; 16],
            port: 8080,
            root: b"/www",
            n: DEFAULTS,
            log: LogMode::Clf,
            extra: [0; EXTRA_MAX],
            extra_len: 0,
            health: b"/healthz",
            flag: [false; 4],
        }
    }
}

/// Parses the environment, then the command line, into `c` (which starts with the
/// defaults). Ok(()) to run, Err(exit code) after printing.
pub fn parse(c: &mut Config) -> Result<(), i32> {
    // Environment first: MOTE_ + the flag name in upper case, '-' as '_'.
    let mut e = 0;
    while let Some(kv) = sys::env_at(e) {
        e += 1;
        let Some(rest) = kv.strip_prefix(b"MOTE_") else { continue };
        let eq = find(rest, b'=');
        let (key, v) = (sub(rest, 0, eq), sub(rest, eq + 1, usize::MAX));
        // MAX_CONNS -> max-conns; anything but upper case and '_' matches no name.
        let mut kb = [0u8; 16];
        for (d, &k) in kb.iter_mut().zip(key) {
            *d = match k {
                b'A'..=b'Z' => k | 0x20,
                b'_' => b'-',
                _ => 0,
            };
        }
        let key = if key.len() <= kb.len() { sub(&kb, 0, key.len()) } else { b"" };
        let Some(id) = word(key, NAMES).filter(|&id| id < HELP) else { continue };
        let ok = match id {
            SPA..=ALLOW_ROOT => match word(v, b"1 true 0 false ") {
                Some(i) => i > 1 || set(c, id, b""),
                None => false,
            },
            // One header per line.
            HEADER => v.split(|&b| b == b'\n').all(|h| h.is_empty() || set(c, id, h)),
            _ => set(c, id, v),
        };
        if !ok {
            err_line(&[b"bad value in environment: ", kv]);
            return Err(2);
        }
    }
    // Then the command line: --name VALUE or --name=VALUE.
    let mut i = 1;
    while let Some(a) = sys::arg(i) {
        i += 1;
        let p = find(a, b'=');
        let (flag, inline) = (sub(a, 0, p), if p < a.len() { Some(sub(a, p + 1, usize::MAX)) } else { None });
        let Some(id) = flag.strip_prefix(b"--").and_then(|f| word(f, NAMES)) else {
            err_line(&[b"unknown flag: ", a, b" (see --help)"]);
            return Err(2);
        };
        if id >= HELP {
            sys::write(1, if id == HELP { USAGE } else { concat!("mote-httpd ", env!("CARGO_PKG_VERSION"), "\n").as_bytes() });
            return Err(0);
        }
        let v = match (id, inline) {
            (SPA..=ALLOW_ROOT, None) => &b""[..],
            (_, Some(v)) => v, // a flag without value refuses a non-empty one in set()
            _ => {
                i += 1;
                sys::arg(i - 1).unwrap_or(b"")
            }
        };
        if !set(c, id, v) {
            err_line(&[b"bad or missing value for ", flag, b": '", v, b"'"]);
            return Err(2);
        }
    }
    Ok(())
}

/// Sets option `id` from `v`; false when the value is refused.
fn set(c: &mut Config, id: usize, v: &'static [u8]) -> bool {
    if let (Some(slot), Some(&(lo, hi))) = (c.n.get_mut(id), LIMITS.get(id)) {
        return num(v, lo as u64, if hi == u32::MAX { u64::MAX } else { hi as u64 }, slot);
    }
    match id {
        10 => parse_listen(c, v),
        11 => {
            c.root = v;
            !v.is_empty()
        }
        12 => match word(v, b"clf json off") {
            Some(i) => {
                c.log = [LogMode::Clf, LogMode::Json, LogMode::Off][i % 3];
                true
            }
            None => false,
        },
        HEADER => add_header(c, v),
        14 => {
            let off = word(v, b"off").is_some();
            c.health = if off { b"" } else { v };
            off || v.first() == Some(&b'/')
        }
        _ => {
            if let Some(f) = c.flag.get_mut(id.wrapping_sub(SPA)) {
                *f = true;
            }
            v.is_empty()
        }
    }
}

/// Index of `v` in `words` (separated by single spaces; a trailing space adds "").
#[inline(never)]
fn word(v: &[u8], words: &[u8]) -> Option<usize> {
    words.split(|&b| b == b' ').position(|w| w == v)
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

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', r @ ..] = s {
        s = r;
    }
    while let [r @ .., b' ' | b'\t'] = s {
        s = r;
    }
    s
}

fn num(v: &[u8], lo: u64, hi: u64, out: &mut u64) -> bool {
    match parse_u64(v) {
        Some(n) if n >= lo && n <= hi => {
            *out = n;
            true
        }
        _ => false,
    }
}

fn parse_listen(c: &mut Config, v: &[u8]) -> bool {
    let Some(colon) = v.iter().rposition(|&b| b == b':') else { return false };
    let (host, port) = (sub(v, 0, colon), sub(v, colon + 1, usize::MAX));
    let mut p = 0;
    if !num(port, 0, 65535, &mut p) {
        return false;
    }
    c.port = p as u16;
    let mut g = [0u16; 8];
    c.v6 = host.first() == Some(&b'[');
    let ok = if let Some(h) = host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")) {
        // Hex groups with at most one "::" (no embedded IPv4 form).
        match h.windows(2).position(|w| w == b"::") {
            None => fields(h, b':', 16, &mut g) == Some(8),
            Some(p) => {
                let mut tail = [0u16; 8];
                match (fields(sub(h, 0, p), b':', 16, &mut g), fields(sub(h, p + 2, usize::MAX), b':', 16, &mut tail)) {
                    (Some(nl), Some(nr)) if nl + nr <= 7 => {
                        for (d, s) in g.iter_mut().skip(8 - nr).zip(&tail) {
                            *d = *s;
                        }
                        true
                    }
                    _ => false,
                }
            }
        }
    } else {
        // Dotted quad, or empty for 0.0.0.0: one byte per group.
        host.is_empty() || (fields(host, b'.', 10, &mut g) == Some(4) && g.iter().all(|&x| x < 256))
    };
    for (k, v) in g.iter().enumerate() {
        if c.v6 {
            c.addr[(2 * k) & 15] = (v >> 8) as u8;
            c.addr[(2 * k + 1) & 15] = *v as u8;
        } else {
            c.addr[k & 15] = *v as u8;
        }
    }
    ok
}

/// Numbers in `radix` (1 to 4 digits, 3 for decimal) separated by `sep` into `out`:
/// how many, or None for an empty, long or bad field or too many fields.
fn fields(s: &[u8], sep: u8, radix: u32, out: &mut [u16; 8]) -> Option<usize> {
    if s.is_empty() {
        return Some(0);
    }
    let mut n = 0;
    for part in s.split(|&b| b == sep) {
        if part.is_empty() || part.len() > 4 - (radix == 10) as usize {
            return None;
        }
        let mut v = 0u32;
        for &ch in part {
            v = v * radix + (ch as char).to_digit(radix)?;
        }
        *out.get_mut(n)? = v as u16;
        n += 1;
    }
    Some(n)
}
