//! The HTTP API's routes and its OpenAPI 3.1 document, made from the same
//! code.
//!
//! Each handler carries a `#[utoipa::path]` naming its path, its
//! parameters (the query structs derive `IntoParams`) and its answers (the
//! body types derive `ToSchema`), and [`Routes::new`] registers every route
//! from that annotation (`utoipa_axum::routes!`): a route cannot be served
//! without its entry in `/openapi.json`, nor documented with another path.
//! What a layer answers on every route it wraps is added here to exactly
//! those routes' operations: the query slots' 503/504/500 to the routes
//! that query the lake, and the request bounds' and `--auth-file`'s
//! statuses to all.

use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr};
use utoipa::{Modify, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AppState, queried};
use crate::Reason;
use crate::backtests;
use crate::charts::handlers as charts;
use crate::dashboard::handlers as dashboard;
use crate::discover::handlers as discover;
use crate::explorer::handlers as explorer;
use crate::leaderboard::handlers as leaderboard;
use crate::naap_dashboard::handlers as naap_dashboard;
use crate::perf_stats::handlers as perf_stats;
use crate::requests::handlers as requests;
use crate::router::handlers as router;
use crate::streaming::handlers as streaming;

/// The body of every answer that is not a success.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct Problem {
    /// A stable code for programs.
    #[schema(inline)]
    pub reason: Reason,
    /// What went wrong, for people.
    pub error: String,
}

/// The response of each status that many operations share: a
/// [`Problem`], under a name in `components/responses`.
macro_rules! shared_responses {
    ($($name:ident => $description:literal,)*) => {
        $(
            #[doc = $description]
            pub(crate) struct $name;

            impl<'r> utoipa::ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (stringify!($name), problem_response($description))
                }
            }
        )*
    };
}

shared_responses! {
    BadRequest => "The parameters do not parse or do not fit together (reason bad_request).",
    NotFound => "Nothing is served here (reason not_found).",
    Unauthenticated => "This server requires a bearer token and none, or a wrong one, was given (reason unauthenticated).",
    NotAdmin => "This needs an admin token (reason not_admin).",
    TooLarge => "The request body is larger than 64 KiB (reason too_large).",
    UriTooLong => "The request target is longer than 8 KiB (reason uri_too_long).",
    HeadersTooLarge => "The request headers are larger than 32 KiB (reason headers_too_large).",
    Busy => "The server runs as many queries as it may and the queue is full, or the query needs more memory than one query may take (reason busy or memory_limit); retry shortly.",
    TimedOut => "The query ran past the server's time limit (reason time_limit).",
    Internal => "The query failed on the server's side (reason internal).",
}

fn problem_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .build()
        .into()
}

/// What the document says besides its operations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "naap HTTP API",
        version = "1",
        description = "Scores, measurements and routing for the Livepeer network, computed from the naap lake. \
            Read endpoints are public unless the server runs with --auth-file; then send \
            `Authorization: Bearer <token>`. A figure without evidence is null or absent, never 0. \
            Every error answers JSON {reason, error}: `reason` is a stable code, `error` a sentence for people. \
            Requests that query the lake run within the server's query limits (see SECURITY.md): past them \
            they answer 503 (busy, memory_limit) or 504 (time_limit). Answers that depend on a rule version \
            name the versions they used in the `naap-rules` header."
    ),
    components(
        schemas(Problem),
        responses(
            BadRequest,
            NotFound,
            Unauthenticated,
            NotAdmin,
            TooLarge,
            UriTooLong,
            HeadersTooLarge,
            Busy,
            TimedOut,
            Internal
        )
    ),
    modifiers(&Bearer)
)]
struct Base;

/// Tokens from `--auth-file`: optional unless the file says reads need one.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        doc.security = Some(vec![
            SecurityRequirement::default(),
            SecurityRequirement::new("bearer", Vec::<String>::new()),
        ]);
    }
}

/// The API's routes: those that answer from memory, and those that query
/// the lake (which `serve` runs in the query slots).
pub(super) struct Routes {
    pub plain: OpenApiRouter<AppState>,
    pub queried: OpenApiRouter<AppState>,
}

impl Routes {
    pub fn new() -> Routes {
        let plain = OpenApiRouter::default()
            .routes(routes!(super::healthz))
            .routes(routes!(super::metrics))
            .routes(routes!(super::openapi_document))
            .routes(routes!(super::scores))
            .routes(routes!(queried::rules))
            .routes(routes!(super::dashboard_page))
            .routes(routes!(super::dashboard_asset));
        let mut queried = OpenApiRouter::default()
            .routes(routes!(perf_stats::orch_perf_stats))
            .routes(routes!(router::select))
            .routes(routes!(dashboard::overview))
            .routes(routes!(dashboard::orchestrators))
            .routes(routes!(dashboard::orchestrator))
            .routes(routes!(charts::chart))
            .routes(routes!(dashboard::leaderboards))
            .routes(routes!(queried::quarantine_summary))
            .routes(routes!(queried::quarantine_recent))
            .routes(routes!(explorer::aggregated_stats))
            .routes(routes!(explorer::raw_stats))
            .routes(routes!(explorer::explorer_pipelines))
            .routes(routes!(explorer::explorer_regions))
            .routes(routes!(perf_stats::orch_webhook))
            .routes(routes!(requests::ai_batch_summary))
            .routes(routes!(requests::ai_batch_jobs))
            .routes(routes!(requests::llm_summary))
            .routes(routes!(requests::byoc_summary))
            .routes(routes!(requests::byoc_jobs))
            .routes(routes!(requests::byoc_workers))
            .routes(routes!(requests::byoc_auth))
            .routes(routes!(requests::models))
            .routes(routes!(requests::orchestrators))
            .routes(routes!(requests::by_orchestrator))
            .routes(routes!(naap_dashboard::kpi))
            .routes(routes!(naap_dashboard::pipelines))
            .routes(routes!(naap_dashboard::orchestrators))
            .routes(routes!(naap_dashboard::gpu_capacity))
            .routes(routes!(naap_dashboard::pipeline_catalog))
            .routes(routes!(naap_dashboard::pricing))
            .routes(routes!(naap_dashboard::job_feed))
            .routes(routes!(streaming::models))
            .routes(routes!(streaming::orchestrators))
            .routes(routes!(streaming::sla))
            .routes(routes!(streaming::demand))
            .routes(routes!(streaming::gpu_metrics))
            .routes(routes!(backtests::backtests))
            .routes(routes!(leaderboard::rank))
            .routes(routes!(leaderboard::python_gateway))
            .routes(routes!(discover::discover));
        answers_too(
            queried.get_openapi_mut(),
            &[("503", "Busy"), ("504", "TimedOut"), ("500", "Internal")],
        );
        Routes { plain, queried }
    }

    /// The OpenAPI document of these routes.
    pub fn document(&self) -> OpenApi {
        let mut doc = <Base as utoipa::OpenApi>::openapi();
        doc.merge(self.plain.get_openapi().clone());
        doc.merge(self.queried.get_openapi().clone());
        answers_too(
            &mut doc,
            &[
                ("401", "Unauthenticated"),
                ("413", "TooLarge"),
                ("414", "UriTooLong"),
                ("431", "HeadersTooLarge"),
            ],
        );
        doc
    }
}

/// Adds the shared `responses` (status, component name) to every operation
/// of `doc` that does not document that status itself.
fn answers_too(doc: &mut OpenApi, responses: &[(&str, &str)]) {
    for item in doc.paths.paths.values_mut() {
        let operations: [&mut Option<Operation>; 8] = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, name) in responses {
                operation
                    .responses
                    .responses
                    .entry((*status).to_owned())
                    .or_insert_with(|| Ref::from_response_name(*name).into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> serde_json::Value {
        serde_json::to_value(Routes::new().document()).expect("the document encodes")
    }

    /// Every `$ref` in `node` names something the document defines.
    fn refs_resolve(doc: &serde_json::Value, node: &serde_json::Value, at: &str) {
        match node {
            serde_json::Value::Object(map) => {
                if let Some(target) = map.get("$ref").and_then(|r| r.as_str()) {
                    let found = target
                        .trim_start_matches("#/")
                        .split('/')
                        .try_fold(doc, |n, part| n.get(part));
                    assert!(found.is_some(), "{at}: {target} is not defined");
                }
                for (k, v) in map {
                    refs_resolve(doc, v, &format!("{at}/{k}"));
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs_resolve(doc, v, at)),
            _ => {}
        }
    }

    #[test]
    fn every_route_is_documented_with_its_answers_and_every_reference_resolves() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        assert_eq!(paths.len(), 47, "{:?}", paths.keys().collect::<Vec<_>>());
        for (path, item) in paths {
            for (method, operation) in item.as_object().expect("item") {
                let responses = &operation["responses"];
                assert!(responses["200"].is_object(), "{method} {path}: no 200");
                assert!(responses["401"].is_object(), "{method} {path}: no 401");
            }
        }
        for queried in [
            "/v1/select",
            "/orch-perf-stats",
            "/api/pipelines",
            "/v1/quarantine/recent",
            "/v1/charts/{chart}",
            "/v1/leaderboards",
        ] {
            let responses = &paths[queried]["get"]["responses"];
            for status in ["503", "504", "500"] {
                assert!(responses[status].is_object(), "{queried}: no {status}");
            }
        }
        assert!(
            paths["/healthz"]["get"]["responses"]["503"].is_null(),
            "no query, no 503"
        );
        refs_resolve(&doc, &doc, "");
        let reasons = &doc["components"]["schemas"]["Error"]["properties"]["reason"];
        let reasons = serde_json::to_string(reasons).expect("encodes");
        for code in ["bad_request", "not_admin", "time_limit", "internal"] {
            assert!(reasons.contains(code), "{reasons}");
        }
    }

    #[test]
    fn a_route_answers_only_the_methods_it_documents() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let methods: Vec<&String> = item.as_object().expect("item").keys().collect();
            // Read-only: the one POST is the leaderboard's ranking, which
            // reads a request body and writes nothing.
            let expected = if path == "/api/v1/orchestrator-leaderboard/rank" {
                "post"
            } else {
                "get"
            };
            assert_eq!(methods, [expected], "{path}: the API is read-only");
        }
    }
}
