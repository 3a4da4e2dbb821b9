#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub, for screenshots and manual tries.

Serves the files of a local diffusers folder as one repository, in the hub's
URL layout (the listing API and `resolve/` downloads with Range support), at
a limited speed so a download can be watched:

    scripts/fake_hub.py FOLDER REPO_ID [--port 8765] [--rate 2000000]
    HF_ENDPOINT=http://127.0.0.1:8765 latent-studio models download REPO_ID
"""

import argparse
import hashlib
import http.server
import json
import os
import time


def read_files(root):
    files = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            with open(path, "rb") as f:
                files[rel] = f.read()
    return files


def blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("repo")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--rate", type=int, default=2_000_000, help="bytes per second")
    args = ap.parse_args()

    files = read_files(args.folder)
    files.setdefault("tokenizer/special_tokens_map.json", b"{}")
    commit = hashlib.sha1(args.repo.encode()).hexdigest()
    siblings = []
    for path, data in sorted(files.items()):
        entry = {"rfilename": path, "blobId": blob_id(data), "size": len(data)}
        if path.endswith(".safetensors"):
            entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        siblings.append(entry)
    listing = json.dumps({"id": args.repo, "sha": commit, "siblings": siblings}).encode()

    class Hub(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?")[0]
            if path.startswith(f"/api/models/{args.repo}/revision/"):
                return self.send(200, listing, "application/json")
            prefix = f"/{args.repo}/resolve/"
            if path.startswith(prefix):
                name = path[len(prefix):].split("/", 1)[1]
                if name in files:
                    return self.send_file(files[name])
            self.send(404, b"not found", "text/plain")

        def send(self, status, body, kind):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def send_file(self, data):
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                start = int(rng[6:].split("-")[0] or 0)
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.send_header("X-Repo-Commit", commit)
            self.end_headers()
            chunk = 64 * 1024
            for i in range(start, len(data), chunk):
                self.wfile.write(data[i:i + chunk])
                time.sleep(chunk / args.rate)

        def log_message(self, *_):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Hub).serve_forever()


if __name__ == "__main__":
    main()
