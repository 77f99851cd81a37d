//! The Flight SQL commands: statements and prepared statements run within
//! the query limits; the metadata commands answer from the catalog.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use arrow_flight::Action;
use arrow_flight::ActionType;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    Any, CommandGetCatalogs, CommandGetDbSchemas, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables,
    CommandPreparedStatementQuery, CommandPreparedStatementUpdate, CommandStatementQuery, CommandStatementUpdate,
    DoPutPreparedStatementResult, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, Ticket};
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{NaapFlightSql, SQL_INFO, batch_stream, ipc_schema, role_of};
use crate::catalog::{CATALOG, SCHEMA};
use crate::prepared::Prepared;
use crate::router::{self, SelectParams};
use crate::{Error, Result};

/// The Flight action of the reference router.
const SELECT_ACTION: &str = "select";

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
        let stream = bounded_put(request.into_inner(), &limits);
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
        bounded_patterns(&[&cmd.db_schema_filter_pattern], 0)?;
        let schema = cmd.clone().into_builder().schema();
        self.info(&cmd, &schema, request.into_inner())
    }

    async fn do_get_schemas(
        &self,
        cmd: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        bounded_patterns(&[&cmd.db_schema_filter_pattern], 0)?;
        let mut builder = cmd.into_builder();
        builder.append(CATALOG, SCHEMA);
        batch_stream(builder.build())
    }

    async fn get_flight_info_tables(
        &self,
        cmd: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        bounded_patterns(
            &[&cmd.db_schema_filter_pattern, &cmd.table_name_filter_pattern],
            cmd.table_types.len(),
        )?;
        let schema = cmd.clone().into_builder().schema();
        self.info(&cmd, &schema, request.into_inner())
    }

    async fn do_get_tables(
        &self,
        cmd: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        bounded_patterns(
            &[&cmd.db_schema_filter_pattern, &cmd.table_name_filter_pattern],
            cmd.table_types.len(),
        )?;
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

/// Fails a DoPut stream once it has carried more than `max_put_bytes`, or
/// a message declares more than the parameter budget (its buffers' sizes
/// once decompressed, above all), before the decoder allocates for it.
fn bounded_put(
    stream: PeekableFlightDataStream,
    limits: &crate::QueryLimits,
) -> impl Stream<Item = Result<FlightData, FlightError>> + Send + 'static {
    let max = limits.max_put_bytes;
    let mut seen = 0usize;
    let mut declared = naap_events::ipc::IpcCheck::new(limits.parameter_budget());
    let refuse = |detail: String| FlightError::Tonic(Box::new(Status::from(Error::Refused { detail })));
    stream.map(move |item| {
        let data = item.map_err(|e| FlightError::Tonic(Box::new(e)))?;
        seen = seen.saturating_add(data.data_header.len() + data.data_body.len() + data.app_metadata.len());
        if seen > max {
            return Err(refuse(format!(
                "the bound parameters exceed {max} bytes, the most this server reads (--max-put-bytes)"
            )));
        }
        if !data.data_header.is_empty() {
            declared
                .message(&data.data_header, &data.data_body)
                .map_err(|e| refuse(format!("bound parameters: {e}")))?;
        }
        Ok(data)
    })
}

/// The longest schema or table name pattern read: names here are short,
/// and Arrow's LIKE turns a pattern into a regular expression whose
/// building grows with it (a 40 KB pattern took 1.8 GB).
const MAX_PATTERN_BYTES: usize = 256;
/// The most table types a listing may name.
const MAX_TABLE_TYPES: usize = 16;

/// Refuses name patterns and table-type lists longer than this server reads.
fn bounded_patterns(patterns: &[&Option<String>], table_types: usize) -> Result<(), Status> {
    if let Some(long) = patterns
        .iter()
        .filter_map(|p| p.as_ref())
        .find(|p| p.len() > MAX_PATTERN_BYTES)
    {
        return Err(Status::invalid_argument(format!(
            "a name pattern of {} bytes; at most {MAX_PATTERN_BYTES} are read",
            long.len()
        )));
    }
    if table_types > MAX_TABLE_TYPES {
        return Err(Status::invalid_argument(format!(
            "{table_types} table types; at most {MAX_TABLE_TYPES} are read"
        )));
    }
    Ok(())
}
