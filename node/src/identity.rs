//! The node's Ed25519 identity: created on first start in the data directory (mode 0600)
//! and kept. The node id and a libp2p-style peer id derive from its public key; grants name
//! the node by that key.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

pub const IDENTITY_FILE: &str = "identity.key";
const IDENTITY_HEADER: &str = "cyxcloud-node-identity-v1\n";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("identity file {path}: {message}")]
    Invalid { path: String, message: String },
    #[error("identity file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub struct Identity {
    key: SigningKey,
}

impl Identity {
    pub fn generate() -> Self {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("operating system random number generator failed");
        Identity {
            key: SigningKey::from_bytes(&secret),
        }
    }

    /// Load `dir/identity.key`, creating it (0600) on first start.
    pub fn load_or_create(dir: &Path) -> Result<Self, IdentityError> {
        let path = dir.join(IDENTITY_FILE);
        let p = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let hex_key =
                    text.strip_prefix(IDENTITY_HEADER)
                        .ok_or_else(|| IdentityError::Invalid {
                            path: p.clone(),
                            message: "unknown format".into(),
                        })?;
                let mut secret = [0u8; 32];
                hex::decode_to_slice(hex_key.trim(), &mut secret).map_err(|e| {
                    IdentityError::Invalid {
                        path: p.clone(),
                        message: e.to_string(),
                    }
                })?;
                Ok(Identity {
                    key: SigningKey::from_bytes(&secret),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|source| IdentityError::Io {
                    path: p.clone(),
                    source,
                })?;
                let id = Self::generate();
                // Write to a temporary file and rename, so a crash never leaves half a key.
                let tmp = dir.join(format!("{IDENTITY_FILE}.tmp"));
                let write = || -> std::io::Result<()> {
                    let mut f = open_private(&tmp)?;
                    f.write_all(IDENTITY_HEADER.as_bytes())?;
                    f.write_all(hex::encode(id.key.to_bytes()).as_bytes())?;
                    f.write_all(b"\n")?;
                    f.sync_all()?;
                    std::fs::rename(&tmp, &path)?;
                    std::fs::File::open(dir)?.sync_all()
                };
                write().map_err(|source| IdentityError::Io { path: p, source })?;
                Ok(id)
            }
            Err(source) => Err(IdentityError::Io { path: p, source }),
        }
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The default node id: "node-" and 16 hex digits of BLAKE3(public key).
    pub fn derived_node_id(&self) -> String {
        let h = blake3::hash(&self.public_key_bytes());
        format!("node-{}", &h.to_hex()[..16])
    }

    /// The libp2p peer id of this key: base58 of the identity multihash of the protobuf
    /// encoded Ed25519 public key, so it reads "12D3KooW...".
    pub fn peer_id(&self) -> String {
        let mut mh = Vec::with_capacity(38);
        mh.extend_from_slice(&[0x00, 36]); // multihash: identity, 36 bytes
        mh.extend_from_slice(&[0x08, 0x01, 0x12, 0x20]); // PublicKey { type: Ed25519, data: 32 bytes }
        mh.extend_from_slice(&self.public_key_bytes());
        bs58::encode(mh).into_string()
    }

    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(path)
}

pub use cyxcloud_proto::registration_message;

/// Parse a 64-hex-digit Ed25519 public key.
pub fn parse_public_key(s: &str) -> Result<VerifyingKey, String> {
    let mut b = [0u8; 32];
    hex::decode_to_slice(s.trim(), &mut b).map_err(|e| format!("expected 64 hex digits: {e}"))?;
    VerifyingKey::from_bytes(&b).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_created_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(dir.path()).unwrap();
        let b = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.public_key_bytes(), b.public_key_bytes());
        assert!(a.peer_id().starts_with("12D3KooW"), "{}", a.peer_id());
        assert!(a.derived_node_id().starts_with("node-"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(IDENTITY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(IDENTITY_FILE), "garbage").unwrap();
        assert!(Identity::load_or_create(dir.path()).is_err());
    }
}
