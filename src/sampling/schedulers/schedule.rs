//! The training noise schedule (betas, cumulative alphas, sigmas) and the
//! numpy-style helpers the diffusers schedulers use to pick inference steps.
//!
//! diffusers builds the schedule with float32 torch ops; we replay those in
//! f32 (FMA-contracted `linspace`, f64-accumulated `cumprod`, exactly like the
//! CPU kernels) so the tables agree bit for bit and timesteps derived from
//! them (Karras) agree too. Everything downstream works in f64 scalars.

use super::config::{BetaSchedule, SchedulerConfig};

/// `torch.linspace(start, end, n, dtype=float32)` on CPU: the kernel fills the
/// first half forwards and the second half backwards, each one FMA.
fn torch_linspace_f32(start: f64, end: f64, n: usize) -> Vec<f32> {
    let (start, end) = (start as f32, end as f32);
    if n == 1 {
        return vec![start];
    }
    let step = (end - start) / (n - 1) as f32;
    let half = n / 2;
    (0..n)
        .map(|i| {
            if i < half {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((n - i - 1) as f32, end)
            }
        })
        .collect()
}

/// diffusers' `betas_for_alpha_bar` with the cosine transform (Improved DDPM).
fn squaredcos_cap_v2_betas(n: usize) -> Vec<f32> {
    let alpha_bar = |t: f64| {
        ((t + 0.008) / 1.008 * std::f64::consts::PI / 2.0)
            .cos()
            .powi(2)
    };
    (0..n)
        .map(|i| {
            let t1 = i as f64 / n as f64;
            let t2 = (i + 1) as f64 / n as f64;
            (1.0 - alpha_bar(t2) / alpha_bar(t1)).min(0.999) as f32
        })
        .collect()
}

/// Rescales betas to zero terminal SNR (arXiv 2305.08891, algorithm 1).
fn rescale_zero_terminal_snr(betas: &[f32]) -> Vec<f32> {
    let ac = cumprod(betas);
    let sqrt: Vec<f64> = ac.iter().map(|&a| (a as f64).sqrt()).collect();
    let (first, last) = (sqrt[0], sqrt[sqrt.len() - 1]);
    let scaled: Vec<f64> = sqrt
        .iter()
        .map(|s| (s - last) * first / (first - last))
        .collect();
    let bar: Vec<f64> = scaled.iter().map(|s| s * s).collect();
    let mut out = Vec::with_capacity(bar.len());
    out.push((1.0 - bar[0]) as f32);
    for w in bar.windows(2) {
        out.push((1.0 - w[1] / w[0]) as f32);
    }
    out
}

/// `torch.cumprod(1 - betas)` in float32: the CPU kernel accumulates in double.
fn cumprod(betas: &[f32]) -> Vec<f32> {
    let mut acc = 1.0f64;
    betas
        .iter()
        .map(|&b| {
            acc *= (1.0f32 - b) as f64;
            acc as f32
        })
        .collect()
}

/// The training betas, as float32 like diffusers.
pub(crate) fn betas(cfg: &SchedulerConfig) -> Vec<f32> {
    let n = cfg.num_train_timesteps;
    let betas = if let Some(b) = &cfg.trained_betas {
        b.iter().map(|&x| x as f32).collect()
    } else {
        match cfg.beta_schedule {
            BetaSchedule::Linear => torch_linspace_f32(cfg.beta_start, cfg.beta_end, n),
            BetaSchedule::ScaledLinear => {
                torch_linspace_f32(cfg.beta_start.sqrt(), cfg.beta_end.sqrt(), n)
                    .into_iter()
                    .map(|x| x * x)
                    .collect()
            }
            BetaSchedule::SquaredcosCapV2 => squaredcos_cap_v2_betas(n),
        }
    };
    if cfg.rescale_betas_zero_snr {
        rescale_zero_terminal_snr(&betas)
    } else {
        betas
    }
}

/// `alphas_cumprod` as float32, the table every scheduler indexes.
pub(crate) fn alphas_cumprod_f32(cfg: &SchedulerConfig) -> Vec<f32> {
    cumprod(&betas(cfg))
}

/// `alphas_cumprod` for the sigma-based samplers (Euler family, DPM++,
/// UniPC): with zero-terminal-SNR betas the last one is 0, an infinite
/// sigma, so diffusers sets it to 2^-24 and keeps the last sigma finite.
pub(crate) fn alphas_cumprod_for_sigmas(cfg: &SchedulerConfig) -> Vec<f32> {
    let mut ac = alphas_cumprod_f32(cfg);
    if cfg.rescale_betas_zero_snr {
        if let Some(last) = ac.last_mut() {
            *last = 2f32.powi(-24);
        }
    }
    ac
}

/// `sqrt((1 - ac) / ac)` per training timestep, float32 like diffusers.
pub(crate) fn sigma_table(alphas_cumprod: &[f32]) -> Vec<f32> {
    alphas_cumprod
        .iter()
        .map(|&a| ((1.0 - a) / a).sqrt())
        .collect()
}

/// `numpy.linspace(start, stop, num)` (float64, endpoint included).
pub(crate) fn np_linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    v[num - 1] = stop;
    v
}

/// `numpy.arange(start, stop, step)` for a negative float step.
pub(crate) fn np_arange_down(start: f64, stop: f64, step: f64) -> Vec<f64> {
    let len = ((stop - start) / step).ceil().max(0.0) as usize;
    (0..len).map(|i| start + i as f64 * step).collect()
}

/// `numpy.interp(x, arange(len(fp)), fp)`.
pub(crate) fn interp(x: f64, fp: &[f32]) -> f64 {
    let last = fp.len() - 1;
    if x <= 0.0 {
        return fp[0] as f64;
    }
    if x >= last as f64 {
        return fp[last] as f64;
    }
    let j = x.floor() as usize;
    let (lo, hi) = (fp[j] as f64, fp[j + 1] as f64);
    let slope = hi - lo;
    slope * (x - j as f64) + lo
}

/// The Karras et al. (2022) noise levels: a `rho = 7` ramp from `sigma_max`
/// down to `sigma_min`, `n` values.
pub(crate) fn karras_sigmas(sigma_min: f64, sigma_max: f64, n: usize) -> Vec<f64> {
    let rho = 7.0;
    let min_inv = sigma_min.powf(1.0 / rho);
    let max_inv = sigma_max.powf(1.0 / rho);
    np_linspace(0.0, 1.0, n)
        .into_iter()
        .map(|r| (max_inv + r * (min_inv - max_inv)).powf(rho))
        .collect()
}

/// diffusers' `_sigma_to_t`: the (fractional) training timestep whose sigma is
/// `sigma`, interpolating linearly in log-sigma. `log_sigmas` is increasing.
pub(crate) fn sigma_to_t(sigma: f64, log_sigmas: &[f32]) -> f64 {
    let log_sigma = sigma.max(1e-10).ln();
    // Index of the last log-sigma not above ours (0 if none), capped so a
    // "high" neighbour exists.
    let low = log_sigmas
        .iter()
        .rposition(|&l| log_sigma - l as f64 >= 0.0)
        .unwrap_or(0)
        .min(log_sigmas.len() - 2);
    let (lo, hi) = (log_sigmas[low] as f64, log_sigmas[low + 1] as f64);
    let w = ((lo - log_sigma) / (lo - hi)).clamp(0.0, 1.0);
    (1.0 - w) * low as f64 + w * (low + 1) as f64
}

/// `numpy.log` of a float32 sigma table (stays float32, like numpy).
pub(crate) fn log_sigmas(sigmas: &[f32]) -> Vec<f32> {
    sigmas.iter().map(|s| s.ln()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sd15_alphas_cumprod_endpoints() {
        let ac = alphas_cumprod_f32(&SchedulerConfig::default());
        assert_eq!(ac.len(), 1000);
        assert!((ac[0] - 0.99915).abs() < 1e-6);
        assert!((ac[999] - 0.004_660_8).abs() < 1e-6);
        assert!(ac.windows(2).all(|w| w[1] < w[0]));
    }

    #[test]
    fn arange_and_linspace_follow_numpy() {
        assert_eq!(
            np_arange_down(1000.0, 0.0, -250.0),
            vec![1000.0, 750.0, 500.0, 250.0]
        );
        assert_eq!(np_arange_down(1000.0, 0.0, -1000.0 / 3.0).len(), 3);
        assert_eq!(np_linspace(0.0, 999.0, 4), vec![0.0, 333.0, 666.0, 999.0]);
    }

    #[test]
    fn sigma_to_t_inverts_the_table() {
        let ac = alphas_cumprod_f32(&SchedulerConfig::default());
        let sig = sigma_table(&ac);
        let logs = log_sigmas(&sig);
        for t in [0usize, 1, 500, 998, 999] {
            assert!((sigma_to_t(sig[t] as f64, &logs) - t as f64).abs() < 1e-3);
        }
    }
}
