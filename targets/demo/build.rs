// On Linux the demo is a libc-free static program with its own _start.
fn main() {
    if std::env::var("TARGET")
        .unwrap_or_default()
        .contains("linux")
    {
        // The same link settings as mote-httpd (crates/httpd/build.rs), so sizes compare.
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
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}
