//! The lake as DataFusion tables, rebuilt per request so that it is stateless.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::config::TableParquetOptions;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::DataFrame;
use datafusion::scalar::ScalarValue;

use crate::auth::Role;
use crate::{Error, QueryLimits, Result};

/// The catalog and schema (`naap.lake.<table>`) every table is served under.
pub(crate) const CATALOG: &str = "naap";
pub(crate) const SCHEMA: &str = "lake";

/// Lake table of refused messages, served to admin sessions only.
const QUARANTINE_TABLE: &str = "quarantine";

/// Rows in one batch of a client query: what a join may copy one row into.
const CLIENT_BATCH_ROWS: usize = 1024;

/// The least one function call may build, however many calls share the allowance.
const MIN_VALUE_BYTES: usize = 64 * 1024;

/// Lake table name of all score windows; served as `scores_history`.
const SCORES_TABLE: &str = "scores";

/// Discovers lake tables and answers read-only SQL over them.
#[derive(Debug)]
pub struct Catalog {
    lake: naap_sql::Lake,
    /// Table schemas are fixed by the code that writes them, so inferring
    /// once per table avoids reading footers on every query.
    schemas: Mutex<HashMap<String, SchemaRef>>,
    limits: QueryLimits,
}

impl Catalog {
    pub fn new(lake: naap_sql::Lake, limits: QueryLimits) -> Self {
        Self {
            lake,
            schemas: Mutex::new(HashMap::new()),
            limits,
        }
    }

    pub fn limits(&self) -> QueryLimits {
        self.limits
    }

    pub fn lake(&self) -> &naap_sql::Lake {
        &self.lake
    }

    /// Names of the tables in the lake now.
    pub async fn table_names(&self) -> Result<Vec<String>> {
        let listed = self
            .lake
            .store()
            .list_with_delimiter(Some(&self.lake.tables_dir()))
            .await;
        let listed = match listed {
            Ok(l) => l,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(source) => return Err(Error::Store { source }),
        };
        let mut names: Vec<String> = listed
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    /// A fresh read session over the lake as it is now.
    pub async fn session(&self) -> Result<SessionContext> {
        self.session_as(Role::Read).await
    }

    /// A fresh session for `role`: raw quarantined messages are only in
    /// admin sessions (they hold whatever a producer sent).
    pub async fn session_as(&self, role: Role) -> Result<SessionContext> {
        // Each query gets its own capped pool and may not spill to disk: a
        // query that outgrows the pool fails instead of growing the server.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(self.limits.memory_bytes, 1.0)
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(DiskManagerMode::Disabled))
            .build_arc()
            .map_err(Error::query)?;
        let config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_target_partitions(self.limits.threads.max(1))
            .with_batch_size(CLIENT_BATCH_ROWS);
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(crate::operators::Guarded {
                max_row_bytes: self.limits.max_value_bytes() / CLIENT_BATCH_ROWS,
            }))
            .build();
        let ctx = naap_sql::session::context_from_state(state);
        ctx.register_object_store(self.lake.store_url(), self.lake.reader_store());
        for table in self.table_names().await? {
            if table == QUARANTINE_TABLE && role != Role::Admin {
                continue;
            }
            let name = if table == SCORES_TABLE {
                "scores_history".to_owned()
            } else {
                table.clone()
            };
            let Some(provider) = self.listing_table(&ctx, &table).await? else {
                continue;
            };
            ctx.register_table(name.as_str(), provider)
                .map_err(|source| Error::Catalog {
                    table: table.clone(),
                    source,
                })?;
        }
        naap_sql::session::register_rollups(&ctx)
            .await
            .map_err(|source| Error::Catalog {
                table: "telemetry rollups".into(),
                source,
            })?;
        if ctx.table_exist("scores_history").unwrap_or(false) {
            let views = naap_sql::rules::views();
            if let Some(view) = views.get("scores_latest") {
                let plan = ctx
                    .state()
                    .create_logical_plan(view.sql)
                    .await
                    .map_err(|source| Error::Catalog {
                        table: "scores".into(),
                        source,
                    })?;
                let view = datafusion::datasource::ViewTable::new(plan, Some(view.sql.to_owned()));
                ctx.register_table("scores", Arc::new(view))
                    .map_err(|source| Error::Catalog {
                        table: "scores".into(),
                        source,
                    })?;
            }
        }
        Ok(ctx)
    }

    async fn listing_table(&self, ctx: &SessionContext, table: &str) -> Result<Option<Arc<ListingTable>>> {
        let url = ListingTableUrl::parse(self.lake.table_url(table)).map_err(|source| Error::Catalog {
            table: table.to_owned(),
            source,
        })?;
        // The lake's Binary sketches must stay Binary: the sketch functions
        // take Binary, and view types buy nothing for these small tables.
        let mut parquet = TableParquetOptions::default();
        parquet.global.schema_force_view_types = false;
        let options = ListingOptions::new(Arc::new(ParquetFormat::default().with_options(parquet)))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![("date".into(), DataType::Utf8), ("hour".into(), DataType::Utf8)]);
        let cached = self
            .schemas
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(table)
            .cloned();
        let schema = match cached {
            Some(s) => s,
            None => {
                let inferred = options.infer_schema(&ctx.state(), &url).await;
                match inferred {
                    Ok(s) if !s.fields().is_empty() => {
                        self.schemas
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(table.to_owned(), Arc::clone(&s));
                        s
                    }
                    // A table folder without files yet.
                    Ok(_) => return Ok(None),
                    Err(source) => {
                        return Err(Error::Catalog {
                            table: table.to_owned(),
                            source,
                        });
                    }
                }
            }
        };
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(schema);
        let table_provider = ListingTable::try_new(config).map_err(|source| Error::Catalog {
            table: table.to_owned(),
            source,
        })?;
        Ok(Some(Arc::new(table_provider)))
    }

    /// Plans `sql` read-only (refusing DDL, DML and statements, and SQL
    /// longer or deeper than the limits: see the `guard` module), within the
    /// query time limit.
    pub async fn plan(&self, sql: &str) -> Result<DataFrame> {
        self.plan_as(Role::Read, sql, None).await
    }

    /// Like [`Catalog::plan`], with values for the placeholders `$1`, `$2`, ….
    pub async fn plan_with(&self, sql: &str, params: Option<Vec<ScalarValue>>) -> Result<DataFrame> {
        self.plan_as(Role::Read, sql, params).await
    }

    /// Like [`Catalog::plan_with`], in a session for `role`.
    pub async fn plan_as(&self, role: Role, sql: &str, params: Option<Vec<ScalarValue>>) -> Result<DataFrame> {
        let limit = self.limits.timeout;
        let planned = tokio::time::timeout(limit, async {
            let ctx = self.session_as(role).await?;
            let state = ctx.state();
            let checked = crate::guard::statement(&state, sql, &self.limits)?;
            // Every place that builds values shares the allowance.
            let allowance = self.limits.max_value_bytes() / checked.builders.max(1);
            crate::bounded::bound_scalar_functions(&ctx, allowance.max(MIN_VALUE_BYTES));
            let state = ctx.state();
            let plan = state.statement_to_plan(checked.statement).await.map_err(Error::query)?;
            naap_sql::session::read_only()
                .verify_plan(&plan)
                .map_err(Error::query)?;
            let df = ctx.execute_logical_plan(plan).await.map_err(Error::query)?;
            match params {
                Some(values) => df.with_param_values(values).map_err(Error::query),
                None => Ok(df),
            }
        })
        .await;
        planned.map_err(|_| Error::TimedOut { limit })?
    }

    /// Every table and view served now: name, `TABLE` or `VIEW`, schema.
    pub async fn tables(&self, role: Role) -> Result<Vec<(String, &'static str, SchemaRef)>> {
        let ctx = self.session_as(role).await?;
        let mut out = Vec::new();
        let Some(schema) = ctx.catalog(CATALOG).and_then(|c| c.schema(SCHEMA)) else {
            return Ok(out);
        };
        let mut names = schema.table_names();
        names.sort();
        for name in names {
            let provider = schema.table(&name).await.map_err(|source| Error::Catalog {
                table: name.clone(),
                source,
            })?;
            if let Some(p) = provider {
                let kind = match p.table_type() {
                    datafusion::logical_expr::TableType::View => "VIEW",
                    _ => "TABLE",
                };
                out.push((name, kind, p.schema()));
            }
        }
        Ok(out)
    }

    /// Runs `sql` read-only and collects the result, within the time limit.
    pub async fn query(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.collect_with(sql, None).await
    }

    /// Like [`Catalog::query`], with values for the placeholders `$1`, `$2`, ….
    pub async fn collect_with(&self, sql: &str, params: Option<Vec<ScalarValue>>) -> Result<Vec<RecordBatch>> {
        self.collect_as(Role::Read, sql, params).await
    }

    /// Like [`Catalog::collect_with`], in a session for `role`.
    pub async fn collect_as(
        &self,
        role: Role,
        sql: &str,
        params: Option<Vec<ScalarValue>>,
    ) -> Result<Vec<RecordBatch>> {
        let limit = self.limits.timeout;
        let run = async {
            self.plan_as(role, sql, params)
                .await?
                .collect()
                .await
                .map_err(Error::query)
        };
        tokio::time::timeout(limit, run)
            .await
            .map_err(|_| Error::TimedOut { limit })?
    }
}
