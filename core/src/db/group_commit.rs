//! Group commit for SQLite: writes from many concurrent requests share one transaction and
//! one durable commit (one fsync), instead of queueing one by one for SQLite's single write
//! lock and sleeping in its busy handler.
//!
//! One committer thread takes the first queued unit of work, every unit queued behind it
//! (up to [`MAX_BATCH`]), and runs them in one `BEGIN IMMEDIATE` transaction, each in a
//! savepoint of its own (kept prepared, see `savepoint`): a unit that fails rolls back only
//! itself. Callers are answered after `COMMIT` returned, so an answer still means
//! "durable". Nothing waits to fill a batch: under light
//! load a batch is one unit, under heavy load the units that queued while the previous
//! batch committed.
//!
//! PostgreSQL does not use this: it already coalesces the WAL flushes of concurrent
//! commits, and one transaction shared by unrelated requests would hold their row locks
//! together (and could deadlock with writers that take the same rows in another order).

use super::DbConnection;
use super::error::DbError;
use super::savepoint::in_savepoint;
use super::transaction::write_transaction;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// The most units of work one commit carries.
pub const MAX_BATCH: usize = 128;

type Pool = r2d2::Pool<super::connection::ConnectionManager>;

/// Queues units of work for the committer thread.
#[derive(Clone)]
pub(super) struct GroupCommitter {
    queue: mpsc::Sender<Box<dyn Unit>>,
}

impl GroupCommitter {
    /// Starts the committer thread; it ends when the last sender is dropped.
    pub(super) fn start(pool: Pool) -> std::io::Result<Self> {
        let (queue, units) = mpsc::channel::<Box<dyn Unit>>();
        std::thread::Builder::new().name("caravan-group-commit".to_owned()).spawn(move || {
            while let Ok(first) = units.recv() {
                let mut batch = vec![first];
                batch.extend(units.try_iter().take(MAX_BATCH - 1));
                // A unit that panics takes its batch down (the callers hear "interrupted",
                // the connection, left mid-transaction, is dropped as broken), not the thread.
                if catch_unwind(AssertUnwindSafe(|| commit_batch(&pool, batch))).is_err() {
                    tracing::error!("a unit of work panicked; its batch was rolled back");
                }
            }
        })?;
        Ok(Self { queue })
    }

    /// Runs `work` in the next batch and answers once that batch committed.
    pub(super) async fn run<T, E, F>(&self, work: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<diesel::result::Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let unit = Pending { work: Some(work), outcome: None, reply };
        if self.queue.send(Box::new(unit)).is_err() {
            return Err(E::from(DbError::Interrupted));
        }
        answer.await.unwrap_or_else(|_| Err(E::from(DbError::Interrupted)))
    }
}

/// One caller's unit of work, type-erased for the queue.
trait Unit: Send {
    /// Runs the work in a savepoint of the batch's transaction.
    fn run(&mut self, connection: &mut DbConnection);
    /// Answers the caller with the work's outcome, or with why the batch did not commit.
    fn answer(self: Box<Self>, committed: Result<(), &DbError>);
}

struct Pending<T, E, F> {
    work: Option<F>,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Unit for Pending<T, E, F>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E> + Send,
    T: Send,
    E: From<DbError> + From<diesel::result::Error> + Send,
{
    fn run(&mut self, connection: &mut DbConnection) {
        if let Some(work) = self.work.take() {
            self.outcome = Some(in_savepoint(connection, work));
        }
    }

    fn answer(self: Box<Self>, committed: Result<(), &DbError>) {
        let outcome = match (committed, self.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            // The work failed on its own: its error says more than the batch's.
            (Err(_), Some(Err(error))) => Err(error),
            // No connection: the caller may retry (503), as with any other pool timeout.
            (Err(DbError::Pool(_)), _) => Err(E::from(DbError::SharedCommitUnavailable)),
            (Err(_), _) | (Ok(()), None) => Err(E::from(DbError::Interrupted)),
        };
        // The caller may have gone away (its request was dropped); the work stands.
        let _ = self.reply.send(outcome);
    }
}

fn commit_batch(pool: &Pool, mut batch: Vec<Box<dyn Unit>>) {
    let committed = pool.get().map_err(DbError::Pool).and_then(|mut connection| {
        write_transaction::<_, DbError, _>(&mut connection, |connection| {
            for unit in &mut batch {
                unit.run(connection);
            }
            Ok(())
        })
    });
    if let Err(error) = &committed {
        let cause = std::error::Error::source(error).map(ToString::to_string).unwrap_or_default();
        tracing::error!(error = %error, cause, units = batch.len(), "a group commit failed");
    }
    for unit in batch {
        unit.answer(committed.as_ref().map(|_| ()));
    }
}

#[cfg(test)]
mod tests {
    use crate::db::{Database, DbError, DbTarget, PoolOptions};
    use crate::{ErrorKind, Problematic};
    use diesel::RunQueryDsl;
    use diesel::sql_types::BigInt;

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        rows: i64,
    }

    fn insert(id: i64) -> impl FnOnce(&mut super::DbConnection) -> Result<i64, DbError> + Send {
        move |connection| {
            diesel::sql_query(format!("INSERT INTO runs (id) VALUES ({id})")).execute(connection)?;
            Ok(id)
        }
    }

    #[actix_web::test]
    async fn a_failing_unit_rolls_back_alone_and_the_rest_of_its_batch_commits() {
        let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temporary directory: {error}"));
        let target = DbTarget::Sqlite(dir.path().join("group.db"));
        let database = Database::connect(target, &PoolOptions::default())
            .unwrap_or_else(|error| panic!("open the database: {error}"));
        database
            .write(|connection| {
                diesel::sql_query("CREATE TABLE runs (id INTEGER PRIMARY KEY)").execute(connection)?;
                Ok::<_, DbError>(())
            })
            .await
            .unwrap_or_else(|error| panic!("create the table: {error}"));

        // 200 concurrent units; every tenth repeats the id before it and must fail alone.
        let ids: Vec<i64> = (0..200).map(|n| if n % 10 == 9 { n - 1 } else { n }).collect();
        let answers = futures_util::future::join_all(ids.iter().map(|id| database.write(insert(*id)))).await;

        for (n, answer) in answers.iter().enumerate() {
            if n % 10 == 9 {
                assert!(matches!(answer, Err(DbError::Query(_))), "unit {n} reused an id: {answer:?}");
            } else {
                assert_eq!(answer.as_ref().ok(), Some(&ids[n]), "unit {n}");
            }
        }
        let stored = database
            .run(|connection| {
                diesel::sql_query("SELECT count(*) AS rows FROM runs")
                    .get_result::<Count>(connection)
                    .map_err(DbError::from)
            })
            .await
            .unwrap_or_else(|error| panic!("count: {error}"));
        assert_eq!(stored.rows, 180);
    }

    #[actix_web::test]
    async fn a_batch_that_finds_no_connection_answers_unavailable() {
        let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("temporary directory: {error}"));
        let target = DbTarget::Sqlite(dir.path().join("group.db"));
        let options = PoolOptions {
            max_connections: 1,
            acquire_timeout: std::time::Duration::from_millis(100),
            ..PoolOptions::default()
        };
        let database =
            Database::connect(target, &options).unwrap_or_else(|error| panic!("open the database: {error}"));
        let held = database.connection().unwrap_or_else(|error| panic!("the only connection: {error}"));

        let answer = database.write(|_| Ok::<_, DbError>(())).await;

        drop(held);
        let error = answer.err().unwrap_or_else(|| panic!("a commit without a connection cannot succeed"));
        assert!(matches!(error, DbError::SharedCommitUnavailable), "{error:?}");
        assert!(matches!(error.kind(), ErrorKind::Unavailable), "answered 503");
    }
}
