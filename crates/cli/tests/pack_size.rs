//! Size: what packing adds around the server binary (manifest, config, tar headers,
//! gzip framing) stays small, and the layer's gzip is at least as good as `gzip -9`.

mod pack_support;

use std::process::Command;

use pack_support::*;
use serde_json::Value;

#[test]
fn packing_adds_little_around_the_binary() {
    need("gzip", "gzip");
    let t = tmp();
    let img = t.path().join("img");
    let total: u64 = stdout(&ok(mote().args(["pack", "--print-size", "-o"]).arg(&img)))
        .parse()
        .unwrap();
    let j: Value =
        serde_json::from_slice(&ok(mote().args(["inspect", "--json"]).arg(&img)).stdout).unwrap();
    let im = &j["images"][0];
    let (manifest, config, layer) = (
        im["size"].as_u64().unwrap(),
        im["config"]["size"].as_u64().unwrap(),
        im["layers"][0]["size"].as_u64().unwrap(),
    );
    assert_eq!(
        total,
        manifest + config + layer,
        "--print-size is manifest + config + layer"
    );

    // The server binary alone, compressed by gzip -9.
    let layer_path = img
        .join("blobs/sha256")
        .join(&im["layers"][0]["digest"].as_str().unwrap()[7..]);
    let bin = ok(Command::new("tar")
        .arg("-xzOf")
        .arg(&layer_path)
        .arg("mote-httpd"))
    .stdout;
    let bin_path = t.path().join("mote-httpd");
    std::fs::write(&bin_path, &bin).unwrap();
    let gz9 = ok(Command::new("gzip").args(["-9", "-n", "-c"]).arg(&bin_path))
        .stdout
        .len() as u64;
    eprintln!(
        "mote-httpd {} B (gzip -9: {gz9} B); image: manifest {manifest} B + config {config} B + layer {layer} B = {total} B",
        bin.len()
    );
    assert!(manifest <= 450, "manifest is {manifest} B");
    assert!(config <= 700, "config is {config} B");
    // tar headers, the default page and gzip framing cost at most 256 bytes more than
    // gzip -9 of the bare binary (zopfli usually wins that back).
    assert!(
        layer <= gz9 + 256,
        "layer {layer} B vs gzip -9 of the binary {gz9} B"
    );
    // With mote-httpd inside its 20,480-byte budget this leaves the image under 16 KiB.
    let overhead = total.saturating_sub(gz9);
    assert!(overhead <= 1400, "packing overhead {overhead} B");
}
