//! The index on disk: opened (or, when missing, corrupt or of another schema, made anew),
//! written by one thread fed through a channel with batched commits, read by a reader
//! reloaded after each commit. Each commit carries the watermarks of what the index holds
//! (the last capsule change and catalog import it saw), so after a restart it catches up
//! from there.

use super::documents::SearchDoc;
use super::schema::{Fields, register_tokenizers};
use super::threads::SearchThreads;
use super::warm::WarmValues;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use tantivy::{Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher, Term, Warmer};

/// The writer's memory budget.
const WRITER_HEAP_BYTES: usize = 128 * 1024 * 1024;
/// A commit of at least this many documents (a rebuild, a catalog import) is followed by
/// merging the index into one segment: each segment costs every query a dictionary walk.
const BULK_DOCUMENTS: usize = 10_000;
/// The size of the stored documents' compressed blocks. A search reads its page of hits
/// from anywhere in the index, each hit costing a block's decompression: far smaller than
/// tantivy's 16 KiB default, for a few percent more on disk.
const DOCSTORE_BLOCK_BYTES: usize = 1024;
/// How long the writer gathers changes before it commits.
const BATCH_WINDOW: Duration = Duration::from_millis(100);

/// Up to where the index follows the database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermarks {
    pub capsules: Option<NaiveDateTime>,
    pub catalog: Option<NaiveDateTime>,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("the search index at {0} cannot be used: {1}")]
    Open(String, #[source] tantivy::TantivyError),
    #[error("the search index failed: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("the search index's writer stopped")]
    WriterGone,
}

enum Operation {
    Upsert(Vec<SearchDoc>),
    Delete(Vec<String>),
    Clear,
    Watermarks(Watermarks),
    /// Commits now and answers when the commit is visible to searches.
    Flush(mpsc::Sender<Result<(), String>>),
}

/// The search index: its reader for searches, its writer thread for changes.
#[derive(Clone)]
pub struct SearchIndex {
    pub(super) index: Index,
    pub(super) reader: IndexReader,
    pub(super) fields: Fields,
    /// The segments' in-memory values, kept up to date by the reader's warmer.
    pub(super) values: Arc<WarmValues>,
    threads: Arc<SearchThreads>,
    // Dropped before `_thread`: when the last handle goes, the channel closes first and the
    // thread's join then waits for the writer to let go of the index.
    writer: mpsc::Sender<Operation>,
    _thread: Arc<WriterThread>,
    opened_with: Watermarks,
    path: PathBuf,
}

/// Joins the writer thread when the last handle of the index is dropped.
struct WriterThread(std::sync::Mutex<Option<std::thread::JoinHandle<()>>>);

impl Drop for WriterThread {
    fn drop(&mut self) {
        if let Some(handle) = self.0.lock().ok().and_then(|mut handle| handle.take()) {
            let _ = handle.join();
        }
    }
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens the index in `directory`; makes a new, empty one when it is missing, corrupt
    /// or of another schema (the database refills it).
    pub fn open(directory: &Path) -> Result<Self, IndexError> {
        let (schema, fields) = Fields::build();
        let open_error = |error| IndexError::Open(directory.display().to_string(), error);
        let existing = Index::open_in_dir(directory).ok().filter(|index| index.schema() == schema);
        let mut index = match existing {
            Some(index) => index,
            None => {
                if directory.exists() {
                    tracing::warn!(path = %directory.display(), "the search index is missing, corrupt or outdated: rebuilding it");
                    let _ = std::fs::remove_dir_all(directory);
                }
                std::fs::create_dir_all(directory)
                    .map_err(|error| open_error(tantivy::TantivyError::IoError(Arc::new(error))))?;
                let settings =
                    IndexSettings { docstore_blocksize: DOCSTORE_BLOCK_BYTES, ..IndexSettings::default() };
                Index::builder()
                    .schema(schema)
                    .settings(settings)
                    .create_in_dir(directory)
                    .map_err(open_error)?
            }
        };
        // An index made before the block size changed gets it for documents written from now
        // on (new and updated ones, a reindex). A merge copies a segment's compressed blocks
        // as they are, so old documents keep their blocks until they are written again.
        index.settings_mut().docstore_blocksize = DOCSTORE_BLOCK_BYTES;
        register_tokenizers(&index);
        let opened_with = index
            .load_metas()
            .ok()
            .and_then(|metas| metas.payload)
            .and_then(|payload| serde_json::from_str(&payload).ok())
            .unwrap_or_default();
        let values = Arc::new(WarmValues::default());
        let warmer: Arc<dyn Warmer> = values.clone();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .warmers(vec![Arc::downgrade(&warmer)])
            .try_into()
            .map_err(open_error)?;
        let writer: IndexWriter = index.writer(WRITER_HEAP_BYTES).map_err(open_error)?;
        // Before the writer thread: a failure after it would join that thread while it
        // still waits on its channel.
        let threads = SearchThreads::start()
            .map_err(|error| open_error(tantivy::TantivyError::IoError(Arc::new(error))))?;
        let (sender, receiver) = mpsc::channel();
        let thread_reader = reader.clone();
        let handle = std::thread::Builder::new()
            .name("search-writer".to_owned())
            .spawn(move || write_loop(writer, fields, thread_reader, receiver, opened_with))
            .map_err(|error| open_error(tantivy::TantivyError::IoError(Arc::new(error))))?;
        let thread = Arc::new(WriterThread(std::sync::Mutex::new(Some(handle))));
        Ok(Self {
            index,
            reader,
            fields,
            values,
            threads: Arc::new(threads),
            writer: sender,
            _thread: thread,
            opened_with,
            path: directory.to_owned(),
        })
    }

    /// What the index held when it was opened.
    pub fn watermarks(&self) -> Watermarks {
        self.opened_with
    }

    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Runs `search` on one of the index's search threads (see `threads`).
    pub async fn run<T: Send + 'static>(
        &self,
        search: impl FnOnce(&SearchIndex) -> tantivy::Result<T> + Send + 'static,
    ) -> tantivy::Result<T> {
        let index = self.clone();
        self.threads
            .run(move || search(&index))
            .await
            .unwrap_or_else(|no_answer| Err(tantivy::TantivyError::InternalError(no_answer.to_string())))
    }

    pub fn upsert(&self, documents: Vec<SearchDoc>) -> Result<(), IndexError> {
        self.writer.send(Operation::Upsert(documents)).map_err(|_| IndexError::WriterGone)
    }

    pub fn delete(&self, names: Vec<String>) -> Result<(), IndexError> {
        self.writer.send(Operation::Delete(names)).map_err(|_| IndexError::WriterGone)
    }

    /// Removes every document (a rebuild follows).
    pub fn clear(&self) -> Result<(), IndexError> {
        self.writer.send(Operation::Clear).map_err(|_| IndexError::WriterGone)
    }

    /// Records, with the next commit, what the index now follows up to.
    pub fn set_watermarks(&self, watermarks: Watermarks) -> Result<(), IndexError> {
        self.writer.send(Operation::Watermarks(watermarks)).map_err(|_| IndexError::WriterGone)
    }

    /// Commits what was sent and waits until searches see it.
    pub fn flush(&self) -> Result<(), IndexError> {
        let (done, wait) = mpsc::channel();
        self.writer.send(Operation::Flush(done)).map_err(|_| IndexError::WriterGone)?;
        wait.recv()
            .map_err(|_| IndexError::WriterGone)?
            .map_err(|error| IndexError::Tantivy(tantivy::TantivyError::InternalError(error)))
    }

    /// Documents in the index.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the index takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        fn size(path: &Path) -> u64 {
            std::fs::read_dir(path)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|entry| match entry.metadata() {
                            Ok(meta) if meta.is_dir() => size(&entry.path()),
                            Ok(meta) => meta.len(),
                            Err(_) => 0,
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        size(&self.path)
    }
}

fn write_loop(
    mut writer: IndexWriter,
    fields: Fields,
    reader: IndexReader,
    operations: mpsc::Receiver<Operation>,
    mut watermarks: Watermarks,
) {
    while let Ok(first) = operations.recv() {
        let mut waiting = Vec::new();
        let mut written = 0;
        let mut pending = Some(first);
        let deadline = Instant::now() + BATCH_WINDOW;
        while let Some(operation) = pending.take() {
            match operation {
                Operation::Upsert(documents) => {
                    written += documents.len();
                    for document in documents {
                        writer.delete_term(Term::from_field_text(fields.name, &document.name));
                        if let Err(error) = writer.add_document(document.to_document(&fields)) {
                            tracing::error!(error = %error, "a document could not be indexed");
                        }
                    }
                }
                Operation::Delete(names) => {
                    for name in names {
                        writer.delete_term(Term::from_field_text(fields.name, &name));
                    }
                }
                Operation::Clear => {
                    if let Err(error) = writer.delete_all_documents() {
                        tracing::error!(error = %error, "the index could not be cleared");
                    }
                }
                Operation::Watermarks(marks) => watermarks = marks,
                Operation::Flush(done) => {
                    waiting.push(done);
                    break;
                }
            }
            let now = Instant::now();
            if now < deadline {
                pending = operations.recv_timeout(deadline - now).ok();
            }
        }
        let payload = serde_json::to_string(&watermarks).unwrap_or_default();
        let mut prepared = match writer.prepare_commit() {
            Ok(prepared) => prepared,
            Err(error) => {
                tracing::error!(error = %error, "the search index could not commit");
                for done in waiting {
                    let _ = done.send(Err(error.to_string()));
                }
                continue;
            }
        };
        prepared.set_payload(&payload);
        let outcome =
            prepared.commit().map(drop).and_then(|()| reader.reload()).map_err(|error| error.to_string());
        if let Err(error) = &outcome {
            tracing::error!(error = %error, "the search index could not commit");
        } else if written >= BULK_DOCUMENTS {
            merge_into_one_segment(&mut writer, &reader);
        }
        for done in waiting {
            let _ = done.send(outcome.clone());
        }
    }
}

/// Merges every segment into one. A failure leaves the segments as they were, still
/// searchable, so it is logged and not passed on.
fn merge_into_one_segment(writer: &mut IndexWriter, reader: &IndexReader) {
    let segments = match writer.index().searchable_segment_ids() {
        Ok(segments) if segments.len() > 1 => segments,
        Ok(_) => return,
        Err(error) => {
            tracing::warn!(error = %error, "the search index segments could not be listed");
            return;
        }
    };
    let merged = writer.merge(&segments).wait().map(drop).and_then(|()| reader.reload());
    if let Err(error) = merged {
        tracing::warn!(error = %error, "the search index could not merge its segments");
    }
    if let Err(error) = writer.garbage_collect_files().wait() {
        tracing::warn!(error = %error, "the search index could not remove merged files");
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::search) fn doc(name: &str) -> SearchDoc {
        SearchDoc {
            name: name.to_owned(),
            version: "1.0.0".to_owned(),
            description: "a capsule".to_owned(),
            keywords: Vec::new(),
            categories: Vec::new(),
            readme: String::new(),
            license: "MIT".to_owned(),
            tier: "fast".to_owned(),
            status: "active".to_owned(),
            source: "registry",
            stats: None,
            popularity_count: 0.0,
            published_at: 0,
        }
    }

    /// An index in a temporary directory holding `commits`, each committed on its own (so
    /// in a segment or more of its own); the directory lives as long as the first value.
    pub(in crate::search) fn committed(
        commits: Vec<Vec<SearchDoc>>,
    ) -> anyhow::Result<(tempfile::TempDir, SearchIndex)> {
        let directory = tempfile::tempdir()?;
        let index = SearchIndex::open(&directory.path().join("search"))?;
        for documents in commits {
            index.upsert(documents)?;
            index.flush()?;
        }
        Ok((directory, index))
    }

    /// One commit per `per_commit` of `names`, each a capsule made by [`doc`].
    pub(in crate::search) fn named(names: &[&str], per_commit: usize) -> Vec<Vec<SearchDoc>> {
        names.chunks(per_commit).map(|commit| commit.iter().map(|name| doc(name)).collect()).collect()
    }

    #[test]
    fn a_corrupt_index_is_made_anew_and_watermarks_survive_a_reopen() -> Result<(), IndexError> {
        let directory = tempfile::tempdir().map_err(|_| IndexError::WriterGone)?;
        let path = directory.path().join("search");
        let index = SearchIndex::open(&path)?;
        index.upsert(vec![doc("acme/one"), doc("acme/two")])?;
        let marks = Watermarks { capsules: Some(chrono::NaiveDateTime::default()), catalog: None };
        index.set_watermarks(marks)?;
        index.flush()?;
        assert_eq!(index.len(), 2);
        drop(index);
        let reopened = SearchIndex::open(&path)?;
        assert_eq!((reopened.len(), reopened.watermarks()), (2, marks));
        drop(reopened);

        std::fs::write(path.join("meta.json"), b"{ not json").map_err(|_| IndexError::WriterGone)?;
        let rebuilt = SearchIndex::open(&path)?;
        assert!(rebuilt.is_empty(), "made anew, for the database to refill");
        assert_eq!(rebuilt.watermarks(), Watermarks::default());
        Ok(())
    }
}
