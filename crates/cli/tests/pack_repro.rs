//! Reproducibility: the same inputs give byte-identical images, whatever the working
//! directory, output location, file mtimes, umask or time of day.

mod pack_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use pack_support::*;

fn make_site(dir: &Path, mtime: &str) {
    fs::create_dir_all(dir.join("a/b")).unwrap();
    fs::write(dir.join("index.html"), "<h1>same bytes</h1>\n".repeat(30)).unwrap();
    fs::write(dir.join("a/b/deep.txt"), "deep\n").unwrap();
    fs::write(dir.join("a/tool"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(dir.join("a/tool"), fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("index.html", dir.join("home.html")).unwrap();
    for p in ["index.html", "a/b/deep.txt", "a/tool", "a/b", "a", "."] {
        ok(Command::new("touch")
            .args(["-h", "-d", mtime])
            .arg(dir.join(p)));
    }
}

fn pack(cwd: &Path, site: &Path, out: &str, extra: &[&str], umask: &str) -> String {
    let mote = env!("CARGO_BIN_EXE_mote");
    let script = format!(
        "umask {umask} && exec {mote} pack --precompress --site {} -o {out} {}",
        site.display(),
        extra.join(" ")
    );
    let o = ok(Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .env_remove("SOURCE_DATE_EPOCH"));
    stdout(&o)
}

#[test]
fn two_packs_from_different_places_are_byte_identical() {
    let t1 = tmp();
    let t2 = tmp();
    let s1 = t1.path().join("site");
    let s2 = t2.path().join("elsewhere/other-name");
    make_site(&s1, "2001-01-01 00:00:00");
    make_site(&s2, "2024-06-30 12:34:56");
    fs::create_dir_all(t2.path().join("work")).unwrap();

    let d1 = pack(t1.path(), &s1, "img", &[], "022");
    let d2 = pack(&t2.path().join("work"), &s2, "../deeper-out", &[], "077");
    assert_eq!(d1, d2, "same inputs must give the same digest");
    assert_eq!(
        tree_bytes(&t1.path().join("img")),
        tree_bytes(&t2.path().join("deeper-out"))
    );

    for (fmt, name) in [("oci-archive", "x.tar"), ("docker-archive", "y.tar")] {
        pack(t1.path(), &s1, name, &["--format", fmt], "022");
        pack(t2.path(), &s2, name, &["--format", fmt], "077");
        assert_eq!(
            fs::read(t1.path().join(name)).unwrap(),
            fs::read(t2.path().join(name)).unwrap(),
            "{fmt} differs between the two packs"
        );
    }
}

#[test]
fn source_date_epoch_sets_every_mtime_and_created() {
    let t = tmp();
    let s = t.path().join("site");
    make_site(&s, "2010-10-10 10:10:10");
    let a = stdout(&ok(mote()
        .arg("pack")
        .arg("--site")
        .arg(&s)
        .arg("-o")
        .arg(t.path().join("a"))
        .env("SOURCE_DATE_EPOCH", "1700000000")));
    let b = stdout(&ok(mote()
        .arg("pack")
        .arg("--site")
        .arg(&s)
        .arg("-o")
        .arg(t.path().join("b"))
        .env("SOURCE_DATE_EPOCH", "1700000000")));
    let zero = stdout(&ok(mote()
        .arg("pack")
        .arg("--site")
        .arg(&s)
        .arg("-o")
        .arg(t.path().join("z"))));
    assert_eq!(a, b);
    assert_ne!(a, zero, "the epoch is part of the image");

    // List the layer with GNU tar: every entry owned 0/0 and stamped 2023-11-14 22:13.
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(t.path().join("a/index.json")).unwrap()).unwrap();
    let mdigest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let manifest: serde_json::Value =
        serde_json::from_slice(&fs::read(t.path().join("a/blobs/sha256").join(&mdigest)).unwrap())
            .unwrap();
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let layer_path = t.path().join("a/blobs/sha256").join(&layer);
    let list = String::from_utf8(
        ok(Command::new("tar")
            .args(["--numeric-owner", "--utc", "-tvzf"])
            .arg(&layer_path)
            .env("TZ", "UTC"))
        .stdout,
    )
    .unwrap();
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines.len() >= 8, "{list}");
    for l in &lines {
        assert!(l.contains(" 0/0 "), "owner not 0/0: {l}");
        assert!(
            l.contains("2023-11-14 22:13"),
            "mtime not SOURCE_DATE_EPOCH: {l}"
        );
    }
    let paths: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(5).unwrap())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "entries are sorted");
    assert_eq!(
        paths,
        vec![
            "mote-httpd",
            "www/",
            "www/a/",
            "www/a/b/",
            "www/a/b/deep.txt",
            "www/a/tool",
            "www/home.html",
            "www/index.html"
        ]
    );
    assert!(
        list.contains("-rwxr-xr-x 0/0") && list.contains("www/a/tool"),
        "{list}"
    );
    assert!(
        list.contains("lrwxrwxrwx 0/0") && list.contains("www/home.html -> index.html"),
        "{list}"
    );

    // The gzip header: no mtime, no name, OS fixed.
    let gz = fs::read(&layer_path).unwrap();
    assert_eq!(&gz[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]);
}
