"""PyTorch (diffusers) reference timings for the same workloads as
`cargo bench --bench engine`: SD1.5-shaped random weights, f32, CPU.

    python scripts/bench_torch.py [runs]
    python scripts/bench_torch.py job DIR [steps] [side]

The first prints a table in the same format (median of the runs after one
warm-up). `job` is a whole job as a user runs it, for the engine's `job512`
and `pipeline512` stages and `/usr/bin/time -f %M latent-studio generate`:
load the diffusers folder DIR (e.g. target/bench-sd15-diffusers-f16, whose
f16 weights diffusers computes in f32 like we do), encode the prompt, run
`steps` DDIM steps with CFG 7.5 at side² (default 4 at 512), decode; it
prints each step's time and the process's peak RSS.
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


def job(folder, steps, side):
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    t = time.perf_counter()
    pipe = StableDiffusionPipeline.from_pretrained(
        folder, torch_dtype=torch.float32, safety_checker=None, requires_safety_checker=False
    )
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    # The bench folder's tokenizer_config.json leaves the length unset.
    pipe.tokenizer.model_max_length = 77
    print(f"load {time.perf_counter() - t:.2f} s")
    marks = [time.perf_counter()]

    def on_step(_pipe, _i, _t, kwargs):
        marks.append(time.perf_counter())
        return kwargs

    t = time.perf_counter()
    pipe("a photo of a terrier", num_inference_steps=steps, guidance_scale=7.5,
         width=side, height=side, generator=torch.manual_seed(0),
         callback_on_step_end=on_step)
    per_step = [b - a for a, b in zip(marks, marks[1:])]
    print("steps (s): " + " ".join(f"{s:.2f}" for s in per_step))
    print(f"median step after the first: {statistics.median(per_step[1:] or per_step):.2f} s")
    print(f"job without load {time.perf_counter() - t:.2f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "job":
        job(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 4,
            int(sys.argv[4]) if len(sys.argv) > 4 else 512)
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
