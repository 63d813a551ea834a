//! Property tests: round trips, totality on arbitrary bytes, incremental
//! parsing consistency, dates and path normalization invariants.

use mote_http::cond::{evaluate, Outcome};
use mote_http::path::normalize;
use mote_http::range::{decide, RangeDecision};
use mote_http::{
    date, encoding, parse_request, Body, BodySkipper, Error, HeadWriter, Header, Method, Parsed,
    Request, Version,
};
use proptest::prelude::*;

const N: usize = 8;

/// Owned copy of a parse result, so results from different buffers compare.
#[derive(Debug, PartialEq)]
enum Owned {
    Complete {
        method: Method,
        method_raw: Vec<u8>,
        target: Vec<u8>,
        path: Vec<u8>,
        query: Option<Vec<u8>>,
        version: Version,
        host: Option<Vec<u8>>,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: Body,
        keep_alive: bool,
        head_len: usize,
    },
    Partial,
    Err(Error),
}

fn owned(r: &Request) -> Owned {
    Owned::Complete {
        method: r.method,
        method_raw: r.method_raw.to_vec(),
        target: r.target.to_vec(),
        path: r.path.to_vec(),
        query: r.query.map(<[u8]>::to_vec),
        version: r.version,
        host: r.host.map(<[u8]>::to_vec),
        headers: r
            .headers
            .iter()
            .map(|h| (h.name.to_vec(), h.value.to_vec()))
            .collect(),
        body: r.body,
        keep_alive: r.keep_alive,
        head_len: r.head_len,
    }
}

fn parse_owned(buf: &[u8]) -> Owned {
    let mut h = [Header::default(); N];
    match parse_request(buf, &mut h) {
        Ok(Parsed::Complete(r)) => owned(&r),
        Ok(Parsed::Partial) => Owned::Partial,
        Err(e) => Owned::Err(e),
    }
}

fn within(buf: &[u8], s: &[u8]) -> bool {
    let b = buf.as_ptr() as usize;
    let p = s.as_ptr() as usize;
    p >= b && p + s.len() <= b + buf.len()
}

// ---------------------------------------------------------------- generators

fn token() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}"
}

/// A field value: visible chars with inner spaces, no leading/trailing OWS.
fn field_value() -> impl Strategy<Value = String> {
    prop_oneof!["", "[!-~]", "[!-~][ -~\t]{0,20}[!-~]"]
}

fn path_segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~!$&'()*+,;=:@-]{0,10}"
}

#[derive(Debug, Clone)]
struct ValidHead {
    method: String,
    path: String,
    query: Option<String>,
    v10: bool,
    host: Option<String>,
    fields: Vec<(String, String)>,
    leading_crlf: usize,
}

impl ValidHead {
    fn bytes(&self) -> Vec<u8> {
        let mut s = "\r\n".repeat(self.leading_crlf);
        s.push_str(&self.method);
        s.push(' ');
        s.push_str(&self.path);
        if let Some(q) = &self.query {
            s.push('?');
            s.push_str(q);
        }
        s.push_str(if self.v10 {
            " HTTP/1.0\r\n"
        } else {
            " HTTP/1.1\r\n"
        });
        if let Some(h) = &self.host {
            s.push_str(&format!("Host: {h}\r\n"));
        }
        for (n, v) in &self.fields {
            s.push_str(&format!("{n}:{v}\r\n"));
        }
        s.push_str("\r\n");
        s.into_bytes()
    }
}

fn valid_head() -> impl Strategy<Value = ValidHead> {
    (
        prop_oneof![Just("GET".to_string()), Just("HEAD".to_string()), token()],
        prop::collection::vec(path_segment(), 0..5),
        prop::option::of("[A-Za-z0-9=&/?%:@-]{0,12}"),
        any::<bool>(),
        prop::option::of("[a-z0-9.-]{1,12}(:[0-9]{1,5})?"),
        // Names prefixed so they never collide with framing headers.
        prop::collection::vec(
            ("X-[A-Za-z0-9-]{0,8}", field_value(), 0..3usize),
            0..(N - 1),
        ),
        0..3usize,
    )
        .prop_map(|(method, segs, query, v10, host, fields, leading_crlf)| {
            let host = if v10 {
                host
            } else {
                Some(host.unwrap_or_else(|| "h".into()))
            };
            let fields = fields
                .into_iter()
                .map(|(n, v, pad)| (n, format!("{}{}{}", " ".repeat(pad), v, "\t".repeat(pad))))
                .collect();
            ValidHead {
                method: if method == "CONNECT" {
                    "GET".into()
                } else {
                    method
                },
                path: format!("/{}", segs.join("/")),
                query,
                v10,
                host,
                fields,
                leading_crlf,
            }
        })
}

/// Bytes that look like HTTP often enough to reach deep states.
fn httpish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"GET ".to_vec()),
        Just(b"/a/../b?x".to_vec()),
        Just(b" HTTP/1.1".to_vec()),
        Just(b" HTTP/1.0".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"Host: h".to_vec()),
        Just(b"Content-Length: 5".to_vec()),
        Just(b"Transfer-Encoding: chunked".to_vec()),
        Just(b"Connection: close".to_vec()),
        Just(b"http://h:1/p".to_vec()),
        Just(b": ".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

// ----------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// (1a) A request head built from valid components parses back to them.
    #[test]
    fn request_round_trip(h in valid_head()) {
        let buf = h.bytes();
        let mut arr = [Header::default(); N];
        let r = match parse_request(&buf, &mut arr) {
            Ok(Parsed::Complete(r)) => r,
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        prop_assert_eq!(r.method_raw, h.method.as_bytes());
        prop_assert_eq!(r.method, Method::from_bytes(h.method.as_bytes()));
        prop_assert_eq!(r.path, h.path.as_bytes());
        prop_assert_eq!(r.query, h.query.as_deref().map(str::as_bytes));
        prop_assert_eq!(r.version, if h.v10 { Version::Http10 } else { Version::Http11 });
        prop_assert_eq!(r.host, h.host.as_deref().map(str::as_bytes));
        prop_assert_eq!(r.body, Body::None);
        prop_assert_eq!(r.keep_alive, !h.v10);
        prop_assert_eq!(r.head_len, buf.len());
        let fields: Vec<_> = r.headers.iter().filter(|f| f.name != b"Host").collect();
        prop_assert_eq!(fields.len(), h.fields.len());
        for (got, (n, v)) in fields.iter().zip(&h.fields) {
            prop_assert_eq!(got.name, n.as_bytes());
            prop_assert_eq!(got.value, v.trim_matches([' ', '\t']).as_bytes());
        }
    }

    /// (1b) A response head from HeadWriter parses back (with a small
    /// independent parser) to the same status, fields and length.
    #[test]
    fn response_round_trip(
        status in 100u16..1000,
        fields in prop::collection::vec((token(), field_value()), 0..8),
        len in any::<u64>(),
        cap in 0usize..512,
    ) {
        let mut buf = vec![0u8; cap];
        let mut w = HeadWriter::new(&mut buf, status);
        for (n, v) in &fields {
            w.header(n.as_bytes(), v.as_bytes());
        }
        w.header_u64(b"Content-Length", len);
        let Ok(n) = w.finish() else {
            // Only a too-small buffer may fail: check the head needs more.
            let mut big = vec![0u8; 4096];
            let mut w = HeadWriter::new(&mut big, status);
            for (n, v) in &fields {
                w.header(n.as_bytes(), v.as_bytes());
            }
            w.header_u64(b"Content-Length", len);
            prop_assert!(w.finish().unwrap() > cap);
            return Ok(());
        };
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        prop_assert!(text.ends_with("\r\n\r\n"));
        let mut lines = text[..text.len() - 4].split("\r\n");
        let status_line = lines.next().unwrap();
        let expected = format!("HTTP/1.1 {} {}", status, mote_http::reason_phrase(status));
        prop_assert_eq!(status_line, expected.as_str());
        let parsed: Vec<(&str, &str)> = lines.map(|l| l.split_once(": ").unwrap()).collect();
        let mut want: Vec<(String, String)> = fields.clone();
        want.push(("Content-Length".into(), len.to_string()));
        prop_assert_eq!(parsed.len(), want.len());
        for ((pn, pv), (wn, wv)) in parsed.iter().zip(&want) {
            prop_assert_eq!(*pn, wn.as_str());
            prop_assert_eq!(*pv, wv.as_str());
        }
    }

    /// (2) Arbitrary bytes never panic; every returned slice is inside the
    /// buffer (or the static "/" path of an absolute-form target).
    #[test]
    fn arbitrary_bytes_are_safe(buf in prop_oneof![prop::collection::vec(any::<u8>(), 0..300), httpish()]) {
        let mut arr = [Header::default(); N];
        match parse_request(&buf, &mut arr) {
            Ok(Parsed::Complete(r)) => {
                prop_assert!(r.head_len <= buf.len());
                prop_assert!(r.head_len >= 4);
                prop_assert_eq!(&buf[r.head_len - 4..r.head_len], b"\r\n\r\n");
                prop_assert!(within(&buf, r.method_raw));
                prop_assert!(within(&buf, r.target));
                prop_assert!(within(&buf, r.path) || r.path == b"/");
                if let Some(q) = r.query { prop_assert!(within(&buf, q)); }
                if let Some(h) = r.host { prop_assert!(within(&buf, h)); }
                prop_assert!(r.headers.len() <= N);
                for h in r.headers {
                    prop_assert!(within(&buf, h.name) && within(&buf, h.value));
                    prop_assert!(!h.name.is_empty());
                }
                // The decision helpers are total on whatever was parsed.
                let _ = evaluate(&r, b"\"e\"", 1_000_000);
                let _ = r.header(b"range").map(|v| decide(v, 100));
                let mut out = vec![0u8; r.path.len()];
                let _ = normalize(r.path, &mut out);
                let mut skip = BodySkipper::new(r.body);
                let (used, _) = skip.feed(&buf[r.head_len..]).unwrap_or((0, false));
                prop_assert!(used <= buf.len() - r.head_len);
            }
            Ok(Parsed::Partial) => {}
            Err(e) => {
                prop_assert!(matches!(e.status, 400 | 414 | 431 | 501 | 505), "{:?}", e);
                prop_assert!(!e.reason.is_empty());
            }
        }
    }

    /// (3a) Every proper prefix of a valid head is Partial, the whole head
    /// gives the same request at any buffer split.
    #[test]
    fn valid_head_every_split(h in valid_head(), tail in prop::collection::vec(any::<u8>(), 0..8)) {
        let head = h.bytes();
        for cut in 0..head.len() {
            prop_assert_eq!(parse_owned(&head[..cut]), Owned::Partial, "cut {}", cut);
        }
        let whole = parse_owned(&head);
        let complete = matches!(whole, Owned::Complete { .. });
        prop_assert!(complete, "{:?}", whole);
        // Bytes after the head (a body, a pipelined request) change nothing.
        let mut more = head.clone();
        more.extend_from_slice(&tail);
        prop_assert_eq!(parse_owned(&more), whole);
    }

    /// (3b) For any input, a prefix's verdict is final: an error on a prefix
    /// is the same error on the whole, a complete prefix is the same request.
    #[test]
    fn prefix_verdicts_are_final(buf in httpish()) {
        let whole = parse_owned(&buf);
        for cut in 0..buf.len() {
            match parse_owned(&buf[..cut]) {
                Owned::Partial => {}
                p => prop_assert_eq!(&p, &whole, "cut {}", cut),
            }
        }
    }

    /// Feeding a body in two pieces gives the same verdict as in one.
    #[test]
    fn body_skipper_split_invariant(
        chunked in any::<bool>(),
        len in 0u64..64,
        data in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            prop::collection::vec(prop::sample::select(b"0123456789abcdefABCDEF;= \t\r\nxX:".to_vec()), 0..64),
        ],
        split in any::<prop::sample::Index>(),
    ) {
        let body = if chunked { Body::Chunked } else { Body::Length(len) };
        let at = split.index(data.len() + 1);
        let one = BodySkipper::new(body).feed(&data);
        let mut s = BodySkipper::new(body);
        let two = match s.feed(&data[..at]) {
            Ok((n1, true)) => Ok((n1, true)),
            Ok((n1, false)) => {
                prop_assert_eq!(n1, at);
                s.feed(&data[at..]).map(|(n2, d)| (n1 + n2, d))
            }
            Err(e) => Err(e),
        };
        match (one, two) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => prop_assert_eq!(a.status, b.status),
            (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
        }
    }

    /// (4) IMF-fixdate round trip over years 1970..=9999.
    #[test]
    fn date_round_trip(t in 0u64..=date::MAX_UNIX) {
        let mut out = [0u8; date::IMF_LEN];
        date::format(t, &mut out);
        prop_assert_eq!(date::parse(&out), Some(t));
    }

    /// Date parsing is total and only accepts what it can print back.
    #[test]
    fn date_parse_total(s in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        "[A-Za-z]{3}, [0-9]{2} [A-Za-z]{3} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT".prop_map(String::into_bytes),
    ]) {
        if let Some(t) = date::parse(&s) {
            prop_assert!(t <= date::MAX_UNIX + 1); // a leap second on the last second
        }
    }

    /// (5) Normalized paths start with '/', contain no dot or empty segments.
    #[test]
    fn path_normalize_invariants(raw in prop_oneof![
        prop::collection::vec(prop::sample::select(b"/.a%2e%2E%2f%5c%41%zz\\\x00\xc3\xa9".to_vec()), 0..40)
            .prop_map(|v| { let mut p = vec![b'/']; p.extend(v); p }),
        prop::collection::vec(any::<u8>(), 0..40),
        prop::collection::vec(prop_oneof![Just("/".to_string()), Just(".".to_string()), Just("..".to_string()), Just("%2e".to_string()), "[a-z]{1,3}"], 0..12)
            .prop_map(|v| format!("/{}", v.concat()).into_bytes()),
    ]) {
        let mut out = vec![0u8; raw.len()];
        if let Ok(p) = normalize(&raw, &mut out) {
            prop_assert_eq!(p.first(), Some(&b'/'));
            let s = p.to_vec();
            for bad in [&b"/../"[..], b"/./", b"//"] {
                prop_assert!(!s.windows(bad.len()).any(|w| w == bad), "{:?}", String::from_utf8_lossy(&s));
            }
            prop_assert!(!s.ends_with(b"/..") && !s.ends_with(b"/."));
            prop_assert!(!s.iter().any(|&b| b == b'\\' || b < 0x20 || b == 0x7f));
            // Normalizing again (no '%' left to decode) changes nothing.
            if !s.contains(&b'%') {
                let mut again = vec![0u8; s.len()];
                prop_assert_eq!(normalize(&s, &mut again), Ok(&s[..]));
            }
        }
    }

    /// Range decisions always lie inside the representation.
    #[test]
    fn range_within_len(value in prop_oneof![
        "bytes=[0-9]{0,4}-[0-9]{0,4}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..20),
    ], len in 0u64..10_000) {
        if let RangeDecision::Partial { start, end } = decide(&value, len) {
            prop_assert!(start <= end && end < len);
        }
    }

    /// Negotiation only ever picks an available coding.
    #[test]
    fn negotiate_picks_available(v in "[a-z*;=0-9., ]{0,30}", avail in 0u8..8) {
        if let Some(e) = encoding::negotiate(v.as_bytes(), avail) {
            prop_assert!(avail & e.bit() != 0);
        }
    }

    /// 304 only for GET and HEAD.
    #[test]
    fn not_modified_only_for_safe_methods(method in token(), inm in "[\"W/a-z*, ]{0,12}") {
        let head = format!("{method} / HTTP/1.1\r\nHost: h\r\nIf-None-Match: {inm}\r\n\r\n");
        let mut arr = [Header::default(); N];
        if let Ok(Parsed::Complete(r)) = parse_request(head.as_bytes(), &mut arr) {
            if evaluate(&r, b"\"a\"", 0) == Outcome::NotModified {
                prop_assert!(r.method.is_get_or_head());
            }
        }
    }
}
