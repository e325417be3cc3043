//! Where the client keeps secrets: the API key, the refresh token and the cached master key.
//!
//! - `keyring`: the OS keyring through the keyring crate; on Linux the kernel's keyutils store,
//!   which works without D-Bus or a desktop session.
//! - `file`: `<home>/secrets.enc`, mode 0600, AES-256-GCM under a key Argon2id derives from
//!   the passphrase (with the file's own salt), for machines where no keyring works.
//! - `auto` (default): the file when it exists, else the keyring when it answers, else the file.
//!
//! Values never reach logs: [`Secret`] redacts itself in `Debug`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use cyxcloud_core::crypto::{self, NONCE_LEN, TAG_LEN};
use cyxcloud_core::keys::{KdfParams, MasterKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::config::{Settings, write_atomic};
use crate::error::{ClientError, Result};

/// The secrets the client stores, per profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretName {
    ApiKey,
    RefreshToken,
    /// The account master key (hex), cached so the passphrase is not asked every time.
    MasterKey,
}

impl SecretName {
    fn as_str(self) -> &'static str {
        match self {
            SecretName::ApiKey => "api_key",
            SecretName::RefreshToken => "refresh_token",
            SecretName::MasterKey => "master_key",
        }
    }
}

/// A secret value, zeroed on drop and redacted in `Debug`.
pub struct Secret(pub Zeroizing<String>);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Asks for the passphrase once per process: CYXCLOUD_PASSPHRASE, else the prompt (set by an
/// interactive front end), else nothing.
#[derive(Default)]
pub struct Passphrase {
    cached: Mutex<Option<Zeroizing<String>>>,
    prompt: Option<fn(&str) -> std::io::Result<String>>,
}

impl Passphrase {
    pub fn new(prompt: Option<fn(&str) -> std::io::Result<String>>) -> Self {
        Passphrase {
            cached: Mutex::new(None),
            prompt,
        }
    }

    /// A fixed passphrase (tests, scripts that read it from elsewhere).
    pub fn fixed(p: &str) -> Self {
        Passphrase {
            cached: Mutex::new(Some(Zeroizing::new(p.to_string()))),
            prompt: None,
        }
    }

    pub fn get(&self, why: &str) -> Result<Option<Zeroizing<String>>> {
        let mut c = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = c.as_ref() {
            return Ok(Some(p.clone()));
        }
        let p = match std::env::var("CYXCLOUD_PASSPHRASE") {
            Ok(p) if !p.is_empty() => Some(Zeroizing::new(p)),
            _ => match self.prompt {
                Some(f) => Some(Zeroizing::new(
                    f(why).map_err(|e| ClientError::io("reading the passphrase", e))?,
                )),
                None => None,
            },
        };
        if let Some(p) = &p
            && p.is_empty()
        {
            return Err(ClientError::NoKey("the passphrase is empty".into()));
        }
        *c = p.clone();
        Ok(p)
    }
}

enum Backend {
    Keyring { service: String },
    File { path: PathBuf },
}

pub struct SecretStore {
    backend: Backend,
    profile: String,
}

/// Format version of secrets.enc.
const FILE_VERSION: u32 = 1;
const FILE_AAD: &[u8] = b"cyxcloud-secrets-v1";

#[derive(Serialize, Deserialize)]
struct SealedFile {
    version: u32,
    kdf: KdfParams,
    nonce: String,
    sealed: String,
}

impl SecretStore {
    /// Choose the backend as configured.
    pub fn open(settings: &Settings) -> Result<Self> {
        let path = settings.home.join("secrets.enc");
        // Keyring entries are per config home, so two homes (two users of one uid, tests)
        // never see each other's secrets.
        let service = format!(
            "cyxcloud:{}",
            &blake3::hash(settings.home.to_string_lossy().as_bytes()).to_hex()[..12]
        );
        let backend = match settings.secret_store.as_str() {
            "keyring" => Backend::Keyring { service },
            "file" => Backend::File { path },
            "auto" => {
                if path.exists() || !keyring_works(&service) {
                    Backend::File { path }
                } else {
                    Backend::Keyring { service }
                }
            }
            o => {
                return Err(ClientError::Config(format!(
                    "secret_store {o:?} is not one of auto, keyring, file"
                )));
            }
        };
        Ok(SecretStore {
            backend,
            profile: settings.profile.clone(),
        })
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Keyring { .. } => "keyring",
            Backend::File { .. } => "file",
        }
    }

    fn entry_name(&self, name: SecretName) -> String {
        format!("{}:{}", self.profile, name.as_str())
    }

    pub fn get(&self, name: SecretName, pass: &Passphrase) -> Result<Option<Secret>> {
        let n = self.entry_name(name);
        match &self.backend {
            Backend::Keyring { service } => {
                let e = keyring::Entry::new(service, &n).map_err(keyring_err)?;
                match e.get_password() {
                    Ok(v) => Ok(Some(Secret(Zeroizing::new(v)))),
                    Err(keyring::Error::NoEntry) => Ok(None),
                    Err(e) => Err(keyring_err(e)),
                }
            }
            Backend::File { path } => {
                let Some(map) = read_file(path, pass)? else {
                    return Ok(None);
                };
                Ok(map.get(&n).map(|v| Secret(Zeroizing::new(v.clone()))))
            }
        }
    }

    pub fn set(&self, name: SecretName, value: &str, pass: &Passphrase) -> Result<()> {
        let n = self.entry_name(name);
        match &self.backend {
            Backend::Keyring { service } => keyring::Entry::new(service, &n)
                .and_then(|e| e.set_password(value))
                .map_err(keyring_err),
            Backend::File { path } => {
                let mut map = read_file(path, pass)?.unwrap_or_default();
                map.insert(n, value.to_string());
                write_file(path, &map, pass)
            }
        }
    }

    pub fn delete(&self, name: SecretName, pass: &Passphrase) -> Result<()> {
        let n = self.entry_name(name);
        match &self.backend {
            Backend::Keyring { service } => {
                match keyring::Entry::new(service, &n).and_then(|e| e.delete_credential()) {
                    Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                    Err(e) => Err(keyring_err(e)),
                }
            }
            Backend::File { path } => {
                let Some(mut map) = read_file(path, pass)? else {
                    return Ok(());
                };
                if map.remove(&n).is_some() {
                    write_file(path, &map, pass)?;
                }
                Ok(())
            }
        }
    }
}

fn keyring_err(e: keyring::Error) -> ClientError {
    ClientError::Secrets(format!("OS keyring: {e}"))
}

/// Whether the keyring answers at all (a missing entry is an answer).
fn keyring_works(service: &str) -> bool {
    match keyring::Entry::new(service, "probe").and_then(|e| e.get_password()) {
        Ok(_) | Err(keyring::Error::NoEntry) => true,
        Err(e) => {
            tracing::debug!(error = %e, "OS keyring unavailable; using the encrypted file");
            false
        }
    }
}

type Map = BTreeMap<String, String>;

fn file_key(pass: &Passphrase, kdf: &KdfParams) -> Result<MasterKey> {
    let p = pass
        .get("passphrase for the CyxCloud secrets file")?
        .ok_or_else(|| {
            ClientError::NoKey(
                "no OS keyring is available, so secrets are kept in a file sealed with your \
             passphrase: set CYXCLOUD_PASSPHRASE or run interactively"
                    .into(),
            )
        })?;
    Ok(MasterKey::from_passphrase(p.as_bytes(), kdf)?)
}

fn read_file(path: &std::path::Path, pass: &Passphrase) -> Result<Option<Map>> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ClientError::io(format!("reading {}", path.display()), e)),
    };
    let bad = |m: &str| ClientError::Secrets(format!("{}: {m}", path.display()));
    let f: SealedFile = serde_json::from_slice(&text).map_err(|e| bad(&e.to_string()))?;
    if f.version != FILE_VERSION {
        return Err(bad(&format!("unknown format version {}", f.version)));
    }
    let key = file_key(pass, &f.kdf)?;
    let nonce: [u8; NONCE_LEN] = hex::decode(&f.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(|| bad("bad nonce"))?;
    let mut sealed = Zeroizing::new(hex::decode(&f.sealed).map_err(|_| bad("bad ciphertext"))?);
    let plain =
        crypto::open_in_place(key.expose(), &nonce, FILE_AAD, &mut sealed).map_err(|_| {
            ClientError::WrongKey(format!("the passphrase does not open {}", path.display()))
        })?;
    let map = serde_json::from_slice(plain).map_err(|e| bad(&e.to_string()))?;
    Ok(Some(map))
}

fn write_file(path: &std::path::Path, map: &Map, pass: &Passphrase) -> Result<()> {
    let kdf = KdfParams::recommended();
    let key = file_key(pass, &kdf)?;
    let nonce = crypto::random_nonce();
    let mut buf =
        Zeroizing::new(serde_json::to_vec(map).map_err(|e| ClientError::Secrets(e.to_string()))?);
    let tag = crypto::seal_in_place(key.expose(), &nonce, FILE_AAD, &mut buf);
    let mut sealed = buf.to_vec();
    sealed.extend_from_slice(&tag);
    debug_assert_eq!(sealed.len(), buf.len() + TAG_LEN);
    let f = SealedFile {
        version: FILE_VERSION,
        kdf,
        nonce: hex::encode(nonce),
        sealed: hex::encode(&sealed),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ClientError::io(format!("creating {}", dir.display()), e))?;
    }
    let json = serde_json::to_vec_pretty(&f).map_err(|e| ClientError::Secrets(e.to_string()))?;
    write_atomic(path, &json, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(home: &std::path::Path, store: &str) -> Settings {
        Settings {
            home: home.to_path_buf(),
            profile: "default".into(),
            gateway_url: "http://127.0.0.1:1".into(),
            grpc_url: None,
            default_bucket: None,
            max_connections: 4,
            secret_store: store.into(),
        }
    }

    #[test]
    fn file_store_round_trips_is_private_and_refuses_a_wrong_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let s = SecretStore::open(&settings(dir.path(), "file")).unwrap();
        let p = Passphrase::fixed("correct horse battery staple");
        assert!(s.get(SecretName::ApiKey, &p).unwrap().is_none());
        s.set(SecretName::ApiKey, "cyxk_live_secretvalue", &p)
            .unwrap();
        s.set(SecretName::RefreshToken, "rt", &p).unwrap();
        assert_eq!(
            s.get(SecretName::ApiKey, &p).unwrap().unwrap().expose(),
            "cyxk_live_secretvalue"
        );
        let raw = std::fs::read(dir.path().join("secrets.enc")).unwrap();
        assert!(
            !raw.windows(10).any(|w| w == b"secretvalu"),
            "stored in clear"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("secrets.enc"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let wrong = Passphrase::fixed("not it");
        assert!(matches!(
            s.get(SecretName::ApiKey, &wrong),
            Err(ClientError::WrongKey(_))
        ));
        s.delete(SecretName::ApiKey, &p).unwrap();
        assert!(s.get(SecretName::ApiKey, &p).unwrap().is_none());
        assert_eq!(
            s.get(SecretName::RefreshToken, &p)
                .unwrap()
                .unwrap()
                .expose(),
            "rt"
        );
        assert_eq!(
            format!(
                "{:?}",
                s.get(SecretName::RefreshToken, &p).unwrap().unwrap()
            ),
            "Secret(<redacted>)"
        );
    }

    #[test]
    fn file_store_without_any_passphrase_says_how_to_give_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = SecretStore::open(&settings(dir.path(), "file")).unwrap();
        // Only meaningful when the environment does not supply one.
        if std::env::var_os("CYXCLOUD_PASSPHRASE").is_none() {
            let e = s
                .set(SecretName::ApiKey, "x", &Passphrase::new(None))
                .unwrap_err();
            assert!(e.to_string().contains("CYXCLOUD_PASSPHRASE"), "{e}");
        }
    }

    #[test]
    fn auto_uses_the_os_keyring_when_it_answers_and_the_file_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let s = SecretStore::open(&settings(dir.path(), "auto")).unwrap();
        let p = Passphrase::fixed("pass phrase for the fallback");
        let service = match &s.backend {
            Backend::Keyring { service } => service.clone(),
            Backend::File { .. } => {
                // No keyring on this machine: the fallback must carry the secrets.
                s.set(SecretName::ApiKey, "cyxk_live_fallback", &p).unwrap();
                assert!(dir.path().join("secrets.enc").exists());
                return;
            }
        };
        assert!(keyring_works(&service));
        s.set(SecretName::ApiKey, "cyxk_live_in_keyring", &p)
            .unwrap();
        assert_eq!(
            s.get(SecretName::ApiKey, &p).unwrap().unwrap().expose(),
            "cyxk_live_in_keyring"
        );
        assert!(!dir.path().join("secrets.enc").exists(), "nothing on disk");
        // Another config home is another keyring namespace.
        let other = tempfile::tempdir().unwrap();
        let s2 = SecretStore::open(&settings(other.path(), "keyring")).unwrap();
        assert!(s2.get(SecretName::ApiKey, &p).unwrap().is_none());
        s.delete(SecretName::ApiKey, &p).unwrap();
        assert!(s.get(SecretName::ApiKey, &p).unwrap().is_none());
    }

    #[test]
    fn unknown_store_kinds_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(SecretStore::open(&settings(dir.path(), "plaintext")).is_err());
    }
}
