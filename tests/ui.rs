//! The studio window driven headless through egui_kittest (AccessKit
//! queries, typed text, clicks, key presses, dropped files), with a real
//! engine running a tiny random-weight model.

mod common;

use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT as _, Queryable as _};

use latent_studio::ui::settings::Settings;
use latent_studio::ui::state::TimelineView;

use common::studio::*;
use common::{tiny_model, Family};

#[test]
fn type_a_prompt_generate_and_watch_every_step() {
    let (_m, model) = tiny_model(Family::Sd1);
    let fav = tempfile::tempdir().unwrap();
    let history = tempfile::tempdir().unwrap();
    let mut s = settings_for(&model, fav.path());
    s.steps = 12;
    s.size = Some((128, 128));
    let mut h = studio(s, Some(history.path().to_path_buf()));
    h.run();

    let prompt = h.get_by_label("Prompt");
    prompt.focus();
    prompt.type_text("a terrier in the snow");
    h.run();
    assert_eq!(h.state().studio.settings.prompt, "a terrier in the snow");
    // The token counter follows the text (bundled CLIP tokenizer, loaded off-thread).
    wait_for(&mut h, "the token counter", |h| {
        h.query_by_label("5/75").is_some()
    });

    h.get_by_role_and_label(Role::Button, "Generate").click();
    let mut saw_progress = false;
    let mut preview_counts = Vec::new();
    wait_for(&mut h, "the image", |h| {
        if let Some(live) = &h.state().studio.live {
            preview_counts.push(live.previews.len());
            if live.step > 0 && h.query_by_label_contains("s/step").is_some() {
                saw_progress = true;
            }
        }
        !h.state().studio.gallery.is_empty()
    });
    assert!(saw_progress, "a 'Step i/n · s/step' progress bar was shown");
    assert!(
        preview_counts.iter().any(|&n| n > 0 && n < 12),
        "previews arrived while the job ran: {preview_counts:?}"
    );
    // Every step's preview went into one texture, updated in place.
    assert_eq!(h.state().live_texture_allocations(), 1);

    wait_idle(&mut h);
    let studio = &h.state().studio;
    let item = &studio.gallery[0];
    assert_eq!(item.result.params.prompt, "a terrier in the snow");
    assert_eq!(item.result.params.seed, 42);
    assert_eq!(item.result.previews.len(), 12, "a timeline frame per step");
    assert_eq!(item.result.image.dimensions(), (128, 128));
    assert_eq!(studio.selected, Some(0));
    assert!(studio.queue.is_empty() && studio.live.is_none());
    assert!(
        h.query_by_label("Image 1, seed 42").is_some(),
        "thumbnail in the gallery"
    );
    assert!(
        h.query_by_label("12 steps").is_some(),
        "timeline shows 12 frames"
    );
    // Kept in the history folder at once.
    assert_eq!(std::fs::read_dir(history.path()).unwrap().count(), 1);
}

#[test]
fn escape_cancels_mid_run_and_the_next_job_runs() {
    let (_m, model) = tiny_model(Family::Sd1);
    let fav = tempfile::tempdir().unwrap();
    let mut s = settings_for(&model, fav.path());
    s.steps = 50;
    s.size = Some((256, 256));
    s.prompt = "slow".into();
    let mut h = studio(s, None);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Enter);
    wait_for(&mut h, "the first step", |h| {
        h.state().studio.live.as_ref().is_some_and(|l| l.step >= 1)
    });
    h.key_press(egui::Key::Escape);
    wait_for(&mut h, "the cancel", |h| h.state().studio.queue.is_empty());
    let studio = &h.state().studio;
    assert!(studio.gallery.is_empty(), "a cancelled job yields no image");
    assert!(studio
        .notifications
        .items()
        .iter()
        .any(|n| n.title == "Cancelled"));
    assert!(h
        .get_by_role_and_label(Role::Button, "Cancel")
        .accesskit_node()
        .is_disabled());

    // The engine is free again: a short job completes.
    h.state_mut().studio.settings.steps = 2;
    h.state_mut().studio.settings.size = Some((64, 64));
    h.get_by_role_and_label(Role::Button, "Generate").click();
    wait_for(&mut h, "the next image", |h| {
        h.state().studio.gallery.len() == 1
    });
}

#[test]
fn dropping_an_image_sets_the_start_image_and_a_text_file_changes_nothing() {
    let (_m, model) = tiny_model(Family::Sd1);
    let fav = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let photo = files.path().join("photo.png");
    write_photo(&photo);
    let notes = files.path().join("notes.txt");
    std::fs::write(&notes, "not an image").unwrap();

    let mut h = studio(settings_for(&model, fav.path()), None);
    h.run();
    drop_file(&mut h, &photo);
    wait_for(&mut h, "the start image", |h| {
        h.state().studio.start.is_some()
    });
    let start = h.state().studio.start.as_ref().unwrap();
    assert_eq!(start.name, "photo.png");
    assert_eq!(start.image.dimensions(), (96, 64));
    assert!(h.query_by_label("photo.png").is_some());

    // The decay lens: the engine encodes the image; the lens sits where
    // img2img will start for the chosen strength, and follows the slider.
    wait_for(&mut h, "the decay lens", |h| {
        h.state()
            .studio
            .start
            .as_ref()
            .is_some_and(|s| s.lens.is_some())
    });
    let at_075 = h.state().studio.start.as_ref().unwrap().lens_t;
    h.state_mut().studio.settings.strength = 0.3;
    h.run();
    let at_03 = h.state().studio.start.as_ref().unwrap().lens_t;
    assert!(at_075 > at_03 && at_03 > 0.0, "lens t {at_075} → {at_03}");
    assert!(h.query_by_label_contains("img2img starts at t =").is_some());

    drop_file(&mut h, &notes);
    wait_idle(&mut h);
    let studio = &h.state().studio;
    let error = studio
        .notifications
        .last_error()
        .expect("an error is shown");
    assert_eq!(error.title, "Could not use notes.txt as the start image");
    assert!(error.detail.contains("PNG, JPEG"), "{}", error.detail);
    assert_eq!(
        studio.start.as_ref().unwrap().name,
        "photo.png",
        "unchanged"
    );

    // img2img runs from the dropped image: strength 0.3 of 6 steps = 1 step.
    h.state_mut().studio.settings.prompt = "a painting".into();
    h.get_by_role_and_label(Role::Button, "Generate").click();
    wait_for(&mut h, "the img2img result", |h| {
        h.state().studio.gallery.len() == 1
    });
    let item = &h.state().studio.gallery[0];
    assert_eq!(item.result.previews.len(), 1);
    assert!(h.state().studio.queue.is_empty());
}

#[test]
fn star_saves_a_png_and_use_settings_restores_the_parameters() {
    let (_m, model) = tiny_model(Family::Sd1);
    let fav = tempfile::tempdir().unwrap();
    let mut s = settings_for(&model, fav.path().join("favs").as_path());
    s.prompt = "a lighthouse".into();
    s.seed = 7;
    let mut h = studio(s, None);
    h.get_by_role_and_label(Role::Button, "Generate").click();
    wait_for(&mut h, "the image", |h| h.state().studio.gallery.len() == 1);
    wait_idle(&mut h);

    h.get_by_label("☆ Star").click();
    wait_for(&mut h, "the save", |h| {
        h.state().studio.gallery[0].saved_path.is_some()
    });
    let saved = h.state().studio.gallery[0].saved_path.clone().unwrap();
    assert!(saved.starts_with(fav.path().join("favs")));
    assert!(saved
        .file_name()
        .unwrap()
        .to_string_lossy()
        .ends_with("_a-lighthouse_7.png"));
    let on_disk = image::open(&saved).unwrap().to_rgb8();
    assert_eq!(&on_disk, h.state().studio.gallery[0].result.image.as_ref());
    // It carries A1111's `parameters` text, which reads back to the same settings.
    let file = std::io::BufReader::new(std::fs::File::open(&saved).unwrap());
    let reader = png::Decoder::new(file).read_info().unwrap();
    let text = &reader.info().uncompressed_latin1_text;
    let parameters = text
        .iter()
        .find(|t| t.keyword == "parameters")
        .expect("parameters chunk");
    let read = latent_studio::library::a1111::params_from_infotext(
        &latent_studio::library::infotext::parse(&parameters.text),
    );
    assert_eq!(read, h.state().studio.gallery[0].result.params);
    h.run();
    assert!(h.query_by_label("★ Starred").is_some());

    // Change the settings, then copy them back from the image.
    {
        let s = &mut h.state_mut().studio.settings;
        s.prompt = "something else".into();
        s.seed = 99;
        s.steps = 30;
    }
    h.get_by_label("Use settings").click();
    h.run();
    let s = &h.state().studio.settings;
    assert_eq!((s.prompt.as_str(), s.seed, s.steps), ("a lighthouse", 7, 6));
    assert!(s.seed_locked);

    // Vary: img2img from the result at strength 0.4 with a new seed, right away.
    h.get_by_label("Vary").click();
    wait_for(&mut h, "the variation", |h| {
        h.state().studio.gallery.len() == 2
    });
    let varied = &h.state().studio.gallery[1].result;
    assert_eq!(varied.params.strength, 0.4);
    assert_eq!(varied.previews.len(), 2, "int(6 × 0.4) steps run");
    assert_ne!(varied.params.seed, 7);

    // Use as start image: the result becomes the img2img start.
    h.get_by_label("Use as start image").click();
    wait_for(&mut h, "the start image", |h| {
        h.state().studio.start.is_some()
    });
    assert_eq!(h.state().studio.start.as_ref().unwrap().name, "Result 2");
}

#[test]
fn a_read_only_favorites_folder_reports_and_keeps_the_image() {
    let (_m, model) = tiny_model(Family::Sd1);
    let blocker = tempfile::NamedTempFile::new().unwrap();
    // A path under a regular file can never be created.
    let mut s = settings_for(&model, &blocker.path().join("favs"));
    s.prompt = "x".into();
    let mut h = studio(s, None);
    h.get_by_role_and_label(Role::Button, "Generate").click();
    wait_for(&mut h, "the image", |h| h.state().studio.gallery.len() == 1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::S);
    wait_idle(&mut h);
    let studio = &h.state().studio;
    let error = studio.notifications.last_error().expect("error shown");
    assert_eq!(error.title, "Could not save the image");
    assert!(error.detail.contains("cannot write to"), "{}", error.detail);
    assert_eq!(studio.gallery.len(), 1, "the image stays in the app");
    assert!(!studio.gallery[0].starred && studio.gallery[0].saved_path.is_none());
}

#[test]
fn a_missing_model_is_reported_and_the_window_says_what_to_do() {
    let fav = tempfile::tempdir().unwrap();
    let mut h = studio(
        Settings {
            favorites_dir: Some(fav.path().to_path_buf()),
            ..Settings::default()
        },
        None,
    );
    h.run();
    assert!(h.query_by_label_contains("No model yet").is_some());
    assert!(h
        .get_by_role_and_label(Role::Button, "Generate")
        .accesskit_node()
        .is_disabled());

    h.state_mut().studio.settings.model = fav.path().join("nope").display().to_string();
    h.state_mut().studio.settings.prompt = "x".into();
    h.run();
    h.get_by_role_and_label(Role::Button, "Generate").click();
    wait_idle(&mut h);
    let error = h.state().studio.notifications.last_error().expect("error");
    assert_eq!(error.title, "Generation failed");
    assert!(error.detail.contains("nope"), "{}", error.detail);
    // The full message is one click away.
    h.get_by_label("Details").click();
    h.run();
    assert!(h.query_by_label_contains("nope").is_some());
}

#[test]
fn settings_survive_a_restart() {
    let (_m, model) = tiny_model(Family::Sd1);
    let fav = tempfile::tempdir().unwrap();
    let mut h = studio(settings_for(&model, fav.path()), None);
    h.run();
    let prompt = h.get_by_label("Prompt");
    prompt.focus();
    prompt.type_text("a fox at dawn");
    h.run();
    h.state_mut().studio.settings.cfg_scale = 4.5;

    let mut storage = MemoryStorage::default();
    eframe::App::save(h.state_mut(), &mut storage);
    let restored: Settings = eframe::get_value(&storage, eframe::APP_KEY).expect("saved");
    assert_eq!(restored, h.state().studio.settings);

    let mut again = studio(restored, None);
    again.run();
    assert_eq!(
        again.get_by_label("Prompt").value().as_deref(),
        Some("a fox at dawn")
    );
    assert_eq!(again.state().studio.settings.cfg_scale, 4.5);
}

#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.into(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

#[test]
fn looking_at_an_earlier_result_during_a_run_is_not_interrupted() {
    let (_m, model) = tiny_model(Family::Sd1);
    let fav = tempfile::tempdir().unwrap();
    let mut s = settings_for(&model, fav.path());
    s.prompt = "a batch".into();
    s.batch = 2;
    s.steps = 20;
    s.size = Some((256, 256));
    let mut h = studio(s, None);
    h.get_by_role_and_label(Role::Button, "Generate").click();
    wait_for(&mut h, "the first image, the second running", |h| {
        let st = &h.state().studio;
        st.gallery.len() == 1 && st.live.as_ref().is_some_and(|l| l.step >= 1)
    });
    assert!(matches!(h.state().studio.timeline(), TimelineView::Live(_)));
    h.get_by_label("Image 1, seed 42").click();
    h.run_steps(2);
    assert!(matches!(h.state().studio.timeline(), TimelineView::Item(_)));
    assert!(h.query_by_label("Show the running image").is_some());
    wait_for(&mut h, "the second image", |h| {
        h.state().studio.gallery.len() == 2
    });
    assert_eq!(
        h.state().studio.selected,
        Some(0),
        "still looking at the first"
    );
    // Generate again follows the new run.
    h.get_by_role_and_label(Role::Button, "Generate").click();
    h.step();
    assert!(h.state().studio.follow_live);
}

#[test]
fn with_nothing_installed_the_built_in_emoji_model_is_chosen_and_draws() {
    use latent_studio::models::builtin;
    use latent_studio::ui::StudioConfig;
    let fav = tempfile::tempdir().unwrap();
    let models_dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        prompt: "red heart".into(),
        seed: 0,
        seed_locked: true,
        favorites_dir: Some(fav.path().to_path_buf()),
        models_dir: Some(models_dir.path().to_path_buf()),
        ..Settings::default()
    };
    let mut h = studio_with_config(
        settings,
        StudioConfig {
            scan_models: true,
            ..StudioConfig::default()
        },
    );
    wait_for(&mut h, "the model scan", |h| {
        h.state().studio.models_scanned
    });
    h.run_steps(2);
    let models: Vec<String> = h
        .state()
        .studio
        .models
        .iter()
        .map(|m| m.value.clone())
        .collect();
    assert_eq!(
        models.last().map(String::as_str),
        Some(builtin::ID),
        "always listed, last"
    );
    if models.len() > 1 {
        // A model installed on this machine is the better default (never so
        // on CI, whose hub cache is empty); choose ours as the picker would.
        h.state_mut().studio.settings.choose_model(builtin::ID);
        h.run_steps(2);
    }
    let s = &h.state().studio.settings;
    assert_eq!(s.model, builtin::ID);
    assert_eq!(
        (s.steps, s.cfg_scale, s.sampler, s.size),
        (
            builtin::DEFAULTS.steps,
            builtin::DEFAULTS.cfg_scale,
            builtin::DEFAULTS.sampler,
            None
        )
    );
    assert_eq!(s.size_label(), "Model's native size (64 × 64)");
    // The size menu offers nothing that makes no sense for a 64 px model.
    h.get_by_role_and_label(Role::ComboBox, "Size").click();
    h.run_steps(2);
    assert!(h
        .query_by_label_contains("Model's native size (64 × 64)")
        .is_some());
    assert!(h.query_by_label_contains("512 × 512").is_none());
    h.key_press(egui::Key::Escape);
    h.run_steps(2);

    h.get_by_role_and_label(Role::Button, "Generate").click();
    wait_idle(&mut h);
    let state = h.state();
    let item = state.studio.gallery.first().expect("an image");
    assert_eq!(item.result.image.dimensions(), (64, 64));
    let red = common::red_share(&item.result.image);
    assert!(red > 0.5, "a red heart, but only {red:.2} of it is red");
}
