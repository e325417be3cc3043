//! The REST API under `/api/v1`: accounts, sessions, API keys and account status, with the
//! specification's JSON bodies and JSON errors.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{self, Principal};
use crate::db;
use crate::error::{GatewayError, Result};
use crate::events::rfc3339;
use crate::s3::{Ctx, error_response, request_id};
use crate::server::AppState;

pub fn router() -> axum::Router<Arc<AppState>> {
    axum::Router::new()
        .route("/api/v1/auth/signup", post(signup))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/wallet", post(wallet))
        .route("/api/v1/auth/api-keys", post(create_key).get(list_keys))
        .route("/api/v1/auth/api-keys/{id}", delete(revoke_key))
        .route("/api/v1/info", get(info))
        .route("/api/v1/account", get(account))
        .route(
            "/api/v1/account/key-record",
            get(get_key_record).put(put_key_record),
        )
        .route("/api/v1/buckets", get(list_buckets))
        .route("/api/v1/buckets/{bucket}", get(bucket_status))
        .route("/api/v1/nodes", get(nodes))
}

/// A JSON API result: errors in the specification's JSON format.
pub struct ApiResult(Result<(StatusCode, Value)>, String);

impl IntoResponse for ApiResult {
    fn into_response(self) -> Response {
        let ctx = Ctx {
            request_id: request_id(),
            json: true,
            head: false,
            resource: self.1,
        };
        match self.0 {
            Ok((s, v)) => (s, Json(v)).into_response(),
            Err(e) => error_response(&e, &ctx),
        }
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        GatewayError::InvalidRequest(format!("request body is not the expected JSON: {e}"))
    })
}

fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| auth::hash_password("not a password of anyone").unwrap_or_default())
}

fn ok(v: Value) -> Result<(StatusCode, Value)> {
    Ok((StatusCode::OK, v))
}

/// The caller, from a Bearer token or an API key.
async fn caller(st: &AppState, h: &HeaderMap) -> Result<Principal> {
    let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
    auth::bearer_or_api_key(
        &st.db,
        &st.secrets,
        header("authorization"),
        header("x-api-key"),
    )
    .await?
    .ok_or_else(|| {
        GatewayError::Unauthenticated("send Authorization: Bearer <token> or X-API-Key".into())
    })
}

fn user_json(u: &db::User) -> Value {
    json!({ "id": u.id, "email": u.email, "wallet_address": u.wallet_address })
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

fn check_email(e: &str) -> Result<()> {
    let ok = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(a, d)| !a.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !e.chars().any(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(GatewayError::InvalidArgument(
            "email address is not valid".into(),
        ))
    }
}

async fn signup(State(st): State<Arc<AppState>>, body: axum::body::Bytes) -> ApiResult {
    let r = async {
        let body: Credentials = parse_json(&body)?;
        let email = body.email.trim().to_lowercase();
        check_email(&email)?;
        if body.password.len() < 8 {
            return Err(GatewayError::InvalidArgument(
                "password must be at least 8 characters".into(),
            ));
        }
        let hash = {
            let p = body.password.clone();
            tokio::task::spawn_blocking(move || auth::hash_password(&p))
                .await
                .map_err(|e| GatewayError::Internal(e.to_string()))??
        };
        let user = st
            .db
            .create_user(
                Some(&email),
                Some(&hash),
                None,
                st.cfg.storage.default_quota_bytes,
            )
            .await?;
        let tokens = auth::issue_tokens(&st.db, &st.secrets, &user).await?;
        tracing::info!(user = %user.id, "account created");
        Ok((
            StatusCode::CREATED,
            json!({ "user": user_json(&user), "tokens": tokens }),
        ))
    }
    .await;
    ApiResult(r, "/api/v1/auth/signup".into())
}

async fn login(State(st): State<Arc<AppState>>, body: axum::body::Bytes) -> ApiResult {
    let r = async {
        let body: Credentials = parse_json(&body)?;
        let email = body.email.trim().to_lowercase();
        let user = st.db.user_by_email(&email).await?;
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let p = body.password.clone();
        // Verify against a dummy hash for unknown accounts so timing does not reveal them.
        let good = tokio::task::spawn_blocking(move || match hash {
            Some(h) => auth::verify_password(&p, &h),
            None => {
                let _ = auth::verify_password(&p, dummy_hash());
                false
            }
        })
        .await
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
        let user = match (good, user) {
            (true, Some(u)) => u,
            _ => {
                return Err(GatewayError::Unauthenticated(
                    "email or password is wrong".into(),
                ));
            }
        };
        let tokens = auth::issue_tokens(&st.db, &st.secrets, &user).await?;
        ok(json!({ "user": user_json(&user), "tokens": tokens }))
    }
    .await;
    ApiResult(r, "/api/v1/auth/login".into())
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(State(st): State<Arc<AppState>>, body: axum::body::Bytes) -> ApiResult {
    let r = async {
        let body: RefreshBody = parse_json(&body)?;
        let user_id = st
            .db
            .take_refresh(&auth::token_hash(&body.refresh_token))
            .await?
            .ok_or_else(|| GatewayError::Unauthenticated("refresh token is not valid".into()))?;
        let user = st
            .db
            .user_by_id(&user_id)
            .await?
            .ok_or_else(|| GatewayError::Unauthenticated("account no longer exists".into()))?;
        let tokens = auth::issue_tokens(&st.db, &st.secrets, &user).await?;
        ok(json!({ "user": user_json(&user), "tokens": tokens }))
    }
    .await;
    ApiResult(r, "/api/v1/auth/refresh".into())
}

async fn logout(State(st): State<Arc<AppState>>, body: axum::body::Bytes) -> ApiResult {
    let r = async {
        let body: RefreshBody = parse_json(&body)?;
        st.db
            .take_refresh(&auth::token_hash(&body.refresh_token))
            .await?;
        ok(json!({ "logged_out": true }))
    }
    .await;
    ApiResult(r, "/api/v1/auth/logout".into())
}

#[derive(Deserialize)]
struct WalletBody {
    wallet_address: String,
    signature: String,
    message: String,
}

async fn wallet(State(st): State<Arc<AppState>>, body: axum::body::Bytes) -> ApiResult {
    let r = async {
        let body: WalletBody = parse_json(&body)?;
        auth::verify_wallet_login(&st.db, &body.wallet_address, &body.message, &body.signature)
            .await?;
        let user = match st.db.user_by_wallet(&body.wallet_address).await? {
            Some(u) => u,
            None => {
                st.db
                    .create_user(
                        None,
                        None,
                        Some(&body.wallet_address),
                        st.cfg.storage.default_quota_bytes,
                    )
                    .await?
            }
        };
        let tokens = auth::issue_tokens(&st.db, &st.secrets, &user).await?;
        ok(json!({ "user": user_json(&user), "tokens": tokens }))
    }
    .await;
    ApiResult(r, "/api/v1/auth/wallet".into())
}

#[derive(Deserialize)]
struct KeyBody {
    name: String,
    #[serde(default = "default_perms")]
    permissions: Vec<String>,
    #[serde(default)]
    expires_at: Option<String>,
}

fn default_perms() -> Vec<String> {
    vec!["read".into(), "write".into()]
}

fn key_json(k: &db::ApiKey) -> Value {
    let mut perms = Vec::new();
    if k.can_read {
        perms.push("read");
    }
    if k.can_write {
        perms.push("write");
    }
    json!({
        "id": k.id,
        "name": k.name,
        "access_key_id": k.access_key_id,
        "permissions": perms,
        "created_at": rfc3339(k.created_at),
        "expires_at": k.expires_at.map(rfc3339),
        "revoked": k.revoked_at.is_some(),
    })
}

async fn create_key(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let r = async {
        let body: KeyBody = parse_json(&body)?;
        let p = caller(&st, &h).await?;
        if !p.can_write {
            return Err(GatewayError::AccessDenied(
                "a read-only credential cannot create keys".into(),
            ));
        }
        let name = body.name.trim();
        if name.is_empty() || name.len() > 128 {
            return Err(GatewayError::InvalidArgument(
                "name must be 1 to 128 characters".into(),
            ));
        }
        let mut read = false;
        let mut write = false;
        for perm in &body.permissions {
            match perm.as_str() {
                "read" => read = true,
                "write" => write = true,
                o => {
                    return Err(GatewayError::InvalidArgument(format!(
                        "unknown permission {o:?} (read, write)"
                    )));
                }
            }
        }
        if !read && !write {
            return Err(GatewayError::InvalidArgument(
                "a key needs read or write".into(),
            ));
        }
        let expires = match &body.expires_at {
            None => None,
            Some(s) => {
                let t =
                    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| {
                            GatewayError::InvalidArgument("expires_at must be RFC 3339".into())
                        })?
                        .unix_timestamp();
                if t <= db::now() {
                    return Err(GatewayError::InvalidArgument(
                        "expires_at is in the past".into(),
                    ));
                }
                Some(t)
            }
        };
        let k = auth::create_api_key(&st.db, &st.secrets, &p.user_id, name, read, write, expires)
            .await?;
        let mut v = key_json(&k.record);
        v["key"] = json!(k.key);
        v["secret_access_key"] = json!(k.key);
        Ok((StatusCode::CREATED, v))
    }
    .await;
    ApiResult(r, "/api/v1/auth/api-keys".into())
}

async fn list_keys(State(st): State<Arc<AppState>>, h: HeaderMap) -> ApiResult {
    let r = async {
        let p = caller(&st, &h).await?;
        let keys = st.db.api_keys(&p.user_id).await?;
        ok(json!({ "keys": keys.iter().map(key_json).collect::<Vec<_>>() }))
    }
    .await;
    ApiResult(r, "/api/v1/auth/api-keys".into())
}

async fn revoke_key(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let r = async {
        let p = caller(&st, &h).await?;
        if !p.can_write {
            return Err(GatewayError::AccessDenied(
                "a read-only credential cannot revoke keys".into(),
            ));
        }
        if !st.db.revoke_api_key(&p.user_id, &id).await? {
            return Err(GatewayError::InvalidArgument(format!("no active key {id}")));
        }
        ok(json!({ "id": id, "revoked": true }))
    }
    .await;
    ApiResult(r, format!("/api/v1/auth/api-keys/{id}"))
}

async fn account(State(st): State<Arc<AppState>>, h: HeaderMap) -> ApiResult {
    let r = async {
        let p = caller(&st, &h).await?;
        let u = st
            .db
            .user_by_id(&p.user_id)
            .await?
            .ok_or_else(|| GatewayError::Unauthenticated("account no longer exists".into()))?;
        let used = st.db.usage(&u.id).await?;
        ok(json!({
            "id": u.id,
            "email": u.email,
            "wallet_address": u.wallet_address,
            "created_at": rfc3339(u.created_at),
            "usage": { "storage_used_bytes": used },
            "quotas": { "storage_bytes": u.quota_bytes },
        }))
    }
    .await;
    ApiResult(r, "/api/v1/account".into())
}

async fn bucket_status(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    Path(bucket): Path<String>,
) -> ApiResult {
    let r = async {
        let p = caller(&st, &h).await?;
        let b = st
            .db
            .bucket(&bucket)
            .await?
            .ok_or(GatewayError::NoSuchBucket)?;
        crate::s3::authorize(Some(&p), &b, crate::s3::Access::Read)?;
        let (objects, bytes) = st.db.bucket_stats(&bucket).await?;
        let owner = st.db.user_by_id(&b.owner_id).await?;
        let used = st.db.usage(&b.owner_id).await?;
        ok(json!({
            "bucket": b.name,
            "visibility": if b.public { "public" } else { "private" },
            "erasure_config": { "data_shards": b.data_shards, "parity_shards": b.parity_shards },
            "created_at": rfc3339(b.created_at),
            "object_count": objects,
            "used_bytes": bytes,
            "owner_used_bytes": used,
            "quota_bytes": owner.map(|o| o.quota_bytes),
        }))
    }
    .await;
    ApiResult(r, format!("/api/v1/buckets/{bucket}"))
}

async fn nodes(State(st): State<Arc<AppState>>, h: HeaderMap) -> ApiResult {
    let r = async {
        caller(&st, &h).await?;
        let rows = st.db.nodes().await?;
        let v: Vec<Value> = rows
            .iter()
            .map(|n| {
                json!({
                    "id": n.id,
                    "peer_id": n.peer_id,
                    "type": n.node_type,
                    "status": n.status,
                    "grpc_address": n.grpc_address,
                    "capacity": {
                        "total_bytes": n.capacity_bytes,
                        "used_bytes": n.used_bytes,
                        "available_bytes": n.capacity_bytes.saturating_sub(n.used_bytes),
                        "chunk_count": n.chunk_count,
                    },
                    "location": { "datacenter": n.datacenter, "rack": n.rack, "region": n.region },
                    "last_seen": rfc3339(n.last_seen),
                    "joined_at": rfc3339(n.joined_at),
                })
            })
            .collect();
        ok(json!({ "nodes": v }))
    }
    .await;
    ApiResult(r, "/api/v1/nodes".into())
}

/// What a client needs to find the gateway's other services; no authentication.
async fn info(State(st): State<Arc<AppState>>) -> ApiResult {
    let r = async {
        ok(json!({
            "service": "cyxcloud-gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "grpc_port": st.grpc_port,
            "s3_path": "/s3",
            "public_url": st.public_url,
            "chunk_size_bytes": st.cfg.storage.default_chunk_size_bytes,
            "erasure_config": {
                "data_shards": st.cfg.storage.default_erasure_data_shards,
                "parity_shards": st.cfg.storage.default_erasure_parity_shards,
            },
        }))
    }
    .await;
    ApiResult(r, "/api/v1/info".into())
}

/// Largest key record accepted: a few hundred bytes are needed; this leaves room for
/// later fields without letting the column become file storage.
const MAX_KEY_RECORD: usize = 4096;

async fn get_key_record(State(st): State<Arc<AppState>>, h: HeaderMap) -> ApiResult {
    let r = async {
        let p = caller(&st, &h).await?;
        let rec = st.db.key_record(&p.user_id).await?;
        ok(json!({ "key_record": rec.map(|r| serde_json::from_str::<Value>(&r).unwrap_or(Value::Null)) }))
    }
    .await;
    ApiResult(r, "/api/v1/account/key-record".into())
}

#[derive(Deserialize)]
struct KeyRecordBody {
    key_record: Value,
    /// For rotation: the record the client believes is current.
    #[serde(default)]
    replaces: Option<Value>,
}

/// Store the account's key record: the first one wins unless `replaces` names the current
/// one exactly (rotation). Answers with the record now stored, so a client that lost a race
/// adopts the winner's salt.
async fn put_key_record(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let r = async {
        if body.len() > MAX_KEY_RECORD {
            return Err(GatewayError::InvalidArgument(format!(
                "key record larger than {MAX_KEY_RECORD} bytes"
            )));
        }
        let b: KeyRecordBody = parse_json(&body)?;
        if !b.key_record.is_object() {
            return Err(GatewayError::InvalidArgument(
                "key_record must be a JSON object".into(),
            ));
        }
        let p = caller(&st, &h).await?;
        if !p.can_write {
            return Err(GatewayError::AccessDenied(
                "a read-only credential cannot change the key record".into(),
            ));
        }
        let new = b.key_record.to_string();
        let stored = match b.replaces {
            Some(old) => {
                let current = st.db.key_record(&p.user_id).await?;
                let matches = current
                    .as_deref()
                    .and_then(|c| serde_json::from_str::<Value>(c).ok())
                    .is_some_and(|c| c == old);
                if !matches
                    || !st
                        .db
                        .replace_key_record(&p.user_id, current.as_deref().unwrap_or(""), &new)
                        .await?
                {
                    return Err(GatewayError::PreconditionFailed);
                }
                Some(new)
            }
            None => st.db.init_key_record(&p.user_id, &new).await?,
        };
        ok(json!({ "key_record": stored.map(|r| serde_json::from_str::<Value>(&r).unwrap_or(Value::Null)) }))
    }
    .await;
    ApiResult(r, "/api/v1/account/key-record".into())
}

async fn list_buckets(State(st): State<Arc<AppState>>, h: HeaderMap) -> ApiResult {
    let r = async {
        let p = caller(&st, &h).await?;
        let buckets = st.db.buckets_of(&p.user_id).await?;
        let mut v = Vec::with_capacity(buckets.len());
        for b in &buckets {
            let (objects, bytes) = st.db.bucket_stats(&b.name).await?;
            v.push(json!({
                "bucket": b.name,
                "visibility": if b.public { "public" } else { "private" },
                "erasure_config": { "data_shards": b.data_shards, "parity_shards": b.parity_shards },
                "created_at": rfc3339(b.created_at),
                "object_count": objects,
                "used_bytes": bytes,
            }));
        }
        ok(json!({ "buckets": v }))
    }
    .await;
    ApiResult(r, "/api/v1/buckets".into())
}
