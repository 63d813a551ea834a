//! Conditional request evaluation (RFC 9110 13.2.2) over parsed requests.

use mote_http::cond::{etag_matches_strong, etag_matches_weak, evaluate, Outcome};
use mote_http::{parse_request, Header, Parsed};

const ETAG: &[u8] = b"\"abc\"";
/// Sun, 06 Nov 1994 08:49:37 GMT
const LM: u64 = 784111777;
const LM_DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
const BEFORE: &str = "Sun, 06 Nov 1994 08:49:36 GMT";
const AFTER: &str = "Sun, 06 Nov 1994 08:49:38 GMT";

fn eval_with(method: &str, fields: &[(&str, &str)], etag: &[u8]) -> Outcome {
    let mut head = format!("{method} /f HTTP/1.1\r\nHost: h\r\n");
    for (n, v) in fields {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut h = [Header::default(); 16];
    match parse_request(head.as_bytes(), &mut h) {
        Ok(Parsed::Complete(r)) => evaluate(&r, etag, LM),
        other => panic!("{other:?}"),
    }
}

fn eval(method: &str, fields: &[(&str, &str)]) -> Outcome {
    eval_with(method, fields, ETAG)
}

const GO: Outcome = Outcome::Proceed {
    range_allowed: true,
};
const NO_RANGE: Outcome = Outcome::Proceed {
    range_allowed: false,
};
const NM: Outcome = Outcome::NotModified;
const PF: Outcome = Outcome::PreconditionFailed;

#[test]
fn no_conditions() {
    assert_eq!(eval("GET", &[]), GO);
    assert_eq!(eval("POST", &[]), GO);
}

#[test]
fn if_match_is_strong() {
    assert_eq!(eval("GET", &[("If-Match", "\"abc\"")]), GO);
    assert_eq!(eval("GET", &[("If-Match", "\"x\", \"abc\"")]), GO);
    assert_eq!(eval("GET", &[("If-Match", "*")]), GO);
    assert_eq!(eval("GET", &[("If-Match", "W/\"abc\"")]), PF);
    assert_eq!(eval("GET", &[("If-Match", "\"abcd\"")]), PF);
    assert_eq!(eval("GET", &[("If-Match", "abc")]), PF);
    assert_eq!(eval("PUT", &[("If-Match", "\"nope\"")]), PF);
    // Our own weak tag never matches strongly.
    assert_eq!(
        eval_with("GET", &[("If-Match", "W/\"abc\"")], b"W/\"abc\""),
        PF
    );
    assert_eq!(eval_with("GET", &[("If-Match", "*")], b"W/\"abc\""), GO);
}

#[test]
fn if_unmodified_since() {
    assert_eq!(eval("GET", &[("If-Unmodified-Since", LM_DATE)]), GO);
    assert_eq!(eval("GET", &[("If-Unmodified-Since", AFTER)]), GO);
    assert_eq!(eval("GET", &[("If-Unmodified-Since", BEFORE)]), PF);
    assert_eq!(eval("GET", &[("If-Unmodified-Since", "garbage")]), GO);
    // If-Match present: If-Unmodified-Since is not evaluated.
    assert_eq!(
        eval(
            "GET",
            &[("If-Match", "\"abc\""), ("If-Unmodified-Since", BEFORE)]
        ),
        GO
    );
}

#[test]
fn if_none_match_is_weak() {
    assert_eq!(eval("GET", &[("If-None-Match", "\"abc\"")]), NM);
    assert_eq!(eval("HEAD", &[("If-None-Match", "W/\"abc\"")]), NM);
    assert_eq!(eval("GET", &[("If-None-Match", "\"a\", W/\"abc\"")]), NM);
    assert_eq!(
        eval("GET", &[("If-None-Match", "\"a\",\"b\" , \"abc\"")]),
        NM
    );
    assert_eq!(eval("GET", &[("If-None-Match", "*")]), NM);
    assert_eq!(eval("GET", &[("If-None-Match", "\"xyz\"")]), GO);
    assert_eq!(eval("GET", &[("If-None-Match", "\"ab\"")]), GO);
    assert_eq!(eval("GET", &[("If-None-Match", "abc")]), GO);
    // Tags after a syntax error are not considered.
    assert_eq!(eval("GET", &[("If-None-Match", "junk, \"abc\"")]), GO);
    // Commas inside a tag are part of the tag.
    assert_eq!(
        eval_with("GET", &[("If-None-Match", "\"a,b\"")], b"\"a,b\""),
        NM
    );
    assert_eq!(
        eval_with("GET", &[("If-None-Match", "\"a,b\"")], b"\"a\""),
        GO
    );
    // Other methods: a match is a failed precondition, never 304.
    assert_eq!(eval("POST", &[("If-None-Match", "\"abc\"")]), PF);
    assert_eq!(eval("DELETE", &[("If-None-Match", "*")]), PF);
}

#[test]
fn if_modified_since() {
    assert_eq!(eval("GET", &[("If-Modified-Since", LM_DATE)]), NM);
    assert_eq!(eval("GET", &[("If-Modified-Since", AFTER)]), NM);
    assert_eq!(eval("GET", &[("If-Modified-Since", BEFORE)]), GO);
    assert_eq!(
        eval(
            "HEAD",
            &[("If-Modified-Since", "Sunday, 06-Nov-94 08:49:37 GMT")]
        ),
        NM
    );
    assert_eq!(
        eval("GET", &[("If-Modified-Since", "Sun Nov  6 08:49:37 1994")]),
        NM
    );
    assert_eq!(eval("GET", &[("If-Modified-Since", "not a date")]), GO);
    // Only for GET and HEAD.
    assert_eq!(eval("POST", &[("If-Modified-Since", LM_DATE)]), GO);
    // If-None-Match takes precedence, whether it matches or not.
    assert_eq!(
        eval(
            "GET",
            &[("If-None-Match", "\"xyz\""), ("If-Modified-Since", AFTER)]
        ),
        GO
    );
    assert_eq!(
        eval(
            "GET",
            &[("If-Modified-Since", BEFORE), ("If-None-Match", "\"abc\"")]
        ),
        NM
    );
}

#[test]
fn if_range() {
    assert_eq!(
        eval("GET", &[("Range", "bytes=0-1"), ("If-Range", "\"abc\"")]),
        GO
    );
    assert_eq!(
        eval("GET", &[("Range", "bytes=0-1"), ("If-Range", "\"xyz\"")]),
        NO_RANGE
    );
    assert_eq!(
        eval("GET", &[("Range", "bytes=0-1"), ("If-Range", "W/\"abc\"")]),
        NO_RANGE
    );
    assert_eq!(
        eval_with("GET", &[("If-Range", "\"abc\"")], b"W/\"abc\""),
        NO_RANGE
    );
    assert_eq!(eval("GET", &[("If-Range", "\"abc\", \"abc\"")]), NO_RANGE);
    assert_eq!(eval("GET", &[("If-Range", LM_DATE)]), GO);
    assert_eq!(
        eval("GET", &[("If-Range", "Wed, 16 Nov 1994 08:49:37 GMT")]),
        NO_RANGE
    );
    assert_eq!(eval("GET", &[("If-Range", AFTER)]), NO_RANGE);
    assert_eq!(eval("GET", &[("If-Range", BEFORE)]), NO_RANGE);
    assert_eq!(eval("GET", &[("If-Range", "garbage")]), NO_RANGE);
    // Preconditions come first.
    assert_eq!(
        eval(
            "GET",
            &[("If-None-Match", "\"abc\""), ("If-Range", "\"abc\"")]
        ),
        NM
    );
}

#[test]
fn etag_list_matching() {
    assert!(etag_matches_weak(b" * ", b"\"x\""));
    assert!(etag_matches_weak(b"W/\"x\"", b"\"x\""));
    assert!(etag_matches_weak(b"\"x\"", b"W/\"x\""));
    assert!(!etag_matches_weak(b"", b"\"x\""));
    assert!(!etag_matches_weak(b"\"x\"", b"x"));
    assert!(!etag_matches_weak(b"\"x", b"\"x\""));
    assert!(!etag_matches_weak(b"\"x\" \"x\"", b"\"y\""));
    assert!(etag_matches_weak(b",,\"y\",,\"x\"", b"\"x\""));
    assert!(!etag_matches_weak(b"\"a b\"", b"\"a b\""));
    assert!(etag_matches_strong(b"\"x\"", b"\"x\""));
    assert!(!etag_matches_strong(b"W/\"x\"", b"\"x\""));
    assert!(!etag_matches_strong(b"\"x\"", b"W/\"x\""));
    assert!(etag_matches_strong(b"W/\"x\", \"x\"", b"\"x\""));
}
