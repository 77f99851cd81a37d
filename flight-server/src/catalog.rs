//! The lake as DataFusion tables: a fresh session per request, each Delta
//! table read at one version (see `lake_schema`).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{SessionConfig, SessionContext};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::DataFrame;
use datafusion::scalar::ScalarValue;

use crate::auth::Role;
use crate::lake_schema::{LakeSchema, OpenTables};
use crate::{Error, QueryLimits, Result};

/// The catalog and schema (`naap.lake.<table>`) every table is served under.
pub(crate) const CATALOG: &str = "naap";
pub(crate) const SCHEMA: &str = "lake";

/// Lake table of refused messages, served to admin sessions only.
const QUARANTINE_TABLE: &str = naap_events::tables::QUARANTINE.name;

/// Rows in one batch of a client query: what a join may copy one row into.
const CLIENT_BATCH_ROWS: usize = 1024;

/// The least one function call may build, however many calls share the allowance.
const MIN_VALUE_BYTES: usize = 64 * 1024;

/// Discovers lake tables and answers read-only SQL over them.
#[derive(Debug)]
pub struct Catalog {
    lake: naap_sql::Lake,
    /// Every table's Delta log as last read.
    tables: Arc<OpenTables>,
    limits: QueryLimits,
    /// The rule versions this server knows, and the one of each it serves.
    rules: naap_sql::RuleSet,
    served: naap_sql::Served,
    /// Gateway and hourly tables as they will be, for reading those no
    /// commit has written yet as empty (see [`LakeSchema`]).
    unwritten: tokio::sync::OnceCell<Arc<crate::lake_schema::Unwritten>>,
}

impl Catalog {
    /// A catalog serving the newest version of each built-in rule.
    pub fn new(lake: naap_sql::Lake, limits: QueryLimits) -> Self {
        let rules = naap_sql::RuleSet::embedded();
        Self {
            lake,
            tables: Arc::default(),
            limits,
            served: rules.newest(),
            rules,
            unwritten: tokio::sync::OnceCell::new(),
        }
    }

    /// Serves `served` of `rules` instead.
    pub fn with_rules(self, rules: naap_sql::RuleSet, served: naap_sql::Served) -> Self {
        Self { rules, served, ..self }
    }

    pub fn rules(&self) -> &naap_sql::RuleSet {
        &self.rules
    }

    /// The version of each rule served unless a request chooses another.
    pub fn served(&self) -> &naap_sql::Served {
        &self.served
    }

    /// What a request serves: [`Catalog::served`], with the version of one
    /// rule replaced when the request names both (`rule`, `version`).
    pub fn served_for(&self, rule: Option<&str>, version: Option<&str>) -> Result<naap_sql::Served> {
        let mut served = self.served.clone();
        match (rule.filter(|r| !r.is_empty()), version.filter(|v| !v.is_empty())) {
            (None, None) => {}
            (Some(rule), Some(version)) => {
                served
                    .choose(&self.rules, &format!("{rule}={version}"))
                    .map_err(|e| Error::Refused {
                        detail: match e {
                            naap_sql::rules::RuleError::Choice { reason, .. } => {
                                format!("rule={rule}&version={version}: {reason}")
                            }
                            other => other.to_string(),
                        },
                    })?
            }
            _ => {
                return Err(Error::Refused {
                    detail: "rule and version must be given together".into(),
                });
            }
        }
        Ok(served)
    }

    /// Runs a serving statement (`sql/serving/`) with its parameters.
    pub async fn serve(&self, query: naap_sql::serving::Query, params: Vec<ScalarValue>) -> Result<Vec<RecordBatch>> {
        let params = (!params.is_empty()).then_some(params);
        self.collect_as(Role::Admin, query.sql(), params).await
    }

    /// The tables served empty until the pipeline first writes them (the
    /// gateway tables and hourly aggregates), with their schemas.
    async fn unwritten(&self) -> Result<&Arc<crate::lake_schema::Unwritten>> {
        self.unwritten
            .get_or_try_init(|| async {
                naap_sql::hourly::schemas()
                    .await
                    .map(|all| Arc::new(all.into_iter().map(|(n, s)| (n.to_owned(), s)).collect()))
                    .map_err(|source| Error::Catalog {
                        table: "hourly aggregates".into(),
                        source,
                    })
            })
            .await
    }

    /// [`Catalog::serve`], or no rows when a table the statement's
    /// `inputs` header names is neither in the lake nor served empty before
    /// its first write (a lake of telemetry only has no SLA scores).
    pub async fn serve_present(
        &self,
        query: naap_sql::serving::Query,
        params: Vec<ScalarValue>,
    ) -> Result<Vec<RecordBatch>> {
        let inputs = query.header("inputs").unwrap_or_default();
        let names = self.table_names().await?;
        let unwritten = self.unwritten().await?;
        let present = inputs
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .all(|t| unwritten.contains_key(t) || names.iter().any(|n| crate::lake_schema::served_name(n) == t));
        if !present {
            return Ok(Vec::new());
        }
        self.serve(query, params).await
    }

    pub fn limits(&self) -> QueryLimits {
        self.limits
    }

    pub fn lake(&self) -> &naap_sql::Lake {
        &self.lake
    }

    /// Names of the tables in the lake now (as the lake names them).
    pub async fn table_names(&self) -> Result<Vec<String>> {
        Ok(naap_sql::delta::table_names(&self.lake).await?)
    }

    /// When the newest of the versions of `tables` was committed, Unix ms.
    pub async fn newest_commit_ms(&self, tables: &[&str]) -> Result<Option<i64>> {
        let mut newest = None;
        for table in tables {
            let at = self.tables.newest_commit_ms(&self.lake, table).await?;
            newest = newest.max(at);
        }
        Ok(newest)
    }

    /// The newest version of each of `tables` (those that exist), as
    /// `table@vN` joined by `;` (an ETag may not hold a `,`); `none` when
    /// none exists.
    pub async fn versions(&self, tables: &[&str]) -> Result<String> {
        let mut out = Vec::new();
        for table in tables {
            if let Some(version) = self.tables.newest_version(&self.lake, table).await? {
                out.push(format!("{table}@v{version}"));
            }
        }
        Ok(if out.is_empty() {
            "none".to_owned()
        } else {
            out.join(";")
        })
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
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG, SCHEMA)
            .with_target_partitions(self.limits.threads.max(1))
            .with_batch_size(CLIENT_BATCH_ROWS);
        // The lake's Binary sketches must stay Binary: the sketch functions
        // take Binary, and view types buy nothing for these small tables.
        config.options_mut().execution.parquet.schema_force_view_types = false;
        let scan_config = config.clone();
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(crate::operators::Guarded {
                max_row_bytes: self.limits.max_value_bytes() / CLIENT_BATCH_ROWS,
            }))
            .build();
        let ctx = naap_sql::session::context_from_state(state);
        ctx.register_object_store(self.lake.store_url(), Arc::clone(self.lake.store()));
        let readable: Vec<String> = self
            .table_names()
            .await?
            .into_iter()
            .filter(|t| t != QUARANTINE_TABLE || role == Role::Admin)
            .collect();
        let unwritten = self.unwritten().await?;
        let schema = LakeSchema::new(
            self.lake.clone(),
            Arc::clone(&self.tables),
            &readable,
            Arc::clone(unwritten),
            // Only the settings: the session itself would hold its own
            // catalog, and so this schema, in a cycle.
            Arc::new(SessionStateBuilder::new().with_config(scan_config).build()),
        );
        ctx.catalog(CATALOG)
            .ok_or_else(|| Error::Refused {
                detail: "the session has no naap catalog".into(),
            })?
            .register_schema(SCHEMA, Arc::new(schema))
            .map_err(|source| Error::Catalog {
                table: SCHEMA.into(),
                source,
            })?;
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
            let mut checked = crate::guard::statement(&state, sql, &self.limits)?;
            crate::guard::expand_versioned_views(&mut checked.statement)?;
            // Every place that builds values shares the allowance.
            let allowance = self.limits.max_value_bytes() / checked.builders.max(1);
            crate::bounded::bound_scalar_functions(&ctx, allowance.max(MIN_VALUE_BYTES));
            let state = ctx.state();
            let plan = state.statement_to_plan(checked.statement).await.map_err(Error::query)?;
            naap_sql::session::read_only()
                .verify_plan(&plan)
                .map_err(Error::query)?;
            let df = ctx.execute_logical_plan(plan).await.map_err(Error::query)?;
            crate::guard::answer(df.schema().as_arrow(), &self.limits)?;
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
