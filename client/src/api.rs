//! The gateway's REST API (`/api/v1/...`) and the few S3 calls the client needs (bucket
//! create/delete, reading objects stored through plain S3), authenticated with the API key.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{ClientError, Result};

/// Tokens returned by signup, login and refresh.
#[derive(Clone, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Session {
    pub user: User,
    pub tokens: Tokens,
}

/// An API key as listed (never the secret).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub access_key_id: String,
    pub permissions: Vec<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub revoked: bool,
}

/// A freshly created key: the only time its secret is shown.
#[derive(Deserialize)]
pub struct NewApiKey {
    #[serde(flatten)]
    pub info: ApiKeyInfo,
    pub key: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct ErasureConfig {
    pub data_shards: u32,
    pub parity_shards: u32,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct BucketInfo {
    pub bucket: String,
    pub visibility: String,
    pub erasure_config: ErasureConfig,
    pub created_at: String,
    pub object_count: u64,
    pub used_bytes: u64,
    #[serde(default)]
    pub owner_used_bytes: Option<u64>,
    #[serde(default)]
    pub quota_bytes: Option<u64>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Account {
    pub id: String,
    pub email: Option<String>,
    pub usage: Usage,
    pub quotas: Quotas,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Usage {
    pub storage_used_bytes: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Quotas {
    pub storage_bytes: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct GatewayInfo {
    pub grpc_port: u16,
    pub s3_path: String,
    pub chunk_size_bytes: u64,
}

/// HTTP access to one gateway.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
    api_key: Option<String>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Turn a non-success response into the gateway's error (JSON or S3 XML body).
async fn check(r: reqwest::Response) -> Result<reqwest::Response> {
    if r.status().is_success() {
        return Ok(r);
    }
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    let (code, message) = match serde_json::from_str::<Value>(&text) {
        Ok(v) => {
            let e = v.get("error").unwrap_or(&v);
            (
                e["code"].as_str().unwrap_or("").to_string(),
                e["message"].as_str().unwrap_or("").to_string(),
            )
        }
        Err(_) => (xml_field(&text, "Code"), xml_field(&text, "Message")),
    };
    Err(ClientError::Gateway {
        status,
        code: if code.is_empty() {
            format!("HTTP{status}")
        } else {
            code
        },
        message: if message.is_empty() {
            format!("the gateway answered {status}")
        } else {
            message
        },
    })
}

fn xml_field(text: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    text.find(&open)
        .and_then(|a| {
            let rest = &text[a + open.len()..];
            rest.find(&close).map(|b| rest[..b].to_string())
        })
        .unwrap_or_default()
}

impl Api {
    pub fn new(base: &str, api_key: Option<String>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .user_agent(concat!("cyxcloud/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Config(format!("HTTP client: {e}")))?;
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            http,
            api_key,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_deref()
    }

    pub fn with_api_key(&self, key: String) -> Self {
        Api {
            api_key: Some(key),
            ..self.clone()
        }
    }

    fn req(&self, m: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(m, format!("{}{path}", self.base));
        match &self.api_key {
            Some(k) => r.header("x-api-key", k),
            None => r,
        }
    }

    /// The API key, or the error that says how to configure one.
    pub(crate) fn require_key(&self) -> Result<&str> {
        self.api_key.as_deref().ok_or_else(|| {
            ClientError::Config(
                "no API key: run `cyxcloud configure`, `cyxcloud login`, or set CYXCLOUD_API_KEY"
                    .into(),
            )
        })
    }

    fn need_key(&self) -> Result<()> {
        self.require_key().map(|_| ())
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, r: reqwest::RequestBuilder) -> Result<T> {
        let r = check(r.header("accept", "application/json").send().await?).await?;
        r.json()
            .await
            .map_err(|e| ClientError::Integrity(format!("unexpected gateway answer: {e}")))
    }

    pub async fn info(&self) -> Result<GatewayInfo> {
        self.json(self.req(reqwest::Method::GET, "/api/v1/info"))
            .await
    }

    pub async fn signup(&self, email: &str, password: &str) -> Result<Session> {
        self.json(
            self.req(reqwest::Method::POST, "/api/v1/auth/signup")
                .json(&json!({ "email": email, "password": password })),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<Session> {
        self.json(
            self.req(reqwest::Method::POST, "/api/v1/auth/login")
                .json(&json!({ "email": email, "password": password })),
        )
        .await
    }

    pub async fn logout(&self, refresh_token: &str) -> Result<()> {
        let _: Value = self
            .json(
                self.req(reqwest::Method::POST, "/api/v1/auth/logout")
                    .json(&json!({ "refresh_token": refresh_token })),
            )
            .await?;
        Ok(())
    }

    /// Create an API key with a session token (after login) or with the configured key.
    pub async fn create_key(
        &self,
        bearer: Option<&str>,
        name: &str,
        permissions: &[&str],
        expires_at: Option<&str>,
    ) -> Result<NewApiKey> {
        let mut r = self
            .req(reqwest::Method::POST, "/api/v1/auth/api-keys")
            .json(&json!({
                "name": name, "permissions": permissions, "expires_at": expires_at,
            }));
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        } else {
            self.need_key()?;
        }
        self.json(r).await
    }

    pub async fn list_keys(&self) -> Result<Vec<ApiKeyInfo>> {
        self.need_key()?;
        #[derive(Deserialize)]
        struct L {
            keys: Vec<ApiKeyInfo>,
        }
        let l: L = self
            .json(self.req(reqwest::Method::GET, "/api/v1/auth/api-keys"))
            .await?;
        Ok(l.keys)
    }

    pub async fn revoke_key(&self, id: &str) -> Result<()> {
        self.need_key()?;
        let _: Value = self
            .json(self.req(
                reqwest::Method::DELETE,
                &format!("/api/v1/auth/api-keys/{id}"),
            ))
            .await?;
        Ok(())
    }

    pub async fn account(&self) -> Result<Account> {
        self.need_key()?;
        self.json(self.req(reqwest::Method::GET, "/api/v1/account"))
            .await
    }

    pub async fn key_record(&self) -> Result<Option<Value>> {
        self.need_key()?;
        let v: Value = self
            .json(self.req(reqwest::Method::GET, "/api/v1/account/key-record"))
            .await?;
        Ok(v.get("key_record").filter(|r| r.is_object()).cloned())
    }

    /// Store the first key record (the gateway keeps the first one written) and return the
    /// record now in force.
    pub async fn init_key_record(&self, record: &Value) -> Result<Option<Value>> {
        self.need_key()?;
        let v: Value = self
            .json(
                self.req(reqwest::Method::PUT, "/api/v1/account/key-record")
                    .json(&json!({ "key_record": record })),
            )
            .await?;
        Ok(v.get("key_record").filter(|r| r.is_object()).cloned())
    }

    pub async fn replace_key_record(&self, old: &Value, new: &Value) -> Result<()> {
        self.need_key()?;
        let _: Value = self
            .json(
                self.req(reqwest::Method::PUT, "/api/v1/account/key-record")
                    .json(&json!({ "key_record": new, "replaces": old })),
            )
            .await?;
        Ok(())
    }

    /// Storage nodes the gateway currently counts online.
    pub async fn nodes_online(&self) -> Result<usize> {
        self.need_key()?;
        let v: Value = self
            .json(self.req(reqwest::Method::GET, "/api/v1/nodes"))
            .await?;
        Ok(v["nodes"]
            .as_array()
            .map(|a| a.iter().filter(|n| n["status"] == "online").count())
            .unwrap_or(0))
    }

    pub async fn buckets(&self) -> Result<Vec<BucketInfo>> {
        self.need_key()?;
        #[derive(Deserialize)]
        struct L {
            buckets: Vec<BucketInfo>,
        }
        let l: L = self
            .json(self.req(reqwest::Method::GET, "/api/v1/buckets"))
            .await?;
        Ok(l.buckets)
    }

    pub async fn bucket(&self, bucket: &str) -> Result<BucketInfo> {
        self.need_key()?;
        self.json(self.req(
            reqwest::Method::GET,
            &format!("/api/v1/buckets/{}", enc(bucket)),
        ))
        .await
    }

    /// CreateBucket with the specification's JSON body.
    pub async fn create_bucket(
        &self,
        bucket: &str,
        public: bool,
        erasure: Option<(u32, u32)>,
    ) -> Result<()> {
        self.need_key()?;
        let mut body = json!({ "visibility": if public { "public" } else { "private" } });
        if let Some((k, m)) = erasure {
            body["erasure_config"] = json!({ "data_shards": k, "parity_shards": m });
        }
        let r = self
            .req(reqwest::Method::PUT, &format!("/s3/{}", enc(bucket)))
            .header("accept", "application/json")
            .json(&body)
            .send()
            .await?;
        check(r).await?;
        Ok(())
    }

    pub async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        self.need_key()?;
        let r = self
            .req(reqwest::Method::DELETE, &format!("/s3/{}", enc(bucket)))
            .header("accept", "application/json")
            .send()
            .await?;
        check(r).await?;
        Ok(())
    }

    /// GET an object through the S3 path (objects stored by plain S3 clients), optionally a
    /// byte range `[start, end)`.
    pub async fn s3_get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<reqwest::Response> {
        self.need_key()?;
        let mut r = self
            .req(
                reqwest::Method::GET,
                &format!("/s3/{}/{}", enc(bucket), enc_key(key)),
            )
            .header("accept", "application/json");
        if let Some((a, b)) = range {
            if b <= a {
                return Err(ClientError::InvalidArgument("empty range".into()));
            }
            r = r.header("range", format!("bytes={a}-{}", b - 1));
        }
        check(r.send().await?).await
    }
}

/// Everything but RFC 3986 unreserved characters is percent-encoded.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Encode a key for a URL path, keeping `/` separators.
fn enc_key(s: &str) -> String {
    s.split('/').map(enc).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_per_segment() {
        assert_eq!(enc_key("a b/c&d+e%/ü"), "a%20b/c%26d%2Be%25/%C3%BC");
        assert_eq!(
            xml_field("<Error><Code>NoSuchKey</Code></Error>", "Code"),
            "NoSuchKey"
        );
    }
}
