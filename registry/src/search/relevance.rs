//! The relevance set and its scores. A labeled query file (`fixtures/search/relevance.tsv`)
//! has one query per line, tab-separated: the query, its kind (`exact`, `typo`, …) and the
//! names that count as finding it, comma-separated; `#` lines and the `query…` header are
//! skipped. [`Scores`] turns the answers into recall@10 and MRR. `caravan search evaluate`
//! and the search benchmark both score with it, so their figures compare.

/// Hits beyond this many do not count: recall@10.
pub const CUTOFF: usize = 10;

/// One line of a labeled query file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabeledQuery {
    pub query: String,
    pub kind: String,
    /// Any of these names in the first [`CUTOFF`] hits finds the query.
    pub expected: Vec<String>,
}

/// The labeled queries of a file's text; lines with fewer than three columns are skipped.
pub fn parse(text: &str) -> Vec<LabeledQuery> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.starts_with("query\t") && !line.trim().is_empty())
        .filter_map(|line| {
            let mut columns = line.split('\t');
            let (query, kind, expected) = (columns.next()?, columns.next()?, columns.next()?);
            Some(LabeledQuery {
                query: query.to_owned(),
                kind: kind.to_owned(),
                expected: expected.split(',').map(|name| name.trim().to_owned()).collect(),
            })
        })
        .collect()
}

/// recall@10 (the share of queries with an expected name in the first ten hits) and MRR
/// (the mean of 1 / rank of the first expected name, 0 when none is there).
#[derive(Debug, Default, Clone, Copy)]
pub struct Scores {
    pub queries: usize,
    pub found: usize,
    reciprocal_ranks: f64,
}

impl Scores {
    /// Scores one answer, its hits' names best first; the rank (from 0) at which it found
    /// an expected name.
    pub fn record<S: AsRef<str>>(&mut self, expected: &[String], names: &[S]) -> Option<usize> {
        self.queries += 1;
        let rank = names.iter().take(CUTOFF).position(|name| expected.iter().any(|e| e == name.as_ref()));
        if let Some(rank) = rank {
            self.found += 1;
            self.reciprocal_ranks += 1.0 / (rank as f64 + 1.0);
        }
        rank
    }

    /// The share of queries that found an expected name, 0 to 1.
    pub fn recall(&self) -> f64 {
        self.found as f64 / self.queries.max(1) as f64
    }

    /// The mean reciprocal rank, 0 to 1.
    pub fn mrr(&self) -> f64 {
        self.reciprocal_ranks / self.queries.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_labeled_file_parses_and_scores_recall_and_mrr() {
        let labeled = parse(
            "# comment\nquery\tkind\texpected\nhttp client\tintent\taxios, got\nlodsh\ttypo\tlodash\nbroken line\n",
        );
        assert_eq!(labeled.len(), 2);
        assert_eq!(labeled[0].expected, ["axios", "got"]);

        let mut scores = Scores::default();
        assert_eq!(scores.record(&labeled[0].expected, &["request", "got"]), Some(1));
        let beyond: Vec<String> =
            (0..CUTOFF).map(|n| format!("other-{n}")).chain(["lodash".to_owned()]).collect();
        assert_eq!(scores.record(&labeled[1].expected, &beyond), None, "past the tenth hit");

        assert_eq!((scores.queries, scores.found), (2, 1));
        assert!((scores.recall() - 0.5).abs() < 1e-9);
        assert!((scores.mrr() - 0.25).abs() < 1e-9);
    }
}
