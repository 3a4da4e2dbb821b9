//! HTTP to the hub: one ureq agent, redirects followed by hand so the token
//! goes to the hub's host only (never to a CDN on another host), the hub's
//! error statuses mapped to [`DownloadError`], and the repository listing.

use std::time::Duration;

use serde::Deserialize;
use ureq::http::{Response, Uri};
use ureq::Body;

use super::names::{is_hex, is_safe_relative};
use super::{DownloadError, HubConfig, RepoFile, RepoListing};

const MAX_REDIRECTS: usize = 10;
/// The largest listing we read (big repositories list thousands of files).
const MAX_LISTING_BYTES: u64 = 64 << 20;

/// An HTTP client bound to one hub endpoint and token.
pub(super) struct Client {
    agent: ureq::Agent,
    endpoint: String,
    token: Option<String>,
}

impl Client {
    pub(super) fn new(hub: &HubConfig) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("latent-studio/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Client {
            agent,
            endpoint: hub.endpoint.trim_end_matches('/').to_string(),
            token: hub.token.clone().filter(|t| !t.is_empty()),
        }
    }

    /// The endpoint without a trailing slash.
    pub(super) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A [`DownloadError::Network`] for `url`.
    pub(super) fn network(&self, url: &str, reason: impl ToString) -> DownloadError {
        DownloadError::Network {
            url: url.to_string(),
            reason: reason.to_string(),
            endpoint: self.endpoint.clone(),
        }
    }

    /// GET `url`, following redirects; `range_from` asks for the bytes from
    /// that offset on. Returns the final (non-redirect) response and its URL.
    pub(super) fn get(
        &self,
        url: &str,
        range_from: Option<u64>,
    ) -> Result<(Response<Body>, String), DownloadError> {
        let hub = authority(&self.endpoint);
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let mut request = self.agent.get(&url).header("Accept-Encoding", "identity");
            if let Some(from) = range_from {
                request = request.header("Range", format!("bytes={from}-"));
            }
            if let Some(token) = &self.token {
                if hub.is_some() && authority(&url) == hub {
                    request = request.header("Authorization", format!("Bearer {token}"));
                }
            }
            let response = request.call().map_err(|e| self.network(&url, e))?;
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                let location =
                    header(&response, "location").ok_or_else(|| DownloadError::BadResponse {
                        url: url.clone(),
                        reason: format!("redirect ({status}) without a Location"),
                    })?;
                url = join_url(&url, location).ok_or_else(|| DownloadError::BadResponse {
                    url: url.clone(),
                    reason: format!("unusable redirect to {location:?}"),
                })?;
                continue;
            }
            return Ok((response, url));
        }
        Err(DownloadError::BadResponse {
            url,
            reason: "too many redirects".into(),
        })
    }
}

/// A response header as text.
pub(super) fn header<'a>(response: &'a Response<Body>, name: &str) -> Option<&'a str> {
    response.headers().get(name)?.to_str().ok()
}

/// (scheme, lower-case host, port) of a URL: the token goes only where this
/// equals the endpoint's.
fn authority(url: &str) -> Option<(String, String, u16)> {
    let uri: Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(match scheme.as_str() {
        "https" => 443,
        _ => 80,
    });
    Some((scheme, uri.host()?.to_ascii_lowercase(), port))
}

/// Resolve a redirect's Location against the URL that answered it.
fn join_url(base: &str, location: &str) -> Option<String> {
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some(location.to_string());
    }
    let uri: Uri = base.parse().ok()?;
    let scheme = uri.scheme_str()?;
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{scheme}://{rest}"));
    }
    let origin = format!("{scheme}://{}", uri.authority()?);
    if location.starts_with('/') {
        return Some(format!("{origin}{location}"));
    }
    let path = uri.path();
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    Some(format!("{origin}{dir}{location}"))
}

/// The error for a non-success status, using the hub's `X-Error-Code`.
pub(super) fn status_error(
    response: &Response<Body>,
    url: &str,
    repo: &str,
    revision: &str,
    file: Option<&str>,
) -> DownloadError {
    let status = response.status().as_u16();
    let not_found = |file: Option<&str>| DownloadError::NotFound {
        repo: repo.to_string(),
        file: file.map(str::to_string),
    };
    match (status, header(response, "x-error-code")) {
        (_, Some("RepositoryNotFound")) => not_found(None),
        (_, Some("RevisionNotFound")) => DownloadError::RevisionNotFound {
            repo: repo.to_string(),
            revision: revision.to_string(),
        },
        (_, Some("EntryNotFound")) => not_found(file),
        (_, Some("GatedRepo")) | (401 | 403, _) => DownloadError::Unauthorized {
            repo: repo.to_string(),
        },
        (404, _) => not_found(file),
        (status, _) => DownloadError::Server {
            url: url.to_string(),
            status,
        },
    }
}

/// Percent-encode everything but unreserved characters (and `/` if `keep_slash`).
pub(super) fn quote(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Deserialize)]
struct ApiInfo {
    sha: Option<String>,
    siblings: Option<Vec<ApiSibling>>,
}

#[derive(Deserialize)]
struct ApiSibling {
    rfilename: String,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    size: Option<u64>,
    lfs: Option<ApiLfs>,
}

#[derive(Deserialize)]
struct ApiLfs {
    sha256: String,
    size: Option<u64>,
}

/// One listing request: `GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true`.
pub(super) fn fetch_listing(
    client: &Client,
    repo: &str,
    revision: &str,
) -> Result<RepoListing, DownloadError> {
    let url = format!(
        "{}/api/models/{repo}/revision/{}?blobs=true",
        client.endpoint(),
        quote(revision, false)
    );
    let (response, url) = client.get(&url, None)?;
    if response.status().as_u16() != 200 {
        return Err(status_error(&response, &url, repo, revision, None));
    }
    let bytes = response
        .into_body()
        .into_with_config()
        .limit(MAX_LISTING_BYTES)
        .read_to_vec()
        .map_err(|e| client.network(&url, e))?;
    parse_listing(&bytes, repo).map_err(|reason| DownloadError::BadResponse { url, reason })
}

/// Parse and check the hub's JSON: a commit hash, safe file names, hex etags.
fn parse_listing(bytes: &[u8], repo: &str) -> Result<RepoListing, String> {
    let info: ApiInfo = serde_json::from_slice(bytes).map_err(|e| format!("bad JSON: {e}"))?;
    let commit = info.sha.ok_or("no commit hash (\"sha\")")?;
    if !is_hex(&commit, 40) {
        return Err(format!("{commit:?} is not a commit hash"));
    }
    let mut files = Vec::new();
    for s in info.siblings.ok_or("no file list (\"siblings\")")? {
        if !is_safe_relative(&s.rfilename) {
            return Err(format!("refusing the file name {:?}", s.rfilename));
        }
        let blob_id = s.blob_id.unwrap_or_default().to_ascii_lowercase();
        let (size, sha256) = match s.lfs {
            Some(lfs) => {
                if !is_hex(&lfs.sha256, 64) {
                    return Err(format!("{}: bad LFS sha256 {:?}", s.rfilename, lfs.sha256));
                }
                (lfs.size.or(s.size), Some(lfs.sha256.to_ascii_lowercase()))
            }
            None => {
                if !is_hex(&blob_id, 40) {
                    return Err(format!("{}: bad blob id {blob_id:?}", s.rfilename));
                }
                (s.size, None)
            }
        };
        let size = size.ok_or_else(|| format!("{}: no size", s.rfilename))?;
        files.push(RepoFile {
            path: s.rfilename,
            size,
            sha256,
            blob_id,
        });
    }
    Ok(RepoListing {
        repo: repo.to_string(),
        commit: commit.to_ascii_lowercase(),
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_resolve() {
        let base = "https://huggingface.co/o/n/resolve/main/unet/x.bin";
        assert_eq!(
            join_url(base, "https://cdn.example/a?b=1").unwrap(),
            "https://cdn.example/a?b=1"
        );
        assert_eq!(
            join_url(base, "/api/resolve-cache/x").unwrap(),
            "https://huggingface.co/api/resolve-cache/x"
        );
        assert_eq!(join_url(base, "//cdn.x/y").unwrap(), "https://cdn.x/y");
        assert_eq!(
            join_url(base, "y.bin").unwrap(),
            "https://huggingface.co/o/n/resolve/main/unet/y.bin"
        );
    }

    #[test]
    fn token_only_for_the_hub_host() {
        let hub = authority("https://huggingface.co");
        assert_eq!(authority("https://HuggingFace.co:443/x/y"), hub);
        assert_ne!(authority("https://cdn-lfs.huggingface.co/x"), hub);
        assert_ne!(authority("http://huggingface.co/x"), hub);
        assert_ne!(
            authority("http://127.0.0.1:8080/x"),
            authority("http://localhost:8080/")
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("refs/pr/1", false), "refs%2Fpr%2F1");
        assert_eq!(quote("unet/a b.json", true), "unet/a%20b.json");
    }

    #[test]
    fn hostile_listings_are_refused() {
        let commit = "a".repeat(40);
        let ok = format!(
            r#"{{"sha":"{commit}","siblings":[{{"rfilename":"a.json","blobId":"{}","size":3}}]}}"#,
            "b".repeat(40)
        );
        assert_eq!(parse_listing(ok.as_bytes(), "o/n").unwrap().files.len(), 1);
        for bad in [
            "not json".to_string(),
            "{}".to_string(),
            r#"{"sha":"../../x","siblings":[]}"#.to_string(),
            format!(r#"{{"sha":"{commit}"}}"#),
            format!(
                r#"{{"sha":"{commit}","siblings":[{{"rfilename":"../x","blobId":"{commit}","size":1}}]}}"#
            ),
            format!(
                r#"{{"sha":"{commit}","siblings":[{{"rfilename":"x","blobId":"../../y","size":1}}]}}"#
            ),
            format!(
                r#"{{"sha":"{commit}","siblings":[{{"rfilename":"x","blobId":"{commit}","size":-1}}]}}"#
            ),
            format!(
                r#"{{"sha":"{commit}","siblings":[{{"rfilename":"x","blobId":"{commit}","size":1e40}}]}}"#
            ),
            format!(r#"{{"sha":"{commit}","siblings":[{{"rfilename":"x","blobId":"{commit}"}}]}}"#),
            format!(
                r#"{{"sha":"{commit}","siblings":[{{"rfilename":"x","size":1,"lfs":{{"sha256":"../x","size":1}}}}]}}"#
            ),
        ] {
            assert!(parse_listing(bad.as_bytes(), "o/n").is_err(), "{bad}");
        }
    }
}
