//! The trivial worker of the forwarding benchmark: it speaks the worker protocol
//! (`POST /runs` → NDJSON events ending with `exit`) and does nothing else, so a
//! benchmark through it measures the gateway (or nginx) in front of it. Listens on
//! `TRIVIAL_WORKER_LISTEN` (default 127.0.0.1:18090).

use actix_web::{App, HttpResponse, HttpServer, web};

const EVENTS: &str = concat!(
    "{\"type\":\"started\"}\n",
    "{\"type\":\"result\",\"output\":{\"ok\":true}}\n",
    "{\"type\":\"exit\",\"status\":\"succeeded\",\"job_seconds\":\"0.000001\",\"exit_code\":0}\n",
);

fn main() -> std::io::Result<()> {
    let listen = std::env::var("TRIVIAL_WORKER_LISTEN").unwrap_or_else(|_| "127.0.0.1:18090".to_owned());
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| {
            App::new()
                .route(
                    "/runs",
                    web::post().to(|_body: web::Bytes| async {
                        HttpResponse::Ok().content_type("application/x-ndjson").body(EVENTS)
                    }),
                )
                .route(
                    "/healthz",
                    web::get().to(|| async {
                        HttpResponse::Ok()
                            .json(serde_json::json!({ "status": "ok", "running": 0, "capacity": 100000 }))
                    }),
                )
        })
        .workers(1)
        .bind(listen)?
        .run()
        .await
    })
}
