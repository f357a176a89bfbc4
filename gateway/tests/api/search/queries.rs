//! `GET /v1/search`, `/v1/search/suggest` and `/v1/capsules/{p}/{n}/stats`.

use crate::executions::support::RUN_SCOPES;
use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use std::time::Duration;

/// Polls a search until `check` holds (the index follows the database within a second).
async fn search_until(app: &TestApp, key: &str, query: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    // Ten seconds: the index follows the database within one, but a loaded machine is slower.
    for _ in 0..200 {
        last = app.get_as(key, &format!("/v1/search?{query}")).await.json().await.expect("json");
        if check(&last) {
            return last;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the search never matched: {query}: {last}");
}

fn names(page: &Value) -> Vec<String> {
    page["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|hit| hit["name"].as_str().map(str::to_owned))
        .collect()
}

#[actix_web::test]
async fn typos_prefixes_and_facets_find_published_capsules() {
    let app = spawn_app().await;
    app.publish_fixtures().await;
    let reader = app.create_tenant("pro", &["registry:read"]).await;

    // Every fixture indexed first, so each query below sees the whole catalog.
    search_until(&app, &reader.key, "", |page| page["total"] == 3).await;
    let typo: Value = app.get_as(&reader.key, "/v1/search?q=wrod%20coutn").await.json().await.expect("json");
    assert_eq!(names(&typo)[0], "acme/word-count", "{typo}");
    let prefix: Value = app.get_as(&reader.key, "/v1/search?q=transf").await.json().await.expect("json");
    assert_eq!(names(&prefix)[0], "acme/json-transform");
    let exact: Value = app.get_as(&reader.key, "/v1/search?q=echo").await.json().await.expect("json");
    assert_eq!(names(&exact)[0], "acme/echo");
    assert!(
        exact["hits"][0]["snippet"].as_str().is_some_and(|snippet| snippet.starts_with("Answers with")),
        "{exact}"
    );
    let highlighted: Value =
        app.get_as(&reader.key, "/v1/search?q=smallest").await.json().await.expect("json");
    assert!(
        highlighted["hits"][0]["snippet"].as_str().is_some_and(|snippet| snippet.contains("<b>smallest</b>")),
        "{highlighted}"
    );

    let browse: Value = app.get_as(&reader.key, "/v1/search").await.json().await.expect("json");
    assert_eq!(browse["total"], 3);
    let categories: Vec<(String, u64)> = browse["facets"]["category"]
        .as_array()
        .expect("facets")
        .iter()
        .map(|facet| {
            (facet["value"].as_str().unwrap_or_default().to_owned(), facet["count"].as_u64().unwrap_or(0))
        })
        .collect();
    assert!(categories.contains(&("utilities".to_owned(), 2)), "{categories:?}");
    let filtered: Value =
        app.get_as(&reader.key, "/v1/search?category=text&tier=fast").await.json().await.expect("json");
    assert_eq!(names(&filtered), ["acme/word-count"]);
    let suggested: Value =
        app.get_as(&reader.key, "/v1/search/suggest?q=wor").await.json().await.expect("json");
    assert_eq!(suggested[0]["name"], "acme/word-count");
}

#[actix_web::test]
async fn yanks_revocations_and_deprecations_reach_search_promptly() {
    let app = spawn_app().await;
    let publisher = app.publish_fixtures().await;
    let reader = app.create_tenant("pro", &["registry:read"]).await;
    search_until(&app, &reader.key, "q=echo", |page| names(page).contains(&"acme/echo".to_owned())).await;

    app.post_as(&publisher.key, "/v1/capsules/acme/echo/versions/1.0.0/yank", json!({})).await;
    search_until(&app, &reader.key, "q=echo", |page| !names(page).contains(&"acme/echo".to_owned())).await;
    let with_yanked: Value =
        app.get_as(&reader.key, "/v1/search?q=echo&include_yanked=true").await.json().await.expect("json");
    assert_eq!(with_yanked["hits"][0]["status"], "yanked");

    app.post_as(
        &publisher.key,
        "/v1/capsules/acme/word-count/versions/1.0.0/deprecate",
        json!({ "message": "use v2" }),
    )
    .await;
    search_until(&app, &reader.key, "q=word", |page| !names(page).contains(&"acme/word-count".to_owned()))
        .await;
    search_until(&app, &reader.key, "q=word&include_deprecated=true", |page| {
        names(page).contains(&"acme/word-count".to_owned())
    })
    .await;

    app.post_as(
        &publisher.key,
        "/v1/capsules/acme/json-transform/versions/0.3.0/revoke",
        json!({ "reason": "broken" }),
    )
    .await;
    search_until(&app, &reader.key, "q=json&include_yanked=true&include_deprecated=true", |page| {
        !names(page).contains(&"acme/json-transform".to_owned())
    })
    .await;
}

#[actix_web::test]
async fn executions_rank_capsules_and_their_stats_explain_why() {
    let app = spawn_app_with(|settings| settings.registry.rank_interval_s = 1).await;
    app.publish_fixtures().await;
    let tenant = app.create_tenant("pro", &[RUN_SCOPES, &["registry:read"]].concat()).await;
    for _ in 0..4 {
        let ran = app.run(&tenant.key, "acme/word-count", json!({ "input": { "text": "a b" } })).await;
        assert_eq!(ran.status(), 200);
    }
    let failed = app
        .run(&tenant.key, "acme/json-transform", json!({ "input": { "document": {}, "select": ["a..b"] } }))
        .await;
    assert_eq!(failed.status(), 502, "the capsule refuses an empty path segment");

    let ranked = search_until(&app, &tenant.key, "sort=rank", |page| {
        page["hits"][0]["rank"]["executions"].as_u64() == Some(4)
    })
    .await;
    assert_eq!(names(&ranked)[0], "acme/word-count");
    let components = &ranked["hits"][0]["rank"];
    assert!(components["quality"].as_f64().is_some_and(|quality| quality > 0.0), "{components}");
    assert_eq!(components["stats"]["succeeded"], 4);
    let stats: Value =
        app.get_as(&tenant.key, "/v1/capsules/acme/word-count/stats").await.json().await.expect("json");
    assert_eq!(
        (stats["stats"]["executions"].as_i64(), stats["stats"]["mean_cost"].as_str()),
        (Some(4), Some("0"))
    );
    assert!(stats["formula"].as_str().is_some_and(|formula| formula.contains("Wilson")));
    // Its run may have ended after the refresh that counted the fourth word-count run.
    let mut other = Value::Null;
    for _ in 0..200 {
        other = app
            .get_as(&tenant.key, "/v1/capsules/acme/json-transform/stats")
            .await
            .json()
            .await
            .expect("json");
        if other["stats"]["executions"].as_i64().is_some() {
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        (other["stats"]["executions"].as_i64(), other["stats"]["succeeded"].as_i64()),
        (Some(1), Some(0))
    );
    assert_problem(
        app.get_as(&tenant.key, "/v1/capsules/acme/nothing/stats").await,
        404,
        "capsule-not-found",
    )
    .await;
}

#[actix_web::test]
async fn imported_catalog_entries_are_found_with_typos_and_ranked_by_popularity() {
    let app = spawn_app().await;
    let reader = app.create_tenant("pro", &["registry:read"]).await;
    let tsv = "name\tversion\tdownloads_a_month\tdescription\n\
        express\t5.1.0\t170000000\tFast, unopinionated, minimalist web framework\n\
        expresso\t0.1.0\t120\tA tiny test runner\n\
        @babel/core\t7.28.0\t300000000\tBabel compiler core.\n\
        tailwind-merge\t3.3.1\t60000000\tMerge Tailwind CSS classes without style conflicts\n\
        tailwindcss\t4.1.0\t50000000\tA utility-first CSS framework for rapidly building custom user interfaces\n";
    let entries =
        caravan_registry::search::catalog::read(tsv.as_bytes(), caravan_core::db::now()).expect("read");
    caravan_registry::search::catalog::store(&mut app.database.connect(), &entries, |_| {}).expect("store");

    let page = search_until(&app, &reader.key, "q=expresss", |page| !names(page).is_empty()).await;
    assert_eq!(names(&page)[0], "npm/express", "{page}");
    assert_eq!(page["hits"][0]["source"], "catalog");
    let scoped: Value =
        app.get_as(&reader.key, "/v1/search?q=babel%20core").await.json().await.expect("json");
    assert_eq!(names(&scoped)[0], "babel/core");
    let framework: Value =
        app.get_as(&reader.key, "/v1/search?q=web%20framwork").await.json().await.expect("json");
    assert_eq!(names(&framework)[0], "npm/express");
    // A name typed as two words, and with a typo too.
    for query in ["tailwind%20css", "talwind%20css"] {
        let split: Value =
            app.get_as(&reader.key, &format!("/v1/search?q={query}")).await.json().await.expect("json");
        assert_eq!(names(&split)[0], "npm/tailwindcss", "q={query}: {split}");
    }
}

#[actix_web::test]
async fn hostile_and_malformed_queries_get_a_4xx_or_an_empty_result_never_a_5xx() {
    let app = spawn_app().await;
    app.publish_fixtures().await;
    let reader = app.create_tenant("pro", &["registry:read"]).await;
    for query in [
        "%22",
        "(",
        "AND",
        "*",
        "%22echo",
        "echo%20AND%20(",
        "%2B%2B%2B",
        "-echo",
        "echo~2",
        "title:echo",
        "%5C",
        "%00",
    ] {
        let response = app.get_as(&reader.key, &format!("/v1/search?q={query}")).await;
        assert_eq!(response.status(), 200, "q={query}");
    }
    let punctuation: Value =
        app.get_as(&reader.key, "/v1/search?q=%21%40%23%24%25").await.json().await.expect("json");
    assert_eq!(punctuation["total"], 0);
    let long = "a".repeat(1025);
    assert_problem(app.get_as(&reader.key, &format!("/v1/search?q={long}")).await, 400, "invalid-search")
        .await;
    assert_problem(app.get_as(&reader.key, "/v1/search?q=echo&colour=red").await, 400, "invalid-query").await;
    assert_problem(app.get_as(&reader.key, "/v1/search?q=echo&cursor=nope").await, 400, "invalid-search")
        .await;
    assert_problem(app.get_as(&reader.key, "/v1/search?q=echo&limit=0").await, 400, "invalid-search").await;
    assert_problem(app.get_as(&reader.key, "/v1/search?q=echo&sort=best").await, 400, "invalid-query").await;
    assert_problem(
        app.get_as(&reader.key, &format!("/v1/search/suggest?q={long}")).await,
        400,
        "invalid-search",
    )
    .await;
    let none: Value =
        app.get_as(&reader.key, "/v1/search/suggest?q=%21%21").await.json().await.expect("json");
    assert_eq!(none, json!([]));
}
