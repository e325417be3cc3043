//! Prometheus metrics, rendered in the text exposition format. Names are constants.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub const REQUESTS_TOTAL: &str = "cyxcloud_node_requests_total";
pub const REQUEST_SECONDS: &str = "cyxcloud_node_request_duration_seconds";
pub const BYTES_STORED: &str = "cyxcloud_node_bytes_stored";
pub const CHUNKS_STORED: &str = "cyxcloud_node_chunks_stored";
pub const CAPACITY_BYTES: &str = "cyxcloud_node_capacity_bytes";
pub const BYTES_RECEIVED_TOTAL: &str = "cyxcloud_node_bytes_received_total";
pub const BYTES_SERVED_TOTAL: &str = "cyxcloud_node_bytes_served_total";
pub const CORRUPT_FOUND_TOTAL: &str = "cyxcloud_node_corrupt_shards_found_total";
pub const SCRUB_CHECKED_TOTAL: &str = "cyxcloud_node_scrub_shards_checked_total";
pub const SCRUB_BYTES_TOTAL: &str = "cyxcloud_node_scrub_bytes_total";
pub const SCRUB_PASSES_TOTAL: &str = "cyxcloud_node_scrub_passes_total";
pub const SCRUB_PROGRESS: &str = "cyxcloud_node_scrub_pass_progress";

const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    pub bytes_received: AtomicU64,
    pub bytes_served: AtomicU64,
    pub corrupt_found: AtomicU64,
    pub scrub_checked: AtomicU64,
    pub scrub_bytes: AtomicU64,
    pub scrub_passes: AtomicU64,
    /// Progress of the current scrub pass in millionths.
    pub scrub_progress_ppm: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, rpc: &'static str, code: tonic::Code, elapsed: Duration) {
        let code = code_name(code);
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((rpc, code))
            .or_default() += 1;
        let secs = elapsed.as_secs_f64();
        let mut lat = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let h = lat.entry(rpc).or_default();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    pub fn requests(&self, rpc: &str, code: tonic::Code) -> u64 {
        let code = code_name(code);
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|((r, c), _)| *r == rpc && *c == code)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Text exposition of every metric; gauges from storage are passed in.
    pub fn render(&self, used_bytes: u64, chunks: u64, capacity: u64) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let g = |o: &mut String, name: &str, kind: &str, help: &str, v: f64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        g(
            &mut o,
            BYTES_STORED,
            "gauge",
            "Shard bytes stored.",
            used_bytes as f64,
        );
        g(
            &mut o,
            CHUNKS_STORED,
            "gauge",
            "Shards stored.",
            chunks as f64,
        );
        g(
            &mut o,
            CAPACITY_BYTES,
            "gauge",
            "Capacity offered.",
            capacity as f64,
        );
        g(
            &mut o,
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
            crate::sys::process_cpu_seconds(),
        );
        let ld = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;
        g(
            &mut o,
            BYTES_RECEIVED_TOTAL,
            "counter",
            "Shard bytes received.",
            ld(&self.bytes_received),
        );
        g(
            &mut o,
            BYTES_SERVED_TOTAL,
            "counter",
            "Shard bytes served.",
            ld(&self.bytes_served),
        );
        g(
            &mut o,
            CORRUPT_FOUND_TOTAL,
            "counter",
            "Corrupt shards found by reads and scrubbing.",
            ld(&self.corrupt_found),
        );
        g(
            &mut o,
            SCRUB_CHECKED_TOTAL,
            "counter",
            "Shards verified by the scrubber.",
            ld(&self.scrub_checked),
        );
        g(
            &mut o,
            SCRUB_BYTES_TOTAL,
            "counter",
            "Bytes verified by the scrubber.",
            ld(&self.scrub_bytes),
        );
        g(
            &mut o,
            SCRUB_PASSES_TOTAL,
            "counter",
            "Completed scrub passes.",
            ld(&self.scrub_passes),
        );
        g(
            &mut o,
            SCRUB_PROGRESS,
            "gauge",
            "Progress of the current scrub pass (0-1).",
            ld(&self.scrub_progress_ppm) / 1e6,
        );

        let _ = writeln!(
            o,
            "# HELP {REQUESTS_TOTAL} RPCs by method and status.\n# TYPE {REQUESTS_TOTAL} counter"
        );
        for ((rpc, code), n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(o, "{REQUESTS_TOTAL}{{rpc=\"{rpc}\",code=\"{code}\"}} {n}");
        }
        let _ = writeln!(
            o,
            "# HELP {REQUEST_SECONDS} RPC latency.\n# TYPE {REQUEST_SECONDS} histogram"
        );
        for (rpc, h) in self
            .latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    o,
                    "{REQUEST_SECONDS}_bucket{{rpc=\"{rpc}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                o,
                "{REQUEST_SECONDS}_bucket{{rpc=\"{rpc}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(o, "{REQUEST_SECONDS}_sum{{rpc=\"{rpc}\"}} {}", h.sum);
            let _ = writeln!(o, "{REQUEST_SECONDS}_count{{rpc=\"{rpc}\"}} {}", h.count);
        }
        o
    }
}

fn code_name(c: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match c {
        Ok => "OK",
        InvalidArgument => "INVALID_ARGUMENT",
        NotFound => "NOT_FOUND",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Internal => "INTERNAL",
        _ => "OTHER",
    }
}
