//! Rate limits from the tenant's plan, with IETF RateLimit fields on every answer.

use crate::helpers::{assert_problem, spawn_app_with};

const TINY_PLANS: &str = "[plans.tiny]\nname = 'Tiny'\nkey_requests_per_minute = 60\nkey_burst = 2\n\
    tenant_requests_per_minute = 6000\ntenant_burst = 1000\n\n[plans.team]\nname = 'Team'\n\
    key_requests_per_minute = 6000\nkey_burst = 1000\ntenant_requests_per_minute = 20000\ntenant_burst = 3000\n";

#[actix_web::test]
async fn the_burst_passes_then_429_with_retry_after_and_the_violated_policy() {
    let plans = tempfile::NamedTempFile::new().expect("plans file");
    std::fs::write(plans.path(), TINY_PLANS).expect("write plans");
    let path = plans.path().to_owned();
    let app = spawn_app_with(move |settings| settings.plans_file = Some(path)).await;
    let tenant = app.create_tenant("tiny", &["registry:read"]).await;

    let first = app.get_as(&tenant.key, "/v1/whoami").await;
    let second = app.get_as(&tenant.key, "/v1/whoami").await;
    let third = app.get_as(&tenant.key, "/v1/whoami").await;

    let header = |response: &reqwest::Response, name: &str| {
        response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned).unwrap_or_default()
    };
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "ratelimit-policy"), r#""key";q=2;w=2, "tenant";q=1000;w=10"#);
    assert_eq!(header(&first, "ratelimit"), r#""key";r=1;t=1, "tenant";r=999;t=1"#);
    assert_eq!(second.status(), 200);
    assert_eq!(header(&third, "retry-after"), "1");
    assert!(header(&third, "ratelimit").starts_with(r#""key";r=0;"#));
    let body = assert_problem(third, 429, "rate-limited").await;
    assert_eq!(body["violated-policies"], serde_json::json!(["key"]));
}

#[actix_web::test]
async fn public_endpoints_carry_no_rate_limit_fields() {
    let app = spawn_app_with(|_| {}).await;

    let response = app.get("/healthz").await;

    assert!(response.headers().get("ratelimit").is_none());
}
