//! CLIP's byte-level BPE tokenizer and the split of long prompts into
//! 77-token chunks.
//!
//! The pipeline mirrors transformers' `CLIPTokenizer` exactly (NFC, collapse
//! whitespace, lowercase; CLIP's split regex; byte-level; BPE with a `</w>`
//! end-of-word suffix), so ids match what diffusers feeds its text encoders.

use std::path::Path;

use tokenizers::models::bpe::{Merges, Vocab, BPE};
use tokenizers::normalizers::replace::{Replace, ReplacePattern};
use tokenizers::normalizers::{Lowercase, Sequence as NormalizerSequence, NFC};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreTokenizerSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use crate::error::{Error, Result};

/// Token sequence length of every CLIP text encoder in Stable Diffusion.
pub const CHUNK_LEN: usize = 77;
/// Prompt tokens per chunk: [`CHUNK_LEN`] minus BOS and EOS.
const CHUNK_CONTENT: usize = CHUNK_LEN - 2;

const BOS: &str = "<|startoftext|>";
const EOS: &str = "<|endoftext|>";

/// CLIP's pre-tokenisation regex, as in transformers (special tokens first).
const SPLIT_REGEX: &str =
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

static VOCAB_JSON: &str = include_str!("../../assets/vocab.json");
static MERGES_TXT: &str = include_str!("../../assets/merges.txt");

/// Which token fills a chunk after EOS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pad {
    /// `<|endoftext|>` (49407): SD 1.x and SDXL's first tokenizer.
    EndOfText,
    /// `!` (id 0): SD 2.x and SDXL's `tokenizer_2` (OpenCLIP convention).
    Exclamation,
}

/// A prompt as fixed-length chunks for the text encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptTokens {
    /// Each exactly [`CHUNK_LEN`] ids: BOS, up to 75 prompt ids, EOS, padding.
    pub chunks: Vec<Vec<u32>>,
    /// Number of prompt tokens (without BOS/EOS/padding), for a "n/75" counter.
    pub token_count: usize,
}

/// CLIP tokenizer with known BOS/EOS/pad ids.
#[derive(Debug, Clone)]
pub struct ClipTokenizer {
    tokenizer: Tokenizer,
    bos: u32,
    eos: u32,
    pad: u32,
}

fn tok_err(e: impl std::fmt::Display) -> Error {
    Error::Tokenizer(e.to_string())
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// Builds CLIP's tokenizer pipeline from the text of vocab.json and merges.txt.
fn build_clip(vocab_json: &str, merges_txt: &str) -> Result<Tokenizer> {
    let vocab: std::collections::HashMap<String, u32> =
        serde_json::from_str(vocab_json).map_err(|e| tok_err(format!("vocab.json: {e}")))?;
    let vocab: Vocab = vocab.into_iter().collect();
    let merges: Merges = merges_txt
        .lines()
        .filter(|l| !l.starts_with("#version") && !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split(' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => Ok((a.to_string(), b.to_string())),
                _ => Err(tok_err(format!("merges.txt: malformed line {l:?}"))),
            }
        })
        .collect::<Result<_>>()?;
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .continuing_subword_prefix(String::new())
        .end_of_word_suffix("</w>".into())
        .unk_token(EOS.into())
        .fuse_unk(false)
        .build()
        .map_err(tok_err)?;

    let mut tokenizer = Tokenizer::new(bpe);
    let normalizer = NormalizerSequence::new(vec![
        NFC.into(),
        Replace::new(ReplacePattern::Regex(r"\s+".into()), " ")
            .map_err(tok_err)?
            .into(),
        Lowercase.into(),
    ]);
    tokenizer
        .with_normalizer(Some(normalizer))
        .map_err(tok_err)?;
    let split = Split::new(
        SplitPattern::Regex(SPLIT_REGEX.into()),
        SplitDelimiterBehavior::Removed,
        true,
    )
    .map_err(tok_err)?;
    // transformers uses ByteLevel's defaults apart from add_prefix_space.
    let byte_level = ByteLevel::default().add_prefix_space(false);
    tokenizer.with_pre_tokenizer(Some(PreTokenizerSequence::new(vec![
        split.into(),
        byte_level.into(),
    ])));
    // Registered as special so a literal "<|endoftext|>" in a prompt maps to
    // its id, as in transformers.
    tokenizer
        .add_special_tokens([AddedToken::from(BOS, true), AddedToken::from(EOS, true)])
        .map_err(tok_err)?;
    Ok(tokenizer)
}

/// The pad token named in a tokenizer folder's config files, if any.
fn configured_pad(dir: &Path) -> Result<Option<String>> {
    for name in ["tokenizer_config.json", "special_tokens_map.json"] {
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        let json: serde_json::Value =
            serde_json::from_str(&read_text(&path)?).map_err(|e| Error::BadConfig {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        let pad = &json["pad_token"];
        if let Some(s) = pad.as_str() {
            return Ok(Some(s.to_string()));
        }
        if let Some(s) = pad["content"].as_str() {
            return Ok(Some(s.to_string()));
        }
    }
    Ok(None)
}

impl ClipTokenizer {
    /// Loads a diffusers `tokenizer/` or `tokenizer_2/` folder: tokenizer.json
    /// when present, else vocab.json + merges.txt; the pad token comes from
    /// tokenizer_config.json, else special_tokens_map.json, else EOS.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let json_path = dir.join("tokenizer.json");
        let mut tokenizer = if json_path.is_file() {
            Tokenizer::from_file(&json_path)
                .map_err(|e| tok_err(format!("{}: {e}", json_path.display())))?
        } else {
            let vocab = dir.join("vocab.json");
            let merges = dir.join("merges.txt");
            match (vocab.is_file(), merges.is_file()) {
                (true, true) => build_clip(&read_text(&vocab)?, &read_text(&merges)?)?,
                // Every SD tokenizer uses the same CLIP BPE vocabulary, so a
                // folder with only its config falls back to the bundled copy.
                (false, false) => build_clip(VOCAB_JSON, MERGES_TXT)?,
                // Half a tokenizer means a broken download, not a choice.
                (has_vocab, _) => {
                    return Err(Error::MissingFile {
                        path: if has_vocab { merges } else { vocab },
                        hint: "the tokenizer folder is incomplete; re-download the model".into(),
                    })
                }
            }
        };
        // We chunk and pad ourselves; a tokenizer.json may carry its own settings.
        tokenizer.with_truncation(None).map_err(tok_err)?;
        tokenizer.with_padding(None);
        let pad = configured_pad(dir)?;
        Self::with_tokenizer(tokenizer, pad.as_deref())
    }

    /// The CLIP vocabulary shipped with the application.
    pub fn bundled(pad: Pad) -> Result<Self> {
        let tokenizer = build_clip(VOCAB_JSON, MERGES_TXT)?;
        let pad = match pad {
            Pad::EndOfText => EOS,
            Pad::Exclamation => "!",
        };
        Self::with_tokenizer(tokenizer, Some(pad))
    }

    fn with_tokenizer(mut tokenizer: Tokenizer, pad: Option<&str>) -> Result<Self> {
        if let Some(p) = pad {
            // transformers registers the pad token as special, so with pad "!"
            // a literal "!" in a prompt becomes id 0, not "!</w>"; match it.
            tokenizer
                .add_special_tokens([AddedToken::from(p, true)])
                .map_err(tok_err)?;
        }
        let id = |t: &str| {
            tokenizer
                .token_to_id(t)
                .ok_or_else(|| tok_err(format!("the vocabulary has no token {t:?}")))
        };
        let bos = id(BOS)?;
        let eos = id(EOS)?;
        let pad = match pad {
            Some(p) => id(p)?,
            None => eos,
        };
        Ok(Self {
            tokenizer,
            bos,
            eos,
            pad,
        })
    }

    /// Id that fills a chunk after EOS.
    pub fn pad_id(&self) -> u32 {
        self.pad
    }

    /// `<|startoftext|>` (49406 in CLIP's vocabulary).
    pub fn bos_id(&self) -> u32 {
        self.bos
    }

    /// `<|endoftext|>` (49407 in CLIP's vocabulary).
    pub fn eos_id(&self) -> u32 {
        self.eos
    }

    /// Prompt ids without BOS/EOS, of any length.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.tokenizer.encode(text, false).map_err(tok_err)?;
        Ok(enc.get_ids().to_vec())
    }

    /// Splits a prompt into 75-token chunks, each framed as BOS + ids + EOS and
    /// padded to 77 (the AUTOMATIC1111 convention for long prompts; we cut at
    /// fixed positions rather than backtracking to commas).
    pub fn chunks(&self, text: &str) -> Result<PromptTokens> {
        let ids = self.encode(text)?;
        let mut chunks: Vec<Vec<u32>> = ids.chunks(CHUNK_CONTENT).map(|c| self.frame(c)).collect();
        if chunks.is_empty() {
            chunks.push(self.frame(&[]));
        }
        Ok(PromptTokens {
            chunks,
            token_count: ids.len(),
        })
    }

    fn frame(&self, ids: &[u32]) -> Vec<u32> {
        let mut chunk = Vec::with_capacity(CHUNK_LEN);
        chunk.push(self.bos);
        chunk.extend_from_slice(ids);
        chunk.push(self.eos);
        chunk.resize(CHUNK_LEN, self.pad);
        chunk
    }
}
