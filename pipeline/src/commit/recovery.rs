//! Starting a run from the newest commit record: the tables finished up
//! to it, the partitions' open windows and event ids loaded from its state
//! files, reading resumed at its offsets.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::execution::context::{SessionConfig, SessionContext};
use tokio::sync::watch;
use tracing::{info, warn};

use super::{Run, garbage, input, ownership, seal, state_files, tables};
use crate::manifest::{Manifest, Totals};
use crate::source::PartitionKey;
use crate::window::{PartitionWindows, RAW_TABLE};
use crate::{Error, PipelineConfig, Result};

impl Run {
    pub(super) async fn recover(
        config: PipelineConfig,
        sources: &[String],
        scale_out: bool,
        leader_key: Option<PartitionKey>,
    ) -> Result<Run> {
        naap_sql::delta::refuse_old_layout(&config.lake).await?;
        let ctx = naap_sql::session::context_with(SessionConfig::new().with_target_partitions(1));
        let raw_schema = crate::verify::with_signer_schema(&naap_events::Family::NodeTelemetryV1.schema());
        let state_schema = state_schema_of(&ctx, Arc::clone(&raw_schema)).await?;
        let base = Manifest::load_latest(&config.lake).await?.unwrap_or_default();
        let mut run = Run {
            tables: tables::Tables::new(config.lake.clone()),
            config,
            ctx,
            raw_schema,
            state_schema,
            totals: Totals::default(),
            owner: ownership::Ownership::new(scale_out, leader_key),
            input: input::Input::default(),
            sealing: seal::Sealing::default(),
            garbage: garbage::Garbage::new(),
            last_compaction: Instant::now(),
            last_compacted: 0,
            injected: Default::default(),
            base: Manifest::default(),
        };
        run.input.chains = crate::chains::ChainLog::new(base.chains.clone());
        run.adopt(base);
        for (table, then, now) in seal::outdated(&run.base) {
            warn!(
                table,
                sealed_with = then,
                this_release = now,
                "the table's sealed hours were computed by an older version of its aggregate; new hours use this \
                 release's. Rebuild the old ones from the raw tables with: naap reseal --lake {} --tables {table}",
                run.config.lake
            );
        }
        let base = run.base.clone();
        run.tables.roll_forward(&base).await?;
        if !scale_out {
            // This process reads every partition: it takes over each one the
            // records know, whoever held it before.
            let keys: Vec<PartitionKey> = run
                .base
                .sources
                .iter()
                .flat_map(|(s, ps)| ps.keys().map(move |p| (s.clone(), *p)))
                .collect();
            let (_never, mut stop) = watch::channel(false);
            run.claim(&keys, &mut stop).await?;
        }
        info!(
            lake = %run.config.lake,
            seq = run.base.seq,
            sources = ?sources,
            partitions = run.input.parts.len(),
            writer = %run.owner.me,
            "recovered from the newest commit record"
        );
        Ok(run)
    }

    /// Loads the open windows and remembered ids of `keys` from the files
    /// the base record names for them.
    pub(super) async fn load_state(&mut self, keys: &[PartitionKey]) -> Result<()> {
        let lake = self.config.lake.clone();
        let wanted: BTreeSet<PartitionKey> = keys.iter().cloned().collect();
        let (mut state_files, mut id_files) = (BTreeSet::new(), BTreeSet::new());
        for key @ (source, p) in keys {
            let entry = self
                .base
                .sources
                .get(source)
                .and_then(|ps| ps.get(p))
                .cloned()
                .unwrap_or_default();
            state_files.extend(entry.state_file.clone());
            id_files.extend(entry.dedup_file.clone());
            self.input
                .parts
                .insert(key.clone(), PartitionWindows::new(entry, Vec::new()));
        }
        state_files::load_windows(&lake, &state_files, &wanted, &self.state_schema, &mut self.input.parts).await?;
        state_files::load_ids(&lake, &id_files, &wanted, &mut self.input.dedup).await?;
        self.garbage.track(state_files);
        self.garbage.track(id_files);
        Ok(())
    }
}

/// The schema of open and closed windows: the output of the per-minute aggregate.
async fn state_schema_of(ctx: &SessionContext, raw_schema: SchemaRef) -> Result<SchemaRef> {
    let aggregate = naap_sql::rules::aggregate("telemetry_1m");
    let empty = RecordBatch::new_empty(Arc::clone(&raw_schema));
    let table =
        datafusion::datasource::MemTable::try_new(raw_schema, vec![vec![empty]]).map_err(Error::sql("state schema"))?;
    ctx.register_table(RAW_TABLE, Arc::new(table))
        .map_err(Error::sql("state schema"))?;
    let df = ctx.sql(aggregate.sql).await.map_err(Error::sql("state schema"))?;
    ctx.deregister_table(RAW_TABLE).map_err(Error::sql("state schema"))?;
    Ok(Arc::new(df.schema().as_arrow().clone()))
}
