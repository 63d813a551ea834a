//! `mote push` over HTTPS: a registry with a certificate from a private test CA is
//! refused without `--ca-cert` (no retries, a hint), accepted with it.

mod pack_support;

use std::process::Command;

use pack_support::registry::{Auth, Registry};
use pack_support::*;

#[test]
fn https_registry_with_a_private_ca() {
    need("skopeo", "skopeo");
    let t = tmp();
    let reg = Registry::start_tls(
        &t.path().join("reg"),
        Auth::Htpasswd {
            user: "tls".into(),
            password: "pw".into(),
        },
    );
    let img = t.path().join("img");
    let digest = stdout(&ok(mote().args(["pack", "-o"]).arg(&img)));
    let target = format!("{}/secure/site:1", reg.host());

    let start = std::time::Instant::now();
    let err = fails(
        mote()
            .args(["push", "--user", "tls:pw"])
            .arg(&img)
            .arg(&target),
    );
    assert!(
        err.contains(&format!("cannot talk to registry {}", reg.host()))
            && err.contains("--ca-cert"),
        "{err}"
    );
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(3),
        "certificate errors are not retried"
    );

    // Plain HTTP against an HTTPS registry fails too, naming it.
    let err = fails(
        mote()
            .args(["push", "-q", "--insecure", "--user", "tls:pw"])
            .arg(&img)
            .arg(&target),
    );
    assert!(err.contains(&format!("registry {}", reg.host())), "{err}");

    let out = ok(mote()
        .args(["push", "--user", "tls:pw", "--ca-cert"])
        .arg(reg.ca_cert())
        .arg(&img)
        .arg(&target));
    assert_eq!(stdout(&out), format!("{target}@{digest}"));

    let size = stdout(&ok(mote()
        .args(["inspect", "--size", "--creds", "tls:pw", "--ca-cert"])
        .arg(reg.ca_cert())
        .arg(format!("docker://{target}"))));
    assert_eq!(
        size,
        stdout(&ok(mote().args(["inspect", "--size"]).arg(&img)))
    );

    let back = t.path().join("back");
    ok(Command::new("skopeo")
        .args(["copy", "--src-creds", "tls:pw", "--src-cert-dir"])
        .arg(reg.ca_cert().parent().unwrap())
        .arg(format!("docker://{target}"))
        .arg(format!("oci:{}:x", back.display())));
    validate_layout(&back);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(back.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"], digest);
}
