//! Arrow Flight SQL (read-only, stateless) and plain Flight DoGet tickets.
//!
//! Stateless in the InfluxDB 3 manner: the statement ticket carries the SQL
//! itself, so any server instance can answer the DoGet, and nothing is kept
//! between GetFlightInfo and DoGet.

use std::pin::Pin;
use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use std::sync::LazyLock;

use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::IpcWriteOptions;
use arrow::record_batch::RecordBatch;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    Any, CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementQuery, CommandStatementUpdate,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest,
    HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use arrow_flight::{IpcMessage, SchemaAsIpc};
use datafusion::scalar::ScalarValue;
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{Auth, Role};
use crate::catalog::{CATALOG, SCHEMA};
use crate::perf_stats::Regions;
use crate::router::{self, SelectParams};
use crate::snapshot::{ScoreFilter, Snapshots};

/// The Flight action of the reference router.
const SELECT_ACTION: &str = "select";
use crate::admission::Queries;
use crate::prepared::Prepared;
use crate::{Error, Result};

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

#[tonic::async_trait]
impl FlightSqlService for NaapFlightSql {
    type FlightService = NaapFlightSql;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = self
            .queries
            .schema(role_of(&request), query.query.clone(), None)
            .await?;
        let ticket = TicketStatementQuery {
            statement_handle: query.query.into_bytes().into(),
        };
        let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()));
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| Status::internal(format!("encoding schema: {e}")))?
            .with_endpoint(endpoint)
            .with_descriptor(request.into_inner());
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let sql = std::str::from_utf8(&ticket.statement_handle)
            .map_err(|_| Status::invalid_argument("statement ticket is not UTF-8 SQL"))?;
        Ok(Response::new(self.stream(role_of(&request), sql, None).await?))
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let prepared = Prepared::decode(&cmd.prepared_statement_handle, &self.queries.limits())?;
        let params = prepared.params()?;
        let schema = self.queries.schema(role_of(&request), prepared.sql, params).await?;
        self.info(&cmd, &schema, request.into_inner())
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let prepared = Prepared::decode(&cmd.prepared_statement_handle, &self.queries.limits())?;
        let role = role_of(&request);
        Ok(Response::new(
            self.stream(role, &prepared.sql, prepared.params()?).await?,
        ))
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let (catalog, role, sql) = (
            Arc::clone(self.queries.catalog()),
            role_of(&request),
            query.query.clone(),
        );
        let (dataset, parameters) = self
            .queries
            .run(async move {
                let df = catalog.plan_as(role, &sql, None).await?;
                // Placeholders $1, $2, … in order, typed where DataFusion can tell.
                let types = df.logical_plan().get_parameter_types().map_err(Error::query)?;
                let mut names: Vec<&String> = types.keys().collect();
                names.sort_by_key(|n| n.trim_start_matches('$').parse::<u32>().unwrap_or(u32::MAX));
                let fields: Vec<Field> = names
                    .iter()
                    .map(|n| Field::new(n.as_str(), types[*n].clone().unwrap_or(DataType::Null), true))
                    .collect();
                Ok((df.schema().as_arrow().clone(), Schema::new(fields)))
            })
            .await?;
        let dataset_schema = ipc_schema(&dataset)?;
        let parameter_schema = ipc_schema(&parameters)?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: Prepared::new(query.query, None).encode().into(),
            dataset_schema: dataset_schema.into(),
            parameter_schema: parameter_schema.into(),
        })
    }

    /// Binds parameters the stateless way: the new handle carries them.
    async fn do_put_prepared_statement_query(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        let limits = self.queries.limits();
        let prepared = Prepared::decode(&cmd.prepared_statement_handle, &limits)?;
        // Read here, without a query slot: the stream is bounded in bytes
        // (and each message by the transport), and in time.
        let stream = bounded_put(request.into_inner(), limits.max_put_bytes);
        let read = FlightRecordBatchStream::new_from_flight_data(stream).try_collect::<Vec<RecordBatch>>();
        let batches = match tokio::time::timeout(limits.timeout, read).await {
            Ok(Ok(batches)) => batches,
            Ok(Err(e)) => {
                return Err(Error::Refused {
                    detail: format!(
                        "reading the bound parameters (at most {} bytes, --max-put-bytes): {e}",
                        limits.max_put_bytes
                    ),
                }
                .into());
            }
            Err(_) => return Err(Error::TimedOut { limit: limits.timeout }.into()),
        };
        let params = match batches.iter().find(|b| b.num_rows() > 0) {
            Some(b) if b.num_rows() == 1 => Some(b.clone()),
            Some(b) => {
                return Err(Status::invalid_argument(format!(
                    "bind one row of parameters, not {}",
                    b.num_rows()
                )));
            }
            None => None,
        };
        let bound = Prepared::new(prepared.sql, params);
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(bound.encode().into()),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        // Nothing is kept on the server: the handle is the statement.
        Ok(())
    }

    async fn do_put_statement_update(
        &self,
        _cmd: CommandStatementUpdate,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(Status::permission_denied("naap serves the lake read-only"))
    }

    async fn do_put_prepared_statement_update(
        &self,
        _cmd: CommandPreparedStatementUpdate,
        _request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        Err(Status::permission_denied("naap serves the lake read-only"))
    }

    async fn get_flight_info_catalogs(
        &self,
        cmd: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = cmd.into_builder().schema();
        self.info(&cmd, &schema, request.into_inner())
    }

    async fn do_get_catalogs(
        &self,
        cmd: CommandGetCatalogs,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = cmd.into_builder();
        builder.append(CATALOG);
        batch_stream(builder.build())
    }

    async fn get_flight_info_schemas(
        &self,
        cmd: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = cmd.clone().into_builder().schema();
        self.info(&cmd, &schema, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        cmd: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = cmd.into_builder();
        builder.append(CATALOG, SCHEMA);
        batch_stream(builder.build())
    }

    async fn get_flight_info_tables(
        &self,
        cmd: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = cmd.clone().into_builder().schema();
        self.info(&cmd, &schema, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        cmd: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = cmd.into_builder();
        let (catalog, role) = (Arc::clone(self.queries.catalog()), role_of(&request));
        let tables = self.queries.run(async move { catalog.tables(role).await }).await?;
        for (name, kind, schema) in tables {
            builder
                .append(CATALOG, SCHEMA, name, kind, &schema)
                .map_err(|e| Status::internal(format!("listing tables: {e}")))?;
        }
        batch_stream(builder.build())
    }

    async fn get_flight_info_table_types(
        &self,
        cmd: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = cmd.into_builder().schema();
        self.info(&cmd, &schema, request.into_inner())
    }

    async fn do_get_table_types(
        &self,
        cmd: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = cmd.into_builder();
        builder.append("TABLE");
        builder.append("VIEW");
        batch_stream(builder.build())
    }

    async fn get_flight_info_sql_info(
        &self,
        cmd: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = cmd.clone().into_builder(&SQL_INFO).schema();
        self.info(&cmd, &schema, request.into_inner())
    }

    async fn do_get_sql_info(
        &self,
        cmd: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        batch_stream(cmd.into_builder(&SQL_INFO).build())
    }

    async fn do_get_fallback(
        &self,
        _request: Request<Ticket>,
        message: Any,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        Err(Error::UnknownTicket {
            ticket: message.type_url,
        }
        .into())
    }

    /// `select`: the reference router; the body and the answer are JSON
    /// (see [`crate::router::SelectParams`] and [`crate::router::Selection`]).
    async fn do_action_fallback(
        &self,
        request: Request<Action>,
    ) -> Result<Response<<Self as FlightService>::DoActionStream>, Status> {
        let action = request.into_inner();
        if action.r#type != SELECT_ACTION {
            return Err(Status::invalid_argument(format!(
                "unknown action {:?}; this server has {SELECT_ACTION:?} beside the Flight SQL actions",
                action.r#type
            )));
        }
        let params: SelectParams = serde_json::from_slice(&action.body)
            .map_err(|e| Status::invalid_argument(format!("select: the body is not the expected JSON: {e}")))?;
        let (catalog, regions) = (Arc::clone(self.queries.catalog()), Arc::clone(&self.regions));
        let selection = self
            .queries
            .run(async move { router::answer(&catalog, &regions, &params, 3).await })
            .await?;
        let body = serde_json::to_vec(&selection).map_err(|e| Status::internal(format!("encoding: {e}")))?;
        let result = arrow_flight::Result { body: body.into() };
        Ok(Response::new(Box::pin(futures::stream::iter([Ok(result)]))))
    }

    async fn list_custom_actions(&self) -> Option<Vec<Result<ActionType, Status>>> {
        Some(vec![Ok(ActionType {
            r#type: SELECT_ACTION.into(),
            description:
                "Reference router: JSON {pipeline, model, region?, max_price?, n?, min_score?, explore?, seed?} \
                          -> the orchestrators to try, ranked"
                    .into(),
        })])
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// Routes plain named tickets (`scores`) itself and everything else to Flight SQL.
#[derive(Debug, Clone)]
pub(crate) struct NaapFlight {
    sql: NaapFlightSql,
    auth: Arc<Auth>,
    snapshots: Arc<Snapshots>,
}

/// The role [`NaapFlight`] resolved for this request.
fn role_of<T>(request: &Request<T>) -> Role {
    request.extensions().get::<Role>().copied().unwrap_or(Role::Read)
}

impl NaapFlight {
    /// Resolves the caller's role from its `authorization` header and keeps
    /// it with the request for the Flight SQL layer.
    fn authorize<T>(&self, method: &'static str, request: &mut Request<T>) -> Result<Role, Status> {
        crate::metrics::METRICS.flight_call(method);
        let header = request
            .metadata()
            .get("authorization")
            .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
        let role = self.auth.role(header.as_deref()).map_err(Error::from)?;
        request.extensions_mut().insert(role);
        Ok(role)
    }
}

#[tonic::async_trait]
impl FlightService for NaapFlight {
    type HandshakeStream = BoxStream<HandshakeResponse>;
    type ListFlightsStream = BoxStream<FlightInfo>;
    type DoGetStream = BoxStream<FlightData>;
    type DoPutStream = BoxStream<PutResult>;
    type DoActionStream = BoxStream<arrow_flight::Result>;
    type ListActionsStream = BoxStream<ActionType>;
    type DoExchangeStream = BoxStream<FlightData>;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
        let reply = HandshakeResponse {
            protocol_version: 0,
            payload: Default::default(),
        };
        let mut response: Response<Self::HandshakeStream> = Response::new(Box::pin(futures::stream::iter([Ok(reply)])));
        if header.is_none() && !self.auth.has_tokens() {
            return Ok(response);
        }
        let (_, token) = self.auth.handshake(header.as_deref()).map_err(Error::from)?;
        let bearer = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::invalid_argument("the token cannot travel in a header"))?;
        response.metadata_mut().insert("authorization", bearer);
        Ok(response)
    }

    async fn list_flights(&self, mut request: Request<Criteria>) -> Result<Response<Self::ListFlightsStream>, Status> {
        self.authorize("list_flights", &mut request)?;
        FlightService::list_flights(&self.sql, request).await
    }

    async fn get_flight_info(&self, mut request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        self.authorize("get_flight_info", &mut request)?;
        FlightService::get_flight_info(&self.sql, request).await
    }

    async fn poll_flight_info(&self, mut request: Request<FlightDescriptor>) -> Result<Response<PollInfo>, Status> {
        self.authorize("poll_flight_info", &mut request)?;
        FlightService::poll_flight_info(&self.sql, request).await
    }

    async fn get_schema(&self, mut request: Request<FlightDescriptor>) -> Result<Response<SchemaResult>, Status> {
        self.authorize("get_schema", &mut request)?;
        FlightService::get_schema(&self.sql, request).await
    }

    async fn do_get(&self, mut request: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
        self.authorize("do_get", &mut request)?;
        let ticket = &request.get_ref().ticket;
        let text = std::str::from_utf8(ticket).unwrap_or_default();
        let query = match text.split_once('?') {
            Some((SCORES_TICKET, query)) => Some(query),
            None if text == SCORES_TICKET => Some(""),
            _ => None,
        };
        if let Some(query) = query {
            // The fast path: the in-memory snapshot, no query.
            let filter = ScoreFilter::parse(query).map_err(|detail| Status::from(Error::Refused { detail }))?;
            let snapshot = self.snapshots.get();
            if filter == ScoreFilter::default() && !snapshot.flight.is_empty() {
                let messages: Vec<Result<FlightData, Status>> = snapshot.flight.iter().cloned().map(Ok).collect();
                return Ok(Response::new(Box::pin(futures::stream::iter(messages))));
            }
            if let Some(batch) = snapshot.batch(&filter)? {
                let stream = FlightDataEncoderBuilder::new()
                    .with_schema(batch.schema())
                    .build(futures::stream::iter([Ok(batch)]))
                    .map_err(Status::from);
                return Ok(Response::new(Box::pin(stream)));
            }
            // No scores yet: the query says why (no such table).
            let sql = naap_sql::serving::SCORES.sql();
            return Ok(Response::new(self.sql.stream(Role::Read, sql, None).await?));
        }
        if Any::decode(ticket.as_ref()).is_err() {
            return Err(Error::UnknownTicket {
                ticket: String::from_utf8_lossy(ticket).into_owned(),
            }
            .into());
        }
        FlightService::do_get(&self.sql, request).await
    }

    /// Only parameter binding of prepared queries; every update is refused.
    async fn do_put(&self, mut request: Request<Streaming<FlightData>>) -> Result<Response<Self::DoPutStream>, Status> {
        self.authorize("do_put", &mut request)?;
        FlightService::do_put(&self.sql, request).await
    }

    async fn do_action(&self, mut request: Request<Action>) -> Result<Response<Self::DoActionStream>, Status> {
        self.authorize("do_action", &mut request)?;
        FlightService::do_action(&self.sql, request).await
    }

    async fn list_actions(&self, mut request: Request<Empty>) -> Result<Response<Self::ListActionsStream>, Status> {
        self.authorize("list_actions", &mut request)?;
        FlightService::list_actions(&self.sql, request).await
    }

    async fn do_exchange(
        &self,
        _request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        Err(Status::unimplemented("naap does not support DoExchange"))
    }
}

/// Fails a DoPut stream once it has carried more than `max` bytes.
fn bounded_put(
    stream: PeekableFlightDataStream,
    max: usize,
) -> impl Stream<Item = Result<FlightData, FlightError>> + Send + 'static {
    let mut seen = 0usize;
    stream.map(move |item| {
        let data = item.map_err(|e| FlightError::Tonic(Box::new(e)))?;
        seen = seen.saturating_add(data.data_header.len() + data.data_body.len() + data.app_metadata.len());
        if seen > max {
            return Err(FlightError::Tonic(Box::new(Status::from(Error::Refused {
                detail: format!(
                    "the bound parameters exceed {max} bytes, the most this server reads (--max-put-bytes)"
                ),
            }))));
        }
        Ok(data)
    })
}

/// Serves Flight on `connections` until `shutdown` completes.
pub(crate) async fn serve(
    queries: Queries,
    regions: Arc<Regions>,
    auth: Arc<Auth>,
    snapshots: Arc<Snapshots>,
    connections: tokio::sync::mpsc::Receiver<crate::tls::Conn>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<()> {
    let service = NaapFlight {
        sql: NaapFlightSql { queries, regions },
        auth,
        snapshots,
    };
    // A message holds a statement or bound parameters; statements somewhat
    // longer than the limit still arrive, to be refused with its name.
    let limits = service.sql.queries.limits();
    let max_message = (limits.max_sql_bytes * 4)
        .max(limits.max_put_bytes * 2)
        .max(MIN_MESSAGE_BYTES)
        + MESSAGE_OVERHEAD_BYTES;
    let router = tonic::transport::Server::builder()
        .max_concurrent_streams(Some(MAX_STREAMS_PER_CONNECTION))
        .initial_connection_window_size(Some(RECEIVE_WINDOW_BYTES))
        .initial_stream_window_size(Some(RECEIVE_WINDOW_BYTES / 4))
        .add_service(FlightServiceServer::new(service).max_decoding_message_size(max_message));
    let connections = futures::StreamExt::map(tokio_stream::wrappers::ReceiverStream::new(connections), |conn| {
        Ok::<_, std::io::Error>(conn)
    });
    router.serve_with_incoming_shutdown(connections, shutdown).await?;
    Ok(())
}
