//! The worker's HTTP API: `POST /runs` (answers the run's events as NDJSON as they
//! happen), `DELETE /runs/{execution_id}`, `GET /healthz`. Every route but `/healthz`
//! needs the worker token.

use crate::bundles::BundleCache;
use crate::error::WorkerError;
use crate::protocol::{EVENTS_CONTENT_TYPE, RunRequest, WorkerHealth};
use crate::run::Runner;
use actix_web::{HttpRequest, HttpResponse, web};
use caravan_core::ApiError;
use futures_util::stream;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// What the worker's handlers share.
#[derive(Debug)]
pub struct WorkerState {
    pub token: String,
    pub bundles: BundleCache,
    pub runner: Arc<Runner>,
    pub max_runs: usize,
}

impl WorkerState {
    fn authorize(&self, request: &HttpRequest) -> Result<(), WorkerError> {
        let presented = request
            .headers()
            .get("Authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        if bool::from(presented.as_bytes().ct_eq(self.token.as_bytes())) {
            Ok(())
        } else {
            Err(WorkerError::Unauthorized)
        }
    }
}

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(web::resource("/healthz").route(web::get().to(health)))
        .service(web::resource("/runs").route(web::post().to(start_run)))
        .service(
            web::resource("/runs/{execution_id}")
                .route(web::get().to(run_status))
                .route(web::delete().to(cancel_run)),
        );
}

async fn health(state: web::Data<WorkerState>) -> HttpResponse {
    HttpResponse::Ok().json(WorkerHealth {
        status: "ok".to_owned(),
        running: state.runner.running(),
        capacity: state.max_runs,
    })
}

async fn start_run(
    request: HttpRequest,
    state: web::Data<WorkerState>,
    body: web::Json<RunRequest>,
) -> Result<HttpResponse, ApiError> {
    state.authorize(&request)?;
    if state.runner.running() >= state.max_runs {
        return Err(WorkerError::Busy(state.max_runs).into());
    }
    let run = body.into_inner();
    if run.timeout_ms == 0 {
        return Err(WorkerError::InvalidRequest("timeout_ms must be positive".to_owned()).into());
    }
    let prepared = state.bundles.prepare(&run).await?;
    let events = state.runner.start(run, prepared);
    let lines = stream::unfold(events, |mut events| async move {
        let event = events.recv().await?;
        Some((Ok::<_, actix_web::Error>(web::Bytes::from(event.to_line())), events))
    });
    Ok(HttpResponse::Ok().content_type(EVENTS_CONTENT_TYPE).streaming(lines))
}

/// 200 while the run goes on here, 404 once it is over or was never here.
async fn run_status(
    request: HttpRequest,
    state: web::Data<WorkerState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.authorize(&request)?;
    let id = path.into_inner();
    if state.runner.is_running(&id) {
        Ok(HttpResponse::Ok().json(serde_json::json!({ "execution_id": id, "running": true })))
    } else {
        Err(WorkerError::RunNotFound(id).into())
    }
}

async fn cancel_run(
    request: HttpRequest,
    state: web::Data<WorkerState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state.authorize(&request)?;
    let id = path.into_inner();
    if state.runner.cancel(&id) {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(WorkerError::RunNotFound(id).into())
    }
}
