#!/usr/bin/env python3
"""Cold start: from a request (or start command) to the first HTTP response, per runtime.

    bench/coldstart.py [--runs 50] [--only bare,mote-run,...] [--images httpd,busybox]
                       [--json FILE]

Two images packed by `mote pack`, both served read-only as uid 65532 on the host
network: mote-httpd with a one-file site, and busybox-static's `busybox httpd`. For
each image, in one run, the same measurement for:

  bare        the server binary started directly (no container)
  mote-run    `mote run IMAGE -- ARGS` (rootfs cache warm: the image was run once)
  mote-serve  `mote serve IMAGE --idle 50ms`, idle (no container) when the request
              comes; time from connect() to the first response byte (bench/coldstart/
              wake.c). Only for socket-activatable servers (mote-httpd).
  crun, runc  `X run -d --bundle B ID` of an `umoci unpack`ed bundle, host network
  podman      `podman run -d --rm --network host ...` (image loaded once beforehand)
  docker      `docker run -d --rm --network host ...` (dockerd from scripts/runtimes.sh)
  containerd  `ctr run -d --net-host ...` (containerd from scripts/runtimes.sh; the
              user comes from the image config, ctr has no --user; the arguments after
              the id replace the whole command, so the entrypoint is repeated)

Command runtimes are timed by bench/coldstart.c: fork+exec of the command until a GET
answers 200 (polling connect), then SIGKILL of its process group; between runs the
runtime's own cleanup (delete/rm) runs and the port is free again (idle gap >= 20 ms).
The container runtimes start detached inside `sh -c '... -d ... && exec sleep'` (see
`per_run`): one /bin/sh start (about 1 ms) is included in their times.
Runtimes that are not installed or whose daemon is not running are reported as
missing with the reason (start the daemons with `scripts/runtimes.sh start`).

Needs root, gcc, curl-free (raw sockets), the mote release binary (built here unless
$MOTE is set) and mote-httpd (scripts/build-httpd.sh unless $MOTE_HTTPD is set).
"""
import argparse
import glob
import json
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_RUNTIMES = ["bare", "mote-run", "mote-serve", "crun", "runc", "podman", "docker", "containerd"]
UID = "65532"


def log(msg):
    print(f"coldstart: {msg}", file=sys.stderr, flush=True)


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r


def port_free(port):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def wait_port_free(port, timeout=10.0):
    deadline = time.time() + timeout
    while not port_free(port):
        if time.time() > deadline:
            raise RuntimeError(f"port {port} still answers {timeout} s after the server was stopped")
        time.sleep(0.005)


def parse_summary(line):
    out = {}
    for part in line.split():
        k, _, v = part.partition("=")
        out[k] = float(v)
    return out


def stats(samples_us):
    s = sorted(samples_us)
    n = len(s)
    return {"runs": n, "median_us": s[n // 2], "p90_us": s[min(n - 1, n * 9 // 10)], "min_us": s[0], "max_us": s[-1]}


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="mote-coldstart-")
        self.state = os.path.join(self.work, "state")
        self.env = dict(os.environ, MOTE_STATE_DIR=self.state)
        rt_env = run([os.path.join(ROOT, "scripts/runtimes.sh"), "env"], check=False).stdout
        for line in rt_env.splitlines():
            if line.startswith("export ") and "=" in line:
                k, _, v = line[len("export "):].partition("=")
                self.env.setdefault(k, v)
        self.port = args.port

    # ---------------------------------------------------------------- building
    def build(self):
        out = os.path.join(self.work, "bin")
        os.makedirs(out)
        for name, src in [("coldstart", "bench/coldstart.c"), ("wake", "bench/coldstart/wake.c")]:
            run(["gcc", "-O2", "-o", os.path.join(out, name), os.path.join(ROOT, src)])
        self.coldstart = os.path.join(out, "coldstart")
        self.wake = os.path.join(out, "wake")
        self.mote = os.environ.get("MOTE")
        if not self.mote:
            log("building mote (release)")
            run(["cargo", "build", "--quiet", "--release", "-p", "mote"], cwd=ROOT)
            tdir = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
            self.mote = os.path.join(tdir, "release", "mote")
        self.httpd = os.environ.get("MOTE_HTTPD")
        if not self.httpd:
            self.httpd = run([os.path.join(ROOT, "scripts/build-httpd.sh")], cwd=ROOT).stdout.strip().splitlines()[-1]
        self.busybox = shutil.which("busybox")

    def pack(self):
        site = os.path.join(self.work, "site")
        os.makedirs(site)
        with open(os.path.join(site, "index.html"), "w") as f:
            f.write("<!doctype html><title>cold start</title><p>hello\n")
        self.site = site
        self.images = {}
        # mote-httpd: the binary we built, so bare and packed are the same bytes.
        base = ["pack", self.httpd, "--site", site, "--compression", "gzip"]
        # `mote pack BINARY` puts the binary at /<its file name>.
        entry = ["/" + os.path.basename(self.httpd)]
        self.images["httpd"] = self._pack("httpd", base, entry=entry, args=lambda p: ["--listen", f"127.0.0.1:{p}", "--root", "/www", "--log", "off"],
                                          bare=lambda p: [self.httpd, "--listen", f"127.0.0.1:{p}", "--root", site, "--log", "off", "--allow-root"], activatable=True)
        if self.busybox and "statically linked" in run(["file", "-L", self.busybox]).stdout:
            entry = ["/busybox", "httpd", "-f", "-h", "/www"]
            base = ["pack", self.busybox, "--add", f"{site}:/www", "--entrypoint", json.dumps(entry)]
            self.images["busybox"] = self._pack("busybox", base, entry=entry, args=lambda p: ["-p", f"127.0.0.1:{p}"],
                                                bare=lambda p: [self.busybox, "httpd", "-f", "-h", site, "-p", f"127.0.0.1:{p}"], activatable=False)
        else:
            log("busybox-static is not installed (apt-get install busybox-static): no busybox image")

    def _pack(self, name, base, entry, args, bare, activatable):
        layout = os.path.join(self.work, f"{name}.oci")
        archive = os.path.join(self.work, f"{name}.oci.tar")
        docker = os.path.join(self.work, f"{name}.docker.tar")
        tag = f"mote-bench-{name}:latest"
        run([self.mote] + base + ["-t", tag, "-o", layout])
        run([self.mote] + base + ["-t", tag, "--format", "oci-archive", "-o", archive])
        run([self.mote] + base + ["-t", tag, "--format", "docker-archive", "-o", docker])
        return {"name": name, "layout": layout, "archive": archive, "docker": docker, "tag": tag,
                "entry": entry, "args": args, "bare": bare, "activatable": activatable}

    # ---------------------------------------------------------------- measuring
    def coldstart_runs(self, argv, runs, env=None):
        """coldstart.c with RUNS runs of one command (it kills the process group)."""
        wait_port_free(self.port)
        # Output to files, not pipes: a container that outlives its killed client (crun
        # and runc put it in a session of its own) would hold a pipe open until cleanup.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            rc = subprocess.run([self.coldstart, str(runs), str(self.port), "/", "--"] + argv, env=env or self.env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err).returncode
            out.seek(0)
            err.seek(0)
            line = [l for l in out.read().splitlines() if l.startswith("runs=")]
            if rc != 0 or not line:
                raise RuntimeError(f"coldstart failed: {err.read().strip()[-1500:]}")
        return parse_summary(line[-1])

    def per_run(self, make, cleanup, runs):
        """One coldstart.c run per iteration of `sh -c 'RUNTIME run -d ... && exec sleep'`,
        with the runtime's cleanup in between. Detached starts (-d) finish creating the
        container before returning, so cleanup always finds it; a client killed in the
        middle of a foreground start can leave an orphan the runtime no longer knows.
        The wrapper adds one /bin/sh start (about 1 ms) to these runtimes' times."""
        samples = []
        for i in range(runs):
            wait_port_free(self.port)
            cmd = " ".join(shlex.quote(a) for a in make(i))
            try:
                s = self.coldstart_runs(["/bin/sh", "-c", f"{cmd} >/dev/null && exec sleep 3600"], 1)
            finally:
                for c in cleanup(i):
                    run(c, check=False, env=self.env)
            samples.append(s["median_us"])
            time.sleep(0.02)
        return stats(samples)

    def m_bare(self, img):
        return self.coldstart_runs(img["bare"](self.port), self.args.runs)

    def m_mote_run(self, img):
        argv = [self.mote, "run", img["layout"], "--"] + img["args"](self.port)
        # Warm the rootfs cache once, and time that first (extracting) run separately.
        first = self.coldstart_runs(argv, 1)
        res = self.coldstart_runs(argv, self.args.runs)
        res["first_run_us"] = first["median_us"]
        return res

    def m_mote_serve(self, img):
        if not img["activatable"]:
            raise Missing("not socket-activatable (no LISTEN_FDS support)")
        wait_port_free(self.port)
        cmd = [self.mote, "serve", img["layout"], "--listen", f"127.0.0.1:{self.port}", "--idle", "50ms", "-q", "--"] + img["args"](self.port)
        p = subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 10
            while port_free(self.port):
                if p.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"mote serve did not listen: {p.stderr.read() if p.poll() is not None else 'timeout'}")
                time.sleep(0.005)
            r = run([self.wake, str(self.args.runs), str(self.port), "/", str(p.pid), "20"], check=False)
            line = [l for l in r.stdout.splitlines() if l.startswith("runs=")]
            if r.returncode != 0 or not line:
                raise RuntimeError(f"wake failed: {r.stderr.strip()}")
            return parse_summary(line[-1])
        finally:
            p.terminate()
            p.wait(timeout=15)

    def _bundle(self, img):
        umoci = shutil.which("umoci")
        if not umoci:
            raise Missing("umoci not installed (apt-get install umoci)")
        b = os.path.join(self.work, f"bundle-{img['name']}")
        if not os.path.isdir(b):
            run([umoci, "unpack", "--image", f"{img['layout']}:latest", b])
        cfg = {
            "ociVersion": "1.0.2",
            "process": {"terminal": False, "user": {"uid": int(UID), "gid": int(UID)},
                        "args": img["entry"] + img["args"](self.port), "env": ["PATH=/"], "cwd": "/",
                        "capabilities": {k: [] for k in ["bounding", "effective", "permitted", "inheritable", "ambient"]},
                        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}], "noNewPrivileges": True},
            "root": {"path": "rootfs", "readonly": True},
            "hostname": "mote",
            # crun needs a /dev; a small tmpfs as in crates/cli/tests/runtime_matrix.rs.
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                       {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "noexec", "mode=755", "size=64k"]}],
            "linux": {"namespaces": [{"type": t} for t in ["pid", "ipc", "uts", "mount"]]},
        }
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(cfg, f)
        return b

    def m_oci(self, tool, img):
        binp = shutil.which(tool)
        if not binp:
            raise Missing(f"{tool} not installed (apt-get install {tool})")
        b = self._bundle(img)
        ident = lambda i: f"mote-bench-{tool}-{os.getpid()}-{i}"
        return self.per_run(lambda i: [binp, "run", "-d", "--bundle", b, ident(i)],
                            lambda i: [[binp, "delete", "-f", ident(i)]], self.args.runs)

    def m_crun(self, img):
        return self.m_oci("crun", img)

    def m_runc(self, img):
        return self.m_oci("runc", img)

    def m_podman(self, img):
        podman = shutil.which("podman")
        if not podman:
            raise Missing("podman not installed")
        out = run([podman, "load", "-i", img["archive"]], check=False)
        if out.returncode != 0:
            raise Missing(f"podman load failed: {out.stderr.strip()[-300:]}")
        name = [l.split(":", 1)[1].strip() for l in out.stdout.splitlines() if l.startswith("Loaded image")]
        ref = name[-1] if name else img["tag"]
        ident = lambda i: f"mote-bench-podman-{os.getpid()}-{i}"
        return self.per_run(
            lambda i: [podman, "run", "-d", "--rm", "--name", ident(i), "--network", "host", "--read-only", "--user", f"{UID}:{UID}",
                       "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", ref] + img["args"](self.port),
            lambda i: [[podman, "rm", "-f", "-t", "0", ident(i)]], self.args.runs)

    def m_docker(self, img):
        docker = shutil.which("docker")
        host = self.env.get("MOTE_DOCKER_HOST", "unix:///var/run/docker.sock")
        if not docker:
            raise Missing("docker not installed (apt-get install docker.io)")
        if not os.path.exists(host.replace("unix://", "")):
            raise Missing(f"dockerd not running ({host}; scripts/runtimes.sh start)")
        d = [docker, "-H", host]
        run(d + ["load", "-i", img["docker"]])
        ident = lambda i: f"mote-bench-docker-{os.getpid()}-{i}"
        return self.per_run(
            lambda i: d + ["run", "-d", "--rm", "--name", ident(i), "--network", "host", "--read-only", "--user", f"{UID}:{UID}", img["tag"]] + img["args"](self.port),
            lambda i: [d + ["rm", "-f", ident(i)]], self.args.runs)

    def m_containerd(self, img):
        ctr = shutil.which("ctr")
        addr = self.env.get("MOTE_CONTAINERD_ADDRESS", "/run/containerd/containerd.sock")
        if not ctr:
            raise Missing("ctr not installed (apt-get install containerd)")
        if not os.path.exists(addr):
            raise Missing(f"containerd not running ({addr}; scripts/runtimes.sh start)")
        ns = f"mote-bench-{os.getpid()}"
        c = [ctr, "--address", addr, "--namespace", ns]
        run(c + ["images", "import", "--digests", img["archive"]])
        names = run(c + ["images", "ls", "-q"]).stdout.split()
        if not names:
            raise RuntimeError("ctr images import created no image")
        ident = lambda i: f"mote-bench-ctr-{i}"
        try:
            return self.per_run(
                lambda i: c + ["run", "-d", "--net-host", "--read-only", "--null-io", names[0], ident(i)] + img["entry"] + img["args"](self.port),
                lambda i: [c + ["tasks", "kill", "-s", "SIGKILL", ident(i)], c + ["tasks", "rm", "-f", ident(i)], c + ["containers", "rm", ident(i)]],
                self.args.runs)
        finally:
            for n in names:
                run(c + ["images", "rm", "--sync", n], check=False)
            run([ctr, "--address", addr, "namespaces", "rm", ns], check=False)
            # containerd leaves an (empty) cgroup named after the namespace in every v1
            # hierarchy.
            for d in glob.glob(f"/sys/fs/cgroup/*/{ns}"):
                try:
                    os.rmdir(d)
                except OSError:
                    pass


class Missing(Exception):
    pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--port", type=int, default=24080, help="listen port (below the ephemeral range)")
    ap.add_argument("--only", default=",".join(ALL_RUNTIMES))
    ap.add_argument("--images", default="httpd,busybox")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("coldstart: must run as root (namespaces, cgroups, runtimes)")
    b = Bench(args)
    b.build()
    b.pack()
    results = []
    for iname in args.images.split(","):
        img = b.images.get(iname)
        if img is None:
            results += [{"image": iname, "runtime": rt, "missing": "image not built"} for rt in args.only.split(",")]
            continue
        for rt in args.only.split(","):
            log(f"{iname} / {rt}")
            entry = {"image": iname, "runtime": rt}
            try:
                entry.update(getattr(b, "m_" + rt.replace("-", "_"))(img))
            except Missing as e:
                entry["missing"] = str(e)
            except Exception as e:  # a runtime that fails is reported, not hidden
                entry["error"] = str(e)[-500:]
            results.append(entry)
            log(json.dumps(entry))
    uname = platform.uname()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"# Cold start to first response ({time.strftime('%Y-%m-%d %H:%M %Z')}, {uname.system} {uname.release}, "
          f"{os.cpu_count()} CPUs {cpu}, runs={args.runs})\n")
    print("| image | runtime | median ms | p90 ms | min ms | max ms | note |")
    print("|---|---|---:|---:|---:|---:|---|")
    for r in results:
        if "median_us" in r:
            note = f"first run (extracts the image): {r['first_run_us'] / 1000:.2f} ms" if "first_run_us" in r else ""
            print(f"| {r['image']} | {r['runtime']} | {r['median_us'] / 1000:.2f} | {r['p90_us'] / 1000:.2f} | "
                  f"{r['min_us'] / 1000:.2f} | {r['max_us'] / 1000:.2f} | {note} |")
        else:
            print(f"| {r['image']} | {r['runtime']} | – | – | – | – | {'missing: ' + r['missing'] if 'missing' in r else 'error: ' + r['error']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    shutil.rmtree(b.work, ignore_errors=True)
    failed = [r for r in results if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
