"""PyTorch (diffusers) reference timings for the same workloads as
`cargo bench --bench engine`: SD1.5-shaped random weights, f32, CPU.

    python scripts/bench_torch.py [runs]

Prints a table in the same format (median of the runs after one warm-up).
"""
import resource
import statistics
import sys
import time

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel


def timed(fn, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        with torch.no_grad():
            fn()
        times.append(time.perf_counter() - t)
    return times[1:] if len(times) > 1 else times


def row(stage, what, times):
    fmt = lambda s: f"{s * 1000:.2f} ms" if s < 0.1 else f"{s:.2f} s"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| {stage} | {what} | {fmt(statistics.median(times))} | {fmt(min(times))} | {fmt(max(times))} | {rss:.0f} MiB (cumulative) |")


def main(runs):
    torch.manual_seed(0)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, {runs} runs (first is warm-up)\n")
    print("| stage | what | median | min | max | peak RSS |")
    print("|---|---|---|---|---|---|")
    clip = CLIPTextModel(CLIPTextConfig(hidden_act="quick_gelu", projection_dim=768)).eval()
    ids = torch.randint(0, 49407, (1, 77))
    row("text", "text encoding, prompt + negative", timed(lambda: (clip(ids), clip(ids)), runs))
    del clip
    unet = UNet2DConditionModel(
        block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
        layers_per_block=2, sample_size=64,
    ).eval()
    ctx = torch.randn(2, 77, 768)
    for side, stage in [(32, "unet256"), (64, "unet512")]:
        x = torch.randn(2, 4, side, side)
        row(stage, f"U-Net step {side * 8}² with CFG (batch 2)", timed(lambda: unet(x, 500, ctx), runs))
    del unet
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
    ).eval()
    z = torch.randn(1, 4, 64, 64)
    row("vae512", "VAE decode 512²", timed(lambda: vae.decode(z), runs))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
