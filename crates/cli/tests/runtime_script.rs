//! scripts/runtimes.sh: `start` is idempotent and leaves the host as the runtime tests
//! need it (the traps of ENVIRONMENT.md fixed). It never stops the daemons here: other
//! tests of this run use them.

mod runtime_support;

use runtime_support::*;
use std::path::Path;
use std::process::Command;

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/runtimes.sh")
}

#[test]
fn start_twice_is_ready_and_changes_nothing_the_second_time() {
    for _ in 0..2 {
        let out = output(Command::new(script()).arg("start"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "runtimes.sh start failed:\n{err}");
        assert!(err.contains("runtimes: ready:"), "{err}");
    }
    // The second run found everything in place.
    let out = output(Command::new(script()).arg("start"));
    let err = String::from_utf8_lossy(&out.stderr);
    for daemon in ["containerd", "dockerd", "registry"] {
        assert!(
            err.contains(&format!("{daemon}: already running")),
            "{daemon} restarted:\n{err}"
        );
    }
    assert!(
        !err.contains("wrote "),
        "a second start rewrote configuration:\n{err}"
    );

    // Trap 1: no controller left on the cgroup2 mount of a hybrid host (crun refuses).
    let unified = Path::new("/sys/fs/cgroup/unified/cgroup.controllers");
    if unified.exists() {
        let left = std::fs::read_to_string(unified).unwrap();
        assert!(
            left.trim().is_empty(),
            "controllers still on cgroup2: {left}"
        );
    }
    // Trap 2: podman's default rlimits.
    let conf = std::fs::read_to_string("/etc/containers/containers.conf.d/50-mote.conf").unwrap();
    assert!(
        conf.contains("default_ulimits") && conf.contains("nofile=1024:1024"),
        "{conf}"
    );
    // The daemons answer where the tests look for them.
    require_socket("dockerd", &docker_host());
    require_socket("containerd", &containerd_address());
    let (code, _) = http_get_at(&registry_addr(), "/v2/").unwrap();
    assert_eq!(code, 200, "registry /v2/");
    // `env` prints exactly those addresses.
    let env = run(Command::new(script()).arg("env"));
    assert!(
        env.contains(&format!("MOTE_DOCKER_HOST={}", docker_host())),
        "{env}"
    );
    assert!(
        env.contains(&format!("MOTE_CONTAINERD_ADDRESS={}", containerd_address())),
        "{env}"
    );
    assert!(
        env.contains(&format!("MOTE_REGISTRY={}", registry_addr())),
        "{env}"
    );
}

#[test]
fn unknown_subcommand_prints_usage() {
    let out = output(Command::new(script()).arg("restart"));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
}
