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
    pub max_conns: u64,
    pub buf_size: u64,
    pub header_timeout: u64,
    pub idle_timeout: u64,
    pub write_timeout: u64,
    pub grace: u64,
    pub log: LogMode,
    /// Extra response headers, pre-formatted `Name: value\r\n` lines.
    pub extra: [u8; EXTRA_MAX],
    pub extra_len: usize,
    pub health: &'static [u8],
    pub spa: bool,
    pub hidden: bool,
    pub uid: Option<u64>,
    pub gid: Option<u64>,
    pub workers: u64,
    pub max_body: u64,
}

impl Config {
    pub fn extra(&self) -> &[u8] {
        self.extra.get(..self.extra_len).unwrap_or(&[])
    }
}

const USAGE: &[u8] = b"usage: mote-httpd [flags]   (each flag FOO-BAR also from env MOTE_FOO_BAR)
 --listen ADDR:PORT   0.0.0.0:8080; [::]:8080 for IPv6
 --root DIR           /www
 --max-conns N        1024 connection slots
 --buf-size BYTES     4096 request head buffer per connection
 --header-timeout S   10   --idle-timeout S 60   --write-timeout S 30   --grace S 10
 --log clf|json|off   access log on stdout (clf)
 --header 'N: v'      extra response header, repeatable (env: one per line)
 --health PATH        /healthz answers 200 ok; 'off' disables
 --spa                serve /index.html for missing paths without an extension
 --hidden             serve dot files
 --uid N --gid N      drop privileges after binding
 --workers N          1 process per worker
 --max-body BYTES     1048576 request body read and discarded
 --help --version
";

// Option kinds: index into this table is the option id.
const NAMES: [&[u8]; 19] = [
    b"listen", b"root", b"max-conns", b"buf-size", b"header-timeout", b"idle-timeout",
    b"write-timeout", b"grace", b"log", b"header", b"health", b"spa", b"hidden", b"uid",
    b"gid", b"workers", b"max-body", b"help", b"version",
];
const SPA: usize = 11;
const HIDDEN: usize = 12;
const HELP: usize = 17;
const VERSION: usize = 18;

pub fn err_line(parts: &[&[u8]]) {
    let mut b = [0u8; 512];
    let mut w = W::new(&mut b);
    w.put(b"mote-httpd: ");
    for p in parts {
        w.put(p);
    }
    if w.full {
        w.len = 500;
        w.full = false;
        w.put(b"...");
    }
    w.put(b"\n");
    let _ = rustix::io::write(sys::borrow(2), w.done());
}

/// Parses the environment, then the command line. Err(exit code) after printing.
pub fn parse() -> Result<Config, i32> {
    let mut c = Config {
        v6: false,
        addr: [0; 16],
        port: 8080,
        root: b"/www",
        max_conns: 1024,
        buf_size: 4096,
        header_timeout: 10,
        idle_timeout: 60,
        write_timeout: 30,
        grace: 10,
        log: LogMode::Clf,
        extra: [0; EXTRA_MAX],
        extra_len: 0,
        health: b"/healthz",
        spa: false,
        hidden: false,
        uid: None,
        gid: None,
        workers: 1,
        max_body: 1 << 20,
    };
    // Environment first.
    for (id, name) in NAMES.iter().enumerate() {
        if id >= HELP {
            break;
        }
        let mut eb = [0u8; 32];
        let mut en = W::new(&mut eb);
        en.put(b"MOTE_");
        for &ch in name.iter() {
            en.byte(if ch == b'-' { b'_' } else { ch.to_ascii_uppercase() });
        }
        let Some(v) = sys::env(en.done()) else { continue };
        let ok = if id == SPA || id == HIDDEN {
            match v {
                b"1" | b"true" | b"yes" | b"on" => set(&mut c, id, b""),
                b"0" | b"false" | b"no" | b"off" | b"" => true,
                _ => false,
            }
        } else if id == 9 {
            v.split(|&b| b == b'\n').all(|h| h.is_empty() || set(&mut c, id, h))
        } else {
            set(&mut c, id, v)
        };
        if !ok {
            err_line(&[b"bad value in environment ", en.done(), b": '", v, b"'"]);
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
        let id = flag
            .strip_prefix(b"--")
            .and_then(|n| NAMES.iter().position(|&x| x == n));
        let Some(id) = id else {
            err_line(&[b"unknown flag: ", a, b" (see --help)"]);
            return Err(2);
        };
        if id == HELP {
            let _ = rustix::io::write(sys::borrow(1), USAGE);
            return Err(0);
        }
        if id == VERSION {
            let _ = rustix::io::write(sys::borrow(1), concat!("mote-httpd ", env!("CARGO_PKG_VERSION"), "\n").as_bytes());
            return Err(0);
        }
        let v = if id == SPA || id == HIDDEN {
            if inline.is_some() {
                err_line(&[b"flag takes no value: ", a]);
                return Err(2);
            }
            &b""[..]
        } else if let Some(v) = inline {
            v
        } else if let Some(v) = sys::arg(i) {
            i += 1;
            v
        } else {
            err_line(&[b"missing value for ", a]);
            return Err(2);
        };
        if !set(&mut c, id, v) {
            err_line(&[b"bad value for ", flag, b": '", v, b"'"]);
            return Err(2);
        }
    }
    Ok(c)
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

fn set(c: &mut Config, id: usize, v: &'static [u8]) -> bool {
    match id {
        0 => parse_listen(c, v),
        1 => {
            c.root = v;
            !v.is_empty()
        }
        2 => num(v, 1, 1 << 20, &mut c.max_conns),
        3 => num(v, 1024, 1 << 20, &mut c.buf_size),
        4 => num(v, 1, 86400, &mut c.header_timeout),
        5 => num(v, 1, 86400, &mut c.idle_timeout),
        6 => num(v, 1, 86400, &mut c.write_timeout),
        7 => num(v, 0, 86400, &mut c.grace),
        8 => {
            c.log = match v {
                b"clf" => LogMode::Clf,
                b"json" => LogMode::Json,
                b"off" => LogMode::Off,
                _ => return false,
            };
            true
        }
        9 => add_header(c, v),
        10 => {
            c.health = if v == b"off" { b"" } else { v };
            v == b"off" || v.first() == Some(&b'/')
        }
        SPA => {
            c.spa = true;
            true
        }
        HIDDEN => {
            c.hidden = true;
            true
        }
        13 | 14 => {
            let mut n = 0;
            let ok = num(v, 0, u32::MAX as u64 - 1, &mut n);
            if id == 13 {
                c.uid = Some(n);
            } else {
                c.gid = Some(n);
            }
            ok
        }
        15 => num(v, 1, 256, &mut c.workers),
        _ => num(v, 0, u64::MAX, &mut c.max_body),
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
