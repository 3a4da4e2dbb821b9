//! The command line: the same engine as the window, headless.

mod generate;
mod models;
mod window;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use generate::GenerateArgs;

/// Latent Studio: watch Stable Diffusion turn noise into a picture.
#[derive(Debug, Parser)]
#[command(name = "latent-studio", version, about)]
pub struct Cli {
    /// What to do; without a command the studio window opens.
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    /// Options of the window (when no command is given).
    #[command(flatten)]
    pub window: WindowArgs,
}

/// Options of the studio window.
#[derive(Debug, clap::Args)]
pub struct WindowArgs {
    /// Model to select at start (catalog id, hub repo id, folder or .safetensors file).
    #[arg(long, global = false)]
    pub model: Option<String>,
    /// Fill in this prompt and start generating at once (demos, screenshots).
    #[arg(long, value_name = "PROMPT")]
    pub demo: Option<String>,
    /// Load this image as the img2img start image at start.
    #[arg(long, value_name = "FILE")]
    pub start_image: Option<std::path::PathBuf>,
    /// Image size for `--demo`, e.g. 256x256.
    #[arg(long, value_name = "WxH")]
    pub size: Option<String>,
    /// Steps for `--demo`.
    #[arg(long)]
    pub steps: Option<usize>,
    /// Print frame-time statistics when the window closes.
    #[arg(long)]
    pub frame_stats: bool,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
// Parsed once per process; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum CliCommand {
    /// Generate one image (txt2img, or img2img with --init-image).
    Generate(GenerateArgs),
    /// Print the generation parameters stored in an image (Latent Studio,
    /// AUTOMATIC1111/Forge, ComfyUI or InvokeAI PNGs) as one JSON object.
    Info {
        /// The image file.
        file: std::path::PathBuf,
    },
    /// Find, download and add models.
    #[command(subcommand)]
    Models(models::ModelsCommand),
}

/// Parse arguments and run; errors become one line on stderr and exit code 1.
pub fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(CliCommand::Generate(args)) => generate::run(args),
        Some(CliCommand::Info { file }) => info(&file),
        Some(CliCommand::Models(command)) => models::run(command),
        None => window::run(cli.window),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// `latent-studio info FILE`: the parameters as JSON on stdout.
fn info(file: &std::path::Path) -> anyhow::Result<()> {
    let info = latent_studio::library::read_image_info(file)?;
    println!("{}", serde_json::to_string(&info)?);
    Ok(())
}
