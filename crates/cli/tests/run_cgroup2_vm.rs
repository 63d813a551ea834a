//! `mote run` limits on a cgroup v2 host, for real: the machines that run the other
//! tests are v1/hybrid, so this test boots a small Linux VM (qemu; Debian's kernel, an
//! initramfs built here) where only cgroup2 is mounted, with every controller on the
//! unified hierarchy, and runs `mote run` there with --memory, --pids and --cpus on
//! real images. The VM's /init is `tests/vm/init.sh`; it checks that the limits are in
//! memory.max, pids.max and cpu.max, that a memory hog is OOM-killed (and reported),
//! that a fork bomb stops at pids.max, that cpu.max throttles, and that groups are
//! removed (also swept after a killed mote). Each check prints a line on the serial
//! console; this test requires every one of them, by name, to say ok.
//!
//! Needs: qemu-system-x86_64 (apt qemu-system-x86), a kernel at /boot/vmlinuz-*
//! (apt linux-image-amd64), busybox (apt busybox-static), strip (apt binutils); `./x
//! deps` installs them. KVM is used when it boots the kernel within a few seconds;
//! otherwise (no /dev/kvm, or nested KVM that crawls) the VM runs under TCG.
//! MOTE_VM_ACCEL=kvm|tcg forces one; MOTE_VM_KERNEL picks the kernel.

#[path = "probe/mod.rs"]
mod probe;

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use probe::*;

/// Every check init.sh makes; each must print `CHECK <name>: ok`.
const CHECKS: &[&str] = &[
    "only_cgroup2_mounted",
    "v2_offers_controllers",
    "limits_group_made",
    "memory_max",
    "memory_swap_max",
    "memory_oom_group",
    "pids_max",
    "cpu_max",
    "container_in_group",
    "controllers_enabled",
    "limits_run_exit",
    "limits_group_removed",
    "self_cgroup_at_exec",
    "alloc_without_limit",
    "oom_exit_code",
    "oom_reported",
    "oom_hog_did_not_finish",
    "oom_group_removed",
    "childalloc_without_limit",
    "oom_group_exit_code",
    "oom_group_killed_parent",
    "forkbomb_without_limit",
    "forkbomb_held_at_pids_max",
    "forkbomb_group_removed",
    "cpu_throttled",
    "killed_with_mote",
    "killed_mote_left_group",
    "sweep_run_exit",
    "stale_group_swept",
];

/// How long a KVM guest may take to reach /init before KVM counts as unusable (a
/// working KVM gets there in about a second).
const KVM_BOOT_DEADLINE: Duration = Duration::from_secs(6);
/// The whole VM run, boot to power-off (about 12 s under TCG on the 2-core machines
/// of 2026-11; KVM is faster).
const VM_DEADLINE: Duration = Duration::from_secs(60);

fn need(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{tool} is missing: install the Debian package {package} (./x deps does)"))
}

/// The newest /boot/vmlinuz-*, or $MOTE_VM_KERNEL.
fn kernel() -> PathBuf {
    if let Some(k) = std::env::var_os("MOTE_VM_KERNEL") {
        return PathBuf::from(k);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/boot")
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("vmlinuz-")).collect())
        .unwrap_or_default();
    found.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    found.pop().unwrap_or_else(|| panic!("no kernel at /boot/vmlinuz-*: install the Debian package linux-image-amd64 (./x deps does), or set MOTE_VM_KERNEL"))
}

fn copy_mode(from: &Path, to: &Path, mode: u32) {
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", from.display(), to.display()));
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The VM's root: /init, busybox, mote (stripped) with the libraries `ldd` names, and
/// the probe and busybox images under /images.
fn stage_root(root: &Path) {
    let busybox = need("busybox", "busybox-static");
    let ldd = Command::new("ldd").arg(&busybox).output().unwrap();
    assert!(!ldd.status.success() || String::from_utf8_lossy(&ldd.stdout).contains("not a dynamic"), "{} must be static (busybox-static)", busybox.display());
    copy_mode(&busybox, &root.join("bin/busybox"), 0o755);
    std::fs::write(root.join("init"), include_str!("vm/init.sh")).unwrap();
    std::fs::set_permissions(root.join("init"), std::fs::Permissions::from_mode(0o755)).unwrap();

    // mote: the debug build is ~75 MB with its debug info, ~12 MB stripped.
    let st = Command::new(need("strip", "binutils")).arg("-o").arg(root.join("bin/mote")).arg(MOTE).status().unwrap();
    assert!(st.success(), "strip {MOTE} failed");
    let ldd = Command::new("ldd").arg(MOTE).output().expect("cannot run ldd");
    let text = String::from_utf8_lossy(&ldd.stdout).into_owned() + &String::from_utf8_lossy(&ldd.stderr);
    assert!(ldd.status.success() || text.contains("not a dynamic executable"), "ldd {MOTE}: {text}");
    for line in text.lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let lib = match line.split_once("=>") {
            Some((_, r)) => r.split_whitespace().next().unwrap_or(""),
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if lib.starts_with('/') {
            copy_mode(Path::new(lib), &root.join(lib.trim_start_matches('/')), 0o755);
        }
    }
    // init.sh copies both into the tmpfs root, whatever ldd named.
    for dir in ["lib", "lib64"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }

    write_layout(&root.join("images/probe"), &[probe_layers()], probe_config());
    let bb = std::fs::read(&busybox).unwrap();
    write_layout(
        &root.join("images/busybox"),
        &[vec![Entry::Dir("bin", 0o755), Entry::File("bin/busybox".into(), bb, 0o755), Entry::Symlink("bin/sh", "busybox"), Entry::Dir("proc", 0o555)]],
        serde_json::json!({"User": "65534:65534", "Env": ["PATH=/bin"], "Entrypoint": ["/bin/busybox"], "WorkingDir": "/"}),
    );
}

/// Writes `root` as an uncompressed newc cpio archive (the initramfs format).
fn cpio(root: &Path, out: &Path) {
    fn entry(w: &mut Vec<u8>, ino: u32, name: &str, mode: u32, data: &[u8]) {
        let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
        let fields = [ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
        w.extend_from_slice(b"070701");
        for f in fields {
            w.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        w.extend_from_slice(name.as_bytes());
        w.push(0);
        while w.len() % 4 != 0 {
            w.push(0);
        }
        w.extend_from_slice(data);
        while w.len() % 4 != 0 {
            w.push(0);
        }
    }
    fn walk(w: &mut Vec<u8>, ino: &mut u32, root: &Path, dir: &Path) {
        let mut names: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        for p in names {
            let md = std::fs::symlink_metadata(&p).unwrap();
            let name = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            *ino += 1;
            if md.file_type().is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                entry(w, *ino, &name, 0o120777, t.as_os_str().as_encoded_bytes());
            } else if md.is_dir() {
                entry(w, *ino, &name, 0o040000 | (md.mode() & 0o7777), &[]);
                walk(w, ino, root, &p);
            } else {
                entry(w, *ino, &name, 0o100000 | (md.mode() & 0o7777), &std::fs::read(&p).unwrap());
            }
        }
    }
    let mut w = Vec::new();
    let mut ino = 0;
    walk(&mut w, &mut ino, root, root);
    entry(&mut w, 0, "TRAILER!!!", 0, &[]);
    std::fs::File::create(out).unwrap().write_all(&w).unwrap();
}

fn start_vm(kernel: &Path, initrd: &Path, serial: &Path, kvm: bool) -> Child {
    let _ = std::fs::remove_file(serial);
    let mut c = Command::new(need("qemu-system-x86_64", "qemu-system-x86"));
    c.args(if kvm { ["-accel", "kvm"] } else { ["-accel", "tcg"] });
    c.args(["-m", "512", "-smp", "1", "-display", "none", "-monitor", "none", "-nic", "none", "-no-reboot"])
        .arg("-serial")
        .arg(format!("file:{}", serial.display()))
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        // cgroup_no_v1=all: no controller can be bound to a v1 hierarchy. panic=-1 with
        // -no-reboot: a kernel panic (e.g. /init dying) ends qemu at once.
        .args(["-append", "console=ttyS0 panic=-1 cgroup_no_v1=all loglevel=4 rdinit=/init"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c.spawn().expect("cannot start qemu-system-x86_64")
}

fn read(serial: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(serial).unwrap_or_default()).into_owned()
}

/// Runs the VM to power-off; returns the serial console text and the accelerator.
fn run_vm(kernel: &Path, initrd: &Path, serial: &Path) -> (String, &'static str) {
    let forced = std::env::var("MOTE_VM_ACCEL").ok();
    let try_kvm = match forced.as_deref() {
        Some("kvm") => true,
        Some("tcg") => false,
        Some(o) => panic!("MOTE_VM_ACCEL={o:?}: expected kvm or tcg"),
        None => std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok(),
    };
    let mut accel = if try_kvm { "kvm" } else { "tcg" };
    let mut vm = start_vm(kernel, initrd, serial, try_kvm);
    let mut t0 = Instant::now();
    loop {
        if let Some(st) = vm.try_wait().unwrap() {
            let out = vm.wait_with_output().unwrap();
            let text = read(serial);
            assert!(
                st.success(),
                "qemu ({accel}) failed: {st}\nqemu stderr: {}\nserial console:\n{text}",
                String::from_utf8_lossy(&out.stderr)
            );
            return (text, accel);
        }
        let text = read(serial);
        if accel == "kvm" && forced.is_none() && t0.elapsed() > KVM_BOOT_DEADLINE && !text.contains("MOTE-VM-BOOTED") {
            // /dev/kvm opens, but the guest does not get to /init (nested KVM without
            // usable hardware support crawls through the kernel's decompressor).
            let _ = vm.kill();
            let _ = vm.wait();
            eprintln!("run_cgroup2_vm: KVM did not boot the kernel within {KVM_BOOT_DEADLINE:?}; using TCG");
            accel = "tcg";
            vm = start_vm(kernel, initrd, serial, false);
            t0 = Instant::now();
            continue;
        }
        if t0.elapsed() > VM_DEADLINE {
            let _ = vm.kill();
            let out = vm.wait_with_output().unwrap();
            panic!(
                "the VM ({accel}) did not power off within {VM_DEADLINE:?}\nqemu stderr: {}\nserial console:\n{text}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cgroup_v2_limits_in_a_vm() {
    let t_start = Instant::now();
    let kernel = kernel();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    stage_root(&root);
    let initrd = tmp.path().join("initrd.cpio");
    cpio(&root, &initrd);
    let serial = tmp.path().join("serial.log");
    let t_vm = Instant::now();
    let (text, accel) = run_vm(&kernel, &initrd, &serial);
    eprintln!(
        "run_cgroup2_vm: kernel {}, {accel}; VM {:.1?}, total {:.1?}\n{text}",
        kernel.display(),
        t_vm.elapsed(),
        t_start.elapsed()
    );
    let text = text.replace('\r', "");
    assert!(text.contains("MOTE-VM-BOOTED"), "the VM did not reach /init stage 2:\n{text}");
    let failed: Vec<&str> = text.lines().filter(|l| l.starts_with("CHECK ") && l.contains(": FAIL")).collect();
    let missing: Vec<&&str> = CHECKS.iter().filter(|c| !text.lines().any(|l| l.starts_with(&format!("CHECK {c}: ok")))).collect();
    assert!(failed.is_empty() && missing.is_empty(), "cgroup v2 checks failed: {failed:#?}\nnot ok: {missing:?}\nserial console:\n{text}");
    let result = text.lines().find(|l| l.starts_with("MOTE-VM-RESULT:")).unwrap_or_else(|| panic!("no result line:\n{text}"));
    assert_eq!(result, format!("MOTE-VM-RESULT: {} checks, 0 failed", CHECKS.len()), "{text}");
}
