// On Linux the demo is a libc-free static program with its own _start.
fn main() {
    if std::env::var("TARGET").unwrap_or_default().contains("linux") {
        for arg in ["-nostartfiles", "-nostdlib", "-static", "-Wl,--gc-sections", "-Wl,--build-id=none"] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}
