//! CPU and memory usage of the machine, read from /proc (Linux). Elsewhere they read 0.

use std::sync::Mutex;

#[derive(Default)]
pub struct CpuSampler {
    last: Mutex<Option<(u64, u64)>>,
}

impl CpuSampler {
    /// Busy percentage since the previous call (0 on the first).
    pub fn cpu_percent(&self) -> f64 {
        let Some((busy, total)) = read_cpu() else {
            return 0.0;
        };
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let pct = match *last {
            Some((b0, t0)) if total > t0 => {
                100.0 * (busy.saturating_sub(b0)) as f64 / (total - t0) as f64
            }
            _ => 0.0,
        };
        *last = Some((busy, total));
        pct
    }
}

fn read_cpu() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    let total: u64 = v.iter().sum();
    Some((total - idle, total))
}

/// Used memory as a percentage of total.
pub fn memory_percent() -> f64 {
    let Ok(text) = std::fs::read_to_string("/proc/meminfo") else {
        return 0.0;
    };
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    match (field("MemTotal:"), field("MemAvailable:")) {
        (Some(t), Some(a)) if t > 0.0 => 100.0 * (t - a) / t,
        _ => 0.0,
    }
}
