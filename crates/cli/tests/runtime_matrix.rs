//! The packed image serves its site under every container runtime we support:
//! crun, runc (OCI bundle from the image), podman, docker and containerd.
//!
//! Needs root, the apt packages listed in scripts/runtimes.sh and, for docker and
//! containerd, the daemons started by `scripts/runtimes.sh start`. Each test prints its
//! time from "run" to the first HTTP 200 on /healthz.

mod runtime_support;

use runtime_support::*;
use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Writes an OCI runtime config for a host-network, read-only, non-root container.
/// (A config from `umoci unpack` has `terminal: true` and runs as root: we write ours.)
fn write_runtime_config(bundle: &Path, args: &[String]) {
    let args_json = args
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join(",");
    let config = format!(
        r#"{{
  "ociVersion": "1.0.2",
  "process": {{
    "terminal": false,
    "user": {{ "uid": {NONROOT}, "gid": {NONROOT} }},
    "args": [{args_json}],
    "env": ["PATH=/"],
    "cwd": "/",
    "capabilities": {{ "bounding": [], "effective": [], "permitted": [], "inheritable": [], "ambient": [] }},
    "rlimits": [{{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }}],
    "noNewPrivileges": true
  }},
  "root": {{ "path": "rootfs", "readonly": true }},
  "hostname": "mote",
  "mounts": [
    {{ "destination": "/proc", "type": "proc", "source": "proc" }},
    {{ "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "noexec", "mode=755", "size=64k"] }}
  ],
  "linux": {{
    "namespaces": [ {{ "type": "pid" }}, {{ "type": "ipc" }}, {{ "type": "uts" }}, {{ "type": "mount" }} ],
    "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }}
}}
"#
    );
    std::fs::write(bundle.join("config.json"), config).unwrap();
}

/// crun and runc share the CLI: `X run -d --bundle B ID`, `X state ID`, `X delete -f ID`.
fn oci_runtime(tool: &str, port: u16) {
    let bin = require_tool(tool);
    let umoci = require_tool("umoci");
    let image = test_image();
    let scratch = Scratch::new(&format!("runtime-{tool}"));
    let bundle = scratch.0.join("bundle");
    run(Command::new(&umoci)
        .args([
            "unpack",
            "--image",
            &format!("{}:{TAG}", image.layout.display()),
        ])
        .arg(&bundle));
    write_runtime_config(&bundle, &image.port_args(port));
    let id = format!("mote-rt-{tool}-{}", std::process::id());
    let _cleanup = Cleanup(|| {
        let _ = output(Command::new(&bin).args(["delete", "-f", &id]));
    });
    let log = File::create(scratch.0.join("container.log")).unwrap();
    let start = Instant::now();
    let status = Command::new(&bin)
        .args(["run", "-d", "--bundle"])
        .arg(&bundle)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .unwrap();
    let log_text = || std::fs::read_to_string(scratch.0.join("container.log")).unwrap_or_default();
    assert!(
        status.success(),
        "{tool} run failed ({status}): {}",
        log_text()
    );
    let t = wait_200(port, "/healthz", start)
        .unwrap_or_else(|e| panic!("{tool}: {e}\nlog: {}", log_text()));
    eprintln!("{tool}: first 200 after {:.1} ms", t.as_secs_f64() * 1e3);
    assert_serves_site(tool, port, image);
    let state = run(Command::new(&bin).args(["state", &id]));
    let pid =
        json_number(&state, "pid").unwrap_or_else(|| panic!("{tool} state has no pid: {state}"));
    assert_sandboxed(tool, pid);
    run(Command::new(&bin).args(["delete", "-f", &id]));
    let list = run(Command::new(&bin).arg("list"));
    assert!(
        !list.contains(&id),
        "{tool}: container {id} still listed after delete: {list}"
    );
}

/// `"key": 123` → 123, for the one number we need from runtime state JSON.
fn json_number(json: &str, key: &str) -> Option<u32> {
    let at = json.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    rest[..rest.find(|c: char| !c.is_ascii_digit())?]
        .parse()
        .ok()
}

#[test]
fn crun_serves_site() {
    oci_runtime("crun", 18101);
}

#[test]
fn runc_serves_site() {
    oci_runtime("runc", 18102);
}

/// podman: load the OCI archive, run read-only as 65532 with a mapped port.
#[test]
fn podman_serves_site() {
    let podman = require_tool("podman");
    let image = test_image();
    let port = 18103;
    let loaded = run(Command::new(&podman)
        .arg("load")
        .arg("-i")
        .arg(&image.oci_archive));
    // "Loaded image: NAME" (podman 4) or "Loaded image(s): NAME"
    let name = loaded
        .lines()
        .find_map(|l| {
            l.split_once(": ")
                .filter(|(k, _)| k.starts_with("Loaded image"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("podman load printed no image name: {loaded}"));
    let ctr = format!("mote-rt-podman-{}", std::process::id());
    let _cleanup = Cleanup(|| {
        let _ = output(Command::new(&podman).args(["rm", "-f", "-t", "0", &ctr]));
        let _ = output(Command::new(&podman).args(["rmi", "-f", &name]));
    });
    let start = Instant::now();
    run(Command::new(&podman).args([
        "run",
        "-d",
        "--name",
        &ctr,
        "--read-only",
        "--user",
        "65532:65532",
        // The default rlimits fail with EPERM on these machines (ENVIRONMENT.md trap 2).
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        &name,
    ]));
    let t = wait_200(port, "/healthz", start).unwrap_or_else(|e| {
        let logs = output(Command::new(&podman).args(["logs", &ctr]));
        panic!(
            "podman: {e}\nlogs: {}",
            String::from_utf8_lossy(&logs.stderr)
        )
    });
    eprintln!("podman: first 200 after {:.1} ms", t.as_secs_f64() * 1e3);
    assert_serves_site("podman", port, image);
    let pid: u32 = run(Command::new(&podman).args(["inspect", "-f", "{{.State.Pid}}", &ctr]))
        .trim()
        .parse()
        .unwrap();
    assert_sandboxed("podman", pid);
    run(Command::new(&podman).args(["rm", "-f", "-t", "0", &ctr]));
    run(Command::new(&podman).args(["rmi", "-f", &name]));
    let left =
        run(Command::new(&podman).args(["ps", "-a", "-q", "--filter", &format!("name={ctr}")]));
    assert!(
        left.trim().is_empty(),
        "podman: container {ctr} left behind"
    );
}

/// docker: it cannot load OCI archives, so it gets the docker archive.
#[test]
fn docker_serves_site() {
    let docker = require_tool("docker");
    let host = docker_host();
    require_socket("dockerd", &host);
    let image = test_image();
    let port = 18104;
    let d = || {
        let mut c = Command::new(&docker);
        c.args(["-H", &host]);
        c
    };
    run(d().arg("load").arg("-i").arg(&image.docker_archive));
    let ctr = format!("mote-rt-docker-{}", std::process::id());
    let _cleanup = Cleanup(|| {
        let _ = output(d().args(["rm", "-f", &ctr]));
        let _ = output(d().args(["rmi", "-f", &image.docker_ref]));
    });
    let start = Instant::now();
    run(d().args([
        "run",
        "-d",
        "--name",
        &ctr,
        "--read-only",
        "--user",
        "65532:65532",
        "-p",
        &format!("127.0.0.1:{port}:8080"),
        &image.docker_ref,
    ]));
    let t = wait_200(port, "/healthz", start).unwrap_or_else(|e| {
        let logs = output(d().args(["logs", &ctr]));
        panic!(
            "docker: {e}\nlogs: {}",
            String::from_utf8_lossy(&logs.stderr)
        )
    });
    eprintln!("docker: first 200 after {:.1} ms", t.as_secs_f64() * 1e3);
    assert_serves_site("docker", port, image);
    let pid: u32 = run(d().args(["inspect", "-f", "{{.State.Pid}}", &ctr]))
        .trim()
        .parse()
        .unwrap();
    assert_sandboxed("docker", pid);
    run(d().args(["rm", "-f", &ctr]));
    run(d().args(["rmi", "-f", &image.docker_ref]));
}

/// containerd: `ctr image import` of the OCI archive, `ctr run --net-host --read-only`.
#[test]
fn containerd_serves_site() {
    let ctr_bin = require_tool("ctr");
    let addr = containerd_address();
    require_socket("containerd", &addr);
    let image = test_image();
    let port = 18105;
    let ns = format!("mote-test-{}", std::process::id());
    let c = || {
        let mut c = Command::new(&ctr_bin);
        c.args(["--address", &addr, "--namespace", &ns]);
        c
    };
    let id = "mote-rt-ctr";
    // Import into a namespace of our own: whatever names the archive gives (its ref
    // annotations, or a digest name with --digests), the image is the only one there.
    run(c()
        .args(["images", "import", "--digests"])
        .arg(&image.oci_archive));
    let names = run(c().args(["images", "ls", "-q"]));
    let names: Vec<String> = names.lines().map(str::to_string).collect();
    let name = names
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("containerd: `ctr images import` created no image"));
    let _cleanup = Cleanup(|| {
        let _ = output(c().args(["tasks", "rm", "-f", id]));
        let _ = output(c().args(["containers", "rm", id]));
        for n in &names {
            let _ = output(c().args(["images", "rm", "--sync", n]));
        }
        let _ = output(Command::new(&ctr_bin).args(["--address", &addr, "namespaces", "rm", &ns]));
    });
    let start = Instant::now();
    let mut cmd = c();
    cmd.args([
        "run",
        "-d",
        "--net-host",
        "--read-only",
        "--null-io",
        &name,
        id,
    ]);
    cmd.args(image.port_args(port));
    run(&mut cmd);
    let t = wait_200(port, "/healthz", start).unwrap_or_else(|e| panic!("containerd: {e}"));
    eprintln!(
        "containerd: first 200 after {:.1} ms",
        t.as_secs_f64() * 1e3
    );
    assert_serves_site("containerd", port, image);
    let tasks = run(c().args(["tasks", "ls"]));
    let pid: u32 = tasks
        .lines()
        .find(|l| l.starts_with(id))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("containerd: no pid for {id} in `ctr tasks ls`: {tasks}"));
    assert_sandboxed("containerd", pid);
    run(c().args(["tasks", "rm", "-f", id]));
    run(c().args(["containers", "rm", id]));
    for n in &names {
        run(c().args(["images", "rm", "--sync", n]));
    }
    run(Command::new(&ctr_bin).args(["--address", &addr, "namespaces", "rm", &ns]));
}
