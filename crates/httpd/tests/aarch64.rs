//! The aarch64 build runs under qemu-user and serves files like the native one.

mod common;
use common::*;
use std::process::Command;

#[test]
fn aarch64_build_serves_under_qemu() {
    let qemu = require_tool("qemu-aarch64", "qemu-user");
    require_tool("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
    let bin = build("aarch64-unknown-linux-gnu");
    let head = std::fs::read(&bin).unwrap();
    assert_eq!(&head[..4], b"\x7fELF");
    assert_eq!(u16::from_le_bytes([head[18], head[19]]), 183, "e_machine must be EM_AARCH64");
    eprintln!("aarch64 mote-httpd: {} bytes", head.len());

    let d = TempDir::new("arm");
    d.write("index.html", b"arm home\n");
    d.write("blob.bin", &pattern(300_000));
    let port = free_port();
    let mut cmd = Command::new(qemu);
    // qemu-user refuses a guest's seccomp filter (its own syscalls are not the guest's):
    // the filter itself is checked natively in tests/sandbox.rs.
    cmd.arg(&bin).args(["--no-seccomp", "--listen", &format!("127.0.0.1:{port}"), "--root", d.path().to_str().unwrap()]);
    let mut s = Server::spawn(cmd, port);
    assert_eq!(s.get("/", &[]).body, b"arm home\n");
    let r = s.get("/blob.bin", &["Range: bytes=1000-1999"]);
    assert_eq!((r.status, r.body.as_slice()), (206, &pattern(300_000)[1000..2000]));
    let out = curl().arg(format!("http://127.0.0.1:{port}/blob.bin")).output().unwrap();
    assert!(out.stdout == pattern(300_000));
    s.signal(libc::SIGTERM);
    assert_eq!(s.wait_exit(10), Some(0));
}
