//! `mote pack` output checked with real tools: the OCI JSON schemas (python
//! jsonschema), skopeo and umoci.

mod pack_support;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use pack_support::*;
use serde_json::Value;

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn site(dir: &Path) -> std::path::PathBuf {
    let s = dir.join("site");
    fs::create_dir_all(s.join("css")).unwrap();
    fs::write(
        s.join("index.html"),
        "<!doctype html><h1>hello from a test</h1>\n".repeat(20),
    )
    .unwrap();
    fs::write(s.join("css/site.css"), "body { margin: 0 }\n").unwrap();
    fs::write(s.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(s.join("run.sh"), fs::Permissions::from_mode(0o700)).unwrap();
    s
}

#[test]
fn embedded_server_image_passes_schemas_skopeo_and_umoci() {
    need("skopeo", "skopeo");
    need("umoci", "umoci");
    let t = tmp();
    let site = site(t.path());
    let img = t.path().join("img");
    let out = ok(mote()
        .args(["pack", "--site"])
        .arg(&site)
        .arg("-o")
        .arg(&img));
    let digest = stdout(&out);
    assert!(digest.starts_with("sha256:"), "{digest}");

    let report = validate_layout(&img);
    assert!(
        report.contains("ok manifest") && report.contains("ok config"),
        "{report}"
    );

    // skopeo reads it and agrees on the digest and the config.
    let ins = json(&ok(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:latest", img.display()))));
    assert_eq!(ins["Digest"], digest);
    assert_eq!(ins["Architecture"], "amd64");
    assert_eq!(ins["Os"], "linux");
    assert_eq!(ins["Created"], "1970-01-01T00:00:00Z");
    assert_eq!(
        ins["Labels"]["org.opencontainers.image.title"],
        "mote-httpd"
    );
    let cfg = json(&ok(Command::new("skopeo")
        .arg("inspect")
        .arg("--config")
        .arg(format!("oci:{}:latest", img.display()))));
    assert_eq!(
        cfg["config"]["Entrypoint"],
        serde_json::json!(["/mote-httpd"])
    );
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["--root", "/www"]));
    assert_eq!(cfg["config"]["User"], "65532:65532");
    assert!(cfg["config"]["ExposedPorts"]["8080/tcp"].is_object());

    // skopeo copies it to every other transport without complaint.
    let copy = t.path().join("copy");
    ok(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:latest", img.display()))
        .arg(format!("oci:{}:latest", copy.display())));
    let copied = json(&ok(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:latest", copy.display()))));
    assert_eq!(
        copied["Digest"], digest,
        "skopeo oci→oci copy must keep the manifest digest"
    );
    ok(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:latest", img.display()))
        .arg(format!("oci-archive:{}", t.path().join("a.tar").display())));
    ok(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:latest", img.display()))
        .arg(format!(
            "docker-archive:{}:mote-httpd:latest",
            t.path().join("d.tar").display()
        )));

    // umoci unpacks a bundle whose rootfs has the files, modes and owners we wrote.
    let bundle = t.path().join("bundle");
    ok(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", img.display()))
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    let check = |rel: &str, mode: u32| {
        let m = fs::symlink_metadata(rootfs.join(rel))
            .unwrap_or_else(|e| panic!("{rel} missing from rootfs: {e}"));
        assert_eq!(m.mode() & 0o7777, mode, "mode of {rel}");
        assert_eq!((m.uid(), m.gid()), (0, 0), "owner of {rel}");
        m
    };
    let bin = check("mote-httpd", 0o755);
    assert!(bin.len() > 0);
    check("www", 0o755);
    check("www/css", 0o755);
    check("www/css/site.css", 0o644);
    check("www/index.html", 0o644);
    check("www/run.sh", 0o755);
    assert_eq!(
        fs::read(rootfs.join("www/index.html")).unwrap(),
        fs::read(site.join("index.html")).unwrap()
    );
    assert_eq!(names(&rootfs), vec!["mote-httpd", "www"]);
    let rt: Value = serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        rt["process"]["args"],
        serde_json::json!(["/mote-httpd", "--root", "/www"])
    );
    assert_eq!(rt["process"]["user"]["uid"], 65532);
    assert_eq!(rt["process"]["user"]["gid"], 65532);
}

#[test]
fn default_site_is_served_from_www() {
    need("umoci", "umoci");
    let t = tmp();
    let img = t.path().join("img");
    ok(mote().args(["pack", "-o"]).arg(&img));
    validate_layout(&img);
    let bundle = t.path().join("b");
    ok(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", img.display()))
        .arg(&bundle));
    let index = fs::read_to_string(bundle.join("rootfs/www/index.html")).unwrap();
    assert!(index.contains("mote-httpd"), "{index}");
}

#[test]
fn options_reach_the_image_config() {
    need("skopeo", "skopeo");
    let t = tmp();
    let img = t.path().join("img");
    fs::write(t.path().join("motd"), "welcome\n").unwrap();
    let out = ok(mote()
        .arg("pack")
        .arg(static_binary())
        .args([
            "--tag",
            "tools/box:1.36",
            "--entrypoint",
            r#"["/busybox","sh"]"#,
            "--cmd",
            "-c",
            "--cmd",
            "echo hi",
        ])
        .args([
            "--env",
            "A=1",
            "--env",
            "B=two words",
            "--expose",
            "9000",
            "--expose",
            "53/udp",
        ])
        .args([
            "--workdir",
            "/data",
            "--label",
            "org.opencontainers.image.source=https://example.invalid/x",
        ])
        .args(["--user", "1000:1001", "--add"])
        .arg(format!("{}:/etc/motd", t.path().join("motd").display()))
        .arg("-o")
        .arg(&img)
        .env("SOURCE_DATE_EPOCH", "1700000000"));
    assert!(stdout(&out).starts_with("sha256:"));
    validate_layout(&img);
    let cfg = json(&ok(Command::new("skopeo")
        .arg("inspect")
        .arg("--config")
        .arg(format!("oci:{}:1.36", img.display()))));
    let c = &cfg["config"];
    assert_eq!(c["Entrypoint"], serde_json::json!(["/busybox", "sh"]));
    assert_eq!(c["Cmd"], serde_json::json!(["-c", "echo hi"]));
    assert_eq!(c["Env"], serde_json::json!(["A=1", "B=two words"]));
    assert_eq!(
        c["ExposedPorts"],
        serde_json::json!({"53/udp": {}, "9000/tcp": {}})
    );
    assert_eq!(c["WorkingDir"], "/data");
    assert_eq!(c["User"], "1000:1001");
    assert_eq!(
        c["Labels"]["org.opencontainers.image.source"],
        "https://example.invalid/x"
    );
    assert_eq!(
        c["Labels"]["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(c["Labels"]["org.opencontainers.image.title"], "box");
    assert_eq!(c["Labels"]["org.opencontainers.image.version"], "1.36");
    assert_eq!(cfg["created"], "2023-11-14T22:13:20Z");
}

#[test]
fn args_after_double_dash_become_cmd() {
    need("skopeo", "skopeo");
    let t = tmp();
    let img = t.path().join("img");
    ok(mote()
        .arg("pack")
        .arg(small_static_binary())
        .arg("-o")
        .arg(&img)
        .args(["--", "--listen", "0.0.0.0:9090", "--log", "off"]));
    let cfg = json(&ok(Command::new("skopeo")
        .arg("inspect")
        .arg("--config")
        .arg(format!("oci:{}:latest", img.display()))));
    assert_eq!(cfg["config"]["Entrypoint"], serde_json::json!(["/server"]));
    assert_eq!(
        cfg["config"]["Cmd"],
        serde_json::json!(["--listen", "0.0.0.0:9090", "--log", "off"])
    );
    assert!(
        cfg["config"]["ExposedPorts"].is_null(),
        "no default port for a packed binary"
    );
}

#[test]
fn oci_archive_and_docker_archive_are_read_by_skopeo() {
    need("skopeo", "skopeo");
    let t = tmp();
    let layout = t.path().join("img");
    let digest = stdout(&ok(mote().args(["pack", "-o"]).arg(&layout)));

    let oa = t.path().join("img.oci.tar");
    let d2 = stdout(&ok(mote()
        .args(["pack", "--format", "oci-archive", "-o"])
        .arg(&oa)));
    assert_eq!(digest, d2, "the archive holds the same image");
    let ins = json(&ok(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci-archive:{}:latest", oa.display()))));
    assert_eq!(ins["Digest"], digest);
    // Unpack the archive with tar and validate the layout inside it.
    let unpacked = t.path().join("unpacked");
    fs::create_dir(&unpacked).unwrap();
    ok(Command::new("tar")
        .arg("-xf")
        .arg(&oa)
        .arg("-C")
        .arg(&unpacked));
    validate_layout(&unpacked);
    assert_eq!(tree_bytes(&unpacked), tree_bytes(&layout));

    let da = t.path().join("img.docker.tar");
    ok(mote()
        .args([
            "pack",
            "--format",
            "docker-archive",
            "--tag",
            "site:v1",
            "-o",
        ])
        .arg(&da));
    let ins = json(&ok(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("docker-archive:{}", da.display()))));
    assert_eq!(ins["Architecture"], "amd64");
    let list = String::from_utf8(ok(Command::new("tar").arg("-tf").arg(&da)).stdout).unwrap();
    assert!(list.contains("manifest.json"), "{list}");
    let manifest = Command::new("tar")
        .arg("-xOf")
        .arg(&da)
        .arg("manifest.json")
        .output()
        .unwrap();
    let m: Value = serde_json::from_slice(&manifest.stdout).unwrap();
    assert_eq!(m[0]["RepoTags"], serde_json::json!(["site:v1"]));
    // The config inside is the OCI config, byte for byte (same digest).
    let layout2 = t.path().join("img2");
    ok(mote()
        .args(["pack", "--tag", "site:v1", "-o"])
        .arg(&layout2));
    let oci_cfg = json(&ok(Command::new("skopeo")
        .arg("inspect")
        .arg("--raw")
        .arg(format!("oci:{}:v1", layout2.display()))));
    let cfg_name = format!(
        "{}.json",
        oci_cfg["config"]["digest"]
            .as_str()
            .unwrap()
            .trim_start_matches("sha256:")
    );
    assert_eq!(m[0]["Config"], cfg_name);
    // skopeo converts it back to OCI, and the result validates.
    let back = t.path().join("back");
    ok(Command::new("skopeo")
        .arg("copy")
        .arg(format!("docker-archive:{}", da.display()))
        .arg(format!("oci:{}:latest", back.display())));
    validate_layout(&back);
}

#[test]
fn several_architectures_make_an_image_index() {
    need("skopeo", "skopeo");
    need("umoci", "umoci");
    let t = tmp();
    let amd = small_static_binary();
    let armdir = t.path().join("arm");
    fs::create_dir(&armdir).unwrap();
    let arm = as_arm64(&amd, &armdir);
    let img = t.path().join("img");
    ok(mote()
        .arg("pack")
        .arg("--binary")
        .arg(format!("amd64={}", amd.display()))
        .arg("--binary")
        .arg(format!("arm64={}", arm.display()))
        .arg("-o")
        .arg(&img));
    let report = validate_layout(&img);
    assert_eq!(report.matches("ok manifest").count(), 2, "{report}");
    assert_eq!(
        report.matches("ok index").count(),
        2,
        "index.json and the image index: {report}"
    );
    let raw = json(&ok(Command::new("skopeo")
        .arg("inspect")
        .arg("--raw")
        .arg(format!("oci:{}:latest", img.display()))));
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let arches: Vec<&str> = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(arches, vec!["amd64", "arm64"]);
    for arch in ["amd64", "arm64"] {
        let ins = json(&ok(Command::new("skopeo")
            .args(["--override-arch", arch, "inspect"])
            .arg(format!("oci:{}:latest", img.display()))));
        assert_eq!(ins["Architecture"], arch);
    }
    // skopeo copies the whole index.
    let copy = t.path().join("copy");
    ok(Command::new("skopeo")
        .args(["copy", "--all"])
        .arg(format!("oci:{}:latest", img.display()))
        .arg(format!("oci:{}:latest", copy.display())));
    validate_layout(&copy);

    // docker-archive cannot hold two architectures: a clear error, nothing written.
    let err = fails(
        mote()
            .arg("pack")
            .arg(&amd)
            .arg(&arm)
            .args(["--format", "docker-archive", "-o"])
            .arg(t.path().join("d.tar")),
    );
    assert!(
        err.contains("docker-archive holds one architecture") && err.contains("amd64, arm64"),
        "{err}"
    );
    // Several binaries are placed under the first one's name, in each platform's image.
    let cfg = json(&ok(Command::new("skopeo")
        .args(["--override-arch", "arm64", "inspect", "--config"])
        .arg(format!("oci:{}:latest", img.display()))));
    assert_eq!(cfg["config"]["Entrypoint"], serde_json::json!(["/server"]));
    assert!(!t.path().join("d.tar").exists());
}

#[test]
fn zstd_and_uncompressed_layers() {
    need("skopeo", "skopeo");
    let t = tmp();
    for (c, media) in [
        ("zstd", "application/vnd.oci.image.layer.v1.tar+zstd"),
        ("none", "application/vnd.oci.image.layer.v1.tar"),
    ] {
        let img = t.path().join(c);
        ok(mote().args(["pack", "--compression", c, "-o"]).arg(&img));
        validate_layout(&img);
        let raw = json(&ok(Command::new("skopeo")
            .arg("inspect")
            .arg("--raw")
            .arg(format!("oci:{}:latest", img.display()))));
        assert_eq!(raw["layers"][0]["mediaType"], media);
        let copy = t.path().join(format!("{c}-copy"));
        ok(Command::new("skopeo")
            .arg("copy")
            .arg(format!("oci:{}:latest", img.display()))
            .arg(format!("oci:{}:latest", copy.display())));
    }
}

#[test]
fn precompress_adds_smaller_gz_and_br_variants() {
    need("umoci", "umoci");
    need("gzip", "gzip");
    let t = tmp();
    let s = t.path().join("site");
    fs::create_dir(&s).unwrap();
    let big = "<p>the same paragraph, over and over, compresses well</p>\n".repeat(100);
    fs::write(s.join("index.html"), &big).unwrap();
    fs::write(s.join("tiny.css"), "a{}").unwrap();
    // Random bytes with a text extension: compression would not help.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    fs::write(s.join("noise.txt"), &noise).unwrap();
    fs::write(s.join("photo.png"), big.as_bytes()).unwrap();
    let img = t.path().join("img");
    ok(mote()
        .args(["pack", "--precompress", "--site"])
        .arg(&s)
        .arg("-o")
        .arg(&img));
    let bundle = t.path().join("b");
    ok(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:latest", img.display()))
        .arg(&bundle));
    let www = bundle.join("rootfs/www");
    assert_eq!(
        names(&www),
        vec![
            "index.html",
            "index.html.br",
            "index.html.gz",
            "noise.txt",
            "photo.png",
            "tiny.css"
        ]
    );
    let gz = fs::metadata(www.join("index.html.gz")).unwrap().len();
    let br = fs::metadata(www.join("index.html.br")).unwrap().len();
    assert!(gz < big.len() as u64 && br < big.len() as u64);
    let plain = ok(Command::new("gzip")
        .arg("-dc")
        .arg(www.join("index.html.gz")))
    .stdout;
    assert_eq!(plain, big.as_bytes());
}

#[test]
fn the_validator_rejects_a_broken_layout() {
    // Guards the schema check itself: a layout with a bad document must fail it.
    let t = tmp();
    let img = t.path().join("img");
    ok(mote().args(["pack", "-o"]).arg(&img));
    let index = fs::read_to_string(img.join("index.json")).unwrap();
    fs::write(
        img.join("index.json"),
        index.replace("\"schemaVersion\":2", "\"schemaVersion\":\"two\""),
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pack_support/validate_oci.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(schema_dir())
        .arg(&img)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("schemaVersion"));
}
