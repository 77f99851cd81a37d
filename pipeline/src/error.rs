//! The pipeline's error type.

use naap_events::framing::FramingError;

/// Errors that stop the pipeline. Bad *input* never becomes one of these: it
/// becomes a quarantine row.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Lake(#[from] naap_sql::LakeError),
    #[error("object store {op} {path}: {source}")]
    Store {
        op: &'static str,
        path: String,
        source: object_store::Error,
    },
    #[error("SQL {what}: {source}")]
    Sql {
        what: String,
        source: datafusion::error::DataFusionError,
    },
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("parquet {path}: {source}")]
    Parquet {
        path: String,
        source: parquet::errors::ParquetError,
    },
    #[error("Delta table {table}: {source}")]
    Delta {
        table: String,
        source: deltalake_core::DeltaTableError,
    },
    #[error("commit record {path}: {detail}")]
    Manifest { path: String, detail: String },
    #[error("another writer committed sequence {seq} first")]
    Fenced { seq: u64 },
    #[error(
        "partition {partition} of {source_name} now belongs to pipeline process {owner}; \
         another pipeline took over this lake's partitions, so this one stops"
    )]
    Lost {
        source_name: String,
        partition: i32,
        owner: String,
    },
    #[error("kafka {what}: {source}")]
    Kafka {
        what: String,
        source: rdkafka::error::KafkaError,
    },
    #[error("input file {path}: {source}")]
    Input { path: String, source: FramingError },
    #[error("input file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// A request the lake cannot answer as asked (a table it does not have).
    #[error("{what}: {detail}")]
    Request { what: String, detail: String },
}

impl From<naap_sql::TableError> for Error {
    fn from(e: naap_sql::TableError) -> Self {
        match e {
            naap_sql::TableError::Delta { table, source } => Error::Delta { table, source },
            naap_sql::TableError::File { table, path, detail } => Error::Manifest {
                path: format!("{table}/{path}"),
                detail,
            },
            naap_sql::TableError::Lake(e) => Error::Lake(e),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether this is the object store (or a table read through it)
    /// failing, which may pass: not bad input, not a bug.
    pub(crate) fn is_storage(&self) -> bool {
        matches!(
            self,
            Error::Lake(_) | Error::Store { .. } | Error::Delta { .. } | Error::Parquet { .. }
        )
    }

    pub(crate) fn sql(what: impl Into<String>) -> impl FnOnce(datafusion::error::DataFusionError) -> Error {
        let what = what.into();
        move |source| Error::Sql { what, source }
    }
}
