"""Write tiny random diffusers U-Nets and their outputs as test references.

Run with a Python that has torch + diffusers:
    python scripts/reference/unet.py tests/data/unet
Each case folder gets config.json + diffusion_pytorch_model.safetensors
(via save_pretrained) and io.safetensors with the inputs and the output.
"""
import os
import sys

import torch
from diffusers import UNet2DConditionModel
from safetensors.torch import save_file

CASES = {
    # SD1.x layout: conv projections, cross-attention in the first blocks.
    "sd1": dict(
        block_out_channels=(8, 16, 16),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=2,
        norm_num_groups=4,
        cross_attention_dim=12,
        attention_head_dim=2,
        sample_size=8,
    ),
    # SD2.x layout: linear projections, per-block head counts.
    "sd2": dict(
        block_out_channels=(8, 16),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1,
        norm_num_groups=4,
        cross_attention_dim=16,
        attention_head_dim=[2, 4],
        use_linear_projection=True,
        sample_size=8,
    ),
    # SDXL layout: no attention in the first block, deeper transformers,
    # pooled-text + time-id conditioning through add_embedding.
    "sdxl": dict(
        block_out_channels=(8, 16, 16),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        transformer_layers_per_block=[1, 1, 2],
        norm_num_groups=4,
        cross_attention_dim=20,
        attention_head_dim=[1, 2, 4],
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=4,
        projection_class_embeddings_input_dim=12 + 6 * 4,
        sample_size=8,
    ),
}


def main(out_dir):
    for name, cfg in CASES.items():
        torch.manual_seed(0)
        model = UNet2DConditionModel(**cfg).eval()
        # Randomise norms and biases too, so a wrong key or a skipped bias shows.
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.1)
        folder = os.path.join(out_dir, name)
        model.save_pretrained(folder, safe_serialization=True)
        # A latent whose size is not a multiple of the U-Net's stride checks
        # that upsampling follows the skip connections' sizes.
        sample = torch.randn(2, 4, 10, 6)
        ctx = torch.randn(2, 5, cfg["cross_attention_dim"])
        timestep = 417.0
        kwargs = {}
        io = {"sample": sample, "context": ctx, "timestep": torch.tensor([timestep])}
        if cfg.get("addition_embed_type") == "text_time":
            text_embeds = torch.randn(2, 12)
            time_ids = torch.tensor([[80.0, 48, 0, 0, 80, 48], [64, 64, 8, 4, 80, 48]])
            kwargs["added_cond_kwargs"] = {"text_embeds": text_embeds, "time_ids": time_ids}
            io["text_embeds"] = text_embeds
            io["time_ids"] = time_ids
        with torch.no_grad():
            out = model(sample, timestep, encoder_hidden_states=ctx, **kwargs).sample
        io["output"] = out
        save_file({k: v.contiguous() for k, v in io.items()}, os.path.join(folder, "io.safetensors"))
        print(name, tuple(out.shape), float(out.abs().mean()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/unet")
