"""Write a tiny random diffusers StableDiffusionPipeline and its outputs.

The Rust test tests/diffusers_parity.rs loads the same folder through our
loader and must reproduce these images (same prompt, seed, sampler).

    python scripts/reference/pipeline.py tests/data/sd1-tiny

Weights are stored in float16 to keep the fixture small; the reference is
computed in float32 from exactly those (f16-representable) values.
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

ASSETS = os.path.join(os.path.dirname(__file__), "..", "..", "assets")


def build():
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=32,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 32, 32, 32],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=32,
        sample_size=64,
    )
    text_config = CLIPTextConfig(
        bos_token_id=49406,
        eos_token_id=49407,
        hidden_size=16,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=3,
        pad_token_id=1,
        vocab_size=49408,
        hidden_act="quick_gelu",
    )
    text_encoder = CLIPTextModel(text_config)
    # Random norms and biases too, so a skipped bias or wrong key shows up.
    for model in (unet, vae, text_encoder):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
            # Round every weight to f16 so the saved f16 file is exact.
            for p in model.parameters():
                p.copy_(p.half().float())
    tokenizer = CLIPTokenizer(
        os.path.join(ASSETS, "vocab.json"), os.path.join(ASSETS, "merges.txt"), model_max_length=77
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    return StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


CASES = [
    # name, scheduler class, extra config, prompt, negative, steps, cfg, seed
    ("ddim", DDIMScheduler, {}, "a photo of a terrier, looking up", "blurry", 6, 7.5, 42),
    ("euler_a", EulerAncestralDiscreteScheduler, {}, "a lighthouse at night", "", 5, 5.0, 7),
    ("dpmpp_2m_karras", DPMSolverMultistepScheduler, {"use_karras_sigmas": True}, "a red fox", "", 5, 4.0, 3),
]


def main(out_dir):
    pipe = build()
    pipe.save_pretrained(out_dir, safe_serialization=True)
    # Store the weights as f16 (half the size); values are exactly representable.
    for comp in ("unet", "vae", "text_encoder"):
        getattr(pipe, comp).to(torch.float16).save_pretrained(os.path.join(out_dir, comp), safe_serialization=True)
        getattr(pipe, comp).to(torch.float32)
    # Reference images come from diffusers loading the folder as written, the
    # same files our loader reads. The committed fixture has no vocabulary
    # copy: the test supplies vocab.json + merges.txt from assets/.
    tok_dir = os.path.join(out_dir, "tokenizer")
    os.remove(os.path.join(tok_dir, "tokenizer.json"))
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(ASSETS, f), os.path.join(tok_dir, f))
    pipe = StableDiffusionPipeline.from_pretrained(out_dir, torch_dtype=torch.float32, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    for f in ("vocab.json", "merges.txt"):
        os.remove(os.path.join(tok_dir, f))
    refs = {}
    for name, cls, extra, prompt, negative, steps, cfg, seed in CASES:
        pipe.scheduler = cls.from_config(pipe.scheduler.config, **extra)
        g = torch.Generator("cpu").manual_seed(seed)
        out = pipe(
            prompt,
            negative_prompt=negative or None,
            num_inference_steps=steps,
            guidance_scale=cfg,
            generator=g,
            height=64,
            width=64,
            output_type="np",
        ).images[0]
        pixels = np.round(out * 255).astype(np.uint8)
        refs[name] = {
            "prompt": prompt,
            "negative_prompt": negative,
            "steps": steps,
            "cfg": cfg,
            "seed": seed,
            "pixels": pixels.flatten().tolist(),
        }
        print(name, pixels.mean())
    with open(os.path.join(out_dir, "reference_images.json"), "w") as f:
        json.dump(refs, f)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/sd1-tiny")
