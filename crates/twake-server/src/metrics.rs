//! Prometheus metrics, kept by hand: a few counters do not justify a
//! metrics framework.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    /// (route, status) → count
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// route → (sum of seconds, count)
    latency: Mutex<BTreeMap<String, (f64, u64)>>,
    pub prompt_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
    pub in_flight_generations: AtomicU64,
}

impl Metrics {
    pub fn record(&self, route: &str, status: u16, seconds: f64) {
        *self.requests.lock().unwrap_or_else(|e| e.into_inner()).entry((route.to_string(), status)).or_default() += 1;
        let mut l = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let e = l.entry(route.to_string()).or_default();
        e.0 += seconds;
        e.1 += 1;
    }

    pub fn tokens(&self, prompt: usize, completion: usize) {
        self.prompt_tokens.fetch_add(prompt as u64, Ordering::Relaxed);
        self.completion_tokens.fetch_add(completion as u64, Ordering::Relaxed);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(
            "# HELP twake_requests_total HTTP requests by route and status.\n# TYPE twake_requests_total counter\n",
        );
        for ((route, status), n) in self.requests.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            s.push_str(&format!("twake_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}\n"));
        }
        s.push_str(
            "# HELP twake_request_duration_seconds Request latency.\n# TYPE twake_request_duration_seconds summary\n",
        );
        for (route, (sum, count)) in self.latency.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            s.push_str(&format!("twake_request_duration_seconds_sum{{route=\"{route}\"}} {sum}\n"));
            s.push_str(&format!("twake_request_duration_seconds_count{{route=\"{route}\"}} {count}\n"));
        }
        s.push_str(
            "# HELP twake_tokens_total Tokens processed by the chat model.\n# TYPE twake_tokens_total counter\n",
        );
        s.push_str(&format!("twake_tokens_total{{kind=\"prompt\"}} {}\n", self.prompt_tokens.load(Ordering::Relaxed)));
        s.push_str(&format!(
            "twake_tokens_total{{kind=\"completion\"}} {}\n",
            self.completion_tokens.load(Ordering::Relaxed)
        ));
        s.push_str("# HELP twake_generations_in_flight Generations queued or running.\n# TYPE twake_generations_in_flight gauge\n");
        s.push_str(&format!("twake_generations_in_flight {}\n", self.in_flight_generations.load(Ordering::Relaxed)));
        s
    }
}

/// One generation counted in `twake_generations_in_flight` while it lives:
/// dropped when the answer is done, fails, or is cancelled (its client
/// gone, or stopped from the web UI).
pub struct Generating(std::sync::Arc<Metrics>);

impl Generating {
    pub fn start(metrics: &std::sync::Arc<Metrics>) -> Self {
        metrics.in_flight_generations.fetch_add(1, Ordering::Relaxed);
        Generating(metrics.clone())
    }
}

impl Drop for Generating {
    fn drop(&mut self) {
        self.0.in_flight_generations.fetch_sub(1, Ordering::Relaxed);
    }
}
