//! Fuzzes the whole request path of mote-http on one input: parse the head,
//! skip the body, and run every decision helper on the parsed fields,
//! checking the invariants the server relies on. Any panic is a bug: the
//! server runs with panic=abort as PID 1.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mote_http::cond::{evaluate, Outcome};
use mote_http::encoding::negotiate;
use mote_http::path::{has_hidden_segment, normalize};
use mote_http::range::{decide, RangeDecision};
use mote_http::{
    date, mime, parse_request, status_for_full_buffer, BodySkipper, HeadWriter, Header, Parsed,
};

/// Header array size: small, so that 431 is reached too.
const HEADERS: usize = 12;

fn within(buf: &[u8], s: &[u8]) -> bool {
    let (b, p) = (buf.as_ptr() as usize, s.as_ptr() as usize);
    p >= b && p + s.len() <= b + buf.len()
}

fn parse_again(buf: &[u8]) -> Option<usize> {
    let mut h = [Header::default(); HEADERS];
    match parse_request(buf, &mut h) {
        Ok(Parsed::Complete(r)) => Some(r.head_len),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut headers = [Header::default(); HEADERS];
    let req = match parse_request(data, &mut headers) {
        Ok(Parsed::Complete(r)) => r,
        Ok(Parsed::Partial) => {
            let s = status_for_full_buffer(data);
            assert!(s == 414 || s == 431);
            return;
        }
        Err(e) => {
            assert!(matches!(e.status, 400 | 414 | 431 | 501 | 505), "{e:?}");
            assert!(!e.reason.is_empty());
            return;
        }
    };

    // Head invariants.
    assert!(req.head_len <= data.len());
    assert!(data[..req.head_len].ends_with(b"\r\n\r\n"));
    assert!(within(data, req.method_raw) && within(data, req.target));
    assert!(within(data, req.path) || req.path == b"/");
    assert!(req.query.map_or(true, |q| within(data, q)));
    assert!(req.host.map_or(true, |h| within(data, h)));
    for h in req.headers {
        assert!(within(data, h.name) && within(data, h.value) && !h.name.is_empty());
    }
    // The head alone parses to the same length: nothing after it was read.
    assert_eq!(parse_again(&data[..req.head_len]), Some(req.head_len));
    // A prefix of a complete head is never complete.
    assert_eq!(parse_again(&data[..req.head_len - 1]), None);

    // Body: whole and byte-by-byte agree.
    let rest = &data[req.head_len..];
    let whole = BodySkipper::new(req.body).feed(rest);
    let mut skip = BodySkipper::new(req.body);
    let mut used = 0;
    let mut bytewise = Ok((0, false));
    for b in rest {
        match skip.feed(core::slice::from_ref(b)) {
            Ok((n, done)) => {
                used += n;
                bytewise = Ok((used, done));
                if done {
                    break;
                }
            }
            Err(e) => {
                bytewise = Err(e);
                break;
            }
        }
    }
    match (whole, bytewise) {
        (Ok(a), Ok(b)) => {
            assert!(a.0 <= rest.len());
            if !rest.is_empty() {
                assert_eq!(a, b);
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("body verdicts differ: {a:?} vs {b:?}"),
    }

    // Path.
    let mut out = [0u8; 4096];
    if let Ok(p) = normalize(req.path, &mut out[..req.path.len().min(4096)]) {
        assert_eq!(p.first(), Some(&b'/'));
        assert!(!p.windows(4).any(|w| w == b"/../") && !p.windows(3).any(|w| w == b"/./"));
        assert!(!p.ends_with(b"/..") && !p.ends_with(b"/."));
        let _ = has_hidden_segment(p);
        let _ = mime::from_path(p);
    }

    // Range against a length taken from the input.
    let len = data.len() as u64 * 7;
    if let Some(v) = req.header(b"range") {
        if let RangeDecision::Partial { start, end } = decide(v, len) {
            assert!(start <= end && end < len);
        }
    }

    // Conditionals.
    let etag: &[u8] = req.header(b"x-etag").unwrap_or(b"\"abc\"");
    if evaluate(&req, etag, len) == Outcome::NotModified {
        assert!(req.method.is_get_or_head());
    }

    // Encodings.
    let avail = data.first().copied().unwrap_or(0) & 7;
    if let Some(e) = negotiate(req.header(b"accept-encoding").unwrap_or(b""), avail) {
        assert!(avail & e.bit() != 0);
    }

    // Dates: whatever parses formats back to itself.
    for h in req.headers {
        if let Some(t) = date::parse(h.value) {
            if t <= date::MAX_UNIX {
                let mut d = [0u8; date::IMF_LEN];
                date::format(t, &mut d);
                assert_eq!(date::parse(&d), Some(t));
            }
        }
    }

    // Writing the fields back: either fits exactly or fails, never panics.
    let mut buf = [0u8; 512];
    let mut w = HeadWriter::new(&mut buf, 200);
    for h in req.headers {
        w.header(h.name, h.value);
    }
    if let Ok(n) = w.finish() {
        assert!(n <= 512 && buf[..n].ends_with(b"\r\n\r\n"));
    }
});
