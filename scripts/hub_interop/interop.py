#!/usr/bin/env python3
"""The Hugging Face cache really is shared: latent-studio against the real
huggingface_hub client and diffusers, both ways, on the stand-in hub
(scripts/fake_hub.py serving the built-in emoji model as `acme/tiny-sd`).

1. diffusers downloads the pipeline; `latent-studio generate` then finds it
   with HF_HUB_OFFLINE=1, and without it, making no request either way.
2. `latent-studio models download` fills a fresh cache; diffusers then loads
   the pipeline offline and generates, and huggingface_hub's cache scanner
   reports no problem.
3. A download interrupted in one client is finished by the other. Python is
   killed mid-file: latent-studio resumes from the partial it left (a Range
   request for the rest only). latent-studio is killed mid-file: Python
   finishes the file. huggingface_hub 1.17 and later never resume a partial
   download (each download writes its own `{etag}.{8 hex}.incomplete` and
   discards it on failure), so it fetches that file whole; up to 1.16 it
   resumed `{etag}.incomplete`, ours included: `--legacy-client DIR` (a
   `pip install --target DIR --no-deps huggingface_hub==1.16.4`) checks that.

Every check prints PASS or FAIL; the exit status is the number of failures.
Run by scripts/hub_interop/run.sh, which pins the Python packages.
"""

import argparse
import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

REPO = "acme/tiny-sd"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOLDER = os.path.join(ROOT, "assets", "mini-emoji")
UNET = "unet/diffusion_pytorch_model.safetensors"

failures = 0


def check(ok, what, detail="", why=""):
    """Report one check: `detail` always, `why` (e.g. stderr) only on failure."""
    global failures
    detail = detail if ok else f"{detail} {why}".strip()
    print(f"{'PASS' if ok else 'FAIL'}  {what}" + (f"  ({detail})" if detail else ""), flush=True)
    if not ok:
        failures += 1


class Hub:
    """scripts/fake_hub.py on a free port, with its request log."""

    def __init__(self, work, rate):
        self.log = os.path.join(work, f"hub-{rate}.jsonl")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "scripts", "fake_hub.py"), FOLDER, REPO,
             "--port", "0", "--rate", str(rate), "--log", self.log],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.endpoint = self.proc.stdout.readline().strip()

    def requests(self):
        """The responses logged so far, once the server has finished them
        all (a response is logged when its last byte is sent or its client
        went away, which for a killed client takes a moment)."""
        seen, quiet_since = None, time.time()
        while time.time() - quiet_since < 1.0:
            now = self._read()
            if now != seen:
                seen, quiet_since = now, time.time()
            time.sleep(0.1)
        return seen

    def _read(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(line) for line in f if line.strip()]

    def clear(self):
        self.requests()
        open(self.log, "w").close()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def env_for(hub, cache, offline=False, pythonpath=None):
    env = dict(os.environ)
    for name in ("HF_HUB_OFFLINE", "HF_TOKEN", "HF_HOME", "LATENT_STUDIO_MODEL"):
        env.pop(name, None)
    env.update(HF_ENDPOINT=hub.endpoint, HF_HUB_CACHE=cache, HF_HOME=os.path.dirname(cache),
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
               TRANSFORMERS_VERBOSITY="error", DIFFUSERS_VERBOSITY="error")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def python(code, env, **kw):
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, **kw)


def studio(binary, args, env):
    return subprocess.run([binary, *args], env=env, capture_output=True, text=True)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def repo_dir(cache):
    return os.path.join(cache, "models--" + REPO.replace("/", "--"))


def wait_for(pattern, size, proc, timeout=60):
    """Wait until a file matching `pattern` holds at least `size` bytes."""
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        for path in glob.glob(pattern):
            try:
                if os.path.getsize(path) >= size:
                    return path
            except OSError:
                pass
        time.sleep(0.05)
    return None


def kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait()


DIFFUSERS_ONLINE = f"""
from diffusers import StableDiffusionPipeline
StableDiffusionPipeline.from_pretrained({REPO!r}, safety_checker=None)
"""

DIFFUSERS_OFFLINE = f"""
import json, torch
from diffusers import StableDiffusionPipeline
from huggingface_hub import scan_cache_dir
pipe = StableDiffusionPipeline.from_pretrained({REPO!r}, safety_checker=None)
image = pipe("a red heart", num_inference_steps=8, height=64, width=64,
             generator=torch.Generator().manual_seed(1)).images[0]
info = scan_cache_dir()
print(json.dumps({{"size": image.size, "warnings": [str(w) for w in info.warnings],
                  "refs": [sorted(r.refs) for r in info.repos]}}))
"""

SNAPSHOT = f"""
from huggingface_hub import snapshot_download
print(snapshot_download({REPO!r}))
"""


def shared_both_ways(binary, work):
    hub = Hub(work, 0)
    try:
        # 1. diffusers downloads, latent-studio uses it offline.
        cache = os.path.join(work, "by-diffusers", "hub")
        r = python(DIFFUSERS_ONLINE, env_for(hub, cache))
        check(r.returncode == 0, "diffusers downloads the pipeline from the stand-in hub", why=r.stderr[-300:])
        for offline in (True, False):
            hub.clear()
            out = os.path.join(work, f"studio-{offline}.png")
            r = studio(binary, ["generate", "--model", REPO, "--prompt", "a red heart", "--steps", "8",
                                "--out", out], env_for(hub, cache, offline=offline))
            label = "with HF_HUB_OFFLINE=1" if offline else "online"
            check(r.returncode == 0 and os.path.isfile(out),
                  f"latent-studio generates from diffusers' download {label}", why=r.stderr.strip()[-300:])
            made = hub.requests()
            check(made == [], f"... and makes no request {label}", f"{len(made)} made")

        # 2. latent-studio downloads, diffusers loads it offline.
        cache = os.path.join(work, "by-studio", "hub")
        r = studio(binary, ["models", "download", REPO], env_for(hub, cache))
        check(r.returncode == 0, "latent-studio models download fills a fresh cache", why=r.stderr.strip()[-300:])
        ref = os.path.join(repo_dir(cache), "refs", "main")
        check(os.path.isfile(ref), "... and records refs/main")
        hub.clear()
        r = python(DIFFUSERS_OFFLINE, env_for(hub, cache, offline=True))
        ok = r.returncode == 0
        check(ok, "diffusers loads latent-studio's download with HF_HUB_OFFLINE=1 and generates",
              why=r.stderr.strip()[-400:])
        if ok:
            seen = json.loads(r.stdout.strip().splitlines()[-1])
            check(seen["warnings"] == [], "huggingface_hub's cache scanner finds nothing wrong", seen["warnings"])
            check(seen["refs"] == [["main"]], "... and sees the main ref", seen["refs"])
        made = hub.requests()
        check(made == [], "... with no request", f"{len(made)} made")
    finally:
        hub.stop()


def interrupted(binary, work, legacy=None):
    """A download killed mid-file in one client, finished by the other."""
    name = "huggingface_hub 1.16 (legacy)" if legacy else "huggingface_hub"
    size = os.path.getsize(os.path.join(FOLDER, UNET))
    sha = sha256(os.path.join(FOLDER, UNET))
    cdn = f"/cdn/{sha}"
    # Slow enough to stop a client part way through the 11.7 MB U-Net.
    hub = Hub(work, 1_000_000)
    try:
        # Python killed: it writes in 10 MiB pieces, so wait for the first.
        cache = os.path.join(work, f"py-killed-{bool(legacy)}", "hub")
        blobs = os.path.join(repo_dir(cache), "blobs")
        proc = subprocess.Popen([sys.executable, "-c", SNAPSHOT], env=env_for(hub, cache, pythonpath=legacy),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        partial = wait_for(os.path.join(blobs, f"{sha}*.incomplete"), 10 * 1024 * 1024, proc)
        kill(proc)
        have = os.path.getsize(partial) if partial else 0
        check(partial is not None, f"{name} killed mid-file leaves a partial", f"{have} bytes")
        hub.clear()
        r = studio(binary, ["models", "download", REPO], env_for(hub, cache))
        gets = [(q["range"], q["sent"]) for q in hub.requests() if q["method"] == "GET" and q["path"] == cdn]
        check(r.returncode == 0 and gets == [(f"bytes={have}-", size - have)],
              f"latent-studio finishes it, fetching only the {size - have} bytes left", gets)
        check(sha256(os.path.join(blobs, sha)) == sha and not glob.glob(os.path.join(blobs, "*.incomplete")),
              "... the blob is whole and no partial is left")

        # latent-studio killed.
        cache = os.path.join(work, f"studio-killed-{bool(legacy)}", "hub")
        blobs = os.path.join(repo_dir(cache), "blobs")
        proc = subprocess.Popen([binary, "models", "download", REPO], env=env_for(hub, cache),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        partial = wait_for(os.path.join(blobs, f"{sha}.incomplete"), 3_000_000, proc)
        kill(proc)
        have = os.path.getsize(partial) if partial else 0
        check(partial is not None, "latent-studio killed mid-file leaves blobs/{etag}.incomplete", f"{have} bytes")
        hub.clear()
        r = python(SNAPSHOT, env_for(hub, cache, pythonpath=legacy))
        gets = [(q["range"], q["sent"]) for q in hub.requests() if q["method"] == "GET" and q["path"] == cdn]
        whole = os.path.isfile(os.path.join(blobs, sha)) and sha256(os.path.join(blobs, sha)) == sha
        check(r.returncode == 0 and whole, f"{name} finishes the download", why=r.stderr.strip()[-300:])
        if legacy:
            check(gets == [(f"bytes={have}-", size - have)],
                  f"... resuming our partial, fetching only the {size - have} bytes left", gets)
        else:
            check(gets == [(None, size)],
                  f"... fetching the file whole (it never resumes; {have} bytes were here)", gets)
            r = studio(binary, ["models", "download", REPO], env_for(hub, cache))
            check(r.returncode == 0 and not glob.glob(os.path.join(blobs, "*.incomplete")),
                  "latent-studio's next run removes its stale partial")
    finally:
        hub.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "latent-studio"))
    ap.add_argument("--legacy-client", help="a folder with huggingface_hub 1.16.4 (pip install --target)")
    args = ap.parse_args()
    import huggingface_hub
    import diffusers
    print(f"huggingface_hub {huggingface_hub.__version__}, diffusers {diffusers.__version__}, {args.bin}")
    with tempfile.TemporaryDirectory(prefix="hub-interop-") as work:
        shared_both_ways(args.bin, work)
        interrupted(args.bin, work)
        if args.legacy_client:
            interrupted(args.bin, work, legacy=os.path.abspath(args.legacy_client))
    print(f"{failures} failure(s)")
    sys.exit(failures)


if __name__ == "__main__":
    main()
