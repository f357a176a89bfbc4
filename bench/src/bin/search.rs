//! Search benchmark on the 185k-record catalog (`../shared/corpus/npm-catalog.tsv`), all
//! in one run:
//!
//! 1. Caravan's index built from the catalog (the time and size of a full index).
//! 2. Latency of Caravan's search, single-threaded in-process, for 1–3 word queries with
//!    facets (the relevance set's exact, prefix and intent queries), typo queries (the 80
//!    known-item queries with one typo each) and type-ahead suggestions.
//! 3. The same over HTTP (`GET /v1/search`): one client; 32 concurrent clients each
//!    asking again as soon as answered (the throughput); and 32 clients sending half that
//!    throughput between them, at appointed times (the latency of a loaded server that
//!    is not saturated).
//! 4. The same 80 typo queries against PostgreSQL full-text search (tsvector with a GIN
//!    index, `ts_rank_cd`) and SQLite FTS5 (`bm25`), with the same semantics: any word may
//!    match (OR), ranked by text relevance blended with popularity — p50, p99 and
//!    recall@10 for all three, side by side, measured in alternated rounds.
//!
//! `cargo run --release -p caravan-bench --bin search -- [--in-process] [CATALOG]`
//! (`--in-process` stops after part 2, listing the slowest queries), PostgreSQL from
//! `BENCH_POSTGRES_URL` (default postgres://postgres@127.0.0.1:5432/test; a scratch
//! database is made and dropped).

#![allow(clippy::print_stdout)] // the report goes to standard output

use caravan_bench::{agent, bench_settings, percentile, serve_caravan};
use caravan_gateway::config::Settings;
use caravan_registry::search::catalog::{self, CatalogEntry};
use caravan_registry::search::documents;
use caravan_registry::search::index::SearchIndex;
use caravan_registry::search::query::{self, SearchRequest};
use caravan_registry::search::relevance::{self, Scores};
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use std::time::Instant;

const REPEAT: usize = 5;

fn main() -> anyhow::Result<()> {
    let in_process_only = std::env::args().any(|argument| argument == "--in-process");
    let path = std::env::args().skip(1).find(|argument| !argument.starts_with("--")).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/npm-catalog.tsv").to_owned()
    });
    let file = std::fs::File::open(&path).map_err(|error| anyhow::anyhow!("cannot open {path}: {error}"))?;
    let entries = catalog::read(std::io::BufReader::new(file), caravan_core::db::now())?;
    let plain = queries(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/search/relevance.tsv"), |kind| {
        kind != "typo"
    })?;
    let typos =
        queries(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/search/typo-known-items.tsv"), |_| true)?;
    let prefixes: Vec<String> =
        plain.iter().chain(&typos).map(|(query, _)| query.chars().take(4).collect()).collect();
    println!(
        "catalog: {} entries; {} plain queries, {} typo queries, {} prefixes",
        entries.len(),
        plain.len(),
        typos.len(),
        prefixes.len()
    );

    // 1. The catalog stored in the database, and a full reindex from it (what `caravan
    //    reindex` does).
    let (settings, _data_dir, backend) = bench_settings(2)?;
    let database = caravan_core::Database::connect(
        settings.database_target()?,
        &caravan_core::db::PoolOptions::default(),
    )?;
    database.migrate()?;
    catalog::store(&mut *database.connection()?, &entries, |_| {})?;
    let directory = tempfile::tempdir()?;
    let started = Instant::now();
    let index = SearchIndex::open(&directory.path().join("search"))?;
    index.upsert(documents::catalog(&mut *database.connection()?, None)?)?;
    index.flush()?;
    println!(
        "full reindex from {backend}: {} documents in {:.2} s, {} segments, {:.1} MB on disk",
        index.len(),
        started.elapsed().as_secs_f64(),
        index.searcher().segment_readers().len(),
        index.size_on_disk() as f64 / 1e6
    );

    // 2. In-process, single-threaded.
    let search = |q: &str| {
        let request = SearchRequest { q: q.to_owned(), limit: 10, ..SearchRequest::default() };
        Ok(query::search(&index, &request)?.hits.into_iter().map(|hit| hit.name).collect::<Vec<_>>())
    };
    let (mut plain_ms, _) = timed(&plain, |q| search(q))?;
    let (mut typo_ms, caravan_recall) = timed(&typos, |q| search(q))?;
    let (mut suggest_ms, _) =
        timed(&prefixes.iter().map(|prefix| (prefix.clone(), Vec::new())).collect::<Vec<_>>(), |q| {
            Ok(query::suggest(&index, q, 8)?.into_iter().map(|suggestion| suggestion.name).collect())
        })?;
    println!("\nCaravan, in-process, single-threaded (×{REPEAT} each):");
    println!(
        "  1–3 word queries with facets: p50 {:.2} ms, p99 {:.2} ms",
        percentile(&mut plain_ms, 0.5),
        percentile(&mut plain_ms, 0.99)
    );
    println!(
        "  typo queries with facets:     p50 {:.2} ms, p99 {:.2} ms",
        percentile(&mut typo_ms, 0.5),
        percentile(&mut typo_ms, 0.99)
    );
    println!(
        "  suggest:                      p50 {:.2} ms, p99 {:.2} ms",
        percentile(&mut suggest_ms, 0.5),
        percentile(&mut suggest_ms, 0.99)
    );

    let relevance_set =
        queries(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/search/relevance.tsv"), |_| true)?;
    let (recall, mrr, misses) = relevance_scores(&relevance_set, |q| search(q))?;
    println!("  relevance set ({} queries): recall@10 {recall:.3}, MRR {mrr:.3}", relevance_set.len());
    println!("  typo queries: recall@10 {caravan_recall:.3}");

    if in_process_only {
        for miss in &misses {
            println!("  miss: {miss}");
        }
        for (name, queries) in [("1–3 word", &plain), ("typo", &typos)] {
            let mut slowest: Vec<(f64, &str)> = queries
                .iter()
                .map(|(query, _)| {
                    let started = Instant::now();
                    let _ = search(query);
                    (started.elapsed().as_secs_f64() * 1000.0, query.as_str())
                })
                .collect();
            slowest.sort_by(|left, right| right.0.total_cmp(&left.0));
            let listed: Vec<String> =
                slowest.iter().take(5).map(|(ms, query)| format!("{query:?} {ms:.2} ms")).collect();
            println!("  slowest {name} queries: {}", listed.join(", "));
        }
        return Ok(());
    }

    // 3. Over HTTP.
    let http = over_http(settings, entries.len(), &plain, &typos)?;
    println!("\nCaravan over HTTP (GET /v1/search, limit 10, facets):");
    println!("  1 client:    p50 {:.2} ms, p99 {:.2} ms", http.one_client.0, http.one_client.1);
    println!(
        "  {CLIENTS} clients, each asking again when answered: p50 {:.2} ms, p99 {:.2} ms, {:.0} searches/s",
        http.saturated.0, http.saturated.1, http.saturated_rate
    );
    println!(
        "  {CLIENTS} clients sending {:.0} searches/s between them (half of that): p50 {:.2} ms, p99 {:.2} ms",
        http.saturated_rate / 2.0,
        http.half_load.0,
        http.half_load.1
    );

    // 4. The baselines, on the typo queries, in rounds alternated with Caravan's so that
    //    all three meet the same machine: this one is shared, and its speed drifts
    //    between the parts of a run.
    let side_by_side = with_postgres(&entries, |postgres| {
        let mut fts = Fts5::load(&entries)?;
        let mut engines: [&mut Engine; 3] =
            [&mut |q| search(q), &mut |q| postgres_search(postgres, q), &mut |q| fts.search(q)];
        alternated(&typos, &mut engines)
    })?;
    println!(
        "\n80 known-item queries with one typo each, top 10 (single-threaded, ×{REPEAT} in alternated rounds):"
    );
    println!("  engine                  p50 ms   p99 ms  recall@10");
    let mut figures = Vec::new();
    for (engine, (mut latencies, recall)) in
        ["Caravan (tantivy)  ", "PostgreSQL FTS (OR)", "SQLite FTS5 (OR)   "].into_iter().zip(side_by_side)
    {
        let (p50, p99) = (percentile(&mut latencies, 0.5), percentile(&mut latencies, 0.99));
        println!("  {engine}   {p50:8.2} {p99:8.2}  {recall:9.3}");
        figures.push((p50, p99));
    }
    let [(caravan_p50, caravan_p99), (postgres_p50, postgres_p99), (sqlite_p50, sqlite_p99)] = figures[..]
    else {
        anyhow::bail!("three engines were measured");
    };
    println!(
        "  Caravan is {:.1}x / {:.1}x faster than PostgreSQL and {:.1}x / {:.1}x faster than FTS5 (p50 / p99)",
        postgres_p50 / caravan_p50,
        postgres_p99 / caravan_p99,
        sqlite_p50 / caravan_p50,
        sqlite_p99 / caravan_p99
    );
    Ok(())
}

type Labeled = Vec<(String, Vec<String>)>;

fn queries(path: &str, keep: impl Fn(&str) -> bool) -> anyhow::Result<Labeled> {
    Ok(relevance::parse(&std::fs::read_to_string(path)?)
        .into_iter()
        .filter(|labeled| keep(&labeled.kind))
        .map(|labeled| (labeled.query, labeled.expected))
        .collect())
}

/// Runs each query `REPEAT` times; the latencies, and recall@10 of the first run.
fn timed(
    queries: &Labeled,
    mut run: impl FnMut(&str) -> anyhow::Result<Vec<String>>,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let mut latencies = Vec::new();
    let mut scores = Scores::default();
    for round in 0..REPEAT {
        for (query, expected) in queries {
            let started = Instant::now();
            let names = run(query)?;
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
            if round == 0 {
                scores.record(expected, &names);
            }
        }
    }
    Ok((latencies, scores.recall()))
}

/// recall@10 and MRR, as `caravan search evaluate` computes them, and each query that
/// missed, described as `caravan search evaluate --verbose` does.
fn relevance_scores(
    queries: &Labeled,
    mut run: impl FnMut(&str) -> anyhow::Result<Vec<String>>,
) -> anyhow::Result<(f64, f64, Vec<String>)> {
    let mut scores = Scores::default();
    let mut misses = Vec::new();
    for (query, expected) in queries {
        let names = run(query)?;
        if scores.record(expected, &names).is_none() {
            misses.push(format!("{query:?} expected {expected:?}, got {names:?}"));
        }
    }
    Ok((scores.recall(), scores.mrr(), misses))
}

/// The words of a query as the baselines see them: lowercase letters and digits.
fn words(query: &str) -> Vec<String> {
    query
        .split(|character: char| !character.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A search engine under test: the names of the top 10 for a query.
type Engine<'a> = dyn FnMut(&str) -> anyhow::Result<Vec<String>> + 'a;

/// Runs the queries on each engine in turn, `REPEAT` rounds, each round starting with the
/// next engine; per engine, the latencies of all rounds and recall@10 of its first. Each engine
/// answers all the queries in a row, as a search service answers a stream of them, and
/// the rounds alternate the engines so that all meet the same machine.
fn alternated(queries: &Labeled, engines: &mut [&mut Engine]) -> anyhow::Result<Vec<(Vec<f64>, f64)>> {
    let mut latencies = vec![Vec::new(); engines.len()];
    let mut scores: Vec<Scores> = engines.iter().map(|_| Scores::default()).collect();
    for round in 0..REPEAT {
        for turn in 0..engines.len() {
            let engine = (round + turn) % engines.len();
            for (query, expected) in queries {
                let started = Instant::now();
                let names = engines[engine](query)?;
                latencies[engine].push(started.elapsed().as_secs_f64() * 1000.0);
                if round == 0 {
                    scores[engine].record(expected, &names);
                }
            }
        }
    }
    Ok(latencies.into_iter().zip(scores).map(|(latencies, scores)| (latencies, scores.recall())).collect())
}

/// Runs `measure` with a connection to a scratch PostgreSQL database holding the catalog
/// in a `tsvector` column with a GIN index; drops the database after.
fn with_postgres<T>(
    entries: &[CatalogEntry],
    measure: impl FnOnce(&mut PgConnection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let admin_url = std::env::var("BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let mut admin = PgConnection::establish(&admin_url)?;
    diesel::sql_query("DROP DATABASE IF EXISTS caravan_bench_search WITH (FORCE)").execute(&mut admin)?;
    diesel::sql_query("CREATE DATABASE caravan_bench_search").execute(&mut admin)?;
    let url = format!(
        "{}/caravan_bench_search",
        admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base)
    );
    let outcome = (|| -> anyhow::Result<T> {
        let mut connection = PgConnection::establish(&url)?;
        diesel::sql_query(
            "CREATE TABLE catalog (name TEXT PRIMARY KEY, description TEXT NOT NULL, downloads BIGINT NOT NULL, \
             document tsvector GENERATED ALWAYS AS (to_tsvector('english', replace(replace(name, '/', ' '), '-', ' ') \
             || ' ' || description)) STORED)",
        )
        .execute(&mut connection)?;
        let rows = tempfile::NamedTempFile::new()?;
        let text: String = entries
            .iter()
            .map(|entry| {
                format!(
                    "{}\t{}\t{}\n",
                    copy_text(&entry.name),
                    copy_text(&entry.description),
                    entry.downloads_a_month
                )
            })
            .collect();
        std::fs::write(rows.path(), text)?;
        let copied = std::process::Command::new("psql")
            .arg(&url)
            .arg("-qc")
            .arg(format!("\\copy catalog (name, description, downloads) FROM '{}'", rows.path().display()))
            .status()?;
        anyhow::ensure!(copied.success(), "psql \\copy failed");
        diesel::sql_query("CREATE INDEX catalog_document ON catalog USING GIN (document)")
            .execute(&mut connection)?;
        diesel::sql_query("ANALYZE catalog").execute(&mut connection)?;
        measure(&mut connection)
    })();
    diesel::sql_query("DROP DATABASE IF EXISTS caravan_bench_search WITH (FORCE)").execute(&mut admin)?;
    outcome
}

/// The top 10 for `q` by PostgreSQL full-text search: any word (OR), `ts_rank_cd` blended
/// with popularity.
fn postgres_search(connection: &mut PgConnection, q: &str) -> anyhow::Result<Vec<String>> {
    let terms = words(q).join(" | ");
    let sql = format!(
        "SELECT name FROM catalog, to_tsquery('english', '{terms}') query WHERE document @@ query \
         ORDER BY ts_rank_cd(document, query) * ln(2 + downloads) DESC LIMIT 10"
    );
    Ok(diesel::sql_query(sql).load::<Named>(connection)?.into_iter().map(|row| row.name).collect())
}

fn copy_text(text: &str) -> String {
    text.replace('\\', "\\\\").replace(['\t', '\n', '\r'], " ")
}

#[derive(diesel::QueryableByName)]
struct Named {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// The catalog in an SQLite FTS5 table of a scratch database.
struct Fts5 {
    connection: SqliteConnection,
    _directory: tempfile::TempDir,
}

impl Fts5 {
    fn load(entries: &[CatalogEntry]) -> anyhow::Result<Self> {
        let directory = tempfile::tempdir()?;
        let path = directory.path().join("fts.db");
        let mut connection = SqliteConnection::establish(&path.display().to_string())?;
        diesel::sql_query("CREATE VIRTUAL TABLE catalog USING fts5(name, description, downloads UNINDEXED, tokenize = 'porter unicode61')")
            .execute(&mut connection)?;
        connection.transaction(|connection| {
            for entry in entries {
                diesel::sql_query("INSERT INTO catalog (name, description, downloads) VALUES (?, ?, ?)")
                    .bind::<diesel::sql_types::Text, _>(&entry.name)
                    .bind::<diesel::sql_types::Text, _>(&entry.description)
                    .bind::<diesel::sql_types::BigInt, _>(entry.downloads_a_month)
                    .execute(connection)?;
            }
            Ok::<_, diesel::result::Error>(())
        })?;
        Ok(Self { connection, _directory: directory })
    }

    /// The top 10 for `q`: any word (OR), `bm25` blended with popularity.
    fn search(&mut self, q: &str) -> anyhow::Result<Vec<String>> {
        let terms = words(q).iter().map(|word| format!("\"{word}\"")).collect::<Vec<_>>().join(" OR ");
        let sql = format!(
            "SELECT name FROM catalog WHERE catalog MATCH '{terms}' ORDER BY bm25(catalog) * ln(2 + downloads) LIMIT 10"
        );
        Ok(diesel::sql_query(sql)
            .load::<Named>(&mut self.connection)?
            .into_iter()
            .map(|row| row.name)
            .collect())
    }
}

/// How many segments the search index's last commit lists.
fn segments(meta: &std::path::Path) -> Option<usize> {
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(meta).ok()?).ok()?;
    meta["segments"].as_array().map(Vec::len)
}

/// (p50, p99) in milliseconds.
type Percentiles = (f64, f64);

/// Searches through `caravan serve`.
struct OverHttp {
    one_client: Percentiles,
    /// 32 clients, each asking again as soon as it is answered.
    saturated: Percentiles,
    saturated_rate: f64,
    /// 32 clients sending half of `saturated_rate` between them.
    half_load: Percentiles,
}

/// How many clients search at once.
const CLIENTS: usize = 32;

fn over_http(
    settings: Settings,
    catalog_size: usize,
    plain: &Labeled,
    typos: &Labeled,
) -> anyhow::Result<OverHttp> {
    let index_meta = settings.search_dir().join("meta.json");
    let (base, key) = serve_caravan(settings)?;
    // The server's follower indexes the catalog; wait for it, and for the merge into one
    // segment that follows a bulk commit (the reader's warmer then reads the merged
    // segment's values): measure the settled index, not one that is merging.
    let http = agent();
    for _ in 0..600 {
        let mut response = http
            .get(&format!("{base}/v1/search"))
            .header("Authorization", &format!("Bearer {key}"))
            .call()?;
        let page: serde_json::Value = response.body_mut().read_json()?;
        if page["total"].as_u64() == Some(catalog_size as u64) && segments(&index_meta) == Some(1) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    let all: Vec<&str> = plain.iter().chain(typos).map(|(query, _)| query.as_str()).collect();
    let fetch = |agent: &ureq::Agent, q: &str| -> anyhow::Result<()> {
        let mut response = agent
            .get(&format!("{base}/v1/search"))
            .query("q", q)
            .query("limit", "10")
            .header("Authorization", &format!("Bearer {key}"))
            .call()?;
        anyhow::ensure!(response.status() == 200, "search answered {}", response.status());
        let _ = response.body_mut().read_to_vec()?;
        Ok(())
    };
    let mut one = Vec::new();
    for _ in 0..REPEAT {
        for q in &all {
            let started = Instant::now();
            fetch(&http, q)?;
            one.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let (mut saturated, saturated_rate) = many_clients(&all, &fetch, None)?;
    let (mut half_load, _) = many_clients(&all, &fetch, Some(saturated_rate / 2.0))?;
    Ok(OverHttp {
        one_client: (percentile(&mut one, 0.5), percentile(&mut one, 0.99)),
        saturated: (percentile(&mut saturated, 0.5), percentile(&mut saturated, 0.99)),
        saturated_rate,
        half_load: (percentile(&mut half_load, 0.5), percentile(&mut half_load, 0.99)),
    })
}

/// [`CLIENTS`] clients on threads of their own, each asking every query `REPEAT` times
/// from its own starting point; the latencies and the searches a second.
///
/// Without a `rate`, a client asks again as soon as it is answered (closed loop). With
/// one, the clients between them send `rate` searches a second, each at its appointed
/// time (open loop), and a latency counts from that time: a search that had to wait for
/// its client's previous answer counts its wait.
fn many_clients(
    all: &[&str],
    fetch: &(dyn Fn(&ureq::Agent, &str) -> anyhow::Result<()> + Sync),
    rate: Option<f64>,
) -> anyhow::Result<(Vec<f64>, f64)> {
    let started = Instant::now();
    let latencies = std::thread::scope(|scope| -> anyhow::Result<Vec<f64>> {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|client| {
                scope.spawn(move || -> anyhow::Result<Vec<f64>> {
                    let agent = agent();
                    let mut latencies = Vec::new();
                    let mut sent = 0;
                    for round in 0..REPEAT {
                        for q in
                            all.iter().skip((client + round) % all.len()).chain(all.iter()).take(all.len())
                        {
                            let appointed = match rate {
                                Some(rate) => {
                                    let at = started
                                        + std::time::Duration::from_secs_f64(
                                            (sent * CLIENTS + client) as f64 / rate,
                                        );
                                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                                    at
                                }
                                None => Instant::now(),
                            };
                            sent += 1;
                            fetch(&agent, q)?;
                            latencies.push(appointed.elapsed().as_secs_f64() * 1000.0);
                        }
                    }
                    Ok(latencies)
                })
            })
            .collect();
        let mut all_latencies = Vec::new();
        for handle in handles {
            all_latencies.extend(handle.join().map_err(|_| anyhow::anyhow!("a client panicked"))??);
        }
        Ok(all_latencies)
    })?;
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    Ok((latencies, rate))
}
