//! Frame-time bookkeeping for `--frame-stats`: is the window keeping up
//! while the engine works?

use std::time::Duration;

/// Frames slower than this count as hitches.
const HITCH: Duration = Duration::from_millis(50);

/// Collected frame times.
#[derive(Debug, Default, Clone)]
pub struct FrameStats {
    /// Time spent in our `ui()` per frame (layout, uploads).
    pub ui: Vec<Duration>,
    /// eframe's CPU time of the whole previous frame (ours + tessellation + paint).
    pub frame_cpu: Vec<f32>,
    /// Frames slower than `HITCH`: (frame number, milliseconds).
    pub hitches: Vec<(usize, f64)>,
}

impl FrameStats {
    /// Add one frame.
    pub fn record(&mut self, ui: Duration, cpu_usage: Option<f32>) {
        self.ui.push(ui);
        if let Some(c) = cpu_usage {
            let ms = c as f64 * 1e3;
            if ms > HITCH.as_secs_f64() * 1e3 {
                // cpu_usage describes the frame before this one.
                self.hitches.push((self.ui.len() - 1, ms));
            }
            self.frame_cpu.push(c);
        }
    }

    /// One line: frames, median and max of both series, hitches.
    pub fn summary(&self) -> String {
        let mut ui: Vec<f64> = self.ui.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        let mut cpu: Vec<f64> = self.frame_cpu.iter().map(|&s| s as f64 * 1e3).collect();
        let hitches: Vec<String> = self
            .hitches
            .iter()
            .map(|(n, ms)| format!("#{n} {ms:.0} ms"))
            .collect();
        format!(
            "frame stats: {} frames; ui() median {:.2} ms, max {:.2} ms; whole frame CPU median {:.2} ms, p99 {:.2} ms, max {:.2} ms; frames over {} ms: [{}]",
            ui.len(),
            percentile(&mut ui, 0.5),
            percentile(&mut ui, 1.0),
            percentile(&mut cpu, 0.5),
            percentile(&mut cpu, 0.99),
            percentile(&mut cpu, 1.0),
            HITCH.as_millis(),
            hitches.join(", ")
        )
    }
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let i = ((values.len() - 1) as f64 * q).round() as usize;
    values[i]
}
