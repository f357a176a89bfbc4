//! Every `/v1` endpoint × every kind of bad credential: the answer is a 401, 403 or 404
//! problem as specified — never a success, never a server error.

use crate::capsules::support::{Template, bundle};
use crate::helpers::{TestApp, TestTenant, spawn_app};
use crate::metering::support::{last_month, last_period, usage_event};
use serde_json::{Value, json};
use std::time::Duration;

struct Endpoint {
    method: &'static str,
    path: String,
    body: Option<Value>,
    /// The scope it needs; none when any key may call it (its own identity or tenant).
    scope: Option<&'static str>,
    /// Not about one tenant's objects (the public catalog, the meters, running a capsule,
    /// reporting usage, the caller's own webhook secrets): another tenant's key with the
    /// scope may use it.
    shared_across_tenants: bool,
}

const ALL_SCOPES: [&str; 10] = [
    "registry:read",
    "registry:publish",
    "registry:yank",
    "executions:run",
    "executions:read",
    "usage:write",
    "usage:read",
    "billing:read",
    "keys:manage",
    "admin",
];

/// The victim tenant's objects, which the credentials below try to reach.
struct Victim {
    tenant: String,
    key_id: String,
    namespace: String,
    publisher_key: String,
    invoice: String,
    execution: String,
}

fn endpoints(victim: &Victim) -> Vec<Endpoint> {
    let endpoint = |method, path: String, body: Option<Value>, scope| Endpoint {
        method,
        path,
        body,
        scope: Some(scope),
        shared_across_tenants: false,
    };
    let open = |method, path: String| Endpoint {
        method,
        path,
        body: None,
        scope: None,
        shared_across_tenants: false,
    };
    let shared = |method, path: String, body: Option<Value>, scope| Endpoint {
        method,
        path,
        body,
        scope: Some(scope),
        shared_across_tenants: true,
    };
    let version = "/v1/capsules/victim/echo/versions/1.0.0";
    let execution = &victim.execution;
    vec![
        open("GET", "/v1/whoami".to_owned()),
        endpoint("POST", "/v1/tenants".to_owned(), Some(json!({ "name": "x", "plan": "pro" })), "admin"),
        endpoint("GET", "/v1/tenants".to_owned(), None, "admin"),
        open("GET", format!("/v1/tenants/{}", victim.tenant)),
        endpoint(
            "PATCH",
            format!("/v1/tenants/{}", victim.tenant),
            Some(json!({ "status": "suspended" })),
            "admin",
        ),
        endpoint(
            "POST",
            "/v1/keys".to_owned(),
            Some(json!({ "name": "x", "scopes": ["registry:read"], "tenant_id": victim.tenant })),
            "keys:manage",
        ),
        endpoint("GET", format!("/v1/keys?tenant_id={}", victim.tenant), None, "keys:manage"),
        endpoint("GET", format!("/v1/keys/{}", victim.key_id), None, "keys:manage"),
        endpoint(
            "POST",
            format!("/v1/keys/{}/rotate", victim.key_id),
            Some(json!({ "grace_period_s": 0 })),
            "keys:manage",
        ),
        endpoint("POST", format!("/v1/keys/{}/revoke", victim.key_id), Some(json!({})), "keys:manage"),
        endpoint("GET", format!("/v1/audit?tenant_id={}", victim.tenant), None, "admin"),
        open("GET", format!("/v1/namespaces/{}/keys", victim.namespace)),
        endpoint(
            "POST",
            format!("/v1/namespaces/{}/keys/{}/retire", victim.namespace, victim.publisher_key),
            Some(json!({})),
            "registry:publish",
        ),
        shared("GET", "/v1/capsules/victim/echo".to_owned(), None, "registry:read"),
        shared("GET", "/v1/capsules/victim/echo/versions".to_owned(), None, "registry:read"),
        shared("GET", "/v1/capsules/victim/echo/resolve?req=%5E1".to_owned(), None, "registry:read"),
        shared("GET", version.to_owned(), None, "registry:read"),
        shared("GET", format!("{version}/download"), None, "registry:read"),
        shared("GET", format!("{version}/signature"), None, "registry:read"),
        shared("GET", format!("{version}/sbom"), None, "registry:read"),
        shared("GET", "/v1/meters".to_owned(), None, "usage:read"),
        endpoint("POST", format!("{version}/yank"), Some(json!({})), "registry:yank"),
        endpoint("POST", format!("{version}/unyank"), Some(json!({})), "registry:yank"),
        endpoint("POST", format!("{version}/revoke"), Some(json!({ "reason": "x" })), "registry:yank"),
        endpoint("POST", format!("{version}/deprecate"), Some(json!({ "message": "x" })), "registry:yank"),
        endpoint("POST", format!("{version}/undeprecate"), Some(json!({})), "registry:yank"),
        shared(
            "POST",
            "/v1/events".to_owned(),
            Some(json!({ "specversion": "1.0", "id": "x", "source": "x", "type": "caravan.usage" })),
            "usage:write",
        ),
        endpoint("GET", format!("/v1/events?tenant_id={}", victim.tenant), None, "usage:read"),
        endpoint("GET", format!("/v1/usage?meter=tokens_in&tenant_id={}", victim.tenant), None, "usage:read"),
        endpoint("POST", format!("/v1/billing/periods/{}/close", last_period()), Some(json!({})), "admin"),
        endpoint("POST", "/v1/billing/stripe/sync".to_owned(), Some(json!({})), "admin"),
        endpoint("GET", format!("/v1/earnings?tenant_id={}", victim.tenant), None, "billing:read"),
        endpoint("GET", format!("/v1/invoices?tenant_id={}", victim.tenant), None, "billing:read"),
        endpoint("GET", format!("/v1/invoices/upcoming?tenant_id={}", victim.tenant), None, "billing:read"),
        endpoint("GET", format!("/v1/invoices/{}", victim.invoice), None, "billing:read"),
        endpoint(
            "POST",
            format!("/v1/invoices/{}/void", victim.invoice),
            Some(json!({ "reason": "x" })),
            "admin",
        ),
        shared(
            "POST",
            "/v1/capsules/victim/echo/executions".to_owned(),
            Some(json!({ "input": {}, "mode": "async" })),
            "executions:run",
        ),
        endpoint("GET", format!("/v1/executions/{execution}"), None, "executions:read"),
        endpoint("GET", format!("/v1/executions?tenant_id={}", victim.tenant), None, "executions:read"),
        endpoint("DELETE", format!("/v1/executions/{execution}"), None, "executions:run"),
        endpoint("GET", format!("/v1/executions/{execution}/deliveries"), None, "executions:read"),
        endpoint("GET", "/v1/workers".to_owned(), None, "admin"),
        endpoint(
            "POST",
            "/v1/workers".to_owned(),
            Some(json!({ "url": "http://127.0.0.1:9", "tier": "fast" })),
            "admin",
        ),
        endpoint("DELETE", "/v1/workers/wrk_01JD8X3ZQK9V6R2N4T7W5YB1CM".to_owned(), None, "admin"),
        shared("GET", "/v1/webhooks/secrets".to_owned(), None, "keys:manage"),
        shared("POST", "/v1/webhooks/secrets/rotate".to_owned(), Some(json!({})), "keys:manage"),
    ]
}

enum Credential {
    None,
    Malformed,
    Revoked(String),
    Expired(String),
    OtherTenant(String),
    /// Every scope but the endpoint's, keyed by the scope it lacks.
    WithoutScope(std::collections::HashMap<&'static str, String>),
}

impl Credential {
    fn name(&self) -> &'static str {
        match self {
            Self::None => "no key",
            Self::Malformed => "malformed key",
            Self::Revoked(_) => "revoked key",
            Self::Expired(_) => "expired key",
            Self::OtherTenant(_) => "another tenant's key",
            Self::WithoutScope(_) => "key without the scope",
        }
    }

    fn allowed(&self) -> &'static [u16] {
        match self {
            Self::None | Self::Malformed | Self::Revoked(_) | Self::Expired(_) => &[401],
            Self::OtherTenant(_) => &[403, 404],
            Self::WithoutScope(_) => &[403],
        }
    }
}

#[actix_web::test]
async fn every_endpoint_refuses_every_bad_credential() {
    let app = spawn_app().await;
    let victim_tenant = app.create_tenant("pro", &["keys:manage", "registry:read"]).await;
    let (publisher, _) =
        app.create_key_for(&app.admin_key, Some(&victim_tenant.id), &["registry:publish"], json!({})).await;
    let pem = caravan_registry::signing::generate_key_pair().expect("key pair").1;
    let registered: Value = app
        .post_as(
            &publisher,
            "/v1/namespaces/victim/keys",
            json!({ "name": "release", "public_key_pem": pem }),
        )
        .await
        .json()
        .await
        .expect("json");
    let victim = Victim {
        tenant: victim_tenant.id.clone(),
        key_id: victim_tenant.key_id.clone(),
        namespace: "victim".to_owned(),
        publisher_key: registered["id"].as_str().expect("publisher key id").to_owned(),
        invoice: String::new(),
        execution: String::new(),
    };
    // A capsule, usage and an invoice of the victim's.
    let (registry_key, registry_key_id) = app
        .create_key_for(
            &app.admin_key,
            Some(&victim_tenant.id),
            &["registry:publish", "registry:read"],
            json!({}),
        )
        .await;
    let owner = TestTenant { id: victim_tenant.id.clone(), key: registry_key, key_id: registry_key_id };
    let capsule_publisher = app.publisher_in(owner, "victim").await;
    let published = app
        .publish(&capsule_publisher, &bundle(Template { name: "victim/echo", ..Template::default() }))
        .await;
    assert_eq!(published.status(), 201);
    let (usage_key, _) =
        app.create_key_for(&app.admin_key, Some(&victim_tenant.id), &["usage:write"], json!({})).await;
    app.ingest(&usage_key, vec![usage_event("victim-usage", last_month(2, 2), json!({ "tokens_in": 5 }))])
        .await;
    app.close_last_period().await;
    let invoices: Value = app
        .get_as(&app.admin_key, &format!("/v1/invoices?tenant_id={}", victim_tenant.id))
        .await
        .json()
        .await
        .expect("json");
    let victim =
        Victim { invoice: invoices["data"][0]["id"].as_str().expect("invoice").to_owned(), ..victim };
    let (runner, _) =
        app.create_key_for(&app.admin_key, Some(&victim.tenant), &["executions:run"], json!({})).await;
    let started: Value = app
        .run(&runner, "victim/echo", json!({ "input": {}, "mode": "async" }))
        .await
        .json()
        .await
        .expect("json");
    let victim = Victim { execution: started["id"].as_str().expect("execution").to_owned(), ..victim };
    let mut lacking = std::collections::HashMap::new();
    for scope in ALL_SCOPES {
        let others: Vec<&str> = ALL_SCOPES.into_iter().filter(|other| *other != scope).collect();
        lacking.insert(
            scope,
            app.create_key_for(&app.admin_key, Some(&victim.tenant), &others, json!({})).await.0,
        );
    }
    let (revoked, revoked_id) =
        app.create_key_for(&app.admin_key, Some(&victim.tenant), &["keys:manage"], json!({})).await;
    app.post_as(&app.admin_key, &format!("/v1/keys/{revoked_id}/revoke"), json!({})).await;
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(800);
    let (expired, _) = app
        .create_key_for(&app.admin_key, Some(&victim.tenant), &["keys:manage"], json!({ "expires_at": soon }))
        .await;
    let intruder = app.create_tenant("team", &ALL_SCOPES).await;
    actix_web::rt::time::sleep(Duration::from_millis(1000)).await;

    let credentials = [
        Credential::None,
        Credential::Malformed,
        Credential::Revoked(revoked),
        Credential::Expired(expired),
        Credential::OtherTenant(intruder.key),
        Credential::WithoutScope(lacking),
    ];
    let mut failures = Vec::new();
    for endpoint in endpoints(&victim) {
        for credential in &credentials {
            // A key of any scope may read its own identity and tenant; another tenant's key
            // asking who it is learns only about itself.
            let own_reading = endpoint.scope.is_none() && matches!(credential, Credential::WithoutScope(_));
            let own_identity =
                endpoint.path == "/v1/whoami" && matches!(credential, Credential::OtherTenant(_));
            let shared = endpoint.shared_across_tenants && matches!(credential, Credential::OtherTenant(_));
            if own_reading || own_identity || shared {
                continue;
            }
            let status = send(&app, &endpoint, credential).await;
            if !credential.allowed().contains(&status) {
                failures.push(format!(
                    "{} {} with {}: {status}",
                    endpoint.method,
                    endpoint.path,
                    credential.name()
                ));
            }
        }
    }

    assert!(failures.is_empty(), "unexpected answers:\n{}", failures.join("\n"));
    let still_there: Value = app.get_as(&victim_tenant.key, "/v1/whoami").await.json().await.expect("json");
    assert_eq!(still_there["key_id"], victim.key_id, "no refused request changed the victim's key");
}

async fn send(app: &TestApp, endpoint: &Endpoint, credential: &Credential) -> u16 {
    let method = reqwest::Method::from_bytes(endpoint.method.as_bytes()).expect("method");
    let mut request = app.client.request(method, app.url(&endpoint.path));
    if let Some(body) = &endpoint.body {
        request = request.json(body);
    }
    request = match credential {
        Credential::None => request,
        Credential::Malformed => request.bearer_auth("cvn_live_short"),
        Credential::Revoked(key) | Credential::Expired(key) | Credential::OtherTenant(key) => {
            request.bearer_auth(key)
        }
        Credential::WithoutScope(keys) => {
            let scope = endpoint.scope.expect("endpoints without a scope skip this credential");
            request.bearer_auth(&keys[scope])
        }
    };
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if status >= 400 {
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "{} {}",
            endpoint.method,
            endpoint.path
        );
    }
    status
}
