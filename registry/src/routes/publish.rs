//! `POST /v1/capsules`: a multipart upload of a bundle, its signature and its SBOM.

use crate::Registry;
use crate::error::RegistryError;
use crate::publish::{self, Upload};
use crate::views::VersionView;
use actix_multipart::Multipart;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use caravan_core::error::responses::{
    BadRequest, Conflict, Forbidden, PayloadTooLarge, TooManyRequests, Unauthorized, Unprocessable,
};
use caravan_core::{ApiError, Database, Principal, RequestIdentity};
use futures_util::StreamExt;
use utoipa::ToSchema;

/// The longest signature accepted: a base64 DER ECDSA P-256 signature is under 100 bytes.
const MAX_SIGNATURE_BYTES: u64 = 4096;

/// The parts of a publish request.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct PublishForm {
    /// The `.capsule` file (`caravan pack`).
    #[schema(value_type = String, format = Binary)]
    pub bundle: Vec<u8>,
    /// Base64 ECDSA P-256 / SHA-256 signature over the bundle's exact bytes
    /// (`caravan sign`, `cosign sign-blob --key`, `openssl dgst -sha256 -sign … | base64 -w0`).
    pub signature: String,
    /// CycloneDX JSON 1.4–1.6. Required unless the operator's policy says otherwise.
    #[schema(value_type = Option<String>, format = Binary)]
    pub sbom: Option<Vec<u8>>,
}

/// Publish a capsule version
///
/// Needs `registry:publish`. The bundle must be signed by a live publisher key of the
/// capsule's namespace, hold a valid manifest, come with a valid SBOM and satisfy the
/// operator's admission policy; each refusal has its own problem type, and a refused
/// publish stores nothing. Versions are immutable: publishing one again answers 409.
#[utoipa::path(
    post,
    path = "/v1/capsules",
    operation_id = "publish_capsule",
    tag = "registry",
    request_body(content = PublishForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "Published", body = VersionView), BadRequest, Unauthorized, Forbidden,
        Conflict, PayloadTooLarge, Unprocessable, TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn publish_capsule(
    principal: Principal,
    identity: RequestIdentity,
    request: HttpRequest,
    payload: web::Payload,
    registry: web::Data<Registry>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(caravan_core::Scope::RegistryPublish)?;
    let upload = read_upload(&request, payload, &registry).await?;
    let version =
        publish::publish(&registry, &database, &principal, Some(identity.as_str().to_owned()), upload)
            .await?;
    let location = format!("/v1/capsules/{}/versions/{}", version.capsule_name, version.version);
    Ok(HttpResponse::Created().insert_header(("Location", location)).json(VersionView::from(version)))
}

/// The parts a publish request may hold.
#[derive(Debug, Clone, Copy)]
enum PartName {
    Bundle,
    Signature,
    Sbom,
}

impl PartName {
    fn parse(name: &str) -> Result<Self, RegistryError> {
        match name {
            "bundle" => Ok(Self::Bundle),
            "signature" => Ok(Self::Signature),
            "sbom" => Ok(Self::Sbom),
            other => Err(RegistryError::InvalidUpload(format!(
                "unexpected part `{other}`: send `bundle`, `signature` and `sbom`"
            ))),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Bundle => "bundle",
            Self::Signature => "signature",
            Self::Sbom => "sbom",
        }
    }

    fn limit(self, registry: &Registry) -> u64 {
        match self {
            Self::Bundle => registry.policy.max_bundle_bytes,
            Self::Signature => MAX_SIGNATURE_BYTES,
            Self::Sbom => registry.policy.max_sbom_bytes,
        }
    }

    fn too_large(self, size: u64, limit: u64) -> RegistryError {
        match self {
            Self::Bundle => crate::capsule::CapsuleError::BundleTooLarge { size, limit }.into(),
            Self::Signature => {
                RegistryError::InvalidUpload(format!("the signature is longer than {limit} bytes"))
            }
            Self::Sbom => RegistryError::SbomTooLarge { size, limit },
        }
    }
}

/// Reads the parts into memory, refusing each as soon as it passes its size limit.
async fn read_upload(
    request: &HttpRequest,
    payload: web::Payload,
    registry: &Registry,
) -> Result<Upload, RegistryError> {
    let mut form = Multipart::new(request.headers(), payload);
    let (mut bundle, mut signature, mut sbom) = (None, None, None);
    while let Some(field) = form.next().await {
        let mut field = field.map_err(malformed)?;
        let part = PartName::parse(field.name().unwrap_or_default())?;
        let slot: &mut Option<Bytes> = match part {
            PartName::Bundle => &mut bundle,
            PartName::Signature => &mut signature,
            PartName::Sbom => &mut sbom,
        };
        if slot.is_some() {
            return Err(RegistryError::InvalidUpload(format!(
                "part `{}` appears more than once",
                part.as_str()
            )));
        }
        let limit = part.limit(registry);
        let mut buffer = BytesMut::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(malformed)?;
            let size = (buffer.len() + chunk.len()) as u64;
            if size > limit {
                return Err(part.too_large(size, limit));
            }
            buffer.extend_from_slice(&chunk);
        }
        *slot = Some(buffer.freeze());
    }
    let bundle = bundle.ok_or_else(|| missing("bundle"))?;
    let signature = signature.ok_or_else(|| missing("signature"))?;
    let signature = String::from_utf8(signature.to_vec())
        .map_err(|_| RegistryError::InvalidUpload("the signature must be base64 text".to_owned()))?;
    Ok(Upload { bundle, signature, sbom })
}

fn malformed(error: actix_multipart::MultipartError) -> RegistryError {
    RegistryError::InvalidUpload(format!("the body is not valid multipart/form-data: {error}"))
}

fn missing(part: &str) -> RegistryError {
    RegistryError::InvalidUpload(format!("part `{part}` is missing; send `bundle`, `signature` and `sbom`"))
}
