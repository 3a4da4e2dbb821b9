//! How a download is going, and how that reads for a person.

use std::time::Duration;

/// A progress report of [`download`](super::download).
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadProgress {
    /// The file being worked on.
    pub file: String,
    /// Bytes of that file in the cache so far.
    pub file_done: u64,
    /// That file's size.
    pub file_total: u64,
    /// Bytes of the whole request in the cache so far; never decreases.
    pub done: u64,
    /// Bytes of the whole request; `done` ends equal to it.
    pub total: u64,
    /// Transfer speed of this session over the last few seconds.
    pub bytes_per_sec: f64,
    /// Estimated time left, when the speed is known.
    pub eta: Option<Duration>,
}

impl DownloadProgress {
    /// One line on a download: the file and how far it is, then the whole
    /// download: "downloading unet/… (45%) · 1.2 GB of 3.4 GB · 20 MB/s · 2 min left".
    pub fn describe(&self) -> String {
        let file_percent = match self.file_total {
            0 => 100,
            total => self.file_done * 100 / total,
        };
        let mut label = format!(
            "downloading {} ({file_percent}%) · {} of {}",
            self.file,
            format_bytes(self.done),
            format_bytes(self.total)
        );
        if self.bytes_per_sec > 0.0 {
            label.push_str(&format!(" · {}/s", format_bytes(self.bytes_per_sec as u64)));
        }
        if let Some(eta) = self.eta {
            let secs = eta.as_secs();
            let left = match secs {
                0..=59 => format!("{secs} s"),
                60..=3599 => format!("{} min", secs.div_ceil(60)),
                _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
            };
            label.push_str(&format!(" · {left} left"));
        }
        label
    }
}

/// A byte count the way the hub shows it, in decimal units: `"340 MB"`,
/// `"1.7 GB"`, `"512 B"`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    for (i, unit) in UNITS.iter().enumerate() {
        let last = i + 1 == UNITS.len();
        if value < 9.95 {
            return format!("{value:.1} {unit}");
        }
        if value.round() < 1000.0 || last {
            return format!("{value:.0} {unit}");
        }
        value /= 1000.0;
    }
    unreachable!("the last unit always returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_like_the_hub() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(1000), "1.0 kB");
        assert_eq!(format_bytes(340_000_000), "340 MB");
        assert_eq!(format_bytes(1_700_000_000), "1.7 GB");
        assert_eq!(format_bytes(9_960_000), "10 MB");
        assert_eq!(format_bytes(999_600_000), "1.0 GB");
        assert_eq!(format_bytes(12_345_678_901), "12 GB");
        assert_eq!(format_bytes(u64::MAX), "18 EB");
    }

    #[test]
    fn described_by_the_file_then_the_whole() {
        let p = DownloadProgress {
            file: "unet/diffusion_pytorch_model.safetensors".into(),
            file_done: 1_500_000_000,
            file_total: 3_000_000_000,
            done: 2_000_000_000,
            total: 4_000_000_000,
            bytes_per_sec: 20_000_000.0,
            eta: Some(std::time::Duration::from_secs(100)),
        };
        assert_eq!(
            p.describe(),
            "downloading unet/diffusion_pytorch_model.safetensors (50%) · 2.0 GB of 4.0 GB · 20 MB/s · 2 min left"
        );
    }
}
