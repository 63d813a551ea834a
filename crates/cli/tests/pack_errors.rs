//! Bad input to `mote pack`: a clear error naming the problem, and nothing written.

mod pack_support;

use std::fs;

use pack_support::*;

#[test]
fn dynamically_linked_binary_is_refused() {
    let t = tmp();
    let err = fails(
        mote()
            .args(["pack", "/bin/ls", "-o"])
            .arg(t.path().join("img")),
    );
    assert!(
        err.contains(
            "/bin/ls is dynamically linked: interpreter /lib64/ld-linux-x86-64.so.2, needs "
        ) && err.contains("libc.so.6")
            && err.contains("build it statically (e.g. --target x86_64-unknown-linux-musl)"),
        "{err}"
    );
    assert!(
        names(t.path()).is_empty(),
        "nothing may be written: {:?}",
        names(t.path())
    );
}

#[test]
fn wrong_architecture_is_refused() {
    let t = tmp();
    let bin = static_binary();
    let err = fails(
        mote()
            .arg("pack")
            .arg("--binary")
            .arg(format!("arm64={}", bin.display()))
            .arg("-o")
            .arg(t.path().join("img")),
    );
    assert!(
        err.contains(
            "/bin/busybox is an ELF for amd64 (x86_64), but it was given as arm64 (aarch64)"
        ),
        "{err}"
    );

    let armdir = t.path().join("arm");
    fs::create_dir(&armdir).unwrap();
    let arm = as_arm64(&bin, &armdir);
    let err = fails(
        mote()
            .arg("pack")
            .arg("--binary")
            .arg(format!("amd64={}", arm.display()))
            .arg("-o")
            .arg(t.path().join("img")),
    );
    assert!(
        err.contains("is an ELF for arm64 (aarch64), but it was given as amd64"),
        "{err}"
    );
    assert!(
        err.contains("aarch64-unknown-linux-musl") || err.contains("x86_64-unknown-linux-musl"),
        "{err}"
    );

    let err = fails(
        mote()
            .arg("pack")
            .arg(&bin)
            .arg(&bin)
            .arg("-o")
            .arg(t.path().join("img")),
    );
    assert!(err.contains("two binaries for amd64"), "{err}");
    assert_eq!(names(t.path()), vec!["arm"]);
}

#[test]
fn missing_and_non_elf_inputs_are_refused() {
    let t = tmp();
    let img = t.path().join("img");
    let err = fails(mote().args(["pack", "/nonexistent/app", "-o"]).arg(&img));
    assert!(
        err.contains("cannot read binary /nonexistent/app") && err.contains("No such file"),
        "{err}"
    );

    let script = t.path().join("app.sh");
    fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let err = fails(mote().arg("pack").arg(&script).arg("-o").arg(&img));
    assert!(err.contains("app.sh is not an ELF executable"), "{err}");

    let err = fails(
        mote()
            .args(["pack", "--add", "/nonexistent/site:/www", "-o"])
            .arg(&img),
    );
    assert!(err.contains("cannot read /nonexistent/site"), "{err}");

    let err = fails(
        mote()
            .args(["pack", "--add", "relative-dest", "-o"])
            .arg(&img),
    );
    assert!(err.contains("expected SRC:DEST"), "{err}");

    let err = fails(mote().args(["pack", "--user", "nobody", "-o"]).arg(&img));
    assert!(err.contains("numeric UID:GID"), "{err}");

    let err = fails(mote().args(["pack", "--expose", "http", "-o"]).arg(&img));
    assert!(err.contains("--expose \"http\""), "{err}");

    let err = fails(mote().args(["pack", "--tag", "Bad Name", "-o"]).arg(&img));
    assert!(err.contains("not a valid NAME[:TAG]"), "{err}");

    assert_eq!(names(t.path()), vec!["app.sh"], "nothing may be written");
}

#[test]
fn a_failed_pack_leaves_the_previous_output_untouched() {
    let t = tmp();
    let img = t.path().join("img");
    ok(mote().args(["pack", "-o"]).arg(&img));
    let before = tree_bytes(&img);
    let err = fails(mote().args(["pack", "/bin/ls", "-o"]).arg(&img));
    assert!(err.contains("dynamically linked"), "{err}");
    assert_eq!(tree_bytes(&img), before);
    assert_eq!(names(t.path()), vec!["img"], "no temporary left behind");

    // Re-packing over an existing layout replaces it atomically.
    ok(mote()
        .args(["pack", "--cmd", "--log", "--cmd", "off", "-o"])
        .arg(&img));
    assert_ne!(tree_bytes(&img), before);
    assert_eq!(names(t.path()), vec!["img"]);

    // A folder that is not a layout is never overwritten.
    let other = t.path().join("precious");
    fs::create_dir(&other).unwrap();
    fs::write(other.join("notes.txt"), "keep me").unwrap();
    let err = fails(mote().args(["pack", "-o"]).arg(&other));
    assert!(
        err.contains("exists and is not an OCI image layout"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(other.join("notes.txt")).unwrap(),
        "keep me"
    );
}
