//! `latent-studio` with no command: open the studio window.

use anyhow::Context;
use latent_studio::ui::settings::Settings;
use latent_studio::ui::{run_studio, StudioConfig};

use super::WindowArgs;

/// Open the window with the command line's start options.
pub fn run(args: WindowArgs) -> anyhow::Result<()> {
    let size = args
        .size
        .as_deref()
        .map(parse_size)
        .transpose()
        .context("--size must look like 512x512")?;
    let mut settings: Option<Settings> = None;
    if args.model.is_some() || size.is_some() || args.steps.is_some() {
        // Start from the saved settings' defaults, changed only where asked.
        let mut s = Settings::default();
        if let Some(m) = &args.model {
            s.choose_model(m);
        }
        if size.is_some() {
            s.size = size;
        }
        if let Some(steps) = args.steps {
            s.steps = steps;
        }
        settings = Some(s);
    }
    run_studio(StudioConfig {
        settings,
        history_dir: Some(latent_studio::storage::folders::default_history_dir()),
        library_db: Some(latent_studio::storage::folders::default_library_db()),
        scan_models: true,
        demo_prompt: args.demo,
        start_image: args.start_image,
        frame_stats: args.frame_stats,
        ..Default::default()
    })
}

fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = s
        .split_once(['x', 'X', '×'])
        .context("expected WIDTHxHEIGHT")?;
    Ok((w.trim().parse()?, h.trim().parse()?))
}
