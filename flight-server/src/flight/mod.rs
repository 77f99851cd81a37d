//! Arrow Flight SQL (read-only, stateless) and plain Flight DoGet tickets.
//!
//! Stateless in the InfluxDB 3 manner: the statement ticket carries the SQL
//! itself, so any server instance can answer the DoGet, and nothing is kept
//! between GetFlightInfo and DoGet.

//!
//! | module    | owns                                                       |
//! |-----------|------------------------------------------------------------|
//! | `sql`     | the Flight SQL commands: statements, prepared statements, metadata |
//! | `service` | the Flight service: tokens, plain tickets (`scores`), the listener |

mod service;
mod sql;

#[cfg(test)]
pub(crate) use service::NaapFlight;
pub(crate) use service::serve;

use std::pin::Pin;
use std::sync::{Arc, LazyLock};

use arrow::datatypes::Schema;
use arrow::ipc::writer::IpcWriteOptions;
use arrow::record_batch::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::sql::ProstMessageExt;
use arrow_flight::sql::SqlInfo;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::{FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, IpcMessage, SchemaAsIpc, Ticket};
use datafusion::scalar::ScalarValue;
use futures::{Stream, TryStreamExt};
use prost::Message;
use tonic::{Response, Status};

use crate::admission::Queries;
use crate::auth::Role;
use crate::perf_stats::Regions;

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Concurrent calls on one connection.
const MAX_STREAMS_PER_CONNECTION: u32 = 64;

/// The least a gRPC message may hold, whatever the limits.
const MIN_MESSAGE_BYTES: usize = 1024 * 1024;

/// Room in a gRPC message beside its statement or parameters.
const MESSAGE_OVERHEAD_BYTES: usize = 64 * 1024;

/// What a client may send on one connection before the server reads it.
const RECEIVE_WINDOW_BYTES: u32 = 1024 * 1024;

/// The plain ticket of the latest scores (`scores`, or `scores?rule=…&version=…&orchestrator=…`).
const SCORES_TICKET: &str = "scores";

/// The Flight SQL service.
#[derive(Debug, Clone)]
pub(crate) struct NaapFlightSql {
    queries: Queries,
    regions: Arc<Regions>,
}

impl NaapFlightSql {
    /// Runs `sql` within the query limits (see [`Queries::stream`]) and
    /// encodes its rows as Flight data.
    async fn stream(
        &self,
        role: Role,
        sql: &str,
        params: Option<Vec<ScalarValue>>,
    ) -> Result<BoxStream<FlightData>, Status> {
        let (schema, rows) = self.queries.stream(role, sql.to_owned(), params).await?;
        let rows = rows.map_err(|e| FlightError::Tonic(Box::new(Status::from(e))));
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(rows)
            .map_err(Status::from);
        Ok(Box::pin(stream))
    }

    /// A FlightInfo whose one endpoint's ticket is the command itself.
    fn info(
        &self,
        cmd: &impl ProstMessageExt,
        schema: &Schema,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(cmd.as_any().encode_to_vec()));
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(format!("encoding schema: {e}")))?
            .with_endpoint(endpoint)
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }
}

/// What `GetSqlInfo` answers.
static SQL_INFO: LazyLock<SqlInfoData> = LazyLock::new(|| {
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "naap");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "59");
    b.append(SqlInfo::FlightSqlServerReadOnly, true);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(SqlInfo::FlightSqlServerTransaction, 0i32);
    b.append(SqlInfo::FlightSqlServerCancel, false);
    b.append(SqlInfo::FlightSqlServerStatementTimeout, 0i32);
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, false);
    b.append(SqlInfo::SqlDdlTable, false);
    b.build().expect("a fixed set of SQL info values builds")
});

fn ipc_schema(schema: &Schema) -> Result<Vec<u8>, Status> {
    let message: IpcMessage = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| Status::internal(format!("encoding schema: {e}")))?;
    Ok(message.0.to_vec())
}

/// One metadata batch as a DoGet stream.
fn batch_stream(batch: Result<RecordBatch, impl std::fmt::Display>) -> Result<Response<BoxStream<FlightData>>, Status> {
    let batch = batch.map_err(|e| Status::internal(format!("building metadata: {e}")))?;
    let schema = batch.schema();
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(futures::stream::iter([Ok(batch)]))
        .map_err(Status::from);
    Ok(Response::new(Box::pin(stream)))
}

/// The role the service resolved for this request (see `service`).
fn role_of<T>(request: &tonic::Request<T>) -> Role {
    request.extensions().get::<Role>().copied().unwrap_or(Role::Read)
}
