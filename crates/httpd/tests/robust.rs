//! Hostile input and resource exhaustion: the server never crashes, never spins, and an
//! error closes only the connection concerned.

mod common;
use common::*;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap() // utime + stime
}

#[test]
fn random_and_mutated_requests_never_crash() {
    let d = TempDir::new("fuzz");
    d.write("index.html", b"home\n");
    d.write("a.txt", b"aaa\n");
    let mut s = Server::start(d.path(), &["--buf-size", "1024", "--header-timeout", "1", "--log", "off"]);
    let seeds: [&[u8]; 6] = [
        b"GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n",
        b"HEAD / HTTP/1.0\r\nIf-None-Match: \"x\", W/\"y\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
        b"POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"GET /%2e%2e/%00/..%5c/a.txt?x=%zz HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br;q=0.5, *;q=0\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        b"GET http://x/a.txt HTTP/1.1\r\nHost: y\r\nRange: bytes=-0,5-1,x\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
    ];
    let mut rng = Lcg(0x6d6f7465);
    let mut threads = Vec::new();
    for t in 0..4 {
        let port = s.port;
        let mut rng = Lcg(rng.next() + t);
        let seeds = seeds.map(|x| x.to_vec());
        threads.push(std::thread::spawn(move || {
            for i in 0..150 {
                let mut req = seeds[(rng.next() % 6) as usize].clone();
                match i % 3 {
                    0 => {
                        for _ in 0..1 + rng.next() % 8 {
                            let at = (rng.next() as usize) % req.len();
                            req[at] = rng.next() as u8;
                        }
                    }
                    1 => {
                        let n = (rng.next() % 3000) as usize;
                        req = (0..n).map(|_| rng.next() as u8).collect();
                    }
                    _ => {
                        let cut = (rng.next() as usize) % req.len();
                        let extra = req.clone();
                        req.truncate(cut);
                        req.extend_from_slice(&extra);
                    }
                }
                if let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                    c.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
                    let _ = c.write_all(&req);
                    let _ = c.shutdown(std::net::Shutdown::Write);
                    let mut sink = Vec::new();
                    let _ = c.read_to_end(&mut sink);
                }
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert!(s.child.try_wait().unwrap().is_none(), "server died: {}", s.stderr());
    assert_eq!(s.get("/a.txt", &[]).body, b"aaa\n");
    assert_eq!(s.stderr(), "");
}

#[test]
fn fd_exhaustion_sheds_without_spinning_and_recovers() {
    let d = TempDir::new("fds");
    d.write("a.txt", b"aaa\n");
    let port = free_port();
    let mut cmd = Command::new(bin());
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--root", d.path().to_str().unwrap(), "--max-conns", "100"]);
    // SAFETY: setrlimit is async-signal-safe. 0,1,2 + root, listener, signalfd, epoll
    // leave 5 descriptors for connections.
    unsafe {
        cmd.pre_exec(|| {
            let l = libc::rlimit { rlim_cur: 12, rlim_max: 12 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let s = Server::spawn(cmd, port);
    std::thread::sleep(Duration::from_millis(100));
    let mut conns: Vec<std::net::TcpStream> = (0..8).map(|_| s.connect()).collect();
    std::thread::sleep(Duration::from_millis(300));
    // Out of descriptors: the server must not busy-loop on the listener.
    let t0 = cpu_ticks(s.pid());
    std::thread::sleep(Duration::from_millis(1500));
    let used = cpu_ticks(s.pid()) - t0;
    assert!(used < 30, "server burned {used} ticks in 1.5 s while out of fds");
    // The accepted connections are still served (health needs no file).
    conns[0].write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut b = [0u8; 512];
    let n = conns[0].read(&mut b).unwrap();
    assert!(b[..n].starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&b[..n]));
    // Free descriptors: the waiting connections get served.
    conns.truncate(1);
    std::thread::sleep(Duration::from_millis(1500));
    let r = s.get("/a.txt", &[]);
    assert_eq!(r.body, b"aaa\n");
}
