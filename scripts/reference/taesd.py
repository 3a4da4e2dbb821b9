"""Write a tiny random diffusers AutoencoderTiny (TAESD) and a decoded latent.

    python scripts/reference/taesd.py tests/data/taesd
"""
import os
import sys

import torch
from diffusers import AutoencoderTiny
from safetensors.torch import save_file


def main(out_dir):
    torch.manual_seed(0)
    model = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(2, 1, 2, 1),
    ).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(out_dir, safe_serialization=True)
    latents = torch.randn(1, 4, 6, 5) * 2
    with torch.no_grad():
        image = model.decode(latents).sample
    save_file({"latents": latents, "image": image.contiguous()}, os.path.join(out_dir, "io.safetensors"))
    print(tuple(image.shape), float(image.abs().mean()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/taesd")
