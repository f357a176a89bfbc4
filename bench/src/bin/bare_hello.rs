//! The baseline for the gateway benchmarks: the smallest actix-web server that answers
//! `GET /healthz` with a JSON body of the same size as Caravan's, and nothing else.

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let listen = std::env::var("BARE_LISTEN").unwrap_or_else(|_| "127.0.0.1:18081".to_owned());
    HttpServer::new(|| {
        App::new().route(
            "/healthz",
            web::get().to(|| async {
                HttpResponse::Ok().content_type("application/json").body(r#"{"status":"ok"}"#)
            }),
        )
    })
    .workers(1)
    .bind(listen)?
    .run()
    .await
}
