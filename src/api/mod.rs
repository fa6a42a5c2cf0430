//! The HTTP API: one axum router, served by `lambda_http` behind API Gateway (HTTP API,
//! payload v2) and by hyper for `reportq serve`. Handlers are thin, one file per resource:
//! [`reports`], [`batches`], [`scoring`], [`diagram`] (DiAGRAM's old routes), [`web`] (the
//! page, its client module, the templates listing); submission and
//! its rules are [`crate::submit`], answers are [`crate::wire`] types.
//!
//! Every route is listed once in [`routes`]; the router is built from that table and
//! `openapi.json` describes the same table (a test holds the two together).

mod archives;
mod batches;
mod body;
mod error;
mod legacy;
mod manifests;
pub mod openapi;
mod reports;
mod scoring;
mod verify;
mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use serde_json::json;

pub use error::ApiError;

use crate::access::Access;
use crate::config::ApiSettings;
use crate::domain::access::{Caller, Scope};
use crate::domain::trace::Trace;
use crate::queue::JobQueue;
use crate::scoring::{NetworkError, Scorer};
use crate::store::{Deliveries, JobStore, ReportLinks};
use crate::submit::Submitter;
use crate::wire::Health;

/// Everything a request handler needs; shared by all requests.
pub struct ApiState {
    pub submitter: Submitter,
    pub cfg: ApiSettings,
    /// The DiAGRAM network, or why there is none (the scoring routes answer 503 with it; the
    /// report routes carry on, needing every score given).
    pub scorer: Result<Arc<Scorer>, NetworkError>,
    /// The last answer of S3 and the queues to `/healthz`, and when it was asked.
    health: tokio::sync::Mutex<Option<(std::time::Instant, bool, bool)>>,
    /// Each lane's backlog as last read, when, and what this instance sent since.
    backlog: std::sync::Mutex<[Option<(std::time::Instant, u64)>; 2]>,
    /// Who may call the `/v1` routes, and their quotas.
    pub access: Access,
    /// Finished reports' download links.
    pub links: ReportLinks,
    /// Webhook deliveries (shown with their job).
    pub deliveries: Deliveries,
}

/// How long a queue's depth is reused: one GetQueueAttributes per lane per this, whatever the
/// request rate.
const BACKLOG_CACHE: Duration = Duration::from_secs(5);
/// What `Retry-After` says when the queue is too full.
const OVERLOADED_RETRY_AFTER: u64 = 30;

impl ApiState {
    /// Messages waiting on a lane's queue (read at most every [`BACKLOG_CACHE`], plus what this
    /// instance has sent since). A queue that does not answer counts as empty: the send that
    /// follows fails clearly on its own.
    pub async fn backlog(&self, lane: crate::queue::Lane) -> u64 {
        let i = lane as usize;
        if let Some((at, n)) = self.backlog.lock().unwrap_or_else(|e| e.into_inner())[i]
            && at.elapsed() < BACKLOG_CACHE
        {
            return n;
        }
        let queue = match lane {
            crate::queue::Lane::Interactive => &self.submitter.interactive,
            crate::queue::Lane::Bulk => &self.submitter.queue,
        };
        let n = match tokio::time::timeout(Duration::from_secs(2), queue.depth()).await {
            Ok(Ok(n)) => n,
            _ => 0,
        };
        self.backlog.lock().unwrap_or_else(|e| e.into_inner())[i] = Some((std::time::Instant::now(), n));
        n
    }

    /// Counts `n` messages just sent into the cached backlog, so that a burst within one cache
    /// period cannot slip past the limit.
    pub fn sent(&self, lane: crate::queue::Lane, n: u64) {
        if let Some((_, depth)) = &mut self.backlog.lock().unwrap_or_else(|e| e.into_inner())[lane as usize] {
            *depth += n;
        }
    }

    /// Admission control: refuses `adding` more messages on `lane` past its limit.
    pub async fn admit(&self, lane: crate::queue::Lane, adding: u64) -> Result<(), ApiError> {
        let limit = match lane {
            crate::queue::Lane::Interactive => self.cfg.max_interactive_backlog,
            crate::queue::Lane::Bulk => self.cfg.max_backlog,
        };
        let waiting = self.backlog(lane).await;
        if waiting + adding > limit {
            tracing::warn!(lane = lane.as_str(), waiting, adding, limit, "refused: the queue's backlog is over the limit");
            return Err(ApiError::Overloaded { lane: lane.as_str(), waiting, retry_after: OVERLOADED_RETRY_AFTER });
        }
        Ok(())
    }
}

/// How long `/healthz` reuses its last look at S3 and the queues: a load balancer or uptime
/// check polling every second costs one S3 and one SQS call per this many seconds.
const HEALTH_CACHE: Duration = Duration::from_secs(5);

type Shared = Arc<ApiState>;

/// One route: the router, the access checks and the OpenAPI document are all made from this
/// table.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    /// What a caller needs for it when authentication is on; `None`: open to anyone (DiAGRAM's
    /// routes, which a static frontend calls without a secret; health; the page; the docs).
    pub scope: Option<Scope>,
}

macro_rules! routes {
    ($($m:ident $p:literal $scope:ident => $h:expr;)*) => {
        /// Every route the API serves.
        pub fn routes() -> Vec<Route> {
            vec![$(Route { method: Method::$m, path: $p, scope: routes!(@scope $scope) }),*]
        }

        fn build(router: Router<Shared>) -> Router<Shared> {
            let mut by_path: Vec<(&'static str, MethodRouter<Shared>)> = Vec::new();
            $(
                let mr = routes!(@method $m, $h);
                match by_path.iter_mut().find(|(p, _)| *p == $p) {
                    Some((_, existing)) => *existing = std::mem::take(existing).merge(mr),
                    None => by_path.push(($p, mr)),
                }
            )*
            by_path.into_iter().fold(router, |r, (p, mr)| r.route(p, mr))
        }
    };
    (@method GET, $h:expr) => { get($h) };
    (@method POST, $h:expr) => { post($h) };
    (@scope open) => { None };
    (@scope $s:ident) => { Some(Scope::$s) };
}

routes! {
    POST "/v1/reports" Submit => reports::submit;
    POST "/v1/reports/batch" Submit => batches::submit_batch;
    POST "/v1/reports/chart" Submit => reports::chart;
    POST "/v1/reports/csv" Submit => reports::csv;
    POST "/v1/reports/verify" Read => verify::verify;
    GET "/v1/reports/{id}" Read => reports::get_job;
    GET "/v1/reports/{id}/pdf" Read => reports::get_pdf;
    POST "/v1/batches" Submit => manifests::create;
    POST "/v1/batches/{id}/start" Submit => manifests::start;
    GET "/v1/batches/{id}" Read => batches::get_batch;
    POST "/v1/batches/{id}/archive" Read => archives::request;
    GET "/v1/batches/{id}/archive" Read => archives::get;
    POST "/v1/score" Score => scoring::score_many;
    POST "/v1/score/improvements" Score => scoring::improvements;
    POST "/api/model/score" open => legacy::score;
    POST "/api/validation/validate_json" open => legacy::validate;
    POST "/api/report/pdf" open => legacy::pdf;
    POST "/api/report/csv" open => legacy::csv;
    POST "/api/chart/plot" open => legacy::chart;
    GET "/api/test/is_alive" open => legacy::is_alive;
    POST "/api/test/is_alive" open => legacy::is_alive;
    GET "/v1/templates" open => web::list_templates;
    GET "/" open => web::index;
    GET "/reportq.js" open => web::client;
    GET "/healthz" open => healthz;
    GET "/openapi.json" open => openapi_doc;
}

/// The scope a route needs (`None`: open, or no such route). A method the table does not
/// list for a path (HEAD, which axum answers for every GET) needs what the path's routes need:
/// an unlisted method must never be a way around a key.
pub fn scope_of(method: &Method, path: &str) -> Option<Scope> {
    let all = routes();
    match all.iter().find(|r| r.method == method && r.path == path) {
        Some(r) => r.scope,
        None => all.iter().filter(|r| r.path == path).find_map(|r| r.scope),
    }
}

/// Who is calling, for the routes that need a scope: an API key, or the JWT claims API
/// Gateway's authorizer passed on. Open routes get [`Caller::open`]. Runs after routing, so
/// the route's own path (never the raw one) decides.
async fn authorize(axum::extract::State(s): axum::extract::State<Shared>, mut req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use lambda_http::RequestExt;
    let route = req.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
    let caller = match scope_of(req.method(), &route) {
        None => Caller::open(),
        Some(scope) => {
            let auth = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            let claims = req.request_context_ref().and_then(|c| c.authorizer()).and_then(|a| a.jwt.as_ref()).map(|j| &j.claims);
            match s.access.authenticate(auth, claims, scope).await {
                Ok(c) => c,
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The API as a router, with CORS for the configured origins.
pub fn router(state: Arc<ApiState>) -> Router {
    let cors = cors(&state.cfg.cors_origins);
    build(Router::new())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), authorize))
        // After routing, so the span names the matched route, never the raw path (ids stay out).
        .route_layer(axum::middleware::from_fn(trace_request))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::map_response(json_rejections))
        .layer(cors)
        .with_state(state)
}

/// One span per request (method, matched route, API Gateway's request id) and one event when
/// it is answered (status, latency): what an operator filters CloudWatch Logs Insights by.
/// Bodies are never logged: they are the users' data.
async fn trace_request(mut req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use lambda_http::RequestExt;
    use tracing::Instrument;
    let route = req.extensions().get::<axum::extract::MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
    let request_id = match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(c)) => c.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    };
    let trace = request_trace(&req);
    req.extensions_mut().insert(trace);
    let trace_id = trace.trace_id_hex();
    let span = tracing::info_span!("request", method = %req.method(), route, request_id, trace_id);
    let start = std::time::Instant::now();
    let resp = next.run(req).instrument(span.clone()).await;
    let status = resp.status().as_u16();
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| tracing::info!(status, latency_ms, "answered"));
    let dims = [("Route", route.as_str()), ("StatusClass", crate::metrics::status_class(status))];
    crate::metrics::count("ApiRequests", &dims, 1.0);
    crate::metrics::observe("ApiLatencyMs", &dims, latency_ms);
    resp
}

/// The trace a request belongs to: the Lambda invocation's (X-Ray, when tracing is on), the
/// caller's (`traceparent`, `X-Amzn-Trace-Id`), or a new one.
fn request_trace(req: &axum::extract::Request) -> Trace {
    use lambda_http::RequestExt;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    req.lambda_context_ref()
        .and_then(|c| c.xray_trace_id.as_deref())
        .and_then(Trace::from_xray)
        .or_else(|| header("traceparent").and_then(Trace::from_traceparent))
        .or_else(|| header("x-amzn-trace-id").and_then(Trace::from_xray))
        .unwrap_or_default()
}

/// axum's own extractor rejections (a malformed query string or path) answer in plain text;
/// every error this API gives is `{"error": {...}}`, so those are rewrapped here, once.
async fn json_rejections(resp: Response) -> Response {
    let plain = resp.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("text/plain"));
    if !(resp.status().is_client_error() && plain) {
        return resp;
    }
    let status = resp.status();
    let text = axum::body::to_bytes(resp.into_body(), 64 * 1024).await.unwrap_or_default();
    let body = json!({ "error": { "code": "bad_request", "message": String::from_utf8_lossy(&text) } });
    (status, axum::Json(body)).into_response()
}

fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::HeaderName::from_static("idempotency-key")])
        .expose_headers([header::LOCATION, header::CONTENT_DISPOSITION, header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

/// Whether S3 and the queues answer (looked at most every [`HEALTH_CACHE`]), the version and
/// commit; `503` when either does not answer.
async fn healthz(axum::extract::State(s): axum::extract::State<Shared>) -> Response {
    let (s3, queue) = {
        let mut cached = s.health.lock().await;
        match *cached {
            Some((at, s3, queue)) if at.elapsed() < HEALTH_CACHE => (s3, queue),
            _ => {
                let sub = &s.submitter;
                let limit = Duration::from_secs(3);
                let ok = |r: Result<Result<(), String>, _>| matches!(r, Ok(Ok(())));
                let (s3, bulk, interactive) = tokio::join!(
                    tokio::time::timeout(limit, async { sub.store.ping().await.map_err(|e| e.to_string()) }),
                    tokio::time::timeout(limit, async { sub.queue.ping().await.map_err(|e| e.to_string()) }),
                    tokio::time::timeout(limit, async { sub.interactive.ping().await.map_err(|e| e.to_string()) }),
                );
                let (s3, queue) = (ok(s3), ok(bulk) && ok(interactive));
                if !(s3 && queue) {
                    tracing::warn!(s3, queue, "health check: a dependency does not answer");
                }
                *cached = Some((std::time::Instant::now(), s3, queue));
                (s3, queue)
            }
        }
    };
    let up = s3 && queue;
    let body = Health {
        status: if up { "ok" } else { "degraded" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        commit: env!("REPORTQ_GIT_COMMIT").into(),
        scoring: s.scorer.is_ok(),
        s3,
        queue,
    };
    let status = if up { axum::http::StatusCode::OK } else { axum::http::StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

async fn openapi_doc() -> Response {
    axum::Json(openapi::document()).into_response()
}

impl ApiState {
    /// Interactive jobs (a single report, DiAGRAM's PDF route) go to this queue of their own.
    pub fn with_interactive(mut self, queue: Arc<dyn JobQueue>) -> ApiState {
        self.submitter = self.submitter.with_interactive(queue);
        self
    }

    /// The API over any store and queue (the in-memory ones in the domain tests). A missing or
    /// broken network is not fatal: the scoring routes say what to fix.
    pub fn new(cfg: ApiSettings, store: Arc<dyn JobStore>, queue: Arc<dyn JobQueue>) -> ApiState {
        let scorer = crate::scoring::load(cfg.diagram_model.as_deref());
        if let Err(e) = &scorer {
            tracing::warn!(error = %e, "scoring routes disabled");
        }
        let mut access = Access::new(cfg.auth, store.clone());
        access.jwt = cfg.jwt.clone();
        let links = ReportLinks::new(store.clone(), cfg.url_expiry);
        let deliveries = Deliveries::new(store.clone());
        ApiState {
            submitter: Submitter::new(store, queue),
            cfg,
            scorer,
            health: Default::default(),
            backlog: Default::default(),
            access,
            links,
            deliveries,
        }
    }
}

/// `reportq serve`: the same router over plain HTTP, until `stop` resolves.
pub async fn serve(
    state: ApiState,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // `/metrics` (Prometheus text) is for `reportq serve` only: on Lambda each instance has
    // its own registry, and the figures travel as EMF instead.
    let app = router(Arc::new(state)).route("/metrics", get(metrics_text));
    axum::serve(listener, app).with_graceful_shutdown(stop).await
}

/// The metrics registry in the Prometheus text format.
pub async fn metrics_text() -> Response {
    let mut resp = crate::metrics::prometheus().into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    resp
}

/// `reportq worker`'s `/metrics`, on a port of its own (`REPORTQ_METRICS_LISTEN`).
pub async fn serve_metrics(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, Router::new().route("/metrics", get(metrics_text))).await
}
