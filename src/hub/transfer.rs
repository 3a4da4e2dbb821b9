//! Moving one file's bytes: resumable streaming into `blobs/{etag}.incomplete`
//! with SHA-256 on the fly, retries, cancellation, verification, and the
//! progress meter.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::cache::incomplete_path;
use super::http::{header, quote, status_error, Client};
use super::{DownloadError, DownloadProgress, RepoFile};

const CHUNK: usize = 256 * 1024;
/// At most this often a progress report (plus one at the end of each file).
const REPORT_EVERY: Duration = Duration::from_millis(100);
/// The speed is measured over this much recent time.
const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Download speed over a sliding window of this session's bytes.
pub(super) struct Meter {
    samples: VecDeque<(Instant, u64)>,
    session: u64,
    last_report: Option<Instant>,
}

impl Meter {
    pub(super) fn new() -> Self {
        Meter {
            samples: VecDeque::from([(Instant::now(), 0)]),
            session: 0,
            last_report: None,
        }
    }

    fn add(&mut self, bytes: u64) {
        self.session += bytes;
    }

    /// Bytes per second at `now` over the window.
    fn rate(&mut self, now: Instant) -> f64 {
        self.samples.push_back((now, self.session));
        while self.samples.len() > 2 && now.duration_since(self.samples[1].0) >= RATE_WINDOW {
            self.samples.pop_front();
        }
        let (t0, b0) = self.samples[0];
        let dt = now.duration_since(t0).as_secs_f64();
        if dt < 0.05 {
            0.0
        } else {
            (self.session - b0) as f64 / dt
        }
    }
}

/// State of one [`super::download`] call.
pub(super) struct Session<'a> {
    pub client: &'a Client,
    pub repo: &'a str,
    pub commit: &'a str,
    pub retries: u32,
    pub cancel: &'a AtomicBool,
    pub progress: &'a mut dyn FnMut(&DownloadProgress),
    pub meter: Meter,
    /// Bytes accounted for so far (cached, resumed, transferred).
    pub done: u64,
    /// All bytes of the request (grows when a partial has to be thrown away).
    pub total: u64,
    /// Bytes transferred in this session.
    pub fetched: u64,
}

impl Session<'_> {
    pub(super) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Call the progress callback, at most every [`REPORT_EVERY`] unless `force`.
    pub(super) fn report(&mut self, file: &str, file_done: u64, file_total: u64, force: bool) {
        let now = Instant::now();
        if !force
            && self
                .meter
                .last_report
                .is_some_and(|t| now - t < REPORT_EVERY)
        {
            return;
        }
        self.meter.last_report = Some(now);
        let bytes_per_sec = self.meter.rate(now);
        let remaining = self.total.saturating_sub(self.done);
        let eta = (bytes_per_sec > 0.0)
            .then(|| Duration::try_from_secs_f64(remaining as f64 / bytes_per_sec).ok())
            .flatten();
        (self.progress)(&DownloadProgress {
            file: file.to_string(),
            file_done,
            file_total,
            done: self.done,
            total: self.total,
            bytes_per_sec,
            eta,
        });
    }

    /// Bring `file` into `blob`: resume or start its `.incomplete`, retry
    /// dropped connections, verify, then rename. A file that fails
    /// verification is deleted.
    pub(super) fn fetch(&mut self, file: &RepoFile, blob: &Path) -> Result<(), DownloadError> {
        let partial = incomplete_path(blob);
        if let Some(dir) = partial.parent() {
            fs::create_dir_all(dir).map_err(|e| DownloadError::io(dir, e))?;
        }
        let mut out = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial)
            .map_err(|e| DownloadError::io(&partial, e))?;
        let mut part = Partial {
            have: out
                .metadata()
                .map_err(|e| DownloadError::io(&partial, e))?
                .len(),
            hasher: Sha256::new(),
        };
        if part.have > file.size {
            self.restart(&mut out, &mut part, &partial)?;
        }
        self.hash_existing(&mut out, &mut part, &partial)?;
        self.done = self.done.saturating_add(part.have);

        let url = format!(
            "{}/{}/resolve/{}/{}",
            self.client.endpoint(),
            self.repo,
            self.commit,
            quote(&file.path, true)
        );
        let mut failures = 0;
        while part.have < file.size {
            let result = self.attempt(&url, file, &mut out, &mut part, &partial);
            match result {
                Ok(()) => {}
                Err(e @ DownloadError::Corrupt { .. }) => {
                    drop(out);
                    let _ = fs::remove_file(&partial);
                    return Err(e);
                }
                Err(e) if e.is_transient() && failures < self.retries => {
                    failures += 1;
                    log::warn!(
                        "{}: {e}; retry {failures}/{} from byte {}",
                        file.path,
                        self.retries,
                        part.have
                    );
                    self.sleep(Duration::from_millis(200 << (failures - 1).min(5)))?;
                }
                Err(e) => return Err(e),
            }
        }
        out.sync_all().map_err(|e| DownloadError::io(&partial, e))?;
        drop(out);

        let digest = hex(&part.hasher.finalize());
        if let Some(expected) = &file.sha256 {
            if *expected != digest {
                let _ = fs::remove_file(&partial);
                return Err(DownloadError::Corrupt {
                    file: file.path.clone(),
                    expected: format!("sha256 {expected}"),
                    actual: format!("sha256 {digest}"),
                });
            }
        }
        fs::rename(&partial, blob).map_err(|e| DownloadError::io(blob, e))?;
        self.report(&file.path, file.size, file.size, true);
        Ok(())
    }

    /// One request from `part.have` on, streamed to the end or to an error.
    fn attempt(
        &mut self,
        url: &str,
        file: &RepoFile,
        out: &mut File,
        part: &mut Partial,
        partial: &Path,
    ) -> Result<(), DownloadError> {
        if self.cancelled() {
            return Err(DownloadError::Cancelled);
        }
        let resume = (part.have > 0).then_some(part.have);
        let (response, url) = self.client.get(url, resume)?;
        match response.status().as_u16() {
            200 => {
                if part.have > 0 {
                    // The server ignored the Range: start over.
                    self.restart(out, part, partial)?;
                }
            }
            206 if resume.is_some() => {
                let start = header(&response, "content-range").and_then(range_start);
                if start != Some(part.have) {
                    self.restart(out, part, partial)?;
                    return Err(self.client.network(
                        &url,
                        "the server resumed at the wrong offset; starting over",
                    ));
                }
            }
            416 => {
                self.restart(out, part, partial)?;
                return Err(self
                    .client
                    .network(&url, "the server refused to resume; starting over"));
            }
            _ => {
                return Err(status_error(
                    &response,
                    &url,
                    self.repo,
                    self.commit,
                    Some(&file.path),
                ))
            }
        }

        out.seek(SeekFrom::Start(part.have))
            .map_err(|e| DownloadError::io(partial, e))?;
        let mut body = response.into_body().into_reader();
        let mut buf = vec![0u8; CHUNK];
        loop {
            if self.cancelled() {
                out.flush().map_err(|e| DownloadError::io(partial, e))?;
                return Err(DownloadError::Cancelled);
            }
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.client.network(&url, e)),
            };
            if part.have + n as u64 > file.size {
                return Err(DownloadError::Corrupt {
                    file: file.path.clone(),
                    expected: format!("{} bytes", file.size),
                    actual: "more bytes".into(),
                });
            }
            out.write_all(&buf[..n])
                .map_err(|e| DownloadError::io(partial, e))?;
            part.hasher.update(&buf[..n]);
            part.have += n as u64;
            self.done = self.done.saturating_add(n as u64);
            self.fetched += n as u64;
            self.meter.add(n as u64);
            self.report(&file.path, part.have, file.size, false);
        }
        if part.have < file.size {
            return Err(self.client.network(
                &url,
                format!(
                    "the connection closed after {} of {} bytes",
                    part.have, file.size
                ),
            ));
        }
        Ok(())
    }

    /// Throw the partial away; its bytes stay counted in `done`, so `total` grows.
    fn restart(
        &mut self,
        out: &mut File,
        part: &mut Partial,
        partial: &Path,
    ) -> Result<(), DownloadError> {
        out.set_len(0).map_err(|e| DownloadError::io(partial, e))?;
        self.total = self.total.saturating_add(part.have);
        part.have = 0;
        part.hasher = Sha256::new();
        Ok(())
    }

    /// Feed the bytes already in the partial file to the hasher.
    fn hash_existing(
        &self,
        out: &mut File,
        part: &mut Partial,
        partial: &Path,
    ) -> Result<(), DownloadError> {
        out.seek(SeekFrom::Start(0))
            .map_err(|e| DownloadError::io(partial, e))?;
        let mut reader = (&mut *out).take(part.have);
        let mut buf = vec![0u8; CHUNK];
        let mut hashed = 0u64;
        loop {
            if self.cancelled() {
                return Err(DownloadError::Cancelled);
            }
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    part.hasher.update(&buf[..n]);
                    hashed += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(DownloadError::io(partial, e)),
            }
        }
        part.have = hashed;
        Ok(())
    }

    /// Sleep, waking early (with an error) when cancelled.
    fn sleep(&self, total: Duration) -> Result<(), DownloadError> {
        let end = Instant::now() + total;
        while Instant::now() < end {
            if self.cancelled() {
                return Err(DownloadError::Cancelled);
            }
            std::thread::sleep(Duration::from_millis(20).min(end - Instant::now()));
        }
        Ok(())
    }
}

/// The bytes of a partial download and their running hash.
struct Partial {
    have: u64,
    hasher: Sha256,
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` header.
fn range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    rest.split('-').next()?.trim().parse().ok()
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range() {
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
        assert_eq!(range_start("bytes */200"), None);
        assert_eq!(range_start("garbage"), None);
    }

    #[test]
    fn meter_measures_recent_bytes() {
        let mut m = Meter::new();
        let t0 = m.samples[0].0;
        m.add(1000);
        assert!((m.rate(t0 + Duration::from_secs(1)) - 1000.0).abs() < 1.0);
        // Ten seconds later with no new bytes, the old ones fall out of the window.
        for s in 2..=12 {
            m.rate(t0 + Duration::from_secs(s));
        }
        assert!(m.rate(t0 + Duration::from_secs(13)) < 1.0);
    }
}
