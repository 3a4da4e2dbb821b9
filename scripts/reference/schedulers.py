#!/usr/bin/env python3
"""Reference runs of the diffusers schedulers for tests/schedulers.rs.

For each sampler x scheduler config x step count, runs a full sampling loop
in diffusers on a tiny latent with a deterministic fake "model"

    model(x, t) = 0.8 * sin(x) + (0.05 * cos(t / 300)) * x

starting from torch.randn on a seeded CPU generator (which Euler-ancestral and
LCM keep drawing from), and records the timesteps, init_noise_sigma, a summary
of every step's predicted x0 and the final sample. Writes
tests/data/schedulers.json.

    /work/pyenv/bin/python scripts/reference/schedulers.py [out.json]
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import diffusers
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    LCMScheduler,
    UniPCMultistepScheduler,
)

SD15 = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "timestep_spacing": "leading",
    "steps_offset": 1,
    "set_alpha_to_one": False,
    "clip_sample": False,
}
CONFIGS = {
    "sd15": (SD15, [20, 1, 7]),
    "sd2_v": ({**SD15, "prediction_type": "v_prediction"}, [15]),
    "turbo_trailing": ({**SD15, "timestep_spacing": "trailing", "steps_offset": 0}, [4, 16]),
    "linear_linspace": (
        {**SD15, "beta_start": 0.0001, "beta_end": 0.02, "beta_schedule": "linear",
         "timestep_spacing": "linspace", "steps_offset": 0},
        [25],
    ),
    "zero_snr_v": (
        {**SD15, "prediction_type": "v_prediction", "timestep_spacing": "trailing",
         "steps_offset": 0, "rescale_betas_zero_snr": True},
        [12],
    ),
    "cosine_sample": (
        {**SD15, "beta_schedule": "squaredcos_cap_v2", "prediction_type": "sample",
         "timestep_spacing": "linspace", "steps_offset": 0, "set_alpha_to_one": True},
        [10],
    ),
}
# sampler name -> (diffusers class, extra constructor kwargs, rust config overrides)
SAMPLERS = {
    "euler-a": (EulerAncestralDiscreteScheduler, {}, {}),
    "euler": (EulerDiscreteScheduler, {}, {}),
    "euler-karras": (EulerDiscreteScheduler, {}, {"use_karras_sigmas": True}),
    "dpmpp-2m": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}, {}),
    "dpmpp-2m-karras": (
        DPMSolverMultistepScheduler,
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
        {},
    ),
    "ddim": (DDIMScheduler, {}, {}),
    "lcm": (LCMScheduler, {}, {}),
    "unipc": (UniPCMultistepScheduler, {"solver_order": 2, "solver_type": "bh2"}, {}),
}
SHAPES = {"sd15": [1, 4, 8, 8], "turbo_trailing": [1, 4, 5, 3]}


def fake_model(x: torch.Tensor, t: float) -> torch.Tensor:
    return torch.sin(x) * 0.8 + x * (0.05 * math.cos(t / 300.0))


def run(sampler: str, cfg_name: str, cfg: dict, steps: int, seed: int, strength: float = 1.0) -> dict | None:
    cls, extra, rust_overrides = SAMPLERS[sampler]
    if sampler == "euler-a" and cfg["prediction_type"] == "sample":
        return None  # diffusers raises NotImplementedError
    if sampler == "lcm" and cfg_name in ("linear_linspace", "cosine_sample", "zero_snr_v"):
        return None  # LCM models are SD-schedule distillations
    if sampler == "dpmpp-2m-karras" and cfg["beta_schedule"] == "squaredcos_cap_v2":
        # Degenerate in diffusers: sigma_max ~2e4 gives duplicate leading
        # timesteps, and its timestep lookup then starts at step 1 and crashes.
        return None
    rust_cfg = {**cfg, **rust_overrides}
    sched = cls.from_config({**rust_cfg, **extra})
    sched.set_timesteps(steps)
    shape = SHAPES.get(cfg_name, [1, 4, 8, 8])
    g = torch.Generator().manual_seed(seed)
    init_sigma = float(sched.init_noise_sigma)
    timesteps = sched.timesteps
    start = 0
    if strength < 1.0:
        # img2img as in StableDiffusionImg2ImgPipeline: skip the first steps and
        # noise a clean latent to the first remaining level.
        init_timestep = min(int(steps * strength), steps)
        start = max(steps - init_timestep, 0)
        timesteps = sched.timesteps[start * sched.order:]
        if hasattr(sched, "set_begin_index"):
            sched.set_begin_index(start * sched.order)
        x0 = torch.randn(shape, generator=g, dtype=torch.float32)
        noise = torch.randn(shape, generator=g, dtype=torch.float32)
        latents = sched.add_noise(x0, noise, timesteps[:1])
    else:
        latents = torch.randn(shape, generator=g, dtype=torch.float32) * sched.init_noise_sigma
    first = latents.reshape(-1).double()
    per_step = []
    for t in timesteps:
        x_in = sched.scale_model_input(latents, t)
        out = fake_model(x_in, float(t))
        kwargs = {} if cls is UniPCMultistepScheduler else {"generator": g}
        if cls is DDIMScheduler:
            kwargs["eta"] = 0.0
        res = sched.step(out, t, latents, **kwargs)
        if cls in (DPMSolverMultistepScheduler, UniPCMultistepScheduler):
            x0 = sched.model_outputs[-1]
        elif cls is LCMScheduler:
            x0 = res.denoised
        else:
            x0 = res.pred_original_sample
        latents = res.prev_sample
        per_step.append([float(x0.double().sum()), float(x0.reshape(-1)[0])])
    flat = latents.reshape(-1).double()
    return {
        "sampler": "euler" if sampler == "euler-karras" else sampler,
        "label": f"{sampler}/{cfg_name}/{steps}" + (f"/img2img-{strength}" if strength < 1.0 else ""),
        "strength": strength,
        "start_step": start,
        "start_head": [float(v) for v in first[:4]],
        "start_sum": float(first.sum()),
        "config": rust_cfg,
        "steps": steps,
        "seed": seed,
        "shape": shape,
        "timesteps": [float(t) for t in sched.timesteps],
        "init_noise_sigma": init_sigma,
        "pred_original": per_step,
        "final_head": [float(v) for v in flat[:8]],
        "final_sum": float(flat.sum()),
        "final_abs_sum": float(flat.abs().sum()),
        "final_max_abs": float(flat.abs().max()),
    }


def alphas_reference() -> list:
    out = []
    for name in ("sd15", "linear_linspace", "cosine_sample"):
        cfg = CONFIGS[name][0]
        ac = DDIMScheduler.from_config(cfg).alphas_cumprod.numpy()
        idx = [0, 1, 2, 10, 100, 500, 998, 999]
        out.append({"config": cfg, "index": idx, "bits": [int(ac[i:i + 1].view(np.uint32)[0]) for i in idx]})
    return out


def compact(v):
    """9 significant digits: enough to round-trip any f32, keeps the file small."""
    if isinstance(v, float):
        return float(f"{v:.9g}")
    if isinstance(v, list):
        return [compact(x) for x in v]
    if isinstance(v, dict):
        return {k: compact(x) for k, x in v.items()}
    return v


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parents[2] / "tests/data/schedulers.json"
    cases = []
    for seed_offset, (cfg_name, (cfg, step_list)) in enumerate(CONFIGS.items()):
        for sampler in SAMPLERS:
            for steps in step_list:
                if sampler == "lcm" and steps > 8 and steps != 15:
                    steps = 8  # LCM is a few-step sampler
                rec = run(sampler, cfg_name, cfg, steps, 1000 + seed_offset)
                if rec is not None and rec["label"] not in {c["label"] for c in cases}:
                    cases.append(rec)
    img2img = [("sd15", 20, 0.6), ("turbo_trailing", 4, 0.5), ("sd2_v", 10, 0.35)]
    for cfg_name, steps, strength in img2img:
        for sampler in SAMPLERS:
            if sampler == "lcm":
                continue  # LCM's img2img re-spaces its timesteps by strength; not modelled
            rec = run(sampler, cfg_name, CONFIGS[cfg_name][0], steps, 77, strength)
            if rec is not None:
                cases.append(rec)
    doc = {
        "torch_version": torch.__version__,
        "diffusers_version": diffusers.__version__,
        "model": "0.8 * sin(x) + (0.05 * cos(t / 300)) * x",
        "alphas_cumprod": alphas_reference(),
        "cases": cases,
    }
    out.write_text(json.dumps(compact(doc), separators=(",", ":")) + "\n")
    print(f"wrote {out}: {len(cases)} cases, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
