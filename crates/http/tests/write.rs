//! Response head writing: exact bytes, sticky overflow, refused fields.

use mote_http::{reason_phrase, HeadWriter, TooSmall};

#[test]
fn writes_exact_head() {
    let mut buf = [0u8; 256];
    let mut w = HeadWriter::new(&mut buf, 206);
    w.header(b"Server", b"mote")
        .header_u64(b"Content-Length", 100)
        .header_date(b"Last-Modified", 784111777)
        .content_range(0, 99, 1000)
        .raw(b"X-A: 1\r\nX-B: 2\r\n");
    let n = w.finish().unwrap();
    assert_eq!(
        &buf[..n],
        &b"HTTP/1.1 206 Partial Content\r\nServer: mote\r\nContent-Length: 100\r\n\
Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Range: bytes 0-99/1000\r\n\
X-A: 1\r\nX-B: 2\r\n\r\n"[..]
    );
}

#[test]
fn unsatisfied_range_and_extremes() {
    let mut buf = [0u8; 256];
    let mut w = HeadWriter::new(&mut buf, 416);
    w.content_range_unsatisfied(u64::MAX)
        .header_u64(b"Content-Length", 0);
    let n = w.finish().unwrap();
    assert_eq!(
        &buf[..n],
        &b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */18446744073709551615\r\n\
Content-Length: 0\r\n\r\n"[..]
    );
}

#[test]
fn unknown_status_has_empty_reason() {
    let mut buf = [0u8; 64];
    let n = HeadWriter::new(&mut buf, 299).finish().unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 299 \r\n\r\n");
}

#[test]
fn overflow_is_sticky_at_every_size() {
    let mut big = [0u8; 128];
    let mut w = HeadWriter::new(&mut big, 200);
    w.header(b"A", b"1").header(b"Content-Type", b"text/html");
    let full = w.finish().unwrap();
    for cap in 0..full {
        let mut buf = vec![0u8; cap];
        let mut w = HeadWriter::new(&mut buf, 200);
        w.header(b"A", b"1").header(b"Content-Type", b"text/html");
        assert_eq!(w.finish(), Err(TooSmall), "capacity {cap}");
    }
    // A later small field must not sneak in after a failed big one.
    let mut buf = [0u8; 40];
    let mut w = HeadWriter::new(&mut buf, 200);
    w.header(b"Big", &[b'x'; 64]).header(b"A", b"1");
    assert_eq!(w.finish(), Err(TooSmall));
    let mut exact = vec![0u8; full];
    let mut w = HeadWriter::new(&mut exact, 200);
    w.header(b"A", b"1").header(b"Content-Type", b"text/html");
    assert_eq!(w.finish(), Ok(full));
}

#[test]
fn refuses_header_injection() {
    let bad: &[(&[u8], &[u8])] = &[
        (b"Location", b"/a\r\nSet-Cookie: x=1"),
        (b"Location", b"/a\nb"),
        (b"Location", b"/a\rb"),
        (b"X", b"a\x00b"),
        (b"X", b"a\x7fb"),
        (b"Bad Name", b"v"),
        (b"Bad:Name", b"v"),
        (b"", b"v"),
        (b"X\r\nY", b"v"),
    ];
    for (name, value) in bad {
        let mut buf = [0u8; 256];
        let mut w = HeadWriter::new(&mut buf, 301);
        w.header(name, value);
        assert_eq!(w.finish(), Err(TooSmall), "{name:?} {value:?}");
    }
    let mut buf = [0u8; 256];
    let mut w = HeadWriter::new(&mut buf, 200);
    w.header(b"X", b"tab\tand \xc3\xa9 ok");
    assert!(w.finish().is_ok());
}

#[test]
fn refuses_bad_status() {
    for status in [0u16, 99, 1000, 65535] {
        let mut buf = [0u8; 64];
        assert_eq!(
            HeadWriter::new(&mut buf, status).finish(),
            Err(TooSmall),
            "{status}"
        );
    }
}

#[test]
fn reason_phrases_for_server_statuses() {
    let want = [
        (200, "OK"),
        (204, "No Content"),
        (206, "Partial Content"),
        (301, "Moved Permanently"),
        (304, "Not Modified"),
        (400, "Bad Request"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (405, "Method Not Allowed"),
        (408, "Request Timeout"),
        (412, "Precondition Failed"),
        (413, "Content Too Large"),
        (414, "URI Too Long"),
        (416, "Range Not Satisfiable"),
        (431, "Request Header Fields Too Large"),
        (500, "Internal Server Error"),
        (501, "Not Implemented"),
        (503, "Service Unavailable"),
        (505, "HTTP Version Not Supported"),
    ];
    for (status, reason) in want {
        assert_eq!(reason_phrase(status), reason);
    }
    assert_eq!(reason_phrase(599), "");
    // Only exact codes match: no digit aliasing, no stray separators.
    for status in 0..=u16::MAX {
        let r = reason_phrase(status);
        assert!(
            !r.contains('\n') && !r.starts_with(char::is_numeric),
            "{status}: {r:?}"
        );
        if !(100..=999).contains(&status) {
            assert_eq!(r, "", "{status}");
        }
    }
    assert_eq!(reason_phrase(1200), "");
    assert_eq!(reason_phrase(2000), "");
}

#[test]
fn every_reason_phrase() {
    // The whole table (RFC 9110 15): every other code has an empty reason.
    let all = [
        (100, "Continue"),
        (200, "OK"),
        (204, "No Content"),
        (206, "Partial Content"),
        (301, "Moved Permanently"),
        (302, "Found"),
        (304, "Not Modified"),
        (307, "Temporary Redirect"),
        (308, "Permanent Redirect"),
        (400, "Bad Request"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (405, "Method Not Allowed"),
        (406, "Not Acceptable"),
        (408, "Request Timeout"),
        (411, "Length Required"),
        (412, "Precondition Failed"),
        (413, "Content Too Large"),
        (414, "URI Too Long"),
        (415, "Unsupported Media Type"),
        (416, "Range Not Satisfiable"),
        (417, "Expectation Failed"),
        (429, "Too Many Requests"),
        (431, "Request Header Fields Too Large"),
        (500, "Internal Server Error"),
        (501, "Not Implemented"),
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (504, "Gateway Timeout"),
        (505, "HTTP Version Not Supported"),
    ];
    for status in 0..=u16::MAX {
        let want = all
            .iter()
            .find(|(s, _)| *s == status)
            .map_or("", |(_, r)| *r);
        assert_eq!(reason_phrase(status), want, "{status}");
    }
}
