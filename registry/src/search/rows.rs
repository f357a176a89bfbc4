//! What every search reads of every document it matches, one row per document: the rank
//! inputs (`quality`, `popularity`) and the term ordinals of the faceted fields.
//!
//! A broad query touches tens of thousands of documents, scattered over the segment, and
//! each read of a value held in an array of its own is a cache miss. In a row of 32 bytes,
//! two to a cache line, all a match needs comes with one. A document with more than one
//! value of a field (categories) keeps them in a side list its row points to. The text
//! scorer reads the rows of a window's matches ahead of the collectors (`best_terms`).

use super::facets::FACETS;
use tantivy::{DocId, SegmentReader, TantivyError};

/// A facet slot of a document without a value.
const NONE: u32 = u32::MAX;
/// Set in a facet slot that points into [`Rows::lists`] rather than holding an ordinal.
const LIST: u32 = 1 << 31;

/// One document's values.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(32))]
pub struct DocRow {
    /// 0 to 1: see `ranking`.
    pub quality: f64,
    /// log10(1 + executions in the window, or downloads a month): see `ranking`.
    pub popularity: f64,
    /// Per entry of [`FACETS`]: the document's one term ordinal, [`NONE`], or [`LIST`] with
    /// where its ordinals' list starts in [`Rows::lists`].
    facets: [u32; FACETS.len()],
}

// Two rows to a cache line: a fifth faceted field needs a row of its own layout.
const _: () = assert!(std::mem::size_of::<DocRow>() == 32);

/// A row for documents a segment does not have.
const EMPTY: DocRow = DocRow { quality: 0.0, popularity: 0.0, facets: [NONE; FACETS.len()] };

/// The rows of one segment, indexed by document id, and the text of each facet ordinal.
#[derive(Debug)]
pub struct Rows {
    rows: Vec<DocRow>,
    /// Lists of ordinals, each its length followed by the ordinals.
    lists: Vec<u32>,
    /// Per entry of [`FACETS`]: the text of each term ordinal.
    text: Vec<Vec<Box<str>>>,
}

impl Rows {
    /// Reads the values of every document of `segment` from its fast columns.
    pub fn read(segment: &SegmentReader) -> tantivy::Result<Self> {
        let documents = segment.max_doc();
        let numbers = |name: &str| -> Vec<f64> {
            match segment.fast_fields().f64(name) {
                Ok(column) => (0..documents).map(|doc| column.first(doc).unwrap_or(0.0)).collect(),
                // A segment where no document has the value.
                Err(_) => vec![0.0; documents as usize],
            }
        };
        let (quality, popularity) = (numbers("quality"), numbers("popularity"));
        let mut rows: Vec<DocRow> = quality
            .into_iter()
            .zip(popularity)
            .map(|(quality, popularity)| DocRow { quality, popularity, ..EMPTY })
            .collect();
        let mut lists = Vec::new();
        let mut text = Vec::with_capacity(FACETS.len());
        for (position, facet) in FACETS.iter().enumerate() {
            let mut terms = Vec::new();
            // None: a segment where no document has the field.
            if let Some(column) = segment.fast_fields().str(facet.field)? {
                let mut ords = Vec::new();
                for (doc, row) in rows.iter_mut().enumerate() {
                    ords.clear();
                    for ord in column.term_ords(doc as DocId) {
                        ords.push(u32::try_from(ord).map_err(|_| too_many("term ordinals"))?);
                    }
                    row.facets[position] = slot(&ords, &mut lists)?;
                }
                terms.reserve(column.num_terms());
                let mut stream = column.dictionary().stream()?;
                while stream.advance() {
                    terms.push(String::from_utf8_lossy(stream.key()).into());
                }
            }
            text.push(terms);
        }
        Ok(Self { rows, lists, text })
    }

    /// The row of `doc`.
    pub fn row(&self, doc: DocId) -> &DocRow {
        self.rows.get(doc as usize).unwrap_or(&EMPTY)
    }

    /// Reads the rows of the documents from `start` on whose bits are set in `matches`, so
    /// that they are in the cache when the documents are collected.
    pub fn read_ahead(&self, start: DocId, matches: &[u64]) {
        let mut sum = 0.0;
        for (index, &block) in matches.iter().enumerate() {
            let mut block = block;
            while block != 0 {
                let doc = start + (index * 64) as DocId + block.trailing_zeros();
                block &= block - 1;
                sum += self.row(doc).quality;
            }
        }
        // Kept, or the reads would be optimized away.
        std::hint::black_box(sum);
    }

    /// The term ordinals of the `facet`th entry of [`FACETS`] in `row`.
    pub fn ords<'a>(&'a self, row: &'a DocRow, facet: usize) -> &'a [u32] {
        let Some(slot) = row.facets.get(facet) else { return &[] };
        match *slot {
            NONE => &[],
            list if list & LIST != 0 => {
                let start = (list & !LIST) as usize;
                let length = self.lists.get(start).copied().unwrap_or(0) as usize;
                self.lists.get(start + 1..start + 1 + length).unwrap_or_default()
            }
            _ => std::slice::from_ref(slot),
        }
    }

    /// Whether `row` has the term ordinal `ord` of the `facet`th entry of [`FACETS`]: a
    /// filter's test, one comparison for a field's one value.
    #[inline]
    pub fn has(&self, row: &DocRow, facet: usize, ord: u32) -> bool {
        match row.facets.get(facet) {
            Some(&slot) if slot < LIST => slot == ord,
            Some(&NONE) | None => false,
            Some(_) => self.ords(row, facet).contains(&ord),
        }
    }

    /// The term ordinal of `value` in the `facet`th entry of [`FACETS`], if a document of
    /// the segment has it.
    pub fn ord_of(&self, facet: usize, value: &str) -> Option<u32> {
        let text = self.text.get(facet)?;
        // In the dictionary's order, which is the order of the bytes.
        text.binary_search_by(|known| known.as_bytes().cmp(value.as_bytes()))
            .ok()
            .and_then(|ord| u32::try_from(ord).ok())
    }

    /// Calls `count(facet, ord)` for each term ordinal of each entry of [`FACETS`] in
    /// `row`: facet counting's inner loop, where a field's one ordinal costs one
    /// comparison.
    #[inline]
    pub fn each_ord(&self, row: &DocRow, mut count: impl FnMut(usize, u32)) {
        for (facet, &slot) in row.facets.iter().enumerate() {
            if slot < LIST {
                count(facet, slot);
            } else if slot != NONE {
                for &ord in self.ords(row, facet) {
                    count(facet, ord);
                }
            }
        }
    }

    /// How many distinct values the `facet`th entry of [`FACETS`] has in the segment.
    pub fn term_count(&self, facet: usize) -> usize {
        self.text.get(facet).map_or(0, Vec::len)
    }

    /// The value of a term ordinal of the `facet`th entry of [`FACETS`].
    pub fn text(&self, facet: usize, ord: u32) -> Option<&str> {
        self.text.get(facet)?.get(ord as usize).map(|text| &**text)
    }
}

/// The slot of a facet for a document with `ords`: empty, one ordinal that is not a
/// marker, or where the ordinals are appended to `lists`.
fn slot(ords: &[u32], lists: &mut Vec<u32>) -> tantivy::Result<u32> {
    Ok(match ords {
        [] => NONE,
        [ord] if *ord < LIST => *ord,
        _ => {
            let start = u32::try_from(lists.len())
                .ok()
                .filter(|&start| start < !LIST)
                .ok_or_else(|| too_many("facet values"))?;
            lists.push(u32::try_from(ords.len()).map_err(|_| too_many("facet values"))?);
            lists.extend_from_slice(ords);
            LIST | start
        }
    })
}

/// A segment too large for the rows' 32-bit numbers.
fn too_many(what: &str) -> TantivyError {
    TantivyError::InternalError(format!("a search segment has too many {what} for its rows"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::schema::{FAST, STRING, Schema};
    use tantivy::{Index, IndexWriter, TantivyDocument};

    #[test]
    fn a_row_holds_one_value_and_points_to_several() {
        let mut builder = Schema::builder();
        let quality = builder.add_f64_field("quality", FAST);
        let category = builder.add_text_field("category", STRING | FAST);
        let license = builder.add_text_field("license", STRING | FAST);
        let index = Index::create_in_ram(builder.build());
        let mut writer: IndexWriter = index.writer(15_000_000).expect("writer");
        let documents: [(f64, &[&str], &[&str]); 3] =
            [(0.5, &["cli", "http"], &["MIT"]), (0.25, &[], &["ISC"]), (1.0, &["http"], &[])];
        for (value, categories, licenses) in documents {
            let mut document = TantivyDocument::default();
            document.add_f64(quality, value);
            for text in categories {
                document.add_text(category, text);
            }
            for text in licenses {
                document.add_text(license, text);
            }
            writer.add_document(document).expect("add");
        }
        writer.commit().expect("commit");
        let searcher = index.reader().expect("reader").searcher();
        let rows = Rows::read(searcher.segment_reader(0)).expect("rows");

        let [category_at, license_at] = ["category", "license"]
            .map(|name| FACETS.iter().position(|facet| facet.field == name).expect("faceted"));
        let text = |facet: usize, doc: DocId| -> Vec<&str> {
            let row = rows.row(doc);
            rows.ords(row, facet).iter().filter_map(|&ord| rows.text(facet, ord)).collect()
        };
        assert_eq!(text(category_at, 0), ["cli", "http"]);
        assert_eq!(text(category_at, 1), Vec::<&str>::new());
        assert_eq!(text(category_at, 2), ["http"]);
        assert_eq!(text(license_at, 0), ["MIT"]);
        assert_eq!(text(license_at, 1), ["ISC"]);
        assert_eq!(text(license_at, 2), Vec::<&str>::new());
        let mut each = Vec::new();
        rows.each_ord(rows.row(0), |facet, ord| each.push((facet, rows.text(facet, ord))));
        assert_eq!(
            each,
            [(category_at, Some("cli")), (category_at, Some("http")), (license_at, Some("MIT"))]
        );
        assert_eq!((rows.row(1).quality, rows.row(1).popularity), (0.25, 0.0));
        assert_eq!(rows.term_count(category_at), 2);
        let [cli, http] = ["cli", "http"].map(|value| rows.ord_of(category_at, value).expect("indexed"));
        assert_eq!(rows.ord_of(category_at, "zip"), None);
        assert!(rows.has(rows.row(0), category_at, cli) && rows.has(rows.row(0), category_at, http));
        assert!(!rows.has(rows.row(2), category_at, cli) && rows.has(rows.row(2), category_at, http));
        assert!(!rows.has(rows.row(1), category_at, http), "no category");
        let mit = rows.ord_of(license_at, "MIT").expect("indexed");
        assert!(rows.has(rows.row(0), license_at, mit) && !rows.has(rows.row(1), license_at, mit));
        assert!(text(category_at, 3).is_empty(), "beyond the segment");
    }

    #[test]
    fn a_slot_holds_one_ordinal_or_points_to_its_list() -> tantivy::Result<()> {
        let mut lists = vec![7];
        let mut rows = Rows { rows: Vec::new(), lists: Vec::new(), text: Vec::new() };
        let cases: [&[u32]; 6] = [&[], &[0], &[12], &[LIST], &[u32::MAX], &[1, 2]];
        let mut slots = Vec::new();
        for ords in cases {
            slots.push(slot(ords, &mut lists)?);
        }
        rows.lists = lists;
        for (ords, slot) in cases.iter().zip(slots) {
            let mut row = EMPTY;
            row.facets[0] = slot;
            assert_eq!(rows.ords(&row, 0), *ords);
        }
        assert_eq!(&rows.lists[..1], [7], "lists are appended to");
        Ok(())
    }
}
