//! Files that replace files: late windows re-written, and closed hours
//! compacted.
//!
//! Both read the active files of one *group* (one table's hour, one
//! partition's or the sealer's rows; see `commit::files`) from the table's
//! Delta snapshot, add what changed, and stage one new file whose commit
//! removes the old ones in the same Delta version. Readers see the old
//! files or the new one, never both; the old files are deleted by vacuum
//! after the grace period, so a query planned before still finds them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use chrono::NaiveDate;
use datafusion::datasource::MemTable;
use datafusion::execution::context::SessionContext;
use tracing::warn;

use super::files::{Rewrite, Staged, group, group_of};
use crate::manifest::RemovedFile;
use crate::window::{WINDOW_TABLE, split_by_hour};
use crate::{Error, Result};
use naap_sql::ActiveFile;

/// The active files of `table` (none before its first commit).
pub(crate) async fn active(lake: &naap_sql::Lake, table: &str) -> Result<Vec<ActiveFile>> {
    Ok(match naap_sql::delta::open(lake, table).await? {
        Some(t) => naap_sql::delta::active_files(&t, table)?,
        None => Vec::new(),
    })
}

fn removed(file: &ActiveFile, hour_ms: i64, data_change: bool) -> RemovedFile {
    RemovedFile {
        path: file.path.clone(),
        size: file.size,
        hour_ms,
        data_change,
    }
}

/// Every row of `files`, as `schema` when given.
async fn read_all(
    lake: &naap_sql::Lake,
    table: &str,
    files: &[ActiveFile],
    schema: Option<&SchemaRef>,
) -> Result<Vec<RecordBatch>> {
    let batches = naap_sql::delta::read_files(lake, table, files).await?;
    match schema {
        Some(s) => Ok(batches
            .iter()
            .map(|b| naap_events::lake_types::from_lake(b, s).map(|b| strict(b, s)))
            .collect::<std::result::Result<Result<Vec<_>>, _>>()??),
        None => Ok(batches),
    }
}

/// How many rows `batches` hold.
fn rows(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

/// `batch` with exactly `schema` (its nullability too).
fn strict(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    Ok(RecordBatch::try_new(Arc::clone(schema), batch.columns().to_vec())?)
}

/// Merges late window partials of one partition into the windows an
/// earlier commit wrote, and re-scores them: per hour, one file for the
/// window table and one for each rule's output, replacing the old ones.
pub(crate) async fn late_windows(
    ctx: &SessionContext,
    lake: &naap_sql::Lake,
    rules: &naap_sql::RuleSet,
    state_schema: &SchemaRef,
    (source, partition): (&str, i32),
    late: RecordBatch,
) -> Result<Rewrite> {
    let mut out = Rewrite::default();
    let windows_group = group(source, partition, None);
    let window_files = active(lake, WINDOW_TABLE).await?;
    let mut outputs: BTreeMap<String, Vec<ActiveFile>> = BTreeMap::new();
    for (hour, late) in split_by_hour(&late, "window_start")? {
        let old: Vec<ActiveFile> = window_files
            .iter()
            .filter(|f| f.in_hour(hour) && group_of(&f.path) == Some(windows_group.as_str()))
            .cloned()
            .collect();
        let mut all = read_all(lake, WINDOW_TABLE, &old, Some(state_schema)).await?;
        let replaces_rows = rows(&all);
        all.push(late);
        let merged = crate::window::merge_partials(ctx, state_schema, all).await?;
        let merged = concat_batches(state_schema, &merged)?;
        out.files.push(Staged {
            replaces_rows,
            ..Staged::new(WINDOW_TABLE, hour, windows_group.clone(), merged.clone())
        });
        out.removed
            .extend(old.iter().map(|f| (WINDOW_TABLE.to_owned(), removed(f, hour, true))));
        for (rule, scored) in score_windows(ctx, rules, state_schema, &merged).await? {
            let output = rule.header.output.clone();
            let scored_group = group(source, partition, Some(&rule.view_name()));
            if !outputs.contains_key(&output) {
                outputs.insert(output.clone(), active(lake, &output).await?);
            }
            let before: Vec<ActiveFile> = outputs[&output]
                .iter()
                .filter(|f| f.in_hour(hour) && group_of(&f.path) == Some(scored_group.as_str()))
                .cloned()
                .collect();
            // Late events are few: reading what they replace keeps the
            // rows-written count equal to the table's rows.
            let replaces_rows = rows(&read_all(lake, &output, &before, None).await?);
            out.removed
                .extend(before.iter().map(|f| (output.clone(), removed(f, hour, true))));
            out.files.push(Staged {
                replaces_rows,
                ..Staged::new(output, hour, scored_group, scored)
            });
        }
    }
    Ok(out)
}

/// Every rule over the window table, run over `windows`: (rule, its rows)
/// for each rule that produced a schema.
pub(crate) async fn score_windows(
    ctx: &SessionContext,
    rules: &naap_sql::RuleSet,
    state_schema: &SchemaRef,
    windows: &RecordBatch,
) -> Result<Vec<(naap_sql::Rule, RecordBatch)>> {
    let mut out = Vec::new();
    let what = |rule: &naap_sql::Rule| Error::sql(format!("rule {}", rule.file));
    let input =
        MemTable::try_new(Arc::clone(state_schema), vec![vec![windows.clone()]]).map_err(Error::sql("windows"))?;
    ctx.deregister_table(WINDOW_TABLE).map_err(Error::sql("windows"))?;
    ctx.register_table(WINDOW_TABLE, Arc::new(input))
        .map_err(Error::sql("windows"))?;
    for rule in rules.over(WINDOW_TABLE) {
        let df = naap_sql::rules::score(ctx, &rule, naap_sql::rules::Scope::All)
            .await
            .map_err(what(&rule))?;
        let scored = df.collect().await.map_err(what(&rule))?;
        let Some(schema) = scored.first().map(|b| b.schema()) else {
            continue;
        };
        let scored = concat_batches(&schema, &scored)?;
        out.push((rule, scored));
    }
    ctx.deregister_table(WINDOW_TABLE).map_err(Error::sql("windows"))?;
    Ok(out)
}

/// Start (ms) of the hour of a file's `date`/`hour` partition values.
pub(crate) fn file_hour(file: &ActiveFile) -> Option<i64> {
    let value = |k: &str| file.partition.get(k).cloned().flatten();
    let hour: u32 = value("hour")?.parse().ok()?;
    let date = NaiveDate::parse_from_str(&value("date")?, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(hour, 0, 0)?.and_utc().timestamp_millis())
}

/// Most groups one compaction pass rewrites (bounds the memory of a commit).
const MAX_GROUPS_PER_PASS: usize = 64;

/// Compacts every group of several active files in the hours that end
/// before `closed_before_ms`, among the groups `owns(group)` (a process
/// rewrites only the partitions it holds): one file each, rows as they
/// were, committed with `dataChange = false`.
pub(crate) async fn compact(
    lake: &naap_sql::Lake,
    closed_before_ms: i64,
    owns: impl Fn(&str) -> bool,
) -> Result<Rewrite> {
    let mut out = Rewrite::default();
    let mut passes = 0;
    for table in naap_sql::delta::table_names(lake).await? {
        let mut groups: BTreeMap<(i64, String), Vec<ActiveFile>> = BTreeMap::new();
        for file in active(lake, &table).await? {
            let (Some(hour), Some(g)) = (file_hour(&file), group_of(&file.path)) else {
                continue;
            };
            if hour + naap_sql::hourly::HOUR_MS <= closed_before_ms && owns(g) {
                let g = g.to_owned();
                groups.entry((hour, g)).or_default().push(file);
            }
        }
        for ((hour, g), files) in groups.into_iter().filter(|(_, f)| f.len() > 1) {
            if passes >= MAX_GROUPS_PER_PASS {
                return Ok(out);
            }
            passes += 1;
            let batches = read_all(lake, &table, &files, None).await?;
            let Some(schema) = batches.first().map(RecordBatch::schema) else {
                continue;
            };
            let rows = match concat_batches(&schema, &batches) {
                Ok(rows) => rows,
                Err(e) => {
                    warn!(table, group = g, error = %e, "files of one group differ in schema; not compacted");
                    continue;
                }
            };
            out.files.push(Staged {
                data_change: false,
                replaces_rows: rows.num_rows() as u64,
                ..Staged::new(table.clone(), hour, g, rows)
            });
            out.removed
                .extend(files.iter().map(|f| (table.clone(), removed(f, hour, false))));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_give_the_hour_back() {
        let file = ActiveFile {
            path: "x".into(),
            size: 1,
            partition: naap_sql::delta::partition_values(1_767_906_000_000),
        };
        assert_eq!(file_hour(&file), Some(1_767_906_000_000));
        assert!(file.in_hour(1_767_906_000_000));
    }
}
