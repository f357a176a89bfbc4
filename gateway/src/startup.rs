//! Builds the server from [`Settings`]: opens and migrates the database, binds the
//! listener (port 0 picks a free port, which tests rely on), and composes middleware and
//! every crate's routes into one actix-web app.

use crate::config::Settings;
use crate::metrics::HttpMetrics;
use crate::{middleware, routes};
use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use caravan_core::{Database, error};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;
use utoipa_swagger_ui::SwaggerUi;

/// A built server, bound and ready to run.
pub struct Application {
    address: SocketAddr,
    database: Database,
    server: Server,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let database = open_database(&settings).await?;
        let metrics = web::Data::new(HttpMetrics::new().context("cannot register metrics")?);
        let document = crate::openapi_document();
        let body_limit = settings.body_limit_bytes;

        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let address = listener.local_addr()?;
        let app_database = web::Data::new(database.clone());

        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(ErrorHandlers::new().default_handler(error::problem_fallback))
                .wrap(from_fn(middleware::observe))
                .app_data(app_database.clone())
                .app_data(metrics.clone())
                .app_data(error::json_config(body_limit))
                .app_data(error::payload_config(body_limit))
                .app_data(error::form_config(body_limit))
                .app_data(error::query_config())
                .app_data(error::path_config())
                .configure(routes::configure)
                .configure(caravan_registry::configure)
                .configure(caravan_metering::configure)
                .configure(caravan_portal_api::configure)
                .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", document.clone()))
                .default_service(web::to(error::route_not_found))
        })
        .shutdown_timeout(settings.shutdown_timeout_s);
        if let Some(workers) = settings.workers {
            server = server.workers(workers.max(1));
        }
        let server = server.listen(listener)?.run();

        tracing::info!(
            address = %address,
            database = database.backend().as_str(),
            data_dir = %settings.data_dir.display(),
            "caravan listening on http://{address}"
        );
        Ok(Self { address, database, server })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn database(&self) -> &Database {
        &self.database
    }

    /// Serves until SIGTERM or SIGINT, then lets in-flight requests finish within the
    /// configured shutdown timeout.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Connects and applies pending migrations, off the async executor.
async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create data directory {}", settings.data_dir.display()))?;
    let target = settings.database_target()?;
    let options = settings.pool_options();
    let started = std::time::Instant::now();
    let database = web::block(move || -> anyhow::Result<Database> {
        let database = Database::connect(target, &options).context("cannot open the database")?;
        let applied = database.migrate().context("cannot apply migrations")?;
        for name in applied {
            tracing::info!(migration = name, "applied migration");
        }
        Ok(database)
    })
    .await??;
    tracing::debug!(elapsed_ms = duration_ms(started.elapsed()), "database ready");
    Ok(database)
}

fn duration_ms(duration: Duration) -> u128 {
    duration.as_millis()
}
