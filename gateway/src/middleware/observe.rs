//! The outermost middleware: gives the request its id, turns an error response the
//! framework made without a body of ours into problem+json ([`as_problem`]), measures the
//! request for Prometheus, logs it, and echoes `X-Request-Id`.
//!
//! Logging: a server error is logged at `error` with the request id and the cause chain
//! that `ApiError` attached to the response; every request is logged at `debug` (target
//! `caravan::access`). The per-request tracing span, which makes every log line inside a
//! handler carry the request id, is opened only when debug logging is on: at `info` it
//! would cost a tenth of the server's throughput on small requests.
//!
//! Written out as a [`Transform`] rather than with `from_fn`, and doing the work of
//! actix's `ErrorHandlers` itself rather than wrapping it: it runs on every request, and
//! each layer of boxed futures, app-data lookups and body mapping costs throughput.

use crate::metrics::{HttpMetrics, InFlight, UNMATCHED, WorkerInstruments};
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::{Method, StatusCode};
use actix_web::{Error, HttpMessage, web};
use caravan_core::ErrorCause;
use caravan_core::error::as_problem;
use caravan_core::request_id::{RequestIdentity, X_REQUEST_ID};
use futures_util::future::{Ready, ready};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;
use tracing::instrument::Instrumented;

/// The middleware's factory, given the metrics when the app is built.
#[derive(Debug, Clone)]
pub struct Observe {
    metrics: web::Data<HttpMetrics>,
}

impl Observe {
    pub fn new(metrics: web::Data<HttpMetrics>) -> Self {
        Self { metrics }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Observe
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = ObserveService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let instruments = WorkerInstruments::new(self.metrics.clone().into_inner());
        ready(Ok(ObserveService { service, instruments: Rc::new(instruments) }))
    }
}

/// The middleware in front of one worker's app.
pub struct ObserveService<S> {
    service: S,
    instruments: Rc<WorkerInstruments>,
}

impl<S> std::fmt::Debug for ObserveService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserveService").finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for ObserveService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = Observed<S::Future>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let identity = RequestIdentity::of(req.headers());
        let method = req.method().clone();
        let in_flight = self.instruments.request_started();
        let span = tracing::debug_span!("request", request_id = identity.as_str());
        req.extensions_mut().insert(identity.clone());
        let future = {
            let _entered = span.enter();
            self.service.call(req)
        };
        Observed {
            // Entered while the rest of the chain is polled and when it is dropped.
            future: future.instrument(span),
            started,
            identity: Some(identity),
            method,
            in_flight,
        }
    }
}

pin_project_lite::pin_project! {
    /// A request being answered, with what its measurement and log line need. It stays
    /// counted in flight until dropped, answered or not.
    pub struct Observed<F> {
        #[pin]
        future: Instrumented<F>,
        started: Instant,
        identity: Option<RequestIdentity>,
        method: Method,
        in_flight: InFlight,
    }
}

impl<F, B> Future for Observed<F>
where
    F: Future<Output = Result<ServiceResponse<B>, Error>>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, Error>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(identity) = this.identity.take() else {
            // Polled again after it answered: there is nothing more to give.
            return Poll::Pending;
        };
        let outcome = match this.future.poll(context) {
            Poll::Ready(outcome) => outcome,
            Poll::Pending => {
                *this.identity = Some(identity);
                return Poll::Pending;
            }
        };
        let outcome = outcome.map(|response| {
            let status = response.status();
            if status.is_client_error() || status.is_server_error() {
                as_problem(response)
            } else {
                response.map_into_left_body()
            }
        });
        let elapsed = this.started.elapsed();
        let (route, status) = match &outcome {
            Ok(response) => (response.request().match_pattern(), response.status()),
            Err(error) => (None, error.as_response_error().status_code()),
        };
        let route = route.unwrap_or_else(|| UNMATCHED.to_owned());
        log_answer(&identity, this.method, &route, status, elapsed.as_secs_f64() * 1e3, &outcome);
        this.in_flight.answered(this.method, route, status, elapsed);
        let mut response = outcome?;
        response.headers_mut().insert(X_REQUEST_ID, identity.0);
        Poll::Ready(Ok(response))
    }
}

fn log_answer<B>(
    identity: &RequestIdentity,
    method: &Method,
    route: &str,
    status: StatusCode,
    elapsed_ms: f64,
    outcome: &Result<ServiceResponse<B>, Error>,
) {
    let request_id = identity.as_str();
    if status.is_server_error() {
        let cause = outcome
            .as_ref()
            .ok()
            .and_then(|response| response.response().extensions().get::<ErrorCause>().cloned());
        let cause = cause.map(|cause| cause.0).unwrap_or_default();
        tracing::error!(target: "caravan::access", request_id, %method, route, %status, elapsed_ms, cause, "request failed");
    } else {
        tracing::debug!(target: "caravan::access", request_id, %method, route, %status, elapsed_ms, "request answered");
    }
}
