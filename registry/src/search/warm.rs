//! What every search reads of every document it matches, held in memory per segment: the
//! rank inputs (`quality`, `popularity`) as plain arrays, the facet fields' values as
//! term ordinals together with their text, and the words of the typo-tolerant fields filed
//! for one-typo lookups (`typo_index`). A broad query touches tens of thousands of
//! documents; reading an array costs a fraction of decoding a fast column, and turning a
//! facet's top ordinals back into text becomes an index instead of a dictionary lookup.
//!
//! A segment never changes once written (deletes only hide documents), so its values are
//! read once: by the reader's warmer, when a commit makes the segment visible, so no
//! search waits for it. They are dropped when no searcher uses the segment any more.

use super::facets::FACETS;
use super::typo_index::{TYPO_INDEXED, TypoIndex};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use tantivy::index::SegmentId;
use tantivy::schema::Field;
use tantivy::{DocId, Searcher, SearcherGeneration, SegmentReader, Warmer};

/// The in-memory values of one segment, indexed by document id.
#[derive(Debug)]
pub struct SegmentValues {
    quality: Vec<f64>,
    popularity: Vec<f64>,
    /// One per entry of [`FACETS`], in that order.
    pub facets: Vec<FacetValues>,
    /// One per entry of [`TYPO_INDEXED`] present in the schema.
    typos: Vec<TypoIndex>,
}

impl SegmentValues {
    fn read(segment: &SegmentReader) -> tantivy::Result<Self> {
        let documents = segment.max_doc();
        let numbers = |name: &str| -> Vec<f64> {
            match segment.fast_fields().f64(name) {
                Ok(column) => (0..documents).map(|doc| column.first(doc).unwrap_or(0.0)).collect(),
                // A segment where no document has the value.
                Err(_) => vec![0.0; documents as usize],
            }
        };
        let facets =
            FACETS.iter().map(|facet| FacetValues::read(segment, facet.field)).collect::<Result<_, _>>()?;
        let schema = segment.schema();
        let typos = TYPO_INDEXED
            .iter()
            .filter_map(|name| schema.get_field(name).ok())
            .map(|field| TypoIndex::read(segment, field))
            .collect::<Result<_, _>>()?;
        Ok(Self { quality: numbers("quality"), popularity: numbers("popularity"), facets, typos })
    }

    /// The one-typo lookup of `field`, if it has one.
    pub fn typo_index(&self, field: Field) -> Option<&TypoIndex> {
        self.typos.iter().find(|index| index.field == field)
    }

    /// 0 to 1: see `ranking`.
    pub fn quality(&self, doc: DocId) -> f64 {
        self.quality.get(doc as usize).copied().unwrap_or(0.0)
    }

    pub fn popularity(&self, doc: DocId) -> f64 {
        self.popularity.get(doc as usize).copied().unwrap_or(0.0)
    }
}

/// A facet field's values in one segment: each document's term ordinals, and the text of
/// each ordinal.
#[derive(Debug)]
pub struct FacetValues {
    /// Where each document's ordinals start in `ords`; one more entry than documents.
    starts: Vec<u32>,
    ords: Vec<u32>,
    text: Vec<Box<str>>,
}

impl FacetValues {
    fn read(segment: &SegmentReader, field: &str) -> tantivy::Result<Self> {
        let documents = segment.max_doc();
        let mut starts = Vec::with_capacity(documents as usize + 1);
        let mut ords = Vec::with_capacity(documents as usize);
        let mut text = Vec::new();
        match segment.fast_fields().str(field)? {
            Some(column) => {
                for doc in 0..documents {
                    starts.push(ords.len() as u32);
                    ords.extend(column.term_ords(doc).map(|ord| ord as u32));
                }
                text.reserve(column.num_terms());
                let mut terms = column.dictionary().stream()?;
                while terms.advance() {
                    text.push(String::from_utf8_lossy(terms.key()).into());
                }
            }
            // A segment where no document has the field.
            None => starts.resize(documents as usize, 0),
        }
        starts.push(ords.len() as u32);
        Ok(Self { starts, ords, text })
    }

    /// The term ordinals of `doc`.
    pub fn ords(&self, doc: DocId) -> &[u32] {
        let doc = doc as usize;
        match (self.starts.get(doc), self.starts.get(doc + 1)) {
            (Some(&start), Some(&end)) => self.ords.get(start as usize..end as usize).unwrap_or_default(),
            _ => &[],
        }
    }

    /// How many distinct values the segment has.
    pub fn term_count(&self) -> usize {
        self.text.len()
    }

    /// The value of a term ordinal.
    pub fn text(&self, ord: u32) -> Option<&str> {
        self.text.get(ord as usize).map(|text| &**text)
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
