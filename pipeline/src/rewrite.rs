//! Replacement files: late windows re-written, and closed hours compacted.
//!
//! Both read the visible files of one *group* (a table's hour folder, one
//! kind, partition, tag and source; see `naap_sql::files`), add what changed,
//! and write one replacement that names the commit writing it and the range
//! of file numbers it covers. Readers see either the old files or the
//! replacement, never both; the old files are deleted after a grace period.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use chrono::NaiveDate;
use datafusion::execution::context::SessionContext;
use object_store::path::Path;
use tracing::warn;

use crate::window::{WINDOW_TABLE, epoch_ms, split_by_hour};
use crate::{Error, Result};
use naap_sql::files::{FileName, Replaces, visible};

/// A file about to be written.
pub(crate) struct PendingFile {
    pub(crate) table: String,
    pub(crate) path: Path,
    pub(crate) batch: RecordBatch,
}

/// The visible files of one group in one folder.
#[derive(Debug, Default)]
pub(crate) struct Group {
    pub(crate) paths: Vec<Path>,
    /// Smallest and largest number the files stand for.
    pub(crate) span: Option<(i64, i64)>,
}

impl Group {
    fn widen(span: Option<(i64, i64)>, lo: i64, hi: i64) -> Option<(i64, i64)> {
        Some(span.map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))))
    }

    fn add(&mut self, path: Path, name: &FileName<'_>) {
        let (lo, hi) = name.span();
        self.span = Self::widen(self.span, lo, hi);
        self.paths.push(path);
    }
}

type GroupKey = (String, char, i32, Option<String>, String);

/// Lists `prefix` (recursively) and returns the visible files by folder and group.
async fn visible_groups(lake: &naap_sql::Lake, prefix: &Path) -> Result<BTreeMap<GroupKey, Group>> {
    let listed = crate::manifest::list_all(lake.store().as_ref(), prefix).await?;
    let paths: Vec<String> = listed.iter().map(|m| m.location.to_string()).collect();
    let mut groups: BTreeMap<GroupKey, Group> = BTreeMap::new();
    for (meta, keep) in listed.into_iter().zip(visible(&paths)) {
        if !keep {
            continue;
        }
        let folder = meta
            .location
            .as_ref()
            .rsplit_once('/')
            .map(|(folder, _)| folder.to_owned());
        let (Some(folder), Some(name)) = (folder, meta.location.filename().and_then(FileName::parse)) else {
            continue;
        };
        let key = (
            folder,
            name.kind,
            name.partition,
            name.tag.map(str::to_owned),
            name.source.to_owned(),
        );
        groups.entry(key).or_default().add(meta.location.clone(), &name);
    }
    Ok(groups)
}

/// The visible files of one group in `table`'s folder of `hour`.
async fn group(
    lake: &naap_sql::Lake,
    table: &str,
    hour: i64,
    kind: char,
    partition: i32,
    tag: Option<&str>,
    source: &str,
) -> Result<Group> {
    let dir = lake.hour_dir(table, hour);
    let mut groups = visible_groups(lake, &dir).await?;
    let key = (
        dir.to_string(),
        kind,
        partition,
        tag.map(str::to_owned),
        source.to_owned(),
    );
    Ok(groups.remove(&key).unwrap_or_default())
}

/// Every row of `paths`, in order, as `schema` (when given).
async fn read_all(lake: &naap_sql::Lake, paths: &[Path], schema: Option<&SchemaRef>) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for path in paths {
        for batch in crate::manifest::read_parquet(lake, path).await? {
            out.push(match schema {
                Some(s) => RecordBatch::try_new(Arc::clone(s), batch.columns().to_vec())?,
                None => batch,
            });
        }
    }
    Ok(out)
}

fn replacement(kind: char, (lo, hi): (i64, i64), partition: i32, tag: Option<&str>, source: &str, seq: u64) -> String {
    FileName {
        replaces: Some(Replaces { through: hi, seq }),
        ..FileName::new(kind, lo, partition, tag, source)
    }
    .to_string()
}

/// What a rewrite adds to a commit.
#[derive(Default)]
pub(crate) struct Rewrite {
    pub(crate) files: Vec<PendingFile>,
    pub(crate) replaced: Vec<Path>,
}

/// Merges late window partials of one partition into the windows an
/// earlier commit wrote, and re-scores them: one replacement per hour for the
/// window table and for each rule's output.
pub(crate) async fn late_windows(
    ctx: &SessionContext,
    lake: &naap_sql::Lake,
    state_schema: &SchemaRef,
    (source, partition): (&str, i32),
    late: RecordBatch,
    seq: u64,
) -> Result<Rewrite> {
    let mut out = Rewrite::default();
    for (hour, late) in split_by_hour(&late, "window_start")? {
        let starts = epoch_ms(late.column_by_name("window_start").ok_or_else(|| Error::Manifest {
            path: "late windows".into(),
            detail: "window_start missing".into(),
        })?)?;
        let (Some(first), Some(last)) = (arrow::compute::min(&starts), arrow::compute::max(&starts)) else {
            continue;
        };
        let windows = group(lake, WINDOW_TABLE, hour, 'w', partition, None, source).await?;
        let span = Group::widen(windows.span, first, last).unwrap_or((first, last));
        let mut all = read_all(lake, &windows.paths, Some(state_schema)).await?;
        all.push(late);
        let merged = crate::window::merge_partials(ctx, state_schema, all).await?;
        let merged = concat_batches(state_schema, &merged)?;
        out.files.push(PendingFile {
            table: WINDOW_TABLE.into(),
            path: lake.table_file(
                WINDOW_TABLE,
                hour,
                &replacement('w', span, partition, None, source, seq),
            ),
            batch: merged.clone(),
        });
        out.replaced.extend(windows.paths);
        for (rule, scored) in score_windows(ctx, state_schema, &merged).await? {
            let tag = rule.view_name();
            let output = &rule.header.output;
            let before = group(lake, output, hour, 'w', partition, Some(&tag), source).await?;
            let (lo, hi) = span;
            let span = Group::widen(before.span, lo, hi).unwrap_or(span);
            out.files.push(PendingFile {
                table: output.clone(),
                path: lake.table_file(
                    output,
                    hour,
                    &replacement('w', span, partition, Some(&tag), source, seq),
                ),
                batch: scored,
            });
            out.replaced.extend(before.paths);
        }
    }
    Ok(out)
}

/// Every rule over the window table, run over `windows`: (rule, its rows)
/// for each rule that produced a schema.
pub(crate) async fn score_windows(
    ctx: &SessionContext,
    state_schema: &SchemaRef,
    windows: &RecordBatch,
) -> Result<Vec<(naap_sql::Rule, RecordBatch)>> {
    let mut out = Vec::new();
    for rule in naap_sql::rules::rules_over(WINDOW_TABLE) {
        let scored = naap_sql::session::run_over(
            ctx,
            WINDOW_TABLE,
            Arc::clone(state_schema),
            vec![windows.clone()],
            rule.sql,
        )
        .await
        .map_err(Error::sql(format!("rule {}", rule.file)))?;
        let Some(schema) = scored.first().map(|b| b.schema()) else {
            continue;
        };
        let scored = concat_batches(&schema, &scored)?;
        out.push((rule, scored));
    }
    Ok(out)
}

/// Start (ms) of the hour a `…/date=YYYY-MM-DD/hour=HH` folder holds.
fn folder_hour(folder: &str) -> Option<i64> {
    let mut parts = folder.rsplit('/');
    let hour: u32 = parts.next()?.strip_prefix("hour=")?.parse().ok()?;
    let date = NaiveDate::parse_from_str(parts.next()?.strip_prefix("date=")?, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(hour, 0, 0)?.and_utc().timestamp_millis())
}

/// Most groups one compaction pass rewrites (bounds the memory of a commit).
const MAX_GROUPS_PER_PASS: usize = 64;

/// Compacts every group of several visible files in the hours that end
/// before `closed_before_ms`, among the groups `owns(partition, source)`
/// (a process rewrites only the partitions it holds): one replacement
/// each, rows as they were.
pub(crate) async fn compact(
    lake: &naap_sql::Lake,
    closed_before_ms: i64,
    seq: u64,
    owns: impl Fn(i32, &str) -> bool,
) -> Result<Rewrite> {
    let mut out = Rewrite::default();
    let groups = visible_groups(lake, &lake.tables_dir()).await?;
    let candidates = groups.into_iter().filter(|((folder, _, partition, _, source), g)| {
        g.paths.len() > 1
            && owns(*partition, source)
            && folder_hour(folder).is_some_and(|h| h + naap_sql::hourly::HOUR_MS <= closed_before_ms)
    });
    for ((folder, kind, partition, tag, source), g) in candidates.take(MAX_GROUPS_PER_PASS) {
        let Some(span) = g.span else { continue };
        let batches = read_all(lake, &g.paths, None).await?;
        let Some(schema) = batches.first().map(RecordBatch::schema) else {
            continue;
        };
        let rows = match concat_batches(&schema, &batches) {
            Ok(rows) => rows,
            Err(e) => {
                warn!(%folder, error = %e, "files of one group differ in schema; not compacted");
                continue;
            }
        };
        let table = folder.rsplit('/').nth(2).map(str::to_owned).unwrap_or_default();
        out.files.push(PendingFile {
            table,
            path: Path::from(format!(
                "{folder}/{}",
                replacement(kind, span, partition, tag.as_deref(), &source, seq)
            )),
            batch: rows,
        });
        out.replaced.extend(g.paths);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_folders_parse_to_their_start() {
        assert_eq!(
            folder_hour("root/lake/telemetry_1m/date=2026-01-08/hour=21"),
            Some(1_767_906_000_000)
        );
        assert_eq!(folder_hour("root/lake/telemetry_1m/date=x/hour=21"), None);
        assert_eq!(folder_hour("root/lake/telemetry_1m"), None);
    }
}
