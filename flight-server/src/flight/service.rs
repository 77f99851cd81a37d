//! The Flight service: resolves each call's token, answers the plain
//! `scores` ticket from the in-memory snapshot, hands everything else to
//! Flight SQL, and serves it all on the guarded connections.

use std::sync::Arc;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::sql::Any;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo, HandshakeRequest, HandshakeResponse,
    PollInfo, PutResult, SchemaResult, Ticket,
};
use futures::TryStreamExt;
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::{
    BoxStream, MAX_STREAMS_PER_CONNECTION, MESSAGE_OVERHEAD_BYTES, MIN_MESSAGE_BYTES, NaapFlightSql,
    RECEIVE_WINDOW_BYTES, SCORES_TICKET,
};
use crate::admission::Queries;
use crate::auth::{Auth, Role};
use crate::perf_stats::Regions;
use crate::snapshot::{ScoreFilter, Snapshots};
use crate::{Error, Result};

/// Routes plain named tickets (`scores`) itself and everything else to Flight SQL.
#[derive(Debug, Clone)]
pub(crate) struct NaapFlight {
    sql: NaapFlightSql,
    auth: Arc<Auth>,
    snapshots: Arc<Snapshots>,
}

impl NaapFlight {
    pub(crate) fn new(queries: Queries, regions: Arc<Regions>, auth: Arc<Auth>, snapshots: Arc<Snapshots>) -> Self {
        NaapFlight {
            sql: NaapFlightSql { queries, regions },
            auth,
            snapshots,
        }
    }

    /// The answer, saying how old the data behind it may be: seconds since
    /// the lake's newest commit (`x-naap-data-age`, as the HTTP answers).
    fn aged<T>(&self, mut response: Response<T>) -> Response<T> {
        if let Some(at) = self.snapshots.get().committed_at_ms
            && let Ok(age) = ((crate::now_ms() - at).max(0) / 1000).to_string().parse()
        {
            response.metadata_mut().insert("x-naap-data-age", age);
        }
        response
    }

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
        FlightService::get_flight_info(&self.sql, request)
            .await
            .map(|r| self.aged(r))
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
            let filter = ScoreFilter::parse(query)
                .and_then(|filter| filter.check(self.sql.queries.catalog().rules()).map(|()| filter))
                .map_err(|detail| Status::from(Error::Refused { detail }))?;
            let snapshot = self.snapshots.get();
            if filter == ScoreFilter::default() && !snapshot.flight.is_empty() {
                let messages: Vec<Result<FlightData, Status>> = snapshot.flight.iter().cloned().map(Ok).collect();
                return Ok(self.aged(Response::new(Box::pin(futures::stream::iter(messages)))));
            }
            if let Some(batch) = snapshot.batch(&filter)? {
                let stream = FlightDataEncoderBuilder::new()
                    .with_schema(batch.schema())
                    .build(futures::stream::iter([Ok(batch)]))
                    .map_err(Status::from);
                return Ok(self.aged(Response::new(Box::pin(stream))));
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
        FlightService::do_get(&self.sql, request).await.map(|r| self.aged(r))
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

/// Serves Flight on `connections` until `shutdown` completes.
pub(crate) async fn serve(
    queries: Queries,
    regions: Arc<Regions>,
    auth: Arc<Auth>,
    snapshots: Arc<Snapshots>,
    connections: tokio::sync::mpsc::Receiver<crate::tls::Conn>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<()> {
    let service = NaapFlight::new(queries, regions, auth, snapshots);
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
