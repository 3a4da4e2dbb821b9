//! The window's library side, driven headless: settings read back from
//! dropped PNGs, and the Library view over favorites and history.

mod common;

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable as _;

use common::studio::*;
use common::{tiny_model, Family};

#[test]
fn dropping_an_a1111_png_offers_its_settings() {
    let (_m, model) = tiny_model(Family::Sd1);
    let fav = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let png = files.path().join("from-a1111.png");
    let text = vec![(
        "parameters".to_string(),
        "a castle on a hill\nNegative prompt: fog\nSteps: 33, Sampler: DPM++ 2M Karras, CFG scale: 5.5, Seed: 777, Size: 512x768".to_string(),
    )];
    let img = image::RgbImage::from_pixel(32, 48, image::Rgb([90, 120, 150]));
    std::fs::write(
        &png,
        latent_studio::library::image_files::encode_png(&img, &text).unwrap(),
    )
    .unwrap();

    let mut h = studio(settings_for(&model, fav.path()), None);
    h.run();
    drop_file(&mut h, &png);
    wait_for(&mut h, "the start image and its lens", |h| {
        h.state()
            .studio
            .start
            .as_ref()
            .is_some_and(|s| s.lens.is_some())
    });
    h.run();
    assert!(h.query_by_label("Made with AUTOMATIC1111").is_some());
    assert!(h.query_by_label_contains("seed 777").is_some());
    h.get_by_label("Use these settings").click();
    h.run();
    let s = &h.state().studio.settings;
    assert_eq!(s.prompt, "a castle on a hill");
    assert_eq!(s.negative_prompt, "fog");
    assert_eq!((s.steps, s.seed, s.cfg_scale), (33, 777, 5.5));
    assert_eq!(
        s.sampler,
        latent_studio::sampling::schedulers::SamplerKind::DpmPp2MKarras
    );
    assert_eq!(s.size, Some((512, 768)));
    assert!(s.seed_locked);
    // The image is the start image too (img2img from it).
    assert_eq!(
        h.state().studio.start.as_ref().unwrap().name,
        "from-a1111.png"
    );
}

#[test]
fn the_library_finds_history_and_favorites_and_deletes_with_confirmation() {
    let (_m, model) = tiny_model(Family::Sd1);
    let root = tempfile::tempdir().unwrap();
    let fav = root.path().join("favorites");
    let history = root.path().join("history");
    let mut s = settings_for(&model, &fav);
    s.prompt = "a lighthouse".into();
    s.batch = 2;
    s.seed_locked = true;
    let mut h = studio_with_library(
        s,
        Some(history.clone()),
        Some(root.path().join("db/library.sqlite")),
    );
    h.get_by_role_and_label(Role::Button, "Generate").click();
    wait_for(&mut h, "two images", |h| {
        h.state().studio.gallery.len() == 2
    });
    h.get_by_label("☆ Star").click(); // the selected (second) image
    wait_idle(&mut h);

    h.get_by_role_and_label(Role::Button, "Library").click();
    wait_for(&mut h, "three library entries", |h| {
        h.state().studio.library.entries.len() == 3
    });
    assert_eq!(std::fs::read_dir(&history).unwrap().count(), 2);
    // Thumbnails load lazily; the entries are clickable by name.
    wait_for(&mut h, "thumbnails", |h| {
        h.state()
            .textures
            .library
            .values()
            .filter(|t| t.is_some())
            .count()
            == 3
    });
    h.get_by_role_and_label(Role::CheckBox, "★ Favorites only")
        .click();
    wait_for(&mut h, "favorites only", |h| {
        h.state().studio.library.entries.len() == 1
    });
    h.get_by_role_and_label(Role::CheckBox, "★ Favorites only")
        .click();
    wait_for(&mut h, "all again", |h| {
        h.state().studio.library.entries.len() == 3
    });

    // Delete the oldest history image: it asks first.
    let victim = h.state().studio.library.entries.last().unwrap().clone();
    assert!(!victim.favorite);
    h.state_mut().studio.library.selected = Some(2);
    h.run_steps(2);
    h.get_by_label("Delete…").click();
    h.run_steps(2);
    assert!(victim.path.exists(), "nothing is deleted before confirming");
    h.get_by_role_and_label(Role::Button, "Delete").click();
    wait_for(&mut h, "the deletion", |h| {
        h.state().studio.library.entries.len() == 2
    });
    assert!(!victim.path.exists());

    // Unstar moves the favorite back into history.
    let fav_index = h
        .state()
        .studio
        .library
        .entries
        .iter()
        .position(|e| e.favorite)
        .unwrap();
    let fav_path = h.state().studio.library.entries[fav_index].path.clone();
    h.state_mut().studio.library.selected = Some(fav_index);
    // Thumbnails may still be loading (a spinner): step, don't wait to settle.
    h.run_steps(2);
    h.get_by_label("☆ Unstar").click();
    wait_for(&mut h, "the unstar", |h| {
        let e = &h.state().studio.library.entries;
        e.len() == 2 && e.iter().all(|e| !e.favorite)
    });
    assert!(!fav_path.exists());
    assert_eq!(std::fs::read_dir(&history).unwrap().count(), 2);

    // "Use these settings" from a library entry.
    h.state_mut().studio.settings.prompt = "changed".into();
    h.state_mut().studio.library.selected = Some(0);
    h.run_steps(2);
    h.get_by_label("Use these settings").click();
    h.run_steps(2);
    assert_eq!(h.state().studio.settings.prompt, "a lighthouse");
    assert_eq!(
        h.state().studio.view,
        latent_studio::ui::state::View::Studio
    );
}
