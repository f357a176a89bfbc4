//! Builds the server from [`Settings`]: opens and migrates the database, binds the
//! listener (port 0 picks a free port, which tests rely on), and composes middleware and
//! every crate's routes into one actix-web app.

use crate::config::Settings;
use crate::metrics::HttpMetrics;
use crate::rate_limit::RateLimits;
use crate::{middleware, routes};
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use caravan_core::plans::PlanCatalog;
use caravan_core::{Database, error};
use caravan_metering::Metering;
use caravan_metering::domain::meter::MeterCatalog;
use caravan_metering::executions::admission::{AdmissionCaches, RunTermsCache};
use caravan_metering::executions::dispatch::Dispatcher;
use caravan_metering::executions::ends::EndRecorder;
use caravan_metering::executions::pool::{Backend, TIERS, WorkerPool, configured_id};
use caravan_metering::executions::webhooks::Deliverer;
use caravan_metering::stripe::StripeSync;
use caravan_portal_api::KeyStore;
use caravan_portal_api::bootstrap::Bootstrapped;
use caravan_portal_api::web::SignInThrottle;
use caravan_registry::Registry;
use caravan_registry::blobs::BlobStore;
use caravan_registry::runnable::RunCache;
use caravan_registry::search::index::SearchIndex;
use caravan_worker::Worker;
use caravan_worker::config::WorkerSettings;
use secrecy::ExposeSecret;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
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
        let sign_in_throttle = web::Data::new(SignInThrottle::per_minute(
            settings.portal.sign_in_attempts_per_minute,
            settings.portal.trusted_proxies.clone(),
        ));
        spawn_maintenance(
            &key_store,
            &limits,
            &sign_in_throttle,
            Duration::from_secs(settings.rate_limit_purge_interval_s.max(1)),
        );
        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let address = listener.local_addr()?;
        let runs = RunCache::default();
        let dispatcher = executions(&settings, &database, address, &plans, &runs).await?;
        let metering = web::Data::new(metering(&settings, &plans, dispatcher)?);
        if let Some(stripe) = &metering.stripe {
            stripe.spawn(database.clone());
        }
        let search = SearchIndex::open(&settings.search_dir()).context("cannot open the search index")?;
        caravan_registry::search::spawn_follower(
            search.clone(),
            database.clone(),
            Duration::from_millis(250),
            Duration::from_secs(settings.registry.rank_interval_s.max(1)),
        );
        let registry = web::Data::new(Registry {
            blobs: BlobStore::local(&settings.blob_dir())?,
            policy: settings.registry.admission.clone(),
            search,
            runs,
        });
        let plans = web::Data::new(plans);
        let metrics = web::Data::new(HttpMetrics::new().context("cannot register metrics")?);
        let document = crate::openapi_document();
        let allowed_methods =
            web::Data::new(error::AllowedMethods(caravan_openapi::allowed_methods(&document)));
        let body_limit = settings.body_limit_bytes;

        let portal_session = caravan_portal_api::web::SessionSettings {
            key: actix_web::cookie::Key::from(&settings.portal_session_key()?),
            secure: settings.portal.secure_cookies,
        };
        let public_url = caravan_portal_api::web::PublicUrl::parse(settings.portal.public_url.as_deref())
            .context("invalid [portal] public_url")?;
        let public_url = web::Data::new(public_url);
        let app_database = web::Data::new(database.clone());
        let app_key_store = key_store.clone();

        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(middleware::Observe::new(metrics.clone()))
                .app_data(app_database.clone())
                .app_data(app_key_store.clone())
                .app_data(limits.clone())
                .app_data(plans.clone())
                .app_data(registry.clone())
                .app_data(metering.clone())
                .app_data(metrics.clone())
                .app_data(allowed_methods.clone())
                .app_data(public_url.clone())
                .app_data(sign_in_throttle.clone())
                .app_data(error::json_config(body_limit))
                .app_data(error::payload_config(body_limit))
                .app_data(error::form_config(body_limit))
                .app_data(error::query_config())
                .app_data(error::path_config())
                .configure(routes::configure)
                .configure(caravan_metering::configure_public)
                .service(
                    web::scope("/portal")
                        .wrap(caravan_portal_api::web::middleware(&portal_session))
                        .configure(caravan_portal_api::web::configure),
                )
                .service(
                    web::scope("/v1")
                        .wrap(middleware::Admission::new(app_key_store.clone(), limits.clone()))
                        .configure(caravan_portal_api::configure)
                        // Metering before the registry: each resource with a `{…}` segment
                        // tried before the matching one runs its regex on the path, and the
                        // registry has thirteen under `/capsules/` that a run
                        // (`/capsules/{publisher}/{name}/executions`) would pass first.
                        .configure(caravan_metering::configure)
                        .configure(caravan_registry::configure),
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

/// Meters (built-in and configured, checked against the plans' prices) and Stripe.
fn metering(settings: &Settings, plans: &PlanCatalog, executions: Dispatcher) -> anyhow::Result<Metering> {
    let stripe = StripeSync::from_settings(&settings.stripe).context("invalid [stripe] settings")?;
    Ok(Metering {
        meters: executions.meters.clone(),
        plans: plans.clone(),
        stripe,
        webhook_secrets: settings.stripe.webhook_secrets(),
        executions,
    })
}

/// The worker pool (configured, registered, or the embedded worker), the webhook outbox,
/// the sweeper of lost runs, and the health checks.
async fn executions(
    settings: &Settings,
    database: &Database,
    address: SocketAddr,
    plans: &PlanCatalog,
    runs: &RunCache,
) -> anyhow::Result<Dispatcher> {
    let meters = MeterCatalog::new(&settings.metering.meters).context("invalid [[metering.meters]]")?;
    meters.check_plans(plans).context("invalid plans")?;
    let workers = &settings.executions;
    let token = match &workers.token {
        Some(token) => token.expose_secret().to_owned(),
        None if workers.workers.is_empty() => random_token(),
        None => anyhow::bail!(
            "[[executions.workers]] need a shared `executions.token` (CARAVAN_EXECUTIONS__TOKEN)"
        ),
    };
    // Idle connections are dropped well before a worker's keep-alive closes them (actix
    // servers: 5 s), so a run or health check never races the worker's close of the
    // connection it was about to reuse.
    let client = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .context("cannot make the HTTP client")?;
    let mut backends: Vec<Backend> = Vec::new();
    for (index, backend) in workers.workers.iter().enumerate() {
        anyhow::ensure!(
            TIERS.contains(&backend.tier.as_str()),
            "worker {} has unknown tier `{}`",
            backend.url,
            backend.tier
        );
        backends.push(Backend::new(
            configured_id(index),
            backend.url.clone(),
            Some(backend.tier.clone()),
            false,
        ));
    }
    let registered = database
        .run(|connection| caravan_metering::db::workers::all(connection).map_err(caravan_core::DbError::from))
        .await
        .context("cannot read the registered workers")?;
    for row in &registered {
        backends.push(Backend::new(row.id.to_string(), row.url.clone(), Some(row.tier.clone()), true));
    }
    if backends.is_empty() && workers.embedded_worker {
        let worker = Worker::build(WorkerSettings {
            listen: "127.0.0.1:0".to_owned(),
            token: Some(token.clone().into()),
            data_dir: settings.data_dir.join("worker"),
            max_runs: 64,
            sandbox: workers.embedded_sandbox,
            limits: workers.embedded_limits.clone(),
        })
        .context("cannot start the embedded worker")?;
        backends.push(Backend::new(
            "embedded".to_owned(),
            format!("http://{}", worker.address()),
            None,
            false,
        ));
        actix_web::rt::spawn(worker.run_until_stopped());
    }
    let pool = Arc::new(WorkerPool::new(client.clone(), token, backends));
    pool.spawn_health_checks(Duration::from_secs(workers.health_interval_s.max(1)));
    let gateway_url = workers.gateway_url.clone().unwrap_or_else(|| {
        let host =
            if address.ip().is_unspecified() { "127.0.0.1".to_owned() } else { address.ip().to_string() };
        format!("http://{host}:{}", address.port())
    });
    let deliverer = Deliverer::new(database.clone(), client);
    deliverer.spawn();
    let ends = EndRecorder::new(database.clone(), meters.clone());
    let dispatcher = Dispatcher {
        database: database.clone(),
        meters,
        ends,
        pool,
        gateway_url,
        deliverer,
        caches: AdmissionCaches { registry: runs.clone(), terms: RunTermsCache::default() },
    };
    caravan_metering::executions::spawn_sweeper(
        dispatcher.clone(),
        Duration::from_secs(workers.sweep_interval_s.max(1)),
        chrono::TimeDelta::seconds(i64::try_from(workers.sweep_after_s).unwrap_or(60)),
    );
    Ok(dispatcher)
}

/// A worker token for this process and its embedded worker: 32 random bytes in hex.
fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
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
/// state (API rate limits, portal sign-ins) on `purge_interval`. Both stop with the
/// server's runtime.
fn spawn_maintenance(
    key_store: &web::Data<KeyStore>,
    limits: &web::Data<RateLimits>,
    sign_in_throttle: &web::Data<SignInThrottle>,
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
    let (limits, sign_in_throttle) = (limits.clone(), sign_in_throttle.clone());
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(purge_interval);
        loop {
            ticks.tick().await;
            let (limits, sign_in_throttle) = (limits.clone(), sign_in_throttle.clone());
            let purged = web::block(move || (limits.purge(), sign_in_throttle.purge()));
            if let Ok((api_limiter_entries, sign_in_clients)) = purged.await {
                tracing::debug!(api_limiter_entries, sign_in_clients, "purged idle rate-limit state");
            }
        }
    });
}
