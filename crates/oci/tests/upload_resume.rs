//! Chunked uploads that fail in the middle resume from what the registry holds.
//!
//! The registry here is a small in-process one that keeps real upload sessions (bytes
//! appended per PATCH, `Range` on GET, 416 for a chunk that does not start where the
//! session ends, digest checked on the final PUT), with faults injected on the Nth
//! PATCH: an error status, a lost answer, a connection reset part-way through the
//! body, a forgotten session. The real docker-registry behind a connection-dropping
//! proxy is tested in crates/cli/tests/push_resume.rs.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mote_oci::registry::{Client, ClientOptions, UploadOptions};
use mote_oci::spec::Descriptor;
use mote_oci::Digest;

#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Keep nothing of the chunk, answer this status.
    Status(u16),
    /// Keep the whole chunk, but answer 500 (the answer to a good chunk is lost).
    KeepThen500,
    /// Keep the first N bytes of the chunk, then reset the connection, no answer.
    ResetAfter(usize),
    /// Forget the upload session, answer 404 BLOB_UPLOAD_UNKNOWN.
    Forget,
}

#[derive(Default)]
struct State {
    sessions: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, Vec<u8>>,
    next: u32,
    patches: usize,
    faults: HashMap<usize, Fault>,
    /// Faults for every PATCH from this one on.
    fault_from: Option<(usize, Fault)>,
    /// "METHOD path [content-range]" per request.
    log: Vec<String>,
}

struct Fake {
    host: String,
    state: Arc<Mutex<State>>,
}

impl Fake {
    fn start(faults: &[(usize, Fault)]) -> Fake {
        let mut listener = None;
        let base = 21000 + (std::process::id() % 5000) as u16;
        for i in 0..6000u16 {
            let port = 21000 + (base - 21000 + i * 7) % 11000;
            if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
                listener = Some(l);
                break;
            }
        }
        let listener = listener.expect("a free loopback port below 32768");
        let host = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(Mutex::new(State {
            faults: faults.iter().copied().collect(),
            ..Default::default()
        }));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                serve(conn, &st);
            }
        });
        Fake { host, state }
    }

    fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

fn respond(conn: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &str) {
    let mut r = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    let _ = conn.write_all(r.as_bytes());
}

fn range_of(len: usize) -> String {
    format!("0-{}", len.saturating_sub(1))
}

/// One request per connection (every answer says Connection: close).
fn serve(mut conn: TcpStream, state: &Arc<Mutex<State>>) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let target = words.next().unwrap_or("").to_string();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let content_range = header("content-range");
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut s = state.lock().unwrap();
    s.log.push(format!(
        "{method} {path}{}",
        content_range
            .as_deref()
            .map(|r| format!(" {r}"))
            .unwrap_or_default()
    ));
    let unknown = r#"{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown to registry"}]}"#;

    // PATCH faults act before the body is read (a reset part-way through reads some).
    if method == "PATCH" {
        s.patches += 1;
        let n = s.patches;
        let fault = s
            .faults
            .get(&n)
            .copied()
            .or(s.fault_from.filter(|(from, _)| n >= *from).map(|(_, f)| f));
        let id = path.rsplit('/').next().unwrap_or("").to_string();
        match fault {
            Some(Fault::ResetAfter(k)) => {
                let mut part = vec![0u8; k.min(len)];
                if conn.read_exact(&mut part).is_ok() {
                    if let Some(buf) = s.sessions.get_mut(&id) {
                        buf.extend_from_slice(&part);
                    }
                }
                drop(s);
                // Unread body in the socket: closing it sends a reset.
                let _ = conn.shutdown(std::net::Shutdown::Both);
                return;
            }
            Some(Fault::Forget) => {
                s.sessions.remove(&id);
                let mut body = vec![0u8; len];
                let _ = conn.read_exact(&mut body);
                respond(&mut conn, 404, &[], unknown);
                return;
            }
            _ => {}
        }
        let mut body = vec![0u8; len];
        if conn.read_exact(&mut body).is_err() {
            return;
        }
        let Some(buf) = s.sessions.get(&id).cloned() else {
            respond(&mut conn, 404, &[], unknown);
            return;
        };
        match fault {
            Some(Fault::Status(code)) => {
                respond(&mut conn, code, &[], "");
                return;
            }
            Some(Fault::KeepThen500) => {
                s.sessions.get_mut(&id).unwrap().extend_from_slice(&body);
                respond(&mut conn, 500, &[], "");
                return;
            }
            _ => {}
        }
        let start: usize = content_range
            .as_deref()
            .and_then(|r| r.split('-').next()?.parse().ok())
            .unwrap_or(buf.len());
        if start != buf.len() {
            respond(&mut conn, 416, &[("Range", range_of(buf.len()))], "");
            return;
        }
        let buf = s.sessions.get_mut(&id).unwrap();
        buf.extend_from_slice(&body);
        let range = range_of(buf.len());
        respond(
            &mut conn,
            202,
            &[("Location", path.to_string()), ("Range", range)],
            "",
        );
        return;
    }
    let mut body = vec![0u8; len];
    if conn.read_exact(&mut body).is_err() {
        return;
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["v2", ""]) | ("GET", ["v2"]) => respond(&mut conn, 200, &[], "{}"),
        ("HEAD", ["v2", .., "blobs", d]) => {
            let code = if s.blobs.contains_key(*d) { 200 } else { 404 };
            respond(&mut conn, code, &[], "");
        }
        ("POST", ["v2", .., "uploads", ""]) => {
            s.next += 1;
            let id = format!("u{}", s.next);
            s.sessions.insert(id.clone(), Vec::new());
            let loc = format!("{}{id}", path);
            respond(
                &mut conn,
                202,
                &[("Location", loc), ("Range", "0-0".into())],
                "",
            );
        }
        ("GET", ["v2", .., "uploads", id]) => match s.sessions.get(*id) {
            Some(buf) => {
                let range = range_of(buf.len());
                respond(
                    &mut conn,
                    204,
                    &[("Location", path.to_string()), ("Range", range)],
                    "",
                )
            }
            None => respond(&mut conn, 404, &[], unknown),
        },
        ("PUT", ["v2", .., "uploads", id]) => {
            let Some(mut buf) = s.sessions.remove(*id) else {
                return respond(&mut conn, 404, &[], unknown);
            };
            buf.extend_from_slice(&body);
            let want = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("digest="))
                .unwrap_or("")
                .replace("%3A", ":");
            let got = Digest::of(&buf).to_string();
            if got != want {
                let e =
                    format!(r#"{{"errors":[{{"code":"DIGEST_INVALID","message":"got {got}"}}]}}"#);
                return respond(&mut conn, 400, &[], &e);
            }
            s.blobs.insert(got.clone(), buf);
            respond(&mut conn, 201, &[("Docker-Content-Digest", got)], "");
        }
        _ => respond(&mut conn, 404, &[], ""),
    }
}

fn client(host: &str) -> Client {
    Client::new(
        host,
        ClientOptions {
            insecure: true,
            ..Default::default()
        },
    )
}

/// 10,000 bytes that differ from byte to byte (so an offset error shows in the digest).
fn blob() -> (Descriptor, Vec<u8>) {
    let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let d = Descriptor {
        media_type: "application/vnd.oci.image.layer.v1.tar".into(),
        digest: Digest::of(&bytes),
        size: bytes.len() as u64,
        platform: None,
        annotations: None,
    };
    (d, bytes)
}

fn chunked(size: usize) -> UploadOptions {
    UploadOptions {
        chunk_size: size,
        chunked: true,
        ..Default::default()
    }
}

fn patches(log: &[String]) -> Vec<String> {
    log.iter()
        .filter(|l| l.starts_with("PATCH "))
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect()
}

fn stored(fake: &Fake, d: &Descriptor, bytes: &[u8]) {
    let s = fake.state.lock().unwrap();
    assert_eq!(
        s.blobs.get(&d.digest.to_string()).map(|b| b.as_slice()),
        Some(bytes),
        "the registry must hold the blob, byte for byte"
    );
}

#[test]
fn a_5xx_on_a_chunk_resumes_at_the_same_offset() {
    let fake = Fake::start(&[(3, Fault::Status(503))]);
    let (d, bytes) = blob();
    let how = client(&fake.host)
        .upload_blob("r", &d, &bytes, &chunked(3000))
        .unwrap();
    assert_eq!(how, "uploaded in 4 chunks, resumed 1x");
    let log = fake.log();
    assert_eq!(
        patches(&log),
        ["0-2999", "3000-5999", "6000-8999", "6000-8999", "9000-9999"]
    );
    // The registry was asked what it held between the failure and the retry.
    let i = log
        .iter()
        .position(|l| l == "PATCH /v2/r/blobs/uploads/u1 6000-8999")
        .unwrap();
    assert_eq!(log[i + 1], "GET /v2/r/blobs/uploads/u1");
    stored(&fake, &d, &bytes);
}

#[test]
fn a_lost_answer_to_a_stored_chunk_goes_on_with_the_next_chunk() {
    let fake = Fake::start(&[(2, Fault::KeepThen500)]);
    let (d, bytes) = blob();
    let how = client(&fake.host)
        .upload_blob("r", &d, &bytes, &chunked(3000))
        .unwrap();
    assert_eq!(how, "uploaded in 3 chunks, resumed 1x");
    // 3000-5999 is not sent twice: the registry said it held 0-5999.
    assert_eq!(
        patches(&fake.log()),
        ["0-2999", "3000-5999", "6000-8999", "9000-9999"]
    );
    stored(&fake, &d, &bytes);
}

#[test]
fn a_connection_reset_mid_chunk_resumes_after_the_bytes_that_arrived() {
    let fake = Fake::start(&[(2, Fault::ResetAfter(1234))]);
    let (d, bytes) = blob();
    let how = client(&fake.host)
        .upload_blob("r", &d, &bytes, &chunked(3000))
        .unwrap();
    assert!(
        how.starts_with("uploaded in ") && how.ends_with("resumed 1x"),
        "{how}"
    );
    // The registry holds 0-4233 after the reset; the next chunk starts at 4234.
    assert_eq!(
        patches(&fake.log()),
        ["0-2999", "3000-5999", "4234-7233", "7234-9999"]
    );
    stored(&fake, &d, &bytes);
}

#[test]
fn a_forgotten_session_starts_the_upload_over_once() {
    let fake = Fake::start(&[(2, Fault::Forget)]);
    let (d, bytes) = blob();
    let how = client(&fake.host)
        .upload_blob("r", &d, &bytes, &chunked(4000))
        .unwrap();
    assert!(
        how.starts_with("uploaded in 3 chunks, started over once (the registry no longer knows the upload session"),
        "{how}"
    );
    let log = fake.log();
    assert_eq!(
        log.iter().filter(|l| l.starts_with("POST ")).count(),
        2,
        "{log:?}"
    );
    assert_eq!(
        patches(&log),
        ["0-3999", "4000-7999", "0-3999", "4000-7999", "8000-9999"]
    );
    stored(&fake, &d, &bytes);

    // Lost twice: a clear error, no third session.
    let fake = Fake::start(&[(2, Fault::Forget), (4, Fault::Forget)]);
    let e = client(&fake.host)
        .upload_blob("r", &d, &bytes, &chunked(4000))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "the chunked upload of {} cannot be resumed",
            d.digest
        )) && e.contains("no longer knows the upload session")
            && e.contains("started over once already"),
        "{e}"
    );
    assert_eq!(
        fake.log().iter().filter(|l| l.starts_with("POST ")).count(),
        2
    );
}

#[test]
fn a_chunk_that_keeps_failing_gives_up_after_bounded_resumes() {
    let fake = Fake::start(&[]);
    fake.state.lock().unwrap().fault_from = Some((2, Fault::Status(502)));
    let (d, bytes) = blob();
    let t0 = Instant::now();
    let e = client(&fake.host)
        .upload_blob("r", &d, &bytes, &chunked(3000))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "the chunked upload of {} failed at byte 3000 of 10000: HTTP 502",
            d.digest
        )) && e.contains("gave up after 4 attempts to resume"),
        "{e}"
    );
    // 1 good PATCH, then the first try and 4 resumed ones; waits 0.25+0.5+1+2 s.
    assert_eq!(patches(&fake.log()).len(), 6);
    assert!(
        t0.elapsed() >= Duration::from_millis(3700),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn range_0_0_is_settled_by_a_416() {
    // One byte arrives before the reset: the registry says `0-0`, which also means
    // "nothing"; the resend from 0 gets 416, and the next resume starts at byte 1.
    let fake = Fake::start(&[(1, Fault::ResetAfter(1))]);
    let (d, bytes) = blob();
    let how = client(&fake.host)
        .upload_blob("r", &d, &bytes, &chunked(6000))
        .unwrap();
    assert_eq!(how, "uploaded in 2 chunks, resumed 2x");
    assert_eq!(
        patches(&fake.log()),
        ["0-5999", "0-5999", "1-6000", "6001-9999"]
    );
    stored(&fake, &d, &bytes);
}
