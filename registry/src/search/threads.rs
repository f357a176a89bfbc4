//! The threads searches run on: one per core, taking searches from one queue in the order
//! they came. A search is CPU work over memory-mapped files. On a blocking pool, 32
//! concurrent searches took 32 threads that only took turns on the cores, each with its
//! own allocator pages and caches to warm.

use crossbeam_channel::{Receiver, Sender};
use futures_channel::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of search threads. They stop when the last handle is dropped and the queue
/// is empty.
#[derive(Debug)]
pub struct SearchThreads {
    jobs: Sender<Job>,
}

/// The search ended without an answer: it panicked, or the threads stopped at shutdown.
#[derive(Debug, thiserror::Error)]
#[error("the search ended without an answer")]
pub struct NoAnswer;

impl SearchThreads {
    /// Starts one thread per core, and at least two, so that one long search does not hold
    /// up every other on a single core.
    pub fn start() -> std::io::Result<Self> {
        let count = std::thread::available_parallelism().map_or(1, usize::from).max(2);
        let (jobs, queue) = crossbeam_channel::unbounded();
        for number in 0..count {
            let queue: Receiver<Job> = queue.clone();
            std::thread::Builder::new().name(format!("search-{number}")).spawn(move || {
                for job in queue {
                    // A search that panics loses its own answer, not the thread.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `work` on a search thread and waits for its result without blocking the caller's
    /// thread.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, NoAnswer> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.send(job).map_err(|_| NoAnswer)?;
        result.await.map_err(|_| NoAnswer)
    }
}

#[cfg(test)]
mod tests {
    use super::SearchThreads;

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        actix_web::rt::System::new().block_on(future)
    }

    #[test]
    fn runs_work_on_a_search_thread_and_returns_its_result() {
        let threads = SearchThreads::start().expect("threads start");
        let (name, sum) =
            block_on(threads.run(|| {
                (std::thread::current().name().unwrap_or_default().to_owned(), (1..=10).sum::<u32>())
            }))
            .expect("the work ran");
        assert!(name.starts_with("search-"), "ran on {name}");
        assert_eq!(sum, 55);
    }

    #[test]
    fn a_panicking_search_fails_alone_and_the_threads_go_on() {
        let threads = SearchThreads::start().expect("threads start");
        let cores = std::thread::available_parallelism().map_or(1, usize::from).max(2);
        for _ in 0..cores {
            assert!(block_on(threads.run(|| -> u32 { panic!("a bug in a search") })).is_err());
        }
        assert_eq!(block_on(threads.run(|| 7)).expect("a thread is left"), 7);
    }
}
