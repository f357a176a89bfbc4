//! Facet counts: how many of the matching capsules have each category, license, publisher
//! and tier. Counted by term ordinal from the segment's in-memory values (`warm`), an
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

impl Collector for FacetCounter<'_> {
    type Fruit = Vec<Vec<(String, u64)>>;
    type Child = SegmentFacetCounter;

    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<Self::Child> {
        let values = self.values.of(segment)?;
        let counts = values.facets.iter().map(|facet| (vec![0; facet.term_count()], Vec::new())).collect();
        Ok(SegmentFacetCounter { values, counts })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<Vec<Vec<(String, u64)>>>) -> tantivy::Result<Self::Fruit> {
        let mut merged = Vec::with_capacity(FACETS.len());
        for (position, facet) in FACETS.iter().enumerate() {
            let mut totals: HashMap<String, u64> = HashMap::new();
            for segment in &segments {
                for (value, count) in segment.get(position).into_iter().flatten() {
                    *totals.entry(value.clone()).or_default() += count;
                }
            }
            let mut values: Vec<(String, u64)> = totals.into_iter().collect();
            values.sort_unstable_by(|left, right| right.1.cmp(&left.1).then_with(|| left.0.cmp(&right.0)));
            values.truncate(facet.limit);
            merged.push(values);
        }
        Ok(merged)
    }
}

impl SegmentCollector for SegmentFacetCounter {
    type Fruit = Vec<Vec<(String, u64)>>;

    fn collect(&mut self, doc: DocId, _: Score) {
        for (facet, (counts, counted)) in self.values.facets.iter().zip(&mut self.counts) {
            for &ord in facet.ords(doc) {
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
        let values = &self.values;
        values
            .facets
            .iter()
            .zip(self.counts)
            .zip(FACETS)
            .map(|((facet, (counts, counted)), field)| {
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
                    .into_iter()
                    .filter_map(|(ord, count)| {
                        facet.text(ord).map(|text| (text.to_owned(), u64::from(count)))
                    })
                    .collect()
            })
            .collect()
    }
}
