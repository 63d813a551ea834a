#!/usr/bin/env python3
"""Bounded end-to-end network fuzzer for mote-httpd.

Byte-level mutations of a corpus of real requests (bit flips, byte sets, inserts of
random bytes and protocol tokens, deletes, duplications, splices of two requests,
truncation), sent over loopback with random splits across writes and random delays.
After every batch the server must be alive and answer a normal GET (200, right body)
within --health-timeout. Counted:

  crash  the server process exited (or, for --port, refused connections) during a batch
  hang   an exchange got no response and no close within --timeout AND the following
         health check failed
  stuck  a connection left open (no close) longer than --stuck-after seconds after its
         last byte was sent; the server's own timeouts must close every one of them

On a crash or hang the batch's inputs are written to --out and the server restarted.
Exit status 0 only with 0 crashes, 0 hangs and 0 stuck connections.

  python3 bench/netfuzz.py --bin target/.../mote-httpd --duration 30
  python3 bench/netfuzz.py --bin BIN --duration 600 --seed 7 --out /tmp/netfuzz
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CORPUS = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /index.html HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
    b"GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,3-\r\nIf-Range: \"abc\"\r\n\r\n",
    b"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=-100\r\n\r\n",
    b"HEAD /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: W/\"x\", \"y\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
    b"GET /app.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br;q=1.0, gzip;q=0.5, zstd, *;q=0\r\n\r\n",
    b"POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n",
    b"PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://example.com/sub/ HTTP/1.1\r\nHost: other\r\n\r\n",
    b"GET /sub HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /%2e%2e/%61.txt?q=%zz#f HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /a.txt HTTP/1.0\r\n\r\n",
    b"DELETE /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
]

TOKENS = [
    b"\r\n", b"\r\n\r\n", b"\n", b"\r", b" ", b"\t", b":", b";", b",", b"/", b"..", b"%", b"%00", b"%2e", b"%2f",
    b"\x00", b"\x7f", b"\xff", b"\r\n ", b"Content-Length: ", b"Transfer-Encoding: chunked\r\n",
    b"Content-Length: 99999999999999999999\r\n", b"Range: bytes=", b"0", b"-", b"18446744073709551615",
    b"4294967296", b"ffffffffffffffff", b"HTTP/1.1", b"HTTP/1.0", b"Host: x\r\n", b"Connection: close\r\n",
    b"Connection: keep-alive\r\n", b"If-None-Match: *\r\n", b"Expect: 100-continue\r\n", b"GET / HTTP/1.1\r\n",
    b"Accept-Encoding: ", b"q=0.", b"W/\"", b"\"", b"bytes=0-0," * 20,
]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 5, 8))):
        op = rng.randrange(8)
        n = len(data)
        if op == 0 and n:  # bit flip
            i = rng.randrange(n)
            data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # byte set (interesting or random)
            data[rng.randrange(n)] = rng.choice((0, 0x0a, 0x0d, 0x20, 0x7f, 0x80, 0xff, rng.randrange(256)))
        elif op == 2:  # insert random bytes
            i = rng.randrange(n + 1)
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        elif op == 3:  # insert a protocol token
            i = rng.randrange(n + 1)
            data[i:i] = rng.choice(TOKENS)
        elif op == 4 and n:  # delete a range
            i = rng.randrange(n)
            del data[i:i + rng.randrange(1, 32)]
        elif op == 5 and n:  # duplicate a range (repeated headers, long values)
            i = rng.randrange(n)
            j = min(n, i + rng.randrange(1, 64))
            data[j:j] = data[i:j] * rng.randrange(1, 40)
        elif op == 6:  # splice with another corpus entry
            other = rng.choice(CORPUS)
            i = rng.randrange(len(data) + 1)
            k = rng.randrange(len(other) + 1)
            data = data[:i] + other[k:] if rng.random() < 0.5 else data[:i] + other[:k] + data[i:]
        elif op == 7 and n:  # truncate
            del data[rng.randrange(n):]
    return bytes(data)


def make_input(rng):
    base = rng.choice(CORPUS)
    if rng.random() < 0.05:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000)))
    data = mutate(rng, base)
    if rng.random() < 0.1:  # a valid request pipelined after the mutated one
        data += b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"
    return data


def split_plan(rng, data):
    """Random write boundaries and delays (seconds) between writes."""
    if len(data) < 2 or rng.random() < 0.5:
        return [(data, 0.0)]
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randrange(1, 6))))
    parts, last = [], 0
    for c in cuts + [len(data)]:
        parts.append((data[last:c], rng.choice((0.0, 0.0, 0.001, 0.01, 0.05))))
        last = c
    return parts


class Server:
    def __init__(self, args):
        self.args = args
        self.proc = None
        self.root = None
        self.port = args.port
        self.restarts = 0

    def start(self):
        if not self.args.bin:
            return
        if self.root is None:
            self.root = tempfile.mkdtemp(prefix="netfuzz-root-")
            os.makedirs(os.path.join(self.root, "sub"))
            for name, data in [("index.html", b"home\n"), ("a.txt", b"aaa\n"), ("app.js", b"js();\n"),
                               ("app.js.br", b"BR"), ("app.js.gz", b"GZ"), ("sub/index.html", b"sub\n"),
                               ("big.bin", os.urandom(300000))]:
                with open(os.path.join(self.root, name), "wb") as f:
                    f.write(data)
        if self.port is None:
            self.port = 20000 + (os.getpid() * 7) % 12000
        self.errf = tempfile.TemporaryFile()
        cmd = [self.args.bin, "--listen", f"127.0.0.1:{self.port}", "--root", self.root, "--log", "off",
               "--header-timeout", str(self.args.server_timeout), "--idle-timeout", str(self.args.server_timeout),
               "--write-timeout", str(self.args.server_timeout), "--max-body", "100000", "--buf-size", "2048",
               "--allow-root"]  # the fuzzer runs as root
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.errf)
        t0 = time.time()
        while time.time() - t0 < 10:
            if health(self.port, 1.0)[0]:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise SystemExit(f"netfuzz: server did not start: {self.stderr()}")

    def alive(self):
        return self.proc is None or self.proc.poll() is None

    def stderr(self):
        if self.proc is None:
            return ""
        self.errf.seek(0)
        return self.errf.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self):
        self.stop()
        self.restarts += 1
        self.start()


def health(port, timeout):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"GET /index.html HTTP/1.1\r\nHost: health\r\nConnection: close\r\n\r\n")
            buf = b""
            t0 = time.time()
            while time.time() - t0 < timeout:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
            ok = buf.startswith(b"HTTP/1.1 200 ") and buf.endswith(b"\r\n\r\nhome\n")
            return ok, buf[:200]
    except OSError as e:
        return False, repr(e).encode()


def one_exec(port, data, plan, timeout, rng_shut):
    """Returns (outcome, status_line, sock_or_None). outcome: 'answered', 'closed',
    'pending' (open, no data yet), 'refused'."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return "refused", None, None
    s.settimeout(timeout)
    try:
        for part, delay in plan:
            s.sendall(part)
            if delay:
                time.sleep(delay)
        if rng_shut:
            s.shutdown(socket.SHUT_WR)
    except OSError:
        s.close()
        return "closed", None, None  # reset while writing: the server closed on us
    got = b""
    quiet = 0.3
    s.settimeout(quiet)
    t0 = time.time()
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            if got:
                s.close()
                return "answered", got.split(b"\r\n", 1)[0][:40], None
            if time.time() - t0 >= timeout:
                return "pending", None, s
            continue
        except OSError:
            s.close()
            return ("answered" if got else "closed"), got.split(b"\r\n", 1)[0][:40] if got else None, None
        if not d:
            s.close()
            return ("answered" if got else "closed"), got.split(b"\r\n", 1)[0][:40] if got else None, None
        got += d
        s.settimeout(0.05)  # once answering, a short quiet ends a keep-alive exchange
        if len(got) > 1 << 20:
            s.close()
            return "answered", got.split(b"\r\n", 1)[0][:40], None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", help="mote-httpd binary to start (one instance, restarted after a crash/hang)")
    ap.add_argument("--port", type=int, help="port of the server (with --bin: port to use; default picked < 32768)")
    ap.add_argument("--duration", type=float, default=30, help="seconds to run")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--batch", type=int, default=128, help="executions between health checks")
    ap.add_argument("--workers", type=int, default=16, help="parallel connections per batch")
    ap.add_argument("--timeout", type=float, default=0.5, help="per-exchange wait for a response or close")
    ap.add_argument("--health-timeout", type=float, default=3.0)
    ap.add_argument("--server-timeout", type=int, default=2, help="--header/idle/write-timeout given to the server")
    ap.add_argument("--stuck-after", type=float, default=None, help="seconds after which an open pending "
                    "connection counts as stuck (default: 2 * server-timeout + 3)")
    ap.add_argument("--out", default=None, help="directory for the inputs of failing batches")
    args = ap.parse_args()
    if not args.bin and not args.port:
        ap.error("give --bin (start the server) or --port (attack a running one)")
    stuck_after = args.stuck_after or 2 * args.server_timeout + 3
    rng = random.Random(args.seed)
    srv = Server(args)
    srv.start()
    port = srv.port
    stats = {"execs": 0, "batches": 0, "crashes": 0, "hangs": 0, "stuck": 0, "refused": 0,
             "outcomes": {}, "statuses": {}, "seed": args.seed}
    pending = []  # (sock, since)
    failures = []
    t_end = time.time() + args.duration
    lock = threading.Lock()

    def save(kind, batch, detail):
        failures.append({"kind": kind, "detail": detail})
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            d = os.path.join(args.out, f"{kind}-{stats['batches']}")
            os.makedirs(d, exist_ok=True)
            for i, (data, plan) in enumerate(batch):
                with open(os.path.join(d, f"{i}.bin"), "wb") as f:
                    f.write(data)
            with open(os.path.join(d, "detail.txt"), "w") as f:
                f.write(detail)

    def sweep(final=False):
        now = time.time()
        keep = []
        for s, since in pending:
            s.setblocking(False)
            closed = False
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        closed = True
                        break
            except BlockingIOError:
                pass
            except OSError:
                closed = True
            if closed:
                s.close()
            elif now - since > stuck_after:
                stats["stuck"] += 1
                failures.append({"kind": "stuck", "detail": f"open {now - since:.1f}s without a close"})
                s.close()
            else:
                keep.append((s, since))
        pending[:] = keep

    while time.time() < t_end:
        batch = []
        for _ in range(args.batch):
            data = make_input(rng)
            batch.append((data, split_plan(rng, data), rng.random() < 0.3))
        results = [None] * len(batch)

        def worker(idx_list):
            for i in idx_list:
                data, plan, shut = batch[i]
                results[i] = one_exec(port, data, plan, args.timeout, shut)

        threads = [threading.Thread(target=worker, args=(list(range(w, len(batch), args.workers)),))
                   for w in range(args.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats["batches"] += 1
        any_pending_open = False
        for (outcome, status, sock) in results:
            stats["execs"] += 1
            stats["outcomes"][outcome] = stats["outcomes"].get(outcome, 0) + 1
            if status:
                k = status.decode("latin-1")[9:12] or "?"
                stats["statuses"][k] = stats["statuses"].get(k, 0) + 1
            if outcome == "pending":
                any_pending_open = True
                pending.append((sock, time.time()))
            if outcome == "refused":
                stats["refused"] += 1
        ok, detail = health(port, args.health_timeout)
        if not srv.alive():
            stats["crashes"] += 1
            save("crash", [(d, p) for d, p, _ in batch], f"exit {srv.proc.returncode}; stderr {srv.stderr()}")
            for s, _ in pending:
                s.close()
            pending.clear()
            srv.restart()
        elif not ok:
            stats["hangs"] += 1  # alive but no answer to a normal GET
            save("hang", [(d, p) for d, p, _ in batch], f"health: {detail!r}")
            for s, _ in pending:
                s.close()
            pending.clear()
            if srv.proc:
                srv.restart()
            else:
                break
        sweep()
        if srv.proc and srv.stderr():
            stats["crashes"] += 1
            save("stderr", [(d, p) for d, p, _ in batch], srv.stderr())
            srv.restart()
    # Everything still open must be closed by the server's timeouts.
    t0 = time.time()
    while pending and time.time() - t0 < stuck_after + 1:
        sweep()
        time.sleep(0.2)
    sweep()
    for s, _ in pending:
        stats["stuck"] += 1
        s.close()
    final_ok, _ = health(port, args.health_timeout)
    alive = srv.alive()
    srv.stop()
    if srv.root:
        shutil.rmtree(srv.root, ignore_errors=True)
    stats["restarts"] = srv.restarts
    stats["final_health"] = final_ok and alive
    stats["failures"] = failures[:20]
    print(json.dumps(stats, sort_keys=True))
    print(f"netfuzz: {stats['execs']} execs in {stats['batches']} batches, seed {args.seed}: "
          f"{stats['crashes']} crashes, {stats['hangs']} hangs, {stats['stuck']} stuck", file=sys.stderr)
    bad = stats["crashes"] or stats["hangs"] or stats["stuck"] or not stats["final_health"]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
