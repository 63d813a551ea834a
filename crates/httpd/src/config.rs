//! Configuration from flags, each also settable by an environment variable
//! (`--max-conns` ⇔ `MOTE_MAX_CONNS`). Flags win over the environment.
//! A bad flag or value prints one line naming it on stderr; the process exits with 2.

use crate::num::{parse_u64, W};
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
    pub spa: bool,
    pub hidden: bool,
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
    #[inline(never)]
    pub fn extra(&self) -> &[u8] {
        self.extra.get(..self.extra_len).unwrap_or(&[])
    }
}

const USAGE: &[u8] = b"usage: mote-httpd [--flag value]... (or env MOTE_FLAG_NAME=value)
 --listen 0.0.0.0:8080|[::]:8080  --root /www  --max-conns 1024  --buf-size 4096
 --header-timeout 10  --idle-timeout 60  --write-timeout 30  --grace 10 (seconds)
 --log clf|json|off  --header 'Name: value'...  --health /healthz|off  --spa  --hidden
 --uid N  --gid N  --workers 1  --max-body 1048576  --help  --version
";

// The index in this table is the option id; numeric options come first (id = index in n).
const NAMES: [&[u8]; 19] = [
    b"max-conns", b"buf-size", b"header-timeout", b"idle-timeout", b"write-timeout",
    b"grace", b"workers", b"max-body", b"uid", b"gid", b"listen", b"root", b"log",
    b"header", b"health", b"spa", b"hidden", b"help", b"version",
];
const LIMITS: [(u64, u64); NUMS] = [
    (1, 1 << 20),
    (1024, 1 << 20),
    (1, 86400),
    (1, 86400),
    (1, 86400),
    (0, 86400),
    (1, 256),
    (0, u64::MAX),
    (0, u32::MAX as u64 - 1),
    (0, u32::MAX as u64 - 1),
];
const HEADER: usize = 13;
const SPA: usize = 15;
const HIDDEN: usize = 16;
const HELP: usize = 17;

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

/// Parses the environment, then the command line. Err(exit code) after printing.
pub fn parse() -> Result<Config, i32> {
    let mut c = Config {
        v6: false,
        addr: [0; 16],
        port: 8080,
        root: b"/www",
        n: [1024, 4096, 10, 60, 30, 10, 1, 1 << 20, UNSET, UNSET],
        log: LogMode::Clf,
        extra: [0; EXTRA_MAX],
        extra_len: 0,
        health: b"/healthz",
        spa: false,
        hidden: false,
    };
    // Environment first: MOTE_ + the flag name in upper case, '-' as '_'.
    for (id, name) in NAMES.iter().enumerate().take(HELP) {
        let mut eb = [0u8; 32];
        let mut en = W::new(&mut eb);
        en.put(b"MOTE_");
        for &ch in name.iter() {
            en.byte(if ch == b'-' { b'_' } else { ch.to_ascii_uppercase() });
        }
        let Some(v) = sys::env(en.done()) else { continue };
        let ok = match (id, v) {
            (SPA | HIDDEN, b"1" | b"true") => set(&mut c, id, v),
            (SPA | HIDDEN, b"0" | b"false" | b"") => true,
            (SPA | HIDDEN, _) => false,
            // One header per line.
            (HEADER, _) => v.split(|&b| b == b'\n').all(|h| h.is_empty() || set(&mut c, id, h)),
            _ => set(&mut c, id, v),
        };
        if !ok {
            err_line(&[b"bad value in environment: ", en.done(), b"=", v]);
            return Err(2);
        }
    }
    // Then the command line: --name VALUE or --name=VALUE.
    let mut i = 1;
    while let Some(a) = sys::arg(i) {
        i += 1;
        let (flag, inline) = match a.iter().position(|&b| b == b'=') {
            Some(p) => (a.get(..p).unwrap_or(a), a.get(p + 1..)),
            None => (a, None),
        };
        let Some(id) = flag.strip_prefix(b"--").and_then(|n| NAMES.iter().position(|&x| x == n)) else {
            err_line(&[b"unknown flag: ", a, b" (see --help)"]);
            return Err(2);
        };
        if id >= HELP {
            let text: &[u8] = if id == HELP { USAGE } else { concat!("mote-httpd ", env!("CARGO_PKG_VERSION"), "\n").as_bytes() };
            sys::write(1, text);
            return Err(0);
        }
        let v = match (id, inline) {
            (SPA | HIDDEN, None) => &b""[..],
            (_, Some(v)) => v, // a flag without value refuses a non-empty one in set()
            _ => {
                i += 1;
                sys::arg(i - 1).unwrap_or(b"")
            }
        };
        if !set(&mut c, id, v) {
            err_line(&[b"bad or missing value for ", flag, b": '", v, b"'"]);
            return Err(2);
        }
    }
    Ok(c)
}

fn set(c: &mut Config, id: usize, v: &'static [u8]) -> bool {
    if let (Some(slot), Some(&(lo, hi))) = (c.n.get_mut(id), LIMITS.get(id)) {
        return match parse_u64(v) {
            Some(x) if x >= lo && x <= hi => {
                *slot = x;
                true
            }
            _ => false,
        };
    }
    match id {
        10 => parse_listen(c, v),
        11 => {
            c.root = v;
            !v.is_empty()
        }
        12 => {
            c.log = match v {
                b"clf" => LogMode::Clf,
                b"json" => LogMode::Json,
                b"off" => LogMode::Off,
                _ => return false,
            };
            true
        }
        HEADER => add_header(c, v),
        14 => {
            c.health = if v == b"off" { b"" } else { v };
            v == b"off" || v.first() == Some(&b'/')
        }
        SPA => {
            c.spa = true;
            v.is_empty()
        }
        _ => {
            c.hidden = true;
            v.is_empty()
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `Name: value` → `Name: value\r\n` appended to the extra headers.
fn add_header(c: &mut Config, v: &[u8]) -> bool {
    let Some(colon) = v.iter().position(|&b| b == b':') else { return false };
    let (name, rest) = (v.get(..colon).unwrap_or(&[]), v.get(colon + 1..).unwrap_or(&[]));
    let value = trim(rest);
    if name.is_empty()
        || !name.iter().all(|&b| is_tchar(b))
        || !value.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
    {
        return false;
    }
    let extra_len = c.extra_len;
    let mut w = W::new(c.extra.get_mut(extra_len..).unwrap_or(&mut []));
    w.put(name).put(b": ").put(value).put(b"\r\n");
    if w.full {
        return false;
    }
    c.extra_len += w.len;
    true
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
    let (host, port) = (v.get(..colon).unwrap_or(&[]), v.get(colon + 1..).unwrap_or(&[]));
    let mut p = 0;
    if !num(port, 0, 65535, &mut p) {
        return false;
    }
    c.port = p as u16;
    c.addr = [0; 16];
    if let Some(h) = host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")) {
        c.v6 = true;
        parse_v6(h, &mut c.addr)
    } else {
        c.v6 = false;
        host.is_empty() || parse_v4(host, &mut c.addr)
    }
}

fn parse_v4(s: &[u8], out: &mut [u8; 16]) -> bool {
    let mut n = 0;
    for (i, part) in s.split(|&b| b == b'.').enumerate() {
        let mut x = 0;
        if i >= 4 || part.len() > 3 || !num(part, 0, 255, &mut x) {
            return false;
        }
        out[i & 3] = x as u8;
        n = i + 1;
    }
    n == 4
}

/// Hex groups separated by ':' with at most one '::'. (No embedded IPv4 form.)
fn parse_v6(s: &[u8], out: &mut [u8; 16]) -> bool {
    let mut g = [0u16; 8];
    let (left, right) = match s.windows(2).position(|w| w == b"::") {
        Some(p) => (s.get(..p).unwrap_or(&[]), Some(s.get(p + 2..).unwrap_or(&[]))),
        None => (s, None),
    };
    let Some(nl) = groups(left, &mut g, 0) else { return false };
    match right {
        None if nl != 8 => return false,
        None => {}
        Some(r) => {
            let mut tail = [0u16; 8];
            let Some(nr) = groups(r, &mut tail, 0) else { return false };
            if nl + nr > 7 {
                return false;
            }
            for k in 0..nr {
                g[(8 - nr + k) & 7] = tail[k & 7];
            }
        }
    }
    for (k, v) in g.iter().enumerate() {
        out[(2 * k) & 15] = (v >> 8) as u8;
        out[(2 * k + 1) & 15] = *v as u8;
    }
    true
}

fn groups(s: &[u8], g: &mut [u16; 8], mut n: usize) -> Option<usize> {
    if s.is_empty() {
        return Some(n);
    }
    for part in s.split(|&b| b == b':') {
        if n >= 8 || part.is_empty() || part.len() > 4 {
            return None;
        }
        let mut v = 0u16;
        for &ch in part {
            let d = (ch as char).to_digit(16)? as u16;
            v = (v << 4) | d;
        }
        g[n & 7] = v;
        n += 1;
    }
    Some(n)
}
