"""Tiny random diffusers AutoencoderKL models and their outputs for tests/vae.rs.

Run from the repository root:
    /work/pyenv/bin/python scripts/reference/vae_ref.py
For each case writes tests/data/vae_<name>/ (config.json +
diffusion_pytorch_model.safetensors from save_pretrained, weights stored in
f16 to keep the fixtures small; the reference is computed in f32 from the
same f16-rounded weights) and expected.safetensors with: x (input image),
mean, logvar, noise, sample (= mean + std * noise), z (decoder input) and
decoded.

Case "f8_oldnames" has four levels (downscale factor 8) and its mid-block
attention renamed to the pre-0.14 diffusers names (query/key/value/proj_attn)
with 1x1-conv-shaped [c, c, 1, 1] weights, as in old converted checkpoints.
"""

import json
import os
import shutil

import torch
from diffusers import AutoencoderKL
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CASES = [
    # name, block_out_channels, layers_per_block, groups, image shape
    ("f2", [32, 64], 1, 32, (1, 3, 32, 32)),
    ("f8_oldnames", [16, 16, 32, 32], 2, 8, (2, 3, 32, 40)),
]


def rename_old(path):
    sd = load_file(path)
    out = {}
    for k, v in sd.items():
        if ".attentions.0." in k:
            for new, old in (("to_q", "query"), ("to_k", "key"), ("to_v", "value"), ("to_out.0", "proj_attn")):
                if f".{new}." in k:
                    k = k.replace(f".{new}.", f".{old}.")
                    if k.endswith(".weight"):
                        v = v[:, :, None, None]
        out[k] = v.contiguous()
    save_file(out, path)


def main():
    torch.manual_seed(0)
    for name, blocks, layers, groups, shape in CASES:
        n = len(blocks)
        model = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=["DownEncoderBlock2D"] * n,
            up_block_types=["UpDecoderBlock2D"] * n,
            block_out_channels=blocks,
            layers_per_block=layers,
            latent_channels=4,
            norm_num_groups=groups,
            sample_size=shape[-1],
        ).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        out_dir = os.path.join(ROOT, "tests", "data", f"vae_{name}")
        shutil.rmtree(out_dir, ignore_errors=True)
        model.half()
        model.save_pretrained(out_dir, safe_serialization=True)
        model.float()
        if "oldnames" in name:
            rename_old(os.path.join(out_dir, "diffusion_pytorch_model.safetensors"))

        f = 2 ** (n - 1)
        x = torch.rand(shape) * 2 - 1
        b, _, h, w = shape
        z = torch.randn(b, 4, h // f, w // f)
        with torch.no_grad():
            dist = model.encode(x).latent_dist
            noise = torch.randn_like(dist.mean)
            decoded = model.decode(z).sample
        tensors = {
            "x": x,
            "mean": dist.mean,
            "logvar": dist.logvar,
            "noise": noise,
            "sample": dist.mean + dist.std * noise,
            "z": z,
            "decoded": decoded,
        }
        save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(out_dir, "expected.safetensors"))
        print(name, {k: tuple(v.shape) for k, v in tensors.items()}, "decoded absmax", decoded.abs().max().item())


if __name__ == "__main__":
    main()
