//! The favorites/history index: files are the truth, the index follows
//! them, survives corruption and crashes, and keeps history within its cap.

use std::path::{Path, PathBuf};
use std::time::Duration;

use latent_studio::library::image_files::{encode_png, save_png_as};
use latent_studio::library::index::Index;

fn write_image(dir: &Path, stem: &str, prompt: &str, side: u32) -> PathBuf {
    let text = vec![(
        "parameters".to_string(),
        format!(
            "{prompt}\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: {side}x{side}"
        ),
    )];
    let img = image::RgbImage::from_fn(side, side, |x, y| image::Rgb([x as u8, y as u8, 7]));
    save_png_as(dir, stem, &img, &text).unwrap()
}

struct Fixture {
    _root: tempfile::TempDir,
    db: PathBuf,
    favorites: PathBuf,
    history: PathBuf,
}

fn fixture() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let favorites = root.path().join("favorites");
    let history = root.path().join("history");
    std::fs::create_dir_all(&favorites).unwrap();
    std::fs::create_dir_all(&history).unwrap();
    Fixture {
        db: root.path().join("index/library.sqlite"),
        favorites,
        history,
        _root: root,
    }
}

impl Fixture {
    fn open(&self, cap: u64) -> Index {
        Index::open(&self.db, &self.favorites, &self.history, cap).unwrap()
    }
}

#[test]
fn indexes_both_folders_and_searches_prompts() {
    let f = fixture();
    write_image(&f.favorites, "fox", "A red Fox in snow", 32);
    write_image(&f.history, "cat", "a cat on a windowsill", 32);
    write_image(&f.history, "fox2", "grey fox, night", 32);
    std::fs::write(f.history.join("broken.png"), b"not a png").unwrap();
    let mut index = f.open(u64::MAX);
    let report = index.sync().unwrap();
    assert_eq!(
        (report.added, report.removed),
        (3, 0),
        "the broken file is not indexed"
    );

    let foxes = index.search("fox", false, 10, 0).unwrap();
    assert_eq!(foxes.len(), 2, "case-insensitive prompt search");
    let favorites = index.search("", true, 10, 0).unwrap();
    assert_eq!(favorites.len(), 1);
    assert_eq!(favorites[0].prompt, "A red Fox in snow");
    assert!(favorites[0]
        .params_json
        .as_deref()
        .unwrap()
        .contains("\"seed\":1"));
    let thumb = index.thumbnail(favorites[0].id).unwrap().unwrap();
    assert_eq!(image::load_from_memory(&thumb).unwrap().width(), 32);
    // A LIKE wildcard in the query is taken literally.
    assert!(index.search("%", false, 10, 0).unwrap().is_empty());
    // Syncing again changes nothing.
    assert_eq!(index.sync().unwrap(), Default::default());
}

#[test]
fn files_added_or_removed_by_hand_are_picked_up() {
    let f = fixture();
    let a = write_image(&f.favorites, "a", "first", 16);
    let mut index = f.open(u64::MAX);
    index.sync().unwrap();
    std::fs::remove_file(&a).unwrap();
    let b = f.favorites.join("copied in.png");
    std::fs::copy(write_image(&f.history, "b", "second", 16), &b).unwrap();
    let report = index.sync().unwrap();
    // "b" saved into history, its copy into favorites; "a" vanished.
    assert_eq!((report.added, report.removed), (2, 1));
    let all = index.search("", false, 10, 0).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|e| e.path == b && e.favorite));
}

#[test]
fn a_corrupt_or_missing_index_is_rebuilt_from_the_files() {
    let f = fixture();
    write_image(&f.favorites, "a", "kept", 16);
    write_image(&f.history, "b", "also kept", 16);
    {
        let mut index = f.open(u64::MAX);
        index.sync().unwrap();
    }
    std::fs::write(
        &f.db,
        b"this is not an sqlite database, just garbage bytes".repeat(100),
    )
    .unwrap();
    let _ = std::fs::remove_file(f.db.with_extension("sqlite-wal"));
    let mut index = f.open(u64::MAX);
    assert!(index.is_empty().unwrap());
    assert_eq!(index.sync().unwrap().added, 2);

    drop(index);
    std::fs::remove_file(&f.db).unwrap();
    let mut index = f.open(u64::MAX);
    assert_eq!(index.sync().unwrap().added, 2);
}

#[test]
fn history_is_capped_oldest_first_and_favorites_are_never_evicted() {
    let f = fixture();
    let favorite = write_image(&f.favorites, "fav", "precious", 64);
    let mut history = Vec::new();
    for i in 0..5 {
        let p = write_image(&f.history, &format!("h{i}"), &format!("image {i}"), 64);
        // Distinct, increasing modification times: h0 is the oldest.
        let t = std::time::SystemTime::now() - Duration::from_secs(1000 - i * 100);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(t)
            .unwrap();
        history.push(p);
    }
    let one = std::fs::metadata(&history[0]).unwrap().len();
    let mut index = f.open(one * 3 + one / 2);
    let report = index.sync().unwrap();
    assert_eq!(report.evicted, 2);
    assert!(!history[0].exists() && !history[1].exists());
    assert!(history[2..].iter().all(|p| p.exists()));
    assert!(favorite.exists());
    assert_eq!(index.len().unwrap(), 4);
}

#[test]
fn delete_removes_file_and_row_together() {
    let f = fixture();
    let p = write_image(&f.favorites, "gone", "to delete", 16);
    let mut index = f.open(u64::MAX);
    index.sync().unwrap();
    let id = index.search("delete", false, 1, 0).unwrap()[0].id;
    index.delete(id).unwrap();
    assert!(!p.exists());
    assert!(index.is_empty().unwrap());
}

/// Child side of the crash test: save big PNGs into a folder until killed.
#[test]
fn child_that_saves_until_killed() {
    let Some(dir) = std::env::var_os("LATENT_STUDIO_SAVE_CHILD_DIR") else {
        return; // only runs when the crash test starts it
    };
    let img = image::RgbImage::from_fn(1024, 1024, |x, y| {
        image::Rgb([(x * 7 + y) as u8, ((y * 13) ^ x) as u8, (x * y) as u8])
    });
    let png = encode_png(
        &img,
        &[(
            "parameters".into(),
            "p\nSteps: 1, Seed: 2, CFG scale: 3".into(),
        )],
    )
    .unwrap();
    for i in 0.. {
        latent_studio::storage::atomic::create_new_file(
            Path::new(&dir),
            &format!("img{i}"),
            "png",
            |w| {
                // Write in pieces so a kill lands mid-file.
                for piece in png.chunks(4096) {
                    w.write_all(piece)?;
                }
                Ok(())
            },
        )
        .unwrap();
    }
}

#[test]
fn a_save_killed_midway_leaves_no_visible_partial_file() {
    let f = fixture();
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args(["--exact", "child_that_saves_until_killed", "--nocapture"])
        .env("LATENT_STUDIO_SAVE_CHILD_DIR", &f.history)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Let it save a few files, then kill it without warning.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(&f.history).unwrap().count() < 4 && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    // Every visible PNG is complete; the index lists exactly those.
    let visible: Vec<PathBuf> = std::fs::read_dir(&f.history)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert!(visible.len() >= 2, "the child saved files before the kill");
    for p in &visible {
        let img = image::open(p).unwrap_or_else(|e| panic!("{} is incomplete: {e}", p.display()));
        assert_eq!(img.width(), 1024);
    }
    let mut index = f.open(u64::MAX);
    index.sync().unwrap();
    assert_eq!(index.len().unwrap(), visible.len());
}

#[test]
fn a_new_favorites_folder_is_indexed_after_the_switch() {
    let f = fixture();
    let mut index = f.open(u64::MAX);
    index.sync().unwrap();
    let elsewhere = f.favorites.parent().unwrap().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    write_image(&elsewhere, "new", "in the new folder", 16);
    assert_eq!(index.sync().unwrap().added, 0, "not watched yet");
    index.set_favorites_dir(elsewhere);
    assert_eq!(index.sync().unwrap().added, 1);
    assert_eq!(index.search("new folder", true, 10, 0).unwrap().len(), 1);
}
