//! Facet counts: how many of the matching capsules have each category, license, publisher
//! and tier. Counted by term ordinal from the segment's in-memory rows (`rows`), an
//! array increment per matching document; only the most frequent values of each segment
//! are reported.
//!
//! Across segments, each segment offers its top `offered(limit)` values and the offers are
//! summed, the way search engines count terms across shards: exact for every value that
//! is among the top of each segment, which covers the values shown in practice.

use super::warm::{SegmentValues, WarmValues};
use std::collections::HashMap;
use std::sync::Arc;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

/// One faceted field, by its name in the schema, and how many values to report.
#[derive(Debug, Clone, Copy)]
pub struct FacetField {
    pub field: &'static str,
    pub limit: usize,
}

/// The faceted fields, in the order of [`Facets`](super::query::Facets).
pub const FACETS: [FacetField; 4] = [
    FacetField { field: "category", limit: 50 },
    FacetField { field: "license", limit: 20 },
    FacetField { field: "publisher", limit: 20 },
    FacetField { field: "tier", limit: 3 },
];

/// Values a segment offers for a field showing `limit`.
fn offered(limit: usize) -> usize {
    limit * 3 / 2 + 10
}

/// Counts the values of [`FACETS`] over the matching documents; the fruit holds, per field
/// in the same order, the values most frequent first.
#[derive(Debug)]
pub struct FacetCounter<'a> {
    pub values: &'a WarmValues,
}

#[derive(Debug)]
pub struct SegmentFacetCounter {
    values: Arc<SegmentValues>,
    /// Per field: the count of each term ordinal, and the ordinals counted at least once.
    counts: Vec<(Vec<u32>, Vec<u32>)>,
}

/// What one segment offers: per field, term ordinals of `values` and their counts.
#[derive(Debug)]
pub struct SegmentOffers {
    values: Arc<SegmentValues>,
    offers: Vec<Vec<(u32, u32)>>,
}

impl Collector for FacetCounter<'_> {
    type Fruit = Vec<Vec<(String, u64)>>;
    type Child = SegmentFacetCounter;

    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<Self::Child> {
        let values = self.values.of(segment)?;
        let counts = (0..FACETS.len())
            .map(|facet| (vec![0; values.rows.term_count(facet)], Vec::with_capacity(64)))
            .collect();
        Ok(SegmentFacetCounter { values, counts })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<SegmentOffers>) -> tantivy::Result<Self::Fruit> {
        let mut merged = Vec::with_capacity(FACETS.len());
        for (position, facet) in FACETS.iter().enumerate() {
            let mut totals: HashMap<&str, u64> = HashMap::new();
            for segment in &segments {
                for &(ord, count) in segment.offers.get(position).into_iter().flatten() {
                    if let Some(text) = segment.values.rows.text(position, ord) {
                        *totals.entry(text).or_default() += u64::from(count);
                    }
                }
            }
            let mut values: Vec<(&str, u64)> = totals.into_iter().collect();
            values.sort_unstable_by(|left, right| right.1.cmp(&left.1).then_with(|| left.0.cmp(right.0)));
            values.truncate(facet.limit);
            merged.push(values.into_iter().map(|(text, count)| (text.to_owned(), count)).collect());
        }
        Ok(merged)
    }
}

impl SegmentCollector for SegmentFacetCounter {
    type Fruit = SegmentOffers;

    fn collect(&mut self, doc: DocId, _: Score) {
        let rows = &self.values.rows;
        let row = rows.row(doc);
        for (facet, (counts, counted)) in self.counts.iter_mut().enumerate() {
            for &ord in rows.ords(row, facet) {
                if let Some(count) = counts.get_mut(ord as usize) {
                    if *count == 0 {
                        counted.push(ord);
                    }
                    *count += 1;
                }
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        let offers = self
            .counts
            .into_iter()
            .zip(FACETS)
            .map(|((counts, counted), field)| {
                let mut present: Vec<(u32, u32)> = counted
                    .into_iter()
                    .map(|ord| (ord, counts.get(ord as usize).copied().unwrap_or(0)))
                    .collect();
                let offered = offered(field.limit);
                if present.len() > offered {
                    present.select_nth_unstable_by(offered, |left, right| right.1.cmp(&left.1));
                    present.truncate(offered);
                }
                present
            })
            .collect();
        SegmentOffers { values: self.values, offers }
    }
}

#[cfg(test)]
mod tests {
    use super::{FACETS, FacetCounter};
    use crate::search::documents::SearchDoc;
    use crate::search::index::tests::{committed, doc};
    use tantivy::query::AllQuery;

    #[test]
    fn counts_add_up_across_segments_by_value() -> anyhow::Result<()> {
        let with = |name: &str, categories: &[&str]| SearchDoc {
            categories: categories.iter().map(|category| (*category).to_owned()).collect(),
            ..doc(name)
        };
        // `http` comes after `cli` in the first commit's segments, first in the second's.
        let (_directory, index) = committed(vec![
            vec![with("acme/a", &["cli", "http"]), with("acme/b", &["cli"])],
            vec![with("other/c", &["http"]), with("other/d", &["zip"])],
        ])?;
        let searcher = index.searcher();
        // Each commit makes a segment or more (one per indexing thread).
        assert!(searcher.segment_readers().len() >= 2);

        let counts = searcher.search(&AllQuery, &FacetCounter { values: &index.values })?;
        let of = |field: &str| {
            let position = FACETS.iter().position(|facet| facet.field == field).expect("faceted");
            counts[position].iter().map(|(value, count)| (value.as_str(), *count)).collect::<Vec<_>>()
        };
        assert_eq!(of("category"), [("cli", 2), ("http", 2), ("zip", 1)]);
        assert_eq!(of("publisher"), [("acme", 2), ("other", 2)]);
        assert_eq!(of("license"), [("MIT", 4)]);
        Ok(())
    }
}
