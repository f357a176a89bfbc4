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
use std::collections::HashMap;
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

/// Where following the database stands: the index's watermarks, and the capsules indexed
/// at each `updated_at` within [`LOOK_BACK`] of the capsules' watermark. Each catch-up reads
/// the changes of that look-back again, for replicas whose clocks lag; those already
/// indexed at the same time are not indexed again. Every change moves `updated_at` (in
/// microseconds), so only two changes of one capsule in the same microsecond would be
/// indexed as one.
#[derive(Debug, Clone, Default)]
pub struct Following {
    pub marks: Watermarks,
    recently_indexed: HashMap<String, NaiveDateTime>,
}

impl Following {
    pub fn starting_at(marks: Watermarks) -> Self {
        Self { marks, recently_indexed: HashMap::new() }
    }

    /// Drops from `changed` the capsules already indexed at the time they changed.
    fn drop_indexed(&self, changed: &mut Vec<(String, NaiveDateTime)>) {
        changed.retain(|(name, at)| self.recently_indexed.get(name) != Some(at));
    }

    /// Notes the capsules indexed, and forgets those changed before the look-back of the
    /// new watermark, which no catch-up reads again.
    fn indexed(&mut self, changed: Vec<(String, NaiveDateTime)>, marks: Watermarks) {
        self.recently_indexed.extend(changed);
        if let Some(newest) = marks.capsules {
            self.recently_indexed.retain(|_, at| *at >= newest - LOOK_BACK);
        }
        self.marks = marks;
    }
}

/// Indexes what changed in the database since the watermarks of `following`, and moves
/// them on.
pub fn catch_up(
    index: &SearchIndex,
    connection: &mut DbConnection,
    following: &mut Following,
) -> Result<(), SearchError> {
    let marks = following.marks;
    let mut next = marks;
    let since = marks.capsules.map_or(NaiveDateTime::default(), |at| at - LOOK_BACK);
    let mut changed = documents::changed_since(connection, since)?;
    following.drop_indexed(&mut changed);
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
    following.indexed(changed, next);
    Ok(())
}

/// Follows the database every `interval` and refreshes ranks every `rank_interval`, until
/// the runtime stops.
pub fn spawn_follower(index: SearchIndex, database: Database, interval: Duration, rank_interval: Duration) {
    actix_web::rt::spawn(async move {
        let mut following = Following::starting_at(index.watermarks());
        let mut ticks = actix_web::rt::time::interval(interval);
        let mut last_rank = std::time::Instant::now() - rank_interval;
        loop {
            ticks.tick().await;
            let rank_now = last_rank.elapsed() >= rank_interval;
            let follower = index.clone();
            let mut next = following.clone();
            let caught_up = database
                .run(move |connection| {
                    if rank_now {
                        ranking::refresh(connection, caravan_core::db::now())?;
                    }
                    catch_up(&follower, connection, &mut next).map(|()| next)
                })
                .await;
            match caught_up {
                Ok(next) => following = next,
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

#[cfg(test)]
mod tests {
    use super::{Following, LOOK_BACK, Watermarks};
    use chrono::{NaiveDateTime, TimeDelta};

    #[test]
    fn a_change_is_indexed_once_however_often_its_look_back_is_read_again() {
        let at = |seconds: i64| NaiveDateTime::default() + TimeDelta::seconds(1_000 + seconds);
        let marks = |seconds: i64| Watermarks { capsules: Some(at(seconds)), catalog: None };
        let mut following = Following::default();
        let first = vec![("acme/echo".to_owned(), at(0)), ("acme/lag".to_owned(), at(-3))];
        following.indexed(first.clone(), marks(0));

        let mut again = first.clone();
        following.drop_indexed(&mut again);
        assert!(again.is_empty(), "read again within the look-back: {again:?}");

        // Changed again, and a change from a replica whose clock lags.
        let mut later = vec![("acme/echo".to_owned(), at(2)), ("acme/late".to_owned(), at(-1))];
        following.drop_indexed(&mut later);
        assert_eq!(later.len(), 2, "new times are indexed");
        following.indexed(later, marks(2));

        // Past the look-back of the new watermark, a change is forgotten: no catch-up reads it.
        let beyond = (LOOK_BACK + TimeDelta::seconds(1)).num_seconds();
        following.indexed(Vec::new(), marks(beyond));
        let mut old = vec![("acme/lag".to_owned(), at(-3))];
        following.drop_indexed(&mut old);
        assert_eq!(old.len(), 1, "forgotten once out of the look-back");
        assert_eq!(following.marks, marks(beyond));
    }
}
