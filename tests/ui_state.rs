//! The window's state logic without a window: gallery and timeline
//! navigation, which run owns the timeline, progress arithmetic.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use image::RgbImage;

use latent_studio::diffusion::params::GenerationParams;
use latent_studio::diffusion::preview::PreviewImage;
use latent_studio::engine::{JobId, JobResult};
use latent_studio::models::source::ModelSource;
use latent_studio::ui::settings::Settings;
use latent_studio::ui::state::{GalleryItem, LiveRun, Studio, TimelineKey};

fn item(id: u64, steps: usize) -> GalleryItem {
    let preview = PreviewImage {
        width: 1,
        height: 1,
        rgba: vec![0, 0, 0, 255],
    };
    GalleryItem {
        id,
        result: Arc::new(JobResult {
            image: Arc::new(RgbImage::new(8, 8)),
            params: GenerationParams::default(),
            model: ModelSource::Hub("a/b".into()),
            previews: Arc::new(vec![preview; steps]),
            token_count: 0,
            duration: Duration::ZERO,
            img2img: false,
            start_image_sha256: None,
            scheduler: Default::default(),
            model_revision: None,
            model_hash: None,
        }),
        starred: false,
        saved_path: None,
        saving: false,
    }
}

#[test]
fn arrow_keys_move_through_gallery_and_timeline() {
    let mut s = Studio::new(Settings::default(), PathBuf::new());
    s.step_gallery(1);
    assert_eq!(s.selected, None, "nothing to select yet");
    s.gallery = vec![item(1, 3), item(2, 4)];
    s.step_gallery(-1);
    assert_eq!(s.selected, Some(0), "from the newest, one back");
    s.step_gallery(-1);
    assert_eq!(s.selected, Some(0), "clamped at the first");
    s.step_gallery(5);
    assert_eq!(s.selected, Some(1));

    // Timeline of item 2 (4 frames): up from the final image goes to the last step.
    s.step_timeline(-1);
    assert_eq!(s.scrub, Some(3));
    s.step_timeline(-3);
    assert_eq!(s.scrub, Some(0));
    s.step_timeline(-1);
    assert_eq!(s.scrub, None, "past the first frame: back to the image");
    s.step_timeline(1);
    assert_eq!(s.scrub, None, "down from the image stays on it");
}

#[test]
fn the_live_run_owns_the_timeline_once_started() {
    let mut s = Studio::new(Settings::default(), PathBuf::new());
    s.gallery = vec![item(1, 3)];
    s.selected = Some(0);
    assert_eq!(s.timeline().key(), Some(TimelineKey::Item(1)));
    let mut live = LiveRun::new(JobId(9));
    s.live = Some(live.clone());
    assert_eq!(
        s.timeline().key(),
        Some(TimelineKey::Item(1)),
        "still loading"
    );
    live.total = 10;
    live.step = 4;
    live.elapsed = Duration::from_secs(2);
    s.live = Some(live);
    assert_eq!(s.timeline().key(), Some(TimelineKey::Live(JobId(9))));
    let live = s.live.as_ref().unwrap();
    assert_eq!(live.seconds_per_step(), Some(0.5));
    assert_eq!(live.eta(), Some(Duration::from_secs(3)));
}
