//! `GET /v1/search`, `GET /v1/search/suggest` and a capsule's ranking figures.

use super::read::CapsulePath;
use crate::Registry;
use crate::error::RegistryError;
use crate::search::query::{
    self, MAX_OFFSET, MAX_QUERY_BYTES, SearchRequest, SearchResults, Sort, Suggestion,
};
use crate::search::ranking::{self, CapsuleStats};
use crate::service;
use actix_web::{HttpResponse, web};
use base64::Engine;
use caravan_core::error::responses::{BadRequest, Forbidden, NotFound, TooManyRequests, Unauthorized};
use caravan_core::{ApiError, Database, Principal, Scope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Words, with typos forgiven; at most 1024 bytes. Empty: browse by the filters.
    pub q: Option<String>,
    pub category: Option<String>,
    pub license: Option<String>,
    /// The namespace (`acme`).
    pub publisher: Option<String>,
    /// `fast`, `balanced` or `flagship`.
    pub tier: Option<String>,
    /// Include yanked capsules (hidden by default).
    #[serde(default)]
    pub include_yanked: bool,
    /// Include deprecated capsules (hidden by default).
    #[serde(default)]
    pub include_deprecated: bool,
    /// `relevance` (default), `rank`, `executions` or `recent`.
    #[serde(default)]
    pub sort: Sort,
    /// 1 to 100; 20 by default.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    #[serde(flatten)]
    pub results: SearchResults,
    pub next_cursor: Option<String>,
}

/// Search capsules
///
/// Typo-tolerant full-text search over names, keywords, descriptions and READMEs: any
/// word may match, a word of 4 to 7 letters may have one typo and a longer one two, the
/// last word also matches as a prefix, and a capsule whose name is the query comes first.
/// Results are sorted by `relevance` — the text score × (1 + 0.5·quality) ×
/// (1 + popularity), popularity being log10(1 + executions in the window or downloads a
/// month) —
/// or by `rank` (quality from measured success, latency, cost, volume and recency; see
/// `GET /v1/capsules/{publisher}/{name}/stats`), `executions` or `recent`; each carries
/// its rank components and a highlighted snippet. Facet counts cover every match. Needs
/// `registry:read`.
#[utoipa::path(
    get,
    path = "/v1/search",
    operation_id = "search_capsules",
    tag = "search",
    params(SearchParams),
    responses((status = 200, description = "Matching capsules", body = SearchPage), BadRequest, Unauthorized, Forbidden,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn search_capsules(
    principal: Principal,
    params: web::Query<SearchParams>,
    registry: web::Data<Registry>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::RegistryRead)?;
    let params = params.into_inner();
    let q = params.q.unwrap_or_default();
    check_query_length(&q)?;
    let limit = limit_within(params.limit, 20, 100)?;
    let offset = match params.cursor.as_deref() {
        None => 0,
        Some(cursor) => decode_cursor(cursor)?,
    };
    let request = SearchRequest {
        q,
        category: params.category,
        license: params.license,
        publisher: params.publisher,
        tier: params.tier,
        include_yanked: params.include_yanked,
        include_deprecated: params.include_deprecated,
        sort: params.sort,
        offset,
        limit,
    };
    let results = registry
        .search
        .run(move |index| query::search(index, &request))
        .await
        .map_err(RegistryError::from)?;
    let next = offset + results.hits.len();
    let next_cursor = (results.hits.len() == limit && next < results.total && next <= MAX_OFFSET)
        .then(|| encode_cursor(next));
    Ok(HttpResponse::Ok().json(SearchPage { results, next_cursor }))
}

fn check_query_length(q: &str) -> Result<(), RegistryError> {
    if q.len() > MAX_QUERY_BYTES {
        return Err(RegistryError::InvalidSearch(format!("`q` is longer than {MAX_QUERY_BYTES} bytes")));
    }
    Ok(())
}

/// `limit`, or `default` when absent; from 1 to `max`.
fn limit_within(limit: Option<usize>, default: usize, max: usize) -> Result<usize, RegistryError> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(RegistryError::InvalidSearch(format!("`limit` must be between 1 and {max}")));
    }
    Ok(limit)
}

fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("offset:{offset}"))
}

fn decode_cursor(cursor: &str) -> Result<usize, RegistryError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("offset:").and_then(|number| number.parse().ok()))
        .filter(|offset| *offset <= MAX_OFFSET)
        .ok_or_else(|| RegistryError::InvalidSearch("the cursor is not valid for this search".to_owned()))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SuggestParams {
    /// What was typed so far.
    pub q: String,
    /// 1 to 20; 8 by default.
    #[param(minimum = 1, maximum = 20)]
    pub limit: Option<usize>,
}

/// Suggest capsule names
///
/// Type-ahead: names whose words start with the last word typed (and hold the ones
/// before it), most popular first. Needs `registry:read`.
#[utoipa::path(
    get,
    path = "/v1/search/suggest",
    operation_id = "suggest_capsules",
    tag = "search",
    params(SuggestParams),
    responses((status = 200, description = "Suggestions", body = Vec<Suggestion>), BadRequest, Unauthorized, Forbidden,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn suggest_capsules(
    principal: Principal,
    params: web::Query<SuggestParams>,
    registry: web::Data<Registry>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::RegistryRead)?;
    let params = params.into_inner();
    check_query_length(&params.q)?;
    let limit = limit_within(params.limit, 8, 20)?;
    let suggestions = registry
        .search
        .run(move |index| query::suggest(index, &params.q, limit))
        .await
        .map_err(RegistryError::from)?;
    Ok(HttpResponse::Ok().json(suggestions))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsView {
    pub capsule: String,
    /// The figures of the ranking window; none before the capsule's first execution in it.
    pub stats: Option<CapsuleStats>,
    /// How quality is computed.
    pub formula: &'static str,
}

/// The formula of `quality`, as documented in ARCHITECTURE.md.
pub const FORMULA: &str = "quality = 0.45·wilson + 0.20·latency + 0.15·cost + 0.10·volume + 0.10·recency; \
    wilson = 95% Wilson lower bound of succeeded/executions; latency = 1/(1 + p95_ms/2000); \
    cost = 1/(1 + mean_cost/0.01); volume = min(1, log10(1 + executions)/4); recency = exp(-days since last run/7); \
    over the last 30 days. Relevance sort: text score × (1 + 0.5·quality) × (1 + popularity), \
    popularity = log10(1 + executions in the window, or downloads a month).";

/// A capsule's ranking figures
///
/// Executions, Wilson lower bound of the success rate, p50/p95 latency, mean cost, last
/// execution and the resulting quality over the ranking window — the same figures search
/// results carry. Needs `registry:read`.
#[utoipa::path(
    get,
    path = "/v1/capsules/{publisher}/{name}/stats",
    operation_id = "get_capsule_stats",
    tag = "search",
    params(("publisher" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "The figures", body = StatsView), Unauthorized, Forbidden, NotFound,
        TooManyRequests),
    security(("bearer" = []), ("api_key" = []))
)]
pub async fn capsule_stats(
    principal: Principal,
    path: web::Path<CapsulePath>,
    database: web::Data<Database>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Scope::RegistryRead)?;
    let capsule = path.capsule();
    let view = database
        .run(move |connection| {
            service::capsule(connection, &capsule)?;
            let stats = ranking::stats_of(connection, &capsule).map_err(caravan_core::DbError::from)?;
            Ok::<_, RegistryError>(StatsView { capsule, stats, formula: FORMULA })
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
