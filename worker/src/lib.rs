//! The reference worker backend (`caravan worker`): receives runs from the gateway,
//! downloads and verifies their bundles (digest and publisher signature), caches them by
//! digest, and runs each capsule's entrypoint contained and limited, streaming its events
//! back. [`protocol`] is what the gateway and a worker say to each other.

mod bundles;
pub mod config;
mod error;
pub mod protocol;
mod routes;
mod run;

pub use error::WorkerError;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use caravan_core::error as problems;
use config::WorkerSettings;
use run::{Containment, Runner};
use secrecy::ExposeSecret;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use utoipa::OpenApi;

/// The worker's API is internal (gateway to worker); it is not in the public document.
#[derive(Debug, OpenApi)]
#[openapi()]
pub struct ApiDoc;

/// A worker, bound and ready to run.
pub struct Worker {
    address: SocketAddr,
    server: Server,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("address", &self.address).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the worker needs a token (`token`, CARAVAN_WORKER_TOKEN)")]
    NoToken,
    #[error("{0}")]
    Sandbox(String),
    #[error("cannot prepare {0}")]
    Io(String, #[source] std::io::Error),
    #[error("cannot make the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error(transparent)]
    Bundles(#[from] WorkerError),
}

impl Worker {
    /// Binds the listener (port 0 picks one) and prepares the data directory.
    pub fn build(settings: WorkerSettings) -> Result<Self, StartError> {
        let token = settings
            .token
            .as_ref()
            .map(|token| token.expose_secret().to_owned())
            .ok_or(StartError::NoToken)?;
        let containment = Containment::detect(settings.sandbox).map_err(StartError::Sandbox)?;
        let bundles_dir = settings.data_dir.join("bundles");
        let runs_dir = settings.data_dir.join("runs");
        // Idle connections to the gateway are dropped before its 5 s keep-alive closes them.
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .map_err(StartError::Client)?;
        let bundles = bundles::BundleCache::new(bundles_dir.clone(), client, token.clone())?;
        let runner =
            Runner::new(settings.limits.clone(), containment, runs_dir.clone(), vec![bundles_dir, runs_dir])
                .map_err(|error| StartError::Io(settings.data_dir.display().to_string(), error))?;
        let state = web::Data::new(routes::WorkerState {
            token,
            bundles,
            runner: Arc::new(runner),
            max_runs: settings.max_runs.max(1),
        });
        let listener = TcpListener::bind(&settings.listen)
            .map_err(|error| StartError::Io(settings.listen.clone(), error))?;
        let address =
            listener.local_addr().map_err(|error| StartError::Io(settings.listen.clone(), error))?;
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::ErrorHandlers::new().default_handler(problems::problem_fallback))
                .app_data(state.clone())
                .app_data(problems::json_config(1024 * 1024))
                .app_data(problems::path_config())
                .configure(routes::configure)
                .default_service(web::to(problems::route_not_found))
        })
        .workers(2)
        .listen(listener)
        .map_err(|error| StartError::Io(settings.listen.clone(), error))?
        .run();
        tracing::info!(%address, "caravan worker listening on http://{address}");
        Ok(Self { address, server })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until the server is stopped (SIGTERM, SIGINT, or the runtime ends).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
