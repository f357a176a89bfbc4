//! Each document's lifecycle status, held in memory per segment, so that a search hides
//! revoked, yanked and deprecated capsules with one byte read per match rather than by
//! walking the postings of three status terms beside the text's.

use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, SegmentReader, TERMINATED, Term};

/// A status a search may hide, by its value in the `status` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hideable {
    Deprecated,
    Yanked,
    Revoked,
}

impl Hideable {
    const ALL: [Hideable; 3] = [Hideable::Deprecated, Hideable::Yanked, Hideable::Revoked];

    /// Its value in the `status` field.
    pub fn value(self) -> &'static str {
        match self {
            Hideable::Deprecated => "deprecated",
            Hideable::Yanked => "yanked",
            Hideable::Revoked => "revoked",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The statuses a search leaves out, as a set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hidden(u8);

impl Hidden {
    pub fn of(statuses: impl IntoIterator<Item = Hideable>) -> Self {
        Self(statuses.into_iter().fold(0, |bits, status| bits | status.bit()))
    }
}

/// Per document of a segment, a bit per [`Hideable`] status it has.
#[derive(Debug)]
pub struct Statuses {
    bits: Vec<u8>,
}

impl Statuses {
    /// Reads the documents of each hideable status from the postings of the `status`
    /// field; none has one in a schema without it.
    pub fn read(segment: &SegmentReader) -> tantivy::Result<Self> {
        let Ok(field) = segment.schema().get_field("status") else { return Ok(Self { bits: Vec::new() }) };
        let mut bits = vec![0; segment.max_doc() as usize];
        let inverted = segment.inverted_index(field)?;
        for status in Hideable::ALL {
            let term = Term::from_field_text(field, status.value());
            let Some(mut postings) = inverted.read_postings(&term, IndexRecordOption::Basic)? else {
                continue;
            };
            let mut doc = postings.doc();
            while doc != TERMINATED {
                if let Some(marks) = bits.get_mut(doc as usize) {
                    *marks |= status.bit();
                }
                doc = postings.advance();
            }
        }
        Ok(Self { bits })
    }

    /// Whether `doc` has one of the `hidden` statuses.
    #[inline]
    pub fn hides(&self, doc: DocId, hidden: Hidden) -> bool {
        self.bits.get(doc as usize).is_some_and(|&bits| bits & hidden.0 != 0)
    }
}
