#!/usr/bin/env python3
"""Benchmark mote-httpd against nginx, lighttpd and static-web-server, all in one run.

    python3 bench/http.py [--duration 10] [--rounds 3] [--only NAME,...] [--mote BIN]

What it measures, per server (each pinned to CPU 1, load generators on CPU 0):
  * requests/s with wrk (keep-alive) on a 1 KiB and a 1 MiB file at 32 and 256 connections,
    the median of --rounds rounds interleaved across the servers (all running at once)
  * idle RSS, and RSS with 1,000 open keep-alive connections (sum over the server's processes)
  * time from exec to the first HTTP 200 (bench/coldstart.c, median and p90 of 50 runs)

Peers are configured alike: one worker process, access log off, sendfile on.
It prints a Markdown table; copy it into bench/BENCHMARKS.md with the date and machine.
This is a benchmark, not a test: it asserts nothing.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import faulthandler
faulthandler.dump_traceback_later(30, exit=True) if os.environ.get("BENCH_DEBUG") else None

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SERVER_CPU = '1'
CLIENT_CPU = '0'


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def wait_200(port, path='/1k.bin', timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1) as s:
                s.sendall(f'GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'.encode())
                if s.recv(64).startswith(b'HTTP/1.1 200'):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise SystemExit(f'server on port {port} did not answer 200 within {timeout}s')


def tree_pids(pid):
    """The pid and all its descendants (nginx master + worker)."""
    pids, frontier = [pid], [pid]
    while frontier:
        p = frontier.pop()
        try:
            kids = open(f'/proc/{p}/task/{p}/children').read().split()
        except OSError:
            kids = []
        for k in kids:
            pids.append(int(k))
            frontier.append(int(k))
    return pids


def rss_kib(pid):
    total = 0
    for p in tree_pids(pid):
        try:
            m = re.search(r'VmRSS:\s+(\d+) kB', open(f'/proc/{p}/status').read())
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total


def wrk(port, path, conns, duration):
    out = sh(['taskset', '-c', CLIENT_CPU, 'wrk', '-t1', f'-c{conns}', f'-d{duration}s',
              f'http://127.0.0.1:{port}{path}'])
    rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
    errors = re.search(r'Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)', out)
    return rps, (errors.group(0) if errors else '')


def rss_with_conns(pid, port, n=1000):
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(('127.0.0.1', port))
            s.sendall(b'GET /1k.bin HTTP/1.1\r\nHost: x\r\n\r\n')
            socks.append(s)
        for s in socks:  # every connection has been served once and is kept alive
            got = b''
            while b'\r\n\r\n' not in got:
                chunk = s.recv(4096)
                if not chunk:
                    raise SystemExit(f'port {port}: a keep-alive connection was closed early')
                got += chunk
        time.sleep(0.5)
        return rss_kib(pid)
    finally:
        for s in socks:
            s.close()


def coldstart(argv, port, runs=50):
    binary = os.path.join(tempfile.gettempdir(), 'mote-coldstart')
    sh(['gcc', '-O2', '-o', binary, os.path.join(HERE, 'coldstart.c')])
    out = sh(['taskset', '-c', CLIENT_CPU, binary, str(runs), str(port), '/1k.bin',
              '--server-cpu', SERVER_CPU, '--'] + argv)
    m = re.search(r'median_us=(\d+) p90_us=(\d+)', out)
    return int(m.group(1)), int(m.group(2))


def servers(root, work, mote_bin):
    """name -> (argv with {port}, setup(port) -> None)."""
    def nginx_conf(port):
        conf = os.path.join(work, f'nginx-{port}.conf')
        with open(conf, 'w') as f:
            f.write(f"""daemon off; master_process off; worker_processes 1; pid {work}/nginx-{port}.pid;
error_log stderr error; events {{ worker_connections 4096; }}
http {{ access_log off; sendfile on; tcp_nopush on; keepalive_requests 1000000;
  keepalive_timeout 65; types {{ }} default_type application/octet-stream;
  client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};
  uwsgi_temp_path {work}; scgi_temp_path {work};
  server {{ listen 127.0.0.1:{port} reuseport; root {root}; }} }}
""")
        return conf

    def lighttpd_conf(port):
        conf = os.path.join(work, f'lighttpd-{port}.conf')
        with open(conf, 'w') as f:
            f.write(f"""server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.max-worker = 0
server.max-fds = 8192
server.max-connections = 4096
server.max-keep-alive-requests = 1000000
server.network-backend = "sendfile"
server.errorlog = "{work}/lighttpd-error.log"
""")
        return conf

    sws = shutil.which('static-web-server') or os.path.expanduser('~/.cargo/bin/static-web-server')
    return {
        'mote-httpd': lambda p: [mote_bin, '--listen', f'127.0.0.1:{p}', '--root', root, '--log', 'off',
                                 '--max-conns', '4096', '--allow-root'],  # the bench runs as root
        'nginx': lambda p: ['nginx', '-e', 'stderr', '-c', nginx_conf(p)],
        'lighttpd': lambda p: ['lighttpd', '-D', '-f', lighttpd_conf(p)],
        'static-web-server': lambda p: [sws, '--host', '127.0.0.1', '--port', str(p), '--root', root,
                                        '--threads-multiplier', '1', '--log-level', 'error',
                                        '--compression', 'false'],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--duration', type=int, default=10, help='seconds per wrk run')
    ap.add_argument('--only', default='', help='comma-separated server names')
    ap.add_argument('--mote', default='', help='mote-httpd binary (default: build it)')
    ap.add_argument('--runs', type=int, default=50, help='cold-start runs')
    ap.add_argument('--rounds', type=int, default=3, help='interleaved rounds per throughput cell (median)')
    args = ap.parse_args()
    for tool in ('wrk', 'taskset', 'gcc', 'nginx', 'lighttpd'):
        if not shutil.which(tool):
            raise SystemExit(f'bench: {tool} is missing; run ./x deps')
    mote_bin = args.mote or sh([os.path.join(REPO, 'scripts', 'build-httpd.sh')]).strip()
    work = tempfile.mkdtemp(prefix='mote-bench-')
    root = os.path.join(work, 'www')
    os.mkdir(root)
    with open(os.path.join(root, '1k.bin'), 'wb') as f:
        f.write(os.urandom(1024))
    with open(os.path.join(root, '1m.bin'), 'wb') as f:
        f.write(os.urandom(1 << 20))
    import resource
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # 1,000 client sockets

    # All servers run at once (each pinned to the server CPU, idle but for the one being
    # measured), and each throughput cell is measured in --rounds interleaved rounds, the
    # server order rotating per round: a slow minute of the machine then hits every server
    # alike instead of whichever happened to run in it. The table gives the median of the
    # rounds; the per-round ratios to lighttpd follow it.
    procs, rows = [], []
    port = 18080
    try:
        for name, argv_of in servers(root, work, mote_bin).items():
            if args.only and name not in args.only.split(','):
                continue
            if not os.path.exists(argv_of(port)[0]) and not shutil.which(argv_of(port)[0]):
                print(f'bench: {name} not installed ({argv_of(port)[0]}); leaving it out', file=sys.stderr)
                continue
            port += 1
            argv = argv_of(port)
            print(f'bench: {name}: {" ".join(argv)}', file=sys.stderr)
            proc = subprocess.Popen(['taskset', '-c', SERVER_CPU] + argv, stdout=subprocess.DEVNULL)
            procs.append(proc)
            wait_200(port)
            time.sleep(0.3)
            rows.append({'server': name, 'port': port, 'proc': proc, 'argv_of': argv_of,
                         'idle_rss': rss_kib(proc.pid), 'rounds': {}})
            port += 1  # the next port stays free for this server's cold-start runs
        for path, label in (('/1k.bin', '1k'), ('/1m.bin', '1m')):
            for conns in (32, 256):
                key = f'{label}@{conns}'
                for rnd in range(args.rounds):
                    k = rnd % len(rows)
                    for row in rows[k:] + rows[:k]:
                        rps, err = wrk(row['port'], path, conns, args.duration)
                        row['rounds'].setdefault(key, []).append(rps)
                        if err:
                            row.setdefault('errors', []).append(f'{key}: {err}')
                        print(f'bench: {key} round {rnd + 1}: {row["server"]} {rps:,.0f}', file=sys.stderr)
                for row in rows:
                    row[key] = statistics.median(row['rounds'][key])
        for row in rows:
            row['rss_1000'] = rss_with_conns(row['proc'].pid, row['port'])
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    table = []
    for row in rows:
        p = row['port'] + 1
        row['cold_median'], row['cold_p90'] = coldstart(row['argv_of'](p), p, args.runs)
        table.append(row)
        print(f'bench: {row["server"]}: ' + str({k: v for k, v in row.items() if k not in ('proc', 'argv_of')}),
              file=sys.stderr)

    lighttpd = next((r for r in table if r['server'] == 'lighttpd'), None)
    print('| server | 1 KiB @32 | 1 KiB @256 | 1 MiB @32 | 1 MiB @256 | idle RSS | RSS, 1,000 conns '
          '| exec → first 200 (median / p90) |')
    print('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
    for r in table:
        cells = []
        for k in ('1k@32', '1k@256', '1m@32', '1m@256'):
            ratio = f' ({r[k] / lighttpd[k]:.2f}×)' if lighttpd and lighttpd[k] else ''
            cells.append(f'{r[k]:,.0f}{ratio}')
        print(f'| {r["server"]} | ' + ' | '.join(cells) +
              f' | {r["idle_rss"]:,} KiB | {r["rss_1000"]:,} KiB | {r["cold_median"] / 1000:.2f} / '
              f'{r["cold_p90"] / 1000:.2f} ms |')
    if lighttpd and args.rounds > 1:
        print(f'\nPer round (median of {args.rounds} interleaved rounds above), ratio to lighttpd:\n')
        print('| server | 1 KiB @32 | 1 KiB @256 | 1 MiB @32 | 1 MiB @256 |')
        print('| --- | --- | --- | --- | --- |')
        for r in table:
            if r is lighttpd:
                continue
            cells = [' / '.join(f'{a / b:.2f}' for a, b in zip(r['rounds'][k], lighttpd['rounds'][k]))
                     for k in ('1k@32', '1k@256', '1m@32', '1m@256')]
            print(f'| {r["server"]} | ' + ' | '.join(cells) + ' |')
    for r in table:
        for e in r.get('errors', []):
            print(f'\n{r["server"]}: {e}')
    shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
