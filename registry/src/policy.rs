//! The operator's admission policy: what a capsule must satisfy, beyond a valid signature
//! and manifest, to be published. Set in the `[registry.admission]` table of the
//! configuration file. Every check's outcome is recorded with the version, and the first
//! failing one is the refusal's explanation.

use crate::capsule::{BundleLimits, Manifest, Tier};
use crate::sbom::SbomSummary;
use caravan_core::{ErrorKind, Problematic};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdmissionPolicy {
    /// Refuse capsules published without an SBOM.
    pub require_sbom: bool,
    /// SPDX license ids (`AGPL-3.0-only`) refused in the capsule's own license expression
    /// and in any SBOM component's.
    pub denied_licenses: Vec<String>,
    pub max_bundle_bytes: u64,
    pub max_unpacked_bytes: u64,
    pub max_entries: usize,
    pub max_sbom_bytes: u64,
    /// Runtime tiers capsules may ask for.
    pub allowed_tiers: Vec<Tier>,
}

impl Default for AdmissionPolicy {
    fn default() -> Self {
        let limits = BundleLimits::default();
        Self {
            require_sbom: true,
            denied_licenses: Vec::new(),
            max_bundle_bytes: limits.max_bundle_bytes,
            max_unpacked_bytes: limits.max_unpacked_bytes,
            max_entries: limits.max_entries,
            max_sbom_bytes: 2 * 1024 * 1024,
            allowed_tiers: vec![Tier::Fast, Tier::Balanced, Tier::Flagship],
        }
    }
}

/// A check the policy refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("this registry requires an SBOM (CycloneDX JSON) with every capsule")]
    SbomRequired,
    #[error("license `{license}` is not accepted here (found in {found_in})")]
    DeniedLicense { license: String, found_in: String },
    #[error("tier `{tier}` is not offered here; allowed tiers: {allowed}")]
    TierNotAllowed { tier: String, allowed: String },
}

impl Problematic for PolicyError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unprocessable
    }

    fn slug(&self) -> &'static str {
        match self {
            Self::SbomRequired => "sbom-required",
            Self::DeniedLicense { .. } => "denied-license",
            Self::TierNotAllowed { .. } => "tier-not-allowed",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::SbomRequired => "SBOM required",
            Self::DeniedLicense { .. } => "License denied by policy",
            Self::TierNotAllowed { .. } => "Tier not allowed",
        }
    }
}

/// One check of an admission decision, as recorded with the version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AdmissionCheck {
    pub check: String,
    pub passed: bool,
    pub detail: String,
}

impl AdmissionPolicy {
    pub fn bundle_limits(&self) -> BundleLimits {
        BundleLimits {
            max_bundle_bytes: self.max_bundle_bytes,
            max_unpacked_bytes: self.max_unpacked_bytes,
            max_entries: self.max_entries,
        }
    }

    /// Applies the policy to a capsule that passed every structural check. On success,
    /// returns each check's outcome for the record.
    pub fn admit(
        &self,
        manifest: &Manifest,
        sbom: Option<&SbomSummary>,
    ) -> Result<Vec<AdmissionCheck>, PolicyError> {
        let mut checks = Vec::new();
        match sbom {
            Some(summary) => checks.push(passed(
                "sbom",
                format!("CycloneDX {} with {} components", summary.spec_version, summary.component_count),
            )),
            None if self.require_sbom => return Err(PolicyError::SbomRequired),
            None => checks.push(passed("sbom", "none sent; not required".to_owned())),
        }
        self.check_licenses(manifest, sbom)?;
        checks.push(passed("licenses", format!("none of {} denied", self.denied_licenses.len())));
        let tier = manifest.runtime.tier;
        if !self.allowed_tiers.contains(&tier) {
            return Err(PolicyError::TierNotAllowed {
                tier: tier.as_str().to_owned(),
                allowed: self.tier_list(),
            });
        }
        checks.push(passed("tier", format!("`{}` is allowed", tier.as_str())));
        Ok(checks)
    }

    fn check_licenses(&self, manifest: &Manifest, sbom: Option<&SbomSummary>) -> Result<(), PolicyError> {
        let denied = |expression: &str, found_in: &str| -> Result<(), PolicyError> {
            match self.denied_in(expression) {
                Some(license) => Err(PolicyError::DeniedLicense { license, found_in: found_in.to_owned() }),
                None => Ok(()),
            }
        };
        denied(&manifest.license, "capsule.toml")?;
        for license in sbom.iter().flat_map(|summary| summary.licenses.iter()) {
            denied(license, "the SBOM's components")?;
        }
        Ok(())
    }

    /// The first denied license an SPDX expression (or a plain license name) mentions.
    fn denied_in(&self, expression: &str) -> Option<String> {
        let mentioned: Vec<String> = match spdx::Expression::parse_mode(expression, spdx::ParseMode::LAX) {
            Ok(parsed) => {
                parsed.requirements().map(|requirement| requirement.req.license.to_string()).collect()
            }
            Err(_) => vec![expression.to_owned()],
        };
        mentioned
            .into_iter()
            .find(|license| self.denied_licenses.iter().any(|denied| denied.eq_ignore_ascii_case(license)))
    }

    fn tier_list(&self) -> String {
        self.allowed_tiers.iter().map(|tier| tier.as_str()).collect::<Vec<_>>().join(", ")
    }
}

fn passed(check: &str, detail: String) -> AdmissionCheck {
    AdmissionCheck { check: check.to_owned(), passed: true, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(license: &str, tier: &str) -> Result<Manifest, crate::capsule::CapsuleError> {
        Manifest::parse(&format!(
            r#"
name = "acme/echo"
version = "1.0.0"
description = "Echoes"
license = "{license}"
[runtime]
entrypoint = "main.py"
timeout_s = 10
tier = "{tier}"
"#
        ))
    }

    fn sbom(licenses: &[&str]) -> SbomSummary {
        SbomSummary {
            spec_version: "1.5".to_owned(),
            component_count: licenses.len() as u64,
            licenses: licenses.iter().map(|license| (*license).to_owned()).collect(),
        }
    }

    #[test]
    fn the_default_policy_needs_an_sbom_and_admits_any_license_and_tier() -> anyhow::Result<()> {
        let policy = AdmissionPolicy::default();
        let manifest = manifest("AGPL-3.0-only", "flagship")?;
        assert!(matches!(policy.admit(&manifest, None), Err(PolicyError::SbomRequired)));
        let checks = policy.admit(&manifest, Some(&sbom(&["MIT"])))?;
        assert!(checks.iter().all(|check| check.passed));
        assert_eq!(checks.len(), 3);
        Ok(())
    }

    #[test]
    fn denied_licenses_are_found_in_expressions_and_in_sbom_components() -> anyhow::Result<()> {
        let policy = AdmissionPolicy {
            denied_licenses: vec!["AGPL-3.0-only".to_owned()],
            ..AdmissionPolicy::default()
        };
        let refused = policy.admit(&manifest("MIT OR AGPL-3.0-only", "fast")?, Some(&sbom(&[])));
        assert!(
            matches!(refused, Err(PolicyError::DeniedLicense { ref found_in, .. }) if found_in == "capsule.toml")
        );
        let refused = policy.admit(&manifest("MIT", "fast")?, Some(&sbom(&["Apache-2.0", "AGPL-3.0-only"])));
        assert!(
            matches!(refused, Err(PolicyError::DeniedLicense { ref license, .. }) if license == "AGPL-3.0-only")
        );
        policy.admit(&manifest("MIT", "fast")?, Some(&sbom(&["Apache-2.0", "Proprietary"])))?;
        Ok(())
    }

    #[test]
    fn tiers_outside_the_allowed_list_are_refused() -> anyhow::Result<()> {
        let policy = AdmissionPolicy {
            require_sbom: false,
            allowed_tiers: vec![Tier::Fast, Tier::Balanced],
            ..AdmissionPolicy::default()
        };
        assert!(matches!(
            policy.admit(&manifest("MIT", "flagship")?, None),
            Err(PolicyError::TierNotAllowed { .. })
        ));
        policy.admit(&manifest("MIT", "balanced")?, None)?;
        Ok(())
    }
}
