"""Measure how well the built-in emoji model follows its prompt.

    python scripts/mini_model/evaluate.py --data target/emoji-data \\
        --model assets/mini-emoji [--sweep] [--grid screenshots/mini-model-grid.png]

For 50 training captions (labels of the emoji the model learned, a fixed
random draw) and the 50
held-out paraphrases of heldout.json, one image each is generated with the
studio's defaults in diffusers; the nearest dataset images (L2 on 32x32 RGB)
decide whether the intended emoji is top-1 or within the top 5. Chance is
1/N and 5/N for the N emoji of the training set. A shuffled-prompt control (each image scored
against another prompt's emoji) shows what a model that ignores its prompt
would score. `--sweep` repeats the training-caption run over samplers and
CFG scales; `--grid` writes a 4x4 contact sheet of the demo prompts.
"""

import argparse
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emoji_data  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

DEMO = [
    "red heart", "dog face", "grinning face", "pile of poo",
    "thumbs up", "fire", "rocket", "pizza",
    "sun", "cat face", "flag: Japan", "rainbow",
    "snowman", "ghost", "watermelon", "blue heart",
]

SAMPLERS = {
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {}),
    "ddim": ("DDIMScheduler", {}),
}


def features(images):
    """[N, 3, 64, 64] in [-1, 1] -> [N, 3*32*32] in [0, 1]."""
    x = torch.as_tensor(images, dtype=torch.float32)
    return (F.avg_pool2d(x, 2).reshape(len(x), -1) + 1) / 2


def pipeline(model, sampler):
    import diffusers
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(model, safety_checker=None)
    cls, extra = SAMPLERS[sampler]
    pipe.scheduler = getattr(diffusers, cls).from_config(pipe.scheduler.config, **extra)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, prompt, seed, steps, cfg):
    g = torch.Generator("cpu").manual_seed(seed)
    out = pipe(prompt, num_inference_steps=steps, guidance_scale=cfg, generator=g,
               height=64, width=64, output_type="np").images[0]
    return out.transpose(2, 0, 1) * 2 - 1  # [3, 64, 64] in [-1, 1]


def ranks(gen_feats, data_feats, targets):
    """For each generated image, the best rank (0 = nearest) of any accepted index."""
    d = torch.cdist(gen_feats, data_feats)  # [P, N]
    order = d.argsort(dim=1)
    out = []
    for i, accepted in enumerate(targets):
        pos = [(order[i] == a).nonzero().item() for a in accepted]
        out.append(min(pos))
    return np.array(out), d


def score(r):
    return {"top1": float((r < 1).mean()), "top5": float((r < 5).mean())}


def run(pipe, prompts, targets, data_feats, steps, cfg, seed0=1000):
    imgs = []
    t0 = time.time()
    for i, p in enumerate(prompts):
        imgs.append(generate(pipe, p, seed0 + i, steps, cfg))
    per_image = (time.time() - t0) / len(prompts)
    feats = features(np.stack(imgs))
    r, d = ranks(feats, data_feats, targets)
    shuffled = targets[1:] + targets[:1]
    rs, _ = ranks(feats, data_feats, shuffled)
    return r, rs, d, np.stack(imgs), per_image


def red_share(img):
    """Share of non-white pixels that are saturated red (hue within 20 degrees)."""
    rgb = (np.asarray(img).transpose(1, 2, 0) + 1) / 2
    mx, mn = rgb.max(-1), rgb.min(-1)
    fg = mn < 0.9
    sat = (mx - mn) / np.maximum(mx, 1e-6)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    hue = np.degrees(np.arctan2(np.sqrt(3) * (g - b), 2 * r - g - b))
    red = fg & (sat > 0.4) & (np.abs(hue) < 20)
    return float(red.sum() / max(fg.sum(), 1))


def grid(pipe, path, steps, cfg):
    from PIL import Image, ImageDraw

    cell, pad = 160, 28
    sheet = Image.new("RGB", (4 * cell, 4 * (cell + pad)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, p in enumerate(DEMO):
        img = generate(pipe, p, 1, steps, cfg)
        im = Image.fromarray(np.round((img.transpose(1, 2, 0) + 1) * 127.5).clip(0, 255).astype(np.uint8))
        im = im.resize((128, 128), Image.NEAREST)
        x, y = (i % 4) * cell, (i // 4) * (cell + pad)
        sheet.paste(im, (x + 16, y + 8))
        draw.text((x + cell // 2, y + cell + 4), p, fill="black", anchor="mt")
    sheet.save(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--cfg", type=float, default=5.0)
    ap.add_argument("--sampler", default="euler_a", choices=sorted(SAMPLERS))
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--grid", default=None)
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    torch.set_num_threads(2)

    entries, base, _ = emoji_data.load(args.data)
    keep = [i for i, e in enumerate(entries) if emoji_data.in_subset(e)]
    entries, base = [entries[i] for i in keep], base[keep]
    labels = [e["label"] for e in entries]
    index = {l: i for i, l in enumerate(labels)}
    data_feats = features(base)
    n = len(labels)

    rng = random.Random(0)
    train_idx = rng.sample(range(n), 50)
    train_prompts = [labels[i] for i in train_idx]
    train_targets = [[i] for i in train_idx]
    held = json.load(open(os.path.join(HERE, "heldout.json")))["prompts"]
    missing = [p for p, acc in held if not any(a in index for a in acc)]
    assert not missing, f"held-out prompts with no accepted emoji in the data: {missing}"
    held_prompts = [p for p, _ in held]
    held_targets = [[index[a] for a in acc if a in index] for _, acc in held]
    assert not set(held_prompts) & set(labels), "a held-out prompt is a training label"

    # How far apart dataset images are: a generated image should be about as
    # close to its nearest emoji as emoji are to each other.
    dd = torch.cdist(data_feats, data_feats)
    dd.fill_diagonal_(float("inf"))
    data_nn = float(dd.min(dim=1).values.median())

    results = {"emoji": n, "chance_top1": 1 / n, "chance_top5": 5 / n}
    configs = [(args.sampler, args.cfg)]
    if args.sweep:
        configs = [(s, c) for s in ("euler_a", "dpmpp_2m", "euler") for c in (3.0, 5.0, 7.5)]
    sweep = []
    for sampler, cfg in configs:
        pipe = pipeline(args.model, sampler)
        r, rs, d, _, per_image = run(pipe, train_prompts, train_targets, data_feats, args.steps, cfg)
        row = {"sampler": sampler, "cfg": cfg, "train": score(r), "train_shuffled": score(rs),
               "seconds_per_image": per_image}
        sweep.append(row)
        print(json.dumps(row), flush=True)
    results["sweep"] = sweep

    pipe = pipeline(args.model, args.sampler)
    r, rs, d, imgs, _ = run(pipe, train_prompts, train_targets, data_feats, args.steps, args.cfg)
    results["train"] = score(r)
    results["train_shuffled_control"] = score(rs)
    results["train_nn_distance_over_dataset_nn"] = float(d.min(dim=1).values.median() / data_nn)
    hr, hrs, hd, _, _ = run(pipe, held_prompts, held_targets, data_feats, args.steps, args.cfg, seed0=2000)
    results["heldout"] = score(hr)
    results["heldout_shuffled_control"] = score(hrs)
    results["heldout_hits"] = [p for p, k in zip(held_prompts, hr) if k < 5]
    results["train_hits"] = [p for p, k in zip(train_prompts, r) if k < 5]
    heart = generate(pipe, "red heart", 0, args.steps, args.cfg)
    dog = generate(pipe, "dog face", 0, args.steps, args.cfg)
    results["red_heart_red_share"] = red_share(heart)
    results["dog_face_red_share"] = red_share(dog)
    results["settings"] = {"steps": args.steps, "cfg": args.cfg, "sampler": args.sampler}
    print(json.dumps(results, indent=2))
    if args.out:
        json.dump(results, open(args.out, "w"), indent=2)
    if args.grid:
        grid(pipe, args.grid, args.steps, args.cfg)


if __name__ == "__main__":
    main()
