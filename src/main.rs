//! `latent-studio`: the studio window, or the command line with a subcommand.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
