"""Pin CLIP tokenizer ids from transformers for tests/tokenizer.rs.

Run from the repository root:
    /work/pyenv/bin/python scripts/reference/tokenizer_ref.py
Writes tests/data/tokenizer_ref.json: [{"prompt": str, "ids": [int]}], ids
WITHOUT the BOS/EOS that the tokenizer's post-processor adds, for the bundled
CLIP vocabulary with pad <|endoftext|> ("ids") and pad "!" ("ids_pad_bang"); and tests/data/tiny_tokenizer/ (a 500-token CLIP-style
vocabulary saved by transformers, so with tokenizer.json and pad "!") with its
expected ids in tiny_ref.json.
"""

import json
import os
import shutil
import tempfile

from transformers import CLIPTokenizer

PROMPTS = [
    "a photo of a terrier, looking up, cute, white background",
    "",
    "   ",
    "A PHOTO OF AN ASTRONAUT RIDING A HORSE ON MARS",
    "masterpiece, best quality, (cat:1.2), [dog], ((sharp focus))",
    "a   lot    of\tspaces\nand\nnewlines",
    "numbers 1234567890 and 3.14159 and 1e-5",
    "it's the dog's bone, they're here, we've been, I'm, you'll, he'd",
    "don't won't can't shouldn't",
    "Café au lait, naïve façade, Ærøskøbing, Straße",
    "東京の夜景, 赤い提灯",
    "Москва зимой, красная площадь",
    "emoji party 🎉🐶🐱 with 👍🏽",
    "hyphen-ated words and under_scores and slashes/too",
    "email@example.com https://example.com/path?q=1&r=2",
    "<lora:detail_tweaker:0.5> portrait of a woman",
    "photo of <|endoftext|> token text",
    "$100 #hashtag %percent ^caret *star ~tilde `backtick`",
    "quotes \"double\" and 'single' and ‘curly’ “quotes”",
    "ellipsis... and—em dash – en dash",
    "Ünïcödé ÅÇÉÎÕÜ combining e\u0301 vs \u00e9",
    "trailing punctuation!!!???",
    "mixed CaSe WoRdS like iPhone and McDonald's",
    "8k uhd, dslr, soft lighting, high quality, film grain, Fujifilm XT3",
    "a red apple on a wooden table, studio lighting, 85mm",
    "tab\tseparated\tvalues",
    "ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ",
    "(((((nested emphasis)))))",
    "BREAK keyword and AND keyword",
    "wow! amazing!! hello!world !!!",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a cat " * 40,
]


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with tempfile.TemporaryDirectory() as d:
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(root, "assets", f), d)
        tok = CLIPTokenizer.from_pretrained(d)
        # SD 2.x / SDXL tokenizer_2: pad "!" is a special token, so a literal
        # "!" in a prompt becomes id 0 instead of "!</w>" (256).
        tok_bang = CLIPTokenizer.from_pretrained(d, pad_token="!")
    out = []
    for p in PROMPTS:
        ids = tok(p, add_special_tokens=False)["input_ids"]
        ids_bang = tok_bang(p, add_special_tokens=False)["input_ids"]
        out.append({"prompt": p, "ids": ids, "ids_pad_bang": ids_bang})
    # The brief's reference prompt, checked with BOS/EOS.
    full = tok(PROMPTS[0])["input_ids"]
    assert full == [49406, 320, 1125, 539, 320, 14455, 267, 1312, 705, 267, 2242, 267, 1579, 5994, 49407], full
    with open(os.path.join(root, "tests", "data", "tokenizer_ref.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
        f.write("\n")
    tiny(root)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def tiny(root):
    chars = bytes_to_unicode()
    vocab = chars + [c + "</w>" for c in chars]
    merges = ["t h", "th e</w>", "c a", "ca t</w>", "d o", "do g</w>", "a n", "an d</w>", "i n", "in g</w>"]
    for m in merges:
        vocab.append(m.replace(" ", ""))
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    out_dir = os.path.join(root, "tests", "data", "tiny_tokenizer")
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump({t: i for i, t in enumerate(vocab)}, f, ensure_ascii=False)
        with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
        tok = CLIPTokenizer.from_pretrained(d, pad_token="!")
        shutil.rmtree(out_dir, ignore_errors=True)
        tok.save_pretrained(out_dir)
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(d, f), out_dir)
    tok = CLIPTokenizer.from_pretrained(out_dir)
    assert tok.pad_token == "!", tok.pad_token
    prompts = ["The cat and the dog", "  SINGING  cats, dogs! 123 ", "café 🐱 <|endoftext|>"]
    ref = [{"prompt": p, "ids": tok(p, add_special_tokens=False)["input_ids"]} for p in prompts]
    with open(os.path.join(root, "tests", "data", "tiny_ref.json"), "w", encoding="utf-8") as f:
        json.dump({"pad_id": tok.pad_token_id, "bos_id": tok.bos_token_id, "eos_id": tok.eos_token_id, "prompts": ref}, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
