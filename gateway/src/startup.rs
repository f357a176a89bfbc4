//! Builds the server from [`Settings`]: opens and migrates the database, binds the
//! listener (port 0 picks a free port, which tests rely on), and composes middleware and
//! every crate's routes into one actix-web app.

use crate::config::Settings;
use crate::metrics::HttpMetrics;
use crate::rate_limit::RateLimits;
use crate::{middleware, routes};
use actix_web::dev::Server;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use caravan_core::plans::PlanCatalog;
use caravan_core::{Database, error};
use caravan_portal_api::KeyStore;
use caravan_portal_api::bootstrap::Bootstrapped;
use caravan_registry::Registry;
use caravan_registry::blobs::BlobStore;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;
use utoipa_swagger_ui::SwaggerUi;

/// A built server, bound and ready to run.
pub struct Application {
    address: SocketAddr,
    database: Database,
    server: Server,
    bootstrapped: Option<Bootstrapped>,
    key_store: web::Data<KeyStore>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let database = open_database(&settings).await?;
        let plans = settings.plans()?;
        let bootstrapped = bootstrap(&database, &plans, settings.bootstrap_key()).await?;
        let key_store =
            web::Data::new(KeyStore::new(database.clone(), Duration::from_secs(settings.auth_cache_ttl_s)));
        let limits = web::Data::new(RateLimits::new(&plans));
        let plans = web::Data::new(plans);
        spawn_maintenance(
            &key_store,
            &limits,
            Duration::from_secs(settings.rate_limit_purge_interval_s.max(1)),
        );
        let registry = web::Data::new(Registry {
            blobs: BlobStore::local(&settings.blob_dir())?,
            policy: settings.registry.admission.clone(),
        });
        let metrics = web::Data::new(HttpMetrics::new().context("cannot register metrics")?);
        let document = crate::openapi_document();
        let body_limit = settings.body_limit_bytes;

        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let address = listener.local_addr()?;
        let app_database = web::Data::new(database.clone());
        let app_key_store = key_store.clone();

        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(ErrorHandlers::new().default_handler(error::problem_fallback))
                .wrap(from_fn(middleware::observe))
                .app_data(app_database.clone())
                .app_data(app_key_store.clone())
                .app_data(limits.clone())
                .app_data(plans.clone())
                .app_data(registry.clone())
                .app_data(metrics.clone())
                .app_data(error::json_config(body_limit))
                .app_data(error::payload_config(body_limit))
                .app_data(error::form_config(body_limit))
                .app_data(error::query_config())
                .app_data(error::path_config())
                .configure(routes::configure)
                .service(
                    web::scope("/v1")
                        .wrap(from_fn(middleware::admission))
                        .configure(caravan_portal_api::configure)
                        .configure(caravan_registry::configure)
                        .configure(caravan_metering::configure),
                )
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
        Ok(Self { address, database, server, bootstrapped, key_store })
    }

    /// What the first start on an empty database created: the operator's admin key,
    /// which the caller shows once. `None` on every later start.
    pub fn take_bootstrapped(&mut self) -> Option<Bootstrapped> {
        self.bootstrapped.take()
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
        let outcome = self.server.await;
        if let Err(error) = self.key_store.flush_last_used().await {
            tracing::warn!(error = %error, "could not record the last use of API keys");
        }
        outcome
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

/// Creates the operator tenant and its admin key on an empty database.
async fn bootstrap(
    database: &Database,
    plans: &PlanCatalog,
    chosen: Option<&str>,
) -> anyhow::Result<Option<Bootstrapped>> {
    let plans = plans.clone();
    let chosen = chosen.map(str::to_owned);
    let created = database
        .run(move |connection| {
            caravan_portal_api::bootstrap::bootstrap(connection, &plans, chosen.as_deref())
        })
        .await
        .context("cannot create the operator tenant")?;
    if let Some(created) = &created {
        tracing::info!(tenant = %created.tenant_id, key = %created.key_id, "created the operator tenant and its admin key");
    }
    Ok(created)
}

/// Background upkeep: writes keys' last use every few seconds and purges idle limiter
/// state on `purge_interval`. Both stop with the server's runtime.
fn spawn_maintenance(
    key_store: &web::Data<KeyStore>,
    limits: &web::Data<RateLimits>,
    purge_interval: Duration,
) {
    let key_store = key_store.clone();
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(Duration::from_secs(5));
        loop {
            ticks.tick().await;
            if let Err(error) = key_store.flush_last_used().await {
                tracing::warn!(error = %error, "could not record the last use of API keys");
            }
        }
    });
    let limits = limits.clone();
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(purge_interval);
        loop {
            ticks.tick().await;
            let limits = limits.clone();
            if let Ok(remaining) = web::block(move || limits.purge()).await {
                tracing::debug!(remaining, "purged idle rate-limit state");
            }
        }
    });
}
