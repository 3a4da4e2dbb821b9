//! Metadata in image files: what we write reads back exactly, other tools'
//! files read correctly, and hostile files give messages, not panics.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use latent_studio::diffusion::params::GenerationParams;
use latent_studio::engine::JobResult;
use latent_studio::library::image_files::{encode_png, save_png};
use latent_studio::library::info::Source;
use latent_studio::library::png_chunks::{read_text_chunks, read_text_chunks_from};
use latent_studio::library::{infotext, read_image_info, InfoError};
use latent_studio::models::source::ModelSource;
use latent_studio::sampling::schedulers::SamplerKind;

fn result(params: GenerationParams, img2img: bool) -> JobResult {
    JobResult {
        image: Arc::new(image::RgbImage::from_pixel(16, 8, image::Rgb([10, 20, 30]))),
        params,
        model: ModelSource::Hub("stabilityai/sd-turbo".into()),
        previews: Arc::new(Vec::new()),
        token_count: 3,
        duration: Duration::from_secs(1),
        img2img,
        start_image_sha256: img2img.then(|| "ab".repeat(32)),
        scheduler: Default::default(),
        model_revision: Some("0123abcd".into()),
        model_hash: None,
    }
}

fn write_png_with(dir: &Path, name: &str, chunks: &[(&str, &str)]) -> PathBuf {
    let text: Vec<(String, String)> = chunks
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let img = image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]));
    let path = dir.join(name);
    std::fs::write(&path, encode_png(&img, &text).unwrap()).unwrap();
    path
}

const TRICKY_PROMPTS: &[&str] = &[
    "a terrier, in the snow: golden hour",
    "quoted \"words\" and 'single' ones, (emphasis:1.2)",
    "two\nlines",
    "emoji 🐶🎨 and symbols ★ ✓",
    "日本語のプロンプト、猫が窓辺で眠る",
    "кошка на окне, Ελληνικά, עברית",
];

#[test]
fn what_we_write_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    for (i, prompt) in TRICKY_PROMPTS.iter().enumerate() {
        let params = GenerationParams {
            prompt: prompt.to_string(),
            negative_prompt: "blurry, \"bad\": hands".into(),
            steps: 20 + i,
            cfg_scale: 6.5,
            seed: 4_000_000_000 + i as u64,
            sampler: SamplerKind::DpmPp2MKarras,
            width: Some(512),
            height: Some(768),
            strength: 0.35,
            ..Default::default()
        };
        let r = result(params.clone(), true);
        let path = save_png(dir.path(), &r.image, &params, &r.png_text()).unwrap();

        // Our JSON chunk: lossless.
        let info = read_image_info(&path).unwrap();
        assert_eq!(info.source, Source::LatentStudio);
        assert_eq!(info.to_params(), params, "prompt {prompt:?}");
        assert_eq!(info.model.as_deref(), Some("stabilityai/sd-turbo"));

        // The A1111 text alone gives the same settings (what A1111/Civitai see).
        let chunks = read_text_chunks(&path).unwrap();
        let a1111 = chunks.iter().find(|c| c.keyword == "parameters").unwrap();
        let only = write_png_with(dir.path(), "a1111.png", &[("parameters", &a1111.text)]);
        let info = read_image_info(&only).unwrap();
        assert_eq!(info.source, Source::A1111);
        assert_eq!(info.to_params(), params, "A1111 text of {prompt:?}");
        assert_eq!(
            (info.sampler.as_deref(), info.scheduler.as_deref()),
            (Some("DPM++ 2M"), Some("Karras"))
        );
    }
}

#[test]
fn reads_a1111_infotexts_written_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    // The format as A1111 ≥ 1.9 writes it.
    let modern = "a lighthouse at dusk, volumetric light\nNegative prompt: lowres\nSteps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3795812, Size: 832x1216, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Denoising strength: 0.45, RNG: CPU, Version: v1.10.1";
    let info = read_image_info(&write_png_with(
        dir.path(),
        "m.png",
        &[("parameters", modern)],
    ))
    .unwrap();
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "source": "a1111", "prompt": "a lighthouse at dusk, volumetric light",
            "negative_prompt": "lowres", "steps": 30, "sampler": "DPM++ 2M", "scheduler": "Karras",
            "cfg_scale": 6.5, "seed": 3795812, "width": 832, "height": 1216,
            "model": "sd_xl_base_1.0", "model_hash": "31e35c80fc", "strength": 0.45
        })
    );
    // Old combined sampler names, quoted values, no negative prompt.
    let old = "portrait of a knight\nSteps: 25, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 42, Size: 512x512, Model: \"my, model: v2\"";
    let info =
        read_image_info(&write_png_with(dir.path(), "o.png", &[("parameters", old)])).unwrap();
    assert_eq!(
        (info.sampler.as_deref(), info.scheduler.as_deref()),
        (Some("DPM++ 2M"), Some("Karras"))
    );
    assert_eq!(info.model.as_deref(), Some("my, model: v2"));
    assert_eq!(info.negative_prompt, None);
    assert_eq!(info.to_params().sampler, SamplerKind::DpmPp2MKarras);
    // A sampler we do not have is reported as written.
    let heun = "x\nSteps: 10, Sampler: Heun, CFG scale: 5, Seed: 1";
    let info = read_image_info(&write_png_with(
        dir.path(),
        "h.png",
        &[("parameters", heun)],
    ))
    .unwrap();
    assert_eq!(info.sampler.as_deref(), Some("Heun"));
}

#[test]
fn reads_a_comfyui_prompt_graph() {
    let dir = tempfile::tempdir().unwrap();
    // The API graph ComfyUI's default workflow saves in the `prompt` chunk.
    let graph = r#"{
      "3": {"class_type": "KSampler", "inputs": {"seed": 156680208700286, "steps": 20, "cfg": 8.0,
            "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0,
            "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
      "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
      "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 640, "batch_size": 1}},
      "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,", "clip": ["4", 1]}},
      "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
      "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
      "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}}
    }"#;
    let path = write_png_with(
        dir.path(),
        "c.png",
        &[("prompt", graph), ("workflow", "{}")],
    );
    let info = read_image_info(&path).unwrap();
    assert_eq!(
        serde_json::to_value(&info).unwrap(),
        serde_json::json!({
            "source": "comfyui",
            "prompt": "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,",
            "negative_prompt": "text, watermark", "steps": 20, "sampler": "DPM++ 2M", "scheduler": "Karras",
            "cfg_scale": 8.0, "seed": 156680208700286u64, "width": 512, "height": 640,
            "model": "v1-5-pruned-emaonly.safetensors"
        })
    );
}

#[test]
fn reads_invokeai_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let meta = r#"{"generation_mode": "txt2img", "positive_prompt": "a red fox", "negative_prompt": "",
        "width": 1024, "height": 1024, "seed": 123, "steps": 30, "cfg_scale": 7.5, "scheduler": "dpmpp_2m_k",
        "model": {"key": "x", "name": "SDXL base", "base": "sdxl", "type": "main"}}"#;
    let info = read_image_info(&write_png_with(
        dir.path(),
        "i.png",
        &[("invokeai_metadata", meta)],
    ))
    .unwrap();
    assert_eq!(info.source, Source::InvokeAi);
    assert_eq!(info.prompt.as_deref(), Some("a red fox"));
    assert_eq!(info.negative_prompt, None);
    assert_eq!(
        (info.sampler.as_deref(), info.scheduler.as_deref()),
        (Some("DPM++ 2M"), Some("Karras"))
    );
    assert_eq!(
        (info.width, info.height, info.seed, info.steps),
        (Some(1024), Some(1024), Some(123), Some(30))
    );
    assert_eq!(info.model.as_deref(), Some("SDXL base"));
}

/// A PNG assembled chunk by chunk (so tests can make broken ones).
fn raw_png(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    for (kind, data) in chunks {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(*kind);
        out.extend_from_slice(data);
        let mut h = crc32fast::Hasher::new();
        h.update(*kind);
        h.update(data);
        out.extend_from_slice(&h.finalize().to_be_bytes());
    }
    out
}

fn text_chunk(keyword: &str, text: &[u8]) -> Vec<u8> {
    let mut d = keyword.as_bytes().to_vec();
    d.push(0);
    d.extend_from_slice(text);
    d
}

#[test]
fn bad_files_give_messages_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let params = b"p\nSteps: 5, Sampler: Euler, CFG scale: 2, Seed: 9";

    // Truncated after the metadata: the metadata still reads.
    let mut png = raw_png(&[
        (b"IHDR", vec![0; 13]),
        (b"tEXt", text_chunk("parameters", params)),
        (b"IDAT", vec![7; 1000]),
    ]);
    png.truncate(png.len() - 500);
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &png).unwrap();
    assert_eq!(read_image_info(&cut).unwrap().seed, Some(9));

    // Truncated inside the header: an error naming the file.
    let head = dir.path().join("head.png");
    std::fs::write(&head, &png[..20]).unwrap();
    let err = read_image_info(&head).unwrap_err();
    assert!(matches!(err, InfoError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("head.png"), "{err}");

    // Not a PNG at all.
    let txt = dir.path().join("notes.txt");
    std::fs::write(&txt, "hello").unwrap();
    assert!(read_image_info(&txt)
        .unwrap_err()
        .to_string()
        .contains("not a PNG"));

    // A 50 MB text chunk is skipped without being loaded; the small one after it still reads.
    let huge = raw_png(&[
        (b"IHDR", vec![0; 13]),
        (b"tEXt", text_chunk("parameters", &vec![b'x'; 50 << 20])),
        (b"tEXt", text_chunk("prompt", b"{}")),
        (b"IEND", vec![]),
    ]);
    let chunks = read_text_chunks_from(std::io::Cursor::new(huge)).unwrap();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].keyword, "prompt");

    // Invalid UTF-8 in an iTXt chunk is repaired, a bad CRC chunk ignored.
    let mut itxt = b"parameters\0\0\0\0\0".to_vec();
    itxt.extend_from_slice(b"caf\xff\xfe\nSteps: 1, Seed: 2, CFG scale: 3");
    let mut bad_crc = raw_png(&[(
        b"tEXt",
        text_chunk("parameters", b"x\nSteps: 1, Seed: 99, CFG scale: 1"),
    )]);
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 0xff;
    let mut png = raw_png(&[(b"iTXt", itxt)]);
    png.extend_from_slice(&bad_crc[8..]);
    let chunks = read_text_chunks_from(std::io::Cursor::new(png)).unwrap();
    assert_eq!(chunks.len(), 1);
    assert!(chunks[0].text.starts_with("caf\u{fffd}"));

    // A zTXt "zip bomb" expands no further than the limit.
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![b'a'; 64 << 20]).unwrap();
    let mut ztxt = b"parameters\0\0".to_vec();
    ztxt.extend_from_slice(&z.finish().unwrap());
    let chunks = read_text_chunks_from(std::io::Cursor::new(raw_png(&[(b"zTXt", ztxt)]))).unwrap();
    assert!(chunks.is_empty(), "oversized text is dropped");

    // A PNG with no parameters says so.
    let plain = write_png_with(dir.path(), "plain.png", &[("Software", "GIMP")]);
    assert!(matches!(
        read_image_info(&plain),
        Err(InfoError::NoParameters(_))
    ));
}

#[test]
fn the_fuzz_corpus_parses_without_panicking() {
    let corpus = latent_studio::testing::data_dir("infotext-corpus");
    let mut n = 0;
    for entry in std::fs::read_dir(corpus).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let parsed = infotext::parse(&text);
        let _ = latent_studio::library::a1111::params_from_infotext(&parsed);
        let png = raw_png(&[(b"tEXt", text_chunk("parameters", &bytes))]);
        let chunks = read_text_chunks_from(std::io::Cursor::new(png)).unwrap();
        let _ = latent_studio::library::info::from_chunks(&chunks);
        n += 1;
    }
    assert!(n >= 7);
}

#[test]
fn a_hostile_parameters_line_is_parsed_in_linear_time() {
    // Quadratic scanning would take minutes on these; linear takes milliseconds.
    for line in [
        "a".repeat(200_000),
        "k: \"".repeat(50_000),
        " ".repeat(200_000) + "x",
    ] {
        let started = std::time::Instant::now();
        let _ = infotext::parse(&format!("p\n{line}"));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parsing_any_text_never_panics(text in "\\PC*") {
        let parsed = infotext::parse(&text);
        let _ = latent_studio::library::a1111::params_from_infotext(&parsed);
    }

    #[test]
    fn reading_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut png = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
        png.extend_from_slice(&bytes);
        let _ = read_text_chunks_from(std::io::Cursor::new(png));
        let _ = read_text_chunks_from(std::io::Cursor::new(bytes));
    }

    #[test]
    fn prompts_round_trip_through_the_a1111_text(
        prompt in "[a-zA-Z0-9 ,:;'\"()!?🐶猫é]{1,60}",
        negative in "[a-z ,:]{0,20}",
        seed in any::<u32>(),
        steps in 1usize..150,
    ) {
        // A1111 strips each line; so do we.
        let prompt = prompt.trim().to_string();
        let negative = negative.trim().to_string();
        prop_assume!(!prompt.is_empty() && !prompt.starts_with("Negative prompt:"));
        let params = GenerationParams { prompt, negative_prompt: negative, seed: seed as u64, steps, ..Default::default() };
        let text = latent_studio::library::a1111::to_infotext(&params, &Default::default());
        let back = latent_studio::library::a1111::params_from_infotext(&infotext::parse(&text));
        prop_assert_eq!(back, params);
    }
}
