//! Our generation parameters in AUTOMATIC1111's vocabulary, both ways.

use crate::diffusion::params::GenerationParams;
use crate::library::infotext::{self, Infotext, Pair};
use crate::sampling::schedulers::SamplerKind;

/// What else an infotext records besides the parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InfotextExtras {
    /// Model name (folder name or repo id).
    pub model: Option<String>,
    /// First 10 hex digits of the weights file's SHA-256, when known.
    pub model_hash: Option<String>,
    /// img2img: record `Denoising strength`.
    pub img2img: bool,
}

/// A1111's (sampler, schedule type) for our sampler (≥ 1.9 writes the
/// Karras ramp as a separate "Schedule type").
pub fn sampler_and_schedule(kind: SamplerKind) -> (&'static str, Option<&'static str>) {
    match kind {
        SamplerKind::DpmPp2MKarras => ("DPM++ 2M", Some("Karras")),
        other => (other.a1111_name(), None),
    }
}

/// Our sampler for an A1111 sampler name and optional schedule type; old
/// combined names ("DPM++ 2M Karras") are split first.
pub fn sampler_from_a1111(sampler: &str, schedule: Option<&str>) -> Option<SamplerKind> {
    let sampler = sampler.trim();
    let (name, schedule) = match sampler.strip_suffix(" Karras") {
        Some(base) => (base, Some("Karras")),
        None => (sampler, schedule.map(str::trim)),
    };
    let base: SamplerKind = name.parse().ok()?;
    let karras = schedule.is_some_and(|s| s.eq_ignore_ascii_case("karras"));
    Some(match (base, karras) {
        (SamplerKind::DpmPp2M, true) => SamplerKind::DpmPp2MKarras,
        (kind, _) => kind,
    })
}

/// The `parameters` text A1111 would write for an image made with `params`.
pub fn to_infotext(params: &GenerationParams, extras: &InfotextExtras) -> String {
    let (sampler, schedule) = sampler_and_schedule(params.sampler);
    let mut pairs: Vec<Pair> = vec![
        ("Steps".into(), params.steps.to_string()),
        ("Sampler".into(), sampler.into()),
    ];
    if let Some(s) = schedule {
        pairs.push(("Schedule type".into(), s.into()));
    }
    pairs.push(("CFG scale".into(), format_number(params.cfg_scale)));
    pairs.push(("Seed".into(), params.seed.to_string()));
    if let (Some(w), Some(h)) = (params.width, params.height) {
        pairs.push(("Size".into(), format!("{w}x{h}")));
    }
    if let Some(hash) = &extras.model_hash {
        pairs.push(("Model hash".into(), hash.clone()));
    }
    if let Some(model) = &extras.model {
        pairs.push(("Model".into(), model.clone()));
    }
    if extras.img2img {
        pairs.push(("Denoising strength".into(), format_number(params.strength)));
    }
    // Our noise is PyTorch's CPU generator: A1111's "CPU" RNG source.
    pairs.push(("RNG".into(), "CPU".into()));
    pairs.push((
        "Version".into(),
        format!("latent-studio {}", env!("CARGO_PKG_VERSION")),
    ));
    infotext::write(&params.prompt, &params.negative_prompt, &pairs)
}

/// Numbers as Python prints them in A1111 (7 → "7", 7.5 → "7.5").
fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The parameters an infotext describes, as far as it describes them.
pub fn params_from_infotext(info: &Infotext) -> GenerationParams {
    let mut p = GenerationParams {
        prompt: info.prompt.clone(),
        negative_prompt: info.negative_prompt.clone(),
        ..GenerationParams::default()
    };
    let num = |k: &str| info.get(k).and_then(|v| v.trim().parse::<f64>().ok());
    if let Some(steps) = info.get("Steps").and_then(|v| v.trim().parse().ok()) {
        p.steps = steps;
    }
    if let Some(cfg) = num("CFG scale") {
        p.cfg_scale = cfg;
    }
    if let Some(seed) = info.get("Seed").and_then(|v| v.trim().parse().ok()) {
        p.seed = seed;
    }
    if let Some(kind) = info
        .get("Sampler")
        .and_then(|s| sampler_from_a1111(s, info.get("Schedule type")))
    {
        p.sampler = kind;
    }
    if let Some((w, h)) = info.get("Size").and_then(infotext::parse_size) {
        p.width = Some(w);
        p.height = Some(h);
    }
    if let Some(s) = num("Denoising strength") {
        p.strength = s;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_a1111_layout() {
        let params = GenerationParams {
            prompt: "a terrier, in snow".into(),
            negative_prompt: "blurry".into(),
            steps: 20,
            cfg_scale: 7.0,
            seed: 1234,
            sampler: SamplerKind::DpmPp2MKarras,
            width: Some(512),
            height: Some(768),
            ..Default::default()
        };
        let extras = InfotextExtras {
            model: Some("sd15".into()),
            model_hash: Some("6ce0161689".into()),
            img2img: false,
        };
        let text = to_infotext(&params, &extras);
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            text,
            format!("a terrier, in snow\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x768, Model hash: 6ce0161689, Model: sd15, RNG: CPU, Version: latent-studio {version}")
        );
        let back = params_from_infotext(&infotext::parse(&text));
        assert_eq!(back, params);
    }

    #[test]
    fn old_combined_sampler_names_split() {
        assert_eq!(
            sampler_from_a1111("DPM++ 2M Karras", None),
            Some(SamplerKind::DpmPp2MKarras)
        );
        assert_eq!(
            sampler_from_a1111("DPM++ 2M", Some("Karras")),
            Some(SamplerKind::DpmPp2MKarras)
        );
        assert_eq!(
            sampler_from_a1111("DPM++ 2M", Some("Automatic")),
            Some(SamplerKind::DpmPp2M)
        );
        assert_eq!(
            sampler_from_a1111("Euler a", None),
            Some(SamplerKind::EulerAncestral)
        );
        assert_eq!(sampler_from_a1111("Heun", None), None);
    }

    #[test]
    fn img2img_records_the_strength() {
        let params = GenerationParams {
            prompt: "x".into(),
            strength: 0.35,
            ..Default::default()
        };
        let text = to_infotext(
            &params,
            &InfotextExtras {
                img2img: true,
                ..Default::default()
            },
        );
        assert!(text.contains("Denoising strength: 0.35"), "{text}");
        assert_eq!(params_from_infotext(&infotext::parse(&text)).strength, 0.35);
    }
}
