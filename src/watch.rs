//! The pipeline of `naap demo`, watched: restarted after an error (from
//! the lake's last commit, as a service manager would restart `naap
//! pipeline`), and reported by the server beside it (`/healthz`,
//! `/metrics`) while it does not progress.

use std::sync::Arc;
use std::time::Duration;

use naap_pipeline::{Metrics, Pipeline, PipelineConfig, Report, SourceSpec};
use tokio::sync::watch;
use tracing::{error, info};

/// The server's view of the pipeline: its health and counters.
#[derive(Debug)]
pub struct PipelineView(pub Arc<Metrics>);

impl naap_flight_server::Companion for PipelineView {
    fn problem(&self) -> Option<String> {
        self.0.snapshot().health.problem().map(|p| format!("pipeline {p}"))
    }

    fn health(&self) -> serde_json::Value {
        let s = self.0.snapshot();
        serde_json::json!({
            "state": s.health.state_name(),
            "problem": s.health.problem(),
            "last_commit": s.health.last_commit_at_ms.map(naap_flight_server::requests::rfc3339),
            "pending_messages": s.pending_messages,
            "lag_messages": s.lag().values().sum::<i64>(),
        })
    }

    fn metrics(&self) -> String {
        self.0.snapshot().prometheus()
    }
}

/// Runs the pipeline until `stop`, restarting it after an error: at once
/// the first time, then after waits growing to a minute. Each error is in
/// the log when it happens and in `metrics` until a commit lands again.
pub async fn supervise(
    config: PipelineConfig,
    source: SourceSpec,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<Report> {
    let mut wait = Duration::ZERO;
    loop {
        let pipeline = Pipeline::new(config.clone()).with_metrics(Arc::clone(&metrics));
        let stopper = pipeline.stopper();
        let run = tokio::spawn(pipeline.run(source.clone()));
        let stopping = async {
            while !*stop.borrow_and_update() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        };
        tokio::pin!(run);
        let ran = tokio::select! {
            ran = &mut run => ran,
            () = stopping => {
                let _ = stopper.send(true);
                run.await
            }
        };
        match ran {
            Ok(Ok(report)) => return Ok(report),
            Ok(Err(e)) if *stop.borrow() => return Err(e.into()),
            Ok(Err(e)) => {
                error!(error = %e, retry_in_s = wait.as_secs(), "the pipeline stopped; restarting it from the last commit")
            }
            Err(join) => {
                error!(error = %join, retry_in_s = wait.as_secs(), "the pipeline task failed; restarting it from the last commit")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return Err(anyhow::anyhow!("stopped while the pipeline was failing")),
        }
        info!("restarting the pipeline");
        wait = (wait * 2).clamp(Duration::from_secs(5), Duration::from_secs(60));
    }
}
