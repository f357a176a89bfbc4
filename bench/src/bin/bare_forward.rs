//! The ceiling of the forwarding benchmark's stack: the smallest actix-web server that
//! forwards `POST /runs` to the worker with the reqwest client Caravan uses (one shared
//! client, pooled connections) and answers the worker's body, recording nothing. What it
//! reaches against nginx `proxy_pass` bounds what any gateway built on these two crates
//! can reach, whatever it does besides forwarding. Listens on `BARE_FORWARD_LISTEN`
//! (default 127.0.0.1:18093) and forwards to `BARE_FORWARD_WORKER` (default
//! http://127.0.0.1:18090).

use actix_web::{App, HttpResponse, HttpServer, web};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Upstream {
    client: reqwest::Client,
    runs_url: String,
}

async fn forward(body: web::Bytes, upstream: web::Data<Upstream>) -> HttpResponse {
    let answer = upstream
        .client
        .post(&upstream.runs_url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let Ok(answer) = answer else { return HttpResponse::BadGateway().finish() };
    let status = answer.status().as_u16();
    match answer.bytes().await {
        Ok(bytes) => HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
            .content_type("application/x-ndjson")
            .body(bytes),
        Err(_) => HttpResponse::BadGateway().finish(),
    }
}

fn main() -> std::io::Result<()> {
    let listen = std::env::var("BARE_FORWARD_LISTEN").unwrap_or_else(|_| "127.0.0.1:18093".to_owned());
    let worker = std::env::var("BARE_FORWARD_WORKER").unwrap_or_else(|_| "http://127.0.0.1:18090".to_owned());
    actix_web::rt::System::new().block_on(async move {
        let upstream = web::Data::new(Upstream {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .map_err(std::io::Error::other)?,
            runs_url: format!("{worker}/runs"),
        });
        HttpServer::new(move || App::new().app_data(upstream.clone()).route("/runs", web::post().to(forward)))
            .workers(1)
            .bind(listen)?
            .run()
            .await
    })
}
