"""Write a tiny random diffusers StableDiffusionXLPipeline and its outputs.

The Rust test tests/diffusers_parity.rs loads the same folder through our
loader and must reproduce these images: two text encoders (penultimate hidden
states), the pooled embedding and add_time_ids, force_zeros_for_empty_prompt.

    python scripts/reference/pipeline_sdxl.py tests/data/sdxl-tiny
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
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
)

ASSETS = os.path.join(os.path.dirname(__file__), "..", "..", "assets")


def text_config(act):
    return CLIPTextConfig(
        bos_token_id=49406,
        eos_token_id=49407,
        hidden_size=16,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=3,
        pad_token_id=1,
        vocab_size=49408,
        hidden_act=act,
        projection_dim=16,
    )


def build():
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=16 + 6 * 8,
        cross_attention_dim=32,
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
        scaling_factor=0.13025,
    )
    text_encoder = CLIPTextModel(text_config("quick_gelu"))
    text_encoder_2 = CLIPTextModelWithProjection(text_config("gelu"))
    for model in (unet, vae, text_encoder, text_encoder_2):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
                p.copy_(p.half().float())
    vocab = (os.path.join(ASSETS, "vocab.json"), os.path.join(ASSETS, "merges.txt"))
    tokenizer = CLIPTokenizer(*vocab, model_max_length=77)
    tokenizer_2 = CLIPTokenizer(*vocab, model_max_length=77, pad_token="!")
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
    )


CASES = [
    # name, scheduler, prompt, negative (None: diffusers zeroes it), steps, cfg, seed, (w, h)
    ("euler", EulerDiscreteScheduler, "an astronaut riding a horse", None, 4, 5.0, 11, (64, 64)),
    ("ddim_negative", DDIMScheduler, "a castle on a hill", "fog, blur", 5, 6.0, 12, (64, 96)),
    ("euler_a_no_cfg", EulerAncestralDiscreteScheduler, "a turbo cat", None, 2, 0.0, 13, (64, 64)),
]


def main(out_dir):
    pipe = build()
    pipe.save_pretrained(out_dir, safe_serialization=True)
    for comp in ("unet", "vae", "text_encoder", "text_encoder_2"):
        getattr(pipe, comp).to(torch.float16).save_pretrained(os.path.join(out_dir, comp), safe_serialization=True)
    toks = ("tokenizer", "tokenizer_2")
    for tok in toks:
        os.remove(os.path.join(out_dir, tok, "tokenizer.json"))
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(ASSETS, f), os.path.join(out_dir, tok, f))
    pipe = StableDiffusionXLPipeline.from_pretrained(out_dir, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    for tok in toks:
        for f in ("vocab.json", "merges.txt"):
            os.remove(os.path.join(out_dir, tok, f))
    refs = {}
    base_config = pipe.scheduler.config
    for name, cls, prompt, negative, steps, cfg, seed, (w, h) in CASES:
        pipe.scheduler = cls.from_config(base_config)
        g = torch.Generator("cpu").manual_seed(seed)
        out = pipe(
            prompt,
            negative_prompt=negative,
            num_inference_steps=steps,
            guidance_scale=cfg,
            generator=g,
            height=h,
            width=w,
            output_type="np",
        ).images[0]
        pixels = np.round(out * 255).astype(np.uint8)
        refs[name] = {
            "prompt": prompt,
            "negative_prompt": negative or "",
            "steps": steps,
            "cfg": cfg,
            "seed": seed,
            "width": w,
            "height": h,
            "pixels": pixels.flatten().tolist(),
        }
        print(name, pixels.shape, pixels.mean(), pixels.std())
    with open(os.path.join(out_dir, "reference_images.json"), "w") as f:
        json.dump(refs, f)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/sdxl-tiny")
