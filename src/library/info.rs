//! Generation parameters read back from an image, whichever tool made it:
//! Latent Studio (our JSON), AUTOMATIC1111/Forge (`parameters`), ComfyUI
//! (`prompt` graph JSON) or InvokeAI (`invokeai_metadata`).

use serde::Serialize;
use serde_json::Value;

use crate::diffusion::params::GenerationParams;
use crate::library::a1111::{params_from_infotext, sampler_and_schedule};
use crate::library::infotext::{self, parse_size};
use crate::library::png_chunks::TextChunk;
use crate::library::record::{StudioRecord, KEYWORD};
use crate::sampling::schedulers::SamplerKind;

/// Which tool wrote the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// Latent Studio's own JSON chunk.
    #[serde(rename = "latent-studio")]
    LatentStudio,
    /// AUTOMATIC1111 / Forge infotext.
    A1111,
    /// ComfyUI's API graph.
    ComfyUi,
    /// InvokeAI's metadata JSON.
    InvokeAi,
}

/// What an image says about how it was made. Absent fields were not recorded.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ImageInfo {
    /// Which tool wrote it.
    pub source: Source,
    /// The prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The negative prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    /// Denoising steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<u64>,
    /// Sampler name (A1111's vocabulary when we know it, else as written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampler: Option<String>,
    /// Schedule type ("Karras"), when one was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    /// Guidance scale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cfg_scale: Option<f64>,
    /// Seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Width in pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Model name or path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A1111's short model hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_hash: Option<String>,
    /// img2img strength (denoise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strength: Option<f64>,
}

impl ImageInfo {
    fn empty(source: Source) -> Self {
        Self {
            source,
            prompt: None,
            negative_prompt: None,
            steps: None,
            sampler: None,
            scheduler: None,
            cfg_scale: None,
            seed: None,
            width: None,
            height: None,
            model: None,
            model_hash: None,
            strength: None,
        }
    }

    /// These settings as our parameters: unknown fields, and samplers we do
    /// not have, keep our defaults.
    pub fn to_params(&self) -> GenerationParams {
        let d = GenerationParams::default();
        let sampler = self
            .sampler
            .as_deref()
            .and_then(|s| crate::library::a1111::sampler_from_a1111(s, self.scheduler.as_deref()))
            .unwrap_or(d.sampler);
        GenerationParams {
            prompt: self.prompt.clone().unwrap_or_default(),
            negative_prompt: self.negative_prompt.clone().unwrap_or_default(),
            steps: self.steps.map_or(d.steps, |s| s as usize),
            cfg_scale: self.cfg_scale.unwrap_or(d.cfg_scale),
            seed: self.seed.unwrap_or(d.seed),
            sampler,
            width: self.width,
            height: self.height,
            rng: d.rng,
            strength: self.strength.unwrap_or(d.strength),
        }
    }
}

/// Read the parameters from an image's text chunks, preferring the most
/// complete source. `None` when no chunk holds parameters.
pub fn from_chunks(chunks: &[TextChunk]) -> Option<ImageInfo> {
    let get = |k: &str| {
        chunks
            .iter()
            .find(|c| c.keyword == k)
            .map(|c| c.text.as_str())
    };
    get(KEYWORD)
        .and_then(from_record)
        .or_else(|| get("invokeai_metadata").and_then(from_invokeai))
        .or_else(|| get("parameters").and_then(from_a1111))
        .or_else(|| get("prompt").and_then(from_comfyui))
}

fn from_params(source: Source, p: &GenerationParams) -> ImageInfo {
    let (sampler, schedule) = sampler_and_schedule(p.sampler);
    ImageInfo {
        prompt: Some(p.prompt.clone()),
        negative_prompt: (!p.negative_prompt.is_empty()).then(|| p.negative_prompt.clone()),
        steps: Some(p.steps as u64),
        sampler: Some(sampler.to_string()),
        scheduler: schedule.map(str::to_string),
        cfg_scale: Some(p.cfg_scale),
        seed: Some(p.seed),
        width: p.width,
        height: p.height,
        ..ImageInfo::empty(source)
    }
}

fn from_record(json: &str) -> Option<ImageInfo> {
    let record: StudioRecord = serde_json::from_str(json).ok()?;
    let mut info = from_params(Source::LatentStudio, &record.params);
    info.model = Some(record.model.to_string());
    info.strength = record.img2img.then_some(record.params.strength);
    Some(info)
}

fn from_a1111(text: &str) -> Option<ImageInfo> {
    let parsed = infotext::parse(text);
    if parsed.params.is_empty() {
        return None;
    }
    let p = params_from_infotext(&parsed);
    let mut info = ImageInfo::empty(Source::A1111);
    info.prompt = Some(parsed.prompt.clone());
    info.negative_prompt =
        (!parsed.negative_prompt.is_empty()).then(|| parsed.negative_prompt.clone());
    info.steps = parsed.get("Steps").and_then(|v| v.trim().parse().ok());
    info.cfg_scale = parsed.get("CFG scale").and_then(|v| v.trim().parse().ok());
    info.seed = parsed.get("Seed").and_then(|v| v.trim().parse().ok());
    if let Some(s) = parsed.get("Sampler") {
        // Old combined names are split: "DPM++ 2M Karras" → DPM++ 2M + Karras.
        let known = crate::library::a1111::sampler_from_a1111(s, parsed.get("Schedule type"));
        match known {
            Some(kind) => {
                let (name, schedule) = sampler_and_schedule(kind);
                info.sampler = Some(name.into());
                info.scheduler = schedule
                    .map(str::to_string)
                    .or_else(|| parsed.get("Schedule type").map(str::to_string));
            }
            None => {
                info.sampler = Some(s.to_string());
                info.scheduler = parsed.get("Schedule type").map(str::to_string);
            }
        }
    }
    if let Some((w, h)) = parsed.get("Size").and_then(parse_size) {
        info.width = Some(w);
        info.height = Some(h);
    }
    info.model = parsed.get("Model").map(str::to_string);
    info.model_hash = parsed.get("Model hash").map(str::to_string);
    info.strength = parsed.get("Denoising strength").map(|_| p.strength);
    Some(info)
}

/// InvokeAI 3–5 `invokeai_metadata`.
fn from_invokeai(json: &str) -> Option<ImageInfo> {
    let v: Value = serde_json::from_str(json).ok()?;
    let obj = v.as_object()?;
    let mut info = ImageInfo::empty(Source::InvokeAi);
    info.prompt = str_field(&v, "positive_prompt");
    info.negative_prompt = str_field(&v, "negative_prompt").filter(|s| !s.is_empty());
    info.steps = v.get("steps").and_then(Value::as_u64);
    info.cfg_scale = v.get("cfg_scale").and_then(Value::as_f64);
    info.seed = v.get("seed").and_then(Value::as_u64);
    info.width = v.get("width").and_then(Value::as_u64).map(|x| x as u32);
    info.height = v.get("height").and_then(Value::as_u64).map(|x| x as u32);
    info.strength = v.get("strength").and_then(Value::as_f64);
    if let Some(s) = str_field(&v, "scheduler") {
        let (sampler, schedule) = invokeai_scheduler(&s);
        info.sampler = Some(sampler);
        info.scheduler = schedule;
    }
    info.model = v.get("model").and_then(|m| {
        m.as_str()
            .map(str::to_string)
            .or_else(|| str_field(m, "name"))
            .or_else(|| str_field(m, "model_name"))
    });
    (info.prompt.is_some() || obj.contains_key("seed")).then_some(info)
}

fn invokeai_scheduler(s: &str) -> (String, Option<String>) {
    let karras = s.ends_with("_k");
    let base = s.trim_end_matches("_k");
    let name = match base {
        "euler_a" => "Euler a",
        "euler" => "Euler",
        "dpmpp_2m" => "DPM++ 2M",
        "ddim" => "DDIM",
        "lcm" => "LCM",
        "unipc" => "UniPC",
        other => return (other.to_string(), karras.then(|| "Karras".into())),
    };
    (name.to_string(), karras.then(|| "Karras".into()))
}

/// ComfyUI's `prompt` chunk: the API graph. The KSampler node gives seed,
/// steps, cfg, sampler, scheduler and denoise; its `positive`/`negative`
/// inputs lead to CLIPTextEncode nodes; `latent_image` to the size; `model`
/// to the checkpoint loader.
fn from_comfyui(json: &str) -> Option<ImageInfo> {
    let graph: Value = serde_json::from_str(json).ok()?;
    let nodes = graph.as_object()?;
    let sampler = nodes.values().find(|n| {
        n.get("class_type")
            .and_then(Value::as_str)
            .is_some_and(|c| c.starts_with("KSampler"))
    })?;
    let inputs = sampler.get("inputs")?;
    let mut info = ImageInfo::empty(Source::ComfyUi);
    info.seed = inputs
        .get("seed")
        .or_else(|| inputs.get("noise_seed"))
        .and_then(Value::as_u64);
    info.steps = inputs.get("steps").and_then(Value::as_u64);
    info.cfg_scale = inputs.get("cfg").and_then(Value::as_f64);
    info.strength = inputs
        .get("denoise")
        .and_then(Value::as_f64)
        .filter(|d| *d < 1.0);
    if let Some(name) = inputs.get("sampler_name").and_then(Value::as_str) {
        let (sampler, _) = comfy_sampler(name);
        info.sampler = Some(sampler);
    }
    info.scheduler = inputs.get("scheduler").and_then(Value::as_str).map(|s| {
        if s == "karras" {
            "Karras".into()
        } else {
            s.to_string()
        }
    });
    let text_of = |link: Option<&Value>| -> Option<String> {
        let node = follow(nodes, link?)?;
        node.get("inputs")?
            .get("text")
            .or_else(|| node.get("inputs")?.get("text_g"))?
            .as_str()
            .map(str::to_string)
    };
    info.prompt = text_of(inputs.get("positive"));
    info.negative_prompt = text_of(inputs.get("negative")).filter(|s| !s.is_empty());
    if let Some(latent) = inputs.get("latent_image").and_then(|l| follow(nodes, l)) {
        let li = latent.get("inputs");
        info.width = li
            .and_then(|i| i.get("width"))
            .and_then(Value::as_u64)
            .map(|x| x as u32);
        info.height = li
            .and_then(|i| i.get("height"))
            .and_then(Value::as_u64)
            .map(|x| x as u32);
    }
    info.model = inputs
        .get("model")
        .and_then(|m| follow(nodes, m))
        .and_then(|n| {
            n.get("inputs")?
                .get("ckpt_name")?
                .as_str()
                .map(str::to_string)
        });
    Some(info)
}

/// A ComfyUI link `["node id", output index]` to the node it points at.
fn follow<'a>(nodes: &'a serde_json::Map<String, Value>, link: &Value) -> Option<&'a Value> {
    let id = link.as_array()?.first()?;
    let key = id
        .as_str()
        .map(str::to_string)
        .or_else(|| id.as_u64().map(|n| n.to_string()))?;
    nodes.get(&key)
}

fn comfy_sampler(name: &str) -> (String, Option<SamplerKind>) {
    let kind = match name {
        "euler_ancestral" => Some(SamplerKind::EulerAncestral),
        "euler" => Some(SamplerKind::Euler),
        "dpmpp_2m" => Some(SamplerKind::DpmPp2M),
        "ddim" => Some(SamplerKind::Ddim),
        "lcm" => Some(SamplerKind::Lcm),
        "uni_pc" | "uni_pc_bh2" => Some(SamplerKind::UniPc),
        _ => None,
    };
    match kind {
        Some(k) => (k.a1111_name().to_string(), Some(k)),
        None => (name.to_string(), None),
    }
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(str::to_string)
}
