//! `mote serve`: scale to zero under load. A socket-activated probe server is woken
//! by connections, stopped after a short idle time, and woken again, while curl keeps
//! sending requests (some land right while a container is being stopped). Not one
//! request may fail.

#[path = "probe/mod.rs"]
mod probe;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use probe::*;

/// A port below the ephemeral range that is free right now.
fn free_port() -> u16 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let start = 20000 + (std::process::id() % 5000) as u16 + 100 * NEXT.fetch_add(1, Ordering::SeqCst) as u16;
    (start..start + 2000)
        .find(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        .expect("no free port")
}

struct Serve {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(w: &World, port: u16, idle: &str, args: &[&str]) -> Serve {
        Serve::start_image(w, &w.image(), port, idle, args)
    }

    fn start_image(w: &World, image: &std::path::Path, port: u16, idle: &str, args: &[&str]) -> Serve {
        let mut cmd = w.mote();
        cmd.arg("serve").arg(image).args(["--listen", &format!("127.0.0.1:{port}"), "--idle", idle]);
        if !args.is_empty() {
            cmd.arg("--").args(args);
        }
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l2 = log.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l2.lock().unwrap().push(line);
            }
        });
        let s = Serve { child, log };
        s.wait_for("listening on", 1);
        s
    }

    fn count(&self, what: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|l| l.contains(what)).count()
    }

    fn wait_for(&self, what: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count(what) < n {
            assert!(Instant::now() < deadline, "no {n}× {what:?} in the log: {:?}", self.log.lock().unwrap());
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn curl(port: u16) -> Result<String, String> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .expect("curl is needed for this test (apt-get install curl)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() && text.ends_with("\n200") {
        Ok(text)
    } else {
        Err(format!("curl {:?}: {text:?} {}", out.status, String::from_utf8_lossy(&out.stderr)))
    }
}

#[test]
fn zero_failed_requests_across_start_stop_cycles() {
    let w = World::new();
    let port = free_port();
    let serve = Serve::start(&w, port, "300ms", &["serve"]);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(serve.count("started"), 0, "a container started before any connection");
    cycles(&serve, port);
}

/// The same with the real server: mote-httpd packed by `mote pack` (the one embedded
/// in mote), socket-activated, stopped gracefully by SIGTERM. mote-httpd keeps a
/// connection it has not served yet across SIGTERM (its request may already wait in
/// the socket), so the connection that raced the stop is still answered.
#[test]
fn mote_httpd_zero_failed_requests_across_start_stop_cycles() {
    let w = World::new();
    let site = w.tmp.path().join("site");
    std::fs::create_dir(&site).unwrap();
    std::fs::write(site.join("index.html"), "hello from mote-httpd\n").unwrap();
    let image = w.tmp.path().join("httpd.oci");
    let out = Command::new(MOTE).arg("pack").arg("--site").arg(&site).arg("-o").arg(&image).output().unwrap();
    assert!(out.status.success(), "mote pack: {}", String::from_utf8_lossy(&out.stderr));
    let port = free_port();
    let serve = Serve::start_image(&w, &image, port, "300ms", &[]);
    let body = curl(port).unwrap();
    assert!(body.starts_with("hello from mote-httpd\n"), "{body:?}");
    serve.wait_for("stopped the container", 1);
    cycles(&serve, port);
}

fn cycles(serve: &Serve, port: u16) {

    let failures = Arc::new(Mutex::new(Vec::new()));
    let ok = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // A trickle whose gaps straddle the idle time: its requests keep arriving around
    // the moment mote decides to stop the container.
    let trickle = {
        let (failures, ok, stop) = (failures.clone(), ok.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                match curl(port) {
                    Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                    Err(e) => {
                        failures.lock().unwrap().push(e);
                        0
                    }
                };
                i += 1;
                std::thread::sleep(Duration::from_millis(150 + (i * 53) % 500));
            }
        })
    };
    // Bursts from three clients with idle gaps between them: each burst's first
    // request wakes a stopped service.
    for cycle in 0..4 {
        let stops_before = serve.count("stopped the container");
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let (failures, ok) = (failures.clone(), ok.clone());
                std::thread::spawn(move || {
                    for _ in 0..10 {
                        match curl(port) {
                            Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                            Err(e) => {
                                failures.lock().unwrap().push(e);
                                0
                            }
                        };
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Wait until the service has been stopped again (the trickle may delay it).
        serve.wait_for("stopped the container", stops_before + 1);
        eprintln!("cycle {cycle}: starts {} stops {}", serve.count("started"), serve.count("stopped"));
    }
    stop.store(true, Ordering::SeqCst);
    trickle.join().unwrap();

    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "{} failed requests: {failures:?}\nlog: {:?}", failures.len(), serve.log.lock().unwrap());
    assert!(ok.load(Ordering::SeqCst) >= 120);
    assert!(serve.count("started the container") >= 4, "{:?}", serve.log.lock().unwrap());
    assert!(serve.count("stopped the container (exit status 0)") >= 4, "{:?}", serve.log.lock().unwrap());
    assert_eq!(serve.count("killed by signal"), 0, "a container had to be killed: {:?}", serve.log.lock().unwrap());
    assert_eq!(serve.count("exited by itself"), 0, "{:?}", serve.log.lock().unwrap());
}

#[test]
fn the_first_request_after_idle_is_answered() {
    let w = World::new();
    let port = free_port();
    let mut serve = Serve::start(&w, port, "200ms", &["serve"]);
    for round in 1..=3 {
        // The service is idle (no container): one request must wake it and get 200.
        let t0 = Instant::now();
        let body = curl(port).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(body.starts_with("probe 1\n"), "{body:?}");
        eprintln!("round {round}: first response after {:?}", t0.elapsed());
        serve.wait_for("started the container", round);
        assert_eq!(serve.count("started the container"), round, "{:?}", serve.log.lock().unwrap());
        serve.wait_for("stopped the container", round);
    }
    // SIGTERM to mote serve: exits cleanly, nothing left listening.
    unsafe { libc::kill(serve.child.id() as i32, libc::SIGTERM) };
    let st = serve.child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn a_crashing_server_is_restarted_with_back_off() {
    let w = World::new();
    let port = free_port();
    // `exit 3` never accepts: every start fails at once.
    let serve = Serve::start(&w, port, "1s", &["exit", "3"]);
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    serve.wait_for("exited by itself", 3);
    let t0 = Instant::now();
    serve.wait_for("exited by itself", 4);
    assert!(t0.elapsed() >= Duration::from_millis(300), "no back-off between failing starts");
    assert!(serve.count("waiting") >= 3);
    // The waiting connection was never accepted by anyone but is still queued.
    c.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut b = [0u8; 1];
    assert!(std::io::Read::read(&mut c, &mut b).is_err(), "the connection was answered");
}
