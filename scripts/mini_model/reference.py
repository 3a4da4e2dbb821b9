"""Pin diffusers' output for the shipped emoji model (tests/mini_model.rs).

    python scripts/mini_model/reference.py assets/mini-emoji tests/data/mini-emoji-reference.json

The folder is loaded exactly as a user of diffusers would load it (no dtype
argument), so this also proves it is a working StableDiffusionPipeline.
"""
import json
import sys

import numpy as np
import torch
from diffusers import (
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    StableDiffusionPipeline,
)

CASES = [
    # name, scheduler, prompt, negative, steps, cfg, seed
    ("red_heart_euler_a", EulerAncestralDiscreteScheduler, "red heart", "", 25, 5.0, 0),
    ("dog_face_dpmpp_2m", DPMSolverMultistepScheduler, "dog face", "", 20, 5.0, 1),
]


def main(model, out):
    torch.set_num_threads(2)
    pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    base = pipe.scheduler.config
    refs = {}
    for name, cls, prompt, negative, steps, cfg, seed in CASES:
        pipe.scheduler = cls.from_config(base)
        g = torch.Generator("cpu").manual_seed(seed)
        img = pipe(prompt, negative_prompt=negative or None, num_inference_steps=steps,
                   guidance_scale=cfg, generator=g, height=64, width=64, output_type="np").images[0]
        refs[name] = {
            "prompt": prompt, "negative_prompt": negative, "steps": steps, "cfg": cfg,
            "seed": seed, "sampler": cls.__name__, "width": 64, "height": 64,
            "pixels": np.round(img * 255).astype(np.uint8).flatten().tolist(),
        }
    with open(out, "w") as f:
        json.dump(refs, f, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
