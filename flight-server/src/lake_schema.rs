//! The `naap.lake` schema of a query session: the lake's Delta tables,
//! each resolved once per session at one version, and older versions by
//! name.
//!
//! A table is opened only when a statement names it, at its newest version
//! (the server keeps each table's log state and reads only the entries
//! since). `<table>@v<N>` names version `N` of a table (quote it:
//! `SELECT * FROM "scores_history@v42"`), for data teams who need what a
//! score or aggregate was at an earlier commit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use deltalake_core::DeltaTable;
use deltalake_core::delta_datafusion::{DeltaScanConfig, DeltaScanNext};

/// Lake table name of all score windows; served as `scores_history`.
pub(crate) const SCORES_TABLE: &str = naap_events::tables::SCORES.name;

/// The name a lake table is served under.
pub(crate) fn served_name(table: &str) -> String {
    if table == SCORES_TABLE {
        "scores_history".to_owned()
    } else {
        table.to_owned()
    }
}

/// The Delta tables of one lake, as last loaded: shared by every session,
/// so a session reads only the log entries committed since.
#[derive(Debug, Default)]
pub(crate) struct OpenTables {
    open: Mutex<HashMap<String, DeltaTable>>,
}

impl OpenTables {
    /// The newest version of `table`, if it exists.
    pub(crate) async fn newest_version(
        &self,
        lake: &naap_sql::Lake,
        table: &str,
    ) -> Result<Option<i64>, naap_sql::TableError> {
        Ok(self
            .newest(lake, table)
            .await?
            .as_ref()
            .map(naap_sql::delta::version_of))
    }

    /// When the newest version of `table` was committed, Unix ms.
    pub(crate) async fn newest_commit_ms(
        &self,
        lake: &naap_sql::Lake,
        table: &str,
    ) -> Result<Option<i64>, naap_sql::TableError> {
        let Some(t) = self.newest(lake, table).await? else {
            return Ok(None);
        };
        let Ok(snapshot) = t.snapshot() else { return Ok(None) };
        Ok(snapshot.version_timestamp(snapshot.version()))
    }

    /// `table` at its newest version now.
    async fn newest(&self, lake: &naap_sql::Lake, table: &str) -> Result<Option<DeltaTable>, naap_sql::TableError> {
        let cached = self.open.lock().unwrap_or_else(|e| e.into_inner()).get(table).cloned();
        let current = match cached {
            Some(mut t) => {
                naap_sql::delta::refresh(&mut t, table).await?;
                t
            }
            None => match naap_sql::delta::open(lake, table).await? {
                Some(t) => t,
                None => return Ok(None),
            },
        };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        // Keep whichever is newer if another session refreshed meanwhile.
        let newer = open
            .get(table)
            .is_none_or(|t| naap_sql::delta::version_of(t) <= naap_sql::delta::version_of(&current));
        if newer {
            open.insert(table.to_owned(), current.clone());
        }
        Ok(Some(current))
    }
}

/// Schemas of the gateway and hourly tables, by name: a statement naming
/// one that no commit has written yet reads it as empty (a fresh lake, or
/// one whose gateways send no BYOC events) instead of failing. Listings
/// show only the tables that exist.
pub(crate) type Unwritten = HashMap<String, arrow::datatypes::SchemaRef>;

/// The lake schema of one session.
#[derive(Debug)]
pub(crate) struct LakeSchema {
    lake: naap_sql::Lake,
    tables: Arc<OpenTables>,
    /// Served name → lake table name, of the tables this session may read.
    names: HashMap<String, String>,
    unwritten: Arc<Unwritten>,
    /// Views, and tables once resolved (one version per session).
    resolved: MemorySchemaProvider,
    /// A state with the session's settings, for how its scans read Parquet.
    session: Arc<SessionState>,
}

impl LakeSchema {
    pub(crate) fn new(
        lake: naap_sql::Lake,
        tables: Arc<OpenTables>,
        lake_tables: &[String],
        unwritten: Arc<Unwritten>,
        session: Arc<SessionState>,
    ) -> Self {
        Self {
            lake,
            tables,
            names: lake_tables.iter().map(|t| (served_name(t), t.clone())).collect(),
            unwritten,
            resolved: MemorySchemaProvider::new(),
            session,
        }
    }

    /// `(lake table, version)` of a `<served name>@v<N>` name.
    fn versioned(&self, name: &str) -> Option<(&str, i64)> {
        let (served, version) = name.rsplit_once("@v")?;
        let version = version.parse::<i64>().ok().filter(|v| *v >= 0)?;
        Some((self.names.get(served)?.as_str(), version))
    }

    async fn provider(&self, t: &DeltaTable, name: &str) -> Result<Arc<dyn TableProvider>> {
        let snapshot = t.snapshot().map_err(|e| DataFusionError::External(Box::new(e)))?;
        // Partition values as plain strings, not dictionaries: a Flight
        // stream sends them hydrated, and its schema must match the plan's.
        let config = DeltaScanConfig::new_from_session(self.session.as_ref()).with_wrap_partition_values(false);
        let provider: Arc<dyn TableProvider> =
            Arc::new(DeltaScanNext::new(Arc::new(snapshot.snapshot().clone()), config)?);
        self.resolved.register_table(name.to_owned(), Arc::clone(&provider))?;
        Ok(provider)
    }
}

#[async_trait]
impl SchemaProvider for LakeSchema {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.names.keys().cloned().collect();
        names.extend(self.resolved.table_names().into_iter().filter(|n| !n.contains('@')));
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(known) = self.resolved.table(name).await? {
            return Ok(Some(known));
        }
        if let Some((table, version)) = self.versioned(name) {
            // Checked against the newest version first: asked for a version
            // past it, Delta's log reader searches backwards for a
            // checkpoint, chunk by chunk, on a thread a deadline cannot stop.
            let newest = self.tables.newest_version(&self.lake, table).await.map_err(external)?;
            if newest.is_none_or(|newest| version > newest) {
                let have = newest.map_or("it has no versions yet".to_owned(), |n| {
                    format!("it has versions 0 to {n}")
                });
                return Err(DataFusionError::Plan(format!(
                    "{name}: no such version of {table}: {have}"
                )));
            }
            let t = naap_sql::delta::open_at(&self.lake, table, version)
                .await
                .map_err(|e| DataFusionError::Plan(format!("{name}: no such version of {table}: {e}")))?;
            return self.provider(&t, name).await.map(Some);
        }
        let Some(table) = self.names.get(name) else {
            return Ok(self.unwritten(name));
        };
        match self.tables.newest(&self.lake, table).await.map_err(external)? {
            Some(t) => self.provider(&t, name).await.map(Some),
            None => Ok(self.unwritten(name)),
        }
    }

    fn register_table(&self, name: String, table: Arc<dyn TableProvider>) -> Result<Option<Arc<dyn TableProvider>>> {
        self.resolved.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.resolved.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.names.contains_key(name)
            || self.resolved.table_exist(name)
            || self.versioned(name).is_some()
            || self.unwritten.contains_key(name)
    }
}

impl LakeSchema {
    /// `name` as an empty table, if it is a gateway or hourly table.
    fn unwritten(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        let schema = self.unwritten.get(name)?;
        let empty = datafusion::datasource::MemTable::try_new(Arc::clone(schema), vec![vec![]]).ok()?;
        Some(Arc::new(empty))
    }
}

fn external(e: naap_sql::TableError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
