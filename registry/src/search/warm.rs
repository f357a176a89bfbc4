//! What every search reads of every document it matches, held in memory per segment: the
//! rank inputs and facet ordinals in one row per document (`rows`), the lifecycle
//! statuses (`statuses`), and the words of the typo-tolerant fields filed for one-typo
//! lookups (`typo_index`). A broad query touches tens of thousands of documents; reading
//! a row costs a fraction of decoding fast columns, and turning a facet's top ordinals
//! back into text becomes an index instead of a dictionary lookup.
//!
//! A segment never changes once written (deletes only hide documents), so its values are
//! read once: by the reader's warmer, when a commit makes the segment visible, so no
//! search waits for it. They are dropped when no searcher uses the segment any more.

use super::rows::Rows;
use super::statuses::Statuses;
use super::typo_index::{TYPO_INDEXED, TypoIndex};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use tantivy::index::SegmentId;
use tantivy::schema::Field;
use tantivy::{Searcher, SearcherGeneration, SegmentReader, Warmer};

/// The in-memory values of one segment.
#[derive(Debug)]
pub struct SegmentValues {
    /// Indexed by document id.
    pub rows: Rows,
    /// Which documents are deprecated, yanked or revoked.
    pub statuses: Statuses,
    /// One per entry of [`TYPO_INDEXED`] present in the schema.
    typos: Vec<TypoIndex>,
}

impl SegmentValues {
    fn read(segment: &SegmentReader) -> tantivy::Result<Self> {
        let schema = segment.schema();
        let typos = TYPO_INDEXED
            .iter()
            .filter_map(|name| schema.get_field(name).ok())
            .map(|field| TypoIndex::read(segment, field))
            .collect::<Result<_, _>>()?;
        Ok(Self { rows: Rows::read(segment)?, statuses: Statuses::read(segment)?, typos })
    }

    /// The one-typo lookup of `field`, if it has one.
    pub fn typo_index(&self, field: Field) -> Option<&TypoIndex> {
        self.typos.iter().find(|index| index.field == field)
    }
}

/// The values of every segment in use: filled by the reader's warmer, read by searches.
#[derive(Debug, Default)]
pub struct WarmValues {
    segments: RwLock<HashMap<SegmentId, Arc<SegmentValues>>>,
}

impl WarmValues {
    /// The values of `segment`; read now if the warmer has not yet.
    pub fn of(&self, segment: &SegmentReader) -> tantivy::Result<Arc<SegmentValues>> {
        let id = segment.segment_id();
        // Inserts and retains leave the map whole even if they panic: a poisoned lock is
        // used as it is.
        let cached = self.segments.read().unwrap_or_else(PoisonError::into_inner).get(&id).cloned();
        if let Some(values) = cached {
            return Ok(values);
        }
        let values = Arc::new(SegmentValues::read(segment)?);
        self.segments.write().unwrap_or_else(PoisonError::into_inner).insert(id, Arc::clone(&values));
        Ok(values)
    }
}

/// Runs inside `IndexReader::reload`, that is on the search writer's thread after each
/// commit and merge; the new segments become visible to searches once it returns.
impl Warmer for WarmValues {
    /// A segment that cannot be read now is logged and left for the first search that
    /// needs it ([`WarmValues::of`]): failing here would fail the reload, and searches
    /// would go on seeing the index as it was before the commit.
    fn warm(&self, searcher: &Searcher) -> tantivy::Result<()> {
        for segment in searcher.segment_readers() {
            if let Err(error) = self.of(segment) {
                tracing::warn!(segment = %segment.segment_id().uuid_string(), %error, "could not warm a search segment");
            }
        }
        Ok(())
    }

    fn garbage_collect(&self, live: &[&SearcherGeneration]) {
        self.segments
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|id, _| live.iter().any(|generation| generation.segments().contains_key(id)));
    }
}
