//! Prometheus metrics, kept in process and rendered as text at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the request latency histogram.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Upper bounds of the batch size histogram.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1000.0];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, buckets: &[f64], value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; buckets.len()];
        }
        for (i, bound) in buckets.iter().enumerate() {
            if value <= *bound {
                self.counts[i] += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, buckets: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, bound) in buckets.iter().enumerate() {
            let n = self.counts.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    leads: BTreeMap<&'static str, u64>,
    batches: Histogram,
}

/// All counters and histograms of one service instance.
#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// One finished HTTP request.
    pub fn observe_request(&self, route: &str, status: u16, elapsed: Duration) {
        let Ok(mut inner) = self.inner.lock() else { return };
        *inner.requests.entry((route.to_owned(), status)).or_default() += 1;
        inner.latency.entry(route.to_owned()).or_default().observe(LATENCY_BUCKETS, elapsed.as_secs_f64());
    }

    /// One lead's outcome: `assigned`, `duplicate`, `unassigned`, `invalid`, `unavailable`.
    pub fn observe_lead(&self, outcome: &'static str) {
        if let Ok(mut inner) = self.inner.lock() {
            *inner.leads.entry(outcome).or_default() += 1;
        }
    }

    /// One `ingest_leads` call of `size` leads.
    pub fn observe_batch(&self, size: usize) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.batches.observe(BATCH_BUCKETS, size as f64);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(inner) = self.inner.lock() else { return out };
        out.push_str("# HELP bloc_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE bloc_http_requests_total counter\n");
        for ((route, status), n) in &inner.requests {
            let _ = writeln!(out, "bloc_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        out.push_str("# HELP bloc_http_request_duration_seconds HTTP request latency by route.\n");
        out.push_str("# TYPE bloc_http_request_duration_seconds histogram\n");
        for (route, h) in &inner.latency {
            h.render(&mut out, "bloc_http_request_duration_seconds", &format!("route=\"{route}\""), LATENCY_BUCKETS);
        }
        out.push_str("# HELP bloc_leads_total Leads by outcome.\n");
        out.push_str("# TYPE bloc_leads_total counter\n");
        for (outcome, n) in &inner.leads {
            let _ = writeln!(out, "bloc_leads_total{{outcome=\"{outcome}\"}} {n}");
        }
        out.push_str("# HELP bloc_ingest_batch_size Leads per ingest_leads call.\n");
        out.push_str("# TYPE bloc_ingest_batch_size histogram\n");
        inner.batches.render(&mut out, "bloc_ingest_batch_size", "", BATCH_BUCKETS);
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rendered_text_has_requests_leads_batches_and_latency() {
        let m = Metrics::default();
        m.observe_request("/api/ingest", 201, Duration::from_millis(3));
        m.observe_lead("assigned");
        m.observe_batch(5);
        let text = m.render();
        assert!(text.contains("bloc_http_requests_total{route=\"/api/ingest\",status=\"201\"} 1"));
        assert!(text.contains("bloc_http_request_duration_seconds_bucket{route=\"/api/ingest\",le=\"0.005\"} 1"));
        assert!(text.contains("bloc_http_request_duration_seconds_bucket{route=\"/api/ingest\",le=\"0.0025\"} 0"));
        assert!(text.contains("bloc_leads_total{outcome=\"assigned\"} 1"));
        assert!(text.contains("bloc_ingest_batch_size_bucket{le=\"8\"} 1"));
        assert!(text.contains("bloc_ingest_batch_size_count 1"));
    }
}
