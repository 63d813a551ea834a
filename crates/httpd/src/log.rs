//! Access log: one line per request, collected in a buffer and written to stdout once
//! per event-loop turn (or when the buffer is full), never one syscall per request.
//! Common Log Format by default, JSON lines with `--log json`.

use crate::config::LogMode;
use crate::num::W;
use crate::sys;

/// Wall-clock strings, recomputed at most once per second.
pub struct Clock {
    pub mono: u64,
    pub unix: u64,
    /// `Date: <IMF-fixdate>\r\n`
    pub date_line: [u8; 37],
    /// `26/Nov/2026:17:00:00 +0000`
    clf: [u8; 26],
    /// `2026-11-26T17:00:00Z`
    iso: [u8; 20],
}

const MONTHS: &[u8; 36] = b"JanFebMarAprMayJunJulAugSepOctNovDec";

/// The clock strings are built from one 32-byte source: the IMF-fixdate
/// ("Thu, 26 Nov 2026 17:00:00 GMT", bytes 0..29) and the two month digits (29, 30).
/// In a template each placeholder takes the next byte of its field: `1` day, `2` month
/// name, `3` month digits, `4` year, `5` time, `@` the whole date; other bytes are
/// literal (no template has a literal 1-5 or @). Size trade: one copy loop over three small tables instead of a
/// chain of formatting calls per string.
const fn template<const N: usize>(t: &[u8; N]) -> [u8; N] {
    let mut out = *t;
    // next source byte per field: 1, 2, 3, 4, 5, @
    let mut next = [5u8, 8, 29, 12, 17, 0];
    let mut i = 0;
    while i < N {
        let f = match t[i] {
            b'1' => 0,
            b'2' => 1,
            b'3' => 2,
            b'4' => 3,
            b'5' => 4,
            b'@' => 5,
            _ => 6,
        };
        if f < 6 {
            out[i] = 0x80 | next[f];
            next[f] += 1;
        }
        i += 1;
    }
    out
}

const DATE_LINE: [u8; 37] = template(b"Date: @@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n");
const CLF: [u8; 26] = template(b"11/222/4444:55555555 +0000");
const ISO: [u8; 20] = template(b"4444-33-11T55555555Z");

/// Fills `dst` from template `t` (see `template`) and the source bytes.
fn fill(dst: &mut [u8], t: &[u8], src: &[u8; 32]) {
    for (d, &m) in dst.iter_mut().zip(t) {
        *d = if m & 0x80 != 0 { src[(m & 31) as usize] } else { m };
    }
}

impl Clock {
    pub fn new() -> Self {
        // Filled by the first `tick`, which the event loop makes before it uses the clock
        // (no clock_gettime at start-up).
        Clock { mono: 0, unix: u64::MAX, date_line: [0; 37], clf: [0; 26], iso: [0; 20] }
    }

    /// Reads the monotonic clock; refreshes the wall-clock strings when a second passed.
    pub fn tick(&mut self) {
        let m = sys::clock_secs(true);
        if m == self.mono && self.unix != u64::MAX {
            return;
        }
        self.mono = m;
        let u = sys::clock_secs(false);
        if u == self.unix {
            return;
        }
        self.unix = u;
        let mut src = [0u8; 32];
        let (imf, rest) = src.split_at_mut(mote_http::date::IMF_LEN);
        if let Ok(imf) = <&mut [u8; mote_http::date::IMF_LEN]>::try_from(imf) {
            mote_http::date::format(u, imf);
            let mon = MONTHS.chunks_exact(3).position(|m| m == &imf[8..11]).unwrap_or(0) as u8 + 1;
            rest[0] = b'0' + mon / 10;
            rest[1] = b'0' + mon % 10;
        }
        fill(&mut self.date_line, &DATE_LINE, &src);
        fill(&mut self.clf, &CLF, &src);
        fill(&mut self.iso, &ISO, &src);
    }
}

/// The client address: IPv4 in the first 4 bytes unless `v6`.
#[derive(Clone, Copy)]
pub struct Peer {
    pub v6: bool,
    pub addr: [u8; 16],
}

impl Peer {
    pub fn write(&self, w: &mut W) {
        let a = &self.addr;
        if !self.v6 {
            for i in 0..4 {
                if i > 0 {
                    w.byte(b'.');
                }
                w.dec(a[i] as u64);
            }
            return;
        }
        let g = |i: usize| u16::from_be_bytes([a[(2 * i) & 15], a[(2 * i + 1) & 15]]) as u64;
        // The longest run of two or more zero groups becomes "::" (RFC 5952).
        let (mut best, mut best_len, mut run) = (8, 1, 0);
        for i in 0..8 {
            run = if g(i) == 0 { run + 1 } else { 0 };
            if run > best_len {
                best_len = run;
                best = i + 1 - run;
            }
        }
        let mut i = 0;
        while i < 8 {
            if i == best {
                w.put(b"::");
                i += best_len;
                continue;
            }
            if i > 0 && i != best + best_len {
                w.byte(b':');
            }
            // Hex without leading zeros.
            let v = g(i);
            let digits = ((67 - v.leading_zeros()) / 4).max(1);
            w.hex(v, digits);
            i += 1;
        }
    }
}

pub struct Log<'a> {
    pub mode: LogMode,
    buf: &'a mut [u8],
    len: usize,
}

/// The line formats: bytes 1-8 stand for the fields, the rest is literal. 1 client
/// address, 2 time, 3 method, 4 target, 5 protocol, 6 status, 7 body bytes (`-` for none
/// in CLF), 8: skip the next 4 template bytes when there is no target (CLF prints the
/// bare `-` of a request without a request line).
const CLF_LINE: &[u8] = b"\x01 - - [\x02] \"\x03\x08 \x04 \x05\" \x06 \x07\n";
const JSON_LINE: &[u8] = b"{\"time\":\"\x02\",\"remote\":\"\x01\",\"method\":\"\x03\",\"target\":\"\x04\",\"protocol\":\"\x05\",\"status\":\x06,\"bytes\":\x07}\n";

/// Longest line we format (a request target is cut at this length, marked with "...").
const LINE_MAX: usize = 2048;

impl<'a> Log<'a> {
    pub fn new(mode: LogMode, buf: &'a mut [u8]) -> Self {
        Log { mode, buf, len: 0 }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn line(&mut self, clock: &Clock, peer: &Peer, method: &[u8], target: &[u8], version: &[u8], status: u16, bytes: u64) {
        if self.mode == LogMode::Off {
            return;
        }
        if self.len + LINE_MAX > self.buf.len() {
            self.flush();
        }
        let json = self.mode == LogMode::Json;
        let mut w = W::new(self.buf.get_mut(self.len..).unwrap_or(&mut []));
        let target = target.get(..LINE_MAX - 300).unwrap_or(target);
        // Both formats are one template each (see `CLF_LINE`): one loop instead of a
        // chain of calls per format.
        let mut skip = 0;
        // Fields 2-5 (time, method, target, protocol) all go through `esc`, one call site
        // (the time and the protocol never hold a byte it would change).
        let strs: [&[u8]; 4] = [if json { &clock.iso[..] } else { &clock.clf[..] }, method, target, version];
        for &t in if json { JSON_LINE } else { CLF_LINE } {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            match t {
                1 => peer.write(&mut w),
                2..=5 => esc(&mut w, strs[t as usize - 2], json),
                6 => {
                    w.dec(status as u64);
                }
                7 if bytes == 0 && !json => {
                    w.byte(b'-');
                }
                7 => {
                    w.dec(bytes);
                }
                8 if target.is_empty() => skip = 4,
                8 => {}
                _ => {
                    w.byte(t);
                }
            }
        }
        if !w.full {
            self.len += w.len;
        }
    }

    pub fn flush(&mut self) {
        let mut done = 0;
        while done < self.len {
            match sys::write(1, self.buf.get(done..self.len).unwrap_or(&[])) {
                n if n > 0 => done += n as usize,
                n if n == -sys::EINTR => {}
                _ => break, // stdout gone or broken: drop the lines, keep serving
            }
        }
        self.len = 0;
    }
}

/// Escapes bytes for a quoted log field: `"`, `\`, controls and non-ASCII become
/// `\xHH` (CLF, as Apache does) or `\u00HH` (JSON).
fn esc(w: &mut W, s: &[u8], json: bool) {
    for &b in s {
        if b < 0x20 || b >= 0x7f || b == b'"' || b == b'\\' {
            w.put(if json { b"\\u00" } else { b"\\x" }).hex(b as u64, 2);
        } else {
            w.byte(b);
        }
    }
}
