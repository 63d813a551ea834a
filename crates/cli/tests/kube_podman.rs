//! `mote kube` output runs under `podman kube play`, pulling the image from a real
//! registry (the docker-registry that `scripts/runtimes.sh start` runs on loopback).
//!
//! podman 4.3 publishes each containerPort on the same host port when the manifest
//! gives no hostPort, so the test asks for a port of its own (`--port 18301`) and
//! reaches the pod on 127.0.0.1. It also runs one pod per replica, all publishing
//! that one host port, so the test asks for `--replicas 1`.

mod runtime_support;

use runtime_support::*;
use std::process::Command;
use std::time::Instant;

#[test]
fn kube_manifest_runs_under_podman_kube_play() {
    let podman = require_tool("podman");
    let skopeo = require_tool("skopeo");
    let registry = registry_addr();
    match http_get_at(&registry, "/v2/") {
        Ok((200, _)) => {}
        other => panic!(
            "no registry at http://{registry}/v2/ ({other:?}): start it with `scripts/runtimes.sh start` \
             (or point MOTE_REGISTRY at one)"
        ),
    }
    let image = test_image();
    let port = 18301;
    let name = "mote-kube-test";
    let image_ref = format!("{registry}/mote-test/kube:{}", std::process::id());
    run(Command::new(&skopeo).args([
        "copy",
        "--quiet",
        "--dest-tls-verify=false",
        &format!("oci:{}:{TAG}", image.layout.display()),
        &format!("docker://{image_ref}"),
    ]));

    let scratch = Scratch::new("kube-podman");
    let yaml_path = scratch.0.join("site.yaml");
    let yaml = run(Command::new(env!("CARGO_BIN_EXE_mote")).args([
        "kube",
        &image_ref,
        "--name",
        name,
        "--port",
        &port.to_string(),
        "--replicas",
        "1",
    ]));
    std::fs::write(&yaml_path, &yaml).unwrap();

    let _cleanup = Cleanup(|| {
        let _ = output(
            Command::new(&podman)
                .arg("kube")
                .arg("down")
                .arg(&yaml_path),
        );
        let _ = output(Command::new(&podman).args(["rmi", "-f", &image_ref]));
    });
    let start = Instant::now();
    let out = output(
        Command::new(&podman)
            .args(["kube", "play", "--tls-verify=false"])
            .arg(&yaml_path),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "podman kube play failed: {stderr}\nmanifest:\n{yaml}"
    );
    let t = wait_200(port, "/healthz", start)
        .unwrap_or_else(|e| panic!("podman kube play: {e}\nstderr: {stderr}"));
    eprintln!(
        "podman kube play: first 200 after {:.1} ms (includes the registry pull)",
        t.as_secs_f64() * 1e3
    );
    assert_serves_site("podman kube play", port, image);

    // The pod's container really got the manifest's security context.
    let ctr = format!("{name}-pod-0-{name}");
    let pid: u32 = run(Command::new(&podman).args(["inspect", "-f", "{{.State.Pid}}", &ctr]))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("no pid for container {ctr}: {e}"));
    assert_sandboxed("podman kube play", pid);
    let caps = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let eff = caps.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    assert!(
        eff.ends_with("0000000000000000"),
        "capabilities not dropped: {eff}"
    );
    let seccomp = caps.lines().find(|l| l.starts_with("Seccomp:")).unwrap();
    assert!(seccomp.ends_with('2'), "no seccomp filter: {seccomp}");

    let down = run(Command::new(&podman)
        .arg("kube")
        .arg("down")
        .arg(&yaml_path));
    assert!(down.contains("Pods removed"), "podman kube down: {down}");
    let pods =
        run(Command::new(&podman).args(["pod", "ps", "-q", "--filter", &format!("name={name}")]));
    assert!(pods.trim().is_empty(), "pod left after kube down: {pods}");
    assert!(
        http_get(port, "/healthz").is_err(),
        "port {port} still answers after kube down"
    );
}
