//! The one collector of a search: in a single pass over the matches, how many there are,
//! their facet counts (`facets`) and the page of results by the request's sort order,
//! reading each match's row (`rows`) once.
//!
//! Tantivy's `TopDocs`, `Count` and a facet collector side by side would each take a call
//! per match and read the row again; a text search (`matches`) inlines this one step into
//! the scorer's loop. Within a segment the best results are kept by tantivy's
//! `TopNComputer`; equal keys rank by document, lowest first, across segments too.

use super::facets::{self, SegmentFacetCounts, SegmentOffers};
use super::query::Sort;
use super::rows::DocRow;
use super::warm::{SegmentValues, WarmValues};
use std::sync::Arc;
use tantivy::collector::sort_key::NaturalComparator;
use tantivy::collector::{Collector, SegmentCollector, TopNComputer};
use tantivy::columnar::Column;
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

/// Collects a page of results, how many match and the facet counts.
#[derive(Debug)]
pub struct ResultsCollector<'a> {
    pub values: &'a WarmValues,
    pub sort: Sort,
    /// Results skipped before the page.
    pub offset: usize,
    /// Results on the page.
    pub limit: usize,
}

/// What a search found.
#[derive(Debug, PartialEq)]
pub struct Collected {
    /// How many documents match.
    pub total: usize,
    /// The page, best first, each result with its sort key.
    pub page: Vec<(f64, DocAddress)>,
    /// Per entry of [`FACETS`](super::facets::FACETS), its values most frequent first.
    pub facets: Vec<Vec<(String, u64)>>,
}

/// What a search collects in one segment.
pub struct SegmentResults {
    segment: SegmentOrdinal,
    values: Arc<SegmentValues>,
    key: SortKey,
    best: TopNComputer<f64, DocId, NaturalComparator>,
    facets: SegmentFacetCounts,
    total: usize,
}

/// One segment's part of [`Collected`].
pub struct SegmentFruit {
    segment: SegmentOrdinal,
    /// Up to the offset and the page, best first.
    best: Vec<(f64, DocId)>,
    facets: SegmentOffers,
    total: usize,
}

/// How a match's sort key is computed in a segment.
enum SortKey {
    /// The text score cubed, times quality and popularity (see `ranking`).
    Relevance,
    /// Quality, then popularity.
    Rank,
    Executions(Option<Column<u64>>),
    Recent(Option<Column<i64>>),
}

impl SortKey {
    #[inline]
    fn of(&self, doc: DocId, row: &DocRow, score: Score) -> f64 {
        match self {
            SortKey::Relevance => {
                f64::from(score).powi(3) * (1.0 + 0.5 * row.quality) * (1.0 + row.popularity)
            }
            SortKey::Rank => row.quality + row.popularity / 1000.0,
            SortKey::Executions(column) => {
                column.as_ref().and_then(|column| column.first(doc)).unwrap_or(0) as f64
            }
            SortKey::Recent(column) => {
                column.as_ref().and_then(|column| column.first(doc)).unwrap_or(0) as f64
            }
        }
    }
}

impl ResultsCollector<'_> {
    /// How many of the best results each segment keeps: the offset and the page.
    fn kept(&self) -> usize {
        self.offset.saturating_add(self.limit.max(1))
    }
}

impl Collector for ResultsCollector<'_> {
    type Fruit = Collected;
    type Child = SegmentResults;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentResults> {
        let values = self.values.of(reader)?;
        let fast = reader.fast_fields();
        let key = match self.sort {
            Sort::Relevance => SortKey::Relevance,
            Sort::Rank => SortKey::Rank,
            Sort::Executions => SortKey::Executions(fast.u64("executions").ok()),
            Sort::Recent => SortKey::Recent(fast.i64("published_at").ok()),
        };
        Ok(SegmentResults {
            segment,
            facets: SegmentFacetCounts::new(Arc::clone(&values)),
            values,
            key,
            best: TopNComputer::new_with_comparator(self.kept(), NaturalComparator),
            total: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        self.sort == Sort::Relevance
    }

    fn merge_fruits(&self, fruits: Vec<SegmentFruit>) -> tantivy::Result<Collected> {
        let mut best = Vec::with_capacity(fruits.iter().map(|fruit| fruit.best.len()).sum());
        let mut offers = Vec::with_capacity(fruits.len());
        let mut total = 0;
        for fruit in fruits {
            total += fruit.total;
            best.extend(fruit.best.into_iter().map(|(key, doc)| (key, DocAddress::new(fruit.segment, doc))));
            offers.push(fruit.facets);
        }
        best.sort_unstable_by(|left, right| right.0.total_cmp(&left.0).then_with(|| left.1.cmp(&right.1)));
        let page = best.into_iter().skip(self.offset).take(self.limit.max(1)).collect();
        Ok(Collected { total, page, facets: facets::merge(&offers) })
    }
}

impl SegmentCollector for SegmentResults {
    type Fruit = SegmentFruit;

    #[inline]
    fn collect(&mut self, doc: DocId, score: Score) {
        let row = self.values.rows.row(doc);
        self.total += 1;
        self.facets.count(row);
        self.best.push(self.key.of(doc, row, score), doc);
    }

    fn harvest(self) -> SegmentFruit {
        let best = self.best.into_sorted_vec().into_iter().map(|kept| (kept.sort_key, kept.doc)).collect();
        SegmentFruit { segment: self.segment, best, facets: self.facets.offers(), total: self.total }
    }
}
