//! The account's encryption key: where it comes from and how a wrong one is caught early.
//!
//! The master key is either derived from the user's passphrase with Argon2id, or a raw
//! self-managed 256-bit key (CYXCLOUD_KEY, 64 hex digits). The gateway stores a *key record*
//! for the account — the Argon2id salt and parameters and the key id (an HKDF output that
//! reveals nothing of the key) — so the same passphrase opens the same data on any machine,
//! and a wrong passphrase is refused before any download starts instead of producing garbage.
//! After a successful unlock the master key is cached in the OS keyring.

use cyxcloud_core::keys::{KdfParams, KeyEncryptionKey, MasterKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::Api;
use crate::error::{ClientError, Result};
use crate::secrets::{Passphrase, SecretName, SecretStore};

pub const KEY_RECORD_VERSION: u32 = 1;

/// What the gateway keeps about the account's key (never the key).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct KeyRecord {
    pub version: u32,
    /// "passphrase" or "raw".
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kdf: Option<KdfParams>,
    /// Hex key id of the derived key-encryption key.
    pub key_id: String,
}

impl KeyRecord {
    fn parse(v: &Value) -> Result<Self> {
        let r: KeyRecord = serde_json::from_value(v.clone())
            .map_err(|e| ClientError::Integrity(format!("the account's key record: {e}")))?;
        if r.version > KEY_RECORD_VERSION {
            return Err(ClientError::Config(format!(
                "the account's key record is version {}, newer than this cyxcloud",
                r.version
            )));
        }
        Ok(r)
    }
}

async fn derive(pass: &str, kdf: &KdfParams) -> Result<MasterKey> {
    let (p, kdf) = (zeroize::Zeroizing::new(pass.to_string()), kdf.clone());
    tokio::task::spawn_blocking(move || MasterKey::from_passphrase(p.as_bytes(), &kdf))
        .await
        .map_err(|e| ClientError::Config(format!("key derivation: {e}")))?
        .map_err(Into::into)
}

fn mismatch(record: &KeyRecord, how: &str) -> ClientError {
    ClientError::WrongKey(format!(
        "the {how} does not match this account's key (key id {}); check the passphrase",
        record.key_id
    ))
}

/// Unlock the account's key-encryption key.
pub async fn unlock(api: &Api, store: &SecretStore, pass: &Passphrase) -> Result<KeyEncryptionKey> {
    let record = match api.key_record().await? {
        Some(v) => Some(KeyRecord::parse(&v)?),
        None => None,
    };
    // 1. A self-managed raw key.
    if let Ok(hex) = std::env::var("CYXCLOUD_KEY") {
        let kek = MasterKey::from_hex(&hex)
            .map_err(|_| ClientError::NoKey("CYXCLOUD_KEY must be 64 hex digits".into()))?
            .derive();
        return match record {
            Some(r) if r.key_id != kek.id().to_string() => Err(mismatch(&r, "key in CYXCLOUD_KEY")),
            Some(_) => Ok(kek),
            // A raw key never loses a race quietly: another record is a mismatch.
            None => establish(api, "raw", None, kek)
                .await?
                .ok_or_else(|| ClientError::WrongKey("the account has another key".into())),
        };
    }
    // 2. A cached master key that still matches the account's record (unless a passphrase
    //    is given explicitly, which always wins).
    let explicit = std::env::var("CYXCLOUD_PASSPHRASE").is_ok_and(|p| !p.is_empty());
    if let (Some(r), false) = (&record, explicit)
        && let Some(cached) = store.get(SecretName::MasterKey, pass).ok().flatten()
    {
        if let Ok(m) = MasterKey::from_hex(cached.expose()) {
            let kek = m.derive();
            if kek.id().to_string() == r.key_id {
                return Ok(kek);
            }
        }
        // Rotated elsewhere: forget it and ask again.
        let _ = store.delete(SecretName::MasterKey, pass);
    }
    // 3. The passphrase.
    let p = pass.get("encryption passphrase")?.ok_or_else(|| {
        ClientError::NoKey(
            "set CYXCLOUD_PASSPHRASE (or CYXCLOUD_KEY for a raw key), or run interactively".into(),
        )
    })?;
    let (master, kek) = match record {
        Some(r) => {
            let kdf = r.kdf.clone().ok_or_else(|| {
                ClientError::WrongKey(
                    "this account uses a raw key: set CYXCLOUD_KEY instead of a passphrase".into(),
                )
            })?;
            let m = derive(&p, &kdf).await?;
            let kek = m.derive();
            if kek.id().to_string() != r.key_id {
                return Err(mismatch(&r, "passphrase"));
            }
            (m, kek)
        }
        None => {
            let kdf = KdfParams::recommended();
            let m = derive(&p, &kdf).await?;
            let kek = m.derive();
            match establish(api, "passphrase", Some(kdf), kek).await? {
                Some(k) => (m, k),
                // Another machine set the account up first with its own salt: use that one.
                None => return Box::pin(unlock(api, store, pass)).await,
            }
        }
    };
    if store.backend_name() == "keyring" {
        let hex = zeroize::Zeroizing::new(hex::encode(master.expose()));
        if let Err(e) = store.set(SecretName::MasterKey, &hex, pass) {
            tracing::debug!(error = %e, "could not cache the master key");
        }
    }
    Ok(kek)
}

/// Publish the account's first key record; `None` when another passphrase record won a race.
async fn establish(
    api: &Api,
    kind: &str,
    kdf: Option<KdfParams>,
    kek: KeyEncryptionKey,
) -> Result<Option<KeyEncryptionKey>> {
    let mine = KeyRecord {
        version: KEY_RECORD_VERSION,
        kind: kind.into(),
        kdf,
        key_id: kek.id().to_string(),
    };
    let v = serde_json::to_value(&mine).map_err(|e| ClientError::Integrity(e.to_string()))?;
    let stored = api.init_key_record(&v).await?;
    match stored.map(|s| KeyRecord::parse(&s)).transpose()? {
        Some(r) if r == mine => Ok(Some(kek)),
        Some(r) if r.kind == "raw" || kind == "raw" => Err(mismatch(&r, "key")),
        Some(_) => Ok(None),
        None => Err(ClientError::Integrity(
            "the gateway did not keep the key record".into(),
        )),
    }
}
