//! Importing a package catalog (`name`, `version`, `downloads_a_month`, `description`,
//! tab-separated with a header row, like `npm-catalog.tsv`) as capsule metadata for search:
//! `@scope/pkg` becomes `scope/pkg` and an unscoped `pkg` becomes `npm/pkg`, each part
//! lowercased with every other character than a-z and 0-9 made `-` (runs collapsed, ends
//! trimmed, at most 64). When two records make one name, the more downloaded wins.

use caravan_core::db::schema::catalog_entries;
use caravan_core::db::{DbConnection, write_transaction};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::collections::HashMap;
use std::io::BufRead;

/// One record, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Insertable)]
#[diesel(table_name = catalog_entries)]
pub struct CatalogEntry {
    pub name: String,
    pub publisher: String,
    pub version: String,
    pub description: String,
    pub downloads_a_month: i64,
    pub imported_at: NaiveDateTime,
}

/// A name part made of `[a-z0-9-]`, or `None` when nothing is left.
pub fn normalize_part(part: &str) -> Option<String> {
    let mut normalized = String::with_capacity(part.len());
    for character in part.chars().flat_map(char::to_lowercase) {
        if character.is_ascii_lowercase() || character.is_ascii_digit() {
            normalized.push(character);
        } else if !normalized.ends_with('-') {
            normalized.push('-');
        }
    }
    let trimmed: String = normalized.trim_matches('-').chars().take(64).collect();
    let trimmed = trimmed.trim_end_matches('-').to_owned();
    (!trimmed.is_empty()).then_some(trimmed)
}

/// The capsule name of a package name.
pub fn capsule_name(package: &str) -> Option<String> {
    match package.strip_prefix('@').and_then(|scoped| scoped.split_once('/')) {
        Some((scope, name)) => Some(format!("{}/{}", normalize_part(scope)?, normalize_part(name)?)),
        None => Some(format!("npm/{}", normalize_part(package)?)),
    }
}

/// Reads the records, normalizing names and keeping the most downloaded of a name.
pub fn read(input: impl BufRead, imported_at: NaiveDateTime) -> std::io::Result<Vec<CatalogEntry>> {
    let mut entries: HashMap<String, CatalogEntry> = HashMap::new();
    for (number, line) in input.lines().enumerate() {
        let line = line?;
        if number == 0 && line.starts_with("name\t") {
            continue;
        }
        let mut columns = line.splitn(4, '\t');
        let (Some(package), Some(version), Some(downloads), description) =
            (columns.next(), columns.next(), columns.next(), columns.next())
        else {
            continue;
        };
        let Some(name) = capsule_name(package) else { continue };
        let entry = CatalogEntry {
            publisher: name.split('/').next().unwrap_or_default().to_owned(),
            name: name.clone(),
            version: version.chars().take(64).collect(),
            description: description.unwrap_or_default().chars().take(1000).collect(),
            downloads_a_month: downloads.trim().parse().unwrap_or(0),
            imported_at,
        };
        match entries.get(&name) {
            Some(kept) if kept.downloads_a_month >= entry.downloads_a_month => {}
            _ => {
                entries.insert(name, entry);
            }
        }
    }
    let mut entries: Vec<CatalogEntry> = entries.into_values().collect();
    entries.sort_by(|left, right| left.name.cmp(&right.name));
    Ok(entries)
}

/// Replaces the catalog with `entries`, in batches, calling `progress` with the count
/// stored so far.
pub fn store(
    connection: &mut DbConnection,
    entries: &[CatalogEntry],
    progress: impl Fn(usize),
) -> QueryResult<()> {
    write_transaction(connection, |connection| {
        diesel::delete(catalog_entries::table).execute(connection)?;
        let mut stored = 0;
        for chunk in entries.chunks(1000) {
            match connection {
                DbConnection::Sqlite(sqlite) => {
                    for entry in chunk {
                        diesel::insert_into(catalog_entries::table).values(entry).execute(sqlite)?;
                    }
                }
                DbConnection::Postgres(postgres) => {
                    diesel::insert_into(catalog_entries::table).values(chunk).execute(postgres)?;
                }
            }
            stored += chunk.len();
            progress(stored);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names_become_capsule_names() {
        assert_eq!(capsule_name("@Babel/Core").as_deref(), Some("babel/core"));
        assert_eq!(capsule_name("socket.io").as_deref(), Some("npm/socket-io"));
        assert_eq!(capsule_name("@types/babel__core").as_deref(), Some("types/babel-core"));
        assert_eq!(capsule_name("--").as_deref(), None);
        assert_eq!(normalize_part(&"a".repeat(70)).map(|part| part.len()), Some(64));
    }

    #[test]
    fn the_most_downloaded_record_of_a_name_wins() {
        let tsv = "name\tversion\tdownloads_a_month\tdescription\nobject.assign\t1\t262\told\nobject-assign\t4\t343\tnew\n";
        let entries = read(tsv.as_bytes(), chrono::NaiveDateTime::default()).expect("read");
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].name.as_str(), entries[0].description.as_str()), ("npm/object-assign", "new"));
    }
}
