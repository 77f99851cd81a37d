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
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::{Any, CommandStatementQuery, ProstMessageExt, SqlInfo, TicketStatementQuery};
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest,
    HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use futures::{Stream, TryStreamExt};
use prost::Message;
use tokio::net::TcpListener;
use tonic::{Request, Response, Status, Streaming};

use crate::limits::{Admission, with_deadline};
use crate::{Catalog, Error, Result};

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Plain tickets and the SQL they stand for.
const NAMED_TICKETS: [(&str, &str); 1] = [(
    "scores",
    "SELECT * FROM scores ORDER BY orchestrator, rule, rule_version",
)];

/// The Flight SQL service.
#[derive(Debug, Clone)]
pub(crate) struct NaapFlightSql {
    catalog: Arc<Catalog>,
    admission: Admission,
}

impl NaapFlightSql {
    /// Runs `sql` within the query limits: a running-query slot, the
    /// deadline over planning and streaming, the memory pool of the session.
    async fn stream(&self, sql: &str) -> Result<BoxStream<FlightData>, Status> {
        let slot = self.admission.admit()?;
        let limit = self.admission.limits().timeout;
        let started = tokio::time::Instant::now();
        let df = self.catalog.plan(sql).await?;
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
}

#[tonic::async_trait]
impl FlightSqlService for NaapFlightSql {
    type FlightService = NaapFlightSql;

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let df = self.catalog.plan(&query.query).await?;
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
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let sql = std::str::from_utf8(&ticket.statement_handle)
            .map_err(|_| Status::invalid_argument("statement ticket is not UTF-8 SQL"))?;
        Ok(Response::new(self.stream(sql).await?))
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

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// Routes plain named tickets (`scores`) itself and everything else to Flight SQL.
#[derive(Debug, Clone)]
pub(crate) struct NaapFlight {
    sql: NaapFlightSql,
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
        FlightService::handshake(&self.sql, request).await
    }

    async fn list_flights(&self, request: Request<Criteria>) -> Result<Response<Self::ListFlightsStream>, Status> {
        FlightService::list_flights(&self.sql, request).await
    }

    async fn get_flight_info(&self, request: Request<FlightDescriptor>) -> Result<Response<FlightInfo>, Status> {
        FlightService::get_flight_info(&self.sql, request).await
    }

    async fn poll_flight_info(&self, request: Request<FlightDescriptor>) -> Result<Response<PollInfo>, Status> {
        FlightService::poll_flight_info(&self.sql, request).await
    }

    async fn get_schema(&self, request: Request<FlightDescriptor>) -> Result<Response<SchemaResult>, Status> {
        FlightService::get_schema(&self.sql, request).await
    }

    async fn do_get(&self, request: Request<Ticket>) -> Result<Response<Self::DoGetStream>, Status> {
        let ticket = &request.get_ref().ticket;
        if let Some((_, sql)) = NAMED_TICKETS
            .iter()
            .find(|(name, _)| name.as_bytes() == ticket.as_ref())
        {
            return Ok(Response::new(self.sql.stream(sql).await?));
        }
        if Any::decode(ticket.as_ref()).is_err() {
            return Err(Error::UnknownTicket {
                ticket: String::from_utf8_lossy(ticket).into_owned(),
            }
            .into());
        }
        FlightService::do_get(&self.sql, request).await
    }

    async fn do_put(&self, _request: Request<Streaming<FlightData>>) -> Result<Response<Self::DoPutStream>, Status> {
        Err(Status::permission_denied("naap serves the lake read-only"))
    }

    async fn do_action(&self, request: Request<Action>) -> Result<Response<Self::DoActionStream>, Status> {
        FlightService::do_action(&self.sql, request).await
    }

    async fn list_actions(&self, request: Request<Empty>) -> Result<Response<Self::ListActionsStream>, Status> {
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
    admission: Admission,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<()> {
    let service = NaapFlight {
        sql: NaapFlightSql { catalog, admission },
    };
    tonic::transport::Server::builder()
        .add_service(FlightServiceServer::new(service))
        .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}
