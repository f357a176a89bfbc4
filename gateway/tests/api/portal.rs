//! The web portal over HTTP, as a browser uses it: pages, forms with their CSRF token, the
//! encrypted session cookie and redirects.

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

const PASSWORD: &str = "a long enough password";

/// A browser: keeps cookies, does not follow redirects.
struct Browser {
    client: reqwest::Client,
    base: String,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Self::with_headers(app, reqwest::header::HeaderMap::new())
    }

    /// A browser behind a proxy that forwards for `client`.
    fn forwarded_for(app: &TestApp, client: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", client.parse().expect("header value"));
        Self::with_headers(app, headers)
    }

    fn with_headers(app: &TestApp, headers: reqwest::header::HeaderMap) -> Self {
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(std::time::Duration::from_secs(1))
            .build()
            .expect("client");
        Self { client, base: app.address.clone() }
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self.client.get(format!("{}{path}", self.base)).send().await.expect("get");
        (response.status(), response.text().await.expect("body"))
    }

    /// Opens `page`, takes the CSRF token of its forms, and posts `fields` to `action`.
    async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let (status, html) = self.get(page).await;
        assert_eq!(status, 200, "{page}: {html}");
        let token = csrf_of(&html);
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf", &token));
        self.post(action, &form).await
    }

    /// Fills in the sign-in form with `email` and the tests' password, and sends it.
    async fn sign_in(&self, email: &str) -> reqwest::Response {
        self.submit("/portal/sign-in", "/portal/sign-in", &[("email", email), ("password", PASSWORD)]).await
    }

    async fn post(&self, action: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client.post(format!("{}{action}", self.base)).form(form).send().await.expect("post")
    }

    /// Accepts an invitation link and signs in through it.
    async fn join(&self, url: &str, email: Option<&str>, name: &str) {
        let path =
            url.split_once("/portal/").map(|(_, rest)| format!("/portal/{rest}")).expect("portal link");
        let mut fields = vec![("display_name", name), ("password", PASSWORD), ("password_again", PASSWORD)];
        if let Some(email) = email {
            fields.push(("email", email));
        }
        let joined = self.submit(&path, &path, &fields).await;
        assert_eq!(joined.status(), 303, "{}", joined.text().await.unwrap_or_default());
    }
}

fn csrf_of(html: &str) -> String {
    let start = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    html[start..].split('"').next().expect("token").to_owned()
}

/// The first secret shown on a page.
fn secret_on(html: &str) -> String {
    let start = html.find("cvn_live_").expect("a secret on the page");
    html[start..].split('"').next().expect("secret").to_owned()
}

/// Invites `email` through the API with the operator's admin key; returns the link.
async fn invite(app: &TestApp, actor: &str, email: &str, role: &str, tenant: Option<&str>) -> String {
    let mut body = json!({ "email": email, "role": role });
    if let Some(tenant) = tenant {
        body["tenant_id"] = tenant.into();
    }
    let response = app.post_as(actor, "/v1/invitations", body).await;
    assert_eq!(response.status(), 201, "invite");
    let created: Value = response.json().await.expect("json");
    created["url"].as_str().expect("url").to_owned()
}

#[actix_web::test]
async fn an_invited_owner_joins_and_a_key_made_in_the_portal_works_until_revoked_there() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("pro", &["admin"]).await;
    let link = invite(&app, &app.admin_key, "owner@acme.test", "owner", Some(&tenant.id)).await;
    let browser = Browser::new(&app);
    browser.join(&link, None, "Ada Owner").await;
    let reused = Browser::new(&app).get(&link.replace(&app.address, "")).await;
    assert_eq!(reused.0, 404, "an invitation works once");

    let created = browser
        .submit("/portal/keys", "/portal/keys", &[("name", "from the portal"), ("scope", "usage:read")])
        .await;
    assert_eq!(created.status(), 200);
    let secret = secret_on(&created.text().await.expect("page"));
    let whoami = app.get_as(&secret, "/v1/whoami").await;
    assert_eq!(whoami.status(), 200);
    let whoami: Value = whoami.json().await.expect("json");
    assert_eq!(whoami["tenant_id"], tenant.id.as_str());
    assert_eq!(whoami["scopes"], json!(["usage:read"]));

    let key_id = whoami["key_id"].as_str().expect("key id").to_owned();
    let (_, keys_page) = browser.get("/portal/keys").await;
    assert!(keys_page.contains("from the portal") && keys_page.contains(&secret[..13]), "prefix listed");
    assert!(!keys_page.contains(&secret), "the secret is never listed");
    let revoked = browser.submit("/portal/keys", &format!("/portal/keys/{key_id}/revoke"), &[]).await;
    assert_eq!(revoked.status(), 303);
    assert_eq!(app.get_as(&secret, "/v1/whoami").await.status(), 401);

    let audit: Value = app.get_as(&app.admin_key, "/v1/audit?limit=200").await.json().await.expect("json");
    let actions: Vec<&str> =
        audit["data"].as_array().expect("events").iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"member.invite") && actions.contains(&"member.join"), "{actions:?}");
    let by_member = audit["data"].as_array().expect("events").iter().any(|event| {
        event["action"] == "key.revoke"
            && event["actor"].as_str().is_some_and(|actor| actor.starts_with("mem_"))
    });
    assert!(by_member, "the portal's changes are the member's in the audit log");
}

#[actix_web::test]
async fn invitation_links_use_the_public_url_when_one_is_configured() {
    let app = spawn_app_with(|settings| {
        settings.portal.public_url = Some("https://caravan.example.com/".to_owned());
    })
    .await;

    let link = invite(&app, &app.admin_key, "dev@acme.test", "developer", None).await;

    assert!(link.starts_with("https://caravan.example.com/portal/invitations/"), "{link}");
    let path = link.replace("https://caravan.example.com", "");
    assert_eq!(Browser::new(&app).get(&path).await.0, 200, "the link's token is a real invitation");
}

#[actix_web::test]
async fn forms_without_the_csrf_token_are_refused_and_a_tampered_cookie_signs_out() {
    let app = spawn_app().await;
    let link = invite(&app, &app.admin_key, "ops@caravan.test", "owner", None).await;
    let browser = Browser::new(&app);
    browser.join(&link, None, "Operator").await;

    let forged = browser.post("/portal/keys", &[("name", "forged"), ("scope", "admin")]).await;
    assert_eq!(forged.status(), 403);
    let wrong =
        browser.post("/portal/keys", &[("name", "forged"), ("scope", "admin"), ("csrf", "guess")]).await;
    assert_eq!(wrong.status(), 403);

    // Sign in again to read the session cookie, then replay it altered.
    let fresh =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let page = fresh.get(format!("{}/portal/sign-in", app.address)).send().await.expect("page");
    let visitor_cookie = cookie_of(&page);
    let token = csrf_of(&page.text().await.expect("html"));
    let signed_in = fresh
        .post(format!("{}/portal/sign-in", app.address))
        .header(COOKIE, &visitor_cookie)
        .form(&[("email", "ops@caravan.test"), ("password", PASSWORD), ("csrf", token.as_str())])
        .send()
        .await
        .expect("sign in");
    assert_eq!(signed_in.status(), 303);
    let cookie = cookie_of(&signed_in);
    let keys =
        |cookie: String| fresh.get(format!("{}/portal/keys", app.address)).header(COOKIE, cookie).send();
    assert_eq!(keys(cookie.clone()).await.expect("keys").status(), 200);
    let (name, value) = cookie.split_once('=').expect("cookie");
    let mut altered: Vec<char> = value.chars().collect();
    let middle = altered.len() / 2;
    altered[middle] = if altered[middle] == 'A' { 'B' } else { 'A' };
    let tampered = format!("{name}={}", altered.into_iter().collect::<String>());
    let refused = keys(tampered).await.expect("keys");
    assert_eq!(refused.status(), 303);
    assert_eq!(refused.headers()[LOCATION], "/portal/sign-in");

    // Signing out ends the session on the server: a copy of the cookie stops working too.
    let page = keys(cookie.clone()).await.expect("keys").text().await.expect("html");
    let signed_out = fresh
        .post(format!("{}/portal/sign-out", app.address))
        .header(COOKIE, &cookie)
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .expect("sign out");
    assert_eq!(signed_out.status(), 303);
    let replayed = keys(cookie).await.expect("keys");
    assert_eq!(replayed.status(), 303, "the copied cookie is signed out");
    assert_eq!(browser.get("/portal/keys").await.0, 303, "so is every other session of the member");
}

fn cookie_of(response: &reqwest::Response) -> String {
    let set = response.headers().get(SET_COOKIE).expect("a session cookie").to_str().expect("ascii");
    set.split(';').next().expect("name=value").to_owned()
}

#[actix_web::test]
async fn roles_and_tenants_are_enforced_on_every_page_and_form() {
    let app = spawn_app().await;
    let acme = app.create_tenant("pro", &["admin"]).await;
    let globex = app.create_tenant("pro", &["admin", "keys:manage", "usage:read"]).await;
    let (_, globex_key) = app.create_key_for(&globex.key, None, &["usage:read"], json!({})).await;

    let owner = Browser::new(&app);
    owner
        .join(&invite(&app, &app.admin_key, "owner@acme.test", "owner", Some(&acme.id)).await, None, "Owner")
        .await;
    let invited = owner
        .submit(
            "/portal/members",
            "/portal/members/invitations",
            &[("email", "books@acme.test"), ("role", "billing")],
        )
        .await;
    assert_eq!(invited.status(), 200);
    let page = invited.text().await.expect("page");
    let start = page.find("http://").expect("link");
    let link = page[start..].split('"').next().expect("link").to_owned();
    let billing = Browser::new(&app);
    billing.join(&link, None, "Bookkeeper").await;

    assert_eq!(billing.get("/portal/keys").await.0, 403, "billing cannot manage keys");
    assert_eq!(billing.get("/portal/members").await.0, 403, "billing cannot manage members");
    assert_eq!(billing.get("/portal/invoices").await.0, 200);
    assert_eq!(billing.get("/portal/usage").await.0, 200);
    let (status, members_page) = owner.get("/portal/members").await;
    assert_eq!(status, 200);
    assert!(members_page.contains("books@acme.test") && members_page.contains("billing"));

    let foreign = owner.submit("/portal/keys", &format!("/portal/keys/{globex_key}/revoke"), &[]).await;
    assert_eq!(foreign.status(), 404, "another tenant's key is not found");
    assert_eq!(app.get_as(&globex.key, &format!("/v1/keys/{globex_key}")).await.status(), 200);
    let foreign_invoice = owner.get("/portal/invoices/inv_01JD8X3ZQK9V6R2N4T7W5YB1CM").await;
    assert_eq!(foreign_invoice.0, 404);
}

#[actix_web::test]
async fn signing_out_ends_the_session_and_signing_in_again_starts_one() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    browser
        .join(&invite(&app, &app.admin_key, "dev@caravan.test", "developer", None).await, None, "Dev")
        .await;
    let (status, keys) = browser.get("/portal/keys").await;
    assert_eq!(status, 200);
    assert!(!keys.contains("href=\"/portal/invoices\""), "a developer's navigation has no invoices");
    let signed_out = browser.post("/portal/sign-out", &[("csrf", &csrf_of(&keys))]).await;
    assert_eq!(signed_out.status(), 303);
    assert_eq!(browser.get("/portal/keys").await.0, 303, "signed out");
    let signed_in = browser.sign_in("DEV@caravan.test ").await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(browser.get("/portal/keys").await.0, 200);
}

#[actix_web::test]
async fn parallel_wrong_passwords_all_count_and_lock_the_member_out_even_with_the_right_one() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);
    browser
        .join(&invite(&app, &app.admin_key, "dev@caravan.test", "developer", None).await, None, "Dev")
        .await;
    let visitor = Browser::new(&app);
    let token = csrf_of(&visitor.get("/portal/sign-in").await.1);
    let guesses = (0..10).map(|guess| {
        let password = format!("wrong password {guess}");
        let visitor = &visitor;
        let token = token.clone();
        async move {
            let form =
                [("email", "dev@caravan.test"), ("password", password.as_str()), ("csrf", token.as_str())];
            visitor.post("/portal/sign-in", &form).await.status()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    assert!(statuses.iter().all(|status| *status == 401), "{statuses:?}");
    let still_locked = visitor.sign_in("dev@caravan.test").await;
    assert_eq!(still_locked.status(), 401, "the fifth failure locked: the right password waits");
    let refusal = still_locked.text().await.expect("page");
    let unknown = visitor.sign_in("nobody@caravan.test").await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(unknown.text().await.expect("page"), refusal, "a lockout does not tell who is a member");
}

#[actix_web::test]
async fn a_client_that_signs_in_too_often_waits_whoever_it_signs_in_as() {
    let app = spawn_app_with(|settings| {
        settings.portal.sign_in_attempts_per_minute = std::num::NonZeroU32::MIN.saturating_add(2);
    })
    .await;
    let visitor = Browser::new(&app);

    for email in ["a@caravan.test", "b@caravan.test", "c@caravan.test"] {
        assert_eq!(visitor.sign_in(email).await.status(), 401, "{email}: a wrong sign-in, not yet throttled");
    }
    let throttled = visitor.sign_in("d@caravan.test").await;

    assert_eq!(throttled.status(), 429);
    let wait: u64 = throttled.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=20).contains(&wait), "one attempt comes back every 20 s: {wait}");
    let page = throttled.text().await.expect("page");
    assert!(page.contains("Too many sign-in attempts") && page.contains("name=\"csrf\""), "{page}");
}

#[actix_web::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_sign_in_attempts() {
    let app = spawn_app_with(|settings| {
        settings.portal.sign_in_attempts_per_minute = std::num::NonZeroU32::MIN.saturating_add(1);
        settings.portal.trusted_proxies =
            serde_json::from_str(r#"["127.0.0.1", "::1"]"#).expect("trusted proxies");
    })
    .await;
    let three_sign_ins = |browser: Browser| async move {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let response = browser.sign_in("a@caravan.test").await;
            statuses.push(response.status().as_u16());
        }
        statuses
    };

    assert_eq!(three_sign_ins(Browser::forwarded_for(&app, "203.0.113.7")).await, [401, 401, 429]);
    assert_eq!(
        three_sign_ins(Browser::forwarded_for(&app, "203.0.113.8")).await,
        [401, 401, 429],
        "another client behind the same proxy still has its attempts"
    );
    assert_eq!(
        three_sign_ins(Browser::forwarded_for(&app, "198.51.100.1, 203.0.113.7")).await,
        [429, 429, 429],
        "a client cannot escape by prepending an address of its choosing"
    );
}

#[actix_web::test]
async fn without_trusted_proxies_a_forwarded_address_changes_nothing() {
    let app = spawn_app_with(|settings| {
        settings.portal.sign_in_attempts_per_minute = std::num::NonZeroU32::MIN;
    })
    .await;
    let attempt = |client: &'static str| {
        let app = &app;
        async move { Browser::forwarded_for(app, client).sign_in("a@caravan.test").await.status() }
    };

    assert_eq!(attempt("203.0.113.7").await, 401);
    assert_eq!(attempt("203.0.113.8").await, 429, "every forwarded address is the same peer");
}

#[actix_web::test]
async fn a_publisher_sees_and_yanks_its_capsule_and_reads_usage_audit_and_invoices() {
    let app = spawn_app().await;
    let publisher = app.publish_fixtures().await;
    let browser = Browser::new(&app);
    let link = invite(&app, &app.admin_key, "pub@acme.test", "owner", Some(&publisher.id)).await;
    browser.join(&link, None, "Publisher").await;
    let (status, publishing) = browser.get("/portal/publishing").await;
    assert_eq!(status, 200);
    assert!(publishing.contains("acme/echo"), "{publishing}");
    let yank =
        browser.submit("/portal/publishing", "/portal/capsules/acme/echo/versions/1.0.0/yank", &[]).await;
    assert_eq!(yank.status(), 303, "{}", yank.text().await.unwrap_or_default());
    let version: Value =
        app.get_as(&app.admin_key, "/v1/capsules/acme/echo/versions/1.0.0").await.json().await.expect("json");
    assert_eq!(version["status"], "yanked");
    for (path, expect) in [
        ("/portal/usage", "<svg"),
        ("/portal/usage?window=month", "<svg"),
        ("/portal/audit", "capsule.yank"),
        ("/portal/invoices", "Invoices"),
    ] {
        let (status, html) = browser.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(html.contains(expect), "{path}: {expect}");
    }
}
