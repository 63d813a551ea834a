//! `mote run`: image inputs (layout, oci-archive, tags), layers with whiteouts, the
//! rootfs cache, corrupt and hostile images.

#[path = "probe/mod.rs"]
mod probe;

use probe::*;

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "mote run failed: {:?}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn whiteouts_of_upper_layers_hide_lower_files() {
    let w = World::new();
    let dir = w.tmp.path().join("layered");
    let mut lower = probe_layers();
    lower.extend([
        Entry::Dir("data", 0o755),
        Entry::File("data/a".into(), b"a".to_vec(), 0o644),
        Entry::File("data/b".into(), b"b".to_vec(), 0o644),
        Entry::Dir("opq", 0o755),
        Entry::File("opq/x".into(), b"x".to_vec(), 0o644),
        Entry::Dir("opq/sub", 0o755),
        Entry::File("opq/sub/y".into(), b"y".to_vec(), 0o644),
        Entry::File("gone".into(), b"g".to_vec(), 0o644),
    ]);
    let upper = vec![
        Entry::File("opq/z".into(), b"z".to_vec(), 0o644), // before the marker: still this layer's
        Entry::File("data/.wh.a".into(), Vec::new(), 0o644),
        Entry::File("opq/.wh..wh..opq".into(), Vec::new(), 0o644),
        Entry::File(".wh.gone".into(), Vec::new(), 0o644),
        Entry::File("data/b".into(), b"B2".to_vec(), 0o644),
    ];
    write_layout(&dir, &[lower, upper], probe_config());
    let run = |args: &[&str]| {
        let out = w.mote().arg("run").arg(&dir).arg("--").args(args).output().unwrap();
        stdout(&out)
    };
    assert_eq!(run(&["ls", "/data"]), "b\n");
    assert_eq!(run(&["cat", "/data/b"]), "B2");
    assert_eq!(run(&["ls", "/opq"]), "z\n");
    // (plus /dev, the mount point of the container's own /dev, which mote adds)
    assert_eq!(run(&["ls", "/"]), "bin\ndata\ndev\nopq\nproc\ntmp\n");
}

#[test]
fn oci_archives_and_tags() {
    let w = World::new();
    let archive = w.tmp.path().join("probe.tar");
    let st = std::process::Command::new("tar").arg("-cf").arg(&archive).arg("-C").arg(w.image()).arg(".").status().unwrap();
    assert!(st.success());
    let run = |image: String| w.mote().arg("run").arg(image).args(["--", "exit", "7"]).output().unwrap();
    assert_eq!(run(archive.display().to_string()).status.code(), Some(7));
    assert_eq!(run(format!("{}:latest", archive.display())).status.code(), Some(7));
    assert_eq!(run(format!("{}:latest", w.image().display())).status.code(), Some(7));
    let out = run(format!("{}:nope", w.image().display()));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no manifest tagged \"nope\""), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run("/no/such/image".into());
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither an OCI layout"));
}

#[test]
fn the_second_run_reuses_the_extracted_rootfs() {
    use std::os::unix::fs::MetadataExt;
    let w = World::new();
    stdout(&w.run(&[], &["exit", "0"]));
    let entries: Vec<_> = std::fs::read_dir(w.state().join("rootfs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1);
    let probe = entries[0].join("rootfs/bin/probe");
    let ino = std::fs::metadata(&probe).unwrap().ino();
    // Make the layer blobs unreadable: a cache hit must not need them.
    for e in std::fs::read_dir(w.image().join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        if std::fs::metadata(&p).unwrap().len() > 100_000 {
            std::fs::remove_file(&p).unwrap();
        }
    }
    stdout(&w.run(&[], &["exit", "0"]));
    assert_eq!(std::fs::metadata(&probe).unwrap().ino(), ino);
    // With an empty cache the missing layer is an error naming it.
    let fresh = w.mote().env("MOTE_STATE_DIR", w.tmp.path().join("state2")).arg("run").arg(w.image()).output().unwrap();
    assert_eq!(fresh.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&fresh.stderr).contains("cannot read"), "{}", String::from_utf8_lossy(&fresh.stderr));
}

#[test]
fn a_corrupt_blob_is_refused_and_leaves_nothing() {
    let w = World::new();
    for e in std::fs::read_dir(w.image().join("blobs/sha256")).unwrap() {
        let p = e.unwrap().path();
        if std::fs::metadata(&p).unwrap().len() > 100_000 {
            let mut b = std::fs::read(&p).unwrap();
            let n = b.len() / 2;
            b[n] ^= 0xff;
            std::fs::write(&p, b).unwrap();
        }
    }
    let out = w.run(&[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is corrupt"), "{}", String::from_utf8_lossy(&out.stderr));
    let left: Vec<_> = std::fs::read_dir(w.state().join("rootfs")).unwrap().collect();
    assert!(left.is_empty(), "a half-extracted image is left: {left:?}");
}

#[test]
fn a_layer_cannot_write_outside_the_rootfs_through_a_symlink() {
    let w = World::new();
    let dir = w.tmp.path().join("evil");
    let target = w.tmp.path().join("outside");
    std::fs::create_dir(&target).unwrap();
    let target_s: &'static str = Box::leak(target.display().to_string().into_boxed_str());
    let mut layer = probe_layers();
    layer.push(Entry::Symlink("escape", target_s));
    layer.push(Entry::File("escape/pwned".into(), b"x".to_vec(), 0o644));
    write_layout(&dir, &[layer], probe_config());
    let out = w.mote().arg("run").arg(&dir).output().unwrap();
    assert!(!target.join("pwned").exists(), "the layer wrote through a symlink to the host");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
}
