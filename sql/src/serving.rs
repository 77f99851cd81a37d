//! The statements the server runs, one per file in `sql/serving/`, each
//! loaded by its name and tested by an `.slt` beside it (`EXECUTE <name>(…)`
//! runs the file as a prepared statement there).
//!
//! A file starts with a header like the rules':
//!
//! ```sql
//! -- name: router_scores
//! -- params: pipeline VARCHAR, model VARCHAR, sla_version INT
//! -- inputs: sla_hourly
//! -- description: …
//! ```
//!
//! `params` lists the positional parameters `$1`, `$2`, … in order, each
//! with its SQL type; a statement without parameters has no `params` line.

/// One serving statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// The file's stem, which its header's `name` repeats.
    pub name: &'static str,
    text: &'static str,
}

impl Query {
    /// The statement, header comments included.
    pub fn sql(&self) -> &'static str {
        self.text
    }

    /// The positional parameters as `(name, SQL type)`, in `$1`, `$2`, …
    /// order, from the header's `params` line.
    pub fn params(&self) -> Vec<(&'static str, &'static str)> {
        self.header("params")
            .map(|line| {
                line.split(',')
                    .filter_map(|p| p.trim().split_once(' '))
                    .map(|(name, ty)| (name.trim(), ty.trim()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The value of header line `-- <key>: value` (its first line only).
    pub fn header(&self, key: &str) -> Option<&'static str> {
        self.text
            .lines()
            .map_while(|l| l.strip_prefix("--"))
            .filter_map(|l| l.trim().split_once(':'))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.trim())
    }
}

macro_rules! serving {
    ($($konst:ident = $name:literal),* $(,)?) => {
        $(
            #[doc = concat!("`sql/serving/", $name, ".sql`")]
            pub const $konst: Query = Query {
                name: $name,
                text: include_str!(concat!("../serving/", $name, ".sql")),
            };
        )*
        /// Every serving statement.
        pub const ALL: &[Query] = &[$($konst),*];
    };
}

serving!(
    SCORES = "scores",
    DASHBOARD_UPTIME = "dashboard_uptime",
    DASHBOARD_SLA = "dashboard_sla",
    GPU_MODELS_MEASURED = "gpu_models_measured",
    GPU_MODELS_ADVERTISED = "gpu_models_advertised",
    ORCHESTRATOR_REGIONS = "orchestrator_regions",
    ORCHESTRATOR_SLA_HOURS = "orchestrator_sla_hours",
    ORCHESTRATOR_UPTIME_HOURS = "orchestrator_uptime_hours",
    ORCHESTRATOR_GPUS = "orchestrator_gpus",
    ORCHESTRATOR_ADVERTISED = "orchestrator_advertised",
    ORCHESTRATOR_NODE_REGIONS = "orchestrator_node_regions",
    ORCHESTRATOR_JOBS = "orchestrator_jobs",
    EXPLORER_SESSION_STATS = "explorer_session_stats",
    EXPLORER_PROBE_STATS = "explorer_probe_stats",
    EXPLORER_PROBE_REGIONS = "explorer_probe_regions",
    EXPLORER_RAW_PROBES = "explorer_raw_probes",
    ADVERTISED_MODELS = "advertised_models",
    DISCOVER_ORCHESTRATORS = "discover_orchestrators",
    DISCOVER_SLA = "discover_sla",
    DISCOVER_JOBS = "discover_jobs",
    LEADERBOARD_SNAPSHOTS = "leaderboard_snapshots",
    LEADERBOARD_LATENCY = "leaderboard_latency",
    ROUTER_CANDIDATES = "router_candidates",
    ROUTER_SCORES = "router_scores",
    ROUTER_PRICES = "router_prices",
    ROUTER_DISCOVERY_LATENCY = "router_discovery_latency",
    ROUTER_BYOC_CANDIDATES = "router_byoc_candidates",
    ROUTER_JOBS_SCORES = "router_jobs_scores",
    SNAPSHOT_REGIONS = "snapshot_regions",
    SNAPSHOT_ADVERTISED = "snapshot_advertised",
    SNAPSHOT_SCORED = "snapshot_scored",
    QUARANTINE_SUMMARY = "quarantine_summary",
    QUARANTINE_RECENT = "quarantine_recent",
    PERF_STATS_SCORES = "perf_stats_scores",
    PERF_STATS_REGIONAL_INPUTS = "perf_stats_regional_inputs",
    REQUESTS_SUMMARY = "requests_summary",
    REQUESTS_KPI = "requests_kpi",
    REQUESTS_LLM_SUMMARY = "requests_llm_summary",
    REQUESTS_AI_JOBS = "requests_ai_jobs",
    REQUESTS_BYOC_JOBS = "requests_byoc_jobs",
    REQUESTS_BYOC_WORKERS = "requests_byoc_workers",
    REQUESTS_BYOC_AUTH = "requests_byoc_auth",
    REQUESTS_MODELS = "requests_models",
    REQUESTS_ORCHESTRATORS = "requests_orchestrators",
    REQUESTS_BY_ORCHESTRATOR = "requests_by_orchestrator",
    STREAMING_DEMAND = "streaming_demand",
    STREAMING_HOURS = "streaming_hours",
    STREAMING_ORCHESTRATORS = "streaming_orchestrators",
    STREAMING_OFFERS = "streaming_offers",
    STREAMING_ACTIVE = "streaming_active",
    PRICING_SNAPSHOTS = "pricing_snapshots",
    BACKTEST_RUNS = "backtest_runs",
    BACKTEST_SUMMARY = "backtest_summary",
    BACKTEST_HOURLY = "backtest_hourly",
    CHART_LIVE = "chart_live",
    CHART_ORCHESTRATORS = "chart_orchestrators",
    CHART_REQUESTS = "chart_requests",
    CHART_FEES = "chart_fees",
    CHART_PRICES = "chart_prices",
    CHART_GPUS = "chart_gpus",
    CHART_ORCHESTRATOR_SLA = "chart_orchestrator_sla",
    CHART_ORCHESTRATOR_UPTIME = "chart_orchestrator_uptime",
    CHART_ORCHESTRATOR_PROBES = "chart_orchestrator_probes",
    CHART_ORCHESTRATOR_GPU = "chart_orchestrator_gpu",
    LEADERBOARDS_SLA = "leaderboards_sla",
    LEADERBOARDS_JOBS = "leaderboards_jobs",
    LEADERBOARDS_PRICES = "leaderboards_prices",
    CHART_BACKTEST = "chart_backtest",
);

/// The statement named `name`.
pub fn by_name(name: &str) -> Option<Query> {
    ALL.iter().copied().find(|q| q.name == name)
}

/// `PREPARE <name>(<types>) AS <statement>`: how the SQL tests run a
/// serving statement with the parameters they choose.
pub fn prepare_statement(query: &Query) -> String {
    let types: Vec<&str> = query.params().into_iter().map(|(_, ty)| ty).collect();
    let types = if types.is_empty() {
        String::new()
    } else {
        format!("({})", types.join(", "))
    };
    format!("PREPARE {}{types} AS {}", query.name, query.sql())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn dir() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("serving")
    }

    #[test]
    fn every_file_is_embedded_under_its_own_name() {
        let files: BTreeSet<String> = std::fs::read_dir(dir())
            .unwrap()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".sql").map(str::to_owned))
            .collect();
        let embedded: BTreeSet<String> = ALL.iter().map(|q| q.name.to_owned()).collect();
        assert_eq!(files, embedded, "sql/serving/*.sql and serving::ALL differ");
        for q in ALL {
            assert_eq!(q.header("name"), Some(q.name), "{}: header names another file", q.name);
            assert!(q.header("description").is_some(), "{}: no description", q.name);
            assert!(q.header("inputs").is_some(), "{}: no inputs", q.name);
            let used = (1..=q.params().len()).all(|i| q.sql().contains(&format!("${i}")));
            assert!(used, "{}: a declared parameter is never used", q.name);
            assert!(
                !q.sql().contains(&format!("${}", q.params().len() + 1)),
                "{}: undeclared parameter",
                q.name
            );
        }
    }

    #[test]
    fn every_statement_is_executed_by_an_slt() {
        let mut tests = String::new();
        for entry in std::fs::read_dir(dir()).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "slt") {
                tests.push_str(&std::fs::read_to_string(entry.path()).unwrap());
            }
        }
        for q in ALL {
            let call = format!("EXECUTE {}", q.name);
            let runs = tests
                .match_indices(&call)
                .any(|(at, _)| matches!(tests[at + call.len()..].chars().next(), Some('(' | '\n' | ' ') | None));
            assert!(runs, "no .slt in sql/serving/ runs EXECUTE {}", q.name);
        }
    }

    #[test]
    fn params_parse_in_order() {
        let q = EXPLORER_SESSION_STATS;
        let names: Vec<&str> = q.params().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["since_ms", "until_ms", "pipeline", "model", "sla_version"]);
        assert!(
            prepare_statement(&q)
                .starts_with("PREPARE explorer_session_stats(BIGINT, BIGINT, VARCHAR, VARCHAR, INT) AS")
        );
        assert_eq!(by_name("scores"), Some(SCORES));
    }
}
