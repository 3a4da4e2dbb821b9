//! Write a tiny random-weight model in the diffusers layout, for trying the
//! window without downloading gigabytes (scripts/screenshots.sh uses it):
//!
//! `cargo run --example tiny_model -- /tmp/tiny-sd [sd1|sd2|sdxl]`
//!
//! The weights are random, so images are coloured noise; every file format
//! and code path is the real one.

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: tiny_model DIR [sd1|sd2|sdxl]");
        std::process::exit(2);
    };
    let family = match args.next().as_deref() {
        None | Some("sd1") => common::Family::Sd1,
        Some("sd2") => common::Family::Sd2,
        Some("sdxl") => common::Family::Sdxl,
        Some(other) => {
            eprintln!("unknown family {other}; expected sd1, sd2 or sdxl");
            std::process::exit(2);
        }
    };
    let root = common::write_tiny_model(std::path::Path::new(&dir), family);
    println!("{}", root.display());
}
