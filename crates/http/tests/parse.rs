//! Byte-level tests of request head parsing: every acceptance and rejection
//! rule of RFC 9112 that `parse_request` implements.

use mote_http::{
    parse_request, status_for_full_buffer, Body, Header, Method, Parsed, Request, Version,
    MAX_LEADING_EMPTY_LINES, MAX_TARGET,
};

const N: usize = 16;

/// Parses `input` and runs `f` on the complete request (panics otherwise).
fn ok(input: &[u8], f: impl FnOnce(&Request)) {
    let mut h = [Header::default(); N];
    match parse_request(input, &mut h) {
        Ok(Parsed::Complete(r)) => f(&r),
        other => panic!(
            "{:?}: expected Complete, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

/// The status `input` is rejected with (panics if it is accepted or partial).
fn status(input: &[u8]) -> u16 {
    let mut h = [Header::default(); N];
    match parse_request(input, &mut h) {
        Err(e) => {
            assert!(!e.reason.is_empty());
            e.status
        }
        other => panic!(
            "{:?}: expected Err, got {other:?}",
            String::from_utf8_lossy(input)
        ),
    }
}

fn partial(input: &[u8]) -> bool {
    let mut h = [Header::default(); N];
    matches!(parse_request(input, &mut h), Ok(Parsed::Partial))
}

#[test]
fn simple_get() {
    let req = b"GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\nBODY";
    ok(req, |r| {
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.method_raw, b"GET");
        assert_eq!(r.target, b"/index.html?x=1");
        assert_eq!(r.path, b"/index.html");
        assert_eq!(r.query, Some(&b"x=1"[..]));
        assert_eq!(r.version, Version::Http11);
        assert_eq!(r.host, Some(&b"example.com"[..]));
        assert_eq!(r.headers.len(), 2);
        assert_eq!(
            r.headers[1],
            Header {
                name: b"User-Agent",
                value: b"t"
            }
        );
        assert_eq!(r.body, Body::None);
        assert!(r.keep_alive);
        assert_eq!(r.head_len, req.len() - 4);
        assert_eq!(r.header(b"user-agent"), Some(&b"t"[..]));
        assert_eq!(r.header(b"HOST"), Some(&b"example.com"[..]));
        assert_eq!(r.header(b"accept"), None);
    });
}

#[test]
fn methods() {
    let cases: &[(&[u8], Method)] = &[
        (b"GET", Method::Get),
        (b"HEAD", Method::Head),
        (b"OPTIONS", Method::Options),
        (b"POST", Method::Post),
        (b"PUT", Method::Put),
        (b"DELETE", Method::Delete),
        (b"PATCH", Method::Patch),
        (b"TRACE", Method::Trace),
        (b"get", Method::Other),
        (b"PROPFIND", Method::Other),
        (b"X-Y.Z~!", Method::Other),
    ];
    for (m, want) in cases {
        let mut req = m.to_vec();
        req.extend_from_slice(b" / HTTP/1.1\r\nHost: h\r\n\r\n");
        ok(&req, |r| {
            assert_eq!(r.method, *want);
            assert_eq!(r.method_raw, *m);
        });
    }
}

#[test]
fn request_line_rejections() {
    let cases: &[(&[u8], u16)] = &[
        (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400), // non-tchar in method
        (b" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400), // leading SP
        (b"\tGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400), // leading HTAB
        (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400), // two SPs -> empty target
        (b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400), // trailing SP
        (b"GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400), // two SPs before version
        (b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400), // HTAB as separator
        (b"GET /\r\nHost: h\r\n\r\n", 400),          // HTTP/0.9 form
        (b"GET / HTTP/1.1\nHost: h\r\n\r\n", 400),   // bare LF ending request line
        (b"GET / HTTP/1.1\rHost: h\r\n\r\n", 400),   // bare CR ending request line
        (b"GET /a\x00b HTTP/1.1\r\nHost: h\r\n\r\n", 400), // NUL in target
        (b"GET /a\x7fb HTTP/1.1\r\nHost: h\r\n\r\n", 400), // DEL in target
        (b"GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400), // control in target
        (b"GET / http/1.1\r\nHost: h\r\n\r\n", 400), // lowercase version
        (b"GET / HTTP/1\r\nHost: h\r\n\r\n", 400),   // no minor
        (b"GET / HTTP/11\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400), // too long
        (b"GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTPS/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        (b"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505),
        (b"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505),
        (b"GET / HTTP/3.0\r\n\r\n", 505),
        (
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            501,
        ),
        (b"CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", 501),
        (b"GET example.com:443 HTTP/1.1\r\nHost: h\r\n\r\n", 400), // authority-form
        (b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400),               // asterisk-form for GET
        (b"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400), // empty authority
        (b"GET http://u@h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400), // userinfo
        (b"GET index.html HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    ];
    for (input, want) in cases {
        assert_eq!(status(input), *want, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn target_forms() {
    ok(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", |r| {
        assert_eq!(r.path, b"*");
        assert_eq!(r.query, None);
    });
    ok(
        b"GET http://Example.com:8080/a/b?q HTTP/1.1\r\nHost: other\r\n\r\n",
        |r| {
            assert_eq!(r.path, b"/a/b");
            assert_eq!(r.query, Some(&b"q"[..]));
            assert_eq!(r.host, Some(&b"Example.com:8080"[..]));
            assert_eq!(r.target, b"http://Example.com:8080/a/b?q");
        },
    );
    ok(b"GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n", |r| {
        assert_eq!(r.path, b"/");
        assert_eq!(r.query, None);
    });
    ok(b"GET http://h?x=y HTTP/1.1\r\nHost: h\r\n\r\n", |r| {
        assert_eq!(r.path, b"/");
        assert_eq!(r.query, Some(&b"x=y"[..]));
    });
    ok(
        b"GET http://[::1]:80/ HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
        |r| {
            assert_eq!(r.host, Some(&b"[::1]:80"[..]));
        },
    );
    ok(b"GET /? HTTP/1.1\r\nHost: h\r\n\r\n", |r| {
        assert_eq!(r.path, b"/");
        assert_eq!(r.query, Some(&b""[..]));
    });
    ok(b"GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n", |r| {
        assert_eq!(r.path, b"/a");
        assert_eq!(r.query, Some(&b"b?c"[..]));
    });
    // Raw UTF-8 in the path passes the parser (the path normalizer decides).
    ok(
        "GET /caf\u{e9} HTTP/1.1\r\nHost: h\r\n\r\n".as_bytes(),
        |r| {
            assert_eq!(r.path, "/caf\u{e9}".as_bytes());
        },
    );
}

#[test]
fn target_length_limit() {
    let mut at_limit = b"GET /".to_vec();
    at_limit.resize(4 + MAX_TARGET, b'a');
    at_limit.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
    ok(&at_limit, |r| assert_eq!(r.target.len(), MAX_TARGET));

    let mut over = b"GET /".to_vec();
    over.resize(5 + MAX_TARGET, b'a');
    over.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(status(&over), 414);
    // Detected before the request line is complete.
    assert_eq!(status(&over[..5 + MAX_TARGET]), 414);
    assert!(partial(&over[..4 + MAX_TARGET]));
}

#[test]
fn leading_empty_lines() {
    let mut req = Vec::new();
    for _ in 0..MAX_LEADING_EMPTY_LINES {
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    ok(&req, |r| assert_eq!(r.head_len, req.len()));
    assert_eq!(status(&[b"\r\n", &req[..]].concat()), 400);
    assert_eq!(status(b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(status(b"\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert!(partial(b"\r\n\r"));
    assert!(partial(b"\r\n"));
    assert!(partial(b""));
}

#[test]
fn header_syntax_rejections() {
    let cases: &[(&[u8], u16)] = &[
        (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400), // SP before colon
        (b"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400), // HTAB before colon
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400), // obs-fold SP
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400), // obs-fold HTAB
        (b"GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400), // leading SP on first field
        (b"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400), // bare LF field end
        (b"GET / HTTP/1.1\r\nHost: h\r\n\n", 400),    // bare LF final line
        (b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400), // bare CR
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400), // bare CR inside value
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\r", 400),  // bare CR final line
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400), // NUL in value
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x1bb\r\n\r\n", 400), // ESC in value
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", 400), // DEL in value
        (b"GET / HTTP/1.1\r\nHost: h\r\nX(: a\r\n\r\n", 400), // non-tchar name
        (b"GET / HTTP/1.1\r\nHost: h\r\nX\x00: a\r\n\r\n", 400), // NUL in name
        (b"GET / HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n", 400), // empty name
        (b"GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\n\xff: a\r\n\r\n", 400), // obs-text in name
    ];
    for (input, want) in cases {
        assert_eq!(status(input), *want, "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn header_values() {
    ok(
        b"GET / HTTP/1.1\r\nHost:h\r\nX:  \t a \t b \t \r\nEmpty:\r\nO: \xe9\xff\r\n\r\n",
        |r| {
            assert_eq!(r.header(b"x"), Some(&b"a \t b"[..]));
            assert_eq!(r.header(b"empty"), Some(&b""[..]));
            assert_eq!(r.header(b"o"), Some(&b"\xe9\xff"[..]));
            assert_eq!(r.host, Some(&b"h"[..]));
        },
    );
    // First match wins for repeated fields.
    ok(b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\na: 2\r\n\r\n", |r| {
        assert_eq!(r.header(b"A"), Some(&b"1"[..]));
        assert_eq!(r.headers.len(), 3);
    });
}

#[test]
fn header_count_limit() {
    let mut req = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for _ in 1..N {
        req.extend_from_slice(b"X: y\r\n");
    }
    let full = [&req[..], b"\r\n"].concat();
    ok(&full, |r| assert_eq!(r.headers.len(), N));
    req.extend_from_slice(b"One: more\r\n\r\n");
    assert_eq!(status(&req), 431);
    // An empty header array takes no header at all.
    let mut none: [Header; 0] = [];
    let e = parse_request(b"GET / HTTP/1.0\r\nA: b\r\n\r\n", &mut none).unwrap_err();
    assert_eq!(e.status, 431);
    assert!(matches!(
        parse_request(b"GET / HTTP/1.0\r\n\r\n", &mut none),
        Ok(Parsed::Complete(Request { headers: [], .. }))
    ));
}

#[test]
fn host_rules() {
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), 400);
    // Absolute-form still needs a Host header in HTTP/1.1 (RFC 9112 3.2).
    assert_eq!(status(b"GET http://a/ HTTP/1.1\r\n\r\n"), 400);
    ok(b"GET / HTTP/1.0\r\n\r\n", |r| assert_eq!(r.host, None));
    ok(b"GET / HTTP/1.1\r\nHost:\r\n\r\n", |r| {
        assert_eq!(r.host, Some(&b""[..]))
    });
    ok(b"GET / HTTP/1.1\r\nHOST: a.b-c_d:8080\r\n\r\n", |r| {
        assert_eq!(r.host, Some(&b"a.b-c_d:8080"[..]))
    });
}

#[test]
fn content_length() {
    ok(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
        |r| assert_eq!(r.body, Body::Length(5)),
    );
    ok(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
        |r| assert_eq!(r.body, Body::Length(0)),
    );
    ok(
        b"POST / HTTP/1.1\r\nHost: h\r\ncontent-length:  007 \r\n\r\n",
        |r| assert_eq!(r.body, Body::Length(7)),
    );
    ok(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n",
        |r| assert_eq!(r.body, Body::Length(u64::MAX)),
    );
    let bad: &[&[u8]] = &[
        b"Content-Length: 18446744073709551616",
        b"Content-Length: 99999999999999999999999",
        b"Content-Length: 5, 5",
        b"Content-Length: 5,5",
        b"Content-Length: -1",
        b"Content-Length: +5",
        b"Content-Length: 0x5",
        b"Content-Length: 5 5",
        b"Content-Length: ",
        b"Content-Length: 5\r\nContent-Length: 5",
        b"Content-Length: 5\r\nContent-Length: 6",
        b"Content-Length: 5\r\nTransfer-Encoding: chunked",
        b"Transfer-Encoding: chunked\r\nContent-Length: 0",
    ];
    for field in bad {
        let req = [b"POST / HTTP/1.1\r\nHost: h\r\n", *field, b"\r\n\r\n"].concat();
        assert_eq!(status(&req), 400, "{:?}", String::from_utf8_lossy(field));
    }
}

#[test]
fn transfer_encoding() {
    for v in [
        &b"chunked"[..],
        b"Chunked",
        b"CHUNKED",
        b" chunked ",
        b",chunked,",
    ] {
        let req = [
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:",
            v,
            b"\r\n\r\n",
        ]
        .concat();
        ok(&req, |r| assert_eq!(r.body, Body::Chunked));
    }
    let cases: &[(&[u8], u16)] = &[
        (b"Transfer-Encoding: gzip, chunked", 501),
        (
            b"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
            501,
        ),
        (b"Transfer-Encoding: identity, chunked", 501),
        (b"Transfer-Encoding: gzip", 400),
        (b"Transfer-Encoding: chunked, gzip", 400),
        (
            b"Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip",
            400,
        ),
        (b"Transfer-Encoding: chunked, chunked", 400),
        (
            b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
            400,
        ),
        (b"Transfer-Encoding: ", 400),
        (b"Transfer-Encoding: chunked;x=1", 400),
        (b"Transfer-Encoding: xchunked", 400),
    ];
    for (field, want) in cases {
        let req = [b"POST / HTTP/1.1\r\nHost: h\r\n", *field, b"\r\n\r\n"].concat();
        assert_eq!(status(&req), *want, "{:?}", String::from_utf8_lossy(field));
    }
    assert_eq!(
        status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        400
    );
}

#[test]
fn keep_alive() {
    let cases: &[(&[u8], bool)] = &[
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: CLOSE\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: te\r\nConnection:close\r\n\r\n",
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n",
            true,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n\r\n",
            true,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", false),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
        (
            b"GET / HTTP/1.0\r\nConnection: foo ,\t keep-alive ,bar\r\n\r\n",
            true,
        ),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            false,
        ),
        (b"GET / HTTP/1.0\r\nConnection: keep-alived\r\n\r\n", false),
    ];
    for (input, want) in cases {
        ok(input, |r| {
            assert_eq!(r.keep_alive, *want, "{:?}", String::from_utf8_lossy(input))
        });
    }
}

#[test]
fn rejects_without_waiting_for_the_end_of_the_head() {
    // Each is refused although the head is not complete yet.
    let cases: &[(&[u8], u16)] = &[
        (b"GET / HTTP/5.6", 505),
        (b"GET / HTTP/2.0\r", 505),
        (b"GET / RTSP/1.0", 400),
        (b"GET / ICE/", 400),
        (b"GET / HTTP/1.1X", 400),
        (b"GET / HTTP/1.1\rX", 400),
        (
            b"PUT / HTTP/1.1\r\nContent-Length: 1000000000000000000000\r\n",
            400,
        ),
        (
            b"PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n",
            400,
        ),
        (
            b"PUT / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n",
            400,
        ),
        (
            b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n",
            400,
        ),
        (b"PUT / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a b\r\n", 400),
        (b"GET /#", 400),
        (b"GET * HTTP/1.1\r\n", 400),
    ];
    for (input, want) in cases {
        assert_eq!(status(input), *want, "{:?}", String::from_utf8_lossy(input));
    }
    // Still only partial: nothing wrong yet.
    for input in [
        &b"GET / HTTP/1.1\r"[..],
        b"GET / HTTP/1.",
        b"GET / H",
        b"GET / HTTP/1.1\r\nHost: a",
    ] {
        assert!(partial(input), "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn partial_prefixes_of_valid_head() {
    let req = b"\r\nGET /x HTTP/1.1\r\nHost: h\r\nA: b\r\n\r\n";
    for cut in 0..req.len() {
        assert!(partial(&req[..cut]), "cut {cut}");
    }
    ok(req, |r| assert_eq!(r.head_len, req.len()));
}

#[test]
fn head_len_leaves_pipelined_bytes() {
    let two = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
    let mut h = [Header::default(); N];
    let first = match parse_request(two, &mut h) {
        Ok(Parsed::Complete(r)) => r.head_len,
        other => panic!("{other:?}"),
    };
    ok(&two[first..], |r| assert_eq!(r.path, b"/b"));
}

#[test]
fn full_buffer_status() {
    assert_eq!(status_for_full_buffer(b"GET /aaaaaaaa"), 414);
    assert_eq!(status_for_full_buffer(b"\r\n\r\nGET /aaaa"), 414);
    assert_eq!(status_for_full_buffer(b""), 414);
    assert_eq!(
        status_for_full_buffer(b"GET / HTTP/1.1\r\nHost: h\r\nX: aaaa"),
        431
    );
    assert_eq!(status_for_full_buffer(b"\r\nGET / HTTP/1.1\r\nX"), 431);
}
