//! A text search collected in one pass per segment. Each match of the text scorer
//! (`best_terms`) is checked against the segment's deleted documents, the statuses the
//! search hides and its filters, all read from memory (`warm`), and handed to the
//! collector (`results`), the whole step inlined in the scorer's loop.
//!
//! The same search through tantivy's boolean query walks the postings of the status and
//! filter terms beside the text's, and reaches the scorer and the collector through
//! virtual calls. A search without words (everything that passes the filters) still goes
//! that way, driven by the filters' postings.

use super::best_terms::BestTermsQuery;
use super::facets::FACETS;
use super::rows::Rows;
use super::statuses::Hidden;
use super::warm::WarmValues;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{Searcher, SegmentOrdinal};

/// What a match must pass besides the text.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filters<'a> {
    /// The statuses left out.
    pub hidden: Hidden,
    /// Per entry of [`FACETS`], the value a match must have, if any.
    pub required: [Option<&'a str>; FACETS.len()],
}

/// Collects the matches of `text` that pass `filters`, as `Searcher::search` would collect
/// those of the text and the filters as one boolean query.
pub fn collect<C: Collector>(
    searcher: &Searcher,
    values: &WarmValues,
    text: &BestTermsQuery,
    filters: &Filters<'_>,
    collector: &C,
) -> tantivy::Result<C::Fruit> {
    let segments = searcher.segment_readers();
    let mut fruits = Vec::with_capacity(segments.len());
    for (ordinal, segment) in segments.iter().enumerate() {
        let ordinal = SegmentOrdinal::try_from(ordinal)
            .map_err(|_| tantivy::TantivyError::InternalError("too many search segments".to_owned()))?;
        let mut child = collector.for_segment(ordinal, segment)?;
        let segment_values = values.of(segment)?;
        let (rows, statuses) = (&segment_values.rows, &segment_values.statuses);
        // None: a filter's value is in no document of the segment.
        if let Some(required) = required_ords(rows, filters) {
            let alive = segment.alive_bitset();
            text.for_each_match(segment, |doc, score| {
                let passes = alive.is_none_or(|alive| alive.is_alive(doc))
                    && !statuses.hides(doc, filters.hidden)
                    && required.iter().all(|&(facet, ord)| rows.has(rows.row(doc), facet, ord));
                if passes {
                    child.collect(doc, score);
                }
            })?;
        }
        fruits.push(child.harvest());
    }
    collector.merge_fruits(fruits)
}

/// Per filter, the entry of [`FACETS`] and the term ordinal of its value in the segment of
/// `rows`; None if a value is in none of its documents.
fn required_ords(rows: &Rows, filters: &Filters<'_>) -> Option<Vec<(usize, u32)>> {
    let mut required = Vec::new();
    for (facet, value) in filters.required.iter().enumerate() {
        if let Some(value) = value {
            required.push((facet, rows.ord_of(facet, value)?));
        }
    }
    Some(required)
}
