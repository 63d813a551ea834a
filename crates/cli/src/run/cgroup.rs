//! Resource limits through cgroups on v1, hybrid and v2 hosts.
//!
//! For each controller a limit needs (memory, pids, cpu) the hierarchy is found in
//! /proc/self/mountinfo: a cgroup v1 mount carrying that controller wins (hybrid hosts
//! keep their controllers there); otherwise the cgroup2 mount (at /sys/fs/cgroup or
//! /sys/fs/cgroup/unified) if it offers the controller. A group `mote-<pid>-<n>` is
//! made at the top of each hierarchy, limits are written, and `cgroup.procs` of every
//! group is opened so the container's first process can move itself in (write "0")
//! before it execs: the limits hold from the first instruction of the image's program.
//! Groups are removed when the container has been reaped; groups whose mote died are
//! swept (their processes killed) the next time mote makes groups.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Limits asked for on the command line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    /// Memory in bytes (swap is not allowed on top).
    pub memory: Option<u64>,
    /// Maximum number of tasks (processes and threads).
    pub pids: Option<u64>,
    /// CPUs, fractional (0.5 = half a CPU's time per period).
    pub cpus: Option<f64>,
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.memory.is_none() && self.pids.is_none() && self.cpus.is_none()
    }
}

/// The CFS period used for --cpus, 100 ms (the kernel's default).
const CPU_PERIOD_US: u64 = 100_000;

#[derive(Debug)]
struct Mount {
    path: PathBuf,
    v2: bool,
    controllers: Vec<String>,
}

fn mounts() -> Result<Vec<Mount>> {
    let info = fs::read_to_string("/proc/self/mountinfo").context("cannot read /proc/self/mountinfo")?;
    let mut out = Vec::new();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        let mp = pre.split(' ').nth(4).unwrap_or("");
        let mut post = post.split(' ');
        let fstype = post.next().unwrap_or("");
        let _source = post.next();
        let opts = post.next().unwrap_or("");
        let path = PathBuf::from(mp.replace("\\040", " "));
        match fstype {
            "cgroup" => out.push(Mount {
                path,
                v2: false,
                controllers: opts.split(',').map(String::from).collect(),
            }),
            "cgroup2" => {
                let ctl = fs::read_to_string(path.join("cgroup.controllers")).unwrap_or_default();
                out.push(Mount { path, v2: true, controllers: ctl.split_whitespace().map(String::from).collect() })
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Which hierarchy each wanted controller goes to: a cgroup v1 mount carrying it
/// wins (hybrid hosts keep their controllers there), else a cgroup2 mount offering it.
/// Controllers that land in the same mount share one group, so each mount appears once,
/// in the order of `wanted`.
fn place<'m>(mounts: &'m [Mount], wanted: &[&'static str]) -> Result<Vec<(&'m Mount, Vec<&'static str>)>> {
    let mut out: Vec<(&Mount, Vec<&'static str>)> = Vec::new();
    for &ctl in wanted {
        let m = mounts
            .iter()
            .find(|m| !m.v2 && m.controllers.iter().any(|c| c == ctl))
            .or_else(|| mounts.iter().find(|m| m.v2 && m.controllers.iter().any(|c| c == ctl)));
        let Some(m) = m else {
            bail!("cannot limit {ctl}: no cgroup hierarchy offers the {ctl} controller (see /proc/self/mountinfo)");
        };
        match out.iter_mut().find(|(o, _)| o.path == m.path) {
            Some((_, ctls)) => ctls.push(ctl),
            None => out.push((m, vec![ctl])),
        }
    }
    Ok(out)
}

/// One group in one hierarchy.
#[derive(Debug)]
struct Group {
    dir: PathBuf,
    v2: bool,
    controllers: Vec<&'static str>,
}

/// The groups of one container.
#[derive(Debug)]
pub struct Cgroups {
    groups: Vec<Group>,
    /// `cgroup.procs` of each group, opened for writing.
    procs: Vec<OwnedFd>,
}

fn write(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).with_context(|| format!("cannot write {value:?} to {}", path.display()))
}

impl Cgroups {
    /// Makes the groups for `limits` (none if `limits` is empty).
    pub fn create(limits: &Limits) -> Result<Cgroups> {
        let mut cg = Cgroups { groups: Vec::new(), procs: Vec::new() };
        if limits.is_empty() {
            return Ok(cg);
        }
        let mounts = mounts()?;
        sweep(&mounts);
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!("mote-{}-{}", std::process::id(), SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let mut wanted: Vec<&'static str> = Vec::new();
        if limits.memory.is_some() {
            wanted.push("memory");
        }
        if limits.pids.is_some() {
            wanted.push("pids");
        }
        if limits.cpus.is_some() {
            wanted.push("cpu");
        }
        for (m, ctls) in place(&mounts, &wanted)? {
            if m.v2 {
                // A v2 group only has a controller's files (memory.max, pids.max,
                // cpu.max) when its parent enables that controller for its children;
                // each one needs `+ctl` (the root of a host without systemd enables
                // none). Harmless if already on.
                let sc = m.path.join("cgroup.subtree_control");
                let on = fs::read_to_string(&sc).unwrap_or_default();
                for ctl in ctls.iter().filter(|c| !on.split_whitespace().any(|o| o == **c)) {
                    write(&sc, &format!("+{ctl}")).with_context(|| {
                        format!("cannot enable the {ctl} controller for the groups under {}", m.path.display())
                    })?;
                }
            }
            let dir = m.path.join(&name);
            fs::create_dir(&dir).with_context(|| format!("cannot create cgroup {}", dir.display()))?;
            cg.groups.push(Group { dir, v2: m.v2, controllers: ctls });
        }
        // From here on Drop removes the groups if anything fails.
        for i in 0..cg.groups.len() {
            let (dir, v2, ctls) = (cg.groups[i].dir.clone(), cg.groups[i].v2, cg.groups[i].controllers.clone());
            for ctl in ctls {
                match (ctl, v2) {
                    ("memory", false) => {
                        let m = limits.memory.unwrap().to_string();
                        write(&dir.join("memory.limit_in_bytes"), &m)?;
                        let sw = dir.join("memory.memsw.limit_in_bytes");
                        if sw.exists() {
                            write(&sw, &m)?;
                        }
                    }
                    ("memory", true) => {
                        write(&dir.join("memory.max"), &limits.memory.unwrap().to_string())?;
                        let sw = dir.join("memory.swap.max");
                        if sw.exists() {
                            write(&sw, "0")?;
                        }
                        // The container is one unit for the OOM killer, as Kubernetes
                        // makes it on cgroup v2: over the limit, every process in it is
                        // killed, not just the largest (a child killed alone would leave
                        // its parent running in a half-broken state). Linux >= 4.19.
                        let og = dir.join("memory.oom.group");
                        if og.exists() {
                            write(&og, "1")?;
                        }
                    }
                    ("pids", _) => write(&dir.join("pids.max"), &limits.pids.unwrap().to_string())?,
                    ("cpu", v2) => {
                        let quota = ((limits.cpus.unwrap() * CPU_PERIOD_US as f64).round() as u64).max(1000);
                        if v2 {
                            write(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
                        } else {
                            write(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
                            write(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
                        }
                    }
                    _ => unreachable!(),
                }
            }
            let procs = dir.join("cgroup.procs");
            let f = fs::OpenOptions::new()
                .write(true)
                .open(&procs)
                .with_context(|| format!("cannot open {}", procs.display()))?;
            cg.procs.push(f.into());
        }
        Ok(cg)
    }

    /// The `cgroup.procs` descriptors the child writes "0" to.
    pub fn procs_fds(&self) -> Vec<i32> {
        self.procs.iter().map(|f| f.as_raw_fd()).collect()
    }

    /// The group directories (for diagnostics and callers such as `mote up`).
    #[allow(dead_code)]
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.groups.iter().map(|g| g.dir.clone()).collect()
    }

    /// How often the memory controller killed a process in this container, or None
    /// when there is no memory limit.
    pub fn oom_kills(&self) -> Option<u64> {
        let g = self.groups.iter().find(|g| g.controllers.contains(&"memory"))?;
        let file = if g.v2 { "memory.events" } else { "memory.oom_control" };
        let text = fs::read_to_string(g.dir.join(file)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse().ok()))
            .or(Some(0))
    }

    /// Removes the groups (the container must have been reaped).
    pub fn remove(&mut self) {
        self.procs.clear();
        for g in self.groups.drain(..) {
            remove_group(&g.dir);
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        self.remove();
    }
}

/// rmdir, retrying briefly: a v1 group can stay busy for a moment after its last
/// task is reaped. Kills leftover tasks (from a crashed container) first.
fn remove_group(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(_) if Instant::now() < deadline => {
                if let Ok(p) = fs::read_to_string(dir.join("cgroup.procs")) {
                    for pid in p.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                        // SAFETY: kill has no memory-safety preconditions.
                        unsafe { libc::kill(pid, libc::SIGKILL) };
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                eprintln!("mote: warning: cannot remove cgroup {}: {e}", dir.display());
                return;
            }
        }
    }
}

/// Removes `mote-<pid>-<n>` groups whose mote process no longer exists.
fn sweep(mounts: &[Mount]) {
    for m in mounts {
        let Ok(rd) = fs::read_dir(&m.path) else { continue };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("mote-") else { continue };
            let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
            if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            remove_group(&e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(path: &str, v2: bool, ctls: &str) -> Mount {
        Mount { path: PathBuf::from(path), v2, controllers: ctls.split(',').filter(|c| !c.is_empty()).map(String::from).collect() }
    }

    fn placed(mounts: &[Mount], wanted: &[&'static str]) -> Vec<(String, Vec<&'static str>)> {
        place(mounts, wanted).unwrap().into_iter().map(|(m, c)| (m.path.display().to_string(), c)).collect()
    }

    #[test]
    fn v2_only_host_one_group_with_every_controller() {
        // All three controllers share one group: `create` enables each of them in the
        // root's cgroup.subtree_control (it used to enable only the first, so pids.max
        // and cpu.max did not exist: tests/run_cgroup2_vm.rs checks this on a real v2 kernel).
        let m = [mount("/sys/fs/cgroup", true, "cpuset,cpu,io,memory,pids")];
        assert_eq!(placed(&m, &["memory", "pids", "cpu"]), [("/sys/fs/cgroup".into(), vec!["memory", "pids", "cpu"])]);
    }

    #[test]
    fn hybrid_host_v1_mounts_win() {
        let m = [
            mount("/sys/fs/cgroup/memory", false, "rw,nosuid,memory"),
            mount("/sys/fs/cgroup/pids", false, "rw,pids"),
            mount("/sys/fs/cgroup/cpu,cpuacct", false, "rw,cpu,cpuacct"),
            mount("/sys/fs/cgroup/unified", true, ""),
        ];
        assert_eq!(
            placed(&m, &["memory", "pids", "cpu"]),
            [
                ("/sys/fs/cgroup/memory".into(), vec!["memory"]),
                ("/sys/fs/cgroup/pids".into(), vec!["pids"]),
                ("/sys/fs/cgroup/cpu,cpuacct".into(), vec!["cpu"]),
            ]
        );
    }

    #[test]
    fn split_host_and_missing_controller() {
        // memory on v1, the rest on the unified hierarchy.
        let m = [mount("/sys/fs/cgroup/memory", false, "rw,memory"), mount("/sys/fs/cgroup/unified", true, "cpu,pids")];
        assert_eq!(
            placed(&m, &["memory", "pids", "cpu"]),
            [("/sys/fs/cgroup/memory".into(), vec!["memory"]), ("/sys/fs/cgroup/unified".into(), vec!["pids", "cpu"])]
        );
        let err = place(&m[1..], &["memory"]).unwrap_err().to_string();
        assert!(err.contains("no cgroup hierarchy offers the memory controller"), "{err}");
    }
}
