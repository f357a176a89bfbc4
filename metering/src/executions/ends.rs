//! The ends of runs, recorded together: ends that arrive while a group is being written
//! wait in a queue, and the next write takes all of them (up to [`MAX_ENDS`]) in one
//! transaction ([`record::record_ends`]). Each end's usage still goes into the ledger as
//! its own event, but a group adds to each rollup cell once — concurrent runs of a capsule
//! share their hour and month cells, which were most of the statements an end made — and
//! shares one commit.
//!
//! No thread of its own does this: the end that finds no group being written starts a
//! writer task on its own thread, which writes groups until the queue is empty. A task,
//! so that a caller that goes away cannot drop a write half-answered.
//!
//! Every end is answered only after its group committed, so an answer still means
//! "recorded durably". A group that fails on what one end brought (a constraint) is
//! written again one end at a time, so that end fails alone; one that fails for want of
//! the database fails whole.
//!
//! On PostgreSQL too a group is one transaction. Its locks are taken in one order — the
//! executions by id, then the rollup cells by tenant, key and cell, then the capsules'
//! performance cells by key — so two groups, or a group and an ingestion, cannot
//! deadlock.

use super::record::{self, End};
use crate::db::executions::ExecutionRow;
use crate::domain::meter::MeterCatalog;
use crate::error::MeteringError;
use caravan_core::db::{DbError, now};
use caravan_core::{Database, ErrorKind, Problematic};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;

/// The most ends one transaction carries.
pub const MAX_ENDS: usize = 256;

type Reply = oneshot::Sender<Result<ExecutionRow, MeteringError>>;

/// Records ends in groups; clones share the queue.
#[derive(Debug, Clone)]
pub struct EndRecorder {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    database: Database,
    meters: MeterCatalog,
    queue: Mutex<Queue>,
}

#[derive(Debug, Default)]
struct Queue {
    ends: Vec<(End, Reply)>,
    /// A writer task is running; it takes what is queued before it stops.
    writing: bool,
}

impl EndRecorder {
    pub fn new(database: Database, meters: MeterCatalog) -> Self {
        Self { shared: Arc::new(Shared { database, meters, queue: Mutex::new(Queue::default()) }) }
    }

    /// Records `end` with the ends queued beside it; the execution as it now stands. Call
    /// it on an actix (or tokio local) runtime, where a writer task may be started.
    pub async fn record(&self, end: End) -> Result<ExecutionRow, MeteringError> {
        let (reply, answer) = oneshot::channel();
        let start_writer = {
            let mut queue = self.shared.lock();
            queue.ends.push((end, reply));
            !std::mem::replace(&mut queue.writing, true)
        };
        if start_writer {
            actix_web::rt::spawn(write_queued(Arc::clone(&self.shared)));
        }
        answer.await.unwrap_or(Err(MeteringError::Database(DbError::Interrupted)))
    }
}

impl Shared {
    /// The queue, also after a panic elsewhere: every change to it is a single push or
    /// drain, so it is never left half-changed.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes groups of queued ends until none is left.
async fn write_queued(shared: Arc<Shared>) {
    let mut writer = Writer { shared, finished: false };
    loop {
        let group: Vec<(End, Reply)> = {
            let mut queue = writer.shared.lock();
            if queue.ends.is_empty() {
                queue.writing = false;
                break;
            }
            let take = queue.ends.len().min(MAX_ENDS);
            queue.ends.drain(..take).collect()
        };
        write_group(&writer.shared, group).await;
    }
    writer.finished = true;
}

/// The writer task's hold on the queue. Should the task be dropped before it emptied the
/// queue (its thread's runtime stopped), the ends still queued are answered "interrupted"
/// rather than left waiting, and the next end starts a writer again.
struct Writer {
    shared: Arc<Shared>,
    finished: bool,
}

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.finished {
            let mut queue = self.shared.lock();
            queue.writing = false;
            queue.ends.clear();
        }
    }
}

async fn write_group(shared: &Shared, group: Vec<(End, Reply)>) {
    let (ends, replies): (Vec<End>, Vec<Reply>) = group.into_iter().unzip();
    let ends: Arc<[End]> = ends.into();
    let (written, meters) = (Arc::clone(&ends), shared.meters.clone());
    let recorded = shared
        .database
        .write(move |connection| record::record_ends(connection, &meters, &written, now()))
        .await;
    match recorded {
        Ok(rows) => {
            for (reply, row) in replies.into_iter().zip(rows) {
                // The caller may have gone away; its end stands.
                let _ = reply.send(Ok(row));
            }
        }
        Err(error) if ends.len() > 1 && belongs_to_one_end(&error) => {
            tracing::warn!(error = %error, ends = ends.len(), "a group of ends failed; recording them one by one");
            for (reply, end) in replies.into_iter().zip(ends.iter().cloned()) {
                let meters = shared.meters.clone();
                let alone = shared
                    .database
                    .write(move |connection| record::record_end(connection, &meters, end, now()))
                    .await;
                let _ = reply.send(alone);
            }
        }
        Err(error) => {
            let mut replies = replies.into_iter();
            if let Some(first) = replies.next() {
                for reply in replies {
                    let _ = reply.send(Err(of_the_same_kind(&error)));
                }
                let _ = first.send(Err(error));
            }
        }
    }
}

/// For the other ends of a group that failed whole (errors are not `Clone`): an error of
/// the same kind, so each caller answers as the first does (503 when the database was
/// unavailable, 500 otherwise).
fn of_the_same_kind(error: &MeteringError) -> MeteringError {
    match error.kind() {
        ErrorKind::Unavailable => MeteringError::Database(DbError::SharedCommitUnavailable),
        _ => MeteringError::Database(DbError::Interrupted),
    }
}

/// Whether a group's failure may be one end's doing (a constraint, a usage event no meter
/// reads), so that writing the ends one at a time is worth it. A missing connection or a
/// database that stayed busy would fail each of them again, one timeout after another.
fn belongs_to_one_end(error: &MeteringError) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        MeteringError::Database(DbError::Query(Error::DatabaseError(kind, _))) => matches!(
            kind,
            DatabaseErrorKind::UniqueViolation
                | DatabaseErrorKind::ForeignKeyViolation
                | DatabaseErrorKind::NotNullViolation
                | DatabaseErrorKind::CheckViolation
        ),
        MeteringError::Database(_) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::rollups;
    use crate::domain::period::Period;
    use crate::executions::test_runs::{database_with_tenant, sync_run};
    use caravan_core::id::ExecutionId;
    use std::future::Future;

    #[test]
    fn the_other_ends_of_a_group_that_failed_whole_hear_an_error_of_its_kind() {
        let unavailable = MeteringError::Database(DbError::SharedCommitUnavailable);
        let interrupted = MeteringError::Database(DbError::Interrupted);

        assert!(matches!(of_the_same_kind(&unavailable).kind(), ErrorKind::Unavailable));
        assert!(matches!(of_the_same_kind(&interrupted).kind(), ErrorKind::Internal));
    }

    /// On PostgreSQL when the suite runs there.
    #[actix_web::test]
    async fn ends_queued_together_are_written_in_id_order_and_each_answered_with_its_own_run() {
        let (_test_database, database, tenant) = database_with_tenant();
        let recorder = EndRecorder::new(database.clone(), MeterCatalog::new(&[]).expect("meters"));
        let ends: Vec<End> = (0..3).map(|_| sync_run(&tenant)).collect();
        let ids: Vec<ExecutionId> = ends.iter().map(|end| end.execution.id.clone()).collect();

        // Newest first: the group writes them oldest first.
        let answers =
            futures_util::future::join_all(ends.into_iter().rev().map(|end| recorder.record(end))).await;

        let answered: Vec<ExecutionId> =
            answers.into_iter().map(|answer| answer.expect("recorded").id).collect();
        assert_eq!(answered, ids.into_iter().rev().collect::<Vec<_>>());
    }

    /// On PostgreSQL when the suite runs there.
    #[actix_web::test]
    async fn a_writer_dropped_midway_leaves_no_end_waiting_and_the_next_end_writes_again() {
        let (_test_database, database, tenant) = database_with_tenant();
        let recorder = EndRecorder::new(database, MeterCatalog::new(&[]).expect("meters"));
        let queue = |end: End| {
            let (reply, answer) = oneshot::channel();
            let mut queue = recorder.shared.lock();
            queue.ends.push((end, reply));
            queue.writing = true;
            answer
        };
        let written = queue(sync_run(&tenant));
        let mut writer = Box::pin(write_queued(Arc::clone(&recorder.shared)));
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(writer.as_mut().poll(&mut context).is_pending(), "the first group is being written");
        let waiting = queue(sync_run(&tenant));

        drop(writer);

        assert!(written.await.is_err(), "the group being written hears of the interruption");
        assert!(waiting.await.is_err(), "the end queued behind it too");
        assert!(!recorder.shared.lock().writing);
        let next = recorder.record(sync_run(&tenant)).await.expect("a new writer records it");
        assert_eq!(next.status, "succeeded");
    }

    /// On PostgreSQL when the suite runs there.
    #[actix_web::test]
    async fn a_failing_end_fails_alone_and_the_ends_queued_beside_it_are_recorded() {
        let (_test_database, database, tenant) = database_with_tenant();
        let mut connection = database.connection().expect("connection");
        let recorder = EndRecorder::new(database.clone(), MeterCatalog::new(&[]).expect("meters"));
        let recorded_before = sync_run(&tenant);
        recorder.record(recorded_before.clone()).await.expect("the first end");

        // Queued together: the second inserts an id taken already, which fails its group.
        // (Its id is the oldest, so the group writes it first.)
        let (first_end, third_end) = (sync_run(&tenant), sync_run(&tenant));
        let (first_id, third_id) = (first_end.execution.id.clone(), third_end.execution.id.clone());
        let (first, again, third) = futures_util::join!(
            recorder.record(first_end),
            recorder.record(recorded_before),
            recorder.record(third_end),
        );

        let first = first.expect("recorded");
        assert_eq!(
            (first.id, first.status.as_str()),
            (first_id, "succeeded"),
            "each end hears of its own run"
        );
        assert!(matches!(again, Err(MeteringError::Database(_))), "{again:?}");
        assert_eq!(third.expect("recorded").id, third_id);
        let month = Period::containing(now()).start();
        let executions =
            rollups::monthly_total(&mut connection, &tenant, "executions", month).expect("total");
        assert_eq!(executions, 3_000_000, "three ends, each counted once");
        let tokens_in = rollups::monthly_total(&mut connection, &tenant, "tokens_in", month).expect("total");
        assert_eq!(tokens_in, 6_000_000);
    }
}
