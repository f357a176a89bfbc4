//! The OpenAPI document: the committed `openapi/openapi.json` is exactly what the code
//! serves. Run with `UPDATE_OPENAPI=1` to rewrite the committed file after a change.

use crate::helpers::spawn_app;

fn committed_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json")
}

#[test]
fn the_committed_document_matches_the_code() {
    let generated =
        caravan_openapi::to_committed_json(&caravan_gateway::openapi_document()).expect("serialize");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(committed_path(), &generated).expect("write openapi/openapi.json");
    }
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p caravan-gateway --test api openapi` and commit it"
    );
}

/// Every problem slug the code can answer: what the arms of each `fn slug` of the
/// workspace's non-test code return.
fn problem_slugs_in_the_code() -> std::collections::BTreeSet<String> {
    fn rust_files(directory: &std::path::Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(directory).expect("read source directory").flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, found);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                found.push(path);
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for krate in ["core", "gateway", "registry", "metering", "portal-api", "worker"] {
        rust_files(&root.join(krate).join("src"), &mut files);
    }
    let mut slugs = std::collections::BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("read source");
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        for (_, after) in
            code.match_indices("fn slug(&self) -> &'static str {").map(|(at, _)| code.split_at(at))
        {
            let mut depth = 0;
            let mut body = String::new();
            for character in after.chars().skip_while(|character| *character != '{') {
                depth += match character {
                    '{' => 1,
                    '}' => -1,
                    _ => 0,
                };
                body.push(character);
                if depth == 0 {
                    break;
                }
            }
            // What the function answers: a literal right after its `{` or after an arm's `=>`.
            let answers = std::iter::once(&body[1..]).chain(body.split("=>").skip(1));
            slugs.extend(answers.filter_map(|answer| {
                let literal = answer.trim_start().strip_prefix('"')?;
                literal.split('"').next().map(str::to_owned)
            }));
        }
    }
    slugs
}

#[test]
fn the_document_lists_every_problem_type_the_code_answers() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/problem-types.txt");
    let in_code: Vec<String> = problem_slugs_in_the_code().into_iter().collect();
    assert!(in_code.len() > 50, "the scan found too few slugs: {in_code:?}");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, in_code.join("\n") + "\n").expect("write openapi/problem-types.txt");
    }
    let listed: Vec<String> =
        std::fs::read_to_string(&path).unwrap_or_default().lines().map(str::to_owned).collect();
    assert_eq!(
        listed, in_code,
        "openapi/problem-types.txt is stale: run `UPDATE_OPENAPI=1 cargo test -p caravan-gateway --test api openapi` and commit it"
    );
    let document = serde_json::to_value(caravan_gateway::openapi_document()).expect("serialize");
    let described = document["components"]["schemas"]["Problem"]["properties"]["type"]["description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for slug in &in_code {
        assert!(
            described.contains(&format!("`/problems/{slug}`")),
            "{slug} is not listed in the document: the list is embedded at build time, so after \
             `UPDATE_OPENAPI=1` rewrote openapi/problem-types.txt, run it once more"
        );
    }
}

#[actix_web::test]
async fn the_server_serves_the_committed_document() {
    let app = spawn_app().await;

    let served: serde_json::Value = app.get("/openapi.json").await.json().await.expect("json");

    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(committed_path()).expect("read")).expect("parse");
    assert_eq!(served, committed);
    assert_eq!(served["openapi"], "3.1.0");
    assert!(served["paths"]["/healthz"]["get"].is_object());
    assert!(served["components"]["schemas"]["Problem"].is_object());
}
