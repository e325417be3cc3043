//! The S3 API: request parsing into an operation, authentication, authorization, and the
//! handlers. Served under `/s3/...` (the specification's base URL) and at the root in path
//! style. Handlers only ever see authenticated, authorized requests.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use futures_util::StreamExt;
use md5::Digest;

use crate::auth::{self, Principal};
use crate::datapath::{BodyStream, StoredPart, md5_hex};
use crate::db::{self, Bucket, NewObject, Object, ShardLoc, Upload};
use crate::error::{GatewayError, Result};
use crate::layout::{Layout, PartRecord};
use crate::server::AppState;
use crate::sigv4::{self, ChunkedDecoder, PayloadCheck};
use crate::xml::{self, el};

/// Multipart parts other than the last must be at least this big (as in S3).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
pub const MAX_PART_NUMBER: u32 = 10_000;
pub const MAX_KEY_LEN: usize = 1024;
/// Request headers above this total size are refused.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Names that cannot be buckets because they are API paths.
const RESERVED_BUCKETS: &[&str] = &["s3", "api", "health", "metrics", "ws"];

/// A request's context: id, whether errors should be JSON, the principal.
pub struct Ctx {
    pub request_id: String,
    pub json: bool,
    pub head: bool,
    pub resource: String,
}

pub fn request_id() -> String {
    format!("req-{}", hex::encode(auth::random_bytes::<8>()))
}

pub fn wants_json(h: &HeaderMap) -> bool {
    let has = |name: header::HeaderName| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("application/json"))
    };
    has(header::ACCEPT)
}

/// The error response for either kind of client.
pub fn error_response(e: &GatewayError, ctx: &Ctx) -> Response {
    let h = e.to_http();
    if e.is_internal() {
        tracing::error!(request_id = %ctx.request_id, error = %e, "internal error");
    }
    let status = StatusCode::from_u16(h.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = if ctx.head || status == StatusCode::NOT_MODIFIED {
        Response::new(Body::empty())
    } else if ctx.json {
        let body = cyxcloud_core::error_code::ErrorResponse {
            error: cyxcloud_core::error_code::ErrorBody {
                code: h.code.to_string(),
                message: h.message.clone(),
                details: h.details.clone(),
                resource: Some(ctx.resource.clone()),
                request_id: ctx.request_id.clone(),
                timestamp: crate::events::rfc3339(db::now()),
            },
        };
        let mut r = Response::new(Body::from(serde_json::to_vec(&body).unwrap_or_default()));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        r
    } else {
        let mut s = String::from(xml::DECL);
        s.push_str("<Error>");
        el(&mut s, "Code", h.s3_code);
        el(&mut s, "Message", &h.message);
        el(&mut s, "Resource", &ctx.resource);
        el(&mut s, "RequestId", &ctx.request_id);
        if h.code != h.s3_code {
            el(&mut s, "CyxCode", h.code);
        }
        s.push_str("</Error>");
        let mut r = Response::new(Body::from(s));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        r
    };
    *resp.status_mut() = status;
    if let GatewayError::InvalidRange { size } = e
        && let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}"))
    {
        resp.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    resp
}

fn xml_response(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

fn json_response(status: StatusCode, v: serde_json::Value) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(&v).unwrap_or_default()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn iso8601(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].000Z"
            ))
            .ok()
        })
        .unwrap_or_default()
}

fn http_date(unix: i64) -> String {
    httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64),
    )
}

pub fn valid_bucket_name(name: &str) -> Result<()> {
    let bad = |m: &str| Err(GatewayError::InvalidBucketName(format!("{name:?}: {m}")));
    if !(3..=63).contains(&name.len()) {
        return bad("must be 3 to 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return bad("only lowercase letters, digits, '-' and '.'");
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return bad("must begin and end with a letter or digit");
    }
    if name.contains("..") || name.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("must not contain '..' or be an IP address");
    }
    if RESERVED_BUCKETS.contains(&name) {
        return bad("is reserved");
    }
    Ok(())
}

pub fn valid_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(GatewayError::InvalidKey("key is empty".into()));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(GatewayError::InvalidKey(
            "key is longer than 1024 bytes".into(),
        ));
    }
    if key.contains('\0') {
        return Err(GatewayError::InvalidKey("key contains NUL".into()));
    }
    if key.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(GatewayError::InvalidKey(
            "key has a '.' or '..' path segment".into(),
        ));
    }
    Ok(())
}

/// Split a request path into bucket and key (both decoded); `/s3` is a prefix.
pub fn split_path(path: &str) -> Result<(Option<String>, Option<String>)> {
    let p = if path == "/s3" {
        ""
    } else if let Some(rest) = path.strip_prefix("/s3/") {
        rest
    } else {
        path.strip_prefix('/').unwrap_or(path)
    };
    if p.is_empty() {
        return Ok((None, None));
    }
    let (b, k) = match p.split_once('/') {
        Some((b, k)) => (b, Some(k)),
        None => (p, None),
    };
    let bucket = sigv4::percent_decode(b)?;
    let key = match k {
        Some("") | None => None,
        Some(k) => Some(sigv4::percent_decode(k)?),
    };
    Ok((Some(bucket), key))
}

/// Authenticate: Bearer JWT, X-API-Key, SigV4 (header or presigned), or anonymous.
async fn authenticate(
    st: &AppState,
    method: &Method,
    raw_path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<(Option<Principal>, Option<sigv4::Signed>)> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(p) = auth::bearer_or_api_key(
        &st.db,
        &st.secrets,
        header("authorization"),
        header("x-api-key"),
    )
    .await?
    {
        return Ok((Some(p), None));
    }
    match sigv4::parse(headers, query) {
        None => {
            if headers.contains_key(header::AUTHORIZATION) {
                return Err(GatewayError::Unauthenticated(
                    "unsupported Authorization scheme".into(),
                ));
            }
            Ok((None, None))
        }
        Some(p) => {
            let p = p?;
            let (principal, secret) =
                auth::sigv4_secret(&st.db, &st.secrets, &p.access_key_id).await?;
            let signed = sigv4::verify(&p, &secret, method, raw_path, query, headers, db::now())?;
            Ok((Some(principal), Some(signed)))
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    Read,
    Write,
}

/// May `who` do `access` on `bucket`? Owners by their credential's permissions; anyone may
/// read a public bucket; nobody else anything.
pub fn authorize(who: Option<&Principal>, bucket: &Bucket, access: Access) -> Result<()> {
    match who {
        Some(p) if p.user_id == bucket.owner_id => {
            let ok = match access {
                Access::Read => p.can_read,
                Access::Write => p.can_write,
            };
            if ok {
                Ok(())
            } else {
                Err(GatewayError::AccessDenied(format!(
                    "this credential lacks {} permission",
                    if access == Access::Read {
                        "read"
                    } else {
                        "write"
                    }
                )))
            }
        }
        _ if access == Access::Read && bucket.public => Ok(()),
        None => Err(GatewayError::AccessDenied(
            "anonymous access is only allowed to read public buckets".into(),
        )),
        Some(_) => Err(GatewayError::AccessDenied(
            "bucket belongs to another account".into(),
        )),
    }
}

fn require_user(who: &Option<Principal>) -> Result<&Principal> {
    who.as_ref()
        .ok_or_else(|| GatewayError::AccessDenied("this operation needs credentials".into()))
}

/// The axum entry point for every S3 request.
pub async fn handle(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let request_id = request_id();
    let ctx = Ctx {
        request_id: request_id.clone(),
        json: wants_json(req.headers()),
        head: req.method() == Method::HEAD,
        resource: req.uri().path().to_string(),
    };
    tracing::debug!(request_id = %request_id, method = %req.method(), uri = %req.uri(), "s3 request");
    let mut resp = match dispatch(&st, req, &ctx).await {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(request_id = %ctx.request_id, error = %e, "request failed");
            error_response(&e, &ctx)
        }
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-amz-request-id", v.clone());
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

fn q<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn has(query: &[(String, String)], name: &str) -> bool {
    query.iter().any(|(k, _)| k == name)
}

async fn dispatch(st: &Arc<AppState>, req: Request, ctx: &Ctx) -> Result<Response> {
    let (parts, body) = req.into_parts();
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(GatewayError::InvalidRequest(format!(
            "request headers exceed {MAX_HEADER_BYTES} bytes"
        )));
    }
    let raw_path = parts.uri.path().to_string();
    let query = sigv4::parse_query(parts.uri.query().unwrap_or(""))?;
    let (who, signed) = authenticate(st, &parts.method, &raw_path, &query, &parts.headers).await?;
    let (bucket, key) = split_path(&raw_path)?;
    let m = &parts.method;
    let h = &parts.headers;
    let Some(bucket) = bucket else {
        return match *m {
            Method::GET | Method::HEAD => list_buckets(st, &who, ctx).await,
            _ => Err(GatewayError::MethodNotAllowed),
        };
    };
    match key {
        None => {
            if *m == Method::PUT {
                if [
                    "acl",
                    "versioning",
                    "policy",
                    "cors",
                    "lifecycle",
                    "tagging",
                ]
                .iter()
                .any(|s| has(&query, s))
                {
                    return Err(GatewayError::NotImplemented(
                        "this bucket subresource".into(),
                    ));
                }
                return create_bucket(st, &who, &bucket, h, body, ctx).await;
            }
            let b = st
                .db
                .bucket(&bucket)
                .await?
                .ok_or(GatewayError::NoSuchBucket)?;
            match *m {
                Method::HEAD => {
                    authorize(who.as_ref(), &b, Access::Read)?;
                    let mut r = Response::new(Body::empty());
                    bucket_headers(&mut r, &b);
                    Ok(r)
                }
                Method::DELETE => {
                    authorize(who.as_ref(), &b, Access::Write)?;
                    require_owner(&who, &b)?;
                    st.db.delete_bucket(&bucket).await?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                Method::GET => {
                    authorize(who.as_ref(), &b, Access::Read)?;
                    if has(&query, "location") {
                        let mut s = String::from(xml::DECL);
                        s.push_str(&format!(
                            "<LocationConstraint xmlns=\"{}\"></LocationConstraint>",
                            xml::NS
                        ));
                        return Ok(xml_response(StatusCode::OK, s));
                    }
                    if has(&query, "versioning") {
                        let mut s = String::from(xml::DECL);
                        s.push_str(&format!("<VersioningConfiguration xmlns=\"{}\"/>", xml::NS));
                        return Ok(xml_response(StatusCode::OK, s));
                    }
                    if has(&query, "uploads") {
                        return list_multipart_uploads(st, &b, &query).await;
                    }
                    list_objects(st, &b, &query).await
                }
                Method::POST if has(&query, "delete") => {
                    authorize(who.as_ref(), &b, Access::Write)?;
                    delete_objects(st, &b, h, body).await
                }
                _ => Err(GatewayError::MethodNotAllowed),
            }
        }
        Some(key) => {
            valid_key(&key)?;
            let upload_id = q(&query, "uploadId").map(str::to_string);
            // A GET or HEAD of an object reads its bucket and its record in one statement.
            let (b, object) = if matches!(*m, Method::GET | Method::HEAD) && upload_id.is_none() {
                st.db.bucket_with_object(&bucket, &key).await?
            } else {
                st.db.bucket(&bucket).await?.map(|b| (b, None))
            }
            .ok_or(GatewayError::NoSuchBucket)?;
            match *m {
                Method::GET | Method::HEAD => {
                    authorize(who.as_ref(), &b, Access::Read)?;
                    if let Some(u) = upload_id {
                        return list_parts(st, &b, &key, &u, &query).await;
                    }
                    let o = object.ok_or(GatewayError::NoSuchKey)?;
                    get_object(st, &b, o, h, *m == Method::HEAD).await
                }
                Method::PUT => {
                    authorize(who.as_ref(), &b, Access::Write)?;
                    let part_number = || {
                        q(&query, "partNumber")
                            .and_then(|n| n.parse::<u32>().ok())
                            .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
                            .ok_or_else(|| {
                                GatewayError::InvalidArgument(
                                    "partNumber must be an integer from 1 to 10000".into(),
                                )
                            })
                    };
                    if h.contains_key("x-amz-copy-source") {
                        return match upload_id {
                            Some(u) => {
                                upload_part_copy(st, &who, &b, &key, &u, part_number()?, h).await
                            }
                            None => copy_object(st, &who, &b, &key, h).await,
                        };
                    }
                    let check = sigv4::payload_check(h, signed.as_ref())?;
                    match upload_id {
                        Some(u) => {
                            upload_part(st, &b, &key, &u, part_number()?, h, body, check).await
                        }
                        None => put_object(st, &b, &key, h, body, check, ctx).await,
                    }
                }
                Method::DELETE => {
                    authorize(who.as_ref(), &b, Access::Write)?;
                    if let Some(u) = upload_id {
                        let up = load_upload(st, &b, &key, &u).await?;
                        st.db.abort_upload(&up.id).await?;
                        st.janitor_kick.notify_one();
                        return Ok(StatusCode::NO_CONTENT.into_response());
                    }
                    if st.db.delete_object(&b.name, &key).await? {
                        st.events.file_deleted(&b.name, &key);
                        st.janitor_kick.notify_one();
                    }
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                Method::POST => {
                    authorize(who.as_ref(), &b, Access::Write)?;
                    if has(&query, "uploads") {
                        return create_multipart(st, &b, &key, h).await;
                    }
                    if let Some(u) = upload_id {
                        return complete_multipart(st, &b, &key, &u, body).await;
                    }
                    Err(GatewayError::MethodNotAllowed)
                }
                _ => Err(GatewayError::MethodNotAllowed),
            }
        }
    }
}

fn require_owner(who: &Option<Principal>, b: &Bucket) -> Result<()> {
    match who {
        Some(p) if p.user_id == b.owner_id => Ok(()),
        _ => Err(GatewayError::AccessDenied(
            "only the owner may do this".into(),
        )),
    }
}

fn bucket_headers(r: &mut Response, b: &Bucket) {
    let h = r.headers_mut();
    h.insert(
        "x-cyx-visibility",
        HeaderValue::from_static(if b.public { "public" } else { "private" }),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("{}+{}", b.data_shards, b.parity_shards)) {
        h.insert("x-cyx-erasure-config", v);
    }
}

async fn list_buckets(st: &AppState, who: &Option<Principal>, ctx: &Ctx) -> Result<Response> {
    let p = require_user(who)?;
    if !p.can_read {
        return Err(GatewayError::AccessDenied(
            "this credential lacks read permission".into(),
        ));
    }
    let buckets = st.db.buckets_of(&p.user_id).await?;
    if ctx.json {
        let v: Vec<_> = buckets
            .iter()
            .map(|b| {
                serde_json::json!({
                    "bucket": b.name,
                    "created_at": crate::events::rfc3339(b.created_at),
                    "visibility": if b.public { "public" } else { "private" },
                    "erasure_config": { "data_shards": b.data_shards, "parity_shards": b.parity_shards },
                })
            })
            .collect();
        return Ok(json_response(
            StatusCode::OK,
            serde_json::json!({ "buckets": v }),
        ));
    }
    let mut s = String::from(xml::DECL);
    s.push_str(&format!(
        "<ListAllMyBucketsResult xmlns=\"{}\"><Owner>",
        xml::NS
    ));
    el(&mut s, "ID", &p.user_id);
    el(&mut s, "DisplayName", &p.user_id);
    s.push_str("</Owner><Buckets>");
    for b in &buckets {
        s.push_str("<Bucket>");
        el(&mut s, "Name", &b.name);
        el(&mut s, "CreationDate", &iso8601(b.created_at));
        s.push_str("</Bucket>");
    }
    s.push_str("</Buckets></ListAllMyBucketsResult>");
    Ok(xml_response(StatusCode::OK, s))
}

/// Read a small request body whole (XML or JSON), refusing large ones.
async fn small_body(body: Body, limit: usize) -> Result<Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        GatewayError::InvalidRequest(format!(
            "request body larger than {limit} bytes or unreadable"
        ))
    })
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBucketJson {
    #[serde(default)]
    visibility: Option<String>,
    #[serde(default)]
    erasure_config: Option<ErasureJson>,
}

#[derive(serde::Deserialize)]
struct ErasureJson {
    data_shards: u32,
    parity_shards: u32,
}

async fn create_bucket(
    st: &AppState,
    who: &Option<Principal>,
    name: &str,
    h: &HeaderMap,
    body: Body,
    ctx: &Ctx,
) -> Result<Response> {
    let p = require_user(who)?;
    if !p.can_write {
        return Err(GatewayError::AccessDenied(
            "this credential lacks write permission".into(),
        ));
    }
    valid_bucket_name(name)?;
    let body = small_body(body, 64 * 1024).await?;
    let mut public = false;
    let mut profile = cyxcloud_core::ErasureProfile::new(
        st.cfg.storage.default_erasure_data_shards as usize,
        st.cfg.storage.default_erasure_parity_shards as usize,
    )?;
    let trimmed = body.trim_ascii();
    let is_json = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"))
        || trimmed.first() == Some(&b'{');
    if !trimmed.is_empty() {
        if is_json {
            let j: CreateBucketJson = serde_json::from_slice(trimmed)
                .map_err(|e| GatewayError::InvalidRequest(format!("bucket JSON: {e}")))?;
            match j.visibility.as_deref() {
                None | Some("private") => {}
                Some("public") => public = true,
                Some(o) => {
                    return Err(GatewayError::InvalidArgument(format!(
                        "visibility {o:?} is not private or public"
                    )));
                }
            }
            if let Some(e) = j.erasure_config {
                profile = cyxcloud_core::ErasureProfile::new(
                    e.data_shards as usize,
                    e.parity_shards as usize,
                )
                .map_err(|e| GatewayError::InvalidArgument(e.to_string()))?;
            }
        } else {
            xml::parse_create_bucket(trimmed)?;
        }
    }
    if let Some(acl) = h.get("x-amz-acl").and_then(|v| v.to_str().ok()) {
        public = matches!(acl, "public-read" | "public-read-write");
    }
    if let Some(v) = h.get("x-cyx-visibility").and_then(|v| v.to_str().ok()) {
        public = v == "public";
    }
    if let Some(v) = h.get("x-cyx-erasure-config").and_then(|v| v.to_str().ok()) {
        profile = parse_profile(v)?;
    }
    let b = Bucket {
        name: name.to_string(),
        owner_id: p.user_id.clone(),
        public,
        data_shards: profile.data_shards() as u32,
        parity_shards: profile.parity_shards() as u32,
        created_at: db::now(),
    };
    st.db.create_bucket(&b).await?;
    tracing::info!(bucket = name, owner = %p.user_id, public, profile = %profile, "bucket created");
    let mut r = if ctx.json || is_json {
        json_response(
            StatusCode::OK,
            serde_json::json!({
                "bucket": b.name,
                "created_at": crate::events::rfc3339(b.created_at),
                "visibility": if public { "public" } else { "private" },
                "erasure_config": { "data_shards": b.data_shards, "parity_shards": b.parity_shards },
                "endpoint": format!("{}/s3/{}", st.public_url, b.name),
            }),
        )
    } else {
        StatusCode::OK.into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&format!("/{name}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// "8+6" or a profile name.
pub fn parse_profile(s: &str) -> Result<cyxcloud_core::ErasureProfile> {
    if let Some((k, m)) = s.split_once('+') {
        let k: usize = k
            .trim()
            .parse()
            .map_err(|_| GatewayError::InvalidArgument("erasure k".into()))?;
        let m: usize = m
            .trim()
            .parse()
            .map_err(|_| GatewayError::InvalidArgument("erasure m".into()))?;
        return cyxcloud_core::ErasureProfile::new(k, m)
            .map_err(|e| GatewayError::InvalidArgument(e.to_string()));
    }
    cyxcloud_core::ErasureProfile::NAMED
        .iter()
        .find(|(n, _)| *n == s)
        .map(|(_, p)| *p)
        .ok_or_else(|| GatewayError::InvalidArgument(format!("unknown erasure profile {s:?}")))
}

// ---- listing ----------------------------------------------------------------------------

pub(crate) enum Marker {
    Key(String),
    Prefix(String),
}

pub(crate) fn encode_token(m: &Marker) -> String {
    let s = match m {
        Marker::Key(k) => format!("k{k}"),
        Marker::Prefix(p) => format!("p{p}"),
    };
    URL_SAFE_NO_PAD.encode(s)
}

pub(crate) fn decode_token(t: &str) -> Result<Marker> {
    let bad = || GatewayError::InvalidArgument("the continuation token is not valid".into());
    let raw = URL_SAFE_NO_PAD.decode(t).map_err(|_| bad())?;
    let s = String::from_utf8(raw).map_err(|_| bad())?;
    match s.split_at_checked(1) {
        Some(("k", k)) => Ok(Marker::Key(k.to_string())),
        Some(("p", p)) => Ok(Marker::Prefix(p.to_string())),
        _ => Err(bad()),
    }
}

pub(crate) struct Listing {
    pub objects: Vec<Object>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    pub next: Option<Marker>,
}

/// List keys under `prefix` after `start`, grouping by `delimiter`, up to `max` entries
/// (keys plus common prefixes). Skips each common prefix in one step, so a directory with a
/// million keys costs one query, not a million rows.
pub(crate) async fn list(
    st: &AppState,
    bucket: &str,
    prefix: &str,
    delimiter: &str,
    start: Option<Marker>,
    max: usize,
) -> Result<Listing> {
    let mut out = Listing {
        objects: Vec::new(),
        prefixes: Vec::new(),
        truncated: false,
        next: None,
    };
    let (mut from, mut inclusive) = match start {
        None => (prefix.to_string(), true),
        Some(Marker::Key(k)) => (k, false),
        Some(Marker::Prefix(p)) => match db::prefix_upper_bound(&p) {
            Some(u) => (u, true),
            None => return Ok(out),
        },
    };
    if max == 0 {
        return Ok(out);
    }
    loop {
        let count = out.objects.len() + out.prefixes.len();
        let limit = (max - count + 1).min(1001);
        let batch = st
            .db
            .list_objects(bucket, prefix, &from, inclusive, limit)
            .await?;
        let batch_len = batch.len();
        let mut jumped = false;
        for o in batch {
            if out.objects.len() + out.prefixes.len() == max {
                out.truncated = true;
                return Ok(out);
            }
            let rest = &o.key[prefix.len()..];
            let cp = if delimiter.is_empty() {
                None
            } else {
                rest.find(delimiter)
                    .map(|i| format!("{prefix}{}", &rest[..i + delimiter.len()]))
            };
            match cp {
                Some(cp) => {
                    out.next = Some(Marker::Prefix(cp.clone()));
                    let upper = db::prefix_upper_bound(&cp);
                    out.prefixes.push(cp);
                    match upper {
                        Some(u) => {
                            from = u;
                            inclusive = true;
                            jumped = true;
                            break;
                        }
                        None => return Ok(out),
                    }
                }
                None => {
                    out.next = Some(Marker::Key(o.key.clone()));
                    from = o.key.clone();
                    inclusive = false;
                    out.objects.push(o);
                }
            }
        }
        if !jumped && batch_len < limit {
            return Ok(out);
        }
    }
}

async fn list_objects(st: &AppState, b: &Bucket, query: &[(String, String)]) -> Result<Response> {
    let v2 = q(query, "list-type") == Some("2");
    let prefix = q(query, "prefix").unwrap_or("").to_string();
    let delimiter = q(query, "delimiter").unwrap_or("").to_string();
    let max: usize = match q(query, "max-keys") {
        None => 1000,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                GatewayError::InvalidArgument("max-keys must be a non-negative integer".into())
            })?
            .min(1000) as usize,
    };
    let url = match q(query, "encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(GatewayError::InvalidArgument(
                "encoding-type must be url".into(),
            ));
        }
    };
    let enc = |s: &str| {
        if url {
            sigv4::uri_encode(s, true)
        } else {
            s.to_string()
        }
    };
    let start = if v2 {
        match q(query, "continuation-token") {
            Some(t) => Some(decode_token(t)?),
            None => q(query, "start-after")
                .filter(|s| !s.is_empty())
                .map(|s| Marker::Key(s.to_string())),
        }
    } else {
        q(query, "marker")
            .filter(|s| !s.is_empty())
            .map(|s| Marker::Key(s.to_string()))
    };
    let l = list(st, &b.name, &prefix, &delimiter, start, max).await?;
    let mut s = String::from(xml::DECL);
    s.push_str(&format!("<ListBucketResult xmlns=\"{}\">", xml::NS));
    el(&mut s, "Name", &b.name);
    el(&mut s, "Prefix", &enc(&prefix));
    if !delimiter.is_empty() {
        el(&mut s, "Delimiter", &enc(&delimiter));
    }
    el(&mut s, "MaxKeys", &max.to_string());
    if url {
        el(&mut s, "EncodingType", "url");
    }
    el(
        &mut s,
        "IsTruncated",
        if l.truncated { "true" } else { "false" },
    );
    if v2 {
        el(
            &mut s,
            "KeyCount",
            &(l.objects.len() + l.prefixes.len()).to_string(),
        );
        if let Some(t) = q(query, "continuation-token") {
            el(&mut s, "ContinuationToken", t);
        }
        if let Some(sa) = q(query, "start-after") {
            el(&mut s, "StartAfter", &enc(sa));
        }
        if l.truncated
            && let Some(n) = &l.next
        {
            el(&mut s, "NextContinuationToken", &encode_token(n));
        }
    } else {
        el(&mut s, "Marker", &enc(q(query, "marker").unwrap_or("")));
        if l.truncated
            && let Some(n) = &l.next
        {
            let m = match n {
                Marker::Key(k) | Marker::Prefix(k) => k,
            };
            el(&mut s, "NextMarker", &enc(m));
        }
    }
    for o in &l.objects {
        s.push_str("<Contents>");
        el(&mut s, "Key", &enc(&o.key));
        el(&mut s, "LastModified", &iso8601(o.last_modified));
        el(&mut s, "ETag", &format!("\"{}\"", o.etag));
        el(&mut s, "Size", &o.size.to_string());
        el(&mut s, "StorageClass", "STANDARD");
        if !v2 || has(query, "fetch-owner") {
            s.push_str("<Owner>");
            el(&mut s, "ID", &o.owner_id);
            el(&mut s, "DisplayName", &o.owner_id);
            s.push_str("</Owner>");
        }
        s.push_str("</Contents>");
    }
    for p in &l.prefixes {
        s.push_str("<CommonPrefixes>");
        el(&mut s, "Prefix", &enc(p));
        s.push_str("</CommonPrefixes>");
    }
    s.push_str("</ListBucketResult>");
    Ok(xml_response(StatusCode::OK, s))
}

// ---- objects ----------------------------------------------------------------------------

fn user_metadata(h: &HeaderMap) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    let mut total = 0;
    for (k, v) in h {
        if let Some(name) = k.as_str().strip_prefix("x-amz-meta-") {
            let v = v.to_str().map_err(|_| {
                GatewayError::InvalidArgument("metadata values must be ASCII".into())
            })?;
            total += name.len() + v.len();
            m.insert(name.to_string(), v.to_string());
        }
    }
    if total > 2048 {
        return Err(GatewayError::InvalidArgument(
            "user metadata exceeds 2 KB".into(),
        ));
    }
    Ok(m)
}

fn content_type(h: &HeaderMap) -> String {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .unwrap_or("binary/octet-stream")
        .to_string()
}

fn content_md5(h: &HeaderMap) -> Result<Option<[u8; 16]>> {
    match h.get("content-md5") {
        None => Ok(None),
        Some(v) => {
            let raw = STANDARD
                .decode(v.as_bytes())
                .map_err(|_| GatewayError::InvalidDigest)?;
            Ok(Some(
                raw.try_into().map_err(|_| GatewayError::InvalidDigest)?,
            ))
        }
    }
}

/// The body as payload bytes: aws-chunked decoded, its declared length, SHA-256 and CRC32
/// enforced. A violation surfaces as the stream's last item, so nothing commits.
fn body_stream(
    body: Body,
    h: &HeaderMap,
    check: PayloadCheck,
) -> Result<(BodyStream, Option<u64>)> {
    let chunked = matches!(check, PayloadCheck::Chunked { .. })
        || h.get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim() == "aws-chunked"));
    let declared: Option<u64> = if chunked {
        match h.get("x-amz-decoded-content-length") {
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| {
                        GatewayError::InvalidArgument("x-amz-decoded-content-length".into())
                    })?,
            ),
            None => None,
        }
    } else {
        match h.get(header::CONTENT_LENGTH) {
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| GatewayError::InvalidArgument("Content-Length".into()))?,
            ),
            None => None,
        }
    };
    let crc_header = h
        .get("x-amz-checksum-crc32")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (mut decoder, sha) = match check {
        PayloadCheck::Chunked { signed, .. } => {
            (Some(ChunkedDecoder::new(signed.map(|s| *s))), None)
        }
        PayloadCheck::Sha256(s) => (
            if chunked {
                Some(ChunkedDecoder::new(None))
            } else {
                None
            },
            Some(s),
        ),
        PayloadCheck::None => (
            if chunked {
                Some(ChunkedDecoder::new(None))
            } else {
                None
            },
            None,
        ),
    };
    struct S {
        inner: axum::body::BodyDataStream,
        decoder: Option<ChunkedDecoder>,
        sha: Option<(sha2::Sha256, String)>,
        crc: crc32fast::Hasher,
        crc_header: Option<String>,
        declared: Option<u64>,
        seen: u64,
        done: bool,
    }
    let state = S {
        inner: body.into_data_stream(),
        decoder: decoder.take(),
        sha: sha.map(|s| (sha2::Sha256::new(), s)),
        crc: crc32fast::Hasher::new(),
        crc_header,
        declared,
        seen: 0,
        done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        loop {
            match s.inner.next().await {
                Some(Err(e)) => {
                    s.done = true;
                    return Some((
                        Err(GatewayError::IncompleteBody)
                            .inspect_err(|_| tracing::debug!(error = %e, "body read failed")),
                        s,
                    ));
                }
                Some(Ok(raw)) => {
                    let data = match &mut s.decoder {
                        Some(d) => {
                            let mut out = Vec::with_capacity(raw.len());
                            if let Err(e) = d.feed(&raw, &mut out) {
                                s.done = true;
                                return Some((Err(e), s));
                            }
                            Bytes::from(out)
                        }
                        None => raw,
                    };
                    if data.is_empty() {
                        continue;
                    }
                    s.seen += data.len() as u64;
                    if let Some(d) = s.declared
                        && s.seen > d
                    {
                        s.done = true;
                        return Some((Err(GatewayError::BodyTooLong), s));
                    }
                    if let Some((h, _)) = &mut s.sha {
                        h.update(&data);
                    }
                    s.crc.update(&data);
                    return Some((Ok(data), s));
                }
                None => {
                    s.done = true;
                    let end = (|| -> Result<()> {
                        if let Some(d) = &mut s.decoder {
                            d.finish()?;
                        }
                        if let Some(d) = s.declared
                            && s.seen < d
                        {
                            return Err(GatewayError::IncompleteBody);
                        }
                        if let Some((h, want)) = s.sha.take()
                            && hex::encode(h.finalize()) != *want
                        {
                            return Err(GatewayError::BadDigest);
                        }
                        let crc = s.crc.clone().finalize();
                        let trailer = s
                            .decoder
                            .as_ref()
                            .and_then(|d| d.trailers.get("x-amz-checksum-crc32").cloned());
                        if let Some(want) = s.crc_header.clone().or(trailer)
                            && STANDARD.encode(crc.to_be_bytes()) != want
                        {
                            return Err(GatewayError::BadDigest);
                        }
                        Ok(())
                    })();
                    return match end {
                        Ok(()) => None,
                        Err(e) => Some((Err(e), s)),
                    };
                }
            }
        }
    });
    Ok((stream.boxed(), declared))
}

/// Read up to `limit` bytes; `Ok(Err(prefix))` when the body is longer (the stream keeps
/// the rest).
async fn read_small(
    body: &mut BodyStream,
    limit: usize,
) -> Result<std::result::Result<Vec<u8>, Vec<u8>>> {
    let mut buf = Vec::new();
    while let Some(p) = body.next().await {
        let p = p?;
        buf.extend_from_slice(&p);
        if buf.len() > limit {
            return Ok(Err(buf));
        }
    }
    Ok(Ok(buf))
}

fn new_upload(st: &AppState, kind: &str, b: &Bucket, key: &str, h: &HeaderMap) -> Result<Upload> {
    let now = db::now();
    Ok(Upload {
        id: db::new_id(if kind == "multipart" { "mpu-" } else { "put-" }),
        kind: kind.into(),
        bucket: b.name.clone(),
        key: key.into(),
        owner_id: b.owner_id.clone(),
        object_id: db::new_id("obj-"),
        content_type: content_type(h),
        user_metadata: user_metadata(h)?,
        data_shards: b.data_shards,
        parity_shards: b.parity_shards,
        chunk_size: st.data.cfg.chunk_size as u64,
        client_encrypted: false,
        resume_token: None,
        gateway_instance: st.instance.clone(),
        created_at: now,
        updated_at: now,
        encryption: None,
    })
}

/// Refuse early when a known size cannot fit the owner's quota (the commit re-checks).
pub(crate) async fn quota_precheck(
    st: &AppState,
    b: &Bucket,
    key: Option<&str>,
    size: u64,
) -> Result<()> {
    let user = st
        .db
        .user_by_id(&b.owner_id)
        .await?
        .ok_or_else(|| GatewayError::Internal("bucket owner missing".into()))?;
    let used = st.db.usage(&b.owner_id).await?;
    let freed = match key {
        Some(k) => st.db.object(&b.name, k).await?.map(|o| o.size).unwrap_or(0),
        None => 0,
    };
    if size > freed && used.saturating_sub(freed) + size > user.quota_bytes {
        return Err(GatewayError::QuotaExceeded {
            quota: user.quota_bytes,
            used,
            requested: size,
        });
    }
    Ok(())
}

/// Stream `body` to nodes under a fresh upload record; the caller commits or the upload is
/// aborted (its shards queued for deletion).
async fn store_body(
    st: &AppState,
    upload: &Upload,
    b: &Bucket,
    prefix: Vec<u8>,
    rest: BodyStream,
    limit: u64,
) -> Result<StoredPart> {
    let body: BodyStream = futures_util::stream::once(async move { Ok(Bytes::from(prefix)) })
        .chain(rest)
        .boxed();
    st.data.store(&upload.id, b.profile(), body, limit).await
}

async fn put_object(
    st: &AppState,
    b: &Bucket,
    key: &str,
    h: &HeaderMap,
    body: Body,
    check: PayloadCheck,
    ctx: &Ctx,
) -> Result<Response> {
    let want_md5 = content_md5(h)?;
    let meta = user_metadata(h)?;
    let ctype = content_type(h);
    let (mut stream, declared) = body_stream(body, h, check)?;
    let max = st.cfg.storage.max_upload_size_bytes;
    if let Some(d) = declared {
        if d > max {
            return Err(GatewayError::EntityTooLarge);
        }
        quota_precheck(st, b, Some(key), d).await?;
    }
    let inline_limit = st.cfg.storage.inline_threshold_bytes as usize;
    let small = if declared.is_some_and(|d| d as usize > inline_limit) {
        Err(Vec::new())
    } else {
        read_small(&mut stream, inline_limit).await?
    };
    let object_id = db::new_id("obj-");
    let (etag, size) = match small {
        Ok(data) => {
            let md5: [u8; 16] = md5::Md5::digest(&data).into();
            if want_md5.is_some_and(|w| w != md5) {
                return Err(GatewayError::BadDigest);
            }
            let etag = md5_hex(&md5);
            st.db
                .commit_object(&NewObject {
                    bucket: &b.name,
                    key,
                    object_id: &object_id,
                    owner_id: &b.owner_id,
                    size: data.len() as u64,
                    stored_bytes: data.len() as u64,
                    content_type: &ctype,
                    etag: &etag,
                    user_metadata: &meta,
                    client_encrypted: false,
                    layout: None,
                    inline_data: Some(&data),
                    shards: &[],
                    upload_id: None,
                })
                .await?;
            (etag, data.len() as u64)
        }
        Err(prefix) => {
            let upload = new_upload(st, "put", b, key, h)?;
            st.db.create_upload(&upload).await?;
            let r = async {
                let part = store_body(st, &upload, b, prefix, stream, max).await?;
                if want_md5.is_some_and(|w| w != part.md5) {
                    return Err(GatewayError::BadDigest);
                }
                let etag = md5_hex(&part.md5);
                let mut m = part.manifest;
                m.content_type = ctype.clone();
                let layout = Layout::single(m);
                st.db
                    .commit_object(&NewObject {
                        bucket: &b.name,
                        key,
                        object_id: &upload.object_id,
                        owner_id: &b.owner_id,
                        size: part.size,
                        stored_bytes: layout.stored_bytes(),
                        content_type: &ctype,
                        etag: &etag,
                        user_metadata: &meta,
                        client_encrypted: false,
                        layout: Some(&layout.to_bytes()),
                        inline_data: None,
                        shards: &part.shards,
                        upload_id: Some(&upload.id),
                    })
                    .await?;
                Ok((etag, part.size))
            }
            .await;
            match r {
                Ok(v) => v,
                Err(e) => {
                    if let Err(a) = st.db.abort_upload(&upload.id).await {
                        tracing::error!(upload = %upload.id, error = %a, "abort after failed upload failed; the janitor will retry");
                    }
                    st.janitor_kick.notify_one();
                    return Err(e);
                }
            }
        }
    };
    st.janitor_kick.notify_one();
    st.events.file_created(&b.name, key, size, &etag);
    let mut r = if ctx.json {
        json_response(
            StatusCode::OK,
            serde_json::json!({ "key": key, "etag": format!("\"{etag}\""), "size": size }),
        )
    } else {
        StatusCode::OK.into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    Ok(r)
}

enum RangeSpec {
    Full,
    Part(u64, u64),
}

/// Parse a Range header against `size`. Multiple ranges are served whole, as S3 does.
fn parse_range(v: Option<&str>, size: u64) -> Result<RangeSpec> {
    let Some(v) = v else {
        return Ok(RangeSpec::Full);
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(RangeSpec::Full);
    };
    if spec.contains(',') {
        return Ok(RangeSpec::Full);
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(RangeSpec::Full);
    };
    let (a, b) = (a.trim(), b.trim());
    let invalid = || GatewayError::InvalidRange { size };
    if a.is_empty() {
        let n: u64 = b.parse().map_err(|_| invalid())?;
        if n == 0 || size == 0 {
            return Err(invalid());
        }
        return Ok(RangeSpec::Part(size.saturating_sub(n), size));
    }
    let start: u64 = a.parse().map_err(|_| invalid())?;
    let end: u64 = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        let e: u64 = b.parse().map_err(|_| invalid())?;
        if e < start {
            return Ok(RangeSpec::Full);
        }
        e.min(size.saturating_sub(1))
    };
    if start >= size {
        return Err(invalid());
    }
    Ok(RangeSpec::Part(start, end + 1))
}

fn etag_matches(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

fn parse_http_date(v: &str) -> Option<i64> {
    httpdate::parse_http_date(v)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
}

/// RFC 7232 precedence: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since.
fn check_conditions(h: &HeaderMap, o: &Object, read: bool) -> Result<()> {
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    if let Some(m) = get("if-match") {
        if !etag_matches(m, &o.etag) {
            return Err(GatewayError::PreconditionFailed);
        }
    } else if let Some(t) = get("if-unmodified-since").and_then(parse_http_date)
        && o.last_modified > t
    {
        return Err(GatewayError::PreconditionFailed);
    }
    if let Some(m) = get("if-none-match") {
        if etag_matches(m, &o.etag) {
            return Err(if read {
                GatewayError::NotModified
            } else {
                GatewayError::PreconditionFailed
            });
        }
    } else if read
        && let Some(t) = get("if-modified-since").and_then(parse_http_date)
        && o.last_modified <= t
    {
        return Err(GatewayError::NotModified);
    }
    Ok(())
}

fn object_headers(r: &mut Response, o: &Object, b: &Bucket) -> Result<()> {
    let h = r.headers_mut();
    let hv = |s: &str| {
        HeaderValue::from_str(s).map_err(|_| GatewayError::Internal("header value".into()))
    };
    h.insert(header::ETAG, hv(&format!("\"{}\"", o.etag))?);
    h.insert(header::LAST_MODIFIED, hv(&http_date(o.last_modified))?);
    h.insert(
        header::CONTENT_TYPE,
        hv(&o.content_type).unwrap_or(HeaderValue::from_static("binary/octet-stream")),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    for (k, v) in &o.user_metadata {
        if let (Ok(n), Ok(v)) = (
            header::HeaderName::from_bytes(format!("x-amz-meta-{k}").as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(n, v);
        }
    }
    if o.client_encrypted {
        h.insert("x-cyx-client-encrypted", HeaderValue::from_static("true"));
    }
    bucket_headers(r, b);
    Ok(())
}

/// Answer a GET or HEAD of `o`, an object of `b`.
async fn get_object(
    st: &AppState,
    b: &Bucket,
    o: Object,
    h: &HeaderMap,
    head: bool,
) -> Result<Response> {
    if let Err(e) = check_conditions(h, &o, true) {
        if let GatewayError::NotModified = e {
            let mut r = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", o.etag)) {
                r.headers_mut().insert(header::ETAG, v);
            }
            return Ok(r);
        }
        return Err(e);
    }
    let range = parse_range(h.get(header::RANGE).and_then(|v| v.to_str().ok()), o.size)?;
    let (start, end, status) = match range {
        RangeSpec::Full => (0, o.size, StatusCode::OK),
        RangeSpec::Part(a, b) => (a, b, StatusCode::PARTIAL_CONTENT),
    };
    let body = if head || start == end {
        Body::empty()
    } else if let Some(data) = &o.inline_data {
        Body::from(Bytes::copy_from_slice(&data[start as usize..end as usize]))
    } else if o.client_encrypted {
        return Err(GatewayError::InvalidRequest(
            "this object is encrypted end to end by its client; download it with the cyxcloud client".into(),
        ));
    } else {
        let layout =
            Arc::new(Layout::from_bytes(o.layout.as_deref().ok_or_else(
                || GatewayError::Internal("object without layout".into()),
            )?)?);
        let shards = Arc::new(st.db.object_shards(&o.object_id).await?);
        let mut rx = st.data.read_range(layout, shards, start, end);
        // Fetch the first piece before answering, so an unreadable object gets an error
        // status instead of a 200 with a body that breaks off.
        let first = match rx.recv().await {
            Some(r) => r?,
            None => return Err(GatewayError::Internal("object read ended early".into())),
        };
        let rest = tokio_stream::wrappers::ReceiverStream::new(rx);
        Body::from_stream(
            futures_util::stream::once(async move { Ok(first) })
                .chain(rest)
                .map(|r| {
                    r.map_err(|e| {
                        tracing::error!(error = %e, "object read failed mid-stream");
                        std::io::Error::other(e.to_string())
                    })
                }),
        )
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    object_headers(&mut r, &o, b)?;
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, o.size))
    {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    Ok(r)
}

async fn delete_objects(st: &AppState, b: &Bucket, _h: &HeaderMap, body: Body) -> Result<Response> {
    let body = small_body(body, xml::MAX_XML_BODY).await?;
    let (quiet, keys) = xml::parse_delete(&body)?;
    let mut s = String::from(xml::DECL);
    s.push_str(&format!("<DeleteResult xmlns=\"{}\">", xml::NS));
    for k in keys {
        let r = match valid_key(&k) {
            Ok(()) => st.db.delete_object(&b.name, &k).await.map(|gone| {
                if gone {
                    st.events.file_deleted(&b.name, &k);
                }
            }),
            Err(e) => Err(e),
        };
        match r {
            Ok(()) if quiet => {}
            Ok(()) => {
                s.push_str("<Deleted>");
                el(&mut s, "Key", &k);
                s.push_str("</Deleted>");
            }
            Err(e) => {
                let h = e.to_http();
                s.push_str("<Error>");
                el(&mut s, "Key", &k);
                el(&mut s, "Code", h.s3_code);
                el(&mut s, "Message", &h.message);
                s.push_str("</Error>");
            }
        }
    }
    s.push_str("</DeleteResult>");
    st.janitor_kick.notify_one();
    Ok(xml_response(StatusCode::OK, s))
}

/// The object `x-amz-copy-source` names, once the caller may read it and the
/// `x-amz-copy-source-if-*` conditions hold. Returns the source bucket's name too.
async fn copy_source(
    st: &AppState,
    who: &Option<Principal>,
    h: &HeaderMap,
) -> Result<(String, db::Object)> {
    let src = h
        .get("x-amz-copy-source")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| GatewayError::InvalidArgument("x-amz-copy-source".into()))?;
    let src = src.split('?').next().unwrap_or(src);
    let src = sigv4::percent_decode(src.trim_start_matches('/'))?;
    let (sb, sk) = src.split_once('/').ok_or_else(|| {
        GatewayError::InvalidArgument("x-amz-copy-source must be bucket/key".into())
    })?;
    valid_key(sk)?;
    let sbucket = st.db.bucket(sb).await?.ok_or(GatewayError::NoSuchBucket)?;
    authorize(who.as_ref(), &sbucket, Access::Read)?;
    let o = st.db.object(sb, sk).await?.ok_or(GatewayError::NoSuchKey)?;
    let cond = |n: &str| h.get(format!("x-amz-copy-source-{n}")).cloned();
    let mut ch = HeaderMap::new();
    for n in [
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
    ] {
        if let Some(v) = cond(n) {
            ch.insert(
                header::HeaderName::from_static(match n {
                    "if-match" => "if-match",
                    "if-none-match" => "if-none-match",
                    "if-modified-since" => "if-modified-since",
                    _ => "if-unmodified-since",
                }),
                v,
            );
        }
    }
    check_conditions(&ch, &o, false)?;
    if o.client_encrypted {
        return Err(GatewayError::InvalidRequest(
            "objects encrypted end to end by a client cannot be copied by the gateway".into(),
        ));
    }
    Ok((sb.to_string(), o))
}

/// Bytes `start..end` of a stored object as a stream, read from its nodes (or its row).
async fn object_stream(st: &AppState, o: &db::Object, start: u64, end: u64) -> Result<BodyStream> {
    if let Some(data) = &o.inline_data {
        let piece = Bytes::copy_from_slice(&data[start as usize..end as usize]);
        return Ok(futures_util::stream::once(async move { Ok(piece) }).boxed());
    }
    let layout =
        Arc::new(Layout::from_bytes(o.layout.as_deref().ok_or_else(
            || GatewayError::Internal("object without layout".into()),
        )?)?);
    let shards = Arc::new(st.db.object_shards(&o.object_id).await?);
    let rx = st.data.read_range(layout, shards, start, end);
    Ok(tokio_stream::wrappers::ReceiverStream::new(rx).boxed())
}

async fn copy_object(
    st: &AppState,
    who: &Option<Principal>,
    b: &Bucket,
    key: &str,
    h: &HeaderMap,
) -> Result<Response> {
    let (sb, o) = copy_source(st, who, h).await?;
    let sk = o.key.as_str();
    let replace = h
        .get("x-amz-metadata-directive")
        .and_then(|v| v.to_str().ok())
        == Some("REPLACE");
    if !replace && sb == b.name && sk == key {
        return Err(GatewayError::InvalidRequest(
            "copying an object onto itself without changing its metadata is not allowed".into(),
        ));
    }
    let (meta, ctype) = if replace {
        (user_metadata(h)?, content_type(h))
    } else {
        (o.user_metadata.clone(), o.content_type.clone())
    };
    quota_precheck(st, b, Some(key), o.size).await?;
    let object_id = db::new_id("obj-");
    if let Some(data) = &o.inline_data {
        st.db
            .commit_object(&NewObject {
                bucket: &b.name,
                key,
                object_id: &object_id,
                owner_id: &b.owner_id,
                size: o.size,
                stored_bytes: o.stored_bytes,
                content_type: &ctype,
                etag: &o.etag,
                user_metadata: &meta,
                client_encrypted: false,
                layout: None,
                inline_data: Some(data),
                shards: &[],
                upload_id: None,
            })
            .await?;
    } else {
        let source = object_stream(st, &o, 0, o.size).await?;
        let mut hh = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&ctype) {
            hh.insert(header::CONTENT_TYPE, v);
        }
        let mut upload = new_upload(st, "put", b, key, &hh)?;
        upload.user_metadata = meta.clone();
        st.db.create_upload(&upload).await?;
        let r = async {
            let part = st
                .data
                .store(&upload.id, b.profile(), source, u64::MAX)
                .await?;
            if part.size != o.size {
                return Err(GatewayError::Internal("copy read a different size".into()));
            }
            let layout = Layout::single(part.manifest);
            st.db
                .commit_object(&NewObject {
                    bucket: &b.name,
                    key,
                    object_id: &upload.object_id,
                    owner_id: &b.owner_id,
                    size: part.size,
                    stored_bytes: layout.stored_bytes(),
                    content_type: &ctype,
                    etag: &o.etag,
                    user_metadata: &meta,
                    client_encrypted: false,
                    layout: Some(&layout.to_bytes()),
                    inline_data: None,
                    shards: &part.shards,
                    upload_id: Some(&upload.id),
                })
                .await
        }
        .await;
        if let Err(e) = r {
            let _ = st.db.abort_upload(&upload.id).await;
            st.janitor_kick.notify_one();
            return Err(e);
        }
    }
    st.janitor_kick.notify_one();
    st.events.file_created(&b.name, key, o.size, &o.etag);
    let mut s = String::from(xml::DECL);
    s.push_str(&format!("<CopyObjectResult xmlns=\"{}\">", xml::NS));
    el(&mut s, "LastModified", &iso8601(db::now()));
    el(&mut s, "ETag", &format!("\"{}\"", o.etag));
    s.push_str("</CopyObjectResult>");
    Ok(xml_response(StatusCode::OK, s))
}

// ---- multipart --------------------------------------------------------------------------

async fn load_upload(st: &AppState, b: &Bucket, key: &str, id: &str) -> Result<Upload> {
    match st.db.upload(id).await? {
        Some(u) if u.kind == "multipart" && u.bucket == b.name && u.key == key => Ok(u),
        _ => Err(GatewayError::NoSuchUpload),
    }
}

async fn create_multipart(st: &AppState, b: &Bucket, key: &str, h: &HeaderMap) -> Result<Response> {
    let u = new_upload(st, "multipart", b, key, h)?;
    st.db.create_upload(&u).await?;
    let mut s = String::from(xml::DECL);
    s.push_str(&format!(
        "<InitiateMultipartUploadResult xmlns=\"{}\">",
        xml::NS
    ));
    el(&mut s, "Bucket", &b.name);
    el(&mut s, "Key", key);
    el(&mut s, "UploadId", &u.id);
    s.push_str("</InitiateMultipartUploadResult>");
    Ok(xml_response(StatusCode::OK, s))
}

#[allow(clippy::too_many_arguments)]
async fn upload_part(
    st: &AppState,
    b: &Bucket,
    key: &str,
    upload_id: &str,
    n: u32,
    h: &HeaderMap,
    body: Body,
    check: PayloadCheck,
) -> Result<Response> {
    let u = load_upload(st, b, key, upload_id).await?;
    let want_md5 = content_md5(h)?;
    let (stream, declared) = body_stream(body, h, check)?;
    let max = st.cfg.storage.max_upload_size_bytes;
    if declared.is_some_and(|d| d > max) {
        return Err(GatewayError::EntityTooLarge);
    }
    // A part's shards stay recorded against the upload until it completes or aborts.
    let part = st.data.store(&u.id, b.profile(), stream, max).await?;
    if want_md5.is_some_and(|w| w != part.md5) {
        return Err(GatewayError::BadDigest);
    }
    let etag = record_part(st, &u, n, part).await?;
    let mut r = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        r.headers_mut().insert(header::ETAG, v);
    }
    Ok(r)
}

/// Record a stored part under its upload (replacing an earlier part of the same number) and
/// return its ETag.
async fn record_part(st: &AppState, u: &Upload, n: u32, part: StoredPart) -> Result<String> {
    let etag = md5_hex(&part.md5);
    let rec = PartRecord {
        manifest: part.manifest,
        shards: part.shards,
    };
    st.db
        .put_part(
            &u.id,
            &db::Part {
                part_number: n,
                size: part.size,
                etag: etag.clone(),
                stored_bytes: rec.manifest.stored_bytes(),
                layout: rec.to_bytes(),
                created_at: db::now(),
            },
        )
        .await?;
    Ok(etag)
}

/// UploadPartCopy: a part made of (a range of) an existing object, read from its nodes and
/// stored again under the upload, as aws cli and rclone do for server-side copies of large
/// objects.
async fn upload_part_copy(
    st: &AppState,
    who: &Option<Principal>,
    b: &Bucket,
    key: &str,
    upload_id: &str,
    n: u32,
    h: &HeaderMap,
) -> Result<Response> {
    let u = load_upload(st, b, key, upload_id).await?;
    let (_, o) = copy_source(st, who, h).await?;
    let (start, end) = match h.get("x-amz-copy-source-range") {
        None => (0, o.size),
        Some(v) => copy_range(v.to_str().unwrap_or(""), o.size)?,
    };
    let source = object_stream(st, &o, start, end).await?;
    let max = st.cfg.storage.max_upload_size_bytes;
    let part = st.data.store(&u.id, b.profile(), source, max).await?;
    if part.size != end - start {
        return Err(GatewayError::Internal("copy read a different size".into()));
    }
    let etag = record_part(st, &u, n, part).await?;
    let mut s = String::from(xml::DECL);
    s.push_str(&format!("<CopyPartResult xmlns=\"{}\">", xml::NS));
    el(&mut s, "LastModified", &iso8601(db::now()));
    el(&mut s, "ETag", &format!("\"{etag}\""));
    s.push_str("</CopyPartResult>");
    Ok(xml_response(StatusCode::OK, s))
}

/// `x-amz-copy-source-range: bytes=first-last`, both inclusive and inside the source.
fn copy_range(v: &str, size: u64) -> Result<(u64, u64)> {
    let invalid = || {
        GatewayError::InvalidArgument(format!(
            "x-amz-copy-source-range {v:?} must be bytes=first-last within the {size}-byte source"
        ))
    };
    let (a, b) = v
        .trim()
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let a: u64 = a.trim().parse().map_err(|_| invalid())?;
    let b: u64 = b.trim().parse().map_err(|_| invalid())?;
    if a > b || b >= size {
        return Err(invalid());
    }
    Ok((a, b + 1))
}

async fn complete_multipart(
    st: &AppState,
    b: &Bucket,
    key: &str,
    upload_id: &str,
    body: Body,
) -> Result<Response> {
    let u = load_upload(st, b, key, upload_id).await?;
    let body = small_body(body, xml::MAX_XML_BODY).await?;
    let wanted = xml::parse_complete(&body)?;
    for w in wanted.windows(2) {
        if w[1].0 <= w[0].0 {
            return Err(GatewayError::InvalidPartOrder);
        }
    }
    let stored: BTreeMap<u32, db::Part> = st
        .db
        .parts(&u.id)
        .await?
        .into_iter()
        .map(|p| (p.part_number, p))
        .collect();
    let mut manifests = Vec::new();
    let mut shards: Vec<ShardLoc> = Vec::new();
    let mut md5s = md5::Md5::new();
    let mut size = 0;
    let mut global = 0u64;
    for (i, (n, etag)) in wanted.iter().enumerate() {
        let p = stored
            .get(n)
            .filter(|p| &p.etag == etag)
            .ok_or_else(|| GatewayError::InvalidPart(format!("part {n} with ETag {etag}")))?;
        if i + 1 < wanted.len() && p.size < MIN_PART_SIZE {
            return Err(GatewayError::EntityTooSmall);
        }
        let rec = PartRecord::from_bytes(&p.layout)?;
        for s in &rec.shards {
            shards.push(ShardLoc {
                chunk_index: global + s.chunk_index,
                ..s.clone()
            });
        }
        global += rec.manifest.chunks.len() as u64;
        size += p.size;
        md5s.update(hex::decode(&p.etag).map_err(|_| GatewayError::Internal("part etag".into()))?);
        let mut m = rec.manifest;
        m.content_type = u.content_type.clone();
        manifests.push(m);
    }
    let etag = format!("{}-{}", hex::encode(md5s.finalize()), wanted.len());
    let layout = Layout { parts: manifests };
    st.db
        .commit_object(&NewObject {
            bucket: &b.name,
            key,
            object_id: &u.object_id,
            owner_id: &b.owner_id,
            size,
            stored_bytes: layout.stored_bytes(),
            content_type: &u.content_type,
            etag: &etag,
            user_metadata: &u.user_metadata,
            client_encrypted: false,
            layout: Some(&layout.to_bytes()),
            inline_data: None,
            shards: &shards,
            upload_id: Some(&u.id),
        })
        .await?;
    st.janitor_kick.notify_one();
    st.events.file_created(&b.name, key, size, &etag);
    let mut s = String::from(xml::DECL);
    s.push_str(&format!(
        "<CompleteMultipartUploadResult xmlns=\"{}\">",
        xml::NS
    ));
    el(
        &mut s,
        "Location",
        &format!(
            "{}/s3/{}/{}",
            st.public_url,
            b.name,
            sigv4::uri_encode(key, true)
        ),
    );
    el(&mut s, "Bucket", &b.name);
    el(&mut s, "Key", key);
    el(&mut s, "ETag", &format!("\"{etag}\""));
    s.push_str("</CompleteMultipartUploadResult>");
    Ok(xml_response(StatusCode::OK, s))
}

async fn list_parts(
    st: &AppState,
    b: &Bucket,
    key: &str,
    upload_id: &str,
    query: &[(String, String)],
) -> Result<Response> {
    let u = load_upload(st, b, key, upload_id).await?;
    let marker: u32 = q(query, "part-number-marker")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let max: usize = q(query, "max-parts")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let parts: Vec<db::Part> = st
        .db
        .parts(&u.id)
        .await?
        .into_iter()
        .filter(|p| p.part_number > marker)
        .collect();
    let truncated = parts.len() > max;
    let mut s = String::from(xml::DECL);
    s.push_str(&format!("<ListPartsResult xmlns=\"{}\">", xml::NS));
    el(&mut s, "Bucket", &b.name);
    el(&mut s, "Key", key);
    el(&mut s, "UploadId", &u.id);
    el(&mut s, "PartNumberMarker", &marker.to_string());
    el(&mut s, "MaxParts", &max.to_string());
    el(
        &mut s,
        "IsTruncated",
        if truncated { "true" } else { "false" },
    );
    let shown = &parts[..parts.len().min(max)];
    if truncated && let Some(l) = shown.last() {
        el(&mut s, "NextPartNumberMarker", &l.part_number.to_string());
    }
    el(&mut s, "StorageClass", "STANDARD");
    for p in shown {
        s.push_str("<Part>");
        el(&mut s, "PartNumber", &p.part_number.to_string());
        el(&mut s, "LastModified", &iso8601(p.created_at));
        el(&mut s, "ETag", &format!("\"{}\"", p.etag));
        el(&mut s, "Size", &p.size.to_string());
        s.push_str("</Part>");
    }
    s.push_str("</ListPartsResult>");
    Ok(xml_response(StatusCode::OK, s))
}

async fn list_multipart_uploads(
    st: &AppState,
    b: &Bucket,
    query: &[(String, String)],
) -> Result<Response> {
    let prefix = q(query, "prefix").unwrap_or("");
    let ups = st.db.multipart_uploads(&b.name, prefix).await?;
    let mut s = String::from(xml::DECL);
    s.push_str(&format!(
        "<ListMultipartUploadsResult xmlns=\"{}\">",
        xml::NS
    ));
    el(&mut s, "Bucket", &b.name);
    el(&mut s, "Prefix", prefix);
    el(&mut s, "MaxUploads", "1000");
    el(&mut s, "IsTruncated", "false");
    for u in ups.iter().take(1000) {
        s.push_str("<Upload>");
        el(&mut s, "Key", &u.key);
        el(&mut s, "UploadId", &u.id);
        el(&mut s, "Initiated", &iso8601(u.created_at));
        el(&mut s, "StorageClass", "STANDARD");
        s.push_str("</Upload>");
    }
    s.push_str("</ListMultipartUploadsResult>");
    Ok(xml_response(StatusCode::OK, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let p = |v: &str, size| match parse_range(Some(v), size) {
            Ok(RangeSpec::Full) => Ok(None),
            Ok(RangeSpec::Part(a, b)) => Ok(Some((a, b))),
            Err(e) => Err(e.to_http().status),
        };
        assert_eq!(p("bytes=0-9", 100), Ok(Some((0, 10))));
        assert_eq!(p("bytes=90-", 100), Ok(Some((90, 100))));
        assert_eq!(p("bytes=-10", 100), Ok(Some((90, 100))));
        assert_eq!(p("bytes=-1000", 100), Ok(Some((0, 100))));
        assert_eq!(p("bytes=50-5000", 100), Ok(Some((50, 100))));
        assert_eq!(p("bytes=100-", 100), Err(416));
        assert_eq!(p("bytes=-0", 100), Err(416));
        assert_eq!(p("bytes=0-0", 0), Err(416));
        assert_eq!(p("bytes=5-1", 100), Ok(None));
        assert_eq!(p("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(p("items=0-1", 100), Ok(None));
        assert_eq!(p("bytes=x-1", 100), Err(416));
    }

    #[test]
    fn paths_and_names() {
        assert_eq!(
            split_path("/s3/b/a%20b/c").unwrap(),
            (Some("b".into()), Some("a b/c".into()))
        );
        assert_eq!(
            split_path("/b/k").unwrap(),
            (Some("b".into()), Some("k".into()))
        );
        assert_eq!(split_path("/s3").unwrap(), (None, None));
        assert_eq!(split_path("/").unwrap(), (None, None));
        assert_eq!(split_path("/b/").unwrap(), (Some("b".into()), None));
        assert!(valid_bucket_name("my-bucket.1").is_ok());
        for bad in ["ab", "Upper", "-x-", "a..b", "192.168.1.1", "s3", "x_y"] {
            assert!(valid_bucket_name(bad).is_err(), "{bad}");
        }
        assert!(valid_key("a/b c&+%").is_ok());
        for bad in ["", "a/../b", "..", "a\0b", "./x"] {
            assert!(valid_key(bad).is_err(), "{bad:?}");
        }
        assert!(valid_key(&"k".repeat(1025)).is_err());
    }

    #[test]
    fn tokens_round_trip() {
        for m in [Marker::Key("a/b".into()), Marker::Prefix("x/".into())] {
            let t = encode_token(&m);
            match (m, decode_token(&t).unwrap()) {
                (Marker::Key(a), Marker::Key(b)) | (Marker::Prefix(a), Marker::Prefix(b)) => {
                    assert_eq!(a, b)
                }
                _ => panic!("kind changed"),
            }
        }
        assert!(decode_token("!!").is_err());
        assert!(decode_token(&URL_SAFE_NO_PAD.encode("zq")).is_err());
    }

    fn obj(etag: &str, t: i64) -> Object {
        Object {
            bucket: "b".into(),
            key: "k".into(),
            object_id: "o".into(),
            owner_id: "u".into(),
            size: 1,
            stored_bytes: 1,
            content_type: "x".into(),
            etag: etag.into(),
            last_modified: t,
            user_metadata: BTreeMap::new(),
            client_encrypted: false,
            layout: None,
            inline_data: None,
        }
    }

    #[test]
    fn conditional_requests() {
        let o = obj("abc", 1_000_000);
        let h = |pairs: &[(&'static str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, v.parse().unwrap());
            }
            m
        };
        assert!(check_conditions(&h(&[("if-match", "\"abc\"")]), &o, true).is_ok());
        assert!(matches!(
            check_conditions(&h(&[("if-match", "\"x\"")]), &o, true),
            Err(GatewayError::PreconditionFailed)
        ));
        assert!(matches!(
            check_conditions(&h(&[("if-none-match", "\"abc\"")]), &o, true),
            Err(GatewayError::NotModified)
        ));
        assert!(matches!(
            check_conditions(&h(&[("if-none-match", "*")]), &o, false),
            Err(GatewayError::PreconditionFailed)
        ));
        let later = http_date(2_000_000);
        let earlier = http_date(10);
        assert!(matches!(
            check_conditions(&h(&[("if-modified-since", &later)]), &o, true),
            Err(GatewayError::NotModified)
        ));
        assert!(check_conditions(&h(&[("if-modified-since", &earlier)]), &o, true).is_ok());
        assert!(matches!(
            check_conditions(&h(&[("if-unmodified-since", &earlier)]), &o, true),
            Err(GatewayError::PreconditionFailed)
        ));
        // If-Match wins over If-Unmodified-Since.
        assert!(
            check_conditions(
                &h(&[("if-match", "abc"), ("if-unmodified-since", &earlier)]),
                &o,
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn authorization_matrix() {
        let b = |public| Bucket {
            name: "b".into(),
            owner_id: "owner".into(),
            public,
            data_shards: 8,
            parity_shards: 6,
            created_at: 0,
        };
        let p = |id: &str, r, w| Principal {
            user_id: id.into(),
            can_read: r,
            can_write: w,
        };
        let owner = p("owner", true, true);
        let other = p("other", true, true);
        let ro = p("owner", true, false);
        for public in [false, true] {
            let bk = b(public);
            assert!(authorize(Some(&owner), &bk, Access::Read).is_ok());
            assert!(authorize(Some(&owner), &bk, Access::Write).is_ok());
            assert!(authorize(Some(&ro), &bk, Access::Write).is_err());
            assert_eq!(authorize(Some(&other), &bk, Access::Read).is_ok(), public);
            assert!(authorize(Some(&other), &bk, Access::Write).is_err());
            assert_eq!(authorize(None, &bk, Access::Read).is_ok(), public);
            assert!(authorize(None, &bk, Access::Write).is_err());
        }
    }
}
