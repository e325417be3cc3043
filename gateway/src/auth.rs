//! Accounts and credentials: Argon2id passwords, HS256 access tokens with the
//! specification's claims, single-use rotating refresh tokens, API keys, wallet sign-in,
//! and sealing of the secrets the gateway must keep (SigV4 is symmetric, so the S3 secret
//! of an API key is kept sealed, never in the clear; lookups by `X-API-Key` use a hash).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead;
use serde::{Deserialize, Serialize};

use crate::db::{self, Db};
use crate::error::{GatewayError, Result};

pub const ISSUER: &str = "cyxcloud";
/// Wallet sign-in messages are accepted this long after their timestamp.
pub const WALLET_WINDOW_SECS: i64 = 300;

/// Who is making a request, and what they may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub can_read: bool,
    pub can_write: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet: Option<String>,
    pub permissions: Vec<String>,
    pub exp: u64,
    pub iat: u64,
    pub iss: String,
}

/// Key material derived from the configured secret.
pub struct Secrets {
    jwt_enc: jsonwebtoken::EncodingKey,
    jwt_dec: jsonwebtoken::DecodingKey,
    seal: aead::LessSafeKey,
    pub access_ttl: u64,
    pub refresh_ttl: u64,
    pub key_prefix: String,
}

fn derive(secret: &[u8], info: &[u8]) -> [u8; 32] {
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"cyxcloud-gateway-v1"), secret);
    let mut out = [0u8; 32];
    hk.expand(info, &mut out)
        .expect("32 bytes is a valid HKDF output length");
    out
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("operating system random number generator failed");
    b
}

/// Random characters from `alphabet`, without modulo bias.
fn random_chars(alphabet: &[u8], n: usize) -> String {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random_bytes::<64>() {
            let limit = 256 - 256 % alphabet.len();
            if (b as usize) < limit && out.len() < n {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

const BASE62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Compare two byte strings in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Hash of a high-entropy token (API key, refresh token) for lookup. Tokens carry 190+
/// random bits, so a fast hash is as safe as a slow one here.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

impl Secrets {
    pub fn new(secret: &str, access_ttl: u64, refresh_ttl: u64, key_prefix: &str) -> Self {
        let jwt = derive(secret.as_bytes(), b"jwt-hs256");
        let seal = derive(secret.as_bytes(), b"seal-aes-256-gcm");
        Secrets {
            jwt_enc: jsonwebtoken::EncodingKey::from_secret(&jwt),
            jwt_dec: jsonwebtoken::DecodingKey::from_secret(&jwt),
            seal: aead::LessSafeKey::new(
                aead::UnboundKey::new(&aead::AES_256_GCM, &seal).expect("32-byte key"),
            ),
            access_ttl,
            refresh_ttl,
            key_prefix: key_prefix.to_string(),
        }
    }

    /// Encrypt a secret for storage, bound to `label`.
    pub fn seal(&self, label: &str, plain: &[u8]) -> Vec<u8> {
        let nonce = random_bytes::<12>();
        let mut buf = plain.to_vec();
        self.seal
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(label.as_bytes()),
                &mut buf,
            )
            .expect("sealing a small buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        out
    }

    pub fn open(&self, label: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < 12 + 16 {
            return Err(GatewayError::Internal("sealed value too short".into()));
        }
        let nonce: [u8; 12] = sealed[..12].try_into().expect("12 bytes");
        let mut buf = sealed[12..].to_vec();
        let plain = self
            .seal
            .open_in_place(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(label.as_bytes()),
                &mut buf,
            )
            .map_err(|_| {
                GatewayError::Internal(
                    "cannot unseal a stored secret (was the JWT secret changed?)".into(),
                )
            })?;
        Ok(plain.to_vec())
    }

    pub fn access_token(&self, user: &db::User) -> String {
        let now = db::now() as u64;
        let claims = Claims {
            sub: user.id.clone(),
            email: user.email.clone(),
            wallet: user.wallet_address.clone(),
            permissions: vec!["read".into(), "write".into()],
            exp: now + self.access_ttl,
            iat: now,
            iss: ISSUER.into(),
        };
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &self.jwt_enc)
            .expect("HS256 encoding cannot fail")
    }

    pub fn verify_access(&self, token: &str) -> Result<Principal> {
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.set_issuer(&[ISSUER]);
        v.leeway = 5;
        let data = jsonwebtoken::decode::<Claims>(token, &self.jwt_dec, &v)
            .map_err(|e| GatewayError::Unauthenticated(format!("access token: {e}")))?;
        let p = &data.claims.permissions;
        Ok(Principal {
            user_id: data.claims.sub,
            can_read: p.iter().any(|x| x == "read"),
            can_write: p.iter().any(|x| x == "write"),
        })
    }
}

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::encode_b64(&random_bytes::<16>())
        .map_err(|e| GatewayError::Internal(e.to_string()))?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| GatewayError::Internal(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

#[derive(Serialize, Deserialize, Debug)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

/// Issue an access token and a fresh refresh token.
pub async fn issue_tokens(db: &Db, s: &Secrets, user: &db::User) -> Result<TokenPair> {
    let refresh = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    db.insert_refresh(
        &token_hash(&refresh),
        &user.id,
        db::now() + s.refresh_ttl as i64,
    )
    .await?;
    Ok(TokenPair {
        access_token: s.access_token(user),
        refresh_token: refresh,
        expires_in: s.access_ttl,
    })
}

/// A freshly created API key: shown once.
#[derive(Debug)]
pub struct NewKey {
    pub key: String,
    pub access_key_id: String,
    pub record: db::ApiKey,
}

pub async fn create_api_key(
    db: &Db,
    s: &Secrets,
    user_id: &str,
    name: &str,
    can_read: bool,
    can_write: bool,
    expires_at: Option<i64>,
) -> Result<NewKey> {
    let key = format!("{}live_{}", s.key_prefix, random_chars(BASE62, 40));
    let access_key_id = format!("CYX{}", random_chars(UPPER_ALNUM, 17));
    let sealed = s.seal(&access_key_id, key.as_bytes());
    let record = db
        .insert_api_key(
            user_id,
            name,
            &token_hash(&key),
            &access_key_id,
            &sealed,
            can_read,
            can_write,
            expires_at,
        )
        .await?;
    Ok(NewKey {
        key,
        access_key_id,
        record,
    })
}

fn key_usable(k: &db::ApiKey) -> Result<()> {
    if k.revoked_at.is_some() {
        return Err(GatewayError::Unauthenticated("API key was revoked".into()));
    }
    if let Some(e) = k.expires_at
        && e <= db::now()
    {
        return Err(GatewayError::Unauthenticated("API key expired".into()));
    }
    Ok(())
}

pub async fn principal_for_api_key(db: &Db, key: &str) -> Result<Principal> {
    let k = db
        .api_key_by_hash(&token_hash(key))
        .await?
        .ok_or_else(|| GatewayError::Unauthenticated("unknown API key".into()))?;
    key_usable(&k)?;
    Ok(Principal {
        user_id: k.user_id,
        can_read: k.can_read,
        can_write: k.can_write,
    })
}

/// The caller named by a Bearer token (in the raw `Authorization` value) or an API key,
/// `None` when the request carries neither. Invalid credentials are an error, never
/// anonymous access. Every front end (S3, REST, gRPC) authenticates through this.
pub async fn bearer_or_api_key(
    db: &Db,
    secrets: &Secrets,
    authorization: Option<&str>,
    api_key: Option<&str>,
) -> Result<Option<Principal>> {
    if let Some(t) = authorization.and_then(|v| v.strip_prefix("Bearer ")) {
        return secrets.verify_access(t.trim()).map(Some);
    }
    match api_key {
        Some(k) => principal_for_api_key(db, k.trim()).await.map(Some),
        None => Ok(None),
    }
}

/// The principal and SigV4 secret of an access key id.
pub async fn sigv4_secret(
    db: &Db,
    s: &Secrets,
    access_key_id: &str,
) -> Result<(Principal, String)> {
    let k = db
        .api_key_by_access_id(access_key_id)
        .await?
        .ok_or(GatewayError::InvalidAccessKeyId)?;
    key_usable(&k)?;
    let secret = String::from_utf8(s.open(&k.access_key_id, &k.sealed_secret)?)
        .map_err(|_| GatewayError::Internal("sealed secret is not UTF-8".into()))?;
    Ok((
        Principal {
            user_id: k.user_id,
            can_read: k.can_read,
            can_write: k.can_write,
        },
        secret,
    ))
}

/// Check a wallet sign-in: the message must be "Sign in to CyxCloud at <RFC 3339 time>"
/// within the last five minutes, signed (Ed25519) by the base58 Solana address, and never
/// used before.
pub async fn verify_wallet_login(
    db: &Db,
    wallet: &str,
    message: &str,
    signature_b64: &str,
) -> Result<()> {
    let bad = |m: &str| GatewayError::WalletMismatch(m.to_string());
    let ts = message
        .strip_prefix("Sign in to CyxCloud at ")
        .ok_or_else(|| bad("message must be \"Sign in to CyxCloud at <RFC 3339 time>\""))?;
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad("message time is not RFC 3339"))?;
    let age = db::now() - t.unix_timestamp();
    if !(-30..=WALLET_WINDOW_SECS).contains(&age) {
        return Err(bad("message is older than five minutes or in the future"));
    }
    let pk: [u8; 32] = bs58::decode(wallet)
        .into_vec()
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| bad("wallet address is not a base58 Ed25519 public key"))?;
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&pk).map_err(|_| bad("invalid public key"))?;
    let sig_bytes = STANDARD
        .decode(signature_b64)
        .ok()
        .or_else(|| bs58::decode(signature_b64).into_vec().ok())
        .ok_or_else(|| bad("signature is neither base64 nor base58"))?;
    let sig =
        ed25519_dalek::Signature::from_slice(&sig_bytes).map_err(|_| bad("signature length"))?;
    vk.verify_strict(message.as_bytes(), &sig)
        .map_err(|_| bad("signature does not match the wallet"))?;
    if !db.use_wallet_signature(&hex::encode(sig_bytes)).await? {
        return Err(bad("this signature was already used"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets::new("test-secret-0123456789", 3600, 86400, "cyxk_")
    }

    #[test]
    fn access_tokens_round_trip_and_reject_tampering() {
        let s = secrets();
        let u = db::User {
            id: "user-1".into(),
            email: Some("a@b.c".into()),
            password_hash: None,
            wallet_address: None,
            quota_bytes: 1,
            created_at: 0,
        };
        let t = s.access_token(&u);
        let p = s.verify_access(&t).unwrap();
        assert_eq!(p.user_id, "user-1");
        assert!(p.can_read && p.can_write);
        let mut forged = t.clone();
        forged.pop();
        forged.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert!(s.verify_access(&forged).is_err());
        let other = Secrets::new("another-secret-0123456789", 3600, 86400, "cyxk_");
        assert!(other.verify_access(&t).is_err());
    }

    #[test]
    fn sealing_binds_the_label() {
        let s = secrets();
        let sealed = s.seal("AKID1", b"secret");
        assert_eq!(s.open("AKID1", &sealed).unwrap(), b"secret");
        assert!(s.open("AKID2", &sealed).is_err());
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn passwords() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn random_chars_use_the_alphabet() {
        let s = random_chars(UPPER_ALNUM, 100);
        assert_eq!(s.len(), 100);
        assert!(s.bytes().all(|b| UPPER_ALNUM.contains(&b)));
    }
}
