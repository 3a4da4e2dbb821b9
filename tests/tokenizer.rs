//! CLIP tokenizer against ids pinned from transformers' `CLIPTokenizer`
//! (scripts/reference/tokenizer_ref.py).

use latent_studio::models::tokenizer::{ClipTokenizer, Pad, CHUNK_LEN};
use latent_studio::testing::data_dir;

fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(data_dir(name)).unwrap()).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

#[test]
fn reference_prompt() {
    let tok = ClipTokenizer::bundled(Pad::EndOfText).unwrap();
    let pt = tok
        .chunks("a photo of a terrier, looking up, cute, white background")
        .unwrap();
    let expected = [
        49406, 320, 1125, 539, 320, 14455, 267, 1312, 705, 267, 2242, 267, 1579, 5994, 49407,
    ];
    assert_eq!(pt.chunks.len(), 1);
    assert_eq!(pt.token_count, 13);
    assert_eq!(&pt.chunks[0][..15], &expected);
    assert!(pt.chunks[0][15..].iter().all(|&t| t == 49407));
}

#[test]
fn matches_transformers_on_varied_prompts() {
    let tok = ClipTokenizer::bundled(Pad::EndOfText).unwrap();
    let refs = json("tokenizer_ref.json");
    let refs = refs.as_array().unwrap();
    assert!(refs.len() >= 30);
    for r in refs {
        let prompt = r["prompt"].as_str().unwrap();
        assert_eq!(
            tok.encode(prompt).unwrap(),
            ids(&r["ids"]),
            "prompt {prompt:?}"
        );
    }
}

#[test]
fn matches_transformers_with_exclamation_pad() {
    let tok = ClipTokenizer::bundled(Pad::Exclamation).unwrap();
    for r in json("tokenizer_ref.json").as_array().unwrap() {
        let prompt = r["prompt"].as_str().unwrap();
        let expected = ids(&r["ids_pad_bang"]);
        assert_eq!(tok.encode(prompt).unwrap(), expected, "prompt {prompt:?}");
    }
}

#[test]
fn special_ids() {
    let sd1 = ClipTokenizer::bundled(Pad::EndOfText).unwrap();
    assert_eq!(
        (sd1.bos_id(), sd1.eos_id(), sd1.pad_id()),
        (49406, 49407, 49407)
    );
    let sd2 = ClipTokenizer::bundled(Pad::Exclamation).unwrap();
    assert_eq!(sd2.pad_id(), 0);
}

#[test]
fn empty_prompt_is_one_chunk() {
    let tok = ClipTokenizer::bundled(Pad::Exclamation).unwrap();
    let pt = tok.chunks("").unwrap();
    assert_eq!(pt.token_count, 0);
    assert_eq!(pt.chunks.len(), 1);
    let c = &pt.chunks[0];
    assert_eq!(c.len(), CHUNK_LEN);
    assert_eq!(&c[..2], &[49406, 49407]);
    assert!(c[2..].iter().all(|&t| t == 0));
}

#[test]
fn long_prompts_split_into_75_token_chunks() {
    let tok = ClipTokenizer::bundled(Pad::EndOfText).unwrap();
    let prompt = "a cat ".repeat(80); // 160 tokens
    let all = tok.encode(&prompt).unwrap();
    assert_eq!(all.len(), 160);
    let pt = tok.chunks(&prompt).unwrap();
    assert_eq!(pt.token_count, 160);
    assert_eq!(pt.chunks.len(), 3);
    for (i, c) in pt.chunks.iter().enumerate() {
        assert_eq!(c.len(), CHUNK_LEN);
        assert_eq!(c[0], 49406);
        let body = &all[i * 75..((i + 1) * 75).min(all.len())];
        assert_eq!(&c[1..1 + body.len()], body);
        assert_eq!(c[1 + body.len()], 49407);
    }
    // Exactly 75 tokens still fit in one chunk.
    let pt = tok.chunks(&"cat ".repeat(75)).unwrap();
    assert_eq!((pt.chunks.len(), pt.token_count), (1, 75));
    assert_eq!(pt.chunks[0][76], 49407);
}

fn check_tiny(tok: &ClipTokenizer) {
    let r = json("tiny_ref.json");
    assert_eq!(tok.pad_id() as u64, r["pad_id"].as_u64().unwrap());
    assert_eq!(tok.bos_id() as u64, r["bos_id"].as_u64().unwrap());
    assert_eq!(tok.eos_id() as u64, r["eos_id"].as_u64().unwrap());
    for p in r["prompts"].as_array().unwrap() {
        let prompt = p["prompt"].as_str().unwrap();
        assert_eq!(
            tok.encode(prompt).unwrap(),
            ids(&p["ids"]),
            "prompt {prompt:?}"
        );
    }
}

#[test]
fn from_dir_with_tokenizer_json() {
    check_tiny(&ClipTokenizer::from_dir(&data_dir("tiny_tokenizer")).unwrap());
}

#[test]
fn from_dir_with_vocab_and_merges() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["vocab.json", "merges.txt", "tokenizer_config.json"] {
        std::fs::copy(data_dir("tiny_tokenizer").join(f), dir.path().join(f)).unwrap();
    }
    check_tiny(&ClipTokenizer::from_dir(dir.path()).unwrap());

    // Pad from special_tokens_map.json in the {"content": ..} form.
    std::fs::remove_file(dir.path().join("tokenizer_config.json")).unwrap();
    std::fs::write(
        dir.path().join("special_tokens_map.json"),
        r#"{"pad_token": {"content": "!", "lstrip": false}}"#,
    )
    .unwrap();
    check_tiny(&ClipTokenizer::from_dir(dir.path()).unwrap());

    // No pad configured: EOS.
    std::fs::remove_file(dir.path().join("special_tokens_map.json")).unwrap();
    let tok = ClipTokenizer::from_dir(dir.path()).unwrap();
    assert_eq!(tok.pad_id(), tok.eos_id());
}

#[test]
fn from_dir_with_half_a_vocabulary_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        data_dir("tiny_tokenizer").join("vocab.json"),
        dir.path().join("vocab.json"),
    )
    .unwrap();
    let err = ClipTokenizer::from_dir(dir.path()).unwrap_err();
    assert!(
        matches!(err, latent_studio::Error::MissingFile { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("merges.txt"), "{err}");
}

#[test]
fn from_dir_without_vocabulary_uses_the_bundled_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        r#"{"pad_token": "!"}"#,
    )
    .unwrap();
    let tok = ClipTokenizer::from_dir(dir.path()).unwrap();
    let chunk = &tok
        .chunks("a photo of a terrier, looking up, cute, white background")
        .unwrap()
        .chunks[0];
    assert_eq!(
        &chunk[..15],
        &[49406, 320, 1125, 539, 320, 14455, 267, 1312, 705, 267, 2242, 267, 1579, 5994, 49407]
    );
    assert_eq!(chunk[15], 0, "pad from tokenizer_config.json");
}
