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
use futures::{Stream, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{Auth, Role};
use crate::catalog::{CATALOG, SCHEMA};
use crate::perf_stats::Regions;
use crate::router::{self, SelectParams};
use crate::snapshot::{ScoreFilter, Snapshots};

/// The Flight action of the reference router.
const SELECT_ACTION: &str = "select";
use crate::limits::{Admission, with_deadline};
use crate::{Catalog, Error, Result};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The plain ticket of the latest scores (`scores`, or `scores?rule=…&version=…&orchestrator=…`).
const SCORES_TICKET: &str = "scores";

/// The Flight SQL service.
#[derive(Debug, Clone)]
pub(crate) struct NaapFlightSql {
    catalog: Arc<Catalog>,
    regions: Arc<Regions>,
    admission: Admission,
}

impl NaapFlightSql {
    /// Runs `sql` within the query limits: a running-query slot, the
    /// deadline over planning and streaming, the memory pool of the session.
    async fn stream(
        &self,
        role: Role,
        sql: &str,
        params: Option<Vec<ScalarValue>>,
    ) -> Result<BoxStream<FlightData>, Status> {
        let slot = self.admission.admit()?;
        let limit = self.admission.limits().timeout;
        let started = tokio::time::Instant::now();
        let df = self.catalog.plan_as(role, sql, params).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.execute_stream().await.map_err(Error::query)?;
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .build(batches.map_err(|e| FlightError::ExternalError(Box::new(e))))
            .map_err(|e| match e {
                FlightError::ExternalError(inner) => match inner.downcast::<datafusion::error::DataFusionError>() {
                    Ok(df) => Status::from(Error::query(*df)),
                    Err(other) => Status::from(FlightError::ExternalError(other)),
                },
                other => Status::from(other),
            });
        Ok(Box::pin(with_deadline(Box::pin(stream), started + limit, limit, slot)))
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

/// A prepared statement's handle: the SQL and, once bound, its parameters
/// (one row, as Arrow IPC), so that any server instance can run it.
struct Prepared {
    sql: String,
    params: Option<RecordBatch>,
}

const HANDLE_MAGIC: &[u8] = b"naap-ps1";

impl Prepared {
    fn new(sql: String, params: Option<RecordBatch>) -> Self {
        Self { sql, params }
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = HANDLE_MAGIC.to_vec();
        out.extend((self.sql.len() as u64).to_be_bytes());
        out.extend(self.sql.as_bytes());
        if let Some(batch) = &self.params {
            let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &batch.schema())
                .expect("an in-memory IPC writer over a valid schema");
            w.write(batch).expect("writing a batch to memory");
            out.extend(w.into_inner().expect("finishing an in-memory IPC stream"));
        }
        out
    }

    fn decode(handle: &[u8]) -> Result<Prepared, Status> {
        let bad = || Status::invalid_argument("not a prepared statement handle of this server");
        let rest = handle.strip_prefix(HANDLE_MAGIC).ok_or_else(bad)?;
        let (len, rest) = rest.split_first_chunk::<8>().ok_or_else(bad)?;
        let len = usize::try_from(u64::from_be_bytes(*len)).map_err(|_| bad())?;
        if rest.len() < len {
            return Err(bad());
        }
        let (sql, ipc) = rest.split_at(len);
        let sql = String::from_utf8(sql.to_vec()).map_err(|_| bad())?;
        let params = if ipc.is_empty() {
            None
        } else {
            let reader =
                arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(ipc), None).map_err(|_| bad())?;
            let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(|_| bad())?;
            batches.into_iter().next()
        };
        Ok(Prepared { sql, params })
    }

    /// The bound values, `$1` first.
    fn params(&self) -> Result<Option<Vec<ScalarValue>>, Status> {
        let Some(batch) = &self.params else { return Ok(None) };
        batch
            .columns()
            .iter()
            .map(|c| ScalarValue::try_from_array(c, 0))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(|e| Status::invalid_argument(format!("bound parameter: {e}")))
    }
}

#[tonic::async_trait]
impl FlightSqlService for NaapFlightSql {
    type FlightService = NaapFlightSql;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let df = self.catalog.plan_as(role_of(&request), &query.query, None).await?;
        let schema = df.schema().as_arrow().clone();
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
        let prepared = Prepared::decode(&cmd.prepared_statement_handle)?;
        let df = self
            .catalog
            .plan_as(role_of(&request), &prepared.sql, prepared.params()?)
            .await?;
        let schema = df.schema().as_arrow().clone();
        self.info(&cmd, &schema, request.into_inner())
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let prepared = Prepared::decode(&cmd.prepared_statement_handle)?;
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
        let df = self.catalog.plan_as(role_of(&request), &query.query, None).await?;
        let dataset_schema = ipc_schema(df.schema().as_arrow())?;
        // Placeholders $1, $2, … in order, typed where DataFusion can tell.
        let types = df.logical_plan().get_parameter_types().map_err(Error::query)?;
        let mut names: Vec<&String> = types.keys().collect();
        names.sort_by_key(|n| n.trim_start_matches('$').parse::<u32>().unwrap_or(u32::MAX));
        let fields: Vec<Field> = names
            .iter()
            .map(|n| Field::new(n.as_str(), types[*n].clone().unwrap_or(DataType::Null), true))
            .collect();
        let parameter_schema = ipc_schema(&Schema::new(fields))?;
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
        let prepared = Prepared::decode(&cmd.prepared_statement_handle)?;
        let stream = request.into_inner().map_err(|e| FlightError::Tonic(Box::new(e)));
        let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(stream)
            .try_collect()
            .await
            .map_err(|e| Status::invalid_argument(format!("reading the bound parameters: {e}")))?;
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
        for (name, kind, schema) in self.catalog.tables(role_of(&request)).await? {
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
        let selection = router::answer(&self.catalog, &self.regions, &params, 3).await?;
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
            let sql = "SELECT * FROM scores ORDER BY orchestrator, rule, rule_version";
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

pub(crate) async fn serve(
    catalog: Arc<Catalog>,
    regions: Arc<Regions>,
    auth: Arc<Auth>,
    snapshots: Arc<Snapshots>,
    admission: Admission,
    incoming: crate::tls::Incoming,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<()> {
    let service = NaapFlight {
        sql: NaapFlightSql {
            catalog,
            regions,
            admission,
        },
        auth,
        snapshots,
    };
    let router = tonic::transport::Server::builder().add_service(FlightServiceServer::new(service));
    match incoming {
        crate::tls::Incoming::Plain(listener) => {
            router
                .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), shutdown)
                .await?
        }
        crate::tls::Incoming::Tls(listener, config) => {
            let connections = futures::StreamExt::map(
                tokio_stream::wrappers::ReceiverStream::new(crate::tls::accept(listener, config)),
                |(conn, _)| Ok::<_, std::io::Error>(conn),
            );
            router.serve_with_incoming_shutdown(connections, shutdown).await?
        }
    }
    Ok(())
}
