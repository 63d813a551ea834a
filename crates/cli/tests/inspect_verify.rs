//! `mote inspect`: reads every image format, lists config/layers/files, verifies
//! every digest and size, and names the blob and the problem when one is damaged.

mod pack_support;

use std::fs;
use std::path::Path;

use pack_support::*;
use serde_json::Value;

fn inspect_json(image: &Path) -> Value {
    let out = ok(mote().args(["inspect", "--json"]).arg(image));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn largest_blob(layout: &Path) -> (String, std::path::PathBuf) {
    let mut blobs: Vec<_> = fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    blobs.sort_by_key(|p| std::cmp::Reverse(fs::metadata(p).unwrap().len()));
    let p = blobs[0].clone();
    (
        format!("sha256:{}", p.file_name().unwrap().to_string_lossy()),
        p,
    )
}

#[test]
fn every_format_is_listed_with_config_layers_and_files() {
    let t = tmp();
    let layout = t.path().join("img");
    let size = stdout(&ok(mote()
        .args(["pack", "--print-size", "--env", "GREETING=hi", "-o"])
        .arg(&layout)));
    let oa = t.path().join("img.oci.tar");
    ok(mote()
        .args([
            "pack",
            "--env",
            "GREETING=hi",
            "--format",
            "oci-archive",
            "-o",
        ])
        .arg(&oa));
    let da = t.path().join("img.docker.tar");
    ok(mote()
        .args([
            "pack",
            "--env",
            "GREETING=hi",
            "--format",
            "docker-archive",
            "-o",
        ])
        .arg(&da));

    for (path, format) in [
        (&layout, "oci"),
        (&oa, "oci-archive"),
        (&da, "docker-archive"),
    ] {
        let j = inspect_json(path);
        assert_eq!(j["format"], format);
        let img = &j["images"][0];
        assert_eq!(img["platform"], "linux/amd64");
        let c = &img["config"];
        assert_eq!(c["entrypoint"], serde_json::json!(["/mote-httpd"]));
        assert_eq!(c["user"], "65532:65532");
        assert_eq!(c["env"], serde_json::json!(["GREETING=hi"]));
        assert_eq!(c["exposed_ports"], serde_json::json!(["8080/tcp"]));
        let files = img["layers"][0]["files"].as_array().unwrap();
        let bin = files
            .iter()
            .find(|f| f["path"] == "mote-httpd")
            .expect("mote-httpd listed");
        assert_eq!(
            (
                bin["mode"].as_str(),
                bin["uid"].as_u64(),
                bin["kind"].as_str()
            ),
            (Some("0755"), Some(0), Some("file"))
        );
        assert!(files
            .iter()
            .any(|f| f["path"] == "www/index.html" && f["mode"] == "0644"));
        if format != "docker-archive" {
            assert_eq!(
                j["total_size"].to_string(),
                size,
                "inspect and pack --print-size agree"
            );
        }
    }
    let human = stdout(&ok(mote().arg("inspect").arg(&layout)));
    assert!(
        human.contains("entrypoint [\"/mote-httpd\"]")
            && human.contains("-rwxr-xr-x")
            && human.contains("digests and sizes verified"),
        "{human}"
    );
    assert_eq!(
        stdout(&ok(mote().args(["inspect", "--size"]).arg(&layout))),
        size
    );
}

#[test]
fn a_truncated_blob_is_named_with_expected_and_actual_size() {
    let t = tmp();
    let layout = t.path().join("img");
    ok(mote().args(["pack", "-o"]).arg(&layout));
    let (digest, path) = largest_blob(&layout);
    let len = fs::metadata(&path).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(1000).unwrap();
    let err = fails(mote().arg("inspect").arg(&layout));
    assert!(
        err.contains(&format!(
            "layer 0 (application/vnd.oci.image.layer.v1.tar+gzip) blob {digest} is truncated"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("expected size {len} bytes, actual 1000 bytes")),
        "{err}"
    );
    // push refuses it too, before talking to any registry.
    let err = fails(
        mote()
            .args(["push", "--insecure"])
            .arg(&layout)
            .arg("127.0.0.1:1/x:1"),
    );
    assert!(err.contains("is truncated"), "{err}");
}

#[test]
fn a_flipped_byte_is_named_with_expected_and_actual_digest() {
    let t = tmp();
    let layout = t.path().join("img");
    ok(mote().args(["pack", "-o"]).arg(&layout));
    let (digest, path) = largest_blob(&layout);
    let mut bytes = fs::read(&path).unwrap();
    bytes[100] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    let err = fails(mote().args(["inspect", "--json"]).arg(&layout));
    assert!(
        err.contains(&format!(
            "blob {digest} is corrupt: expected digest {digest}, actual digest sha256:"
        )),
        "{err}"
    );

    fs::remove_file(&path).unwrap();
    let err = fails(mote().arg("inspect").arg(&layout));
    assert!(err.contains(&format!("blob {digest} is missing")), "{err}");
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_caught() {
    // An uncompressed layer edited, with the manifest and index rewritten to match:
    // only the config's diff_id still tells the truth.
    let t = tmp();
    let layout = t.path().join("img");
    ok(mote()
        .args(["pack", "--compression", "none", "-o"])
        .arg(&layout));
    let blobs = layout.join("blobs/sha256");
    let mut index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mhex = index["manifests"][0]["digest"].as_str().unwrap()[7..].to_string();
    let mut manifest: Value =
        serde_json::from_slice(&fs::read(blobs.join(&mhex)).unwrap()).unwrap();
    let lhex = manifest["layers"][0]["digest"].as_str().unwrap()[7..].to_string();
    let mut layer = fs::read(blobs.join(&lhex)).unwrap();
    let at = layer
        .windows(5)
        .position(|w| w == b"works")
        .expect("the default page is in the layer");
    layer[at] = b'W';
    let new_l = sha256_hex(&layer, t.path());
    fs::write(blobs.join(&new_l), &layer).unwrap();
    manifest["layers"][0]["digest"] = format!("sha256:{new_l}").into();
    let mbytes = serde_json::to_vec(&manifest).unwrap();
    let new_m = sha256_hex(&mbytes, t.path());
    fs::write(blobs.join(&new_m), &mbytes).unwrap();
    index["manifests"][0]["digest"] = format!("sha256:{new_m}").into();
    index["manifests"][0]["size"] = mbytes.len().into();
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let err = fails(mote().arg("inspect").arg(&layout));
    assert!(err.contains(&format!("layer sha256:{new_l} is corrupt: its uncompressed content has digest sha256:{new_l}, but the config's diff_id is sha256:{lhex}")), "{err}");
}

fn sha256_hex(data: &[u8], dir: &Path) -> String {
    let p = dir.join("hashme");
    fs::write(&p, data).unwrap();
    let out = ok(std::process::Command::new("sha256sum").arg(&p));
    stdout(&out).split_whitespace().next().unwrap().to_string()
}

#[test]
fn damaged_archives_are_named() {
    let t = tmp();
    let da = t.path().join("d.tar");
    ok(mote()
        .args(["pack", "--format", "docker-archive", "-o"])
        .arg(&da));
    let bytes = fs::read(&da).unwrap();
    let cut = t.path().join("cut.tar");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(mote().arg("inspect").arg(&cut));
    assert!(
        err.contains("cut.tar") && (err.contains("truncated") || err.contains("corrupt")),
        "{err}"
    );

    // A byte changed inside the layer member of a docker archive: its name carries
    // the digest it should have.
    let mut bad = bytes.clone();
    let at = bad.windows(5).position(|w| w == b"works").unwrap();
    bad[at] = b'W';
    let badp = t.path().join("bad.tar");
    fs::write(&badp, &bad).unwrap();
    let err = fails(mote().arg("inspect").arg(&badp));
    assert!(
        err.contains("is corrupt: expected digest sha256:")
            && err.contains("(from its name), actual sha256:"),
        "{err}"
    );

    let err = fails(mote().arg("inspect").arg(t.path().join("nothing-here")));
    assert!(
        err.contains("no image at") && err.contains("nothing-here"),
        "{err}"
    );
}
