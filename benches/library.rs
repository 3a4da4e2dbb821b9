//! Library timings: indexing a folder of saved images from scratch, a sync
//! with nothing to do, prompt search, and reading metadata past a huge
//! text chunk. `cargo bench --bench library [-- COUNT]` (default 500 images).

use std::time::{Duration, Instant};

use latent_studio::library::image_files::{encode_png, save_png_as};
use latent_studio::library::index::Index;
use latent_studio::library::read_image_info;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(500);
    let root = tempfile::tempdir().expect("temp dir");
    let history = root.path().join("history");
    let favorites = root.path().join("favorites");
    std::fs::create_dir_all(&favorites).unwrap();
    let words = [
        "fox",
        "lighthouse",
        "terrier",
        "castle",
        "galaxy",
        "forest",
        "robot",
    ];
    for i in 0..count {
        let img = image::RgbImage::from_fn(512, 512, |x, y| {
            image::Rgb([(x + i as u32) as u8, (y * 3) as u8, (x ^ y) as u8])
        });
        let prompt = format!("a {} number {i}, detailed", words[i % words.len()]);
        let text = vec![(
            "parameters".to_string(),
            format!(
                "{prompt}\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: {i}, Size: 512x512"
            ),
        )];
        save_png_as(&history, &format!("img{i:05}"), &img, &text).unwrap();
    }
    let db = root.path().join("library.sqlite");

    let t = Instant::now();
    let mut index = Index::open(&db, &favorites, &history, u64::MAX).unwrap();
    let report = index.sync().unwrap();
    let cold = t.elapsed();
    assert_eq!(report.added, count);

    let warm = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                index.sync().unwrap();
                t.elapsed()
            })
            .collect(),
    );
    let search = median(
        (0..50)
            .map(|i| {
                let t = Instant::now();
                let hits = index
                    .search(words[i % words.len()], false, 10_000, 0)
                    .unwrap();
                assert!(!hits.is_empty());
                t.elapsed()
            })
            .collect(),
    );
    let thumb = median(
        (0..50)
            .map(|i| {
                let t = Instant::now();
                index.thumbnail(1 + i as i64).unwrap().unwrap();
                t.elapsed()
            })
            .collect(),
    );

    // Metadata behind a 50 MB text chunk: skipped, never loaded.
    let big = root.path().join("big.png");
    let img = image::RgbImage::new(8, 8);
    let text = vec![
        ("comment".to_string(), "x".repeat(50 << 20)),
        (
            "parameters".to_string(),
            "p\nSteps: 1, Seed: 2, CFG scale: 3".to_string(),
        ),
    ];
    std::fs::write(&big, encode_png(&img, &text).unwrap()).unwrap();
    let info = median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                read_image_info(&big).unwrap();
                t.elapsed()
            })
            .collect(),
    );

    println!("| library workload ({count} images of 512², in history) | time |");
    println!("|---|---|");
    println!(
        "| index from scratch (decode + thumbnail + metadata each) | {:.2} s ({:.1} ms/image) |",
        cold.as_secs_f64(),
        cold.as_secs_f64() * 1e3 / count as f64
    );
    println!(
        "| sync with nothing new (median of 5) | {:.1} ms |",
        warm.as_secs_f64() * 1e3
    );
    println!(
        "| prompt search, all hits (median of 50) | {:.2} ms |",
        search.as_secs_f64() * 1e3
    );
    println!(
        "| one thumbnail from the index (median of 50) | {:.3} ms |",
        thumb.as_secs_f64() * 1e3
    );
    println!(
        "| `info` past a 50 MB text chunk (median of 5) | {:.2} ms |",
        info.as_secs_f64() * 1e3
    );
}
