//! `mote up` under each runtime it supports: the site answers 200, the server runs
//! read-only as uid 65532, and SIGINT removes the container, the image and the state
//! folder. One test per runtime; each fails (never skips) when its tool is missing.

mod runtime_support;

use runtime_support::*;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Packing runs the debug build's zopfli, which takes seconds; starting may add a
/// first podman network setup.
const UP_DEADLINE: Duration = Duration::from_secs(120);

struct Up {
    child: Child,
    lines: Vec<String>,
}

impl Up {
    fn field(&self, key: &str) -> Option<String> {
        self.lines.iter().find_map(|l| {
            l.trim_start()
                .strip_prefix(key)
                .map(|v| v.trim().to_string())
        })
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        // A failed assert leaves mote running: stop it the way a user would.
        if let Ok(None) = self.child.try_wait() {
            interrupt(&self.child);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn interrupt(child: &Child) {
    let pid = rustix::process::Pid::from_child(child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("send SIGINT to mote");
}

/// Starts `mote up SITE --port PORT --runtime RUNTIME` and waits for its report.
fn start(site: &std::path::Path, port: u16, runtime: &str) -> Up {
    start_args(
        &[
            site.as_os_str(),
            "--port".as_ref(),
            port.to_string().as_ref(),
            "--runtime".as_ref(),
            runtime.as_ref(),
        ],
        runtime,
    )
}

/// Starts `mote up ARGS...` and waits for its report.
fn start_args(args: &[&std::ffi::OsStr], runtime: &str) -> Up {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mote"))
        .arg("up")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mote up");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take().unwrap();
    let (etx, erx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            all.push_str(&line);
            all.push('\n');
        }
        let _ = etx.send(all);
    });
    let start = Instant::now();
    let mut up = Up {
        child,
        lines: Vec::new(),
    };
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                let done = line.starts_with("Ctrl-C");
                up.lines.push(line);
                if done {
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = up.child.wait().unwrap();
                let err = erx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
                panic!(
                    "mote up --runtime {runtime} exited ({status}) before serving:\n{}\n{err}",
                    up.lines.join("\n")
                );
            }
        }
        if start.elapsed() > UP_DEADLINE {
            panic!(
                "mote up --runtime {runtime} printed no report within {UP_DEADLINE:?}:\n{}",
                up.lines.join("\n")
            );
        }
    }
    up
}

fn up_with(runtime: &str, port: u16) {
    if runtime != "builtin" {
        require_tool(runtime);
    }
    let scratch = Scratch::new(&format!("up-{runtime}"));
    let site = scratch.0.join("site");
    std::fs::create_dir_all(site.join("img")).unwrap();
    let files: Vec<(String, Vec<u8>)> = vec![
        ("index.html".into(), format!("<!doctype html><title>{runtime}</title><h1>up under {runtime}</h1>\n").into_bytes()),
        ("img/dot.svg".into(), b"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 2 2\"><circle cx=\"1\" cy=\"1\" r=\"1\"/></svg>\n".to_vec()),
    ];
    for (name, bytes) in &files {
        std::fs::write(site.join(name), bytes).unwrap();
    }

    let mut up = start(&site, port, runtime);
    let report = up.lines.join("\n");
    assert_eq!(
        up.field("url").as_deref(),
        Some(&*format!("http://127.0.0.1:{port}/")),
        "{report}"
    );
    let rt = up.field("runtime").unwrap_or_default();
    assert!(
        rt.starts_with(runtime),
        "runtime line should name {runtime}: {report}"
    );
    for key in ["mote-httpd", "image"] {
        let v = up
            .field(key)
            .unwrap_or_else(|| panic!("no {key} line: {report}"));
        let bytes: u64 = v
            .split_whitespace()
            .next()
            .unwrap()
            .replace(',', "")
            .parse()
            .unwrap();
        assert!(bytes > 1000, "{key} size implausible: {v}");
    }
    let first = up
        .field("first 200")
        .unwrap_or_else(|| panic!("no first-200 line: {report}"));
    let ms: f64 = first.split_whitespace().next().unwrap().parse().unwrap();
    assert!(ms > 0.0 && ms < 30_000.0, "first 200 implausible: {first}");
    eprintln!("mote up --runtime {runtime}: first 200 after {ms} ms");
    let state = PathBuf::from(
        up.field("state")
            .unwrap_or_else(|| panic!("no state line: {report}")),
    );
    assert!(
        state.is_dir(),
        "state folder {} missing while running",
        state.display()
    );

    let (code, _) = http_get(port, "/healthz").unwrap();
    assert_eq!(code, 200, "/healthz");
    for (name, bytes) in &files {
        let (code, body) = http_get(port, &format!("/{name}")).unwrap();
        assert_eq!(code, 200, "GET /{name}");
        assert_eq!(&body, bytes, "body of /{name}");
    }
    let pid: u32 = up
        .field("server pid")
        .unwrap_or_else(|| panic!("no server pid line: {report}"))
        .parse()
        .unwrap();
    assert_sandboxed(&format!("mote up --runtime {runtime}"), pid);

    interrupt(&up.child);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = up.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "mote up did not exit within 30 s of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "mote up exited with {status} after SIGINT"
    );
    assert!(
        !state.exists(),
        "state folder {} left behind",
        state.display()
    );
    assert!(
        process_gone(pid),
        "server pid {pid} still running after mote up exited"
    );
    assert!(
        http_get(port, "/healthz").is_err(),
        "port {port} still answers after SIGINT"
    );
    let container = rt
        .split("container ")
        .nth(1)
        .map(|c| c.trim_end_matches(')').to_string());
    match runtime {
        "podman" => {
            let c = container.unwrap_or_else(|| panic!("no container name in {rt}"));
            let left = run(Command::new("podman").args([
                "ps",
                "-a",
                "-q",
                "--filter",
                &format!("name={c}"),
            ]));
            assert!(left.trim().is_empty(), "podman container {c} left behind");
            let images =
                run(Command::new("podman").args(["images", "--format", "{{.Repository}}"]));
            assert!(
                !images.contains(&c),
                "podman image {c} left behind: {images}"
            );
        }
        "crun" | "runc" => {
            let c = container.unwrap_or_else(|| panic!("no container name in {rt}"));
            let list = run(Command::new(runtime).arg("list"));
            assert!(
                !list.contains(&c),
                "{runtime} container {c} left behind: {list}"
            );
        }
        _ => {}
    }
}

/// Gone or a zombie: a detached container's process is reaped by the host's init,
/// which may take a moment after the runtime reports it stopped.
fn process_gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::read_to_string(format!("/proc/{pid}/status")) {
            Err(_) => return true,
            Ok(s)
                if s.lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z')) =>
            {
                return true
            }
            Ok(_) if Instant::now() > deadline => return false,
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[test]
fn up_podman() {
    up_with("podman", 18201);
}

#[test]
fn up_crun() {
    up_with("crun", 18202);
}

#[test]
fn up_runc() {
    up_with("runc", 18203);
}

/// A `mote up` killed with SIGKILL cannot clean up: its container keeps the port and
/// its state folder stays. The next `mote up` removes both before it starts, so it can
/// take the same port.
#[test]
fn up_sweeps_what_a_killed_up_left() {
    require_tool("crun");
    let port = 18211;
    let scratch = Scratch::new("up-sweep");
    let site = scratch.0.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "swept\n").unwrap();

    let mut first = start(&site, port, "crun");
    let report = first.lines.join("\n");
    let state = PathBuf::from(first.field("state").unwrap_or_else(|| panic!("no state line: {report}")));
    let rt = first.field("runtime").unwrap_or_default();
    let container = rt
        .split("container ")
        .nth(1)
        .map(|c| c.trim_end_matches(')').to_string())
        .unwrap_or_else(|| panic!("no container name in {rt}"));
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    assert_eq!(http_get(port, "/healthz").unwrap().0, 200, "the container outlives a SIGKILLed mote up");
    assert!(state.is_dir(), "state folder {} should still be there", state.display());
    assert!(run(Command::new("crun").arg("list")).contains(&container));

    let second = start(&site, port, "crun");
    assert_eq!(http_get(port, "/").unwrap(), (200, b"swept\n".to_vec()));
    assert!(!state.exists(), "leftover state folder {} not swept", state.display());
    let list = run(Command::new("crun").arg("list"));
    assert!(!list.contains(&container), "leftover container {container} not swept: {list}");
    drop(second);
}

/// No container runtime: `mote run`'s namespaces.
#[test]
fn up_builtin() {
    up_with("builtin", 18204);
}

/// No folder and no --runtime: the example site built into mote, under the first
/// runtime installed (podman, crun, runc, else builtin).
#[test]
fn up_default_site_and_runtime() {
    let port = 18207;
    let expected = ["podman", "crun", "runc"]
        .into_iter()
        .find(|t| {
            Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or("builtin");
    let mut up = start_args(&["--port".as_ref(), port.to_string().as_ref()], "default");
    let report = up.lines.join("\n");
    let rt = up.field("runtime").unwrap_or_default();
    assert!(
        rt.starts_with(expected),
        "expected the first installed runtime {expected}: {report}"
    );
    let site = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("site");
    let mut names: Vec<String> = std::fs::read_dir(&site)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(
        names.len() >= 2,
        "the bundled site has too few files: {names:?}"
    );
    for name in &names {
        let (code, body) = http_get(port, &format!("/{name}")).unwrap();
        assert_eq!(code, 200, "GET /{name}");
        assert_eq!(
            body,
            std::fs::read(site.join(name)).unwrap(),
            "body of /{name}"
        );
    }
    let (code, body) = http_get(port, "/").unwrap();
    assert_eq!(
        (code, body),
        (200, std::fs::read(site.join("index.html")).unwrap()),
        "GET /"
    );
    interrupt(&up.child);
    let status = up.child.wait().unwrap();
    assert!(
        status.success(),
        "mote up exited with {status} after SIGINT"
    );
}

/// `--detach` returns once the site answers, and the printed command removes it all.
fn detach_with(runtime: &str, port: u16) {
    require_tool(runtime);
    let out = Command::new(env!("CARGO_BIN_EXE_mote"))
        .args([
            "up",
            "--detach",
            "--runtime",
            runtime,
            "--port",
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mote up --detach failed: {report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stop_cmd = report
        .lines()
        .skip_while(|l| !l.starts_with("Detached."))
        .nth(1)
        .unwrap_or_else(|| panic!("no stop command printed: {report}"))
        .trim()
        .to_string();
    // Whatever happens below, take the server down.
    let _cleanup = Cleanup(|| {
        let _ = output(Command::new("sh").args(["-c", &stop_cmd]));
    });
    let (code, _) = http_get(port, "/")
        .unwrap_or_else(|e| panic!("detached server does not answer: {e}\n{report}"));
    assert_eq!(code, 200, "GET / after --detach");
    let state = report.lines().find_map(|l| {
        l.trim_start()
            .strip_prefix("state")
            .map(|v| PathBuf::from(v.trim()))
    });
    let pid: u32 = report
        .lines()
        .find_map(|l| {
            l.trim_start()
                .strip_prefix("server pid")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no server pid: {report}"));
    run(Command::new("sh").args(["-c", &stop_cmd]));
    assert!(
        process_gone(pid),
        "server pid {pid} still running after: {stop_cmd}"
    );
    assert!(
        http_get(port, "/").is_err(),
        "port {port} still answers after: {stop_cmd}"
    );
    if let Some(state) = state {
        assert!(
            !state.exists(),
            "{} left after: {stop_cmd}",
            state.display()
        );
    }
}

#[test]
fn up_detach_crun() {
    detach_with("crun", 18208);
}

#[test]
fn up_detach_podman() {
    detach_with("podman", 18209);
}

/// The builtin mode cannot detach: its server is mote's child.
#[test]
fn up_detach_refused_without_a_runtime() {
    let out = Command::new(env!("CARGO_BIN_EXE_mote"))
        .args(["up", "--detach", "--runtime", "builtin", "--port", "18210"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--detach needs a container runtime"), "{err}");
}

/// A runtime that is not installed fails with its name and the package to install.
#[test]
fn up_names_a_missing_runtime() {
    let empty = Scratch::new("up-empty-path");
    let out = Command::new(env!("CARGO_BIN_EXE_mote"))
        .args(["up", "--runtime", "podman", "--port", "18205"])
        .env("PATH", &empty.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`podman`") && err.contains("apt-get install podman"),
        "{err}"
    );
}

/// A folder that is not there is refused before anything is packed or started.
#[test]
fn up_refuses_a_missing_site() {
    let out = Command::new(env!("CARGO_BIN_EXE_mote"))
        .args([
            "up",
            "/nonexistent/site",
            "--runtime",
            "unshare",
            "--port",
            "18206",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/site") && err.contains("not a folder"),
        "{err}"
    );
}
