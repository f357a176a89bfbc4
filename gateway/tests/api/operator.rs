//! The operator's side of the binary: the bootstrap key printed once, secrets kept out of
//! the logs, `caravan admin` as an HTTP client, and `caravan audit verify`.

use crate::helpers::{spawn_app, test_secret};
use crate::served::Served;
use caravan_core::testing::TestDatabase;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

#[test]
fn the_first_start_prints_the_admin_key_once_and_it_works() {
    let database = TestDatabase::create();
    let data_dir = tempfile::tempdir().expect("tempdir");

    let first = Served::start(&database, data_dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(200));
    let (first_stdout, _) = first.stop();
    let key = first_stdout
        .split_whitespace()
        .find(|word| word.starts_with("cvn_live_"))
        .expect("the key is printed")
        .to_owned();
    let second = Served::start(&database, data_dir.path(), &[]);
    let (status, whoami) = second.call("GET", "/v1/whoami", &key, None);
    let (second_stdout, _) = second.stop();

    assert!(first_stdout.contains("shown only this once"), "{first_stdout}");
    assert_eq!(status, 200);
    assert_eq!(whoami["operator"], true);
    assert!(!second_stdout.contains("cvn_"), "later starts print nothing: {second_stdout}");
}

#[test]
fn secrets_never_reach_the_logs() {
    let database = TestDatabase::create();
    let data_dir = tempfile::tempdir().expect("tempdir");
    let admin = test_secret();
    let served = Served::start(
        &database,
        data_dir.path(),
        &[("CARAVAN_BOOTSTRAP_KEY", &admin), ("CARAVAN_LOG_FILTER", "debug")],
    );

    let (_, tenant) =
        served.call("POST", "/v1/tenants", &admin, Some(json!({ "name": "Acme", "plan": "pro" })));
    let body = json!({ "name": "ci", "scopes": ["keys:manage"], "tenant_id": tenant["id"] });
    let (_, created) = served.call("POST", "/v1/keys", &admin, Some(body));
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let key_id = created["key"]["id"].as_str().expect("id").to_owned();
    let (rotated_status, rotated) =
        served.call("POST", &format!("/v1/keys/{key_id}/rotate"), &secret, Some(json!({})));
    let (whoami_status, _) = served.call("GET", "/v1/whoami", &secret, None);
    let (unknown_status, _) = served.call("GET", "/v1/whoami", &test_secret(), None);
    let (stdout, logs) = served.stop();

    assert_eq!((rotated_status, whoami_status, unknown_status), (200, 401, 401));
    let rotated_secret = rotated["secret"].as_str().expect("rotated secret");
    assert!(logs.len() > 5, "debug logging was on: {logs:?}");
    for needle in [&admin[9..], &secret[9..], &rotated_secret[9..]] {
        assert!(!logs.iter().any(|line| line.contains(needle)), "a secret reached the logs");
        assert!(!stdout.contains(needle), "a secret reached stdout");
    }
}

#[actix_web::test]
async fn admin_commands_drive_the_api_with_a_key() {
    let app = spawn_app().await;
    // On the blocking pool, so the server keeps running on this test's runtime.
    let caravan = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
        let (url, key) = (app.address.clone(), app.admin_key.clone());
        async move {
            let output = actix_web::web::block(move || {
                Command::new(env!("CARGO_BIN_EXE_caravan"))
                    .env("CARAVAN_URL", url)
                    .env("CARAVAN_KEY", key)
                    .args(args)
                    .output()
            })
            .await
            .expect("blocking pool")
            .expect("caravan runs");
            let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
            (output.status.success(), text(output.stdout), text(output.stderr))
        }
    };

    let (created_ok, created, _) =
        caravan(&["admin", "tenants", "create", "--name", "Acme", "--plan", "pro"]).await;
    let tenant: Value = serde_json::from_str(&created).expect("tenant json");
    let tenant_id = tenant["id"].as_str().expect("id");
    let (_, listed, _) = caravan(&["admin", "tenants", "list"]).await;
    let (key_ok, key, _) = caravan(&[
        "admin",
        "keys",
        "create",
        "--tenant",
        tenant_id,
        "--name",
        "ci",
        "--scope",
        "registry:read",
    ])
    .await;
    let key: Value = serde_json::from_str(&key).expect("key json");
    let secret = key["secret"].as_str().expect("secret").to_owned();
    let works = app.get_as(&secret, "/v1/whoami").await.status();
    let (revoke_ok, _, _) =
        caravan(&["admin", "keys", "revoke", key["key"]["id"].as_str().expect("key id")]).await;
    let after = app.get_as(&secret, "/v1/whoami").await.status();
    let (refused_ok, _, refused) =
        caravan(&["admin", "tenants", "create", "--name", "Acme", "--plan", "gold"]).await;

    assert!(created_ok && key_ok && revoke_ok);
    assert_eq!(serde_json::from_str::<Value>(&listed).expect("list")[1]["id"], tenant_id);
    assert_eq!((works, after), (reqwest::StatusCode::OK, reqwest::StatusCode::UNAUTHORIZED));
    assert!(!refused_ok);
    assert!(refused.contains("422") && refused.contains("gold"), "{refused}");
}

#[test]
fn audit_verify_passes_on_an_intact_log_and_fails_on_an_edited_one() {
    use diesel::RunQueryDsl;
    let database = TestDatabase::create();
    let data_dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start(&database, data_dir.path(), &[]);
    served.stop();
    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_caravan"))
            .env("DATABASE_URL", database.url())
            .env("CARAVAN_DATA_DIR", data_dir.path())
            .args(["audit", "verify"])
            .output()
            .expect("caravan runs")
    };

    let intact = verify();
    diesel::sql_query("UPDATE audit_events SET actor = 'someone-else' WHERE sequence = 1")
        .execute(&mut database.connect())
        .expect("tamper");
    let edited = verify();

    assert!(intact.status.success(), "{}", String::from_utf8_lossy(&intact.stderr));
    assert!(String::from_utf8_lossy(&intact.stdout).contains("intact: 2 entries"));
    assert!(!edited.status.success());
    assert!(String::from_utf8_lossy(&edited.stderr).contains("broken at entry 1"));
}
