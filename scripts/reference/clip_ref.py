"""Tiny random CLIP text encoders and their transformers outputs for tests/clip.rs.

Run from the repository root:
    /work/pyenv/bin/python scripts/reference/clip_ref.py
For each case writes tests/data/clip_<name>/ (config.json + model.safetensors
from save_pretrained) and tests/data/clip_<name>/expected.safetensors with
input_ids (u32 stored as i64), last_hidden_state, penultimate
(hidden_states[-2]) and pooled (text_embeds for the projection model).
"""

import os
import shutil

import torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CASES = [
    # name, projection, hidden_act, eos_token_id (2 = legacy "argmax of ids" pooling)
    ("quick_gelu", False, "quick_gelu", 2),
    ("gelu_proj", True, "gelu", 500),
]


def main():
    torch.manual_seed(0)
    for name, proj, act, eos in CASES:
        cfg = CLIPTextConfig(
            vocab_size=1000,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=3,
            num_attention_heads=4,
            max_position_embeddings=77,
            hidden_act=act,
            layer_norm_eps=1e-5,
            projection_dim=24,
            eos_token_id=eos,
            bos_token_id=998,
            pad_token_id=1,
        )
        cls = CLIPTextModelWithProjection if proj else CLIPTextModel
        model = cls(cfg).eval()
        # Random init leaves LayerNorms at identity and biases at zero; perturb
        # everything so every parameter matters.
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        out_dir = os.path.join(ROOT, "tests", "data", f"clip_{name}")
        shutil.rmtree(out_dir, ignore_errors=True)
        model.save_pretrained(out_dir, safe_serialization=True)

        # The token that ends a prompt: the largest id for legacy configs, else eos_token_id.
        end = 999 if eos == 2 else eos
        ids = torch.randint(3, 490, (2, 77))
        ids[:, 0] = 998
        # Row 0: EOS at 10, then padded with EOS (SD 1.x).
        ids[0, 10:] = end
        # Row 1: EOS at 20, padded with "!" = 0, and a later 999 (a tie with
        # EOS for legacy pooling, a larger id otherwise): pooling must pick 20.
        ids[1, 20] = end
        ids[1, 21:] = 0
        ids[1, 30] = 999
        with torch.no_grad():
            out = model(input_ids=ids, output_hidden_states=True)
        pooled = out.text_embeds if proj else out.pooler_output
        tensors = {
            "input_ids": ids.to(torch.int64).contiguous(),
            "last_hidden_state": out.last_hidden_state.contiguous(),
            "penultimate": out.hidden_states[-2].contiguous(),
            "pooled": pooled.contiguous(),
        }
        save_file(tensors, os.path.join(out_dir, "expected.safetensors"))
        print(name, {k: tuple(v.shape) for k, v in tensors.items()})


if __name__ == "__main__":
    main()
