#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub, for interop checks, screenshots and
manual tries: serves the files of a local diffusers folder as one model
repository and answers the requests the real `huggingface_hub` client (and
so diffusers) and latent-studio make:

    GET  /api/models/{repo}[/revision/{rev}][?blobs=true]   model info, `siblings`
    GET  /api/models/{repo}/tree/{rev}[/{path}][?recursive=true]
    HEAD /{repo}/resolve/{rev}/{path}    X-Repo-Commit, ETag, X-Linked-Etag/-Size
    GET  /{repo}/resolve/{rev}/{path}    Range requests answered with 206
    GET  /cdn/{sha256}                   where LFS files redirect to, as on the hub

`rev` is `main` or the commit. Git blob ids are real (SHA-1 of the git blob
header and contents); LFS files (weights) carry their SHA-256 and the size of
their pointer file. Missing files answer 404 with `X-Error-Code:
EntryNotFound` and the commit, which is how huggingface_hub learns to write
`.no_exist` entries.

    scripts/fake_hub.py FOLDER REPO_ID [--port 8765] [--rate 2000000] [--log FILE]
    HF_ENDPOINT=http://127.0.0.1:8765 latent-studio models download REPO_ID

`--rate` limits bytes per second per response (0: unlimited) so a download
can be watched or interrupted; `--log` appends one JSON line per response
(method, path, range, status, body bytes actually sent), which the interop
check reads to prove what was and was not fetched. `--port 0` picks a free
port; the first line printed is the endpoint.
"""

import argparse
import hashlib
import http.server
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs, unquote, urlsplit

# What the hub's default .gitattributes stores with git LFS.
LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".onnx", ".msgpack", ".h5", ".gguf")


def read_files(root):
    files = {}
    for dirpath, dirnames, names in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            with open(path, "rb") as f:
                files[rel] = f.read()
    return files


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256, size):
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


class Repo:
    """One repository at one commit."""

    def __init__(self, repo_id, files):
        self.id = repo_id
        self.files = {}
        for path, data in files.items():
            entry = {"data": data, "size": len(data)}
            if path.endswith(LFS_SUFFIXES):
                sha = hashlib.sha256(data).hexdigest()
                pointer = lfs_pointer(sha, len(data))
                entry.update(lfs=True, sha256=sha, blob_id=git_blob_id(pointer), pointer_size=len(pointer))
            else:
                entry.update(lfs=False, blob_id=git_blob_id(data))
            self.files[path] = entry
        digest = hashlib.sha1(repo_id.encode())
        for path in sorted(self.files):
            digest.update(path.encode() + b"\0" + self.files[path]["blob_id"].encode())
        self.commit = digest.hexdigest()

    def etag(self, f):
        return f["sha256"] if f["lfs"] else f["blob_id"]

    def info(self, blobs):
        siblings = []
        for path in sorted(self.files):
            f = self.files[path]
            s = {"rfilename": path}
            if blobs:
                s.update(blobId=f["blob_id"], size=f["size"])
                if f["lfs"]:
                    s["lfs"] = {"sha256": f["sha256"], "size": f["size"], "pointerSize": f["pointer_size"]}
            siblings.append(s)
        return {
            "_id": self.commit[:24],
            "id": self.id,
            "modelId": self.id,
            "author": self.id.split("/")[0],
            "sha": self.commit,
            "lastModified": "2026-01-01T00:00:00.000Z",
            "createdAt": "2026-01-01T00:00:00.000Z",
            "private": False,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": ["diffusers", "text-to-image"],
            "library_name": "diffusers",
            "pipeline_tag": "text-to-image",
            "siblings": siblings,
        }

    def tree(self, folder, recursive):
        prefix = folder + "/" if folder else ""
        entries, folders = [], set()
        for path in sorted(self.files):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            parts = rest.split("/")
            for depth in range(1, len(parts)):
                if depth > 1 and not recursive:
                    break
                folders.add(prefix + "/".join(parts[:depth]))
            if len(parts) > 1 and not recursive:
                continue
            f = self.files[path]
            e = {"type": "file", "oid": f["blob_id"], "size": f["size"], "path": path}
            if f["lfs"]:
                e["lfs"] = {"oid": f["sha256"], "size": f["size"], "pointerSize": f["pointer_size"]}
            entries.append(e)
        dirs = [
            {"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d}
            for d in sorted(folders)
        ]
        return dirs + entries


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("repo")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--rate", type=int, default=2_000_000, help="bytes per second per response; 0 = unlimited")
    ap.add_argument("--log", help="append one JSON line per response to this file")
    args = ap.parse_args()

    repo = Repo(args.repo, read_files(args.folder))
    log_lock = threading.Lock()

    class Hub(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self):
            self.route(head=True)

        def do_GET(self):
            self.route(head=False)

        def route(self, head):
            url = urlsplit(self.path)
            path, query = unquote(url.path), parse_qs(url.query)
            api = f"/api/models/{repo.id}"
            resolve = f"/{repo.id}/resolve/"
            if path.startswith("/cdn/"):
                sha = path[len("/cdn/"):]
                f = next((f for f in repo.files.values() if f["lfs"] and f["sha256"] == sha), None)
                if f is None:
                    return self.answer(404, head, b"not found")
                return self.send_file(f, head, {})
            if path == api or path.startswith(api + "/revision/"):
                rev = path[len(api + "/revision/"):] if path != api else "main"
                if rev not in ("main", repo.commit):
                    return self.answer(404, head, b"{}", {"X-Error-Code": "RevisionNotFound"})
                blobs = query.get("blobs", ["false"])[0].lower() in ("1", "true")
                return self.answer(200, head, json.dumps(repo.info(blobs)).encode(), kind="application/json")
            if path.startswith(api + "/tree/"):
                rev, _, folder = path[len(api + "/tree/"):].partition("/")
                if rev not in ("main", repo.commit):
                    return self.answer(404, head, b"{}", {"X-Error-Code": "RevisionNotFound"})
                recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
                body = json.dumps(repo.tree(folder.strip("/"), recursive)).encode()
                return self.answer(200, head, body, kind="application/json")
            if path.startswith("/api/models/") or not path.startswith(resolve):
                return self.answer(404, head, b"{}", {"X-Error-Code": "RepoNotFound"})
            rev, _, name = path[len(resolve):].partition("/")
            if rev not in ("main", repo.commit):
                return self.answer(404, head, b"", {"X-Error-Code": "RevisionNotFound"})
            f = repo.files.get(name)
            if f is None:
                return self.answer(404, head, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit})
            common = {"X-Repo-Commit": repo.commit}
            if f["lfs"]:
                # As on the hub: the LFS content lives on a CDN; the redirect
                # carries the file's etag and size.
                port = self.server.server_address[1]
                return self.answer(302, head, b"", {
                    **common,
                    "Location": f"http://localhost:{port}/cdn/{f['sha256']}",
                    "X-Linked-Etag": f'"{f["sha256"]}"',
                    "X-Linked-Size": str(f["size"]),
                    "ETag": f'"{f["blob_id"]}"',
                })
            return self.send_file(f, head, common)

        def answer(self, status, head, body, headers=None, kind="text/plain"):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            sent = 0
            if not head:
                self.wfile.write(body)
                sent = len(body)
            self.record(status, sent)

        def send_file(self, f, head, headers):
            data, size = f["data"], f["size"]
            rng = self.headers.get("Range")
            start, end = 0, size - 1
            if rng and rng.startswith("bytes="):
                first, _, last = rng[6:].partition("-")
                start = int(first or 0)
                if last:
                    end = min(int(last), size - 1)
                if start >= size:
                    return self.answer(416, head, b"", {**headers, "Content-Range": f"bytes */{size}"})
            status = 206 if rng else 200
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(end + 1 - start))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", f'"{repo.etag(f)}"')
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            sent = 0
            try:
                if not head:
                    chunk = 64 * 1024
                    for i in range(start, end + 1, chunk):
                        piece = data[i:min(i + chunk, end + 1)]
                        self.wfile.write(piece)
                        sent += len(piece)
                        if args.rate:
                            time.sleep(len(piece) / args.rate)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                self.record(status, sent)

        def record(self, status, sent):
            if not args.log:
                return
            line = json.dumps({
                "method": self.command,
                "path": self.path,
                "range": self.headers.get("Range"),
                "status": status,
                "sent": sent,
            })
            with log_lock, open(args.log, "a") as out:
                out.write(line + "\n")

        def log_message(self, *_):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Hub)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    print(f"serving {args.folder} as {repo.id} at commit {repo.commit}", file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
