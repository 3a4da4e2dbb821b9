"""Train the built-in emoji model from scratch and export it as a diffusers folder.

    scripts/mini_model/fetch_data.sh target/emoji-data
    python scripts/mini_model/train.py --data target/emoji-data \\
        --work target/mini-train --out assets/mini-emoji \\
        --vae-minutes 10 --unet-minutes 65 [--max-minutes M] [--resume]

Phases: vae -> latents -> unet -> export. Each training phase runs for a
planned number of minutes of its own compute (the learning-rate schedule is a
function of that time, so a resumed run keeps its schedule), writes an atomic
checkpoint every 4 minutes and on SIGINT/SIGTERM, and logs loss and
samples/s. `--max-minutes` stops the whole sitting after that long (a
checkpoint is written; `--resume` continues). Only the exported folder is
meant for git; checkpoints stay in --work.

The model: AutoencoderKL [32, 64, 64] (f = 4: 64 px images, 4x16x16
latents), UNet2DConditionModel [64, 128, 128] with cross-attention at the two
upper levels, CLIPTextModel hidden 64 x 3 layers with the real CLIP BPE, SD
1.5's noise schedule, epsilon prediction, Min-SNR-5 weighting, 10 % caption
dropout for classifier-free guidance, EMA 0.998. The VAE learns every image;
the text-to-image part the ~540 emoji of emoji_data.in_subset. See the team note for why.
"""

import argparse
import json
import math
import os
import random
import shutil
import signal
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emoji_data  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASSETS = os.path.join(ROOT, "assets")

VAE_CONFIG = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=["DownEncoderBlock2D"] * 3,
    up_block_types=["UpDecoderBlock2D"] * 3,
    block_out_channels=[32, 64, 64],
    layers_per_block=1,
    latent_channels=4,
    norm_num_groups=32,
    sample_size=64,
)
UNET_CONFIG = dict(
    sample_size=16,
    in_channels=4,
    out_channels=4,
    block_out_channels=[64, 128, 128],
    layers_per_block=1,
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    cross_attention_dim=64,
    attention_head_dim=4,
    norm_num_groups=32,
    use_linear_projection=False,
)
SCHEDULE = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="epsilon",
)
CAPTION_DROPOUT = 0.10
SNR_GAMMA = 5.0
EMA_DECAY = 0.998
CHECKPOINT_EVERY_S = 240


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def tokenizer():
    from transformers import CLIPTokenizer

    # Positional: transformers 5 silently ignores `vocab_file=`/`merges_file=`
    # keywords and builds an empty vocabulary that maps every word to one id.
    tok = CLIPTokenizer(
        os.path.join(ASSETS, "vocab.json"),
        os.path.join(ASSETS, "merges.txt"),
        pad_token="<|endoftext|>",
    )
    ids = tok("red heart").input_ids
    assert ids == [49406, 736, 1936, 49407], f"the CLIP tokenizer is broken: {ids}"
    return tok


def clip_config():
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=49408,
        hidden_size=64,
        intermediate_size=256,
        num_hidden_layers=3,
        num_attention_heads=2,
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
        projection_dim=64,
    )


class Stop(Exception):
    pass


class Sitting:
    """Wall-clock limit of this sitting plus SIGINT/SIGTERM handling."""

    def __init__(self, max_minutes):
        self.deadline = time.time() + max_minutes * 60 if max_minutes else None
        self.signalled = False
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, *_):
        self.signalled = True

    def should_stop(self):
        return self.signalled or (self.deadline is not None and time.time() > self.deadline)


def atomic_save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def lr_at(progress, step, base, warmup=250, floor=0.1):
    """Linear warm-up over `warmup` steps, then cosine to floor*base by time."""
    w = min(1.0, (step + 1) / warmup)
    cos = floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return base * w * cos


def sobel(x):
    kx = torch.tensor([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=x.dtype) / 4
    k = torch.stack([kx, kx.t()]).unsqueeze(1).repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(x, k, padding=1, groups=x.shape[1])


# --------------------------------------------------------------------------- VAE


def train_vae(args, all_images, sitting):
    from diffusers import AutoencoderKL

    path = os.path.join(args.work, "vae.pt")
    torch.manual_seed(1)
    vae = AutoencoderKL(**VAE_CONFIG)
    probe = torch.nn.Conv2d(4, 3, 1)
    params = list(vae.parameters()) + list(probe.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.0)
    state = {"step": 0, "seconds": 0.0, "done": False}
    rng = np.random.default_rng(1)
    if os.path.exists(path):
        ck = torch.load(path, weights_only=False)
        vae.load_state_dict(ck["vae"])
        probe.load_state_dict(ck["probe"])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        if state["done"]:
            return vae
        log(f"vae: resuming at step {state['step']} ({state['seconds'] / 60:.1f} min done)")

    def save():
        atomic_save(
            {
                "vae": vae.state_dict(),
                "probe": probe.state_dict(),
                "opt": opt.state_dict(),
                "state": state,
                "rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state(),
            },
            path,
        )

    data = torch.from_numpy(all_images)
    n = data.shape[0]
    planned = args.vae_minutes * 60
    last_save = last_log = time.time()
    seen = 0
    vae.train()
    while state["seconds"] < planned:
        if sitting.should_stop():
            save()
            raise Stop
        t0 = time.time()
        progress = state["seconds"] / planned
        for g in opt.param_groups:
            g["lr"] = lr_at(progress, state["step"], 1e-3, warmup=100)
        idx = torch.from_numpy(rng.integers(0, n, 32 if progress > 0.6 else 64))
        x = data[idx]
        if progress <= 0.6:  # random 32x32 crops first: 4x cheaper, same convolutions
            i, j = rng.integers(0, 33, 2)
            x = x[:, :, i : i + 32, j : j + 32]
        post = vae.encode(x).latent_dist
        z = post.sample()
        rec = vae.decode(z).sample
        l1 = (rec - x).abs().mean()
        edge = (sobel(rec) - sobel(x)).abs().mean()
        kl = post.kl().mean()
        colour = F.mse_loss(probe(post.mean), F.avg_pool2d(x, 4))
        loss = l1 + 0.5 * edge + 1e-6 * kl + 0.1 * colour
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        state["step"] += 1
        state["seconds"] += time.time() - t0
        seen += x.shape[0]
        now = time.time()
        if now - last_log > 60:
            log(
                f"vae step {state['step']} l1 {l1.item():.4f} edge {edge.item():.4f} "
                f"colour {colour.item():.4f} kl {kl.item():.1f} "
                f"{seen / (now - last_log):.1f} img/s, {state['seconds'] / 60:.1f}/{args.vae_minutes} min"
            )
            last_log, seen = now, 0
        if now - last_save > CHECKPOINT_EVERY_S:
            save()
            last_save = now
    state["done"] = True
    save()
    return vae


# ----------------------------------------------------------------- latents + map


def prepare_latents(args, vae, base_images, all_images):
    """Centre the latents (folded into quant convs), pick the scaling factor,
    and fit the linear latent->RGB preview map on the training latents."""
    path = os.path.join(args.work, "latents.pt")
    if os.path.exists(path):
        ck = torch.load(path, weights_only=False)
        vae.load_state_dict(ck["vae"])
        return ck
    vae.eval()
    with torch.no_grad():
        means = torch.cat(
            [vae.encode(torch.from_numpy(base_images[i : i + 128])).latent_dist.mean for i in range(0, len(base_images), 128)]
        )
        mu = means.mean(dim=(0, 2, 3))  # [4]
        # Fold the centring into the 1x1 convs: the encoder's mean rows emit
        # m - mu, and post_quant_conv adds mu back before its own weights.
        vae.quant_conv.bias[:4] -= mu
        w = vae.post_quant_conv.weight[:, :, 0, 0]
        vae.post_quant_conv.bias += w @ mu
        centred = means - mu.view(1, 4, 1, 1)
        sf = float(1.0 / centred.std())
        latents = centred * sf
        # Reconstruction through the folded convs (the fold is exact algebra).
        x = torch.from_numpy(base_images[:16])
        rec = vae.decode(vae.encode(x).latent_dist.mean).sample
        psnr = psnr_db(rec, x)
        held = torch.from_numpy(all_images[::20])
        psnr_all = psnr_db(vae.decode(vae.encode(held).latent_dist.mean).sample, held)
        # Least squares: rgb(avgpool4) ~ latents^T A + b.
        target = F.avg_pool2d(torch.from_numpy(base_images), 4)
        zl = latents.permute(0, 2, 3, 1).reshape(-1, 4).double()
        tl = target.permute(0, 2, 3, 1).reshape(-1, 3).double()
        design = torch.cat([zl, torch.ones(zl.shape[0], 1, dtype=torch.float64)], 1)
        sol = torch.linalg.lstsq(design, tl).solution  # [5, 3]
        pred = design @ sol
        r2 = 1 - ((pred - tl) ** 2).sum(0) / ((tl - tl.mean(0)) ** 2).sum(0)
    ck = {
        "vae": vae.state_dict(),
        "latents": latents,
        "scaling_factor": sf,
        "preview": {
            "matrix": sol[:4].tolist(),
            "bias": sol[4].tolist(),
            "r2": r2.tolist(),
        },
        "psnr": {"train_16": psnr, "every_20th": psnr_all},
    }
    log(f"latents: sf {sf:.4f}, PSNR {psnr:.2f} dB (every 20th image {psnr_all:.2f}), preview R2 {[round(v, 3) for v in r2.tolist()]}")
    atomic_save(ck, path)
    return ck


def psnr_db(a, b):
    mse = ((a.clamp(-1, 1) - b) / 2).pow(2).mean().item()
    return 10 * math.log10(1.0 / max(mse, 1e-12))


# --------------------------------------------------------------------- UNet+CLIP


def train_unet(args, entries, latents, sitting):
    from diffusers import DDPMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

    path = os.path.join(args.work, "unet.pt")
    torch.manual_seed(2)
    unet = UNet2DConditionModel(**UNET_CONFIG)
    text = CLIPTextModel(clip_config())
    ema_unet = UNet2DConditionModel(**UNET_CONFIG)
    ema_text = CLIPTextModel(clip_config())
    ema_unet.load_state_dict(unet.state_dict())
    ema_text.load_state_dict(text.state_dict())
    for p in list(ema_unet.parameters()) + list(ema_text.parameters()):
        p.requires_grad_(False)
    sched = DDPMScheduler(**SCHEDULE)
    decay_params, plain_params = [], []
    for m in (unet, text):
        for name, p in m.named_parameters():
            (plain_params if p.ndim <= 1 or "embedding" in name else decay_params).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay_params, "weight_decay": 0.01}, {"params": plain_params, "weight_decay": 0.0}],
        lr=args.lr,
        betas=(0.9, 0.99),
    )
    state = {"step": 0, "seconds": 0.0, "done": False, "losses": []}
    rng = random.Random(3)
    if args.init_unet and not os.path.exists(path):
        # Warm start: a U-Net that already learned what emoji look like.
        init = torch.load(args.init_unet, weights_only=False)["unet"]
        unet.load_state_dict(init)
        ema_unet.load_state_dict(init)
        log(f"unet: initialised from {args.init_unet}")
    if os.path.exists(path):
        ck = torch.load(path, weights_only=False)
        for m, k in ((unet, "unet"), (text, "text"), (ema_unet, "ema_unet"), (ema_text, "ema_text")):
            m.load_state_dict(ck[k])
        opt.load_state_dict(ck["opt"])
        state = ck["state"]
        rng.setstate(ck["rng"])
        torch.set_rng_state(ck["torch_rng"])
        if state["done"]:
            return ema_unet, ema_text, unet, text
        log(f"unet: resuming at step {state['step']} ({state['seconds'] / 60:.1f} min done)")

    def save():
        atomic_save(
            {
                "unet": unet.state_dict(),
                "text": text.state_dict(),
                "ema_unet": ema_unet.state_dict(),
                "ema_text": ema_text.state_dict(),
                "opt": opt.state_dict(),
                "state": state,
                "rng": rng.getstate(),
                "torch_rng": torch.get_rng_state(),
            },
            path,
        )

    tok = tokenizer()
    token_cache = {}

    def ids_for(texts):
        out = []
        for t in texts:
            if t not in token_cache:
                token_cache[t] = tok(t, padding="max_length", max_length=77, truncation=True).input_ids
            out.append(token_cache[t])
        return torch.tensor(out)

    alphas = sched.alphas_cumprod
    snr_all = alphas / (1 - alphas)
    n = latents.shape[0]
    planned = args.unet_minutes * 60
    ema_pairs = list(zip(ema_unet.parameters(), unet.parameters())) + list(
        zip(ema_text.parameters(), text.parameters())
    )
    last_save = last_log = time.time()
    seen, loss_acc, loss_n = 0, 0.0, 0
    unet.train()
    text.train()
    while state["seconds"] < planned:
        if sitting.should_stop():
            save()
            raise Stop
        t0 = time.time()
        progress = state["seconds"] / planned
        for g in opt.param_groups:
            g["lr"] = lr_at(progress, state["step"], args.lr)
        idx = [rng.randrange(n) for _ in range(args.batch)]
        caps = ["" if rng.random() < CAPTION_DROPOUT else emoji_data.caption(entries[i], rng) for i in idx]
        x0 = latents[idx]
        noise = torch.randn_like(x0)
        t = torch.randint(0, 1000, (args.batch,))
        xt = sched.add_noise(x0, noise, t)
        cond = text(ids_for(caps))[0]
        pred = unet(xt, t, encoder_hidden_states=cond).sample
        snr = snr_all[t]
        weight = torch.clamp(snr, max=SNR_GAMMA) / snr
        loss = (((pred - noise) ** 2).mean(dim=(1, 2, 3)) * weight).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
        opt.step()
        d = min(EMA_DECAY, (1 + state["step"]) / (10 + state["step"]))
        with torch.no_grad():
            for e, p in ema_pairs:
                e.mul_(d).add_(p.detach(), alpha=1 - d)
        state["step"] += 1
        state["seconds"] += time.time() - t0
        seen += args.batch
        loss_acc += loss.item()
        loss_n += 1
        now = time.time()
        if now - last_log > 60:
            mean = loss_acc / loss_n
            state["losses"].append((state["step"], state["seconds"], mean))
            rate = seen / (now - last_log)
            left = (planned - state["seconds"]) / 60
            log(
                f"unet step {state['step']} loss {mean:.4f} lr {opt.param_groups[0]['lr']:.2e} "
                f"{rate:.1f} samples/s, {state['seconds'] / 60:.1f}/{args.unet_minutes} min, ~{left:.0f} min left"
            )
            last_log, seen, loss_acc, loss_n = now, 0, 0.0, 0
        if now - last_save > CHECKPOINT_EVERY_S:
            save()
            last_save = now
    state["done"] = True
    save()
    return ema_unet, ema_text, unet, text


# ------------------------------------------------------------------------ export


def trained_token_ids(entries):
    tok = tokenizer()
    ids = {49406, 49407}
    for t in emoji_data.vocabulary_texts(entries):
        ids.update(tok(t).input_ids)
    return sorted(ids)


def export(args, vae, latent_ck, unet, text, entries, state):
    from diffusers import EulerDiscreteScheduler

    out = args.out
    tmp = out.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with torch.no_grad():
        # Rows of tokens no caption contains never got a gradient (only
        # weight decay): zero them so an unknown word acts as a blank.
        keep = torch.zeros(49408, dtype=torch.bool)
        keep[trained_token_ids(entries)] = True
        emb = text.get_input_embeddings().weight
        emb[~keep] = 0.0
    vae.register_to_config(scaling_factor=latent_ck["scaling_factor"])
    for m in (vae, unet, text):
        m.to(torch.float16)
    vae.save_pretrained(os.path.join(tmp, "vae"))
    unet.save_pretrained(os.path.join(tmp, "unet"))
    text.save_pretrained(os.path.join(tmp, "text_encoder"))
    # transformers records the f16 dtype, which makes diffusers load the text
    # encoder as f16 beside an f32 U-Net; say f32 so a default load works.
    cfg_path = os.path.join(tmp, "text_encoder", "config.json")
    cfg = json.load(open(cfg_path))
    cfg["dtype"] = "float32"
    cfg.pop("torch_dtype", None)
    json.dump(cfg, open(cfg_path, "w"), indent=2)
    tok_dir = os.path.join(tmp, "tokenizer")
    os.makedirs(tok_dir)
    shutil.copy(os.path.join(ASSETS, "vocab.json"), tok_dir)
    shutil.copy(os.path.join(ASSETS, "merges.txt"), tok_dir)
    json.dump(
        {
            "tokenizer_class": "CLIPTokenizer",
            "model_max_length": 77,
            "bos_token": "<|startoftext|>",
            "eos_token": "<|endoftext|>",
            "unk_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>",
            "do_lower_case": True,
        },
        open(os.path.join(tok_dir, "tokenizer_config.json"), "w"),
        indent=2,
    )
    EulerDiscreteScheduler(**SCHEDULE, timestep_spacing="leading", steps_offset=1).save_pretrained(
        os.path.join(tmp, "scheduler")
    )
    preview = latent_ck["preview"]
    json.dump(
        {
            "_comment": "Linear latent->RGB preview map of this VAE, fitted by least squares "
            "on the scaled training latents against the 4x4-average-pooled images in [-1, 1]: "
            "rgb = sum_c latent[c] * latent_rgb[c] + bias.",
            "latent_rgb": preview["matrix"],
            "bias": preview["bias"],
            "r2": preview["r2"],
        },
        open(os.path.join(tmp, "vae", "latent_preview.json"), "w"),
        indent=2,
    )
    json.dump(
        {
            "_class_name": "StableDiffusionPipeline",
            "_diffusers_version": "0.42.1",
            "feature_extractor": [None, None],
            "requires_safety_checker": False,
            "safety_checker": [None, None],
            "scheduler": ["diffusers", "EulerDiscreteScheduler"],
            "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"],
            "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
        },
        open(os.path.join(tmp, "model_index.json"), "w"),
        indent=2,
    )
    losses = state.get("losses", [])
    json.dump(
        {
            "unet_steps": state["step"],
            "unet_minutes": round(state["seconds"] / 60, 1),
            "final_loss": losses[-1][2] if losses else None,
            "vae_psnr_db": latent_ck["psnr"],
            "emoji": len(entries),
        },
        open(os.path.join(args.work, "training_summary.json"), "w"),
        indent=2,
    )
    # License, NOTICE (credits of the data) and the model card travel with it.
    card = os.path.join(os.path.dirname(os.path.abspath(__file__)), "card")
    for f in os.listdir(card):
        shutil.copy(os.path.join(card, f), tmp)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    log(f"exported {out}: {total / 1e6:.1f} MB")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", default=os.path.join(ASSETS, "mini-emoji"))
    ap.add_argument("--vae-minutes", type=float, default=10)
    ap.add_argument("--unet-minutes", type=float, default=65)
    ap.add_argument("--max-minutes", type=float, default=None, help="stop this sitting after M minutes")
    ap.add_argument("--resume", action="store_true", help="continue from the checkpoints in --work")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=6e-4)
    ap.add_argument("--init-unet", default=None, help="start the U-Net from this checkpoint's weights")
    ap.add_argument("--threads", type=int, default=2, help="compute threads of the U-Net phase")
    ap.add_argument("--vae-threads", type=int, default=2, help="compute threads of the VAE phase")
    args = ap.parse_args()
    if os.path.exists(args.work) and os.listdir(args.work) and not args.resume:
        sys.exit(f"{args.work} holds checkpoints: pass --resume to continue, or remove it")
    os.makedirs(args.work, exist_ok=True)
    sitting = Sitting(args.max_minutes)
    t0 = time.time()
    entries, base, all_images = emoji_data.load(args.data)
    json.dump([e for e in entries if emoji_data.in_subset(e)], open(os.path.join(args.work, "entries.json"), "w"))
    log(f"data: {len(entries)} base emoji, {len(all_images)} images for the VAE")
    try:
        torch.set_num_threads(args.vae_threads)
        vae = train_vae(args, all_images, sitting)
        latent_ck = prepare_latents(args, vae, base, all_images)
        torch.set_num_threads(args.threads)
        keep = [i for i, e in enumerate(entries) if emoji_data.in_subset(e)]
        entries = [entries[i] for i in keep]
        log(f"unet: {len(entries)} emoji in the text-to-image subset")
        ema_unet, ema_text, _, _ = train_unet(args, entries, latent_ck["latents"][keep], sitting)
    except Stop:
        log(f"stopped after {(time.time() - t0) / 60:.1f} min; checkpoint written, continue with --resume")
        return
    state = torch.load(os.path.join(args.work, "unet.pt"), weights_only=False)["state"]
    export(args, vae, latent_ck, ema_unet, ema_text, entries, state)
    log(f"done in {(time.time() - t0) / 60:.1f} min this sitting")


if __name__ == "__main__":
    main()
