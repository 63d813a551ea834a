//! A genuine aarch64 static binary (built here with gcc-aarch64-linux-gnu, no libc)
//! is detected as arm64, packed into a multi-arch index next to an amd64 one, and
//! comes out of the arm64 image intact: it runs under qemu-user and says hello.

mod pack_support;

use std::fs;
use std::process::Command;

use pack_support::*;

const HELLO: &str = r#"
void _start(void) {
    static const char msg[] = "hello from arm64\n";
    register long x0 __asm__("x0") = 1;
    register const char *x1 __asm__("x1") = msg;
    register long x2 __asm__("x2") = sizeof msg - 1;
    register long x8 __asm__("x8") = 64; /* write */
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x1), "r"(x2), "r"(x8) : "memory");
    register long y0 __asm__("x0") = 0;
    register long y8 __asm__("x8") = 93; /* exit */
    __asm__ volatile("svc 0" : : "r"(y0), "r"(y8));
    for (;;) {}
}
"#;

#[test]
fn a_real_arm64_binary_is_detected_packed_and_runs_from_the_image() {
    let gcc = need("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu");
    let qemu = need("qemu-aarch64", "qemu-user");
    need("skopeo", "skopeo");
    need("umoci", "umoci");
    let t = tmp();
    let src = t.path().join("hello.c");
    fs::write(&src, HELLO).unwrap();
    let arm = t.path().join("arm64/hello");
    fs::create_dir_all(arm.parent().unwrap()).unwrap();
    ok(Command::new(&gcc)
        .args(["-nostdlib", "-static", "-O2", "-o"])
        .arg(&arm)
        .arg(&src));

    // Stated wrongly, it is refused with what it really is.
    let err = fails(
        mote()
            .arg("pack")
            .arg("--binary")
            .arg(format!("amd64={}", arm.display()))
            .arg("-o")
            .arg(t.path().join("x")),
    );
    assert!(
        err.contains("is an ELF for arm64 (aarch64), but it was given as amd64"),
        "{err}"
    );

    // Detected without being stated, next to an amd64 binary of the same name.
    let amd = t.path().join("amd64/hello");
    fs::create_dir_all(amd.parent().unwrap()).unwrap();
    fs::copy(small_static_binary(), &amd).unwrap();
    let img = t.path().join("img");
    ok(mote().arg("pack").arg(&amd).arg(&arm).arg("-o").arg(&img));
    validate_layout(&img);

    // Take the arm64 image out of the index (umoci needs a single manifest), unpack, run.
    let single = t.path().join("single");
    ok(Command::new("skopeo")
        .args(["--override-arch", "arm64", "copy"])
        .arg(format!("oci:{}:latest", img.display()))
        .arg(format!("oci:{}:arm64", single.display())));
    let bundle = t.path().join("bundle");
    ok(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:arm64", single.display()))
        .arg(&bundle));
    let packed = bundle.join("rootfs/hello");
    assert_eq!(fs::read(&packed).unwrap(), fs::read(&arm).unwrap());
    let out = ok(Command::new(&qemu).arg(&packed));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from arm64\n");
    let cfg: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["process"]["args"], serde_json::json!(["/hello"]));
}
