//! Every `/v1` endpoint × every kind of bad credential: the answer is a 401, 403 or 404
//! problem as specified — never a success, never a server error.

use crate::helpers::{TestApp, spawn_app};
use serde_json::{Value, json};
use std::time::Duration;

struct Endpoint {
    method: &'static str,
    path: String,
    body: Option<Value>,
    /// Needs no scope (reads the caller's own identity or tenant).
    open_to_any_scope: bool,
}

/// The victim tenant's objects, which the credentials below try to reach.
struct Victim {
    tenant: String,
    key_id: String,
    namespace: String,
    publisher_key: String,
}

fn endpoints(victim: &Victim) -> Vec<Endpoint> {
    let endpoint = |method, path: String, body: Option<Value>, open_to_any_scope| Endpoint {
        method,
        path,
        body,
        open_to_any_scope,
    };
    vec![
        endpoint("GET", "/v1/whoami".to_owned(), None, true),
        endpoint("POST", "/v1/tenants".to_owned(), Some(json!({ "name": "x", "plan": "pro" })), false),
        endpoint("GET", "/v1/tenants".to_owned(), None, false),
        endpoint("GET", format!("/v1/tenants/{}", victim.tenant), None, true),
        endpoint(
            "PATCH",
            format!("/v1/tenants/{}", victim.tenant),
            Some(json!({ "status": "suspended" })),
            false,
        ),
        endpoint(
            "POST",
            "/v1/keys".to_owned(),
            Some(json!({ "name": "x", "scopes": ["registry:read"], "tenant_id": victim.tenant })),
            false,
        ),
        endpoint("GET", format!("/v1/keys?tenant_id={}", victim.tenant), None, false),
        endpoint("GET", format!("/v1/keys/{}", victim.key_id), None, false),
        endpoint(
            "POST",
            format!("/v1/keys/{}/rotate", victim.key_id),
            Some(json!({ "grace_period_s": 0 })),
            false,
        ),
        endpoint("POST", format!("/v1/keys/{}/revoke", victim.key_id), Some(json!({})), false),
        endpoint("GET", format!("/v1/audit?tenant_id={}", victim.tenant), None, false),
        endpoint("GET", format!("/v1/namespaces/{}/keys", victim.namespace), None, true),
        endpoint(
            "POST",
            format!("/v1/namespaces/{}/keys/{}/retire", victim.namespace, victim.publisher_key),
            Some(json!({})),
            false,
        ),
    ]
}

enum Credential {
    None,
    Malformed,
    Revoked(String),
    Expired(String),
    OtherTenant(String),
    WithoutScope(String),
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
    };
    let (read_only, _) =
        app.create_key_for(&app.admin_key, Some(&victim.tenant), &["registry:read"], json!({})).await;
    let (revoked, revoked_id) =
        app.create_key_for(&app.admin_key, Some(&victim.tenant), &["keys:manage"], json!({})).await;
    app.post_as(&app.admin_key, &format!("/v1/keys/{revoked_id}/revoke"), json!({})).await;
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(800);
    let (expired, _) = app
        .create_key_for(&app.admin_key, Some(&victim.tenant), &["keys:manage"], json!({ "expires_at": soon }))
        .await;
    let intruder = app
        .create_tenant(
            "team",
            &["admin", "keys:manage", "registry:read", "registry:publish", "usage:read", "billing:read"],
        )
        .await;
    actix_web::rt::time::sleep(Duration::from_millis(1000)).await;

    let credentials = [
        Credential::None,
        Credential::Malformed,
        Credential::Revoked(revoked),
        Credential::Expired(expired),
        Credential::OtherTenant(intruder.key),
        Credential::WithoutScope(read_only),
    ];
    let mut failures = Vec::new();
    for endpoint in endpoints(&victim) {
        for credential in &credentials {
            // A key of any scope may read its own identity and tenant; another tenant's key
            // asking who it is learns only about itself.
            let own_reading = endpoint.open_to_any_scope && matches!(credential, Credential::WithoutScope(_));
            let own_identity =
                endpoint.path == "/v1/whoami" && matches!(credential, Credential::OtherTenant(_));
            if own_reading || own_identity {
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
        Credential::Revoked(key)
        | Credential::Expired(key)
        | Credential::OtherTenant(key)
        | Credential::WithoutScope(key) => request.bearer_auth(key),
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
