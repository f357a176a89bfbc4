//! Reading capsules and changing a published version's standing: yank and unyank, revoke
//! with a reason, deprecate with a message. Versions' contents never change. Lifecycle
//! changes need `registry:yank`, a key whose capsule patterns cover the capsule, and the
//! owning tenant (the operator's admin may also revoke any version, for security).

use crate::db::capsules::{self, CapsuleRow, RunnableVersion, VersionRow};
use crate::error::RegistryError;
use crate::publish::append_audit;
use crate::runnable::RunCache;
use crate::views::VersionStatus;
use caravan_core::db::{DbConnection, write_transaction};
use caravan_core::{Database, Principal, Scope};
use serde_json::json;

/// A change to a version's standing.
#[derive(Debug, Clone)]
pub enum Lifecycle {
    Yank,
    Unyank,
    Revoke { reason: String },
    Deprecate { message: String },
    Undeprecate,
}

impl Lifecycle {
    fn action(&self) -> &'static str {
        match self {
            Self::Yank => "capsule.yank",
            Self::Unyank => "capsule.unyank",
            Self::Revoke { .. } => "capsule.revoke",
            Self::Deprecate { .. } => "capsule.deprecate",
            Self::Undeprecate => "capsule.undeprecate",
        }
    }
}

pub fn capsule(
    connection: &mut DbConnection,
    name: &str,
) -> Result<(CapsuleRow, Vec<VersionRow>), RegistryError> {
    let capsule =
        capsules::find(connection, name)?.ok_or_else(|| RegistryError::CapsuleNotFound(name.to_owned()))?;
    let versions = capsules::versions(connection, name)?;
    Ok((capsule, versions))
}

pub fn version(
    connection: &mut DbConnection,
    name: &str,
    version: &str,
) -> Result<VersionRow, RegistryError> {
    if let Some(row) = capsules::find_version(connection, name, version)? {
        return Ok(row);
    }
    match capsules::find(connection, name)? {
        Some(_) => {
            Err(RegistryError::VersionNotFound { capsule: name.to_owned(), version: version.to_owned() })
        }
        None => Err(RegistryError::CapsuleNotFound(name.to_owned())),
    }
}

/// The newest active version whose number matches `requirement` (`^1.2`, `~0.3`, `*`).
/// Yanked and revoked versions are skipped; pre-releases match only a requirement that
/// names one.
pub fn resolve(
    connection: &mut DbConnection,
    name: &str,
    requirement: &str,
) -> Result<VersionRow, RegistryError> {
    let parsed = parse_requirement(requirement)?;
    let (_, versions) = capsule(connection, name)?;
    newest_matching(&versions, VersionStatus::Active, |version| parsed.matches(version))
        .cloned()
        .ok_or_else(|| no_matching_version(name, requirement))
}

/// The version a run of `requirement` gets among the capsule's `versions` (see
/// `runnable::RunCache`): the newest active match. When no active version matches but a
/// revoked one does, the refusal names the revocation and its reason (410) rather than
/// pretending nothing matched.
pub fn resolve_among(
    name: &str,
    versions: &[RunnableVersion],
    requirement: &str,
) -> Result<RunnableVersion, RegistryError> {
    let parsed = parse_requirement(requirement)?;
    let matches = |version: &semver::Version| parsed.matches(version);
    if let Some(active) = newest_matching(versions, VersionStatus::Active, matches) {
        return Ok(active.clone());
    }
    match newest_matching(versions, VersionStatus::Revoked, matches) {
        Some(row) => Err(RegistryError::Revoked {
            capsule: name.to_owned(),
            version: row.version.clone(),
            reason: row.revoked_reason.clone().unwrap_or_default(),
        }),
        None => Err(no_matching_version(name, requirement)),
    }
}

fn parse_requirement(requirement: &str) -> Result<semver::VersionReq, RegistryError> {
    semver::VersionReq::parse(requirement)
        .map_err(|_| RegistryError::InvalidRequirement(requirement.to_owned()))
}

fn no_matching_version(name: &str, requirement: &str) -> RegistryError {
    RegistryError::NoMatchingVersion { capsule: name.to_owned(), requirement: requirement.to_owned() }
}

/// The newest active, non-pre-release version.
pub fn newest_active(versions: &[VersionRow]) -> Option<&VersionRow> {
    newest_matching(versions, VersionStatus::Active, |version| version.pre.is_empty())
}

/// A version as resolution sees it: its number and its standing.
trait Resolvable {
    fn number(&self) -> &str;
    fn standing(&self) -> VersionStatus;
}

impl Resolvable for VersionRow {
    fn number(&self) -> &str {
        &self.version
    }

    fn standing(&self) -> VersionStatus {
        self.status()
    }
}

impl Resolvable for RunnableVersion {
    fn number(&self) -> &str {
        &self.version
    }

    fn standing(&self) -> VersionStatus {
        VersionStatus::of(self.revoked_at, self.yanked_at)
    }
}

/// The highest version of `status` that `matches` accepts.
fn newest_matching<V: Resolvable>(
    versions: &[V],
    status: VersionStatus,
    matches: impl Fn(&semver::Version) -> bool,
) -> Option<&V> {
    versions
        .iter()
        .filter(|row| row.standing() == status)
        .filter_map(|row| semver::Version::parse(row.number()).ok().map(|parsed| (parsed, row)))
        .filter(|(parsed, _)| matches(parsed))
        .max_by(|(left, _), (right, _)| left.cmp(right))
        .map(|(_, row)| row)
}

/// Versions sorted newest first by semver precedence.
pub fn newest_first(mut versions: Vec<VersionRow>) -> Vec<VersionRow> {
    versions.sort_by_cached_key(|row| std::cmp::Reverse(semver::Version::parse(&row.version).ok()));
    versions
}

/// Applies `change` to version `number` of `name` in its own transaction, then forgets the
/// capsule's versions cached for runs, so this process's next run of it sees the change.
/// Every lifecycle change goes through here.
pub async fn change_version(
    database: &Database,
    runs: &RunCache,
    actor: Principal,
    request_id: Option<String>,
    name: String,
    number: String,
    change: Lifecycle,
) -> Result<VersionRow, RegistryError> {
    let runs = runs.clone();
    database
        .run(move |connection| {
            let changed = self::change(connection, &actor, request_id.as_deref(), &name, &number, change)?;
            // Here, not after the await: a caller that goes away must not skip it.
            runs.evict(&name);
            Ok(changed)
        })
        .await
}

fn change(
    connection: &mut DbConnection,
    actor: &Principal,
    request_id: Option<&str>,
    name: &str,
    number: &str,
    change: Lifecycle,
) -> Result<VersionRow, RegistryError> {
    actor.require(Scope::RegistryYank)?;
    write_transaction(connection, |connection| {
        let owner = capsules::find(connection, name)?
            .ok_or_else(|| RegistryError::CapsuleNotFound(name.to_owned()))?;
        if !may_change(actor, &owner, &change) {
            return Err(RegistryError::NotOwner(owner.name));
        }
        if !actor.covers_capsule(&owner.name) && !actor.is_operator_admin() {
            return Err(RegistryError::OutsidePatterns(owner.name));
        }
        let current = version(connection, name, number)?;
        let now = caravan_core::db::now();
        let details = match &change {
            Lifecycle::Yank | Lifecycle::Unyank if current.revoked_at.is_some() => {
                return Err(RegistryError::InvalidChange(format!(
                    "{name} {number} is revoked; revocation cannot be undone or changed by yanking"
                )));
            }
            Lifecycle::Yank => {
                capsules::set_yanked(connection, &current.id, Some(current.yanked_at.unwrap_or(now)))?;
                json!({})
            }
            Lifecycle::Unyank => {
                capsules::set_yanked(connection, &current.id, None)?;
                json!({})
            }
            Lifecycle::Revoke { reason } => {
                let reason = bounded_text("reason", reason)?;
                if current.revoked_at.is_some() {
                    return Err(RegistryError::InvalidChange(format!("{name} {number} is revoked already")));
                }
                capsules::set_revoked(connection, &current.id, now, reason)?;
                json!({ "reason": reason })
            }
            Lifecycle::Deprecate { message } => {
                let message = bounded_text("message", message)?;
                capsules::set_deprecated(connection, &current.id, Some(message))?;
                json!({ "message": message })
            }
            Lifecycle::Undeprecate => {
                capsules::set_deprecated(connection, &current.id, None)?;
                json!({})
            }
        };
        let target = format!("{name}@{number}");
        append_audit(connection, actor, request_id, change.action(), &target, details)?;
        // The search index of every replica follows `updated_at`.
        capsules::touch(connection, name, now)?;
        version(connection, name, number)
    })
}

/// The owning tenant may change its versions; the operator's admin may revoke any.
fn may_change(actor: &Principal, capsule: &CapsuleRow, change: &Lifecycle) -> bool {
    capsule.tenant_id == actor.tenant_id
        || (matches!(change, Lifecycle::Revoke { .. }) && actor.is_operator_admin())
}

fn bounded_text<'a>(field: &str, text: &'a str) -> Result<&'a str, RegistryError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 1000 {
        return Err(RegistryError::InvalidChange(format!("`{field}` must have 1 to 1000 characters")));
    }
    Ok(trimmed)
}
