//! The command line: the same engine as the window, headless.

mod generate;

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
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Generate one image (txt2img, or img2img with --init-image).
    Generate(GenerateArgs),
}

/// Parse arguments and run; errors become one line on stderr and exit code 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(CliCommand::Generate(args)) => generate::run(args),
        None => {
            eprintln!(
                "The studio window is not built yet. Use the command line:\n  \
                 latent-studio generate --model <folder|hub-id> --prompt \"a terrier\" --out out.png\n\
                 See `latent-studio --help`."
            );
            Ok(())
        }
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
