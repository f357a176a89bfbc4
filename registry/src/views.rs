//! What the registry API returns: database rows turned into documented JSON.

use crate::db::capsules::{CapsuleRow, VersionRow};
use crate::policy::AdmissionCheck;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// Whether a version can be resolved and downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionStatus {
    /// Resolvable and downloadable.
    Active,
    /// Hidden from version resolution; an exact download still works.
    Yanked,
    /// Withdrawn for security: download and execution are refused with the reason.
    Revoked,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CapsuleView {
    /// `publisher/name`
    #[schema(example = "acme/echo")]
    pub name: String,
    pub namespace: String,
    pub description: String,
    /// The newest active version, if any.
    pub latest_version: Option<String>,
    pub version_count: usize,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CapsuleView {
    pub fn new(row: CapsuleRow, versions: &[VersionRow]) -> Self {
        Self {
            latest_version: crate::service::newest_active(versions).map(|version| version.version.clone()),
            version_count: versions.len(),
            name: row.name,
            namespace: row.namespace,
            description: row.description,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SbomSummaryView {
    /// `sha256:<hex>` of the SBOM document.
    pub digest: String,
    #[schema(example = "1.5")]
    pub spec_version: String,
    pub component_count: i64,
    /// Distinct licenses the components declare.
    pub licenses: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdmissionView {
    #[schema(example = "admitted")]
    pub decision: String,
    pub checks: Vec<AdmissionCheck>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    #[schema(example = "cver_01JD5Z2Q7X4T0N3M8V6W9Y1B2C")]
    pub id: String,
    #[schema(example = "acme/echo")]
    pub capsule: String,
    #[schema(example = "1.2.0")]
    pub version: String,
    pub status: VersionStatus,
    /// The validated `capsule.toml`, as JSON.
    #[schema(value_type = Object)]
    pub manifest: serde_json::Value,
    pub readme: String,
    /// `sha256:<hex>` of the bundle's exact bytes; also its `Digest` and `ETag` on download.
    pub digest: String,
    pub size_bytes: i64,
    pub unpacked_bytes: i64,
    pub file_count: i64,
    /// The publisher key that signed the bundle.
    pub signer_key_id: String,
    pub sbom: Option<SbomSummaryView>,
    pub admission: AdmissionView,
    pub published_at: DateTime<Utc>,
    /// The API key that published it.
    pub published_by: String,
    pub yanked_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
    pub deprecated_message: Option<String>,
    pub download_url: String,
    pub signature_url: String,
    pub sbom_url: Option<String>,
}

impl VersionStatus {
    /// A version's standing from its marks: a revocation outranks a yank.
    pub fn of(revoked_at: Option<NaiveDateTime>, yanked_at: Option<NaiveDateTime>) -> Self {
        if revoked_at.is_some() {
            Self::Revoked
        } else if yanked_at.is_some() {
            Self::Yanked
        } else {
            Self::Active
        }
    }
}

impl VersionRow {
    pub fn status(&self) -> VersionStatus {
        VersionStatus::of(self.revoked_at, self.yanked_at)
    }
}

impl From<VersionRow> for VersionView {
    fn from(row: VersionRow) -> Self {
        let status = row.status();
        let base = format!("/v1/capsules/{}/versions/{}", row.capsule_name, row.version);
        let sbom = match (row.sbom_digest, row.sbom_spec_version, row.sbom_component_count) {
            (Some(digest), Some(spec_version), Some(component_count)) => Some(SbomSummaryView {
                digest,
                spec_version,
                component_count,
                licenses: serde_json::from_str(&row.sbom_licenses).unwrap_or_default(),
            }),
            _ => None,
        };
        Self {
            status,
            id: row.id.to_string(),
            manifest: serde_json::from_str(&row.manifest).unwrap_or_default(),
            readme: row.readme,
            digest: row.digest,
            size_bytes: row.size_bytes,
            unpacked_bytes: row.unpacked_bytes,
            file_count: row.file_count,
            signer_key_id: row.signer_key_id.to_string(),
            admission: AdmissionView {
                decision: "admitted".to_owned(),
                checks: serde_json::from_str(&row.admission).unwrap_or_default(),
            },
            published_at: row.published_at.and_utc(),
            published_by: row.published_by.to_string(),
            yanked_at: row.yanked_at.map(|at| at.and_utc()),
            revoked_at: row.revoked_at.map(|at| at.and_utc()),
            revoked_reason: row.revoked_reason,
            deprecated_message: row.deprecated_message,
            download_url: format!("{base}/download"),
            signature_url: format!("{base}/signature"),
            sbom_url: sbom.as_ref().map(|_| format!("{base}/sbom")),
            sbom,
            capsule: row.capsule_name,
            version: row.version,
        }
    }
}

/// A version in a capsule's list: the facts needed to choose one.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionSummary {
    pub version: String,
    pub status: VersionStatus,
    pub digest: String,
    pub size_bytes: i64,
    pub published_at: DateTime<Utc>,
    pub deprecated_message: Option<String>,
}

impl From<&VersionRow> for VersionSummary {
    fn from(row: &VersionRow) -> Self {
        Self {
            version: row.version.clone(),
            status: row.status(),
            digest: row.digest.clone(),
            size_bytes: row.size_bytes,
            published_at: row.published_at.and_utc(),
            deprecated_message: row.deprecated_message.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    pub capsule: String,
    /// Newest first, by semver precedence.
    pub versions: Vec<VersionSummary>,
}
