#!/usr/bin/env python3
"""Soak test for mote-httpd: mixed load for a long time, RSS sampled all along.

Runs concurrently, in loops, until --duration passes:
  * wrk keep-alive (20 connections)                       GET /index.html
  * h2load --h1 pipelined (10 connections x 10 in flight)  GET /a.txt
  * ab without -k (a new connection per request)           GET /mid.bin (300 KB)
  * curl, a new process and connection per request        /big.bin (8 MB), ranges, 304s, 404s
  * slowhttptest slowloris (-H), slow read (-X) and slow body (-B)
  * raw malformed requests (400s), half-sent heads, abrupt resets
VmRSS (split into the connection-slot region and the rest, from /proc/PID/smaps), open
fds (and their high-water mark) and CPU time are sampled every --sample seconds. The
server has no heap: the slot region is mapped once and its pages are touched on first
use, so its RSS follows the high-water mark of concurrent connections, bounded by the
region's size. The verdict: the rest of the RSS may not grow once warm (largest value in
the second half <= largest in the first half after --warmup), and the slot RSS may never
exceed the region. Total RSS is reported too. Not part of CI (it takes minutes):

  python3 bench/soak.py --bin $(scripts/build-httpd.sh) --duration 600 --csv /tmp/soak.csv
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time


def need(tool, pkg):
    p = shutil.which(tool)
    if not p:
        sys.exit(f"soak: required tool `{tool}` is missing: apt-get install {pkg}")
    return p


def slot_rss(pid):
    """(Rss, Size) in kB of the largest anonymous mapping: the connection-slot region the
    server maps once at start-up. Its pages are touched on first use, so its RSS follows
    the high-water mark of concurrent connections (and of head sizes seen in each slot)
    and is bounded by its Size; everything else (stack, data, text) must stay flat."""
    best = (0, 0)
    cur = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and ":" in parts[3]:
                cur = {"anon": len(parts) == 5 and parts[1].startswith("rw")}
            elif cur is not None and parts[0] == "Size:":
                cur["size"] = int(parts[1])
            elif cur is not None and parts[0] == "Rss:":
                if cur["anon"] and cur.get("size", 0) > best[1]:
                    best = (int(parts[1]), cur["size"])
    return best


def proc_sample(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = int(next(l for l in f if l.startswith("VmRSS:")).split()[1])
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    fields = st[st.rfind(")") + 2:].split()
    ticks = int(fields[11]) + int(fields[12])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds, ticks


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--warmup", type=float, default=60)
    ap.add_argument("--sample", type=float, default=5)
    ap.add_argument("--port", type=int, default=20000 + (os.getpid() * 13) % 12000)
    ap.add_argument("--csv", help="write the RSS series here")
    args = ap.parse_args()
    tools = {t: need(t, p) for t, p in [("wrk", "wrk"), ("h2load", "nghttp2-client"), ("ab", "apache2-utils"),
                                         ("curl", "curl"), ("slowhttptest", "slowhttptest")]}
    root = tempfile.mkdtemp(prefix="soak-root-")
    for name, data in [("index.html", b"home\n"), ("a.txt", b"aaa\n"), ("mid.bin", os.urandom(300_000)),
                       ("big.bin", os.urandom(8 << 20)), ("app.js", b"x();\n" * 100), ("app.js.gz", b"GZ" * 50)]:
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    base = f"http://127.0.0.1:{args.port}"
    # The soak runs as root: the server refuses that without --allow-root.
    srv = subprocess.Popen([args.bin, "--allow-root", "--listen", f"127.0.0.1:{args.port}", "--root", root, "--log", "clf",
                            "--header-timeout", "10", "--write-timeout", "10", "--idle-timeout", "15"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", args.port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    t_start = time.time()
    t_end = t_start + args.duration
    stop = threading.Event()
    counts = {}
    errors = []
    lock = threading.Lock()

    def add(k, n=1):
        with lock:
            counts[k] = counts.get(k, 0) + n

    def loop(name, make_cmd, check):
        while not stop.is_set() and time.time() < t_end - 2:
            left = max(3, int(t_end - time.time()) - 1)
            cmd = make_cmd(left)
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=left + 60).stdout
            except subprocess.TimeoutExpired:
                errors.append(f"{name}: timed out")
                continue
            try:
                check(out)
            except Exception as e:  # noqa: BLE001 - report any parse failure
                errors.append(f"{name}: {e}: {out[-400:]}")
            add(name + " runs")

    def wrk_check(out):
        m = re.search(r"(\d+) requests in", out)
        add("wrk requests", int(m.group(1)))
        if "Non-2xx" in out or "Socket errors" in out:
            raise ValueError("errors in wrk report")

    def h2_check(out):
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
        add("h2load requests", int(m.group(4)))
        if int(m.group(5)) or int(m.group(6)):
            raise ValueError("h2load failures")

    def ab_check(out):
        done = int(re.search(r"Complete requests:\s+(\d+)", out).group(1))
        failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
        add("ab requests", done)
        if failed or "Non-2xx" in out:
            raise ValueError("ab failures")

    def slow_check(out):
        pass

    threads = [
        threading.Thread(target=loop, args=("wrk", lambda l: [tools["wrk"], "-t1", "-c20", f"-d{min(l, 30)}s",
                                                               f"{base}/index.html"], wrk_check)),
        threading.Thread(target=loop, args=("h2load", lambda l: [tools["h2load"], "--h1", "-n", "100000", "-c", "10", "-m", "10",
                                                                  f"{base}/a.txt"], h2_check)),
        threading.Thread(target=loop, args=("ab", lambda l: [tools["ab"], "-n", "2000", "-c", "4", f"{base}/mid.bin"], ab_check)),
        threading.Thread(target=loop, args=("slowloris", lambda l: [tools["slowhttptest"], "-H", "-c", "100", "-i", "4", "-r", "50",
                                                                     "-l", str(min(l, 40)), "-u", f"{base}/index.html"], slow_check)),
        threading.Thread(target=loop, args=("slowread", lambda l: [tools["slowhttptest"], "-X", "-c", "50", "-r", "25", "-w", "32",
                                                                    "-y", "64", "-n", "2", "-z", "64", "-l", str(min(l, 40)),
                                                                    "-u", f"{base}/big.bin"], slow_check)),
        threading.Thread(target=loop, args=("slowbody", lambda l: [tools["slowhttptest"], "-B", "-c", "50", "-i", "2", "-r", "25",
                                                                    "-s", "8192", "-l", str(min(l, 40)),
                                                                    "-u", f"{base}/index.html"], slow_check)),
    ]

    def curl_loop():
        rng = random.Random(1)
        while not stop.is_set() and time.time() < t_end - 2:
            path, extra, want = rng.choice([("/big.bin", [], "200"), ("/big.bin", ["-r", "1000-2000"], "206"),
                                            ("/app.js", ["-H", "Accept-Encoding: gzip"], "200"),
                                            ("/index.html", ["-H", "If-None-Match: *"], "304"), ("/nope", [], "404")])
            r = subprocess.run([tools["curl"], "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "30", *extra,
                                base + path], capture_output=True, text=True)
            add("curl requests")
            if r.stdout != want:
                errors.append(f"curl {path} {extra}: {r.stdout} {r.stderr}")
            time.sleep(0.05)

    def raw_loop():
        rng = random.Random(2)
        bad = [b"GET / HTTP/1.1\r\nHost: x\r\nX: \x00\r\n\r\n", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n", b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n", b"\x16\x03\x01garbage\r\n\r\n",
               b"GET / HTTP/1.1\r\n", b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n"]
        while not stop.is_set() and time.time() < t_end - 2:
            try:
                s = socket.create_connection(("127.0.0.1", args.port), timeout=2)
                s.sendall(rng.choice(bad))
                if rng.random() < 0.3:  # abrupt reset
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                else:
                    try:
                        s.recv(4096)
                    except OSError:
                        pass
                s.close()
                add("raw requests")
            except OSError as e:
                errors.append(f"raw: {e}")
            time.sleep(0.02)

    threads += [threading.Thread(target=curl_loop), threading.Thread(target=raw_loop)]
    for t in threads:
        t.daemon = True
        t.start()
    series = []
    peak = [0]

    def fd_peak():  # the high-water mark of open descriptors, sampled every 20 ms
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], len(os.listdir(f"/proc/{srv.pid}/fd")))
            except OSError:
                return
            time.sleep(0.02)

    threading.Thread(target=fd_peak, daemon=True).start()
    slot_size = 0
    while time.time() < t_end:
        if srv.poll() is not None:
            break
        rss, fds, ticks = proc_sample(srv.pid)
        srss, slot_size = slot_rss(srv.pid)
        series.append((round(time.time() - t_start, 1), rss, fds, ticks, srss, rss - srss, peak[0]))
        print(f"t={series[-1][0]:7.1f}s rss={rss} kB (slots {srss}, other {rss - srss}) fds={fds} peak_fds={peak[0]} "
              f"cpu={ticks / os.sysconf('SC_CLK_TCK'):.1f}s", flush=True)
        time.sleep(args.sample)
    stop.set()
    for t in threads:
        t.join(timeout=90)
    alive = srv.poll() is None
    # Idle again: let timeouts close everything, then a last sample. Deadlines are whole
    # seconds (--idle-timeout 15 closes after 15 to 16 s) checked by a once-a-second
    # sweep, so 16 s was on the edge: 791 fds were still open at that point in the
    # 2026-11-26 23:49 run (not a leak: a server with 2 s timeouts was back at its 9
    # start-up fds 4 s after 370,000 wrk/ab/h2load requests). Now 19 s.
    time.sleep(19)
    final = proc_sample(srv.pid) if alive else None
    srv.send_signal(signal.SIGTERM)
    try:
        code = srv.wait(15)
    except subprocess.TimeoutExpired:
        srv.kill()
        code = None
    stderr = srv.stderr.read().decode("utf-8", "replace")
    shutil.rmtree(root, ignore_errors=True)
    if args.csv:
        with open(args.csv, "w") as f:
            f.write("seconds,rss_kb,fds,cpu_ticks,slot_rss_kb,other_rss_kb,peak_fds\n")
            for row in series:
                f.write(",".join(map(str, row)) + "\n")
    warm = [r for r in series if r[0] >= args.warmup]
    half = args.warmup + (args.duration - args.warmup) / 2
    first = [r[1] for r in warm if r[0] < half]
    second = [r[1] for r in warm if r[0] >= half]
    summary = {
        "duration_s": round(time.time() - t_start, 1),
        "samples": len(series),
        "rss_start_kb": series[0][1] if series else None,
        "rss_warm_kb": warm[0][1] if warm else None,
        "rss_end_kb": series[-1][1] if series else None,
        "rss_max_kb": max(r[1] for r in series) if series else None,
        "rss_max_first_half_kb": max(first) if first else None,
        "rss_max_second_half_kb": max(second) if second else None,
        "rss_idle_after_kb": final[0] if final else None,
        "fds_idle_after": final[1] if final else None,
        "cpu_s": round(series[-1][3] / os.sysconf("SC_CLK_TCK"), 1) if series else None,
        "alive": alive,
        "exit_code": code,
        "counts": counts,
        "errors": len(errors),
        "first_errors": errors[:10],
        "stderr": stderr[-500:],
    }
    # Verdict: the non-slot RSS may not grow after warm-up; the slot region's RSS may
    # (first touch of more slots or of more of a slot's buffer) but never past its size.
    o_first = [r[5] for r in warm if r[0] < half]
    o_second = [r[5] for r in warm if r[0] >= half]
    summary["total_rss_grows_after_warmup"] = bool(first and second and max(second) > max(first))
    summary["other_rss_kb_first_half_max"] = max(o_first) if o_first else None
    summary["other_rss_kb_second_half_max"] = max(o_second) if o_second else None
    summary["slot_rss_kb_warm_end"] = [warm[0][4], series[-1][4]] if warm else None
    summary["slot_region_kb"] = slot_size
    summary["peak_fds"] = peak[0]
    grew = bool(o_first and o_second and max(o_second) > max(o_first)) or any(r[4] > slot_size for r in series)
    summary["rss_grows"] = grew
    print(json.dumps(summary, indent=1, sort_keys=True))
    sys.exit(0 if alive and not grew and code == 0 else 1)


if __name__ == "__main__":
    main()
