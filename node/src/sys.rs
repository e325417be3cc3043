//! CPU and memory usage of the machine, read from /proc (Linux; elsewhere they read 0), and
//! the CPU time of this process.

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

/// CPU time this process has used since it started (user + system), in seconds: the
/// Prometheus `process_cpu_seconds_total`, and what benchmarks charge an operation with.
pub fn process_cpu_seconds() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct it is given and nothing else.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(u.ru_utime) + secs(u.ru_stime)
}

/// Bytes free to an unprivileged writer on the filesystem that holds `path` (`statvfs`);
/// `None` if it cannot be asked.
pub fn disk_free(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path; statvfs writes into the struct it is given.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    Some((s.f_bavail as u64).saturating_mul(s.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    /// The free space of a real filesystem: some, and no more than it holds.
    #[test]
    fn disk_free_reads_the_filesystem() {
        let dir = tempfile::tempdir().unwrap();
        let free = super::disk_free(dir.path()).unwrap();
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        let c = std::ffi::CString::new(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
        assert!(free > 0 && free <= s.f_blocks as u64 * s.f_frsize as u64);
        assert_eq!(super::disk_free(&dir.path().join("missing")), None);
    }

    #[test]
    fn process_cpu_time_grows_with_work() {
        let before = super::process_cpu_seconds();
        let mut x = 1u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let spent = super::process_cpu_seconds() - before;
        assert!(
            spent > 0.02 && spent < 5.0,
            "{spent} s of CPU for 60 ms of work"
        );
    }
}
