//! CycloneDX SBOMs sent with a capsule: JSON, spec versions 1.4 to 1.6, parsed and
//! validated with `cyclonedx-bom`, and summarised (component count, declared licenses)
//! for the version's page and the admission policy.
//!
//! `cyclonedx-bom` models 1.4 and 1.5. A 1.6 document is validated against the 1.5
//! model, which its common parts (metadata, components, licenses, hashes, purls) share;
//! fields 1.6 added are kept in the stored document but not checked.

use caravan_core::{ErrorKind, Problematic};
use cyclonedx_bom::models::bom::{Bom, SpecVersion};
use cyclonedx_bom::models::component::Components;
use cyclonedx_bom::models::license::{LicenseChoice, LicenseIdentifier};
use cyclonedx_bom::validation::Validate;
use std::collections::BTreeSet;

/// Spec versions accepted at publish time.
pub const SUPPORTED_SPEC_VERSIONS: &[&str] = &["1.4", "1.5", "1.6"];

#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error("the SBOM is not JSON: {0}")]
    NotJson(String),
    #[error("the SBOM is not a CycloneDX document (`bomFormat` must be `CycloneDX`)")]
    NotCycloneDx,
    #[error("CycloneDX spec version `{0}` is not accepted; use one of 1.4, 1.5 or 1.6")]
    UnsupportedVersion(String),
    #[error("the SBOM does not follow CycloneDX {version}: {reason}")]
    Invalid { version: String, reason: String },
}

impl Problematic for SbomError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unprocessable
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::UnsupportedVersion(_) => "unsupported-sbom-version",
            _ => "invalid-sbom",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::UnsupportedVersion(_) => "Unsupported SBOM version",
            _ => "Invalid SBOM",
        }
    }
}

/// What the registry records about a valid SBOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbomSummary {
    pub spec_version: String,
    /// Every component, nested ones included.
    pub component_count: u64,
    /// Distinct SPDX ids, expressions and license names the components declare.
    pub licenses: BTreeSet<String>,
}

/// Parses and validates a CycloneDX JSON document.
pub fn inspect(bytes: &[u8]) -> Result<SbomSummary, SbomError> {
    let mut document: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|error| SbomError::NotJson(error.to_string()))?;
    if document.get("bomFormat").and_then(|format| format.as_str()) != Some("CycloneDX") {
        return Err(SbomError::NotCycloneDx);
    }
    let declared = match document.get("specVersion") {
        Some(serde_json::Value::String(version)) => version.clone(),
        Some(other) => return Err(SbomError::UnsupportedVersion(other.to_string())),
        None => return Err(SbomError::UnsupportedVersion("(missing)".to_owned())),
    };
    if !SUPPORTED_SPEC_VERSIONS.contains(&declared.as_str()) {
        return Err(SbomError::UnsupportedVersion(declared));
    }
    let model = if declared == "1.4" { SpecVersion::V1_4 } else { SpecVersion::V1_5 };
    if declared == "1.6" {
        document["specVersion"] = serde_json::Value::from("1.5");
    }
    let invalid = |reason: String| SbomError::Invalid { version: declared.clone(), reason };
    let bom = Bom::parse_json_value(document).map_err(|error| invalid(error.to_string()))?;
    let validation = bom.validate_version(model);
    if validation.has_errors() {
        let reasons: Vec<String> =
            validation.errors().map(|(field, problem)| format!("{field}: {problem:?}")).take(5).collect();
        return Err(invalid(reasons.join("; ")));
    }
    let mut summary = SbomSummary { spec_version: declared, component_count: 0, licenses: BTreeSet::new() };
    if let Some(components) = &bom.components {
        tally(components, &mut summary);
    }
    Ok(summary)
}

fn tally(components: &Components, summary: &mut SbomSummary) {
    for component in &components.0 {
        summary.component_count += 1;
        for choice in component.licenses.iter().flat_map(|licenses| licenses.0.iter()) {
            summary.licenses.insert(match choice {
                LicenseChoice::License(license) => match &license.license_identifier {
                    LicenseIdentifier::SpdxId(id) => id.to_string(),
                    LicenseIdentifier::Name(name) => name.to_string(),
                },
                LicenseChoice::Expression(expression) => expression.to_string(),
            });
        }
        if let Some(nested) = &component.components {
            tally(nested, summary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document(version: &str) -> serde_json::Value {
        json!({
            "bomFormat": "CycloneDX",
            "specVersion": version,
            "version": 1,
            "components": [
                { "type": "library", "name": "requests", "version": "2.32.3",
                  "purl": "pkg:pypi/requests@2.32.3",
                  "licenses": [{ "license": { "id": "Apache-2.0" } }],
                  "components": [{ "type": "library", "name": "idna",
                                   "licenses": [{ "expression": "BSD-3-Clause" }] }] },
                { "type": "library", "name": "internal-lib",
                  "licenses": [{ "license": { "name": "Proprietary" } }] }
            ]
        })
    }

    fn inspect_json(value: &serde_json::Value) -> Result<SbomSummary, SbomError> {
        inspect(value.to_string().as_bytes())
    }

    #[test]
    fn counts_nested_components_and_collects_their_licenses() -> Result<(), SbomError> {
        for version in SUPPORTED_SPEC_VERSIONS {
            let summary = inspect_json(&document(version))?;
            assert_eq!(summary.spec_version, *version);
            assert_eq!(summary.component_count, 3);
            assert_eq!(
                summary.licenses.iter().map(String::as_str).collect::<Vec<_>>(),
                ["Apache-2.0", "BSD-3-Clause", "Proprietary"]
            );
        }
        Ok(())
    }

    #[test]
    fn refuses_what_is_not_a_supported_cyclonedx_json_document() {
        assert!(matches!(inspect(b"not json"), Err(SbomError::NotJson(_))));
        assert!(matches!(inspect_json(&json!({ "spdxVersion": "SPDX-2.3" })), Err(SbomError::NotCycloneDx)));
        assert!(matches!(inspect_json(&document("1.3")), Err(SbomError::UnsupportedVersion(_))));
        assert!(matches!(inspect_json(&document("2.0")), Err(SbomError::UnsupportedVersion(_))));
    }

    #[test]
    fn refuses_a_document_that_breaks_the_spec() {
        let mut broken = document("1.5");
        broken["components"][0]["type"] = json!("spaceship");
        assert!(
            matches!(inspect_json(&broken), Err(SbomError::Invalid { .. })),
            "{:?}",
            inspect_json(&broken)
        );
        let mut bad_license = document("1.5");
        bad_license["components"][0]["licenses"][0]["license"]["id"] = json!("Not-A-License");
        assert!(matches!(inspect_json(&bad_license), Err(SbomError::Invalid { .. })));
    }
}
