//! Schema evolution: a release that writes a column a table does not have
//! yet adds it to the Delta schema, as a nullable column, in the same
//! version as the first file holding it. Files written before hold no such
//! column and read as null in it (Delta's rule, which delta-rs, DuckDB,
//! Polars and Spark follow). A column whose type changed is refused with
//! its name and both types: that is a new table, not an evolution.

use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::{Metadata, MetadataExt, StructField, StructType};
use deltalake_core::protocol::SaveMode;
use deltalake_core::{DeltaTable, TableProperty};
use object_store::path::Path;
use tracing::info;

use super::{CHECKPOINT_EVERY, LOG_RETENTION, Tables, delta_error, is_conflict};
use crate::manifest::TableChange;
use crate::{Error, Result};

impl Tables {
    /// The Delta metadata to commit with `change` when its files hold
    /// columns `table` lacks (checked once per table and process).
    pub(super) async fn evolution(&self, table: &str, change: &TableChange) -> Result<Option<Metadata>> {
        let Some(first) = change.adds.first() else {
            return Ok(None);
        };
        if self.schema_checked.contains(table) {
            return Ok(None);
        }
        let object = Path::from(format!("{}/{}", self.lake.table_dir(table), first.path));
        let schema = crate::manifest::parquet_schema(&self.lake, &object).await?;
        let schema = naap_events::lake_types::lake_schema(&schema);
        let Some(t) = self.open.get(table) else {
            return Ok(None);
        };
        let snapshot = t.snapshot().map_err(delta_error(table))?;
        let Some(new) = evolved(table, &snapshot.schema(), &schema)? else {
            return Ok(None);
        };
        let added: Vec<&str> = new
            .fields()
            .filter(|f| snapshot.schema().field(f.name()).is_none())
            .map(|f| f.name().as_str())
            .collect();
        info!(table, columns = ?added, "the table gains columns this release writes (older files read them as null)");
        Ok(Some(snapshot.metadata().clone().with_schema(&new).map_err(|e| {
            Error::Manifest {
                path: table.to_owned(),
                detail: format!("cannot evolve the schema: {e}"),
            }
        })?))
    }

    /// Creates `table` with the schema of the first file `change` adds.
    pub(super) async fn create(&mut self, table: &str, change: &TableChange) -> Result<()> {
        let first = change.adds.first().ok_or_else(|| Error::Manifest {
            path: table.to_owned(),
            detail: "the first commit to a table adds no file".into(),
        })?;
        let object = Path::from(format!("{}/{}", self.lake.table_dir(table), first.path));
        let schema = crate::manifest::parquet_schema(&self.lake, &object).await?;
        let schema = naap_events::lake_types::lake_schema(&schema);
        let mut columns: Vec<StructField> = {
            let kernel: StructType = schema.as_ref().try_into_kernel().map_err(|e| Error::Manifest {
                path: table.to_owned(),
                detail: format!("a column has no Delta type: {e}"),
            })?;
            kernel.fields().cloned().collect()
        };
        for column in naap_sql::delta::PARTITION_COLUMNS {
            columns.push(StructField::new(column, deltalake_core::kernel::DataType::STRING, true));
        }
        let created = DeltaTable::new(self.lake.log_store(table))
            .create()
            .with_table_name(table)
            .with_columns(columns)
            .with_partition_columns(naap_sql::delta::PARTITION_COLUMNS)
            .with_configuration_property(TableProperty::CheckpointInterval, Some(CHECKPOINT_EVERY))
            .with_configuration_property(TableProperty::LogRetentionDuration, Some(LOG_RETENTION))
            .with_save_mode(SaveMode::Ignore)
            .await;
        match created {
            Ok(t) => {
                info!(table, "created the Delta table");
                self.open.insert(table.to_owned(), t);
                Ok(())
            }
            // Another process created it at the same moment.
            Err(e) if is_conflict(&e) => {
                self.current(table).await?;
                Ok(())
            }
            Err(source) => Err(Error::Delta {
                table: table.to_owned(),
                source,
            }),
        }
    }
}

/// The table schema with `file`'s new columns appended (nullable), or
/// `None` when `file` adds none. Partition columns are the table's own.
pub(crate) fn evolved(
    table: &str,
    current: &StructType,
    file: &arrow::datatypes::Schema,
) -> Result<Option<StructType>> {
    let kernel: StructType = file.try_into_kernel().map_err(|e| Error::Manifest {
        path: table.to_owned(),
        detail: format!("a column has no Delta type: {e}"),
    })?;
    let mut added: Vec<StructField> = Vec::new();
    for field in kernel.fields() {
        match current.field(field.name()) {
            None => added.push(StructField::new(field.name(), field.data_type().clone(), true)),
            Some(known) if known.data_type() != field.data_type() => {
                return Err(Error::Manifest {
                    path: table.to_owned(),
                    detail: format!(
                        "column {} is {:?} in the table and {:?} in the files this release writes: \
                         a changed type cannot evolve in place; write the table under a new name",
                        field.name(),
                        known.data_type(),
                        field.data_type()
                    ),
                });
            }
            Some(_) => {}
        }
    }
    if added.is_empty() {
        return Ok(None);
    }
    let fields = current.fields().cloned().chain(added);
    Ok(Some(StructType::try_new(fields).map_err(|e| Error::Manifest {
        path: table.to_owned(),
        detail: format!("the evolved schema is not valid: {e}"),
    })?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field, Schema};
    use deltalake_core::kernel::DataType as DeltaType;

    fn table() -> StructType {
        StructType::try_new([
            StructField::new("a", DeltaType::LONG, false),
            StructField::new("date", DeltaType::STRING, true),
        ])
        .unwrap()
    }

    #[test]
    fn a_new_column_is_appended_nullable_and_a_changed_type_is_refused() {
        let same = Schema::new(vec![Field::new("a", DataType::Int64, false)]);
        assert!(evolved("t", &table(), &same).unwrap().is_none());
        let more = Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Utf8, false),
        ]);
        let schema = evolved("t", &table(), &more).unwrap().unwrap();
        let names: Vec<&str> = schema.fields().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["a", "date", "b"]);
        assert!(schema.field("b").unwrap().is_nullable());
        let changed = Schema::new(vec![Field::new("a", DataType::Utf8, false)]);
        let e = evolved("t", &table(), &changed).unwrap_err().to_string();
        assert!(e.contains("column a") && e.contains("changed type"), "{e}");
    }
}
