//! What the index holds, read from the database (its source of truth): one document per
//! published capsule (its newest active version, else its newest) and per imported
//! catalog entry.

use super::ranking::{self, CapsuleStats};
use super::schema::Fields;
use crate::db::capsules::VersionRow;
use crate::service::newest_first;
use crate::views::VersionStatus;
use caravan_core::db::DbConnection;
use caravan_core::db::schema::{capsule_stats, capsule_versions, capsules, catalog_entries};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Value;
use std::collections::HashMap;
use tantivy::TantivyDocument;

/// The longest README text indexed.
const README_CHARS: usize = 4000;

/// One searchable capsule or catalog entry.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchDoc {
    pub name: String,
    pub version: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub categories: Vec<String>,
    pub readme: String,
    pub license: String,
    pub tier: String,
    /// `active`, `deprecated`, `yanked` or `revoked`.
    pub status: String,
    /// `registry` or `catalog`.
    pub source: &'static str,
    pub stats: Option<CapsuleStats>,
    /// Executions in the window (registry) or downloads a month (catalog).
    pub popularity_count: f64,
    pub published_at: i64,
}

impl SearchDoc {
    pub fn publisher(&self) -> &str {
        self.name.split('/').next().unwrap_or_default()
    }

    pub fn short_name(&self) -> &str {
        self.name.split('/').nth(1).unwrap_or_default()
    }

    pub fn to_document(&self, fields: &Fields) -> TantivyDocument {
        let mut document = TantivyDocument::default();
        document.add_text(fields.name, &self.name);
        document.add_text(fields.short_name, self.short_name());
        document.add_text(fields.name_words, self.name.replace('/', " "));
        document.add_text(fields.publisher, self.publisher());
        document.add_text(fields.description, &self.description);
        document.add_text(fields.keywords, self.keywords.join(" "));
        document.add_text(fields.readme, &self.readme);
        for category in &self.categories {
            document.add_text(fields.category, category);
        }
        if !self.license.is_empty() {
            document.add_text(fields.license, &self.license);
        }
        if !self.tier.is_empty() {
            document.add_text(fields.tier, &self.tier);
        }
        document.add_text(fields.status, &self.status);
        document.add_text(fields.source, self.source);
        document.add_text(fields.version, &self.version);
        document.add_f64(fields.quality, self.stats.as_ref().map_or(0.0, |stats| stats.quality));
        document.add_f64(fields.popularity, ranking::popularity(self.popularity_count));
        document.add_u64(
            fields.executions,
            self.stats.as_ref().map_or(0, |stats| stats.executions.max(0) as u64),
        );
        document.add_i64(fields.published_at, self.published_at);
        let rank = serde_json::to_string(&self.stats).unwrap_or_default();
        document.add_text(fields.rank, rank);
        document
    }
}

/// Documents of the named published capsules, or of all of them.
pub fn registry(connection: &mut DbConnection, only: Option<&[String]>) -> QueryResult<Vec<SearchDoc>> {
    let mut versions_query = capsule_versions::table.select(VersionRow::as_select()).into_boxed();
    let mut stats_query = capsule_stats::table.select(CapsuleStats::as_select()).into_boxed();
    let mut names_query = capsules::table.select(capsules::name).into_boxed();
    if let Some(names) = only {
        versions_query = versions_query.filter(capsule_versions::capsule_name.eq_any(names));
        stats_query = stats_query.filter(capsule_stats::capsule.eq_any(names));
        names_query = names_query.filter(capsules::name.eq_any(names));
    }
    let names: Vec<String> = names_query.load(connection)?;
    let mut versions: HashMap<String, Vec<VersionRow>> = HashMap::new();
    for row in versions_query.load(connection)? {
        versions.entry(row.capsule_name.clone()).or_default().push(row);
    }
    let mut stats: HashMap<String, CapsuleStats> =
        stats_query.load(connection)?.into_iter().map(|stats| (stats.capsule.clone(), stats)).collect();
    Ok(names
        .into_iter()
        .filter_map(|name| {
            let rows = newest_first(versions.remove(&name)?);
            let shown = rows
                .iter()
                .find(|row| row.status() == VersionStatus::Active)
                .or_else(|| rows.iter().find(|row| row.status() == VersionStatus::Yanked))
                .or_else(|| rows.first())?;
            let stats = stats.remove(&name);
            Some(from_version(shown, stats))
        })
        .collect())
}

fn from_version(row: &VersionRow, stats: Option<CapsuleStats>) -> SearchDoc {
    let manifest: Value = serde_json::from_str(&row.manifest).unwrap_or(Value::Null);
    let strings = |field: &str| -> Vec<String> {
        manifest[field]
            .as_array()
            .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let status = match row.status() {
        VersionStatus::Active if row.deprecated_message.is_some() => "deprecated",
        VersionStatus::Active => "active",
        VersionStatus::Yanked => "yanked",
        VersionStatus::Revoked => "revoked",
    };
    SearchDoc {
        name: row.capsule_name.clone(),
        version: row.version.clone(),
        description: manifest["description"].as_str().unwrap_or_default().to_owned(),
        keywords: strings("keywords"),
        categories: strings("categories"),
        readme: row.readme.chars().take(README_CHARS).collect(),
        license: row.license.clone(),
        tier: row.tier.clone(),
        status: status.to_owned(),
        source: "registry",
        popularity_count: stats.as_ref().map_or(0.0, |stats| stats.executions as f64),
        stats,
        published_at: row.published_at.and_utc().timestamp(),
    }
}

/// Catalog entries imported at or after `since` (all of them without it).
pub fn catalog(connection: &mut DbConnection, since: Option<NaiveDateTime>) -> QueryResult<Vec<SearchDoc>> {
    let mut query = catalog_entries::table
        .select((
            catalog_entries::name,
            catalog_entries::version,
            catalog_entries::description,
            catalog_entries::downloads_a_month,
            catalog_entries::imported_at,
        ))
        .into_boxed();
    if let Some(since) = since {
        query = query.filter(catalog_entries::imported_at.ge(since));
    }
    let rows: Vec<(String, String, String, i64, NaiveDateTime)> = query.load(connection)?;
    Ok(rows
        .into_iter()
        .map(|(name, version, description, downloads, imported_at)| SearchDoc {
            name,
            version,
            description,
            keywords: Vec::new(),
            categories: Vec::new(),
            readme: String::new(),
            license: String::new(),
            tier: String::new(),
            status: "active".to_owned(),
            source: "catalog",
            stats: None,
            popularity_count: downloads as f64,
            published_at: imported_at.and_utc().timestamp(),
        })
        .collect())
}

/// Published capsules changed after `since` (publishes, lifecycle changes, new ranks).
pub fn changed_since(
    connection: &mut DbConnection,
    since: NaiveDateTime,
) -> QueryResult<Vec<(String, NaiveDateTime)>> {
    capsules::table
        .filter(capsules::updated_at.gt(since))
        .select((capsules::name, capsules::updated_at))
        .load(connection)
}

/// The latest import of the catalog, if any.
pub fn catalog_watermark(connection: &mut DbConnection) -> QueryResult<Option<NaiveDateTime>> {
    catalog_entries::table.select(diesel::dsl::max(catalog_entries::imported_at)).first(connection)
}
