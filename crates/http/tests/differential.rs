//! Differential tests against httparse, the parser hyper uses.
//!
//! mote-http is stricter than httparse (Host rules, framing fields, CONNECT,
//! fragments, HTTP/1.x-only versions), so the property is one-sided: whatever
//! mote-http accepts, httparse must accept too, with the same method, target,
//! version, header fields and head length. Where both accept, any difference
//! is a bug in one of them.

use mote_http::{parse_request, Header, Parsed, Version};
use proptest::prelude::*;

const N: usize = 16;

fn check(buf: &[u8]) -> Result<(), TestCaseError> {
    let mut ours = [Header::default(); N];
    let Ok(Parsed::Complete(r)) = parse_request(buf, &mut ours) else {
        return Ok(());
    };
    // Deliberate difference: httparse returns the target as &str, so it
    // refuses raw bytes >= 0x80 that are not UTF-8; we pass raw bytes on
    // (file names on Linux are bytes) and leave them to path::normalize.
    if std::str::from_utf8(r.target).is_err() {
        return Ok(());
    }
    let mut theirs = [httparse::EMPTY_HEADER; N];
    let mut req = httparse::Request::new(&mut theirs);
    let status = req.parse(buf);
    let head_len = match status {
        Ok(httparse::Status::Complete(n)) => n,
        other => {
            return Err(TestCaseError::fail(format!(
                "we accept, httparse says {other:?}: {:?}",
                String::from_utf8_lossy(buf)
            )))
        }
    };
    prop_assert_eq!(head_len, r.head_len);
    prop_assert_eq!(req.method.map(str::as_bytes), Some(r.method_raw));
    prop_assert_eq!(req.path.map(str::as_bytes), Some(r.target));
    prop_assert_eq!(
        req.version,
        Some(if r.version == Version::Http11 { 1 } else { 0 })
    );
    prop_assert_eq!(req.headers.len(), r.headers.len());
    for (t, o) in req.headers.iter().zip(r.headers) {
        prop_assert_eq!(t.name.as_bytes(), o.name);
        // httparse keeps trailing whitespace in values; RFC 9110 5.5 says it
        // is not part of the value, so compare trimmed.
        let tv = t.value;
        let end = tv
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |p| p + 1);
        prop_assert_eq!(&tv[..end], o.value);
    }
    Ok(())
}

fn token() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,8}"
}

/// Heads assembled from plausible pieces with a sprinkling of hostile ones,
/// weighted so that a good share is accepted (which is where the check bites).
fn head() -> impl Strategy<Value = Vec<u8>> {
    let line_end = prop_oneof![40 => Just("\r\n"), 1 => Just("\n"), 1 => Just("\r")];
    let field = (
        prop_oneof![
            12 => token(),
            1 => Just("Host".to_string()),
            1 => Just("Content-Length".to_string()),
            1 => Just("Transfer-Encoding".to_string()),
            2 => Just("Connection".to_string()),
        ],
        prop_oneof![10 => Just(":"), 10 => Just(": "), 1 => Just(" :"), 3 => Just(":\t")],
        prop_oneof![
            20 => "[ -~]{0,12}",
            1 => "[\\x00-\\xff]{0,6}",
            4 => "[0-9]{1,3}",
            2 => Just("chunked".to_string()),
            2 => Just("close".to_string()),
        ],
        line_end.clone(),
    );
    (
        prop_oneof![8 => Just(""), 1 => Just("\r\n")],
        prop_oneof![4 => Just("GET".to_string()), 1 => token()],
        prop_oneof![30 => Just(" "), 1 => Just("  "), 1 => Just("\t")],
        prop_oneof![
            20 => "/[!-~]{0,12}",
            2 => "/[\\x21-\\xff]{0,8}",
            1 => Just("*".to_string()),
            2 => "http://[a-z]{1,4}/[a-z]{0,3}"
        ],
        prop_oneof![
            20 => Just(" HTTP/1.1"),
            10 => Just(" HTTP/1.0"),
            1 => Just(" HTTP/1.2"),
            1 => Just(" http/1.1"),
            1 => Just(" HTTP/1.1 ")
        ],
        line_end,
        prop::bool::weighted(0.9),
        prop::collection::vec(field, 0..6),
        prop_oneof![30 => Just("\r\n"), 1 => Just("\n"), 1 => Just("")],
    )
        .prop_map(|(lead, m, sp, target, version, le, host, fields, end)| {
            let mut v = Vec::new();
            v.extend_from_slice(lead.as_bytes());
            v.extend_from_slice(m.as_bytes());
            v.extend_from_slice(sp.as_bytes());
            v.extend(target.chars().map(|c| c as u32 as u8));
            v.extend_from_slice(version.as_bytes());
            v.extend_from_slice(le.as_bytes());
            if host {
                v.extend_from_slice(b"Host: h\r\n");
            }
            for (n, colon, value, le) in fields {
                v.extend_from_slice(n.as_bytes());
                v.extend_from_slice(colon.as_bytes());
                v.extend(value.chars().map(|c| c as u32 as u8));
                v.extend_from_slice(le.as_bytes());
            }
            v.extend_from_slice(end.as_bytes());
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn accepted_heads_agree_with_httparse(buf in head()) {
        check(&buf)?;
    }

    #[test]
    fn accepted_random_bytes_agree_with_httparse(buf in prop::collection::vec(any::<u8>(), 0..64)) {
        check(&buf)?;
    }
}

#[test]
fn fixed_examples_agree() {
    for head in [
        &b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        b"\r\nGET /a?b HTTP/1.0\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX:  y \t\r\n\r\nabc",
        b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET http://a/b HTTP/1.1\r\nHost: a\r\nEmpty:\r\n\r\n",
    ] {
        let mut h = [Header::default(); N];
        assert!(matches!(
            parse_request(head, &mut h),
            Ok(Parsed::Complete(_))
        ));
        check(head).unwrap();
    }
}
