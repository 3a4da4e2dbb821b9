//! A tiny stand-in for the Hugging Face hub on 127.0.0.1: the model-info and
//! tree APIs, HEAD and GET `resolve` downloads with Range support and the
//! hub's headers (what the real huggingface_hub client needs too; checked by
//! `tests/download.rs`'s interop test), optional token, an LFS "CDN" on
//! another host name, and knobs to drop connections, corrupt files or
//! replace the listing. Every request is logged.
//!
//! One thread accepts; each connection gets its own thread and one request
//! (`Connection: close`). Dropping the server stops it.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// One file of a served repository.
#[derive(Debug, Clone)]
pub struct HubFile {
    /// Path inside the repository.
    pub path: String,
    /// Contents.
    pub bytes: Vec<u8>,
    /// Stored with git LFS (etag = sha256) or plain git (etag = blob id).
    pub lfs: bool,
}

impl HubFile {
    /// Lower-case hex SHA-256 of the contents.
    pub fn sha256(&self) -> String {
        hex(&Sha256::digest(&self.bytes))
    }

    /// A stand-in for the git blob id (40 hex digits derived from the
    /// contents; the client never recomputes it).
    pub fn blob_id(&self) -> String {
        let mut h = Sha256::new();
        h.update(format!("blob {}\0", self.bytes.len()));
        h.update(&self.bytes);
        hex(&h.finalize())[..40].to_string()
    }

    /// The cache etag huggingface_hub uses for this file.
    pub fn etag(&self) -> String {
        if self.lfs {
            self.sha256()
        } else {
            self.blob_id()
        }
    }
}

/// A served repository at one commit (reachable as `main` or by its commit).
#[derive(Debug, Clone)]
pub struct HubRepo {
    /// `owner/name`.
    pub id: String,
    /// 40 hex digits.
    pub commit: String,
    /// Its files.
    pub files: Vec<HubFile>,
}

impl HubRepo {
    /// A repository holding `files`; `*.safetensors`/`*.bin` are LFS files.
    pub fn new(id: &str, files: Vec<(String, Vec<u8>)>) -> Self {
        let files = files
            .into_iter()
            .map(|(path, bytes)| HubFile {
                lfs: path.ends_with(".safetensors") || path.ends_with(".bin"),
                path,
                bytes,
            })
            .collect();
        HubRepo {
            id: id.to_string(),
            commit: hex(&Sha256::digest(id.as_bytes()))[..40].to_string(),
            files,
        }
    }

    /// Every file under `dir`, with `/`-separated relative paths, sorted.
    pub fn read_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let rel = path.strip_prefix(root).unwrap();
                    let rel: Vec<_> = rel.iter().map(|c| c.to_string_lossy()).collect();
                    out.push((rel.join("/"), std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    /// The file at `path`.
    pub fn file(&self, path: &str) -> &HubFile {
        self.files.iter().find(|f| f.path == path).unwrap()
    }

    /// The hub's `/api/models/{id}/revision/{rev}?blobs=true` answer.
    pub fn listing_json(&self) -> String {
        let siblings: Vec<_> = self
            .files
            .iter()
            .map(|f| {
                let mut s = serde_json::json!({
                    "rfilename": f.path,
                    "blobId": f.blob_id(),
                    "size": f.bytes.len(),
                });
                if f.lfs {
                    s["lfs"] = serde_json::json!({
                        "sha256": f.sha256(),
                        "size": f.bytes.len(),
                        "pointerSize": 134,
                    });
                }
                s
            })
            .collect();
        serde_json::json!({
            "id": self.id,
            "modelId": self.id,
            "sha": self.commit,
            "private": false,
            "siblings": siblings,
        })
        .to_string()
    }
}

impl HubRepo {
    /// The hub's `/api/models/{id}/tree/{rev}?recursive=true` answer (what
    /// huggingface_hub's `snapshot_download` lists): folders, then files
    /// with `oid` (the blob id) and, for LFS files, `lfs.oid` (the SHA-256).
    pub fn tree_json(&self) -> String {
        let mut folders: Vec<String> = self
            .files
            .iter()
            .flat_map(|f| {
                let parts: Vec<&str> = f.path.split('/').collect();
                (1..parts.len()).map(move |n| parts[..n].join("/"))
            })
            .collect();
        folders.sort();
        folders.dedup();
        let mut entries: Vec<_> = folders
            .iter()
            .map(|d| serde_json::json!({"type": "directory", "oid": "0".repeat(40), "size": 0, "path": d}))
            .collect();
        entries.extend(self.files.iter().map(|f| {
            let mut e = serde_json::json!({
                "type": "file",
                "oid": f.blob_id(),
                "size": f.bytes.len(),
                "path": f.path,
            });
            if f.lfs {
                e["lfs"] = serde_json::json!({
                    "oid": f.sha256(),
                    "size": f.bytes.len(),
                    "pointerSize": 134,
                });
            }
            e
        }));
        serde_json::Value::Array(entries).to_string()
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `GET`, ...
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    /// The `Range` header.
    pub range: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Host` header.
    pub host: String,
}

#[derive(Default)]
struct State {
    repos: Vec<HubRepo>,
    token: Option<String>,
    /// path -> (body bytes sent before the connection drops, every time?)
    drops: HashMap<String, (usize, bool)>,
    corrupt: HashSet<String>,
    listing: Option<String>,
    cdn: bool,
    chunk_delay: Duration,
    log: Vec<LoggedRequest>,
}

/// The running server; dropping it stops it.
pub struct HubServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HubServer {
    /// Serve `repos` on a free port of 127.0.0.1.
    pub fn start(repos: Vec<HubRepo>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            repos,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = state.clone();
                    std::thread::spawn(move || {
                        let _ = handle(stream, &state, addr.port());
                    });
                }
            })
        };
        HubServer {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:{port}`: use as the hub endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answer 401 unless `Authorization: Bearer {token}` (the CDN needs none).
    pub fn require_token(&self, token: &str) {
        self.state.lock().unwrap().token = Some(token.to_string());
    }

    /// Close the connection after `bytes` body bytes of `path`: on the next
    /// response only, or on every one (`always`).
    pub fn drop_after(&self, path: &str, bytes: usize, always: bool) {
        let mut state = self.state.lock().unwrap();
        state.drops.insert(path.to_string(), (bytes, always));
    }

    /// Serve `path` with one byte changed (same size, wrong hash).
    pub fn corrupt(&self, path: &str) {
        self.state.lock().unwrap().corrupt.insert(path.to_string());
    }

    /// Answer every listing request with this body instead.
    pub fn set_listing(&self, body: &str) {
        self.state.lock().unwrap().listing = Some(body.to_string());
    }

    /// Redirect LFS downloads (302) to `http://localhost:{port}/cdn/{sha256}`,
    /// another host name, like the hub's CDN.
    pub fn redirect_lfs_to_cdn(&self) {
        self.state.lock().unwrap().cdn = true;
    }

    /// Pause this long after every 64 KiB of a file body.
    pub fn set_chunk_delay(&self, delay: Duration) {
        self.state.lock().unwrap().chunk_delay = delay;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.lock().unwrap().log.clone()
    }

    /// Forget the logged requests.
    pub fn clear_log(&self) {
        self.state.lock().unwrap().log.clear();
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn handle(stream: TcpStream, state: &Mutex<State>, port: u16) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Ok(());
    };
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let request = LoggedRequest {
        method,
        path: target.clone(),
        range: headers.get("range").cloned(),
        authorization: headers.get("authorization").cloned(),
        host: headers.get("host").cloned().unwrap_or_default(),
    };
    state.lock().unwrap().log.push(request.clone());
    let mut out = Conn {
        head: request.method == "HEAD",
        stream,
    };
    let path = target.split('?').next().unwrap_or("").to_string();

    let (token_ok, cdn) = {
        let s = state.lock().unwrap();
        let ok = s.token.as_ref().is_none_or(|t| {
            request.authorization.as_deref() == Some(format!("Bearer {t}").as_str())
        });
        (ok, s.cdn)
    };

    if let Some(sha) = path.strip_prefix("/cdn/") {
        let file = {
            let s = state.lock().unwrap();
            s.repos
                .iter()
                .flat_map(|r| r.files.iter())
                .find(|f| f.lfs && f.sha256() == sha)
                .cloned()
        };
        return match file {
            Some(f) => serve_file(&mut out, state, &f, "", request.range.as_deref()),
            None => respond(&mut out, "404 Not Found", &[], b"not found"),
        };
    }

    if let Some(rest) = path.strip_prefix("/api/models/") {
        // `{id}`, `{id}/revision/{rev}` (model info) or `{id}/tree/{rev}` (files).
        let (repo_id, rev, tree) = if let Some((id, rev)) = rest.split_once("/revision/") {
            (id, percent_decode(rev), false)
        } else if let Some((id, rev)) = rest.split_once("/tree/") {
            (id, percent_decode(rev), true)
        } else {
            (rest, "main".to_string(), false)
        };
        let s = state.lock().unwrap();
        let Some(repo) = s.repos.iter().find(|r| r.id == repo_id) else {
            return respond(
                &mut out,
                "404 Not Found",
                &[("X-Error-Code", "RepositoryNotFound")],
                b"{}",
            );
        };
        if !token_ok {
            return respond(
                &mut out,
                "401 Unauthorized",
                &[("X-Error-Code", "GatedRepo")],
                b"{}",
            );
        }
        if rev != "main" && rev != repo.commit {
            return respond(
                &mut out,
                "404 Not Found",
                &[("X-Error-Code", "RevisionNotFound")],
                b"{}",
            );
        }
        let body = match (&s.listing, tree) {
            (_, true) => repo.tree_json(),
            (Some(listing), false) => listing.clone(),
            (None, false) => repo.listing_json(),
        };
        drop(s);
        return respond(
            &mut out,
            "200 OK",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
    }

    // /{owner}/{name}/resolve/{rev}/{path}
    let Some((repo_id, rest)) = path.trim_start_matches('/').split_once("/resolve/") else {
        return respond(&mut out, "404 Not Found", &[], b"not found");
    };
    let (rev, file_path) = rest.split_once('/').unwrap_or((rest, ""));
    let (rev, file_path) = (percent_decode(rev), percent_decode(file_path));
    let (repo_commit, file) = {
        let s = state.lock().unwrap();
        let Some(repo) = s.repos.iter().find(|r| r.id == repo_id) else {
            drop(s);
            return respond(
                &mut out,
                "404 Not Found",
                &[("X-Error-Code", "RepositoryNotFound")],
                b"",
            );
        };
        (
            repo.commit.clone(),
            repo.files.iter().find(|f| f.path == file_path).cloned(),
        )
    };
    if !token_ok {
        return respond(
            &mut out,
            "401 Unauthorized",
            &[("X-Error-Code", "GatedRepo")],
            b"",
        );
    }
    if rev != "main" && rev != repo_commit {
        return respond(
            &mut out,
            "404 Not Found",
            &[("X-Error-Code", "RevisionNotFound")],
            b"",
        );
    }
    let Some(file) = file else {
        // With the commit, as the hub does: huggingface_hub then records the
        // absence under `.no_exist/{commit}/`.
        return respond(
            &mut out,
            "404 Not Found",
            &[
                ("X-Error-Code", "EntryNotFound"),
                ("X-Repo-Commit", &repo_commit),
            ],
            b"",
        );
    };
    if cdn && file.lfs {
        let location = format!("http://localhost:{port}/cdn/{}", file.sha256());
        let etag = format!("\"{}\"", file.sha256());
        let size = file.bytes.len().to_string();
        return respond(
            &mut out,
            "302 Found",
            &[
                ("Location", &location),
                ("X-Repo-Commit", &repo_commit),
                ("X-Linked-Etag", &etag),
                ("X-Linked-Size", &size),
            ],
            b"",
        );
    }
    serve_file(
        &mut out,
        state,
        &file,
        &repo_commit,
        request.range.as_deref(),
    )
}

/// The connection a response goes to; a HEAD request gets headers only.
struct Conn {
    stream: TcpStream,
    head: bool,
}

fn serve_file(
    out: &mut Conn,
    state: &Mutex<State>,
    file: &HubFile,
    commit: &str,
    range: Option<&str>,
) -> std::io::Result<()> {
    let (corrupt, drop_at, delay) = {
        let mut s = state.lock().unwrap();
        let drop_at = match s.drops.get(&file.path).copied() {
            Some((n, true)) => Some(n),
            Some((n, false)) => {
                s.drops.remove(&file.path);
                Some(n)
            }
            None => None,
        };
        (s.corrupt.contains(&file.path), drop_at, s.chunk_delay)
    };
    let mut bytes = file.bytes.clone();
    if corrupt && !bytes.is_empty() {
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
    }
    let len = bytes.len();
    let start = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse::<usize>().ok());
    let total = len.to_string();
    let etag = format!("\"{}\"", file.etag());
    let mut headers: Vec<(&str, String)> = vec![
        ("ETag", etag.clone()),
        ("X-Repo-Commit", commit.to_string()),
        ("Accept-Ranges", "bytes".into()),
    ];
    if file.lfs {
        headers.push(("X-Linked-Etag", etag));
        headers.push(("X-Linked-Size", total.clone()));
    }
    let (status, body) = match start {
        Some(s) if s >= len => {
            headers.push(("Content-Range", format!("bytes */{len}")));
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            return respond(out, "416 Range Not Satisfiable", &h, b"");
        }
        Some(s) => {
            headers.push(("Content-Range", format!("bytes {s}-{}/{len}", len - 1)));
            ("206 Partial Content", &bytes[s..])
        }
        None => ("200 OK", &bytes[..]),
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.stream.write_all(head.as_bytes())?;
    let send = if out.head {
        0
    } else {
        drop_at.map_or(body.len(), |n| n.min(body.len()))
    };
    for chunk in body[..send].chunks(64 * 1024) {
        out.stream.write_all(chunk)?;
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
    }
    out.stream.flush()?;
    if drop_at.is_some() && !out.head {
        let _ = out.stream.shutdown(Shutdown::Both);
    }
    Ok(())
}

fn respond(
    out: &mut Conn,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.stream.write_all(head.as_bytes())?;
    if !out.head {
        out.stream.write_all(body)?;
    }
    out.stream.flush()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) if bytes[i] == b'%' => {
                out.push(b);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
