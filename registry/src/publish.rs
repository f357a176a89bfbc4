//! The publish pipeline. Each step refuses with its own problem type, and a refusal
//! stores nothing:
//!
//! size limits → SHA-256 digest → signature against the tenant's publisher keys (the
//! matching key names the namespace; retired keys are refused) → safe unpack → manifest
//! (its namespace must be the signing key's) → SBOM → admission policy → blobs stored
//! content-addressed → capsule and version rows and the audit entry in one transaction.
//!
//! The CPU-bound middle (digest, ECDSA, gunzip, parsing) runs on the blocking pool. Blobs
//! are written before the transaction; when the transaction fails, the blobs this
//! publish created and no committed version references are deleted again.

use crate::Registry;
use crate::blobs::Stored;
use crate::capsule::Capsule;
use crate::capsule::digest_of;
use crate::db::capsules::{self, CapsuleRow, VersionRow};
use crate::db::signers::{self, Signer};
use crate::error::RegistryError;
use crate::policy::{AdmissionCheck, AdmissionPolicy};
use crate::runnable::RunCache;
use crate::sbom::{self, SbomSummary};
use crate::signing::{PublicKey, SigningError};
use bytes::Bytes;
use caravan_core::audit::{self, AuditRecord};
use caravan_core::db::{DbConnection, write_transaction};
use caravan_core::id::CapsuleVersionId;
use caravan_core::{Database, Principal, Scope};
use serde_json::json;

/// What a publisher sends.
#[derive(Debug, Clone)]
pub struct Upload {
    pub bundle: Bytes,
    /// Base64 ECDSA P-256 / SHA-256 signature over the bundle's bytes.
    pub signature: String,
    /// CycloneDX JSON.
    pub sbom: Option<Bytes>,
}

/// A capsule that passed every check, not yet stored.
#[derive(Debug)]
struct Admitted {
    capsule: Capsule,
    signer: Signer,
    signature: String,
    sbom: Option<(String, SbomSummary)>,
    checks: Vec<AdmissionCheck>,
}

pub async fn publish(
    registry: &Registry,
    database: &Database,
    actor: &Principal,
    request_id: Option<String>,
    upload: Upload,
) -> Result<VersionRow, RegistryError> {
    actor.require(Scope::RegistryPublish)?;
    check_sizes(&registry.policy, &upload)?;
    let tenant = actor.tenant_id.clone();
    let keys = database
        .run(move |connection| -> Result<_, RegistryError> { Ok(signers::of_tenant(connection, &tenant)?) })
        .await?;
    if keys.is_empty() {
        return Err(RegistryError::NoPublisherKeys);
    }
    let policy = registry.policy.clone();
    let inspected = upload.clone();
    let admitted = actix_web::web::block(move || admit(&policy, &inspected, keys))
        .await
        .map_err(|_| caravan_core::DbError::Interrupted)?;
    let admitted = match admitted {
        Err(RegistryError::Policy(refusal)) => {
            let details = json!({ "reason": refusal.to_string() });
            record_refusal(database, actor, request_id, details).await?;
            return Err(refusal.into());
        }
        other => other?,
    };
    let name = admitted.capsule.manifest.name.to_string();
    if !actor.covers_capsule(&name) {
        return Err(RegistryError::OutsidePatterns(name));
    }
    let version = admitted.capsule.manifest.version.to_string();
    let (lookup_name, lookup_version) = (name.clone(), version.clone());
    let exists = database
        .run(move |connection| -> Result<_, RegistryError> {
            Ok(capsules::version_exists(connection, &lookup_name, &lookup_version)?)
        })
        .await?;
    if exists {
        return Err(RegistryError::VersionExists { capsule: name, version });
    }

    let mut created = Vec::new();
    let stored = store_blobs(registry, &upload, &admitted, &mut created).await;
    let committed = match stored {
        Ok(()) => commit(database, &registry.runs, actor, request_id, admitted).await,
        Err(error) => Err(error),
    };
    if committed.is_err() {
        discard_unreferenced(registry, database, created).await;
    }
    committed
}

fn check_sizes(policy: &AdmissionPolicy, upload: &Upload) -> Result<(), RegistryError> {
    let bundle_size = upload.bundle.len() as u64;
    if bundle_size > policy.max_bundle_bytes {
        return Err(crate::capsule::CapsuleError::BundleTooLarge {
            size: bundle_size,
            limit: policy.max_bundle_bytes,
        }
        .into());
    }
    let sbom_size = upload.sbom.as_ref().map_or(0, |sbom| sbom.len() as u64);
    if sbom_size > policy.max_sbom_bytes {
        return Err(RegistryError::SbomTooLarge { size: sbom_size, limit: policy.max_sbom_bytes });
    }
    Ok(())
}

/// Every check that needs no storage, in the pipeline's order.
fn admit(policy: &AdmissionPolicy, upload: &Upload, keys: Vec<Signer>) -> Result<Admitted, RegistryError> {
    let signer = signing_key(keys, &upload.signature, &upload.bundle)?;
    let capsule = Capsule::from_bundle(&upload.bundle, &policy.bundle_limits())?;
    let namespace = capsule.manifest.name.publisher();
    if namespace != signer.namespace {
        return Err(RegistryError::ForeignNamespace {
            capsule: capsule.manifest.name.to_string(),
            namespace: namespace.to_owned(),
            signer_namespace: signer.namespace,
        });
    }
    let sbom = match &upload.sbom {
        Some(bytes) => Some((digest_of(bytes), sbom::inspect(bytes)?)),
        None => None,
    };
    let checks = policy.admit(&capsule.manifest, sbom.as_ref().map(|(_, summary)| summary))?;
    Ok(Admitted { capsule, signer, signature: upload.signature.trim().to_owned(), sbom, checks })
}

/// The live key whose signature this is. A retired key's signature is refused by name.
fn signing_key(keys: Vec<Signer>, signature: &str, bundle: &[u8]) -> Result<Signer, RegistryError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|_| SigningError::MalformedSignature)?;
    let (live, retired): (Vec<Signer>, Vec<Signer>) =
        keys.into_iter().partition(|key| key.retired_at.is_none());
    let checked = live.len();
    let verifies = |key: &Signer| {
        PublicKey::from_pem(&key.public_key_pem).is_ok_and(|public| public.verify(signature, bundle).is_ok())
    };
    if let Some(signer) = live.into_iter().find(verifies) {
        return Ok(signer);
    }
    if let Some(retired) = retired.into_iter().find(verifies) {
        return Err(RegistryError::RetiredKey {
            key_id: retired.id.to_string(),
            retired_at: retired.retired_at.map(|at| at.and_utc().to_rfc3339()).unwrap_or_default(),
        });
    }
    Err(RegistryError::SignatureMismatch { checked })
}

async fn store_blobs(
    registry: &Registry,
    upload: &Upload,
    admitted: &Admitted,
    created: &mut Vec<String>,
) -> Result<(), RegistryError> {
    let mut blobs = vec![(admitted.capsule.digest.clone(), upload.bundle.clone())];
    if let (Some((digest, _)), Some(bytes)) = (&admitted.sbom, &upload.sbom) {
        blobs.push((digest.clone(), bytes.clone()));
    }
    for (digest, bytes) in blobs {
        if registry.blobs.put(&digest, bytes).await? == Stored::Created {
            created.push(digest);
        }
    }
    Ok(())
}

async fn commit(
    database: &Database,
    runs: &RunCache,
    actor: &Principal,
    request_id: Option<String>,
    admitted: Admitted,
) -> Result<VersionRow, RegistryError> {
    let (actor, runs) = (actor.clone(), runs.clone());
    database
        .run(move |connection| {
            let now = caravan_core::db::now();
            let manifest = &admitted.capsule.manifest;
            let name = manifest.name.to_string();
            let version = version_row(&actor, &admitted, now)?;
            write_transaction(connection, |connection| {
                capsules::upsert(
                    connection,
                    &CapsuleRow {
                        name: name.clone(),
                        namespace: manifest.name.publisher().to_owned(),
                        tenant_id: actor.tenant_id.clone(),
                        description: manifest.description.clone(),
                        created_at: now,
                        updated_at: now,
                    },
                )?;
                capsules::insert_version(connection, &version).map_err(|error| match error {
                    diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    ) => RegistryError::VersionExists {
                        capsule: name.clone(),
                        version: version.version.clone(),
                    },
                    other => other.into(),
                })?;
                let details = json!({
                    "digest": version.digest,
                    "signer_key_id": version.signer_key_id,
                    "sbom_digest": version.sbom_digest,
                    "admission": admitted.checks,
                });
                let target = format!("{name}@{}", version.version);
                append_audit(connection, &actor, request_id.as_deref(), "capsule.publish", &target, details)?;
                Ok(version)
            })
            // Runs of the capsule resolve among its versions anew, this one included; here,
            // not after the await, so that a caller going away cannot skip it.
            .inspect(|_| runs.evict(&name))
        })
        .await
}

fn version_row(
    actor: &Principal,
    admitted: &Admitted,
    now: chrono::NaiveDateTime,
) -> Result<VersionRow, RegistryError> {
    let capsule = &admitted.capsule;
    let manifest = &capsule.manifest;
    let sbom = admitted.sbom.as_ref();
    let licenses: Vec<&String> = sbom.iter().flat_map(|(_, summary)| summary.licenses.iter()).collect();
    Ok(VersionRow {
        id: CapsuleVersionId::new(),
        capsule_name: manifest.name.to_string(),
        version: manifest.version.to_string(),
        manifest: serde_json::to_string(manifest).map_err(internal)?,
        readme: capsule.readme.clone(),
        license: manifest.license.clone(),
        tier: manifest.runtime.tier.as_str().to_owned(),
        digest: capsule.digest.clone(),
        size_bytes: to_i64(capsule.size),
        unpacked_bytes: to_i64(capsule.files.unpacked_size()),
        file_count: to_i64(capsule.files.paths().count() as u64),
        signature: admitted.signature.clone(),
        signer_key_id: admitted.signer.id.clone(),
        sbom_digest: sbom.map(|(digest, _)| digest.clone()),
        sbom_spec_version: sbom.map(|(_, summary)| summary.spec_version.clone()),
        sbom_component_count: sbom.map(|(_, summary)| to_i64(summary.component_count)),
        sbom_licenses: serde_json::to_string(&licenses).map_err(internal)?,
        admission: serde_json::to_string(&admitted.checks).map_err(internal)?,
        published_by: actor.require_key()?.clone(),
        published_at: now,
        yanked_at: None,
        revoked_at: None,
        revoked_reason: None,
        deprecated_message: None,
    })
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn internal(error: serde_json::Error) -> RegistryError {
    RegistryError::Database(caravan_core::DbError::Query(diesel::result::Error::SerializationError(
        Box::new(error),
    )))
}

/// An admission-policy refusal is an operator decision worth keeping, like an admission.
async fn record_refusal(
    database: &Database,
    actor: &Principal,
    request_id: Option<String>,
    details: serde_json::Value,
) -> Result<(), RegistryError> {
    let actor = actor.clone();
    database
        .run(move |connection| {
            write_transaction(connection, |connection| {
                append_audit(connection, &actor, request_id.as_deref(), "capsule.refuse", "capsule", details)
            })
        })
        .await
}

pub(crate) fn append_audit(
    connection: &mut DbConnection,
    actor: &Principal,
    request_id: Option<&str>,
    action: &str,
    target: &str,
    details: serde_json::Value,
) -> Result<(), RegistryError> {
    audit::append(
        connection,
        AuditRecord {
            tenant_id: Some(&actor.tenant_id),
            actor: actor.actor_id(),
            action,
            target,
            details,
            request_id,
        },
    )?;
    Ok(())
}

/// After a failed commit: deletes the blobs this publish created unless a committed
/// version has since come to reference the same bytes.
async fn discard_unreferenced(registry: &Registry, database: &Database, created: Vec<String>) {
    for digest in created {
        let lookup = digest.clone();
        let referenced = database
            .run(move |connection| -> Result<bool, RegistryError> {
                Ok(capsules::blob_referenced(connection, &lookup)?)
            })
            .await;
        if matches!(referenced, Ok(false))
            && let Err(error) = registry.blobs.delete(&digest).await
        {
            tracing::warn!(%digest, %error, "could not delete the blob of a failed publish");
        }
    }
}
