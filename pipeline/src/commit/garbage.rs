//! What the lake no longer needs: state files no record names, old commit
//! records, and table files removed from their Delta table (vacuum).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use deltalake_core::operations::vacuum::VacuumMode;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use tracing::{debug, info, warn};

use crate::Result;
use crate::manifest::{Manifest, manifest_path};

/// Commit records kept (a table lacking an older one is finished from it).
const RECORDS_KEPT: u64 = 1000;

/// The state files this process wrote or inherited, and when it last vacuumed.
pub(crate) struct Garbage {
    /// Deleted once no record this process commits names them.
    known_state: BTreeSet<String>,
    last_vacuum: Instant,
}

impl Garbage {
    pub(crate) fn new() -> Self {
        Self {
            known_state: BTreeSet::new(),
            last_vacuum: Instant::now(),
        }
    }

    /// Remembers state files to delete once unreferenced.
    pub(crate) fn track(&mut self, files: impl IntoIterator<Item = String>) {
        self.known_state.extend(files);
    }

    /// Deletes the state files this process knows that `record` no longer
    /// names, and the record `RECORDS_KEPT` before it.
    pub(crate) async fn prune(&mut self, lake: &naap_sql::Lake, record: &Manifest) {
        let referenced = record.referenced_state();
        let unused: Vec<String> = self
            .known_state
            .iter()
            .filter(|f| !referenced.contains(*f))
            .cloned()
            .collect();
        for f in unused {
            let _ = lake.store().delete(&Path::from(f.as_str())).await;
            self.known_state.remove(&f);
        }
        if record.seq > RECORDS_KEPT {
            let _ = lake
                .store()
                .delete(&manifest_path(lake, record.seq - RECORDS_KEPT))
                .await;
        }
    }

    /// Whether a vacuum pass is due (`every` since the last one).
    pub(crate) fn vacuum_due(&self, every: Option<Duration>) -> bool {
        every.is_some_and(|every| self.last_vacuum.elapsed() >= every)
    }

    /// Deletes the files removed from each table more than `retention` ago
    /// (queries planned before a removal still find its files until then).
    /// `full` also deletes files no version references (a crashed commit's),
    /// which is safe only while no pipeline is writing the lake.
    pub(crate) async fn vacuum(&mut self, lake: &naap_sql::Lake, retention: Duration, full: bool) -> Result<usize> {
        self.last_vacuum = Instant::now();
        let mut deleted = 0;
        for table in naap_sql::delta::table_names(lake).await? {
            let Some(t) = naap_sql::delta::open(lake, &table).await? else {
                continue;
            };
            let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
            let vacuumed = t
                .vacuum()
                .with_retention_period(retention)
                .with_enforce_retention_duration(false)
                .with_mode(if full { VacuumMode::Full } else { VacuumMode::Lite })
                .await;
            match vacuumed {
                Ok((_, metrics)) => {
                    deleted += metrics.files_deleted.len();
                    debug!(table, files = metrics.files_deleted.len(), "vacuumed");
                }
                Err(e) => warn!(table, error = %e, "vacuum failed; trying again next time"),
            }
        }
        if deleted > 0 {
            info!(
                files = deleted,
                "deleted files removed from their tables longer ago than the grace period"
            );
        }
        Ok(deleted)
    }
}
