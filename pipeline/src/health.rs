//! Whether the pipeline is making progress: what its log says at once, and
//! what `/metrics` and `/healthz` report.

use std::fmt::Write as _;

/// What the pipeline is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum State {
    /// Started, nothing committed yet.
    #[default]
    Starting,
    /// The last commit landed.
    Committing,
    /// A commit keeps failing (the object store is down, say) and is retried;
    /// nothing new becomes queryable meanwhile.
    Retrying { since_ms: i64, error: String },
    /// The run ended with an error: nothing is read or committed any more.
    Stopped { at_ms: i64, error: String },
}

/// The pipeline's state and its last commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    pub state: State,
    /// Wall-clock time of the last commit that landed, Unix ms.
    pub last_commit_at_ms: Option<i64>,
}

impl Health {
    /// Whether commits still land (or will, once the first is due).
    pub fn is_progressing(&self) -> bool {
        matches!(self.state, State::Starting | State::Committing)
    }

    /// `starting`, `committing`, `retrying` or `stopped`.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Starting => "starting",
            State::Committing => "committing",
            State::Retrying { .. } => "retrying",
            State::Stopped { .. } => "stopped",
        }
    }

    /// Why it is not progressing, with since when.
    pub fn problem(&self) -> Option<String> {
        match &self.state {
            State::Retrying { since_ms, error } => {
                Some(format!("commits failing since {}: {error}", rfc3339(*since_ms)))
            }
            State::Stopped { at_ms, error } => Some(format!("stopped at {}: {error}", rfc3339(*at_ms))),
            State::Starting | State::Committing => None,
        }
    }

    pub(crate) fn prometheus(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP naap_pipeline_progressing 1 while commits land, 0 while they fail or after the pipeline stopped.\n\
             # TYPE naap_pipeline_progressing gauge\nnaap_pipeline_progressing {}",
            u8::from(self.is_progressing())
        );
        let _ = writeln!(
            out,
            "# HELP naap_pipeline_state The pipeline's state (1 for the current one).\n# TYPE naap_pipeline_state gauge"
        );
        for name in ["starting", "committing", "retrying", "stopped"] {
            let _ = writeln!(
                out,
                "naap_pipeline_state{{state=\"{name}\"}} {}",
                u8::from(name == self.state_name())
            );
        }
        if let Some(at) = self.last_commit_at_ms {
            let _ = writeln!(
                out,
                "# HELP naap_pipeline_last_commit_timestamp_seconds When the last commit landed.\n\
                 # TYPE naap_pipeline_last_commit_timestamp_seconds gauge\n\
                 naap_pipeline_last_commit_timestamp_seconds {}",
                at as f64 / 1000.0
            );
        }
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}
