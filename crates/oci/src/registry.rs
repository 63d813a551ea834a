//! An OCI distribution client: references, auth (Basic and the bearer-token flow),
//! retries, blob upload (monolithic, chunked, cross-repository mount), manifest
//! push and fetch.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use ureq::http;

use crate::read::{Blobs, Store};
use crate::spec::*;
use crate::Digest;

/// Blobs above this size go up in PATCH chunks of this size (unless told otherwise).
pub const DEFAULT_CHUNK_SIZE: usize = 8 << 20;
/// Transient failures (connection errors, 5xx, 429) are retried this many times.
pub const MAX_RETRIES: u32 = 4;
/// The first retry waits this long; each next one twice as long (0.25+0.5+1+2 s).
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// At most this many repositories are tried as the source of a cross-repository mount
/// for one blob (each failed attempt costs a round trip).
pub const MAX_MOUNT_ATTEMPTS: usize = 3;
/// The blob cache remembers at most this many repositories per blob.
pub const CACHE_REPOS_PER_BLOB: usize = 8;
/// Manifests and indexes larger than this are refused (the spec's suggested limit).
pub const MAX_MANIFEST: u64 = 4 << 20;

const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// `host[:port]/repository[:tag|@digest]`, with an optional `docker://` prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    pub fn parse(s: &str) -> Result<Reference> {
        let orig = s;
        let s = s.strip_prefix("docker://").unwrap_or(s);
        let (host, rest) = match s.split_once('/') {
            Some((h, r)) if h.contains('.') || h.contains(':') || h == "localhost" => {
                (h.to_string(), r.to_string())
            }
            Some(_) => ("registry-1.docker.io".to_string(), s.to_string()),
            None => ("registry-1.docker.io".to_string(), format!("library/{s}")),
        };
        let (rest, digest) = match rest.split_once('@') {
            Some((r, d)) => (r.to_string(), Some(Digest::parse(d)?)),
            None => (rest, None),
        };
        let (repo, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => {
                (rest[..i].to_string(), Some(rest[i + 1..].to_string()))
            }
            _ => (rest, None),
        };
        let repo_ok = !repo.is_empty()
            && repo.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    })
                    && c.as_bytes()[0].is_ascii_alphanumeric()
            });
        if !repo_ok {
            bail!("{orig:?} is not a valid image reference: expected HOST[:PORT]/REPOSITORY[:TAG] with a lowercase repository");
        }
        if let Some(t) = &tag {
            if t.is_empty()
                || t.len() > 128
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                bail!("{orig:?}: tag {t:?} is not valid (up to 128 letters, digits and ._-)");
            }
        }
        let tag = if tag.is_none() && digest.is_none() {
            Some("latest".to_string())
        } else {
            tag
        };
        Ok(Reference {
            registry: host,
            repository: repo,
            tag,
            digest,
        })
    }

    /// What goes after `/manifests/`: the digest if given, else the tag.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// How to talk to a registry.
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// Plain HTTP instead of HTTPS.
    pub insecure: bool,
    /// USER:PASSWORD for Basic auth or for the token server.
    pub credentials: Option<(String, String)>,
    /// Print progress lines on stderr.
    pub progress: bool,
    /// Trust only these CA certificates for HTTPS (default: the Mozilla roots).
    pub ca_certs: Vec<ureq::tls::Certificate<'static>>,
}

/// Reads the certificates of a PEM file (for `--ca-cert`).
pub fn load_ca_file(path: &std::path::Path) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let pem = std::fs::read(path)
        .with_context(|| format!("cannot read CA certificate file {}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.with_context(|| format!("{} is not a valid PEM file", path.display()))? {
            ureq::tls::PemItem::Certificate(c) => certs.push(c),
            ureq::tls::PemItem::PrivateKey(_) => {}
            _ => {}
        }
    }
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// The wait before retry number `attempt + 1`: [`FIRST_BACKOFF`], doubling.
fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF * 2u32.pow(attempt.min(16))
}

/// Whether a transport error may pass if tried again: connection trouble yes;
/// TLS, certificate and protocol errors no (they would fail the same way).
fn transient(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Io(io) => io.kind() != std::io::ErrorKind::InvalidData,
        ureq::Error::Timeout(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::BodyStalled => true,
        _ => false,
    }
}

/// A response, body read.
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Client {
    agent: ureq::Agent,
    pub host: String,
    base: String,
    opts: ClientOptions,
    /// Authorization header values by scope ("" for Basic, which has no scope).
    auth: HashMap<String, String>,
    basic: Option<String>,
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Parses `Bearer realm="...",service="...",scope="..."` into (scheme, params).
pub fn parse_challenge(h: &str) -> (String, HashMap<String, String>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut s = rest.trim();
    while !s.is_empty() {
        let Some(eq) = s.find('=') else { break };
        let key = s[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        s = s[eq + 1..].trim_start();
        let value;
        if let Some(q) = s.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            s = q[end.min(q.len())..].trim_start();
        } else {
            let end = s.find(',').unwrap_or(s.len());
            value = s[..end].trim().to_string();
            s = &s[end..];
        }
        s = s.trim_start_matches(',').trim_start();
        params.insert(key, value);
    }
    (scheme.to_ascii_lowercase(), params)
}

impl Client {
    pub fn new(host: &str, opts: ClientOptions) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_global(Some(Duration::from_secs(300)))
            .max_redirects(5)
            .user_agent(format!("mote/{}", env!("CARGO_PKG_VERSION")))
            .accept_encoding("identity")
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(if opts.ca_certs.is_empty() {
                        ureq::tls::RootCerts::WebPki
                    } else {
                        ureq::tls::RootCerts::new_with_certs(&opts.ca_certs)
                    })
                    .build(),
            )
            .build()
            .into();
        let scheme = if opts.insecure { "http" } else { "https" };
        let basic = opts
            .credentials
            .as_ref()
            .map(|(u, p)| format!("Basic {}", b64(&format!("{u}:{p}"))));
        Client {
            agent,
            host: host.to_string(),
            base: format!("{scheme}://{host}"),
            opts,
            auth: HashMap::new(),
            basic,
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{}", self.base, path)
        }
    }

    fn progress(&self, msg: &str) {
        if self.opts.progress {
            let mut e = std::io::stderr().lock();
            let _ = writeln!(e, "mote: {msg}");
        }
    }

    fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        auth: Option<&str>,
        limit: u64,
    ) -> Result<Response, ureq::Error> {
        let mut b = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, v);
        }
        if let Some(a) = auth {
            b = b.header("Authorization", a);
        }
        let resp = match body {
            Some(body) => self.agent.run(b.body(body).map_err(ureq::Error::Http)?)?,
            None => self.agent.run(b.body(()).map_err(ureq::Error::Http)?)?,
        };
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = resp.into_body();
        let body = if method == "HEAD" {
            Vec::new()
        } else {
            body.with_config().limit(limit).read_to_vec()?
        };
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Sends a request once, with auth (answering a 401 challenge once). The outer
    /// error is final (refused credentials, TLS or protocol trouble); the inner one is
    /// a transport error that may pass if tried again. Any HTTP status is an answer.
    pub fn request_once(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        scope: &str,
        limit: u64,
    ) -> Result<Result<Response, ureq::Error>> {
        let url = self.url(path);
        let mut answered_challenge = false;
        loop {
            let auth = self.auth.get(scope).or(self.basic.as_ref()).cloned();
            let result = self.raw(method, &url, headers, body, auth.as_deref(), limit);
            match &result {
                Err(e) if !transient(e) => {
                    let hint = if url.starts_with("https://") {
                        " (for a plain-HTTP registry pass --insecure; for a private CA pass --ca-cert FILE)"
                    } else {
                        ""
                    };
                    bail!(
                        "cannot talk to registry {} ({method} {url}): {e}{hint}",
                        self.host
                    )
                }
                Ok(r) if r.status == 401 && !answered_challenge => {
                    answered_challenge = true;
                    let challenge = r.header("www-authenticate").unwrap_or("").to_string();
                    self.authenticate(&challenge, scope)?;
                }
                _ => return Ok(result),
            }
        }
    }

    /// Sends a request with auth (answering 401 challenges once) and bounded retries
    /// with backoff on connection errors, 5xx and 429.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
        scope: &str,
        limit: u64,
    ) -> Result<Response> {
        let url = self.url(path);
        let mut attempt = 0;
        loop {
            let result = self.request_once(method, &url, headers, body, scope, limit)?;
            let retry_reason = match &result {
                Err(e) => format!("{e}"),
                Ok(r) if r.status >= 500 || r.status == 429 => format!("HTTP {}", r.status),
                Ok(_) => return Ok(result.expect("matched Ok")),
            };
            if attempt >= MAX_RETRIES {
                return match result {
                    Err(e) => Err(anyhow!(
                        "cannot reach registry {} ({method} {url}): {e}; gave up after {} attempts",
                        self.host,
                        attempt + 1
                    )),
                    Ok(r) => Err(anyhow!(
                        "registry {} answered {method} {url} with HTTP {} after {} attempts: {}",
                        self.host,
                        r.status,
                        attempt + 1,
                        error_text(&r.body)
                    )),
                };
            }
            let wait = backoff(attempt);
            self.progress(&format!(
                "{method} {url}: {retry_reason}; retrying in {} ms",
                wait.as_millis()
            ));
            std::thread::sleep(wait);
            attempt += 1;
        }
    }

    /// Answers a 401 challenge: Basic with the credentials, or Bearer via the token server.
    fn authenticate(&mut self, challenge: &str, scope: &str) -> Result<()> {
        let (scheme, params) = parse_challenge(challenge);
        match scheme.as_str() {
            "basic" => {
                if self.basic.is_none() {
                    bail!(
                        "registry {} requires a user name and password (HTTP 401, Basic auth): pass --creds USER:PASSWORD or set MOTE_REGISTRY_AUTH",
                        self.host
                    );
                }
                // We sent them already: they were refused.
                let user = self.opts.credentials.as_ref().map(|c| c.0.as_str()).unwrap_or("");
                bail!("registry {} rejected the credentials of user {user:?} (HTTP 401 Unauthorized)", self.host)
            }
            "bearer" => {
                let realm = params
                    .get("realm")
                    .with_context(|| format!("registry {} sent a Bearer challenge without a realm: {challenge:?}", self.host))?;
                let mut url = realm.clone();
                let mut q = Vec::new();
                if let Some(service) = params.get("service") {
                    q.push(format!("service={}", enc(service)));
                }
                let mut scopes: Vec<String> = scope.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect();
                if let Some(s) = params.get("scope") {
                    for s in s.split(' ') {
                        if !scopes.iter().any(|x| x == s) {
                            scopes.push(s.to_string());
                        }
                    }
                }
                for s in &scopes {
                    q.push(format!("scope={}", enc(s)));
                }
                if !q.is_empty() {
                    url.push(if url.contains('?') { '&' } else { '?' });
                    url.push_str(&q.join("&"));
                }
                let mut attempt = 0;
                let resp = loop {
                    match self.raw("GET", &url, &[], None, self.basic.as_deref(), 1 << 20) {
                        Ok(r) if r.status < 500 => break r,
                        other if attempt >= MAX_RETRIES => {
                            let why = match other {
                                Ok(r) => format!("HTTP {}", r.status),
                                Err(e) => e.to_string(),
                            };
                            bail!("cannot get a token for registry {} from {realm}: {why}", self.host);
                        }
                        _ => {
                            std::thread::sleep(FIRST_BACKOFF * 2u32.pow(attempt));
                            attempt += 1;
                        }
                    }
                };
                match resp.status {
                    200 => {}
                    401 | 403 if self.basic.is_none() => bail!(
                        "registry {}: the token server {realm} wants credentials (HTTP {}): pass --creds USER:PASSWORD or set MOTE_REGISTRY_AUTH",
                        self.host,
                        resp.status
                    ),
                    401 | 403 => {
                        let user = self.opts.credentials.as_ref().map(|c| c.0.as_str()).unwrap_or("");
                        bail!(
                            "registry {}: the token server {realm} rejected the credentials of user {user:?} (HTTP {})",
                            self.host,
                            resp.status
                        )
                    }
                    s => bail!("registry {}: the token server {realm} answered HTTP {s}: {}", self.host, error_text(&resp.body)),
                }
                #[derive(serde::Deserialize)]
                struct Token {
                    token: Option<String>,
                    access_token: Option<String>,
                }
                let t: Token = serde_json::from_slice(&resp.body)
                    .with_context(|| format!("the token server {realm} did not answer with a JSON token"))?;
                let token = t.token.or(t.access_token).filter(|t| !t.is_empty()).with_context(|| format!("the token server {realm} answered without a token"))?;
                self.auth.insert(scope.to_string(), format!("Bearer {token}"));
                Ok(())
            }
            _ => bail!(
                "registry {} refused access (HTTP 401) with an authentication scheme mote does not know: {challenge:?}",
                self.host
            ),
        }
    }

    fn expect(&self, r: &Response, want: &[u16], what: &str, repo: &str) -> Result<()> {
        if want.contains(&r.status) {
            return Ok(());
        }
        match r.status {
            401 => bail!("registry {}: {what}: unauthorized (HTTP 401) for repository {repo}: {}", self.host, error_text(&r.body)),
            403 => bail!(
                "registry {}: {what}: access to repository {repo} denied (HTTP 403 Forbidden): the credentials lack permission; {}",
                self.host,
                error_text(&r.body)
            ),
            s => bail!("registry {}: {what}: unexpected HTTP {s}: {}", self.host, error_text(&r.body)),
        }
    }

    /// Checks the registry speaks the distribution API (GET /v2/).
    pub fn ping(&mut self, scope: &str) -> Result<()> {
        let r = self.request("GET", "/v2/", &[], None, scope, 1 << 20)?;
        if r.status == 200 || r.status == 401 {
            return Ok(());
        }
        self.expect(&r, &[200], "GET /v2/ (is this an OCI registry?)", "")
    }

    // ---- reading ----

    pub fn get_manifest(&mut self, repo: &str, reference: &str) -> Result<(Vec<u8>, String)> {
        let scope = format!("repository:{repo}:pull");
        let r = self.request(
            "GET",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Accept", ACCEPT_MANIFESTS.into())],
            None,
            &scope,
            MAX_MANIFEST,
        )?;
        if r.status == 404 {
            bail!(
                "registry {}: manifest {repo}:{reference} not found (HTTP 404)",
                self.host
            );
        }
        self.expect(
            &r,
            &[200],
            &format!("GET manifest {repo}:{reference}"),
            repo,
        )?;
        let ct = r
            .header("content-type")
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let media_type = if is_index(&ct) || is_manifest(&ct) {
            ct
        } else {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Mt {
                media_type: Option<String>,
            }
            serde_json::from_slice::<Mt>(&r.body)
                .ok()
                .and_then(|m| m.media_type)
                .unwrap_or_default()
        };
        if let Some(h) = r.header("docker-content-digest") {
            let actual = Digest::of(&r.body);
            if h != actual.to_string() {
                bail!("registry {}: manifest {repo}:{reference} has digest {actual}, but the registry says {h}", self.host);
            }
        }
        Ok((r.body, media_type))
    }

    pub fn get_blob(&mut self, repo: &str, d: &Descriptor) -> Result<Vec<u8>> {
        let scope = format!("repository:{repo}:pull");
        let r = self.request(
            "GET",
            &format!("/v2/{repo}/blobs/{}", d.digest),
            &[],
            None,
            &scope,
            d.size.saturating_add(1),
        )?;
        if r.status == 404 {
            bail!(
                "registry {}: blob {} is missing from {repo} (HTTP 404)",
                self.host,
                d.digest
            );
        }
        self.expect(&r, &[200], &format!("GET blob {}", d.digest), repo)?;
        Ok(r.body)
    }

    // ---- writing ----

    /// Uploads one blob unless the registry has it; tries mounting it from `mount_from`
    /// repositories first. Returns what happened, for the progress line.
    pub fn upload_blob(
        &mut self,
        repo: &str,
        d: &Descriptor,
        bytes: &[u8],
        up: &UploadOptions,
    ) -> Result<String> {
        // Repositories that may hold the blob: named ones, then ones we pushed it to.
        let mut candidates: Vec<&String> = Vec::new();
        for from in up
            .mount_from
            .iter()
            .chain(up.known.get(&d.digest).into_iter().flatten())
        {
            if from != repo && !candidates.contains(&from) && candidates.len() < MAX_MOUNT_ATTEMPTS
            {
                candidates.push(from);
            }
        }
        let mut scope = format!("repository:{repo}:pull,push");
        for from in &candidates {
            scope.push_str(&format!(" repository:{from}:pull"));
        }
        let head = self.request(
            "HEAD",
            &format!("/v2/{repo}/blobs/{}", d.digest),
            &[],
            None,
            &scope,
            0,
        )?;
        if head.status == 200 {
            return Ok("already there".into());
        }
        if head.status != 404 {
            self.expect(&head, &[200, 404], &format!("HEAD blob {}", d.digest), repo)?;
        }
        let mut location: Option<String> = None;
        for from in &candidates {
            if let Some(abandoned) = location.take() {
                // A session from a failed mount we will not use: let the registry drop it.
                let _ = self.request(
                    "DELETE",
                    &self.absolute(&abandoned),
                    &[],
                    None,
                    &scope,
                    1 << 20,
                );
            }
            let r = self.request(
                "POST",
                &format!(
                    "/v2/{repo}/blobs/uploads/?mount={}&from={}",
                    enc(&d.digest.to_string()),
                    enc(from)
                ),
                &[("Content-Length", "0".into())],
                Some(&[]),
                &scope,
                1 << 20,
            )?;
            if r.status == 201 {
                return Ok(format!("mounted from {from}"));
            }
            // Not mountable (unknown there, or no pull right): a 202 starts a plain
            // upload session we can use; anything else, try the next or a fresh POST.
            if r.status == 202 {
                location = r.header("location").map(str::to_string);
            }
        }
        let location = match location {
            Some(l) => l,
            None => self.start_upload(repo, &scope)?,
        };
        let mut location = self.absolute(&location);
        let chunked = up.chunked || bytes.len() > up.chunk_size;
        if !chunked {
            let put = self.request(
                "PUT",
                &with_digest(&location, &d.digest),
                &[("Content-Type", "application/octet-stream".into())],
                Some(bytes),
                &scope,
                1 << 20,
            )?;
            self.finish_check(&put, repo, d)?;
            return Ok("uploaded".to_string());
        }
        // Chunked: resumed in place after a failure; if the registry lost the session,
        // started over once with a new one.
        let mut restarted: Option<String> = None;
        loop {
            match self.upload_chunks(repo, &scope, d, bytes, up.chunk_size.max(1), &location)? {
                Ok(done) => {
                    let mut how = format!("uploaded in {} chunks", done.chunks);
                    if done.resumes > 0 {
                        how.push_str(&format!(", resumed {}x", done.resumes));
                    }
                    if let Some(why) = restarted {
                        how.push_str(&format!(", started over once ({why})"));
                    }
                    return Ok(how);
                }
                Err(why) if restarted.is_none() => {
                    self.progress(&format!(
                        "upload of {} cannot be resumed ({why}); starting it again",
                        d.digest.short()
                    ));
                    location = self.start_upload(repo, &scope)?;
                    location = self.absolute(&location);
                    restarted = Some(why);
                }
                Err(why) => bail!(
                    "registry {}: the chunked upload of {} cannot be resumed: {why}; it was started over once already ({})",
                    self.host,
                    d.digest,
                    restarted.unwrap_or_default()
                ),
            }
        }
    }

    /// POSTs a new upload session; returns its Location.
    fn start_upload(&mut self, repo: &str, scope: &str) -> Result<String> {
        let r = self.request(
            "POST",
            &format!("/v2/{repo}/blobs/uploads/"),
            &[("Content-Length", "0".into())],
            Some(&[]),
            scope,
            1 << 20,
        )?;
        self.expect(&r, &[202], "start a blob upload", repo)?;
        r.header("location").map(str::to_string).with_context(|| {
            format!(
                "registry {}: the upload start answer has no Location header",
                self.host
            )
        })
    }

    /// Checks the answer to the PUT that ends an upload.
    fn finish_check(&self, put: &Response, repo: &str, d: &Descriptor) -> Result<()> {
        self.expect(
            put,
            &[201],
            &format!("finish the upload of {}", d.digest),
            repo,
        )?;
        if let Some(h) = put.header("docker-content-digest") {
            if h != d.digest.to_string() {
                bail!(
                    "registry {}: stored blob {} under digest {h}",
                    self.host,
                    d.digest
                );
            }
        }
        Ok(())
    }

    /// Sends the blob in PATCH chunks into the session at `location`, then the PUT that
    /// ends it. A chunk that fails (connection error, 5xx, 429, 416) is not resent
    /// blindly: the registry is asked how much it holds (GET on the session, `Range:
    /// 0-N`) and the upload goes on from byte N+1, at most [`MAX_RETRIES`] times in a
    /// row, with the usual backoff. The inner `Err` says the session cannot be resumed
    /// (gone, 404; or holding bytes other than ours), so the caller may start over.
    fn upload_chunks(
        &mut self,
        repo: &str,
        scope: &str,
        d: &Descriptor,
        bytes: &[u8],
        size: usize,
        location: &str,
    ) -> Result<Result<ChunkStats, String>> {
        let mut location = location.to_string();
        let len = bytes.len();
        let mut offset = 0usize;
        let mut stats = ChunkStats::default();
        let mut failures = 0u32;
        // `Range: 0-0` is both "nothing" and "one byte"; a 416 at offset 0 settles it.
        let mut zero_means_one = false;
        while offset < len {
            let end = (offset + size).min(len);
            let sent = self.request_once(
                "PATCH",
                &location,
                &[
                    ("Content-Type", "application/octet-stream".into()),
                    ("Content-Range", format!("{offset}-{}", end - 1)),
                ],
                Some(&bytes[offset..end]),
                scope,
                1 << 20,
            )?;
            let why = match sent {
                Ok(r) if r.status == 202 => {
                    if let Some(range) = r.header("range") {
                        if parse_range(range) != Some(end as u64) {
                            return Ok(Err(format!(
                                "after the chunk {offset}-{} the registry holds {range}, expected 0-{}",
                                end - 1,
                                end - 1
                            )));
                        }
                    }
                    if let Some(l) = r.header("location") {
                        location = self.absolute(l);
                    }
                    offset = end;
                    stats.chunks += 1;
                    failures = 0;
                    continue;
                }
                Ok(r) if r.status == 404 => {
                    return Ok(Err(format!(
                        "the registry no longer knows the upload session (PATCH: HTTP 404: {})",
                        error_text(&r.body)
                    )))
                }
                Ok(r) if r.status == 416 => {
                    if offset == 0 {
                        zero_means_one = true;
                    }
                    "HTTP 416 (the registry holds a different range)".to_string()
                }
                Ok(r) if r.status >= 500 || r.status == 429 => {
                    format!("HTTP {}: {}", r.status, error_text(&r.body))
                }
                Ok(r) => {
                    self.expect(
                        &r,
                        &[202],
                        &format!("upload chunk {offset}-{} of {}", end - 1, d.digest),
                        repo,
                    )?;
                    unreachable!("expect accepts only 202")
                }
                Err(e) => e.to_string(),
            };
            if failures >= MAX_RETRIES {
                bail!(
                    "registry {}: the chunked upload of {} failed at byte {offset} of {len}: {why}; gave up after {} attempts to resume",
                    self.host,
                    d.digest,
                    failures
                );
            }
            let wait = backoff(failures);
            failures += 1;
            self.progress(&format!(
                "PATCH {} bytes {offset}-{} of {len}: {why}; asking the registry what it holds in {} ms (resume {failures}/{MAX_RETRIES})",
                d.digest.short(),
                end - 1,
                wait.as_millis()
            ));
            std::thread::sleep(wait);
            let st = self.request("GET", &location, &[], None, scope, 1 << 20)?;
            if st.status == 404 {
                return Ok(Err(format!(
                    "the registry no longer knows the upload session (GET: HTTP 404: {})",
                    error_text(&st.body)
                )));
            }
            self.expect(
                &st,
                &[200, 204],
                &format!("ask the upload status of {}", d.digest),
                repo,
            )?;
            let range = st.header("range").unwrap_or("").to_string();
            let Some(have) = parse_range(&range) else {
                return Ok(Err(format!(
                    "the upload status answer has no usable Range header ({range:?})"
                )));
            };
            let have = if range.trim().trim_start_matches("bytes=") == "0-0" && !zero_means_one {
                0
            } else {
                have
            };
            if have > len as u64 {
                return Ok(Err(format!(
                    "the registry holds {have} bytes, more than the blob's {len}"
                )));
            }
            if let Some(l) = st.header("location") {
                location = self.absolute(l);
            }
            if have as usize != offset {
                self.progress(&format!(
                    "upload of {} resumes at byte {have} (the registry holds 0-{})",
                    d.digest.short(),
                    have.saturating_sub(1)
                ));
            }
            offset = have as usize;
            stats.resumes += 1;
        }
        let put = self.request(
            "PUT",
            &with_digest(&location, &d.digest),
            &[("Content-Length", "0".into())],
            Some(&[]),
            scope,
            1 << 20,
        )?;
        if put.status == 404 {
            // The session may have ended with our PUT whose answer was lost: the blob
            // is there then.
            let head = self.request(
                "HEAD",
                &format!("/v2/{repo}/blobs/{}", d.digest),
                &[],
                None,
                scope,
                0,
            )?;
            if head.status == 200 {
                return Ok(Ok(stats));
            }
            return Ok(Err(format!(
                "the registry no longer knows the upload session (PUT: HTTP 404: {})",
                error_text(&put.body)
            )));
        }
        self.finish_check(&put, repo, d)?;
        Ok(Ok(stats))
    }

    fn absolute(&self, location: &str) -> String {
        self.url(location)
    }

    /// PUTs a manifest or index under a tag or digest; checks the digest the registry reports.
    pub fn put_manifest(
        &mut self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<()> {
        let scope = format!("repository:{repo}:pull,push");
        let r = self.request(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("Content-Type", media_type.to_string())],
            Some(bytes),
            &scope,
            1 << 20,
        )?;
        self.expect(
            &r,
            &[201],
            &format!("PUT manifest {repo}:{reference}"),
            repo,
        )?;
        let ours = Digest::of(bytes);
        if let Some(h) = r.header("docker-content-digest") {
            if h != ours.to_string() {
                bail!("registry {} stored manifest {repo}:{reference} as {h}, but its digest is {ours}", self.host);
            }
        }
        Ok(())
    }
}

/// What a chunked upload took.
#[derive(Default)]
struct ChunkStats {
    /// PATCH requests that the registry accepted.
    chunks: u32,
    /// Times the upload went on from what the registry said it held.
    resumes: u32,
}

/// The number of bytes a `Range: 0-N` (or `bytes=0-N`) header says the registry holds:
/// N+1. (`0-0` is ambiguous, nothing or one byte: reported as 1, see the caller.)
fn parse_range(h: &str) -> Option<u64> {
    let h = h.trim();
    let h = h.strip_prefix("bytes=").unwrap_or(h);
    let (a, b) = h.split_once('-')?;
    if a.trim() != "0" {
        return None;
    }
    b.trim().parse::<u64>().ok()?.checked_add(1)
}

fn with_digest(location: &str, d: &Digest) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={}", enc(&d.to_string()))
}

/// The registry's error JSON, or the start of the body.
fn error_text(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct E {
        code: Option<String>,
        message: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Es {
        errors: Vec<E>,
    }
    if let Ok(es) = serde_json::from_slice::<Es>(body) {
        let v: Vec<String> = es
            .errors
            .into_iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.code.unwrap_or_default(),
                    e.message.unwrap_or_default()
                )
            })
            .collect();
        if !v.is_empty() {
            return v.join("; ");
        }
    }
    let s = String::from_utf8_lossy(&body[..body.len().min(200)])
        .trim()
        .to_string();
    if s.is_empty() {
        "(no body)".into()
    } else {
        s
    }
}

/// Upload settings.
#[derive(Clone, Debug)]
pub struct UploadOptions {
    pub chunk_size: usize,
    /// Chunked upload for every blob, whatever its size.
    pub chunked: bool,
    /// Repositories on the same registry to try mounting blobs from.
    pub mount_from: Vec<String>,
    /// Repositories of this registry that blobs were pushed to before ([`BlobCache`]).
    pub known: HashMap<Digest, Vec<String>>,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            chunked: false,
            mount_from: Vec::new(),
            known: HashMap::new(),
        }
    }
}

fn human(n: u64) -> String {
    if n < 10_000 {
        format!("{n} B")
    } else if n < 10_000_000 {
        format!("{:.1} kB", n as f64 / 1000.0)
    } else {
        format!("{:.1} MB", n as f64 / 1e6)
    }
}

/// Pushes verified blobs (children first, as [`crate::read::walk`] returns them) and
/// tags the root. Fetches the tag back and checks the digest is unchanged.
pub fn push(
    client: &mut Client,
    target: &Reference,
    blobs: &Blobs,
    up: &UploadOptions,
) -> Result<Digest> {
    if blobs.roots.len() != 1 {
        bail!(
            "the image holds {} tagged entries; push needs exactly one (an image or an index)",
            blobs.roots.len()
        );
    }
    let root = &blobs.roots[0];
    let repo = &target.repository;
    client.ping(&format!("repository:{repo}:pull,push"))?;
    let total = blobs.items.len();
    let bytes_total: u64 = blobs.items.iter().map(|(d, _)| d.size).sum();
    let mut sent = 0u64;
    for (i, (d, bytes)) in blobs.items.iter().enumerate() {
        let what = if is_index(&d.media_type) || is_manifest(&d.media_type) {
            if d.digest == root.digest {
                continue;
            }
            client.put_manifest(repo, &d.digest.to_string(), &d.media_type, bytes)?;
            "manifest put".to_string()
        } else {
            client.upload_blob(repo, d, bytes, up)?
        };
        sent += d.size;
        client.progress(&format!(
            "push {target} [{}/{total}] {} {} ({}): {what}   {}/{}",
            i + 1,
            kind_of(&d.media_type),
            d.digest.short(),
            human(d.size),
            human(sent),
            human(bytes_total)
        ));
    }
    let root_bytes = &blobs
        .items
        .iter()
        .find(|(d, _)| d.digest == root.digest)
        .with_context(|| format!("the root {} is not among the blobs", root.digest))?
        .1;
    let reference = target
        .tag
        .clone()
        .unwrap_or_else(|| root.digest.to_string());
    if let Some(d) = &target.digest {
        if *d != root.digest {
            bail!(
                "{target} names digest {d}, but the image's digest is {}",
                root.digest
            );
        }
    }
    client.put_manifest(repo, &reference, &root.media_type, root_bytes)?;
    // Read it back: the registry must serve exactly our bytes.
    let (back, _) = client.get_manifest(repo, &reference)?;
    let got = Digest::of(&back);
    if got != root.digest {
        bail!(
            "registry {} serves {repo}:{reference} with digest {got}, not the pushed {}",
            client.host,
            root.digest
        );
    }
    client.progress(&format!(
        "pushed {target} {} ({} in {} blobs)",
        root.digest,
        human(bytes_total),
        total
    ));
    Ok(root.digest.clone())
}

fn kind_of(mt: &str) -> &'static str {
    if is_index(mt) {
        "index"
    } else if is_manifest(mt) {
        "manifest"
    } else if mt == MEDIA_CONFIG || mt == MEDIA_DOCKER_CONFIG {
        "config"
    } else {
        "layer"
    }
}

/// Which repositories of which registry blobs were pushed to, kept between runs so
/// a push to a second repository can mount instead of upload. A JSON file in
/// `$MOTE_CACHE_DIR`, else `$XDG_CACHE_HOME/mote`, else `~/.cache/mote`. It is only
/// a hint: a stale entry costs one failed mount attempt, then a normal upload.
#[derive(Default)]
pub struct BlobCache {
    path: Option<std::path::PathBuf>,
    entries: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<String>>>,
}

impl BlobCache {
    pub fn default_path() -> Option<std::path::PathBuf> {
        let dir = std::env::var_os("MOTE_CACHE_DIR")
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_CACHE_HOME").map(|d| std::path::PathBuf::from(d).join("mote"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache/mote"))
            })?;
        Some(dir.join("pushed-blobs.json"))
    }

    /// Loads the cache; an unreadable or malformed file counts as empty.
    pub fn load(path: Option<std::path::PathBuf>) -> BlobCache {
        let entries = path
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        BlobCache { path, entries }
    }

    pub fn known(&self, registry: &str) -> HashMap<Digest, Vec<String>> {
        let mut out = HashMap::new();
        for (d, repos) in self.entries.get(registry).into_iter().flatten() {
            if let Ok(d) = Digest::parse(d) {
                out.insert(d, repos.clone());
            }
        }
        out
    }

    pub fn record(
        &mut self,
        registry: &str,
        repo: &str,
        digests: impl IntoIterator<Item = Digest>,
    ) {
        let reg = self.entries.entry(registry.to_string()).or_default();
        for d in digests {
            let repos = reg.entry(d.to_string()).or_default();
            repos.retain(|r| r != repo);
            repos.insert(0, repo.to_string());
            repos.truncate(CACHE_REPOS_PER_BLOB);
        }
    }

    /// Writes the cache (temporary file, then rename).
    pub fn save(&self) -> Result<()> {
        let Some(p) = &self.path else { return Ok(()) };
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        crate::atomic::write_file(p, &serde_json::to_vec(&self.entries)?)
    }
}

/// An image in a registry, as a [`Store`] for inspect.
pub struct RegistryStore {
    client: Client,
    reference: Reference,
    cache: HashMap<Digest, Vec<u8>>,
}

impl RegistryStore {
    pub fn new(reference: Reference, opts: ClientOptions) -> RegistryStore {
        RegistryStore {
            client: Client::new(&reference.registry, opts),
            reference,
            cache: HashMap::new(),
        }
    }
}

impl Store for RegistryStore {
    fn describe(&self) -> String {
        format!("registry image {}", self.reference)
    }
    fn format(&self) -> &'static str {
        "registry"
    }
    fn roots(&mut self) -> Result<Vec<Descriptor>> {
        let repo = self.reference.repository.clone();
        let (bytes, media_type) = self
            .client
            .get_manifest(&repo, &self.reference.manifest_ref())?;
        let digest = Digest::of(&bytes);
        if let Some(d) = &self.reference.digest {
            if *d != digest {
                bail!(
                    "registry {} served {} with digest {digest}",
                    self.client.host,
                    self.reference
                );
            }
        }
        if !is_index(&media_type) && !is_manifest(&media_type) {
            bail!(
                "{} is not an image: media type {media_type:?}",
                self.reference
            );
        }
        let mut d = Descriptor {
            media_type,
            digest: digest.clone(),
            size: bytes.len() as u64,
            platform: None,
            annotations: None,
        };
        if let Some(t) = &self.reference.tag {
            d.annotations = Some(std::collections::BTreeMap::from([(
                ANNOTATION_REF_NAME.to_string(),
                t.clone(),
            )]));
        }
        self.cache.insert(digest, bytes);
        Ok(vec![d])
    }
    fn fetch(&mut self, d: &Descriptor) -> Result<Vec<u8>> {
        if let Some(b) = self.cache.get(&d.digest) {
            return Ok(b.clone());
        }
        let repo = self.reference.repository.clone();
        if is_index(&d.media_type) || is_manifest(&d.media_type) {
            Ok(self.client.get_manifest(&repo, &d.digest.to_string())?.0)
        } else {
            self.client.get_blob(&repo, d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let r = Reference::parse("docker://localhost:5000/a/b:1.0").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("localhost:5000", "a/b", Some("1.0"))
        );
        let r = Reference::parse("127.0.0.1:5000/site").unwrap();
        assert_eq!(r.tag.as_deref(), Some("latest"));
        let r = Reference::parse("nginx").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("registry-1.docker.io", "library/nginx")
        );
        let d = Digest::of(b"x");
        let r = Reference::parse(&format!("ghcr.io/o/r@{d}")).unwrap();
        assert_eq!((r.tag, r.digest), (None, Some(d)));
        assert!(Reference::parse("localhost:5000/Upper:1").is_err());
    }

    /// A scripted HTTP server on loopback: answers each request with the next
    /// response, records the request heads.
    fn scripted(
        responses: Vec<&'static str>,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{Read, Write};
        let mut listener = None;
        for port in 21000..32000u16 {
            if let Ok(l) =
                std::net::TcpListener::bind(("127.0.0.1", port + (std::process::id() % 500) as u16))
            {
                listener = Some(l);
                break;
            }
        }
        let listener = listener.expect("a free loopback port");
        let host = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for resp in responses {
                let Ok((mut conn, _)) = listener.accept() else {
                    return;
                };
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && conn.read(&mut b).unwrap_or(0) == 1 {
                    head.push(b[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                // Read the body too, so closing the socket is a FIN, not a reset.
                let len = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                    })
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                let _ = conn.read_exact(&mut body);
                log2.lock().unwrap().push(head);
                let _ = conn.write_all(resp.as_bytes());
            }
        });
        (host, log)
    }

    /// A client for a scripted registry on loopback (plain HTTP).
    fn plain_http_client(host: &str) -> Client {
        Client::new(
            host,
            ClientOptions {
                insecure: true,
                ..Default::default()
            },
        )
    }

    const R503: &str =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const R200: &str = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";

    #[test]
    fn server_errors_are_retried_with_backoff_then_succeed() {
        let (host, log) = scripted(vec![R503, R503, R200]);
        let mut c = plain_http_client(&host);
        let t0 = std::time::Instant::now();
        c.ping("").unwrap();
        assert_eq!(log.lock().unwrap().len(), 3);
        // Two waits: 250 ms + 500 ms.
        assert!(
            t0.elapsed() >= Duration::from_millis(700),
            "{:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn retries_are_bounded_and_the_error_names_the_registry() {
        let (host, log) = scripted(vec![R503; 6]);
        let mut c = plain_http_client(&host);
        let e = c.ping("").unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "registry {host} answered GET http://{host}/v2/ with HTTP 503 after 5 attempts"
            )),
            "{e}"
        );
        assert_eq!(log.lock().unwrap().len(), 5);
    }

    #[test]
    fn unauthorized_and_forbidden_are_explained() {
        let basic = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"r\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let (host, _) = scripted(vec![basic]);
        let mut c = plain_http_client(&host);
        let e = c.ping("").unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "registry {host} requires a user name and password"
            )),
            "{e}"
        );

        let forbidden = "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: 59\r\nConnection: close\r\n\r\n{\"errors\":[{\"code\":\"DENIED\",\"message\":\"requested access\"}]}";
        let (host, log) = scripted(vec![forbidden]);
        let mut c = plain_http_client(&host);
        let e = c
            .put_manifest("a/b", "1", MEDIA_MANIFEST, b"{}")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("registry {host}"))
                && e.contains("denied (HTTP 403 Forbidden)")
                && e.contains("DENIED"),
            "{e}"
        );
        assert!(
            log.lock().unwrap()[0]
                .contains("content-type: application/vnd.oci.image.manifest.v1+json"),
            "{:?}",
            log.lock().unwrap()
        );
    }

    #[test]
    fn upload_ranges() {
        assert_eq!(parse_range("0-999"), Some(1000));
        assert_eq!(parse_range("bytes=0-4095"), Some(4096));
        // Nothing or one byte: the caller decides (a 416 settles it).
        assert_eq!(parse_range("0-0"), Some(1));
        assert_eq!(parse_range("5-9"), None);
        assert_eq!(parse_range(""), None);
        assert_eq!(parse_range("0-x"), None);
    }

    #[test]
    fn challenges() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "bearer");
        assert_eq!(p["realm"], "https://auth.example/token");
        assert_eq!(p["service"], "registry.example");
        assert_eq!(p["scope"], "repository:a/b:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(
            (s.as_str(), p["realm"].as_str()),
            ("basic", "Registry Realm")
        );
    }
}
