//! The server's own metrics, served as Prometheus text at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{LazyLock, Mutex};

/// Counters of this process's server.
#[derive(Debug, Default)]
pub struct ServerMetrics {
    http: Mutex<BTreeMap<(String, u16), u64>>,
    flight: Mutex<BTreeMap<&'static str, u64>>,
    stopped: Mutex<BTreeMap<&'static str, u64>>,
}

/// The process's counters (one server per process).
pub static METRICS: LazyLock<ServerMetrics> = LazyLock::new(ServerMetrics::default);

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *map.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default() += 1;
}

impl ServerMetrics {
    pub fn http_request(&self, route: &str, status: u16) {
        bump(&self.http, (route.to_owned(), status));
    }

    pub fn flight_call(&self, method: &'static str) {
        bump(&self.flight, method);
    }

    /// A request refused or a query stopped, by reason.
    pub fn stopped(&self, reason: &'static str) {
        bump(&self.stopped, reason);
    }

    /// Prometheus text exposition, with the scores snapshot's version.
    pub fn render(&self, snapshot_version: &str, snapshot_rows: usize) -> String {
        let mut out = String::new();
        let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str("# HELP naap_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE naap_http_requests_total counter\n");
        for ((route, status), n) in self.http.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(
                out,
                "naap_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP naap_flight_requests_total Arrow Flight calls by method.\n");
        out.push_str("# TYPE naap_flight_requests_total counter\n");
        for (method, n) in self.flight.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "naap_flight_requests_total{{method=\"{method}\"}} {n}");
        }
        out.push_str("# HELP naap_requests_refused_total Requests refused or queries stopped, by reason.\n");
        out.push_str("# TYPE naap_requests_refused_total counter\n");
        for (reason, n) in self.stopped.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "naap_requests_refused_total{{reason=\"{reason}\"}} {n}");
        }
        out.push_str(
            "# HELP naap_listener_full_total Times a listener held its most connections and left new ones waiting.\n",
        );
        out.push_str("# TYPE naap_listener_full_total counter\n");
        let events = naap_net::listener_events();
        for (listener, e) in &events {
            let _ = writeln!(out, "naap_listener_full_total{{listener=\"{listener}\"}} {}", e.full);
        }
        out.push_str(
            "# HELP naap_connections_total Connections that waited for a place (parked), were closed at once \
             because their address held all it may (refused), or were closed while silent to make room (evicted).\n",
        );
        out.push_str("# TYPE naap_connections_total counter\n");
        for (listener, e) in &events {
            for (what, n) in [("parked", e.parked), ("refused", e.refused), ("evicted", e.evicted)] {
                let _ = writeln!(
                    out,
                    "naap_connections_total{{listener=\"{listener}\",what=\"{what}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP naap_scores_snapshot_rows Rows in the in-memory scores snapshot, by the table versions it was taken at.\n");
        out.push_str("# TYPE naap_scores_snapshot_rows gauge\n");
        let _ = writeln!(
            out,
            "naap_scores_snapshot_rows{{versions=\"{}\"}} {snapshot_rows}",
            escape(snapshot_version)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_as_prometheus_text() {
        let m = ServerMetrics::default();
        m.http_request("/v1/scores", 200);
        m.http_request("/v1/scores", 200);
        m.flight_call("do_get");
        m.stopped("time_limit");
        let text = m.render("scores@v7;telemetry_1m@v9", 4);
        assert!(
            text.contains("naap_http_requests_total{route=\"/v1/scores\",status=\"200\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("naap_flight_requests_total{method=\"do_get\"} 1\n"));
        assert!(text.contains("naap_requests_refused_total{reason=\"time_limit\"} 1\n"));
        assert!(text.contains("naap_scores_snapshot_rows{versions=\"scores@v7;telemetry_1m@v9\"} 4\n"));
        // Every sample line parses as `name{labels} value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, value) = line.rsplit_once(' ').expect("a value");
            value.parse::<f64>().expect("a number");
        }
    }
}
