//! Facet counts: how many of the matching capsules have each category, license, publisher
//! and tier. Counted on the fields' fast columns by term ordinal (an array increment per
//! matching document), and only the most frequent values of each segment are turned back
//! into text — a common query matches most of the catalog, and its tens of thousands of
//! publishers must not each cost a dictionary lookup.
//!
//! Across segments, each segment offers its top `offered(limit)` values and the offers are
//! summed, the way search engines count terms across shards: exact for every value that
//! is among the top of each segment, which covers the values shown in practice.

use std::collections::HashMap;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::StrColumn;
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

/// One faceted field, by its name in the schema, and how many values to report.
#[derive(Debug, Clone, Copy)]
pub struct FacetField {
    pub field: &'static str,
    pub limit: usize,
}

/// Values a segment offers for a field showing `limit`.
fn offered(limit: usize) -> usize {
    limit * 3 / 2 + 10
}

/// Counts the values of `fields` over the matching documents; the fruit holds, per field
/// in the same order, the values most frequent first.
#[derive(Debug)]
pub struct FacetCounter {
    pub fields: Vec<FacetField>,
}

pub struct SegmentFacetCounter {
    /// Per field: its column, the count of each term ordinal, and how many values to offer.
    columns: Vec<Option<(StrColumn, Vec<u32>, usize)>>,
}

impl std::fmt::Debug for SegmentFacetCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentFacetCounter").finish_non_exhaustive()
    }
}

impl Collector for FacetCounter {
    type Fruit = Vec<Vec<(String, u64)>>;
    type Child = SegmentFacetCounter;

    fn for_segment(&self, _: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<Self::Child> {
        let mut columns = Vec::with_capacity(self.fields.len());
        for facet in &self.fields {
            let column = segment.fast_fields().str(facet.field)?;
            columns.push(column.map(|column| {
                let counts = vec![0; column.num_terms()];
                (column, counts, offered(facet.limit))
            }));
        }
        Ok(SegmentFacetCounter { columns })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, segments: Vec<Vec<Vec<(String, u64)>>>) -> tantivy::Result<Self::Fruit> {
        let mut merged = Vec::with_capacity(self.fields.len());
        for (position, facet) in self.fields.iter().enumerate() {
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
        for (column, counts, _) in self.columns.iter_mut().flatten() {
            for ord in column.term_ords(doc) {
                if let Some(count) = counts.get_mut(ord as usize) {
                    *count += 1;
                }
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.columns
            .into_iter()
            .map(|column| {
                let Some((column, counts, offered)) = column else { return Vec::new() };
                let mut present: Vec<(u64, u32)> = counts
                    .iter()
                    .enumerate()
                    .filter(|(_, count)| **count > 0)
                    .map(|(ord, count)| (ord as u64, *count))
                    .collect();
                if present.len() > offered {
                    present.select_nth_unstable_by(offered, |left, right| right.1.cmp(&left.1));
                    present.truncate(offered);
                }
                let mut values = Vec::with_capacity(present.len());
                for (ord, count) in present {
                    let mut value = String::new();
                    if column.ord_to_str(ord, &mut value).unwrap_or(false) {
                        values.push((value, u64::from(count)));
                    }
                }
                values
            })
            .collect()
    }
}
