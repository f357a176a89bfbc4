//! Snippets: a hit's description as HTML, with the words the search matched in
//! `<b>…</b>` and everything else escaped. A description of up to `SNIPPET_BYTES` is shown
//! whole; a longer one by its part of at most that length (ending between words) holding
//! the most matched words.
//!
//! A word matches when its stem is one of the query's description terms (its stems and
//! their typos). English stemming only rewrites a word's ending, never its first letter, so
//! only the words that begin like one of the terms are stemmed: stemming every word of every
//! description was a seventh of a search.

use super::schema::WORDS;
use std::ops::Range;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, Term};

/// The longest snippet, in bytes of the description.
pub const SNIPPET_BYTES: usize = 150;

/// Highlights the description terms of one query.
pub struct Highlighter {
    terms: Vec<String>,
    /// The first letter of each term.
    initials: Vec<char>,
    words: Option<TextAnalyzer>,
    stemmer: frostem::Stemmer,
}

impl Highlighter {
    /// A highlighter of `terms`: indexed description terms, as the `text` tokenizer makes
    /// them.
    pub fn new<'t>(index: &Index, terms: impl IntoIterator<Item = &'t Term>) -> Self {
        let mut texts: Vec<String> =
            terms.into_iter().filter_map(|term| term.value().as_str().map(str::to_owned)).collect();
        texts.sort_unstable();
        texts.dedup();
        let mut initials: Vec<char> = texts.iter().filter_map(|term| term.chars().next()).collect();
        initials.sort_unstable();
        initials.dedup();
        Self {
            terms: texts,
            initials,
            words: index.tokenizers().get(WORDS),
            stemmer: frostem::Stemmer::new(frostem::Algorithm::English),
        }
    }

    /// `description` as HTML with the matched words in `<b>…</b>`.
    pub fn snippet(&mut self, description: &str) -> String {
        let matched = self.matched_words(description);
        let shown = shown_part(description, &matched);
        let mut html = String::with_capacity(shown.len() + matched.len() * 7 + 16);
        let mut written = shown.start;
        for word in matched.iter().filter(|word| shown.start <= word.start && word.end <= shown.end) {
            push_escaped(&mut html, &description[written..word.start]);
            html.push_str("<b>");
            push_escaped(&mut html, &description[word.clone()]);
            html.push_str("</b>");
            written = word.end;
        }
        push_escaped(&mut html, &description[written..shown.end]);
        html
    }

    /// Where the words of `description` whose stem is a term stand, in order.
    fn matched_words(&mut self, description: &str) -> Vec<Range<usize>> {
        let mut matched = Vec::new();
        let Some(words) = self.words.as_mut() else { return matched };
        if self.terms.is_empty() {
            return matched;
        }
        let mut stream = words.token_stream(description);
        while stream.advance() {
            let token = stream.token();
            let begins_like_a_term =
                token.text.chars().next().is_some_and(|first| self.initials.binary_search(&first).is_ok());
            if begins_like_a_term {
                let stem = self.stemmer.stem(&token.text);
                if self.terms.binary_search_by(|term| term.as_str().cmp(stem.as_ref())).is_ok() {
                    matched.push(token.offset_from..token.offset_to);
                }
            }
        }
        matched
    }
}

/// The part of `description` a snippet shows: all of it when it is short; else the part of
/// up to `SNIPPET_BYTES` that holds the most matched words (the earliest of equals), from
/// the start when none matched.
fn shown_part(description: &str, matched: &[Range<usize>]) -> Range<usize> {
    if description.len() <= SNIPPET_BYTES {
        return 0..description.len();
    }
    let mut best: Option<(usize, Range<usize>)> = None;
    for (first, word) in matched.iter().enumerate() {
        let within = matched[first..].iter().take_while(|later| later.end - word.start <= SNIPPET_BYTES);
        let (count, last) = within.fold((0, word.end), |(count, _), later| (count + 1, later.end));
        if best.as_ref().is_none_or(|(most, _)| count > *most) {
            best = Some((count, word.start..last));
        }
    }
    let Some((_, part)) = best else { return 0..end_between_words(description, SNIPPET_BYTES, 0) };
    // From the beginning when the matched words fit there; else from the first of them. Then
    // context after the last one, up to the length.
    let start = if part.end <= SNIPPET_BYTES { 0 } else { part.start };
    start..end_between_words(description, start + SNIPPET_BYTES, part.end)
}

/// Where a part of `description` ending at most at `limit` ends: before the word `limit`
/// falls in, but not before `at_least`; inside a word only when it is all one word.
fn end_between_words(description: &str, limit: usize, at_least: usize) -> usize {
    let limit = floor_char_boundary(description, limit);
    let in_a_word = description[limit..].chars().next().is_some_and(char::is_alphanumeric);
    if !in_a_word {
        return limit.max(at_least);
    }
    let cut = description[..limit].rfind(|character: char| !character.is_alphanumeric());
    cut.filter(|cut| *cut >= at_least).unwrap_or(limit).max(at_least)
}

/// The largest character boundary of `text` at or before `at`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// Appends `text` with `&`, `<`, `>`, `"` and `'` escaped.
fn push_escaped(html: &mut String, text: &str) {
    let mut rest = text;
    while let Some(position) = rest.find(['&', '<', '>', '"', '\'']) {
        html.push_str(&rest[..position]);
        html.push_str(match rest.as_bytes()[position] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#x27;",
        });
        rest = &rest[position + 1..];
    }
    html.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::{Highlighter, SNIPPET_BYTES};
    use crate::search::schema::{TEXT, WORDS, register_tokenizers, tokens};
    use tantivy::schema::{Field, Schema, TEXT as TEXT_OPTIONS};
    use tantivy::{Index, Term};

    fn index() -> (Index, Field) {
        let mut schema = Schema::builder();
        let field = schema.add_text_field("description", TEXT_OPTIONS);
        let index = Index::create_in_ram(schema.build());
        register_tokenizers(&index);
        (index, field)
    }

    fn highlighted(query: &str, description: &str) -> String {
        let (index, field) = index();
        let terms: Vec<Term> =
            tokens(&index, TEXT, query).iter().map(|stem| Term::from_field_text(field, stem)).collect();
        Highlighter::new(&index, &terms).snippet(description)
    }

    #[test]
    fn marks_the_words_whose_stem_matches_and_escapes_the_rest() {
        assert_eq!(
            highlighted("parsing cookies", "Parses <Cookie> headers & \"parsed\" cookies' values."),
            "<b>Parses</b> &lt;<b>Cookie</b>&gt; headers &amp; &quot;<b>parsed</b>&quot; <b>cookies</b>&#x27; values."
        );
        assert_eq!(highlighted("zebra", "Nothing here matches."), "Nothing here matches.");
        assert_eq!(highlighted("", "No terms at all."), "No terms at all.");
    }

    #[test]
    fn a_long_description_shows_the_part_with_the_most_matches() {
        let description = format!(
            "{} the websocket server, websocket client and websocket proxy {}",
            "lead words ".repeat(20),
            "trailing words ".repeat(20)
        );
        let snippet = highlighted("websocket", &description);
        assert!(snippet.starts_with("<b>websocket</b> server"), "{snippet}");
        assert_eq!(snippet.matches("<b>websocket</b>").count(), 3);
        let text = snippet.replace("<b>", "").replace("</b>", "");
        assert!(text.len() <= SNIPPET_BYTES, "{text}");
        assert!(text.ends_with("trailing words"), "ends between words: {text}");

        let unmatched = highlighted("zebra", &"é".repeat(SNIPPET_BYTES));
        assert_eq!(unmatched, "é".repeat(SNIPPET_BYTES / 2), "cut between characters");
    }

    /// What lets the highlighter stem only the words that begin like a term.
    #[test]
    fn stemming_keeps_a_words_first_letter() {
        let (index, _) = index();
        let words = "dying lying tying skies skis ugly early only singly gently idly news yes you \
            youths yelling y ys ies ied us ss happily generalizations caresses ponies ties cats \
            feed agreed disabled matting mating meeting milling messing meetings consigned \
            knightly irrelevantly conditional rational valenci hesitanci digitizer conformabli \
            electriciti hopeful goodness triplicate formative formalize electrical 1990s v2 \
            naïve Émile über ΑΒΓ 東京";
        for word in tokens(&index, WORDS, words) {
            let stem = tokens(&index, TEXT, &word).pop().unwrap_or_default();
            assert_eq!(stem.chars().next(), word.chars().next(), "{word} → {stem}");
        }
    }
}
