#!/usr/bin/env bash
# The Hugging Face cache interop check, run by hand (about 2 minutes once the
# Python packages are installed): latent-studio against the real
# huggingface_hub client and diffusers, both ways, on the local stand-in hub.
#
#   scripts/hub_interop/run.sh              # makes target/hub-interop/venv
#   PYTHON=/path/to/python scripts/hub_interop/run.sh   # a Python that has
#                                           # requirements.txt installed
#
# Steps: the real client against the Rust test server (an ignored test in
# tests/download.rs), then scripts/hub_interop/interop.py against
# scripts/fake_hub.py with the release binary, also with huggingface_hub
# 1.16.4, the last version that resumed partial downloads.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=scripts/hub_interop
work=target/hub-interop
mkdir -p "$work"

if [[ -z "${PYTHON:-}" ]]; then
  if [[ ! -x "$work/venv/bin/python" ]]; then
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install -q --extra-index-url https://download.pytorch.org/whl/cpu \
      -r "$here/requirements.txt"
  fi
  PYTHON="$work/venv/bin/python"
fi
legacy="$work/huggingface_hub-1.16.4"
if [[ ! -d "$legacy/huggingface_hub" ]]; then
  "$PYTHON" -m pip install -q --no-warn-conflicts --target "$legacy" huggingface_hub==1.16.4
fi

cargo build --release
LATENT_STUDIO_INTEROP_PYTHON="$PYTHON" \
  cargo test --test download -- --ignored the_real_huggingface_hub_client_shares_the_cache
"$PYTHON" "$here/interop.py" --bin target/release/latent-studio --legacy-client "$legacy"
