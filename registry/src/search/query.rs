//! Searching: the query built from the user's words, filters, facets, highlighted
//! snippets, sort orders and the score formula (`ranking`).
//!
//! Each word matches exactly in the name, keywords, description (stemmed) and README, and —
//! when it has 4 letters or more — with typos in the name and description (1 edit up to 7
//! letters; beyond, 2 when no word is 1 edit away and the field does not hold the word
//! itself); the last word also matches as a prefix. Any word may match (OR), but a result
//! matching more of them ranks higher (see `text_query`); a capsule whose name is the query
//! (its words joined by `-` or by nothing) ranks first, and one a typo away ranks high.
//! Common English words (`for`, `and`, `to`…) are left out unless they are the last word or
//! all there is. No query syntax is interpreted: quotes, parentheses, `AND` and `*` are
//! just characters.

use super::best_terms::BestTermsQuery;
use super::expand::Expander;
use super::facets::FACETS;
use super::index::SearchIndex;
use super::matches::{self, Filters};
use super::ranking::CapsuleStats;
use super::results::{Collected, ResultsCollector};
use super::schema::{TEXT, WORDS, tokens};
use super::snippets::Highlighter;
use super::statuses::{Hidden, Hideable};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tantivy::collector::TopDocs;
use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, EmptyQuery, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{DocAddress, DocId, Score, Searcher, SegmentReader, TantivyDocument, Term};
use utoipa::ToSchema;

/// The longest query accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 1024;
/// Words of a query beyond this are ignored.
const MAX_WORDS: usize = 10;
/// How deep results can be paged.
pub const MAX_OFFSET: usize = 1000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Text relevance blended with quality and popularity.
    #[default]
    Relevance,
    /// Quality (measured performance), then popularity.
    Rank,
    /// Executions in the ranking window.
    Executions,
    /// Newest version first.
    Recent,
}

/// What to search for.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub q: String,
    pub category: Option<String>,
    pub license: Option<String>,
    pub publisher: Option<String>,
    pub tier: Option<String>,
    pub include_yanked: bool,
    pub include_deprecated: bool,
    pub sort: Sort,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Hit {
    /// `publisher/name`.
    pub name: String,
    pub version: String,
    pub description: String,
    /// The description with the matched words in `<b>…</b>` (HTML-escaped otherwise).
    pub snippet: String,
    pub license: String,
    pub tier: String,
    pub categories: Vec<String>,
    /// `active`, `deprecated` or `yanked` (revoked capsules are never found).
    pub status: String,
    /// `registry` (published, runnable) or `catalog` (imported metadata).
    pub source: String,
    /// The sort key of this result.
    pub score: f64,
    /// Why it ranks where it does.
    pub rank: RankComponents,
}

/// The components of a result's rank (see `GET /v1/capsules/{publisher}/{name}/stats`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RankComponents {
    /// 0 to 1, from measured success, latency, cost, volume and recency.
    pub quality: f64,
    /// log10(1 + executions in the window, or downloads a month).
    pub popularity: f64,
    pub executions: u64,
    /// The measured figures behind `quality`, when the capsule has run in the window.
    pub stats: Option<CapsuleStats>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// Counts of the matching capsules by filter value.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Facets {
    pub category: Vec<FacetCount>,
    pub license: Vec<FacetCount>,
    pub publisher: Vec<FacetCount>,
    pub tier: Vec<FacetCount>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResults {
    /// How many capsules match.
    pub total: usize,
    pub hits: Vec<Hit>,
    pub facets: Facets,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Suggestion {
    pub name: String,
    pub description: String,
}

/// Runs a search.
pub fn search(index: &SearchIndex, request: &SearchRequest) -> tantivy::Result<SearchResults> {
    let searcher = index.searcher();
    let fields = index.fields;
    let words = tokens(&index.index, WORDS, &request.q);
    let has_text = !request.q.trim().is_empty();
    if has_text && words.is_empty() {
        return Ok(SearchResults { total: 0, hits: Vec::new(), facets: Facets::default() });
    }
    let words_query = text_query(index, &searcher, &request.q, &words);

    let collector = ResultsCollector {
        values: &index.values,
        sort: request.sort,
        offset: request.offset.min(MAX_OFFSET),
        limit: request.limit,
    };
    let mut matched_terms = Vec::new();
    let Collected { total, page, facets } = match &words_query {
        Some(words_query) => {
            words_query.query_terms(&mut |term, _| {
                if term.field() == fields.description {
                    matched_terms.push(term);
                }
            });
            matches::collect(&searcher, &index.values, words_query, &filters(request), &collector)?
        }
        None => searcher.search(&*with_filters(index, Box::new(AllQuery), request), &collector)?,
    };
    let mut highlighter = Highlighter::new(&index.index, matched_terms);
    let mut hits = Vec::with_capacity(page.len());
    for (score, address) in page {
        let document: TantivyDocument = searcher.doc(address)?;
        let text =
            |field| document.get_first(field).and_then(|value| value.as_str()).unwrap_or_default().to_owned();
        let description = text(fields.description);
        hits.push(Hit {
            name: text(fields.name),
            version: text(fields.version),
            snippet: highlighter.snippet(&description),
            description,
            license: text(fields.license),
            tier: text(fields.tier),
            categories: document
                .get_all(fields.category)
                .filter_map(|value| value.as_str())
                .map(str::to_owned)
                .collect(),
            status: text(fields.status),
            source: text(fields.source),
            score,
            rank: rank_components(index, &searcher, address, &text(fields.rank)),
        });
    }
    let mut counted = facets.into_iter().map(|values| {
        values.into_iter().map(|(value, count)| FacetCount { value, count }).collect::<Vec<_>>()
    });
    let mut next = || counted.next().unwrap_or_default();
    let facets = Facets { category: next(), license: next(), publisher: next(), tier: next() };
    Ok(SearchResults { total, hits, facets })
}

/// A hit's rank components: quality and popularity from its row, the measured figures
/// from the JSON stored with it, and so the executions as they were indexed (0 without
/// figures, as in the `executions` column).
fn rank_components(
    index: &SearchIndex,
    searcher: &Searcher,
    address: DocAddress,
    stats_json: &str,
) -> RankComponents {
    let segment = searcher.segment_reader(address.segment_ord);
    let (quality, popularity) = index.values.of(segment).map_or((0.0, 0.0), |values| {
        let row = values.rows.row(address.doc_id);
        (row.quality, row.popularity)
    });
    let stats: Option<CapsuleStats> = serde_json::from_str(stats_json).ok().flatten();
    let executions = stats.as_ref().map_or(0, |stats| u64::try_from(stats.executions).unwrap_or(0));
    RankComponents { quality, popularity, executions, stats }
}

/// The query's score counts its words: each word scores the best way it matches — 1.3
/// exactly in the name, 1.2 in the keywords, 1.2 as the prefix of a name word (the last
/// word), 1.1 exactly in the description or README, 1.0 with a typo — and a capsule whose
/// short name is the words joined by `-` or by nothing gets 3 more (1.5 one edit away, from
/// 4 letters on). `relevance` then takes the cube, so matching more of the words outweighs
/// popularity. Typos and prefixes stand for the few indexed words `expand` finds for them.
/// None when there are no words: every capsule matches.
fn text_query(
    index: &SearchIndex,
    searcher: &Searcher,
    raw: &str,
    words: &[String],
) -> Option<BestTermsQuery> {
    let fields = index.fields;
    if words.is_empty() {
        return None;
    }
    let mut expander = Expander::new(searcher, &index.values);
    let mut scored_words: Vec<Vec<(Term, Score)>> = Vec::new();
    let counted = significant(&words[..words.len().min(MAX_WORDS)]);
    for (position, word) in counted.iter().copied().enumerate() {
        let stem = tokens(&index.index, TEXT, word).into_iter().next().unwrap_or_else(|| word.clone());
        let mut ways = vec![
            (Term::from_field_text(fields.name_words, word), 1.3),
            (Term::from_field_text(fields.keywords, word), 1.2),
            (Term::from_field_text(fields.description, &stem), 1.1),
            (Term::from_field_text(fields.readme, &stem), 1.1),
        ];
        if position + 1 == counted.len() && word.chars().count() >= 2 {
            ways.extend(scored(fields.name_words, expander.completions(fields.name_words, word), 1.2));
        }
        let distance = typo_distance(word);
        if distance > 0 {
            ways.extend(scored(fields.name_words, expander.typos(fields.name_words, word, distance), 1.0));
            ways.extend(scored(fields.description, expander.typos(fields.description, &stem, distance), 1.0));
        }
        scored_words.push(ways);
    }
    // A query that is a capsule's name (`babel core`, `acme/echo`, `express`, `tailwind
    // css` for `tailwindcss`) ranks it first. A typo in it is one edit, however long the
    // name: the words' own expansions carry a typo in each of several words, and a walk
    // for two edits over the dictionary of names would cost a third of the search.
    let mut named = vec![(Term::from_field_text(fields.name, &raw.trim().to_lowercase()), 3.0)];
    let mut spellings = vec![words.join("-")];
    if words.len() > 1 {
        spellings.push(words.concat());
    }
    for spelled in &spellings {
        named.push((Term::from_field_text(fields.short_name, spelled), 3.0));
        if typo_distance(spelled) > 0 {
            let mut typos = expander.typos(fields.short_name, spelled, 1);
            // `tailwindcss` is one edit from `tailwind-css`, and already in exactly.
            typos.retain(|typo| !spellings.contains(typo));
            named.extend(scored(fields.short_name, typos, 1.5));
        }
    }
    scored_words.push(named);
    Some(BestTermsQuery::new(scored_words).reading_rows_ahead(Arc::clone(&index.values)))
}

/// Words too common to tell capsules apart; matching them would only cost time.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "into", "is", "it", "of", "on",
    "or", "that", "the", "this", "to", "via", "with", "your",
];

/// The words that count: all but stop words, except the last (which may be the beginning of
/// a longer word) and unless only stop words were typed.
fn significant(words: &[String]) -> Vec<&String> {
    let Some((last, before)) = words.split_last() else { return Vec::new() };
    let mut kept: Vec<&String> = before.iter().filter(|word| !is_stop_word(word)).collect();
    if kept.is_empty() && is_stop_word(last) {
        return words.iter().collect();
    }
    kept.push(last);
    kept
}

fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

/// Each of `terms` in `field`, scoring `score`.
fn scored(field: Field, terms: Vec<String>, score: Score) -> impl Iterator<Item = (Term, Score)> {
    terms.into_iter().map(move |term| (Term::from_field_text(field, &term), score))
}

/// Edits tolerated in a word: none up to 3 letters, 1 up to 7, 2 beyond.
pub fn typo_distance(word: &str) -> u8 {
    match word.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// The value each entry of [`FACETS`] must have, if the request filters on it: the one
/// table both the text search and the boolean query read.
fn filter_values(request: &SearchRequest) -> [Option<&str>; FACETS.len()] {
    FACETS.map(|facet| match facet.field {
        "category" => request.category.as_deref(),
        "license" => request.license.as_deref(),
        "publisher" => request.publisher.as_deref(),
        "tier" => request.tier.as_deref(),
        _ => None,
    })
}

/// The statuses the request leaves out: revoked always, yanked and deprecated unless it
/// includes them. Both the text search and the boolean query read it.
fn hidden_statuses(request: &SearchRequest) -> impl Iterator<Item = Hideable> {
    [
        Some(Hideable::Revoked),
        (!request.include_yanked).then_some(Hideable::Yanked),
        (!request.include_deprecated).then_some(Hideable::Deprecated),
    ]
    .into_iter()
    .flatten()
}

/// The request's filters and hidden statuses, for a text search (`matches`).
fn filters(request: &SearchRequest) -> Filters<'_> {
    Filters { hidden: Hidden::of(hidden_statuses(request)), required: filter_values(request) }
}

/// The request's filters and hidden statuses around `text`, as one boolean query.
fn with_filters(index: &SearchIndex, text: Box<dyn Query>, request: &SearchRequest) -> Box<dyn Query> {
    let fields = index.fields;
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text)];
    let schema = index.index.schema();
    for (facet, value) in FACETS.iter().zip(filter_values(request)) {
        let Some(value) = value else { continue };
        // On a field the schema lacks, a filter matches nothing, as in a text search.
        let Ok(field) = schema.get_field(facet.field) else { return Box::new(EmptyQuery) };
        // A filter only selects: it adds nothing to the score.
        let term = TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic);
        clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(Box::new(term), 0.0))));
    }
    for status in hidden_statuses(request) {
        let term = Term::from_field_text(fields.status, status.value());
        clauses.push((Occur::MustNot, Box::new(TermQuery::new(term, IndexRecordOption::Basic))));
    }
    Box::new(BooleanQuery::new(clauses))
}

/// Type-ahead: capsules whose name words start with the last word typed (and contain the
/// words before it), most popular first.
pub fn suggest(index: &SearchIndex, prefix: &str, limit: usize) -> tantivy::Result<Vec<Suggestion>> {
    let fields = index.fields;
    let words = tokens(&index.index, WORDS, prefix);
    let Some((last, before)) = words.split_last() else { return Ok(Vec::new()) };
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = before
        .iter()
        .take(MAX_WORDS)
        .map(|word| -> (Occur, Box<dyn Query>) {
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(fields.name_words, word),
                    IndexRecordOption::Basic,
                )),
            )
        })
        .collect();
    clauses.push((
        Occur::Must,
        Box::new(FuzzyTermQuery::new_prefix(Term::from_field_text(fields.name_words, last), 0, false)),
    ));
    let query = with_filters(index, Box::new(BooleanQuery::new(clauses)), &SearchRequest::default());
    let searcher = index.searcher();
    let values = Arc::clone(&index.values);
    let top = TopDocs::with_limit(limit.max(1)).tweak_score(move |segment: &SegmentReader| {
        let values = values.of(segment).ok();
        move |doc: DocId, _score: Score| {
            values.as_ref().map_or(0.0, |values| {
                let row = values.rows.row(doc);
                row.popularity + row.quality / 10.0
            })
        }
    });
    let found = searcher.search(&query, &top)?;
    let mut suggestions = Vec::with_capacity(found.len());
    for (_, address) in found {
        let document: TantivyDocument = searcher.doc(address)?;
        let text =
            |field| document.get_first(field).and_then(|value| value.as_str()).unwrap_or_default().to_owned();
        suggestions.push(Suggestion { name: text(fields.name), description: text(fields.description) });
    }
    Ok(suggestions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::documents::SearchDoc;
    use crate::search::index::tests::{committed, doc};
    use tantivy::collector::Count;

    fn kept(query: &str) -> Vec<String> {
        let words: Vec<String> = query.split(' ').map(str::to_owned).collect();
        significant(&words).into_iter().cloned().collect()
    }

    #[test]
    fn stop_words_are_left_out_except_last_or_alone() {
        assert_eq!(kept("watch files for changes"), ["watch", "files", "changes"]);
        assert_eq!(kept("react a"), ["react", "a"]);
        assert_eq!(kept("to be or not"), ["not"]);
        assert_eq!(kept("for the"), ["for", "the"]);
        assert!(kept("").iter().all(String::is_empty));
    }

    /// Capsules with a few words, categories, licenses, tiers and statuses drawn at random
    /// (the same on every run); `Apache-2.0` and the category `zip` only in the first
    /// commit's.
    fn varied(commit: usize, count: usize) -> Vec<SearchDoc> {
        const WORDS: [&str; 6] = ["http", "client", "parser", "color", "stream", "test"];
        (0..count)
            .map(|at| {
                let i = commit * count + at;
                let pick = |salt: u64, choices: usize| {
                    ((i as u64 + salt * 1_000_003).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize
                        % choices
                };
                let mut categories = vec![["cli", "http"][pick(1, 2)].to_owned()];
                if pick(2, 3) == 0 {
                    categories.push(if commit == 0 { "zip" } else { "web" }.to_owned());
                }
                SearchDoc {
                    description: format!("a {} {} tool", WORDS[pick(3, 6)], WORDS[pick(4, 6)]),
                    categories,
                    license: ["MIT", "ISC", if commit == 0 { "Apache-2.0" } else { "MIT" }][pick(5, 3)]
                        .to_owned(),
                    tier: ["fast", "balanced"][pick(6, 2)].to_owned(),
                    status: ["active", "active", "deprecated", "yanked", "active", "revoked"][pick(7, 6)]
                        .to_owned(),
                    ..doc(&format!("pub{}/{}-{i}", pick(8, 4), WORDS[pick(9, 6)]))
                }
            })
            .collect()
    }

    #[test]
    fn a_text_search_collects_what_the_boolean_query_of_text_and_filters_does() -> anyhow::Result<()> {
        let mut commits: Vec<Vec<SearchDoc>> = (0..3).map(|commit| varied(commit, 30)).collect();
        // Every fifth capsule again, its status changed: the copies before are deleted.
        let again = commits.concat().into_iter().step_by(5).enumerate();
        commits.push(
            again
                .map(|(at, capsule)| SearchDoc { status: ["active", "yanked"][at % 2].to_owned(), ..capsule })
                .collect(),
        );
        let (_directory, index) = committed(commits)?;
        let searcher = index.searcher();
        assert!(searcher.segment_readers().iter().any(|segment| segment.alive_bitset().is_some()));

        let requests = [
            SearchRequest::default(),
            SearchRequest { include_yanked: true, ..SearchRequest::default() },
            SearchRequest { include_yanked: true, include_deprecated: true, ..SearchRequest::default() },
            SearchRequest { category: Some("http".to_owned()), ..SearchRequest::default() },
            SearchRequest {
                category: Some("zip".to_owned()),
                include_deprecated: true,
                ..SearchRequest::default()
            },
            SearchRequest { license: Some("Apache-2.0".to_owned()), ..SearchRequest::default() },
            SearchRequest {
                publisher: Some("pub2".to_owned()),
                tier: Some("fast".to_owned()),
                ..SearchRequest::default()
            },
            SearchRequest { license: Some("nobody's".to_owned()), ..SearchRequest::default() },
        ];
        let mut compared = Vec::new();
        for q in ["http", "client tool", "colr", "parser stream", "pub1 te"] {
            let words = tokens(&index.index, WORDS, q);
            let text = text_query(&index, &searcher, q, &words).expect("words");
            for request in &requests {
                let collector = |offset: usize, limit: usize| ResultsCollector {
                    values: &index.values,
                    sort: Sort::Relevance,
                    offset,
                    limit,
                };
                let boolean = with_filters(&index, Box::new(text.clone()), request);
                let expected = searcher.search(&*boolean, &collector(0, 200))?;
                let collected =
                    matches::collect(&searcher, &index.values, &text, &filters(request), &collector(0, 200))?;
                assert_eq!(collected, expected, "{q:?} with {request:?}");
                // Without quality or popularity, the relevance order is the text score's.
                let (by_score, total) =
                    searcher.search(&*boolean, &(TopDocs::with_limit(200).order_by_score(), Count))?;
                let addresses =
                    |page: &[(f64, DocAddress)]| page.iter().map(|(_, address)| *address).collect::<Vec<_>>();
                assert_eq!(
                    addresses(&collected.page),
                    by_score.iter().map(|(_, address)| *address).collect::<Vec<_>>()
                );
                assert_eq!(collected.total, total);
                let paged =
                    matches::collect(&searcher, &index.values, &text, &filters(request), &collector(3, 5))?;
                assert_eq!(paged.page, collected.page.iter().skip(3).take(5).copied().collect::<Vec<_>>());
                compared.push(expected.total);
            }
        }
        let found = compared.iter().filter(|&&total| total > 0).count();
        assert!(found >= 30, "{found} of {} comparisons found something: {compared:?}", compared.len());
        Ok(())
    }
}
