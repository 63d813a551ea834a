//! Conformance against the request fixtures of Node.js's llhttp parser
//! (tests/llhttp/*.md, MIT licence, see tests/llhttp/LICENSE).
//!
//! Every request llhttp rejects must be rejected by mote-http too: a parse or
//! body error, or a connection that closes before the offending message (after
//! `Connection: close`), which is what a server built on mote-http does. We are
//! stricter than llhttp in places (Host is required in HTTP/1.1, for one), so
//! requests llhttp accepts are only counted, not asserted.
//!
//! The fixture decoding mirrors `../shared/tools/llhttp-replay`.

use mote_http::{parse_request, BodySkipper, Header, Method, Parsed};
use std::path::Path;

struct Case {
    file: String,
    title: String,
    data: Vec<u8>,
    llhttp_error: Option<String>,
    /// Messages llhttp completed.
    llhttp_messages: usize,
}

/// Decodes the escapes of an ```http block the way llhttp's test runner does.
fn decode(block: &str) -> Option<Vec<u8>> {
    let s = block.strip_suffix('\n').unwrap_or(block);
    let s = s.replace("\\\r\n", "").replace("\\\n", "");
    let s = s.replace("\r\n", "\n").replace('\n', "\r\n");
    if s.contains("${") {
        return None; // inline JavaScript
    }
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let c = b[i + 1];
            let simple = match c {
                b'r' => Some('\r'),
                b'n' => Some('\n'),
                b't' => Some('\t'),
                b'f' => Some('\u{c}'),
                _ => None,
            };
            if let Some(ch) = simple {
                out.push(ch);
                i += 2;
                continue;
            }
            if c == b'x' {
                let hex: String = s[i + 2..]
                    .chars()
                    .take_while(|c| c.is_ascii_hexdigit())
                    .collect();
                if !hex.is_empty() {
                    out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    i += 2 + hex.len();
                    continue;
                }
            }
            let oct: String = s[i + 1..]
                .chars()
                .take_while(|c| ('0'..='7').contains(c))
                .take(3)
                .collect();
            if !oct.is_empty() {
                out.push(char::from_u32(u32::from_str_radix(&oct, 8).ok()?)?);
                i += 1 + oct.len();
                continue;
            }
        }
        let ch = s[i..].chars().next()?;
        out.push(ch);
        i += ch.len_utf8();
    }
    Some(out.into_bytes())
}

fn load(dir: &Path) -> Vec<Case> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("fixtures missing at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("lenient") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        let mut title = String::new();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            if line.starts_with("##") {
                title = line.trim_start_matches('#').trim().to_string();
            }
            i += 1;
            let Some(meta) = line.strip_prefix("<!-- meta=") else {
                continue;
            };
            let ty = meta
                .split("\"type\": \"")
                .nth(1)
                .and_then(|t| t.split('"').next());
            // Pausing and body-skipping are llhttp API features, not HTTP.
            let skip = ["\"pause\"", "\"skip\"", "\"skipBody\""]
                .iter()
                .any(|k| meta.contains(k));
            // The ```http block, then the ```log block.
            let block = |i: &mut usize, fence: &str| -> Option<String> {
                while *i < lines.len() && lines[*i] != fence {
                    *i += 1;
                }
                *i += 1;
                let start = *i;
                while *i < lines.len() && lines[*i] != "```" {
                    *i += 1;
                }
                let body = lines.get(start..*i)?.join("\n") + "\n";
                *i += 1;
                Some(body)
            };
            let (Some(http), Some(log)) = (block(&mut i, "```http"), block(&mut i, "```log"))
            else {
                continue;
            };
            if ty != Some("request") || skip || log.contains("Pause") {
                continue;
            }
            let Some(data) = decode(&http) else { continue };
            let llhttp_error = log
                .split("error code=")
                .nth(1)
                .map(|e| e.split('\n').next().unwrap_or("").to_string());
            let llhttp_messages = log.matches("message complete").count();
            cases.push(Case {
                file: name.clone(),
                title: title.clone(),
                data,
                llhttp_error,
                llhttp_messages,
            });
        }
    }
    cases
}

#[derive(Debug, PartialEq)]
enum Verdict {
    /// Refused with this status.
    Rejected(u16, &'static str),
    /// The connection closes (no keep-alive) with bytes left over unread.
    Closed,
    /// Every message parsed; this many.
    Accepted(usize),
    /// Ran out of bytes inside a message: the server would wait, then time out.
    Incomplete,
}

/// What a server on mote-http does with `data` arriving on one connection.
fn serve(data: &[u8]) -> Verdict {
    let mut pos = 0;
    let mut messages = 0;
    while pos < data.len() {
        let rest = &data[pos..];
        let mut headers = [Header::default(); 64];
        let req = match parse_request(rest, &mut headers) {
            Ok(Parsed::Complete(r)) => r,
            Ok(Parsed::Partial) => return Verdict::Incomplete,
            Err(e) => return Verdict::Rejected(e.status, e.reason),
        };
        if req.method == Method::Other {
            // mote-httpd answers 501 to methods it does not know (RFC 9110
            // 15.6.2), as llhttp's test runner expects of RTSP/ICE methods.
            return Verdict::Rejected(501, "unknown method");
        }
        let mut body = BodySkipper::new(req.body);
        match body.feed(&rest[req.head_len..]) {
            Err(e) => return Verdict::Rejected(e.status, e.reason),
            Ok((_, false)) => return Verdict::Incomplete,
            Ok((n, true)) => pos += req.head_len + n,
        }
        messages += 1;
        if !req.keep_alive && pos < data.len() {
            return Verdict::Closed;
        }
    }
    Verdict::Accepted(messages)
}

/// Adds `Host: x` to each HTTP/1.1 message that lacks one, so that the
/// fixtures (which mostly omit Host, allowed by llhttp but not by RFC 9112
/// 3.2) reach the rules they are about.
fn with_host(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    let marker = b" HTTP/1.1\r\n";
    while i < data.len() {
        if data[i..].starts_with(marker) {
            out.extend_from_slice(marker);
            i += marker.len();
            let head_end = data[i..]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(data.len(), |p| i + p + 4);
            let head = data[i.saturating_sub(2)..head_end].to_ascii_lowercase();
            if !head.windows(7).any(|w| w == b"\r\nhost:") {
                out.extend_from_slice(b"Host: x\r\n");
            }
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

fn fixtures() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/llhttp");
    let cases = load(&dir);
    assert!(
        cases.len() > 100,
        "only {} fixtures loaded from {}",
        cases.len(),
        dir.display()
    );
    cases
}

#[test]
fn rejects_everything_llhttp_rejects() {
    let cases = fixtures();
    let mut must = 0;
    let mut failures = Vec::new();
    for c in cases.iter().filter(|c| c.llhttp_error.is_some()) {
        must += 1;
        // Rejected as sent, and still rejected once Host is supplied.
        for data in [c.data.clone(), with_host(&c.data)] {
            match serve(&data) {
                Verdict::Rejected(..) | Verdict::Closed => {}
                // Waiting for more bytes would only end in a timeout: refuse at once.
                v @ (Verdict::Accepted(_) | Verdict::Incomplete) => failures.push(format!(
                    "{} / {}: llhttp: {}; we: {v:?}\n  {:?}",
                    c.file,
                    c.title,
                    c.llhttp_error.as_deref().unwrap_or(""),
                    String::from_utf8_lossy(&data)
                )),
            }
        }
    }
    println!("{must} requests llhttp rejects: all rejected as soon as the bad byte arrives");
    assert!(
        failures.is_empty(),
        "accepted what llhttp rejects:\n{}",
        failures.join("\n")
    );
}

/// Requests llhttp accepts but we refuse on purpose, by fixture title.
const DELIBERATELY_STRICTER: &[(&str, &str)] = &[
    (
        "M-SEARCH request",
        "asterisk-form is only for OPTIONS (RFC 9112 3.2.4)",
    ),
    ("SOURCE request with ICE", "only HTTP/1.x"),
    ("OPTIONS request with RTSP", "only HTTP/1.x"),
    ("ANNOUNCE request with RTSP", "only HTTP/1.x"),
    ("No HTTP version", "HTTP/0.9 is not supported"),
    (
        "Fragment in URI",
        "a request-target has no fragment (RFC 9112 3.2)",
    ),
    (
        "POST with `chunked` as last transfer-encoding",
        "its target has a fragment",
    ),
    (
        "POST with `chunked` as last transfer-encoding (multiple headers)",
        "target has a fragment",
    ),
    (
        "`host:port` and basic auth",
        "userinfo is deprecated (RFC 9110 4.2.4)",
    ),
];

#[test]
fn accepts_what_llhttp_accepts_given_a_host() {
    let cases = fixtures();
    let mut failures = Vec::new();
    let (mut accepted, mut total) = (0, 0);
    for c in cases.iter().filter(|c| c.llhttp_error.is_none()) {
        total += 1;
        let data = with_host(&c.data);
        let stricter = DELIBERATELY_STRICTER.iter().any(|(t, _)| *t == c.title);
        let v = serve(&data);
        let fine = match v {
            Verdict::Accepted(n) => n == c.llhttp_messages,
            // Connection: close before more pipelined data.
            Verdict::Closed => true,
            // A message still incomplete at the end for llhttp too.
            Verdict::Incomplete => {
                c.llhttp_messages
                    < c.data
                        .windows(4)
                        .filter(|w| w == b"\r\n\r\n")
                        .count()
                        .max(1)
            }
            Verdict::Rejected(501, "unknown method") => true,
            Verdict::Rejected(..) => stricter,
        };
        if fine {
            accepted += 1;
        } else {
            failures.push(format!(
                "{} / {}: llhttp completed {} messages; we: {v:?}\n  {:?}",
                c.file,
                c.title,
                c.llhttp_messages,
                String::from_utf8_lossy(&data)
            ));
        }
        if stricter && !matches!(v, Verdict::Rejected(..)) {
            failures.push(format!("{}: listed as stricter but {v:?}", c.title));
        }
    }
    println!("{accepted}/{total} requests llhttp accepts handled alike (with Host added)");
    assert!(
        failures.is_empty(),
        "differences from llhttp:\n{}",
        failures.join("\n")
    );
}
