#!/usr/bin/env python3
"""Pins what `torch.randn` on a seeded CPU generator produces, for tests/rng.rs.

Writes tests/data/torch_randn.json: for several seeds, a sequence of
successive `torch.randn(shape, generator=g, dtype=torch.float32)` draws on
ONE generator (sizes below and above the 16-element threshold, mixed), each
recorded as exact f32 bit patterns (small draws) or first/last values plus an
exact bit fingerprint (large draws).

    /work/pyenv/bin/python scripts/reference/torch_randn.py [out.json]

Each seed is run twice: with dtype=torch.float32 and with dtype=torch.float16
(what diffusers does for fp16 pipelines); float16 draws are recorded widened
to float32.

`--dump N SEED FILE [float16]` instead writes the raw little-endian f32 bytes
of one `torch.randn(N)` for the deep check in tests/rng.rs (ignored test).
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

# Mixed sizes so the scalar path's cached second sample, the tail redraw and
# the 16-blocks all interact across calls.
SEQUENCE = [
    [16],
    [1],
    [2],
    [7],
    [15],
    [17],
    [31],
    [33],
    [1],
    [100],
    [1, 4, 64, 64],
    [3],
    [4, 128, 128],
    [1, 4, 96, 96],
    [5],
    [16],
]
SEEDS = [0, 1, 42, 31337, 2**32 + 7]
FULL_BITS_MAX = 40


def fingerprint(bits: np.ndarray) -> int:
    """sum_i bits[i] * (i + 1) mod 2^64: exact, order sensitive, easy in Rust."""
    idx = np.arange(1, bits.size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return int(np.sum(bits.astype(np.uint64) * idx, dtype=np.uint64))


def draw_record(t: torch.Tensor) -> dict:
    flat = t.reshape(-1).numpy()
    bits = flat.view(np.uint32)
    rec = {"shape": list(t.shape), "numel": int(flat.size)}
    if flat.size <= FULL_BITS_MAX:
        rec["bits"] = [int(b) for b in bits]
    else:
        rec["first_bits"] = [int(b) for b in bits[:8]]
        rec["last_bits"] = [int(b) for b in bits[-8:]]
        rec["fingerprint"] = str(fingerprint(bits))
    rec["first_values"] = [float(v) for v in flat[:4]]
    rec["sum"] = float(np.sum(flat, dtype=np.float64))
    return rec


def main() -> None:
    if len(sys.argv) in (5, 6) and sys.argv[1] == "--dump":
        n, seed, path = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        dtype = getattr(torch, sys.argv[5]) if len(sys.argv) == 6 else torch.float32
        g = torch.Generator().manual_seed(seed)
        torch.randn(n, generator=g, dtype=dtype).float().numpy().astype("<f4").tofile(path)
        return
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[2] / "tests/data/torch_randn.json"
    cases = []
    for dtype in ("float32", "float16"):
        for seed in SEEDS:
            g = torch.Generator().manual_seed(seed)
            draws = [
                draw_record(torch.randn(shape, generator=g, dtype=getattr(torch, dtype)).float())
                for shape in SEQUENCE
            ]
            cases.append({"seed": seed, "dtype": dtype, "draws": draws})
    # torch.manual_seed(0); torch.randn(16): the global default generator is the same engine.
    torch.manual_seed(0)
    global_first = [float(v) for v in torch.randn(16)[:4]]
    doc = {
        "torch_version": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "global_seed0_randn16_first4": global_first,
        "cases": cases,
    }
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
