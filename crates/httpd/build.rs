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
        "-Wl,--build-id=none",
        "-Wl,-z,norelro",
        "-Wl,-z,noseparate-code",
        "-Wl,--no-eh-frame-hdr",
    ] {
        println!("cargo:rustc-link-arg-bin=mote-httpd={arg}");
    }
    // No unwinding (panic = "abort"), so unwind tables are dead weight: drop .eh_frame
    // (several KB) with a linker-script fragment that augments the default script.
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let script = out.join("discard-eh.ld");
    std::fs::write(&script, "SECTIONS { /DISCARD/ : { *(.eh_frame) *(.eh_frame_hdr) *(.comment) } } INSERT AFTER .text;\n").unwrap();
    println!("cargo:rustc-link-arg-bin=mote-httpd=-Wl,-T,{}", script.display());
    println!("cargo:rerun-if-changed=build.rs");
}
