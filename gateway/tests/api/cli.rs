//! The `caravan` binary itself: subcommands, configuration from the environment, JSON
//! logs, and graceful shutdown on SIGTERM.

use crate::helpers::test_secret;
use crate::served::{Served, caravan_command};
use caravan_core::testing::TestDatabase;
use std::process::Command;

fn caravan(database: &TestDatabase, data_dir: &std::path::Path) -> Command {
    caravan_command(database, data_dir)
}

fn output_of(command: &mut Command) -> (bool, String, String) {
    let output = command.output().expect("caravan runs");
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

#[test]
fn version_prints_the_crate_version() {
    let (ok, stdout, _) = output_of(Command::new(env!("CARGO_BIN_EXE_caravan")).arg("version"));
    assert!(ok);
    assert_eq!(stdout.trim(), format!("caravan {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn openapi_prints_the_committed_document() {
    let (ok, stdout, _) = output_of(Command::new(env!("CARGO_BIN_EXE_caravan")).arg("openapi"));
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json"))
        .expect("committed document");
    assert!(ok);
    assert!(stdout == committed, "caravan openapi differs from openapi/openapi.json");
}

#[test]
fn pack_makes_a_reproducible_capsule_of_the_echo_fixture() {
    let out = tempfile::tempdir().expect("tempdir");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/capsules/echo");
    let pack = |name: &str| {
        let path = out.path().join(name);
        let result = output_of(
            Command::new(env!("CARGO_BIN_EXE_caravan")).args(["pack", fixture, "--output"]).arg(&path),
        );
        (result, std::fs::read(path).unwrap_or_default())
    };

    let ((ok, stdout, stderr), first) = pack("one.capsule");
    let (_, second) = pack("two.capsule");
    let (broken_ok, _, broken) =
        output_of(Command::new(env!("CARGO_BIN_EXE_caravan")).args(["pack", "/nonexistent"]));

    assert!(ok, "{stderr}");
    assert!(stdout.starts_with("packed acme/echo@1.0.0"), "{stdout}");
    assert!(stdout.contains("sha256:"), "{stdout}");
    assert!(!first.is_empty());
    assert_eq!(first, second, "the same directory packs to the same bytes");
    assert!(!broken_ok);
    assert!(broken.contains("/nonexistent"), "{broken}");
}

#[test]
fn a_publisher_signs_a_packed_capsule_and_verifies_it_offline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/capsules/echo");
    let caravan = |args: &[&str]| {
        output_of(Command::new(env!("CARGO_BIN_EXE_caravan")).current_dir(dir.path()).args(args))
    };

    let (keygen_ok, _, keygen_err) = caravan(&["keygen", "--prefix", "acme"]);
    let (again_ok, _, _) = caravan(&["keygen", "--prefix", "acme"]);
    caravan(&["pack", fixture, "--output", "echo.capsule"]);
    let (sign_ok, _, sign_err) = caravan(&["sign", "--key", "acme.key", "echo.capsule"]);
    let (verify_ok, verified, verify_err) = caravan(&["verify", "--key", "acme.pub", "echo.capsule"]);
    let mut tampered = std::fs::read(dir.path().join("echo.capsule")).expect("bundle");
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    std::fs::write(dir.path().join("tampered.capsule"), tampered).expect("write");
    let (tampered_ok, _, tampered_err) =
        caravan(&["verify", "--key", "acme.pub", "tampered.capsule", "--signature", "echo.capsule.sig"]);

    assert!(keygen_ok, "{keygen_err}");
    assert!(!again_ok, "keygen never overwrites a key");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("acme.key")).expect("key").permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert!(sign_ok, "{sign_err}");
    assert!(verify_ok, "{verify_err}");
    assert!(verified.starts_with("verified acme/echo@1.0.0"), "{verified}");
    assert!(!tampered_ok);
    assert!(!tampered_err.is_empty());
}

#[test]
fn migrate_applies_pending_migrations_once() {
    let database = TestDatabase::create();
    let data_dir = tempfile::tempdir().expect("tempdir");

    let (first_ok, first, first_err) = output_of(caravan(&database, data_dir.path()).arg("migrate"));
    let (second_ok, second, _) = output_of(caravan(&database, data_dir.path()).arg("migrate"));

    assert!(first_ok, "{first_err}");
    assert!(first.starts_with("applied "), "{first}");
    assert!(second_ok);
    assert_eq!(second.trim(), "no pending migrations");
}

#[test]
fn a_missing_config_file_fails_loudly() {
    let database = TestDatabase::create();
    let data_dir = tempfile::tempdir().expect("tempdir");

    let (ok, _, stderr) = output_of(caravan(&database, data_dir.path()).args([
        "--config",
        "/nonexistent/caravan.toml",
        "serve",
    ]));

    assert!(!ok);
    assert!(stderr.contains("/nonexistent/caravan.toml"), "{stderr}");
}

#[test]
fn serve_logs_json_and_shuts_down_gracefully_on_sigterm() {
    let database = TestDatabase::create();
    let data_dir = tempfile::tempdir().expect("tempdir");
    let served = Served::start_with(&database, data_dir.path(), &[], &["--log-format", "json"]);

    let (health, _) = served.call("GET", "/healthz", "", None);
    forget_migrations(&database);
    let (not_ready, _) = served.call("GET", "/readyz", "", None);
    let (_, logs) = served.stop();

    assert_eq!(health, 200);
    assert_eq!(not_ready, 503);
    assert!(logs.iter().any(|line| line.contains("shutdown complete")), "{logs:?}");
    for line in &logs {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not a JSON log line: {line}");
    }
    let failure = logs.iter().find(|line| line.contains("request failed")).expect("the 503 is logged");
    let failure: serde_json::Value = serde_json::from_str(failure).expect("json");
    assert!(failure["request_id"].as_str().is_some_and(|id| id.starts_with("req_")), "{failure}");
    assert!(failure["cause"].as_str().is_some_and(|cause| cause.contains("not applied")), "{failure}");
}

#[test]
fn a_loaded_catalog_is_searched_and_evaluate_scores_a_labeled_file_against_it() {
    let database = TestDatabase::create();
    let data_dir = tempfile::tempdir().expect("tempdir");
    let catalog = data_dir.path().join("catalog.tsv");
    std::fs::write(
        &catalog,
        "name\tversion\tdownloads_a_month\tdescription\n\
         express\t4.21.2\t150000000\tFast, unopinionated, minimalist web framework\n\
         axios\t1.7.9\t200000000\tPromise based HTTP client for the browser and node.js\n\
         @acme/left-pad\t1.3.0\t1000\tString left pad\n",
    )
    .expect("write catalog");
    let labeled = data_dir.path().join("labeled.tsv");
    std::fs::write(
        &labeled,
        "# a typo, an intent with two acceptable names, and a name the catalog lacks\n\
         query\tkind\texpected\n\
         expresss\ttypo\tnpm/express\n\
         http client\tintent\tnpm/nothing,npm/axios\n\
         leftpad-but-not-there\texact\tnpm/absent\n",
    )
    .expect("write labeled queries");
    let unlabeled = data_dir.path().join("unlabeled.tsv");
    std::fs::write(&unlabeled, "# nothing labeled yet\nquery\tkind\texpected\n").expect("write");
    let admin = test_secret();

    let (loaded, loaded_out, loaded_err) =
        output_of(caravan(&database, data_dir.path()).args(["fixtures", "load-catalog"]).arg(&catalog));
    let served = Served::start(&database, data_dir.path(), &[("CARAVAN_BOOTSTRAP_KEY", &admin)]);
    let url = format!("http://{}", served.address);
    let indexed = (0..100).any(|_| {
        let (_, page) = served.call("GET", "/v1/search?q=express", &admin, None);
        let found = page["hits"].as_array().is_some_and(|hits| !hits.is_empty());
        found || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            false
        }
    });
    let evaluate = |file: &std::path::Path, key: &str| {
        output_of(
            caravan(&database, data_dir.path())
                .args(["search", "evaluate"])
                .arg(file)
                .args(["--url", &url, "--key", key]),
        )
    };
    let (scored, report, scored_err) = evaluate(&labeled, &admin);
    let (refused, _, refusal) = evaluate(&labeled, &test_secret());
    let (empty, _, emptiness) = evaluate(&unlabeled, &admin);
    drop(served);

    assert!(loaded, "{loaded_err}");
    assert!(loaded_out.contains("imported 3 catalog entries"), "{loaded_out}");
    assert!(indexed, "the server indexes the loaded catalog");
    assert!(scored, "{scored_err}");
    assert!(report.starts_with("3 queries: recall@10 0.667, MRR 0.667"), "{report}");
    for kind in
        ["exact: recall@10 0.000 (0/1)", "intent: recall@10 1.000 (1/1)", "typo: recall@10 1.000 (1/1)"]
    {
        assert!(report.contains(kind), "{kind} in {report}");
    }
    assert!(!refused);
    assert!(refusal.contains("answered 401"), "{refusal}");
    assert!(!empty, "a file without labeled queries is an error");
    assert!(emptiness.contains("no queries"), "{emptiness}");
}

fn forget_migrations(database: &TestDatabase) {
    use diesel::RunQueryDsl;
    diesel::sql_query("DELETE FROM __diesel_schema_migrations")
        .execute(&mut database.connect())
        .expect("delete");
}
