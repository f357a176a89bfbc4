//! The search index's schema, defined once, and its tokenizers, registered in one place.
//!
//! - `words`: split on anything not a letter or digit, lowercased, folded to ASCII — for
//!   names (`babel-core` → `babel`, `core`), keywords and exact matches.
//! - `text`: the same, then English stemming — for descriptions and READMEs.

use tantivy::Index;
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer,
};

pub const WORDS: &str = "caravan_words";
pub const TEXT: &str = "caravan_text";

/// Every field, by role.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// `publisher/name`, whole and lowercased: exact-name matches and deletes.
    pub name: Field,
    /// The name part after `/`, whole: a query equal to it ranks first.
    pub short_name: Field,
    /// The name's words.
    pub name_words: Field,
    pub description: Field,
    pub keywords: Field,
    pub readme: Field,
    /// The faceted fields, whole values with fast columns: filters, facet counts (see
    /// `facets`) and results. A capsule has any number of categories.
    pub publisher: Field,
    pub license: Field,
    pub tier: Field,
    pub category: Field,
    /// `active`, `yanked`, `deprecated` or `revoked`.
    pub status: Field,
    /// `registry` (published) or `catalog` (imported metadata).
    pub source: Field,
    pub version: Field,
    /// 0 to 1: see `ranking`.
    pub quality: Field,
    pub popularity: Field,
    pub executions: Field,
    /// Unix seconds of the latest version.
    pub published_at: Field,
    /// The measured figures behind quality (`CapsuleStats`) as JSON, for the results.
    pub rank: Field,
}

impl Fields {
    pub fn build() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let analyzed = |tokenizer: &str, stored: bool| {
            let indexing = TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions);
            let options = TextOptions::default().set_indexing_options(indexing);
            if stored { options.set_stored() } else { options }
        };
        let fields = Fields {
            name: builder.add_text_field("name", STRING | STORED | FAST),
            short_name: builder.add_text_field("short_name", STRING),
            name_words: builder.add_text_field("name_words", analyzed(WORDS, false)),
            description: builder.add_text_field("description", analyzed(TEXT, true)),
            keywords: builder.add_text_field("keywords", analyzed(WORDS, false)),
            readme: builder.add_text_field("readme", analyzed(TEXT, false)),
            publisher: builder.add_text_field("publisher", STRING | FAST),
            license: builder.add_text_field("license", STRING | STORED | FAST),
            tier: builder.add_text_field("tier", STRING | STORED | FAST),
            category: builder.add_text_field("category", STRING | STORED | FAST),
            status: builder.add_text_field("status", STRING | STORED),
            source: builder.add_text_field("source", STRING | STORED),
            version: builder.add_text_field("version", STORED),
            quality: builder.add_f64_field("quality", FAST),
            popularity: builder.add_f64_field("popularity", FAST),
            executions: builder.add_u64_field("executions", FAST),
            published_at: builder.add_i64_field("published_at", FAST),
            rank: builder.add_text_field("rank", STORED),
        };
        (builder.build(), fields)
    }
}

/// Registers the tokenizers on an index; call it on every index opened or created.
pub fn register_tokenizers(index: &Index) {
    let words = || {
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(64))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
    };
    index.tokenizers().register(WORDS, words().build());
    index.tokenizers().register(TEXT, words().filter(Stemmer::new(Language::English)).build());
}

/// The words of `text` as `tokenizer` makes them, for building queries.
pub fn tokens(index: &Index, tokenizer: &str, text: &str) -> Vec<String> {
    let Some(mut analyzer) = index.tokenizers().get(tokenizer) else { return Vec::new() };
    let mut stream = analyzer.token_stream(text);
    let mut tokens = Vec::new();
    while stream.advance() {
        tokens.push(stream.token().text.clone());
    }
    tokens
}
