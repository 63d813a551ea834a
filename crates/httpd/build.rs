// Link mote-httpd as a static, libc-free ELF. The args are scoped to this one binary,
// so the std crates of the workspace are untouched.
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if !target.contains("linux") {
        return;
    }
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-Wl,--gc-sections",
        "-Wl,-n",
        "-Wl,--build-id=none",
        "-Wl,-z,norelro",
        "-Wl,-z,noseparate-code",
        "-Wl,--no-eh-frame-hdr",
    ] {
        println!("cargo:rustc-link-arg-bin=mote-httpd={arg}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
