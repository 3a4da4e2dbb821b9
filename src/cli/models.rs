//! `latent-studio models list | download | add`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{bail, Context};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use latent_studio::hub::{self, format_bytes, HubConfig};
use latent_studio::models::catalog::{self, EntryKind};
use latent_studio::models::files::{models_in_folder, ModelFiles, ModelLayout};
use latent_studio::models::install;
use latent_studio::models::source::ModelSource;
use latent_studio::storage::folders::default_models_dir;

/// What to do with models.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// The catalog and what is installed: sizes, licenses, where.
    List,
    /// Download a catalog model (e.g. `sd-turbo`) or any diffusers repo
    /// (`owner/name`) into the Hugging Face cache. An interrupted download
    /// resumes where it stopped.
    Download {
        /// Catalog id or hub repo id.
        id: String,
        /// Fetch the .fp16 weight variants (half the size; for GPUs).
        #[arg(long)]
        fp16: bool,
        /// A branch, tag or commit instead of `main` (a branch or tag is
        /// recorded in the cache's `refs/`, as huggingface_hub does).
        #[arg(long, value_name = "REV")]
        revision: Option<String>,
    },
    /// Check a diffusers folder or .safetensors checkpoint and link it into
    /// the models folder, where the window finds it at start.
    Add {
        /// The folder or file.
        path: PathBuf,
        /// Copy instead of linking.
        #[arg(long)]
        copy: bool,
    },
}

/// Run a models command.
pub fn run(command: ModelsCommand) -> anyhow::Result<()> {
    match command {
        ModelsCommand::List => list(),
        ModelsCommand::Download { id, fp16, revision } => fetch(&id, fp16, revision.as_deref()),
        ModelsCommand::Add { path, copy } => add(&path, copy),
    }
}

fn kind_label(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Pipeline(f) => f.label(),
        EntryKind::PreviewDecoder(_) => "previews",
        EntryKind::Vae(_) => "VAE",
    }
}

fn list() -> anyhow::Result<()> {
    let builtin = match latent_studio::models::builtin::folder() {
        Some(dir) => dir.display().to_string(),
        None => "missing (reinstall to get assets/mini-emoji)".into(),
    };
    println!(
        "Built in: {:<10} {} (64 px emoji, Apache-2.0) {}\n",
        latent_studio::models::builtin::ID,
        latent_studio::models::builtin::NAME,
        builtin
    );
    println!("Catalog (download with `latent-studio models download <id>`):\n");
    println!(
        "{:<18} {:<26} {:<9} {:>8}  {:<10} license",
        "id", "name", "kind", "size", "status"
    );
    for e in catalog::CATALOG {
        let status = match (install::installed(e), install::partly_downloaded(e, false)) {
            (Some(_), _) => "installed".to_string(),
            (None, Some(part)) => format!("{:.0}% here", part * 100.0),
            (None, None) => "-".to_string(),
        };
        println!(
            "{:<18} {:<26} {:<9} {:>8}  {:<10} {} <{}>",
            e.id,
            e.name,
            kind_label(e.kind),
            format_bytes(e.bytes),
            status,
            e.license.name,
            e.license.url
        );
    }
    println!(
        "\nHugging Face cache: {}",
        HubConfig::from_env().cache.path().display()
    );
    for e in catalog::CATALOG {
        if let Some(dir) = install::installed(e) {
            println!("  {:<18} {}", e.id, dir.display());
        }
    }
    let dir = default_models_dir();
    println!("\nModels folder: {}", dir.display());
    let local = models_in_folder(&dir);
    if local.is_empty() {
        println!("  (empty; add one with `latent-studio models add <folder or .safetensors>`)");
    }
    for source in local {
        let what = match ModelFiles::resolve(&source, false).map(|f| f.layout) {
            Ok(ModelLayout::SingleFile { family, .. }) => format!("{} checkpoint", family.label()),
            Ok(ModelLayout::Diffusers(_)) => "diffusers folder".into(),
            Err(e) => format!("unusable: {}", e.one_line()),
        };
        println!("  {:<40} {}", source.display_name(), what);
    }
    Ok(())
}

fn fetch(id: &str, fp16: bool, revision: Option<&str>) -> anyhow::Result<()> {
    let hub_config = HubConfig::from_env();
    let (request, listing) = match catalog::find(id) {
        Some(entry) => {
            let mut request = install::catalog_request(entry, fp16);
            if let Some(revision) = revision {
                request.revision = revision.to_string();
            }
            (request, None)
        }
        None if id.split('/').count() == 2 => {
            let revision = revision.unwrap_or(install::REVISION);
            let (request, listing) = install::pipeline_request(&hub_config, id, revision, fp16)?;
            (request, Some(listing))
        }
        None => bail!("no catalog model {id:?}; see `latent-studio models list`, or give a hub repo id like owner/name"),
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:30!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    let mut progress = |p: &hub::DownloadProgress| {
        bar.set_length(p.total);
        bar.set_position(p.done);
        bar.set_message(p.file.clone());
    };
    let cancel = AtomicBool::new(false);
    let done = match &listing {
        Some(listing) => {
            hub::download_listed(&hub_config, &request, listing, &cancel, &mut progress)
        }
        None => hub::download(&hub_config, &request, &cancel, &mut progress),
    }
    .with_context(|| format!("downloading {}", request.repo))?;
    bar.finish_and_clear();
    println!(
        "{}: {} downloaded, {} file(s) already cached\n{}",
        request.repo,
        format_bytes(done.fetched_bytes),
        done.reused_files,
        done.snapshot.display()
    );
    Ok(())
}

fn add(path: &Path, copy: bool) -> anyhow::Result<()> {
    let path = path
        .canonicalize()
        .with_context(|| format!("{} does not exist", path.display()))?;
    let source = ModelSource::parse(&path.display().to_string());
    let files = ModelFiles::resolve(&source, false)?;
    let what = match &files.layout {
        ModelLayout::SingleFile { family, .. } => {
            format!("{} single-file checkpoint", family.label())
        }
        ModelLayout::Diffusers(d) => format!(
            "diffusers {}",
            if d.index.is_sdxl() {
                "SDXL pipeline"
            } else {
                "pipeline"
            }
        ),
    };
    let dir = default_models_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().context("the path has no file name")?;
    let target = dir.join(name);
    if target.exists() || target.is_symlink() {
        bail!("{} is already in the models folder", target.display());
    }
    if copy {
        if path.is_dir() {
            bail!("--copy works for single files; link the folder instead (leave out --copy)");
        }
        // Through a temporary file: a full disk leaves no half checkpoint.
        latent_studio::storage::atomic::replace_file(&target, |out| {
            std::io::copy(&mut std::fs::File::open(&path)?, out).map(|_| ())
        })?;
    } else {
        link(&path, &target)?;
    }
    println!("added {what}: {}", target.display());
    Ok(())
}

#[cfg(unix)]
fn link(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::os::unix::fs::symlink(from, to).with_context(|| format!("linking {}", to.display()))
}

#[cfg(not(unix))]
fn link(from: &Path, to: &Path) -> anyhow::Result<()> {
    let made = if from.is_dir() {
        std::os::windows::fs::symlink_dir(from, to)
    } else {
        std::os::windows::fs::symlink_file(from, to)
    };
    made.with_context(|| {
        format!(
            "linking {} (Windows needs developer mode for links; try --copy)",
            to.display()
        )
    })
}
