//! A real registry for the push tests: Debian's `docker-registry` (distribution 2.8)
//! on loopback with its own config (Debian's default turns on htpasswd), optionally
//! with htpasswd (bcrypt, from apache2-utils) or token auth backed by a small token
//! server that signs RS256 JWTs with `openssl`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{need, ok};

pub enum Auth {
    None,
    Htpasswd { user: String, password: String },
    Token { user: String, password: String },
}

pub struct Registry {
    pub port: u16,
    child: Child,
    pub dir: PathBuf,
    pub token_requests: Arc<Mutex<Vec<String>>>,
    _token_server: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port below 32768 (see ENVIRONMENT.md: ephemeral ports can self-connect).
pub fn free_port() -> u16 {
    let seed = std::process::id() as u64 * 7919
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64;
    for i in 0..2000u64 {
        let port = 20000 + ((seed + i * 104_729) % 12000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000..32000");
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Registry {
    pub fn start(dir: &Path, auth: Auth) -> Registry {
        Registry::start_with(dir, auth, false)
    }

    /// A registry serving HTTPS with a certificate for 127.0.0.1 signed by a fresh
    /// test CA, whose certificate is `dir/certs/ca.crt` (a folder skopeo's
    /// --src-cert-dir accepts).
    pub fn start_tls(dir: &Path, auth: Auth) -> Registry {
        Registry::start_with(dir, auth, true)
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("certs/ca.crt")
    }

    fn start_with(dir: &Path, auth: Auth, tls: bool) -> Registry {
        need("docker-registry", "docker-registry");
        let dir = dir.to_path_buf();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let token_requests = Arc::new(Mutex::new(Vec::new()));
        let mut token_server = None;
        let auth_yaml = match &auth {
            Auth::None => String::new(),
            Auth::Htpasswd { user, password } => {
                need("htpasswd", "apache2-utils");
                let out = ok(Command::new("htpasswd").args(["-Bbn", user, password]));
                std::fs::write(dir.join("htpasswd"), &out.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: mote-test\n    path: {}\n",
                    dir.join("htpasswd").display()
                )
            }
            Auth::Token { user, password } => {
                need("openssl", "openssl");
                self_signed("mote-test-token", &[], &dir.join("token.key"), &dir.join("token.crt"));
                let der = ok(Command::new("openssl")
                    .args(["x509", "-outform", "DER", "-in"])
                    .arg(dir.join("token.crt")))
                .stdout;
                let tport = free_port();
                let listener = TcpListener::bind(("127.0.0.1", tport)).unwrap();
                let key = dir.join("token.key");
                let expected = format!(
                    "Basic {}",
                    b64(format!("{user}:{password}").as_bytes(), false)
                );
                let log = token_requests.clone();
                let user = user.clone();
                token_server = Some(std::thread::spawn(move || {
                    for conn in listener.incoming() {
                        let Ok(conn) = conn else { continue };
                        serve_token(conn, &key, &der, &expected, &user, &log);
                    }
                }));
                format!(
                    "auth:\n  token:\n    realm: http://127.0.0.1:{tport}/token\n    service: mote-test-registry\n    issuer: mote-test-issuer\n    rootcertbundle: {}\n",
                    dir.join("token.crt").display()
                )
            }
        };
        let tls_yaml = if tls {
            need("openssl", "openssl");
            let certs = dir.join("certs");
            std::fs::create_dir_all(&certs).unwrap();
            self_signed(
                "mote-test-ca",
                &[
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
                &dir.join("ca.key"),
                &certs.join("ca.crt"),
            );
            ok(Command::new("openssl")
                .args([
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    "/CN=127.0.0.1",
                ])
                .arg("-keyout")
                .arg(dir.join("server.key"))
                .arg("-out")
                .arg(dir.join("server.csr")));
            std::fs::write(
                dir.join("ext.cnf"),
                "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
            )
            .unwrap();
            ok(Command::new("openssl")
                .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
                .arg("-in")
                .arg(dir.join("server.csr"))
                .arg("-CA")
                .arg(certs.join("ca.crt"))
                .arg("-CAkey")
                .arg(dir.join("ca.key"))
                .arg("-extfile")
                .arg(dir.join("ext.cnf"))
                .arg("-out")
                .arg(dir.join("server.crt")));
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.join("server.crt").display(),
                dir.join("server.key").display()
            )
        } else {
            String::new()
        };
        for _ in 0..5 {
            let port = free_port();
            let config = format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{tls_yaml}{auth_yaml}",
                dir.join("data").display()
            );
            let cfg = dir.join("config.yml");
            std::fs::write(&cfg, config).unwrap();
            let log = std::fs::File::create(dir.join("registry.log")).unwrap();
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&cfg)
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .expect("cannot start docker-registry");
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(15) {
                if let Some(status) = http_status(port, "/v2/") {
                    // Over TLS, a plain-HTTP probe gets 400 ("HTTP request to an HTTPS server").
                    let want = if tls { [400, 400] } else { [200, 401] };
                    assert!(
                        want.contains(&status),
                        "registry answered /v2/ with {status}"
                    );
                    return Registry {
                        port,
                        child,
                        dir,
                        token_requests,
                        _token_server: token_server,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken after all, or a config error: retry, then report
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "docker-registry did not start; its log:\n{}",
            std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
        );
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

pub fn b64(data: &[u8], url: bool) -> String {
    const STD: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let t = if url { URL } else { STD };
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(t[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else if !url {
                out.push('=');
            }
        }
    }
    out
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
            i += 3;
        } else if b[i] == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Answers one token request: checks Basic credentials, grants the requested
/// repository scopes, signs the JWT with openssl (RS256, x5c header).
fn serve_token(
    mut conn: TcpStream,
    key: &Path,
    der: &[u8],
    expected_auth: &str,
    user: &str,
    log: &Arc<Mutex<Vec<String>>>,
) {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let auth = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    log.lock().unwrap().push(format!(
        "{target} auth={}",
        if auth.is_empty() {
            "none"
        } else if auth == expected_auth {
            "good"
        } else {
            "bad"
        }
    ));
    if auth != expected_auth {
        let _ = conn.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    }
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut access = Vec::new();
    let mut service = String::new();
    for kv in query.split('&') {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let v = pct_decode(v);
        match k {
            "service" => service = v,
            "scope" => {
                for s in v.split(' ') {
                    let parts: Vec<&str> = s.splitn(3, ':').collect();
                    if parts.len() == 3 && parts[0] == "repository" {
                        let actions: Vec<String> =
                            parts[2].split(',').map(|a| format!("\"{a}\"")).collect();
                        access.push(format!(
                            "{{\"type\":\"repository\",\"name\":\"{}\",\"actions\":[{}]}}",
                            parts[1],
                            actions.join(",")
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = format!(
        "{{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5c\":[\"{}\"]}}",
        b64(der, false)
    );
    let claims = format!(
        "{{\"iss\":\"mote-test-issuer\",\"sub\":\"{user}\",\"aud\":\"{service}\",\"exp\":{},\"nbf\":{},\"iat\":{now},\"jti\":\"{now}-{}\",\"access\":[{}]}}",
        now + 600,
        now - 60,
        access.len(),
        access.join(",")
    );
    let signing_input = format!(
        "{}.{}",
        b64(header.as_bytes(), true),
        b64(claims.as_bytes(), true)
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())
        .unwrap();
    let sig = child.wait_with_output().unwrap().stdout;
    let token = format!("{signing_input}.{}", b64(&sig, true));
    let body = format!("{{\"token\":\"{token}\",\"access_token\":\"{token}\",\"expires_in\":600}}");
    let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
}

/// A fresh RSA key and a self-signed certificate for `cn`, valid two days, with
/// `extra` openssl-req arguments (extensions).
fn self_signed(cn: &str, extra: &[&str], key: &Path, cert: &Path) {
    ok(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj"])
        .arg(format!("/CN={cn}"))
        .args(extra)
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(cert));
}
