//! The hub downloader against a local stand-in for the hub (no internet):
//! cache layout, zero-request cache hits, resume after dropped connections,
//! verification, errors, offline mode, cancellation, progress, hostile answers.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::hub_server::{HubRepo, HubServer};
use common::{write_tiny_model, Family};
use latent_studio::hub::{
    cached_snapshot, download, list_repo, DownloadError, DownloadProgress, DownloadRequest,
    Downloaded, HubConfig,
};

const REPO: &str = "tiny/sd1";
/// The largest file of the tiny model (~6 MB: the token embedding), an LFS file.
const BIG: &str = "text_encoder/model.safetensors";

/// The tiny SD 1.x pipeline's files, written once per test binary.
fn model_files() -> Vec<(String, Vec<u8>)> {
    static FILES: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    FILES
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let root = write_tiny_model(&dir.path().join("m"), Family::Sd1);
            HubRepo::read_dir(&root)
        })
        .clone()
}

fn repo() -> HubRepo {
    HubRepo::new(REPO, model_files())
}

fn paths(repo: &HubRepo) -> Vec<String> {
    repo.files.iter().map(|f| f.path.clone()).collect()
}

/// A server with the tiny model, a fresh cache and a config using both.
struct Fixture {
    server: HubServer,
    repo: HubRepo,
    cache: tempfile::TempDir,
    hub: HubConfig,
}

fn fixture() -> Fixture {
    let repo = repo();
    let server = HubServer::start(vec![repo.clone()]);
    let cache = tempfile::tempdir().unwrap();
    let hub = HubConfig {
        endpoint: server.endpoint(),
        token: None,
        cache: hf_hub::Cache::new(cache.path().join("hub")),
        offline: false,
        retries: 2,
    };
    Fixture {
        server,
        repo,
        cache,
        hub,
    }
}

impl Fixture {
    fn request(&self, files: &[&str]) -> DownloadRequest {
        DownloadRequest {
            repo: REPO.into(),
            revision: "main".into(),
            files: files.iter().map(|f| f.to_string()).collect(),
            optional: Vec::new(),
        }
    }

    fn all(&self) -> DownloadRequest {
        DownloadRequest {
            files: paths(&self.repo),
            ..self.request(&[])
        }
    }

    fn repo_dir(&self) -> PathBuf {
        self.hub.cache.path().join("models--tiny--sd1")
    }

    fn blob(&self, path: &str) -> PathBuf {
        self.repo_dir()
            .join("blobs")
            .join(self.repo.file(path).etag())
    }

    fn snapshot_entry(&self, path: &str) -> PathBuf {
        self.repo_dir()
            .join("snapshots")
            .join(&self.repo.commit)
            .join(path)
    }

    fn file_requests(&self, path: &str) -> Vec<Option<String>> {
        self.server
            .requests()
            .iter()
            .filter(|r| r.path.ends_with(&format!("/{path}")) || r.path.starts_with("/cdn/"))
            .map(|r| r.range.clone())
            .collect()
    }
}

fn get(hub: &HubConfig, req: &DownloadRequest) -> Result<Downloaded, DownloadError> {
    download(hub, req, &AtomicBool::new(false), &mut |_| {})
}

fn partial_len(path: &Path) -> u64 {
    let mut name = path.as_os_str().to_os_string();
    name.push(".incomplete");
    std::fs::metadata(PathBuf::from(name)).map_or(0, |m| m.len())
}

#[test]
fn full_download_lays_out_the_standard_cache() {
    let f = fixture();
    assert!(f.repo.file(BIG).bytes.len() > 1_000_000);
    let got = get(&f.hub, &f.all()).unwrap();

    assert_eq!(got.commit, f.repo.commit);
    assert_eq!(
        got.snapshot,
        f.repo_dir().join("snapshots").join(&f.repo.commit)
    );
    assert_eq!(got.reused_files, 0);
    let total: usize = f.repo.files.iter().map(|x| x.bytes.len()).sum();
    assert_eq!(got.fetched_bytes, total as u64);
    for file in &f.repo.files {
        let entry = got.snapshot.join(&file.path);
        assert_eq!(std::fs::read(&entry).unwrap(), file.bytes, "{}", file.path);
        assert_eq!(std::fs::read(f.blob(&file.path)).unwrap(), file.bytes);
        #[cfg(unix)]
        {
            let target = std::fs::read_link(&entry).unwrap();
            assert!(target.is_relative(), "{target:?}");
            assert!(target.ends_with(Path::new("blobs").join(file.etag())));
        }
    }
    // LFS blobs are named by sha256, others by git blob id, as huggingface_hub does.
    assert!(f.blob(BIG).ends_with(f.repo.file(BIG).sha256()));
    assert!(f
        .blob("model_index.json")
        .ends_with(f.repo.file("model_index.json").blob_id()));
    let main = std::fs::read_to_string(f.repo_dir().join("refs/main")).unwrap();
    assert_eq!(main, f.repo.commit);
    let leftovers: Vec<_> = std::fs::read_dir(f.repo_dir().join("blobs"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .to_string_lossy()
                .ends_with(".incomplete")
        })
        .collect();
    assert!(leftovers.is_empty());
    // hf_hub (used by models::install) finds the files.
    let found = f
        .hub
        .cache
        .model(REPO.into())
        .get("unet/config.json")
        .unwrap();
    assert_eq!(found, got.snapshot.join("unet/config.json"));
    // One listing, then one plain GET per file, all for the listed commit.
    let log = f.server.requests();
    assert_eq!(log.len(), 1 + f.repo.files.len());
    assert_eq!(log[0].path, "/api/models/tiny/sd1/revision/main?blobs=true");
    assert!(log[1..].iter().all(|r| r.range.is_none()
        && r.path
            .starts_with(&format!("/tiny/sd1/resolve/{}/", f.repo.commit))));
}

#[test]
fn a_cached_download_makes_no_request() {
    let f = fixture();
    let first = get(&f.hub, &f.all()).unwrap();
    f.server.clear_log();
    let second = get(&f.hub, &f.all()).unwrap();
    assert_eq!(second.snapshot, first.snapshot);
    assert_eq!(second.fetched_bytes, 0);
    assert_eq!(second.reused_files, f.repo.files.len());
    let subset = get(&f.hub, &f.request(&["unet/config.json"])).unwrap();
    assert_eq!(subset.snapshot, first.snapshot);
    assert_eq!(
        cached_snapshot(&f.hub, REPO, "main", &paths(&f.repo)),
        Some(first.snapshot.clone())
    );
    assert_eq!(
        cached_snapshot(&f.hub, REPO, &f.repo.commit, &paths(&f.repo)),
        Some(first.snapshot.clone())
    );
    assert_eq!(
        cached_snapshot(&f.hub, REPO, "main", &["nope.txt".into()]),
        None
    );
    assert!(f.server.requests().is_empty(), "{:?}", f.server.requests());

    // A missing snapshot link: one listing, the blob is linked, not fetched.
    std::fs::remove_file(f.snapshot_entry(BIG)).unwrap();
    let relinked = get(&f.hub, &f.all()).unwrap();
    assert_eq!(relinked.fetched_bytes, 0);
    assert_eq!(relinked.reused_files, f.repo.files.len());
    assert_eq!(f.server.requests().len(), 1);
    assert_eq!(
        std::fs::read(f.snapshot_entry(BIG)).unwrap(),
        f.repo.file(BIG).bytes
    );
}

#[test]
fn a_dropped_connection_is_resumed_within_the_call() {
    let f = fixture();
    f.server.drop_after(BIG, 1_000_000, false);
    let got = get(&f.hub, &f.request(&[BIG])).unwrap();
    assert_eq!(
        f.file_requests(BIG),
        vec![None, Some("bytes=1000000-".to_string())]
    );
    assert_eq!(
        std::fs::read(got.snapshot.join(BIG)).unwrap(),
        f.repo.file(BIG).bytes
    );
    assert_eq!(got.fetched_bytes, f.repo.file(BIG).bytes.len() as u64);
}

#[test]
fn without_retries_the_partial_is_kept_and_the_next_call_resumes() {
    let mut f = fixture();
    f.hub.retries = 0;
    f.server.drop_after(BIG, 1_000_000, false);
    let err = get(&f.hub, &f.request(&["unet/config.json", BIG])).unwrap_err();
    assert!(matches!(err, DownloadError::Network { .. }), "{err:?}");
    assert!(
        err.to_string().contains("partial download is kept"),
        "{err}"
    );
    assert_eq!(partial_len(&f.blob(BIG)), 1_000_000);
    assert!(std::fs::symlink_metadata(f.snapshot_entry(BIG)).is_err());
    // The finished file is in the snapshot already.
    assert!(f.snapshot_entry("unet/config.json").is_file());

    let got = get(&f.hub, &f.request(&["unet/config.json", BIG])).unwrap();
    assert_eq!(
        f.file_requests(BIG),
        vec![None, Some("bytes=1000000-".to_string())]
    );
    let size = f.repo.file(BIG).bytes.len() as u64;
    assert_eq!(got.fetched_bytes, size - 1_000_000);
    assert_eq!(got.reused_files, 1);
    assert_eq!(
        std::fs::read(got.snapshot.join(BIG)).unwrap(),
        f.repo.file(BIG).bytes
    );
    assert_eq!(partial_len(&f.blob(BIG)), 0);
}

#[test]
fn a_connection_that_keeps_dropping_still_finishes_with_enough_retries() {
    let mut f = fixture();
    let size = f.repo.file(BIG).bytes.len();
    f.hub.retries = (size / 3_000_000 + 1) as u32;
    f.server.drop_after(BIG, 3_000_000, true);
    let got = get(&f.hub, &f.request(&[BIG])).unwrap();
    let ranges = f.file_requests(BIG);
    assert_eq!(ranges.len(), size.div_ceil(3_000_000));
    assert_eq!(ranges[1], Some("bytes=3000000-".to_string()));
    assert_eq!(
        std::fs::read(got.snapshot.join(BIG)).unwrap(),
        f.repo.file(BIG).bytes
    );
}

#[test]
fn a_corrupt_file_never_enters_the_cache() {
    let f = fixture();
    f.server.corrupt(BIG);
    let err = get(&f.hub, &f.request(&["model_index.json", BIG])).unwrap_err();
    match &err {
        DownloadError::Corrupt {
            file,
            expected,
            actual,
        } => {
            assert_eq!(file, BIG);
            assert!(expected.contains(&f.repo.file(BIG).sha256()));
            assert_ne!(expected, actual);
        }
        other => panic!("{other:?}"),
    }
    assert!(std::fs::symlink_metadata(f.snapshot_entry(BIG)).is_err());
    assert!(!f.blob(BIG).exists());
    assert_eq!(partial_len(&f.blob(BIG)), 0);
    assert!(err.to_string().contains(BIG));
}

#[test]
fn unknown_repositories_and_files_are_reported() {
    let f = fixture();
    let req = DownloadRequest {
        repo: "nobody/nothing".into(),
        ..f.request(&["model_index.json"])
    };
    let err = get(&f.hub, &req).unwrap_err();
    assert!(
        matches!(&err, DownloadError::NotFound { repo, file: None } if repo == "nobody/nothing"),
        "{err:?}"
    );
    assert!(err.to_string().contains("nobody/nothing") && err.to_string().contains("check the id"));

    let err = get(
        &f.hub,
        &f.request(&["model_index.json", "unet/missing.bin"]),
    )
    .unwrap_err();
    assert!(
        matches!(&err, DownloadError::NotFound { file: Some(p), .. } if p == "unet/missing.bin"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "tiny/sd1 has no file unet/missing.bin");

    let req = DownloadRequest {
        revision: "no-such-branch".into(),
        ..f.request(&["model_index.json"])
    };
    let err = get(&f.hub, &req).unwrap_err();
    assert!(
        matches!(err, DownloadError::RevisionNotFound { .. }),
        "{err:?}"
    );
    // Nothing was downloaded: only listings were asked for.
    assert!(f
        .server
        .requests()
        .iter()
        .all(|r| r.path.starts_with("/api/")));
}

#[test]
fn a_gated_repository_needs_the_token() {
    let mut f = fixture();
    f.server.require_token("hf_secret");
    let err = get(&f.hub, &f.all()).unwrap_err();
    assert!(
        matches!(&err, DownloadError::Unauthorized { repo } if repo == REPO),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(REPO) && msg.contains("HF_TOKEN"), "{msg}");
    let err = list_repo(&f.hub, REPO, "main").unwrap_err();
    assert!(matches!(err, DownloadError::Unauthorized { .. }));

    f.hub.token = Some("hf_secret".into());
    f.server.clear_log();
    let got = get(&f.hub, &f.all()).unwrap();
    assert!(got.snapshot.join(BIG).is_file());
    assert!(f
        .server
        .requests()
        .iter()
        .all(|r| r.authorization.as_deref() == Some("Bearer hf_secret")));
}

#[test]
fn the_token_is_not_sent_to_a_cdn_on_another_host() {
    let mut f = fixture();
    f.server.require_token("hf_secret");
    f.server.redirect_lfs_to_cdn();
    f.hub.token = Some("hf_secret".into());
    let got = get(&f.hub, &f.all()).unwrap();
    assert_eq!(
        std::fs::read(got.snapshot.join(BIG)).unwrap(),
        f.repo.file(BIG).bytes
    );
    let log = f.server.requests();
    let cdn: Vec<_> = log.iter().filter(|r| r.path.starts_with("/cdn/")).collect();
    let lfs = f.repo.files.iter().filter(|x| x.lfs).count();
    assert_eq!(cdn.len(), lfs);
    for r in &cdn {
        assert!(r.host.starts_with("localhost:"), "{r:?}");
        assert_eq!(r.authorization, None, "{r:?}");
    }
    for r in log.iter().filter(|r| !r.path.starts_with("/cdn/")) {
        assert_eq!(
            r.authorization.as_deref(),
            Some("Bearer hf_secret"),
            "{r:?}"
        );
    }
}

#[test]
fn offline_uses_the_cache_or_says_why_not() {
    let mut f = fixture();
    f.hub.offline = true;
    let err = get(&f.hub, &f.all()).unwrap_err();
    assert!(
        matches!(&err, DownloadError::Offline { repo } if repo == REPO),
        "{err:?}"
    );
    assert!(err.to_string().contains("HF_HUB_OFFLINE"));
    assert!(matches!(
        list_repo(&f.hub, REPO, "main"),
        Err(DownloadError::Offline { .. })
    ));
    assert!(f.server.requests().is_empty());

    f.hub.offline = false;
    let online = get(&f.hub, &f.all()).unwrap();
    f.server.clear_log();
    f.hub.offline = true;
    let offline = get(&f.hub, &f.all()).unwrap();
    assert_eq!(offline.snapshot, online.snapshot);
    assert!(f.server.requests().is_empty());
    // Cached, but not everything asked for: still offline.
    let err = get(&f.hub, &f.request(&["unet/config.json", "extra.txt"])).unwrap_err();
    assert!(matches!(err, DownloadError::Offline { .. }));
    assert!(f.server.requests().is_empty());
}

#[test]
fn cancelling_keeps_the_partial_for_a_later_resume() {
    let f = fixture();
    f.server.set_chunk_delay(Duration::from_millis(3));
    let cancel = AtomicBool::new(false);
    let mut cancelled_at = 0;
    let err = download(&f.hub, &f.request(&[BIG]), &cancel, &mut |p| {
        if p.file == BIG && p.file_done > 0 && p.file_done < p.file_total {
            cancelled_at = p.file_done;
            cancel.store(true, Ordering::Relaxed);
        }
    })
    .unwrap_err();
    assert!(matches!(err, DownloadError::Cancelled), "{err:?}");
    assert!(cancelled_at > 0);
    let kept = partial_len(&f.blob(BIG));
    let size = f.repo.file(BIG).bytes.len() as u64;
    assert!(kept >= cancelled_at && kept < size, "{kept} of {size}");
    assert!(std::fs::symlink_metadata(f.snapshot_entry(BIG)).is_err());

    f.server.set_chunk_delay(Duration::ZERO);
    let got = get(&f.hub, &f.request(&[BIG])).unwrap();
    assert_eq!(
        f.file_requests(BIG).last().unwrap().as_deref(),
        Some(format!("bytes={kept}-").as_str())
    );
    assert_eq!(got.fetched_bytes, size - kept);
    assert_eq!(
        std::fs::read(got.snapshot.join(BIG)).unwrap(),
        f.repo.file(BIG).bytes
    );

    // A raised flag stops a call before any request.
    f.server.clear_log();
    let cancel = AtomicBool::new(true);
    let req = f.request(&["unet/config.json", "extra.txt"]);
    let err = download(&f.hub, &req, &cancel, &mut |_| {}).unwrap_err();
    assert!(matches!(err, DownloadError::Cancelled));
    assert!(f.server.requests().is_empty());
}

#[test]
fn progress_is_monotonic_throttled_and_ends_at_the_total() {
    let f = fixture();
    f.server.set_chunk_delay(Duration::from_millis(1));
    // A partial from an earlier run counts as done from the start.
    f.server.drop_after(BIG, 500_000, false);
    let mut hub = f.hub.clone();
    hub.retries = 0;
    assert!(get(&hub, &f.request(&[BIG])).is_err());

    let mut reports: Vec<DownloadProgress> = Vec::new();
    let start = Instant::now();
    let got = download(&f.hub, &f.all(), &AtomicBool::new(false), &mut |p| {
        reports.push(p.clone())
    })
    .unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    let total: u64 = f.repo.files.iter().map(|x| x.bytes.len() as u64).sum();
    assert_eq!(got.fetched_bytes, total - 500_000);
    assert!(reports.windows(2).all(|w| w[0].done <= w[1].done));
    let last = reports.last().unwrap();
    assert_eq!((last.done, last.total), (total, total));
    for file in &f.repo.files {
        let size = file.bytes.len() as u64;
        assert!(
            reports
                .iter()
                .any(|p| p.file == file.path && p.file_done == size && p.file_total == size),
            "no final report for {}",
            file.path
        );
    }
    assert!(reports.iter().all(|p| p.total == total
        && p.file_done <= p.file_total
        && p.bytes_per_sec.is_finite()
        && p.bytes_per_sec >= 0.0));
    // At most ~10 a second plus one per file.
    let limit = f.repo.files.len() + (elapsed * 10.0).ceil() as usize + 2;
    assert!(
        reports.len() <= limit,
        "{} reports in {elapsed:.2}s",
        reports.len()
    );
    // The big file (~0.3 s with the delay) got reports with a speed and an ETA.
    assert!(reports.iter().any(|p| p.file == BIG
        && p.file_done < p.file_total
        && p.bytes_per_sec > 0.0
        && p.eta.is_some()));
}

#[test]
fn hostile_or_absurd_listings_are_refused() {
    let f = fixture();
    let commit = &f.repo.commit;
    let cases = [
        format!(
            r#"{{"sha":"{commit}","siblings":[{{"rfilename":"../../../evil","blobId":"{commit}","size":4}}]}}"#
        ),
        format!(
            r#"{{"sha":"{commit}","siblings":[{{"rfilename":"/etc/evil","blobId":"{commit}","size":4}}]}}"#
        ),
        r#"{"sha":"../../evil","siblings":[]}"#.to_string(),
        "<html>not json</html>".to_string(),
    ];
    for body in &cases {
        f.server.set_listing(body);
        let req = f.request(&["evil"]);
        let err = get(&f.hub, &req).unwrap_err();
        assert!(
            matches!(err, DownloadError::BadResponse { .. }),
            "{body}: {err:?}"
        );
    }
    // Nothing escaped the cache.
    let names: Vec<_> = std::fs::read_dir(f.cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(names.iter().all(|n| n == "hub"), "{names:?}");
    assert!(!f.cache.path().join("evil").exists());

    // A size no disk has: refused before any transfer.
    let sha = "ab".repeat(32);
    f.server.set_listing(&format!(
        r#"{{"sha":"{commit}","siblings":[{{"rfilename":"huge.safetensors","size":18000000000000000000,"lfs":{{"sha256":"{sha}","size":18000000000000000000}}}}]}}"#
    ));
    f.server.clear_log();
    let err = get(&f.hub, &f.request(&["huge.safetensors"])).unwrap_err();
    match &err {
        DownloadError::DiskFull { needed, path, .. } => {
            assert!(*needed >= 18_000_000_000_000_000_000);
            assert_eq!(path, f.hub.cache.path());
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("HF_HOME"), "{err}");
    assert_eq!(f.server.requests().len(), 1);
}

#[test]
fn bad_requests_are_refused_without_network() {
    let f = fixture();
    for (repo, file) in [
        ("../etc", "x"),
        ("a/b/c", "x"),
        (REPO, "../x"),
        (REPO, "/etc/passwd"),
    ] {
        let req = DownloadRequest {
            repo: repo.into(),
            revision: "main".into(),
            files: vec![file.into()],
            optional: Vec::new(),
        };
        let err = get(&f.hub, &req).unwrap_err();
        assert!(
            matches!(err, DownloadError::InvalidRequest(_)),
            "{repo} {file}: {err:?}"
        );
    }
    assert!(f.server.requests().is_empty());
}

#[test]
fn a_commit_revision_and_a_whole_repository() {
    let f = fixture();
    let req = DownloadRequest {
        repo: REPO.into(),
        revision: f.repo.commit.clone(),
        files: vec![],
        optional: Vec::new(),
    };
    let got = get(&f.hub, &req).unwrap();
    assert_eq!(got.commit, f.repo.commit);
    for file in &f.repo.files {
        assert!(got.snapshot.join(&file.path).is_file());
    }
    // huggingface_hub writes no ref for a commit.
    assert!(!f.repo_dir().join("refs").join(&f.repo.commit).exists());
    f.server.clear_log();
    let again = get(
        &f.hub,
        &DownloadRequest {
            files: paths(&f.repo),
            ..req
        },
    )
    .unwrap();
    assert_eq!(again.snapshot, got.snapshot);
    assert!(f.server.requests().is_empty());
}

#[test]
fn from_env_reads_a_sane_configuration() {
    // Only reads the environment (tests run in parallel threads).
    let hub = HubConfig::from_env();
    assert!(hub.endpoint.starts_with("http") && !hub.endpoint.ends_with('/'));
    assert!(hub.retries > 0);
    match std::env::var("HF_HUB_CACHE") {
        Ok(dir) if !dir.is_empty() => assert_eq!(hub.cache.path(), Path::new(&dir)),
        _ => assert!(hub.cache.path().ends_with("hub")),
    }
}

#[test]
fn optional_files_are_fetched_when_present_and_skipped_when_not() {
    let f = fixture();
    let req = DownloadRequest {
        optional: vec![
            "scheduler/scheduler_config.json".into(),
            "tokenizer/special_tokens_map.json".into(),
        ],
        ..f.request(&["model_index.json"])
    };
    let done = get(&f.hub, &req).unwrap();
    assert!(done
        .snapshot
        .join("scheduler/scheduler_config.json")
        .is_file());
    assert!(!done
        .snapshot
        .join("tokenizer/special_tokens_map.json")
        .exists());
    // The required file alone makes it cached: no request the second time.
    f.server.clear_log();
    get(&f.hub, &req).unwrap();
    assert!(f.server.requests().is_empty());
}

/// The regression behind "downloaded, then not found offline": a repository
/// listed to choose its pipeline files must still be recorded under the
/// branch it was asked for (`refs/main`), exactly as huggingface_hub writes
/// it, or neither we nor diffusers find it again with `HF_HUB_OFFLINE=1`.
#[test]
fn a_listed_pipeline_download_records_its_branch_for_offline_use() {
    use latent_studio::hub::download_listed;
    use latent_studio::models::install::pipeline_request;
    let f = fixture();
    let (req, listing) = pipeline_request(&f.hub, REPO, "main", false).unwrap();
    assert_eq!(req.revision, "main");
    let got =
        download_listed(&f.hub, &req, &listing, &AtomicBool::new(false), &mut |_| {}).unwrap();
    let main = f.repo_dir().join("refs").join("main");
    // 40 hex digits and no newline: huggingface_hub reads the file verbatim.
    assert_eq!(std::fs::read_to_string(&main).unwrap(), f.repo.commit);
    let offline = HubConfig {
        offline: true,
        ..f.hub.clone()
    };
    f.server.clear_log();
    assert_eq!(
        cached_snapshot(&offline, REPO, "main", &req.files),
        Some(got.snapshot.clone())
    );
    assert!(get(&offline, &req).is_ok());
    assert!(f.server.requests().is_empty());

    // A commit asked for by hash gets no ref of its own.
    let (by_commit, listing) = pipeline_request(&f.hub, REPO, &f.repo.commit, false).unwrap();
    download_listed(
        &f.hub,
        &by_commit,
        &listing,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap();
    let refs: Vec<_> = std::fs::read_dir(f.repo_dir().join("refs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(refs, ["main"]);

    // A listing of another repository is refused, not mixed in.
    let other = DownloadRequest {
        repo: "someone/else".into(),
        ..req.clone()
    };
    assert!(matches!(
        download_listed(
            &f.hub,
            &other,
            &listing,
            &AtomicBool::new(false),
            &mut |_| {}
        ),
        Err(DownloadError::InvalidRequest(_))
    ));
}

/// huggingface_hub 1.17 and later write each download to
/// `{etag}.{8 hex}.incomplete` and never resume one; a process killed
/// mid-file leaves it behind. We resume from the longest such partial.
#[test]
fn a_partial_left_by_a_killed_huggingface_hub_is_resumed() {
    let f = fixture();
    let blob = f.blob(BIG);
    let bytes = &f.repo.file(BIG).bytes;
    std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
    let leftover = |tag: &str| {
        let mut name = blob.as_os_str().to_os_string();
        name.push(format!(".{tag}.incomplete"));
        PathBuf::from(name)
    };
    std::fs::write(leftover("0a1b2c3d"), &bytes[..700_000]).unwrap();
    std::fs::write(leftover("9f8e7d6c"), &bytes[..300_000]).unwrap();
    // Not huggingface_hub's pattern: left alone.
    let unrelated = blob.with_file_name("notes.incomplete");
    std::fs::write(&unrelated, b"x").unwrap();

    let got = get(&f.hub, &f.request(&[BIG])).unwrap();
    assert_eq!(
        f.file_requests(BIG),
        vec![Some("bytes=700000-".to_string())]
    );
    assert_eq!(got.fetched_bytes, bytes.len() as u64 - 700_000);
    assert_eq!(&std::fs::read(got.snapshot.join(BIG)).unwrap(), bytes);
    assert!(!leftover("0a1b2c3d").exists() && !leftover("9f8e7d6c").exists());
    assert_eq!(partial_len(&blob), 0);
    assert!(unrelated.exists());
}

/// huggingface_hub fetches a file anew when we were interrupted (it never
/// resumes), which leaves our partial behind; the next call removes it.
#[test]
fn a_partial_of_a_finished_blob_is_swept_away() {
    let f = fixture();
    get(&f.hub, &f.request(&[BIG])).unwrap();
    let blob = f.blob(BIG);
    let mut ours = blob.as_os_str().to_os_string();
    ours.push(".incomplete");
    std::fs::write(&ours, b"stale").unwrap();
    f.server.clear_log();
    get(&f.hub, &f.request(&[BIG])).unwrap();
    assert!(f.server.requests().is_empty());
    assert!(!PathBuf::from(ours).exists());
    assert!(blob.is_file());
}

/// The Python side of [`the_real_huggingface_hub_client_shares_the_cache`]:
/// one action per run, the answer as one JSON line.
const PY_CLIENT: &str = r#"
import json, os, sys
from huggingface_hub import hf_hub_download, scan_cache_dir, snapshot_download, try_to_load_from_cache
action, repo, big = sys.argv[1], sys.argv[2], sys.argv[3]
if action == "download":
    out = {"snapshot": snapshot_download(repo)}
    try:
        hf_hub_download(repo, "no/such/file.txt")
    except Exception as e:
        out["missing"] = type(e).__name__
elif action == "hold-lock":
    # What huggingface_hub does around writing a blob: its lock, then the file.
    import shutil, time
    from huggingface_hub.utils import WeakFileLock
    lock, blob, source = sys.argv[4:7]
    os.makedirs(os.path.dirname(blob), exist_ok=True)
    with WeakFileLock(lock):
        print("locked", flush=True)
        time.sleep(1.0)
        shutil.copyfile(source, blob + ".tmp")
        os.replace(blob + ".tmp", blob)
    out = {}
elif action == "offline":
    out = {
        "snapshot": snapshot_download(repo, local_files_only=True),
        "big": hf_hub_download(repo, big, local_files_only=True),
    }
    info = scan_cache_dir()
    out["warnings"] = [str(w) for w in info.warnings]
    out["repos"] = [[r.repo_id, r.size_on_disk, sorted(r.refs)] for r in info.repos]
print(json.dumps(out))
"#;

/// Our stand-in hub and our cache layout against the real huggingface_hub
/// client, both ways: what Python downloads we use offline with no request,
/// what we download Python loads offline and its strict cache scanner
/// accepts. Needs Python with huggingface_hub, named by
/// `LATENT_STUDIO_INTEROP_PYTHON`; `scripts/hub_interop/run.sh` runs it.
#[test]
#[ignore = "needs Python with huggingface_hub; run by scripts/hub_interop/run.sh"]
fn the_real_huggingface_hub_client_shares_the_cache() {
    let python = std::env::var("LATENT_STUDIO_INTEROP_PYTHON")
        .expect("set LATENT_STUDIO_INTEROP_PYTHON to a Python with huggingface_hub");
    let f = fixture();
    f.server.redirect_lfs_to_cdn();
    let py = |action: &str, cache: &Path| -> serde_json::Value {
        let out = std::process::Command::new(&python)
            .args(["-c", PY_CLIENT, action, REPO, BIG])
            .env("HF_ENDPOINT", f.server.endpoint())
            .env("HF_HUB_CACHE", cache)
            .env("HF_HUB_DISABLE_TELEMETRY", "1")
            .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            .env_remove("HF_HUB_OFFLINE")
            .env_remove("HF_TOKEN")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap()
    };

    // Python downloads; we find every file offline and make no request.
    let python_cache = f.cache.path().join("python");
    let got = py("download", &python_cache);
    // A 404 with the commit: Python records the absence, beside our files.
    assert!(got["missing"]
        .as_str()
        .unwrap()
        .ends_with("EntryNotFoundError"));
    let no_exist = python_cache.join("models--tiny--sd1/.no_exist");
    assert!(no_exist
        .join(&f.repo.commit)
        .join("no/such/file.txt")
        .is_file());
    let ours = HubConfig {
        cache: hf_hub::Cache::new(python_cache.clone()),
        offline: true,
        ..f.hub.clone()
    };
    f.server.clear_log();
    let found = get(&ours, &f.all()).unwrap();
    assert_eq!(
        found.snapshot,
        PathBuf::from(got["snapshot"].as_str().unwrap())
    );
    assert_eq!(found.fetched_bytes, 0);
    assert!(f.server.requests().is_empty());

    // We download; Python finds it offline and its cache scanner is content.
    let our_cache = f.cache.path().join("ours");
    let hub = HubConfig {
        cache: hf_hub::Cache::new(our_cache.clone()),
        ..f.hub.clone()
    };
    let done = get(&hub, &f.all()).unwrap();
    f.server.clear_log();
    let seen = py("offline", &our_cache);
    assert!(f.server.requests().is_empty());
    assert_eq!(
        PathBuf::from(seen["snapshot"].as_str().unwrap()),
        done.snapshot
    );
    let big = std::fs::read(seen["big"].as_str().unwrap()).unwrap();
    assert_eq!(big, f.repo.file(BIG).bytes);
    assert_eq!(seen["warnings"], serde_json::json!([]), "{seen}");
    let size: usize = f.repo.files.iter().map(|f| f.bytes.len()).sum();
    assert_eq!(seen["repos"], serde_json::json!([[REPO, size, ["main"]]]));

    // The same lock files: while Python holds a blob's lock and writes it,
    // we wait, then find it finished and fetch nothing of it.
    let shared = f.cache.path().join("shared");
    let big = f.repo.file(BIG);
    let source = f.cache.path().join("big.source");
    std::fs::write(&source, &big.bytes).unwrap();
    let repo_folder = shared.join("models--tiny--sd1");
    let mut holder = std::process::Command::new(&python)
        .args(["-c", PY_CLIENT, "hold-lock", REPO, BIG])
        .arg(
            shared
                .join(".locks/models--tiny--sd1")
                .join(format!("{}.lock", big.etag())),
        )
        .arg(repo_folder.join("blobs").join(big.etag()))
        .arg(&source)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = std::io::BufReader::new(holder.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut said, &mut line).unwrap();
    assert_eq!(line.trim(), "locked");
    f.server.clear_log();
    let hub = HubConfig {
        cache: hf_hub::Cache::new(shared.clone()),
        ..f.hub.clone()
    };
    let got = get(&hub, &f.request(&[BIG])).unwrap();
    std::io::Read::read_to_string(&mut said, &mut line).unwrap();
    assert!(holder.wait().unwrap().success());
    assert_eq!((got.fetched_bytes, got.reused_files), (0, 1));
    assert!(f.file_requests(BIG).is_empty());
    assert_eq!(std::fs::read(got.snapshot.join(BIG)).unwrap(), big.bytes);
}

/// A hub repository's pipeline files are worked out from its listing: the
/// built-in model served as one brings its own preview map along, and not
/// its license and model card (nor anything else the loader does not read).
#[test]
fn a_pipeline_request_takes_what_the_loader_reads() {
    use latent_studio::models::install::pipeline_request;
    let folder = latent_studio::models::builtin::folder().expect("assets/mini-emoji");
    let server = HubServer::start(vec![HubRepo::new("acme/emoji", HubRepo::read_dir(&folder))]);
    let hub = HubConfig {
        endpoint: server.endpoint(),
        ..fixture().hub
    };
    let (req, listing) = pipeline_request(&hub, "acme/emoji", "main", false).unwrap();
    assert_eq!(listing.repo, "acme/emoji");
    for wanted in [
        "model_index.json",
        "scheduler/scheduler_config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "vae/latent_preview.json",
        "text_encoder/model.safetensors",
        "tokenizer/vocab.json",
    ] {
        assert!(
            req.files.iter().any(|f| f == wanted),
            "{wanted}: {:?}",
            req.files
        );
    }
    for skipped in ["LICENSE", "NOTICE", "README.md"] {
        assert!(!req.files.iter().any(|f| f == skipped), "{skipped}");
    }
}
