//! Opening a file with the system's viewer, or showing it in the file
//! manager, without blocking the window.

use std::path::PathBuf;
use std::process::Command;

use crate::ui::background::{Background, Done};

/// Open `path` with the default application.
pub fn open(background: &Background, path: PathBuf) {
    run(background, "open", platform_open(&path));
}

/// Show `path` in the file manager (its folder, selected where supported).
pub fn reveal(background: &Background, path: PathBuf) {
    run(background, "reveal", platform_reveal(&path));
}

fn run(background: &Background, what: &str, mut command: Command) {
    let what = what.to_string();
    background.spawn("open", move || match command.status() {
        Ok(s) if s.success() => Done::Quiet,
        Ok(s) => Done::Message {
            title: format!("Could not {what} the file"),
            result: Err(format!("{command:?} exited with {s}")),
        },
        Err(e) => Done::Message {
            title: format!("Could not {what} the file"),
            result: Err(format!(
                "{command:?}: {e}. Is a desktop environment installed?"
            )),
        },
    });
}

#[cfg(target_os = "macos")]
fn platform_open(path: &std::path::Path) -> Command {
    let mut c = Command::new("open");
    c.arg(path);
    c
}

#[cfg(target_os = "macos")]
fn platform_reveal(path: &std::path::Path) -> Command {
    let mut c = Command::new("open");
    c.arg("-R").arg(path);
    c
}

#[cfg(windows)]
fn platform_open(path: &std::path::Path) -> Command {
    let mut c = Command::new("explorer");
    c.arg(path);
    c
}

#[cfg(windows)]
fn platform_reveal(path: &std::path::Path) -> Command {
    let mut c = Command::new("explorer");
    c.arg(format!("/select,{}", path.display()));
    c
}

#[cfg(not(any(target_os = "macos", windows)))]
fn platform_open(path: &std::path::Path) -> Command {
    let mut c = Command::new("xdg-open");
    c.arg(path);
    c
}

#[cfg(not(any(target_os = "macos", windows)))]
fn platform_reveal(path: &std::path::Path) -> Command {
    // xdg-open has no "select"; open the folder.
    let mut c = Command::new("xdg-open");
    c.arg(path.parent().unwrap_or(path));
    c
}
