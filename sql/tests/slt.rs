//! sqllogictest runner for `sql/`: every `*.slt` file below `sql/` runs in a
//! fresh DataFusion session. Those of `sql/serving/` start with naap's
//! functions only, create the lake tables they read, and call a serving
//! statement as `EXECUTE <name>(<params>)`. The others hold empty input tables (`node_telemetry`,
//! the gateway tables, `seal_window`; fixtures insert into them), every
//! aggregate as a view over them (`telemetry_1m`, `sessions`,
//! `orchestrator_hourly`, …), and every rule as a view `<rule>_v<version>`.
//!
//! `cargo test -p naap-sql --test slt -- --complete` rewrites the expected
//! results in place for review instead of checking them; other arguments
//! run only the files whose path contains one of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::Array;
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::datasource::MemTable;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use sqllogictest::{DBOutput, DefaultColumnType};

struct Db {
    ctx: SessionContext,
}

/// `EXECUTE <name>…` of a serving statement (`sql/serving/<name>.sql`):
/// the statement, prepared afresh over the tables the file made so far.
fn serving_call(sql: &str) -> Option<naap_sql::serving::Query> {
    let rest = sql.trim_start().strip_prefix("EXECUTE ")?;
    let name = rest.split(|c: char| c == '(' || c.is_whitespace()).next()?;
    naap_sql::serving::by_name(name)
}

async fn session() -> Result<SessionContext, DataFusionError> {
    let ctx = naap_sql::session::context();
    let schema = naap_events::Family::NodeTelemetryV1.schema();
    ctx.register_table("node_telemetry", Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
    let aggregate = naap_sql::rules::aggregate("telemetry_1m");
    let plan = ctx.state().create_logical_plan(aggregate.sql).await?;
    ctx.register_table(
        "telemetry_1m",
        Arc::new(datafusion::datasource::ViewTable::new(
            plan,
            Some(aggregate.sql.to_owned()),
        )),
    )?;
    for (name, schema) in naap_events::gateway_tables::schemas() {
        ctx.register_table(name, Arc::new(MemTable::try_new(schema, vec![vec![]])?))?;
    }
    ctx.register_table(
        naap_sql::hourly::SEAL_WINDOW,
        Arc::new(MemTable::try_new(naap_sql::hourly::seal_window_schema(), vec![vec![]])?),
    )?;
    naap_sql::hourly::register_views(&ctx).await?;
    naap_sql::session::register_rule_views(&ctx, &naap_sql::rules()).await?;
    Ok(ctx)
}

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for Db {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        if let Some(query) = serving_call(sql) {
            // Not prepared yet is fine: the statement is prepared below.
            let _ = self.ctx.sql(&format!("DEALLOCATE {}", query.name)).await;
            self.ctx
                .sql(&naap_sql::serving::prepare_statement(&query))
                .await?
                .collect()
                .await?;
        }
        let df = self.ctx.sql(sql).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::UInt8
                | DataType::UInt16
                | DataType::UInt32
                | DataType::UInt64 => DefaultColumnType::Integer,
                DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => DefaultColumnType::FloatingPoint,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DefaultColumnType::Text,
                _ => DefaultColumnType::Any,
            })
            .collect();
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()?;
            for row in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .zip(batch.columns())
                        .map(|(f, c)| {
                            if c.is_null(row) {
                                return "NULL".to_owned();
                            }
                            let text = f.value(row).to_string();
                            // An empty string, visible (sqllogictest's convention).
                            if text.is_empty() {
                                return "(empty)".to_owned();
                            }
                            // Whole floats read as integers: 100, not 100.0.
                            match c.data_type() {
                                DataType::Float32 | DataType::Float64 => {
                                    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
                                }
                                _ => text,
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "datafusion"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            slt_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "slt") {
            out.push(path);
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let complete = std::env::args().any(|a| a == "--complete");
    // Other arguments pick files by part of their path: `-- ai_requests --complete`.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    slt_files(root, &mut files);
    files.retain(|f| only.is_empty() || only.iter().any(|o| f.to_string_lossy().contains(o.as_str())));
    files.sort();
    let mut failed = 0;
    for file in &files {
        // Serving statements read lake tables their .slt files create; the
        // rest read the pipeline's inputs and views.
        let serving = file.strip_prefix(root.join("serving")).is_ok();
        let mut runner = sqllogictest::Runner::new(move || async move {
            let ctx = if serving {
                naap_sql::session::context()
            } else {
                session().await?
            };
            Ok(Db { ctx })
        });
        let name = file.strip_prefix(root).unwrap_or(file).display().to_string();
        let result = if complete {
            runner
                .update_test_file(
                    file,
                    " ",
                    sqllogictest::default_validator,
                    sqllogictest::default_normalizer,
                    sqllogictest::default_column_validator,
                )
                .await
                .map_err(|e| e.to_string())
        } else {
            runner
                .run_file_async(file)
                .await
                .map_err(|e| e.display(true).to_string())
        };
        match result {
            Ok(()) => println!("slt {name} ... ok"),
            Err(e) => {
                failed += 1;
                println!("slt {name} ... FAILED\n{e}");
            }
        }
    }
    assert!(!files.is_empty(), "no .slt files found below {}", root.display());
    println!("{} passed, {failed} failed", files.len() - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}
