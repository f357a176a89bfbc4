//! Search and ranking: a tantivy index of published capsules and imported catalog entries
//! that follows the database, typo-tolerant queries with facets and snippets, and ranks
//! from measured performance.
//!
//! The database is the source of truth. A follower task, on every replica, indexes what
//! changed since the index's watermarks (`capsules.updated_at`, catalog imports): a
//! publish, yank, revoke or deprecate, or a new rank, reaches search within a second. An
//! index that is missing, corrupt or empty is refilled the same way, and `caravan reindex`
//! rebuilds it whole.

mod best_terms;
pub mod catalog;
pub mod documents;
mod expand;
pub mod facets;
pub mod index;
pub mod latency_buckets;
mod matches;
pub mod performance;
pub mod query;
pub mod ranking;
pub mod relevance;
mod results;
mod rows;
pub mod schema;
mod snippets;
mod statuses;
mod threads;
mod typo_index;
mod warm;

use caravan_core::Database;
use caravan_core::db::{DbConnection, DbError};
use chrono::{NaiveDateTime, TimeDelta};
use index::{IndexError, SearchIndex, Watermarks};
use std::time::Duration;

/// How far back each catch-up looks again, for replicas whose clocks disagree a little.
const LOOK_BACK: TimeDelta = TimeDelta::seconds(5);

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for SearchError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(DbError::Query(error))
    }
}

/// Rebuilds the index from the database; `progress` hears (indexed, total). Returns the
/// number of documents.
pub fn rebuild(
    index: &SearchIndex,
    connection: &mut DbConnection,
    progress: impl Fn(usize, usize),
) -> Result<usize, SearchError> {
    let marks = Watermarks {
        capsules: documents::changed_since(connection, NaiveDateTime::default())?
            .into_iter()
            .map(|(_, at)| at)
            .max(),
        catalog: documents::catalog_watermark(connection)?,
    };
    let mut all = documents::registry(connection, None)?;
    all.extend(documents::catalog(connection, None)?);
    let total = all.len();
    index.clear()?;
    let mut done = 0;
    for chunk in all.chunks(10_000) {
        index.upsert(chunk.to_vec())?;
        done += chunk.len();
        progress(done, total);
    }
    index.set_watermarks(marks)?;
    index.flush()?;
    Ok(total)
}

/// Indexes what changed in the database since `marks`; returns the new watermarks.
pub fn catch_up(
    index: &SearchIndex,
    connection: &mut DbConnection,
    marks: Watermarks,
) -> Result<Watermarks, SearchError> {
    let mut next = marks;
    let since = marks.capsules.map_or(NaiveDateTime::default(), |at| at - LOOK_BACK);
    let changed = documents::changed_since(connection, since)?;
    if !changed.is_empty() {
        let names: Vec<String> = changed.iter().map(|(name, _)| name.clone()).collect();
        let found = documents::registry(connection, Some(&names))?;
        let missing: Vec<String> =
            names.iter().filter(|name| !found.iter().any(|doc| &doc.name == *name)).cloned().collect();
        index.upsert(found)?;
        if !missing.is_empty() {
            index.delete(missing)?;
        }
        next.capsules = changed.iter().map(|(_, at)| *at).max().max(marks.capsules);
    }
    let imported = documents::catalog_watermark(connection)?;
    if imported.is_some() && imported > marks.catalog {
        index.upsert(documents::catalog(connection, marks.catalog)?)?;
        next.catalog = imported;
    }
    if next != marks {
        index.set_watermarks(next)?;
    }
    Ok(next)
}

/// Follows the database every `interval` and refreshes ranks every `rank_interval`, until
/// the runtime stops.
pub fn spawn_follower(index: SearchIndex, database: Database, interval: Duration, rank_interval: Duration) {
    actix_web::rt::spawn(async move {
        let mut marks = index.watermarks();
        let mut ticks = actix_web::rt::time::interval(interval);
        let mut last_rank = std::time::Instant::now() - rank_interval;
        loop {
            ticks.tick().await;
            let rank_now = last_rank.elapsed() >= rank_interval;
            let follower = index.clone();
            let caught_up = database
                .run(move |connection| {
                    if rank_now {
                        ranking::refresh(connection, caravan_core::db::now())?;
                    }
                    catch_up(&follower, connection, marks)
                })
                .await;
            match caught_up {
                Ok(next) => marks = next,
                Err(error) => {
                    tracing::warn!(error = %error, "the search index could not follow the database")
                }
            }
            if rank_now {
                last_rank = std::time::Instant::now();
            }
        }
    });
}
