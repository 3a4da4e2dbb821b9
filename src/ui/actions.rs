//! What the person asked for. Panels draw, edit settings in place and push
//! actions; the controller ([`crate::ui::app`]) carries the actions out, so
//! drawing code never touches the engine, the disk or a dialog.

use std::path::PathBuf;

use crate::engine::JobId;

/// One request from the person.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Queue `batch` jobs with the current settings.
    Generate,
    /// Stop the running job after its current step.
    CancelRunning,
    /// Remove a queued (or the running) job.
    CancelJob(JobId),
    /// Show gallery item `index` large.
    Select(usize),
    /// Select the next (+1) or previous (−1) gallery image.
    StepGallery(isize),
    /// Move the timeline scrub position by this many frames.
    StepTimeline(isize),
    /// Show timeline frame `index` on the canvas (`None`: the image itself).
    Scrub(Option<usize>),
    /// Show the running job on the canvas again.
    FollowLive,
    /// Star / unstar gallery item `index` (starring saves it).
    ToggleStar(usize),
    /// Save the shown image to the favorites folder (Ctrl+S).
    SaveCurrent,
    /// "Save as…" dialog for gallery item `index`.
    SaveAs(usize),
    /// Copy item `index`'s parameters into the prompt panel.
    UseSettings(usize),
    /// img2img from item `index` at low strength, new seed, right away.
    Vary(usize),
    /// Make item `index` the start image.
    UseAsStart(usize),
    /// Export item `index`'s emergence timeline as a GIF (dialog).
    ExportGif(usize),
    /// "Open image…" dialog for the start image.
    OpenStartImage,
    /// Load this file as the start image (drag and drop).
    LoadStartImage(PathBuf),
    /// Copy the parameters found in the start image's file into the settings.
    UseFoundSettings,
    /// Remove the start image.
    ClearStartImage,
    /// Switch between the studio and the library browser.
    ShowView(crate::ui::state::View),
    /// Load the thumbnail of library entry `id`.
    LibraryThumbnail(i64),
    /// Copy library entry `index`'s parameters into the settings.
    LibraryUseSettings(usize),
    /// Use library entry `index` as the start image.
    LibraryUseAsStart(usize),
    /// Open library entry `index` in the system's image viewer.
    LibraryOpen(usize),
    /// Show library entry `index` in the file manager.
    LibraryReveal(usize),
    /// Move library entry `index` from favorites to history.
    LibraryUnstar(usize),
    /// Delete library entry `index` (after confirmation).
    LibraryDelete(usize),
    /// Choose a model (folder or repo id).
    ChooseModel(String),
    /// Folder dialog to add a local diffusers model.
    AddModelFolder,
    /// File dialog to add a single-file `.safetensors` checkpoint.
    AddCheckpoint,
    /// Download a catalog model (by catalog id) into the hub cache.
    DownloadModel(&'static str),
    /// Stop a model download (kept for a later resume).
    CancelDownload(JobId),
    /// Folder dialog for the favorites folder.
    ChooseFavoritesDir,
    /// Folder dialog for the models folder (then a rescan).
    ChooseModelsDir,
    /// Look for installed models again (hub cache, models folder, recent).
    RescanModels,
}
