//! The model picker: a catalog model downloaded with one click from a local
//! server in the Hugging Face hub's URL layout (cancelled halfway, resumed),
//! then used to generate.

mod common;

use egui_kittest::kittest::Queryable as _;

use common::hub_server::{HubRepo, HubServer};
use common::studio::*;
use common::{tiny_model, Family};
use latent_studio::models::{catalog, install};

#[test]
fn a_catalog_model_downloads_from_the_picker_and_generates() {
    let (_m, model) = tiny_model(Family::Sd1);
    // Served as SD 1.5: the tiny model's files under the catalog's names
    // (it has no tokenizer/special_tokens_map.json, an optional file).
    let files = HubRepo::read_dir(&model);
    let server = HubServer::start(vec![HubRepo::new(
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
        files,
    )]);
    // This test binary has only this test, so pointing the process at the
    // server and a fresh cache touches no other test.
    let cache = tempfile::tempdir().unwrap();
    std::env::set_var("HF_ENDPOINT", server.endpoint());
    std::env::set_var("HF_HOME", cache.path());
    std::env::set_var("HF_HUB_CACHE", cache.path().join("hub"));
    std::env::remove_var("HF_HUB_OFFLINE");
    std::env::remove_var("HF_TOKEN");

    let fav = tempfile::tempdir().unwrap();
    let mut settings = settings_for(&model, fav.path());
    settings.model.clear();
    settings.prompt = "a lighthouse".into();
    let mut h = studio(settings, None);
    h.run_steps(3);
    let sd15 = catalog::find("sd15").unwrap();
    assert!(h.query_by_label_contains(sd15.license.name).is_some());

    // A slow server: cancel once some bytes are in, and nothing is installed.
    server.set_chunk_delay(std::time::Duration::from_millis(15));
    h.get_by_label("Download Stable Diffusion 1.5").click();
    h.run_steps(2);
    assert_eq!(h.state().studio.downloads.len(), 1);
    wait_for(&mut h, "some progress", |h| {
        h.state()
            .studio
            .downloads
            .first()
            .is_some_and(|d| d.fraction > 0.2)
    });
    h.run_steps(1);
    assert!(
        h.query_by_label_contains("B/s").is_some(),
        "no transfer rate shown"
    );
    h.get_by_label("Cancel download").click();
    wait_for(&mut h, "the cancel", |h| {
        h.state().studio.downloads.is_empty()
    });
    h.run_steps(2);
    assert!(h
        .query_by_label_contains("Stopped downloading Stable Diffusion 1.5")
        .is_some());
    assert!(install::installed(sd15).is_none());

    // The button now offers to resume, and does: a ranged request continues
    // the partial file instead of starting over.
    wait_for(&mut h, "the Resume button", |h| {
        h.query_by_label_contains("Resume Stable Diffusion 1.5 (")
            .is_some()
    });
    server.set_chunk_delay(std::time::Duration::ZERO);
    server.clear_log();
    h.get_by_label_contains("Resume Stable Diffusion 1.5 (")
        .click();
    h.run_steps(2);
    wait_for(&mut h, "the download", |h| {
        h.state().studio.downloads.is_empty()
    });
    h.run_steps(2);
    let resumed = server
        .requests()
        .iter()
        .any(|r| r.range.as_deref().is_some_and(|range| range != "bytes=0-"));
    assert!(resumed, "no ranged request: {:?}", server.requests());

    assert!(h
        .query_by_label_contains("Stable Diffusion 1.5 is ready")
        .is_some());
    assert_eq!(
        h.state().studio.settings.model,
        sd15.repo,
        "the first model is chosen"
    );
    let snapshot = install::installed(sd15).expect("every catalog file is in the cache");
    assert!(snapshot.starts_with(cache.path()));
    assert!(h.query_by_label("Download Stable Diffusion 1.5").is_none());
    let fetched = server.requests().len();

    // Generating from it loads the cached snapshot without asking the server.
    h.get_by_label("Generate").click();
    h.run_steps(2);
    wait_idle(&mut h);
    assert_eq!(
        h.state().studio.gallery.len(),
        1,
        "one image made: {:?}",
        h.state().studio.notifications
    );
    assert_eq!(
        server.requests().len(),
        fetched,
        "no request after the download"
    );
}

#[test]
fn dropping_a_checkpoint_makes_it_the_model_and_a_pickle_is_refused() {
    let (tmp, model) = tiny_model(Family::Sd1);
    let root = common::write_tiny_model_shaped(&tmp.path().join("d"), Family::Sd1, true);
    let ckpt = tmp.path().join("dreamy-v3.safetensors");
    common::ldm::write_checkpoint(&root, Family::Sd1, &ckpt);
    let pickle = tmp.path().join("old-model.ckpt");
    std::fs::write(&pickle, b"pickle bytes").unwrap();

    let fav = tempfile::tempdir().unwrap();
    let mut settings = settings_for(&model, fav.path());
    settings.prompt = "a harbour".into();
    // The checkpoint's native size is SD 1.x's 512²; keep the test quick.
    settings.size = Some((64, 64));
    let mut h = studio(settings, None);
    h.run_steps(2);

    drop_file(&mut h, &pickle);
    h.run_steps(2);
    assert!(h
        .query_by_label_contains("old-model.ckpt was not loaded")
        .is_some());
    assert_eq!(h.state().studio.settings.model, model.display().to_string());
    assert!(
        h.state().studio.start.is_none(),
        "not taken as a start image"
    );

    drop_file(&mut h, &ckpt);
    h.run_steps(2);
    assert!(h
        .query_by_label_contains("Using dreamy-v3.safetensors")
        .is_some());
    assert_eq!(h.state().studio.settings.model, ckpt.display().to_string());
    assert!(h.state().studio.start.is_none());

    // It generates from the checkpoint.
    h.get_by_label("Generate").click();
    h.run_steps(2);
    wait_idle(&mut h);
    let gallery = &h.state().studio.gallery;
    assert_eq!(gallery.len(), 1, "{:?}", h.state().studio.notifications);
    assert_eq!(
        gallery[0].result.model,
        latent_studio::models::source::ModelSource::Checkpoint(ckpt.clone())
    );
    // It names the exact file: A1111's short SHA-256, in the PNG text too.
    use sha2::Digest as _;
    let sha = sha2::Sha256::digest(std::fs::read(&ckpt).unwrap());
    let short: String = sha.iter().take(5).map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        gallery[0].result.model_hash.as_deref(),
        Some(short.as_str())
    );
    let text = gallery[0].result.png_text();
    assert!(text[0]
        .1
        .contains(&format!("Model hash: {short}, Model: dreamy-v3")));
}
