//! The `latent-studio generate` command, run as a process.

mod common;

use std::process::Command;

use common::{tiny_model, Family};

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_latent-studio"));
    // Never reach for the network or a user's models from a test.
    c.env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", std::env::temp_dir().join("latent-studio-no-hub"))
        .env_remove("LATENT_STUDIO_MODEL")
        .env_remove("LATENT_STUDIO_TAESD");
    c
}

#[test]
fn generate_writes_the_image_and_every_preview() {
    let (tmp, root) = tiny_model(Family::Sd1);
    let out = tmp.path().join("out.png");
    let previews = tmp.path().join("steps");
    let run = cli()
        .args(["generate", "--model"])
        .arg(&root)
        .args([
            "--prompt",
            "a terrier",
            "--steps",
            "3",
            "--seed",
            "5",
            "--width",
            "64",
            "--height",
            "64",
        ])
        .arg("--previews")
        .arg(&previews)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("step 3/3"), "{stderr}");
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (64, 64));
    let mut names: Vec<String> = std::fs::read_dir(&previews)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["step-001.png", "step-002.png", "step-003.png"]);
    // No temporary file is left beside the output.
    let leftovers = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("partial")
        })
        .count();
    assert_eq!(leftovers, 0);

    // `info` reads the parameters back as one JSON object.
    let info = cli().arg("info").arg(&out).output().unwrap();
    assert_ok(&info);
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(json["source"], "latent-studio");
    assert_eq!(json["prompt"], "a terrier");
    assert_eq!(
        (json["seed"].as_u64(), json["steps"].as_u64()),
        (Some(5), Some(3))
    );
    assert_eq!(
        (json["width"].as_u64(), json["height"].as_u64()),
        (Some(64), Some(64))
    );
    assert_eq!(json["sampler"], "Euler a");
    assert!(json.get("strength").is_none(), "txt2img has no strength");

    // A PNG without parameters (a step preview): non-zero exit, one line.
    let none = cli()
        .arg("info")
        .arg(previews.join("step-001.png"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(!none.status.success());
    assert!(
        stderr.contains("holds no generation parameters"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// The command succeeded; else its stderr is the failure message.
#[track_caller]
fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_fails_with(args: &[&str], needle: &str) {
    let run = cli().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "should fail: {args:?}");
    assert!(stderr.contains(needle), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let error_lines = stderr.lines().filter(|l| l.starts_with("error")).count();
    assert_eq!(error_lines, 1, "one-line reason expected: {stderr}");
}

#[test]
fn errors_are_one_line_and_non_zero() {
    let (tmp, root) = tiny_model(Family::Sd1);
    let root = root.to_string_lossy().into_owned();
    let out = tmp.path().join("o.png").to_string_lossy().into_owned();
    let base = ["generate", "--model", &root, "--prompt", "x", "--out", &out];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(extra.iter().map(|s| s.to_string()))
            .collect()
    };
    let check = |extra: &[&'static str], needle: &str| {
        let args = with(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_fails_with(&args, needle);
    };
    check(&["--width", "100000", "--height", "64"], "width");
    check(&["--steps", "0"], "steps");
    check(&["--strength", "2", "--init-image", "nope.png"], "strength");
    check(&["--init-image", "/no/such/picture.png"], "picture.png");
    assert_fails_with(
        &[
            "generate",
            "--model",
            "/no/such/folder",
            "--prompt",
            "x",
            "--out",
            &out,
        ],
        "/no/such/folder",
    );
    // Without --model the built-in model is used: see
    // generate_without_a_model_uses_the_built_in_emoji_model_offline.
}

#[test]
fn taesd_previews_on_request() {
    let (tmp, root) = tiny_model(Family::Sd1);
    let taesd = latent_studio::testing::data_dir("taesd");
    let previews = tmp.path().join("steps");
    let run = cli()
        .env("LATENT_STUDIO_TAESD", &taesd)
        .args(["generate", "--model"])
        .arg(&root)
        .args([
            "--prompt",
            "x",
            "--steps",
            "2",
            "--preview",
            "taesd",
            "--previews",
        ])
        .arg(&previews)
        .arg("--out")
        .arg(tmp.path().join("o.png"))
        .output()
        .unwrap();
    assert_ok(&run);
    // Full-resolution TAESD previews, not the 8×8 latent-sized ones.
    let step = image::open(previews.join("step-002.png")).unwrap();
    assert_eq!((step.width(), step.height()), (64, 64));
}

#[test]
fn models_list_shows_the_catalog_and_add_links_a_checkpoint() {
    let (tmp, _) = tiny_model(Family::Sd1);
    let data = tmp.path().join("data");
    let list = cli()
        .env("XDG_DATA_HOME", &data)
        .args(["models", "list"])
        .output()
        .unwrap();
    assert!(list.status.success());
    let text = String::from_utf8_lossy(&list.stdout);
    for id in [
        "sd-turbo",
        "sdxl-turbo",
        "sd15",
        "sd21",
        "sdxl",
        "taesd",
        "taesdxl",
    ] {
        assert!(text.contains(id), "{id} missing from\n{text}");
    }
    assert!(
        text.contains("CreativeML Open RAIL-M") && text.contains("4.3 GB"),
        "{text}"
    );

    // A checkpoint in LDM layout, added to the models folder, is listed.
    let root = common::write_tiny_model_shaped(&tmp.path().join("d"), Family::Sdxl, true);
    let ckpt = tmp.path().join("tiny-xl.safetensors");
    common::ldm::write_checkpoint(&root, Family::Sdxl, &ckpt);
    let add = cli()
        .env("XDG_DATA_HOME", &data)
        .args(["models", "add"])
        .arg(&ckpt)
        .output()
        .unwrap();
    assert_ok(&add);
    assert!(String::from_utf8_lossy(&add.stdout).contains("SDXL single-file checkpoint"));
    let list = cli()
        .env("XDG_DATA_HOME", &data)
        .args(["models", "list"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("tiny-xl"));

    // A pickle file is refused with the reason; an unknown id names the fix.
    let pickle = tmp.path().join("old.ckpt");
    std::fs::write(&pickle, b"not really").unwrap();
    let add = cli()
        .env("XDG_DATA_HOME", &data)
        .args(["models", "add"])
        .arg(&pickle)
        .output()
        .unwrap();
    assert!(!add.status.success());
    assert!(String::from_utf8_lossy(&add.stderr).contains("arbitrary code"));
    let dl = cli()
        .args(["models", "download", "no-such-model"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&dl.stderr).contains("models list"));
}

#[test]
fn models_download_then_generate_offline_from_the_cache() {
    use common::hub_server::{HubRepo, HubServer};
    let (tmp, root) = tiny_model(Family::Sd2);
    let mut files = HubRepo::read_dir(&root);
    files.push(("tokenizer/special_tokens_map.json".into(), b"{}".to_vec()));
    // Also an unrelated file a generic repo download must skip.
    let mut other = files.clone();
    other.push(("unet/diffusion_pytorch_model.bin".into(), vec![0; 64]));
    let server = HubServer::start(vec![
        HubRepo::new("stabilityai/sd-turbo", files),
        HubRepo::new("someone/tiny-pipeline", other),
    ]);
    let cache = tmp.path().join("hf");
    let online = || {
        let mut c = cli();
        c.env_remove("HF_HUB_OFFLINE")
            .env("HF_ENDPOINT", server.endpoint())
            .env("HF_HOME", &cache)
            .env("HF_HUB_CACHE", cache.join("hub"));
        c
    };

    let dl = online()
        .args(["models", "download", "sd-turbo"])
        .output()
        .unwrap();
    assert_ok(&dl);
    assert!(String::from_utf8_lossy(&dl.stdout).contains("stabilityai/sd-turbo"));
    let list = online().args(["models", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    let line = list.lines().find(|l| l.starts_with("sd-turbo")).unwrap();
    assert!(line.contains("installed"), "{line}");

    // Offline, the catalog id resolves to the cached snapshot.
    let requests = server.requests().len();
    let out = tmp.path().join("turbo.png");
    let generate = |model: &str, out: &std::path::Path, offline: bool| {
        let mut c = online();
        if offline {
            c.env("HF_HUB_OFFLINE", "1");
        }
        c.args([
            "generate", "--model", model, "--prompt", "a kite", "--steps", "2",
        ])
        .args(["--width", "64", "--height", "64", "--out"])
        .arg(out)
        .output()
        .unwrap()
    };
    let run = generate("sd-turbo", &out, true);
    assert_ok(&run);
    assert!(out.is_file());
    assert_eq!(server.requests().len(), requests, "offline made a request");

    // Any diffusers repo: the pipeline's files are found from the listing
    // (the pickle beside the safetensors is not fetched) and it generates.
    let out = tmp.path().join("generic.png");
    let run = generate("someone/tiny-pipeline", &out, false);
    assert_ok(&run);
    assert!(out.is_file());
    assert!(!server.requests().iter().any(|r| r.path.ends_with(".bin")));

    // Fetched for generating, it is found again offline with no request.
    let requests = server.requests().len();
    let out = tmp.path().join("generic-offline.png");
    let run = generate("someone/tiny-pipeline", &out, true);
    assert_ok(&run);
    assert_eq!(server.requests().len(), requests, "offline made a request");

    // `models download` of a plain repo id into a fresh cache records
    // `refs/main` the way huggingface_hub does, for catalog ids too.
    let fresh = tmp.path().join("fresh");
    let in_fresh = || {
        let mut c = online();
        c.env("HF_HOME", &fresh)
            .env("HF_HUB_CACHE", fresh.join("hub"));
        c
    };
    for id in ["someone/tiny-pipeline", "sd-turbo"] {
        let dl = in_fresh()
            .args(["models", "download", id])
            .output()
            .unwrap();
        assert_ok(&dl);
    }
    for repo in [
        "models--someone--tiny-pipeline",
        "models--stabilityai--sd-turbo",
    ] {
        let main = std::fs::read_to_string(fresh.join("hub").join(repo).join("refs/main"));
        let main = main.unwrap_or_else(|e| panic!("{repo}: no refs/main ({e})"));
        assert!(
            main.len() == 40 && main.bytes().all(|b| b.is_ascii_hexdigit()),
            "{main:?}"
        );
    }
    let out = tmp.path().join("downloaded-offline.png");
    let run = in_fresh()
        .env("HF_HUB_OFFLINE", "1")
        .args([
            "generate",
            "--model",
            "someone/tiny-pipeline",
            "--prompt",
            "a kite",
        ])
        .args(["--steps", "1", "--width", "64", "--height", "64", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_ok(&run);
    assert!(out.is_file());

    // A commit asked for by hash is fetched as such and gets no ref of its own.
    let commit =
        std::fs::read_to_string(fresh.join("hub/models--someone--tiny-pipeline/refs/main"))
            .unwrap();
    let dl = in_fresh()
        .args([
            "models",
            "download",
            "someone/tiny-pipeline",
            "--revision",
            &commit,
        ])
        .output()
        .unwrap();
    assert_ok(&dl);
    assert!(String::from_utf8_lossy(&dl.stdout).contains(&commit));
    let refs = std::fs::read_dir(fresh.join("hub/models--someone--tiny-pipeline/refs")).unwrap();
    assert_eq!(refs.count(), 1);
}

#[test]
fn generate_without_a_model_uses_the_built_in_emoji_model_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("heart.png");
    let gif = tmp.path().join("heart.gif");
    let run = cli()
        .env("HF_HOME", tmp.path().join("hf"))
        .env("HF_HUB_CACHE", tmp.path().join("hf/hub"))
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("LATENT_STUDIO_MODEL")
        .args(["generate", "--prompt", "red heart", "--seed", "0", "--out"])
        .arg(&out)
        .arg("--gif")
        .arg(&gif)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let img = image::open(&out).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (64, 64), "the model's native size");
    let red = common::red_share(&img);
    assert!(red > 0.5, "a red heart, but only {red:.2} of it is red");
    let info = cli().arg("info").arg(&out).output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let steps = latent_studio::models::builtin::DEFAULTS.steps;
    assert_eq!(
        json["steps"].as_u64(),
        Some(steps as u64),
        "the model's own defaults"
    );
    // The emergence GIF: one frame per step, then the image, enlarged.
    use image::AnimationDecoder as _;
    let decoder = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(
        std::fs::File::open(&gif).unwrap(),
    ))
    .unwrap();
    let frames = decoder.into_frames().collect_frames().unwrap();
    assert_eq!(frames.len(), steps + 1);
    assert_eq!(frames[0].buffer().dimensions(), (512, 512));
}
