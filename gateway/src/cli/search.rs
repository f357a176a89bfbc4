//! Search operations: `caravan reindex` (rebuild the index from the database, with the
//! server stopped), `caravan fixtures load-catalog` (import a package catalog as capsule
//! metadata), and `caravan search evaluate` (recall@10 and MRR of a labeled query file
//! against a running server's `GET /v1/search`).

use crate::config::Settings;
use anyhow::Context;
use caravan_core::Database;
use caravan_registry::search::catalog;
use caravan_registry::search::index::SearchIndex;
use caravan_registry::search::relevance::{self, Scores};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn bar(total: u64, what: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(&format!("{what} [{{bar:40}}] {{pos}}/{{len}} {{per_sec}}"))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(total).with_style(style)
}

/// The database, with pending migrations applied.
fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create {}", settings.data_dir.display()))?;
    let database = Database::connect(settings.database_target()?, &settings.pool_options())
        .context("cannot open the database")?;
    database.migrate().context("cannot apply migrations")?;
    Ok(database)
}

/// Rebuilds the search index from the database.
pub fn reindex(settings: &Settings) -> anyhow::Result<()> {
    let database = open_database(settings)?;
    let index = SearchIndex::open(&settings.search_dir())
        .context("cannot open the search index (is a server using it? stop it first)")?;
    let mut connection = database.connection()?;
    let started = Instant::now();
    let progress = bar(0, "indexing");
    let total = caravan_registry::search::rebuild(&index, &mut connection, |done, total| {
        progress.set_length(total as u64);
        progress.set_position(done as u64);
    })?;
    progress.finish_and_clear();
    super::print(&format!(
        "indexed {total} documents in {:.1} s; the index takes {:.1} MB on disk",
        started.elapsed().as_secs_f64(),
        index.size_on_disk() as f64 / 1e6
    ))
}

/// Imports a catalog file into the database; a running server's index picks it up.
pub fn load_catalog(settings: &Settings, path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let entries = catalog::read(std::io::BufReader::new(file), caravan_core::db::now())?;
    let database = open_database(settings)?;
    let mut connection = database.connection()?;
    let progress = bar(entries.len() as u64, "importing");
    catalog::store(&mut connection, &entries, |stored| progress.set_position(stored as u64))?;
    progress.finish_and_clear();
    super::print(&format!("imported {} catalog entries from {}", entries.len(), path.display()))
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Labeled queries: `query<TAB>kind<TAB>expected,names` (lines starting with `#` and the
    /// header are skipped).
    pub file: PathBuf,
    #[arg(long, env = "CARAVAN_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    #[arg(long, env = "CARAVAN_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Print each query that misses.
    #[arg(long)]
    pub verbose: bool,
}

/// recall@10 and MRR of a labeled query file (see [`relevance`]), overall and per kind.
pub fn evaluate(args: EvaluateArgs) -> anyhow::Result<()> {
    let key = args.key.as_deref().context("an API key is needed: pass --key or set CARAVAN_KEY")?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let agent =
        ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build());
    let mut overall = Scores::default();
    let mut by_kind: std::collections::BTreeMap<String, Scores> = Default::default();
    for labeled in relevance::parse(&text) {
        let query = labeled.query.as_str();
        let mut response = agent
            .get(&format!("{}/v1/search", args.url.trim_end_matches('/')))
            .query("q", query)
            .query("limit", relevance::CUTOFF.to_string())
            .header("Authorization", &format!("Bearer {key}"))
            .call()
            .with_context(|| format!("cannot reach {}", args.url))?;
        anyhow::ensure!(response.status() == 200, "search for `{query}` answered {}", response.status());
        let page: serde_json::Value = response.body_mut().read_json()?;
        let names: Vec<&str> =
            page["hits"].as_array().into_iter().flatten().filter_map(|hit| hit["name"].as_str()).collect();
        by_kind.entry(labeled.kind.clone()).or_default().record(&labeled.expected, &names);
        if overall.record(&labeled.expected, &names).is_none() && args.verbose {
            eprintln!("miss: {query:?} expected {:?}, got {names:?}", labeled.expected);
        }
    }
    anyhow::ensure!(overall.queries > 0, "no queries in {}", args.file.display());
    let mut report =
        format!("{} queries: recall@10 {:.3}, MRR {:.3}", overall.queries, overall.recall(), overall.mrr());
    for (kind, scores) in by_kind {
        report.push_str(&format!(
            "\n  {kind}: recall@10 {:.3} ({}/{})",
            scores.recall(),
            scores.found,
            scores.queries
        ));
    }
    super::print(&report)
}
