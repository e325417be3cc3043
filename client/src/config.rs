//! `~/.cyxcloud/config.toml`: named profiles with the gateway URL and defaults. Secrets never
//! live here (see [`crate::secrets`]). Resolution order for every setting: command-line flag,
//! then environment variable, then the profile in the file, then the built-in default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};

/// The default gateway for a fresh install: the local network `cyxcloud dev` starts.
pub const DEFAULT_GATEWAY: &str = "http://127.0.0.1:8080";
pub const DEFAULT_PROFILE: &str = "default";
/// Format version of config.toml.
pub const CONFIG_VERSION: u32 = 1;

/// The whole config file.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ConfigFile {
    /// File format version (1).
    #[serde(default = "config_version")]
    pub version: u32,
    /// Profile used when neither `--profile` nor CYXCLOUD_PROFILE names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
}

fn config_version() -> u32 {
    CONFIG_VERSION
}

/// One named profile.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    /// Gateway base URL, e.g. `https://gateway.cyxwiz.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_url: Option<String>,
    /// Gateway gRPC URL; asked from the gateway (`/api/v1/info`) when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_url: Option<String>,
    /// Bucket used when a command names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_bucket: Option<String>,
    /// Account e-mail, for display and `login`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Upper bound on concurrent shard transfers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Where secrets live: "auto" (OS keyring, else an encrypted file), "keyring" or "file".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_store: Option<String>,
}

/// The directory holding config.toml and the secrets file: CYXCLOUD_HOME or ~/.cyxcloud.
pub fn home_dir() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os("CYXCLOUD_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ClientError::Config("HOME is not set; set CYXCLOUD_HOME".into()))?;
    Ok(PathBuf::from(home).join(".cyxcloud"))
}

impl ConfigFile {
    pub fn path(home: &Path) -> PathBuf {
        home.join("config.toml")
    }

    /// Read the file; a missing file is an empty configuration.
    pub fn load(home: &Path) -> Result<Self> {
        let path = Self::path(home);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(ClientError::io(format!("reading {}", path.display()), e)),
        };
        let cfg: ConfigFile = toml::from_str(&text)
            .map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
        if cfg.version > CONFIG_VERSION {
            return Err(ClientError::Config(format!(
                "{} is format version {}, newer than this cyxcloud understands ({CONFIG_VERSION})",
                path.display(),
                cfg.version
            )));
        }
        Ok(cfg)
    }

    /// Write atomically (temporary file, fsync, rename) so a crash never leaves half a file.
    pub fn save(&self, home: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(home)
            .map_err(|e| ClientError::io(format!("creating {}", home.display()), e))?;
        let path = Self::path(home);
        let mut me = self.clone();
        me.version = CONFIG_VERSION;
        let text = toml::to_string_pretty(&me)
            .map_err(|e| ClientError::Config(format!("serialising config: {e}")))?;
        write_atomic(&path, text.as_bytes(), 0o644)?;
        Ok(path)
    }

    pub fn profile_mut(&mut self, name: &str) -> &mut Profile {
        self.profiles.entry(name.to_string()).or_default()
    }
}

/// Write a file atomically with the given mode.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let what = || format!("writing {}", path.display());
    let mut f = opts.open(&tmp).map_err(|e| ClientError::io(what(), e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| ClientError::io(what(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| ClientError::io(what(), e))?;
    Ok(())
}

/// Settings after flags, environment and file are combined.
#[derive(Clone, Debug)]
pub struct Settings {
    pub home: PathBuf,
    pub profile: String,
    pub gateway_url: String,
    pub grpc_url: Option<String>,
    pub default_bucket: Option<String>,
    pub max_connections: usize,
    pub secret_store: String,
}

/// Flag values that override everything else (None: not given).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub profile: Option<String>,
    pub gateway_url: Option<String>,
    pub max_connections: Option<usize>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Settings {
    pub fn resolve(o: &Overrides) -> Result<Self> {
        let home = home_dir()?;
        let file = ConfigFile::load(&home)?;
        let profile = o
            .profile
            .clone()
            .or_else(|| env("CYXCLOUD_PROFILE"))
            .or(file.default_profile.clone())
            .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
        let p = file.profiles.get(&profile).cloned().unwrap_or_default();
        let gateway_url = o
            .gateway_url
            .clone()
            .or_else(|| env("CYXCLOUD_GATEWAY"))
            .or(p.gateway_url)
            .unwrap_or_else(|| DEFAULT_GATEWAY.to_string())
            .trim_end_matches('/')
            .to_string();
        if !(gateway_url.starts_with("http://") || gateway_url.starts_with("https://")) {
            return Err(ClientError::Config(format!(
                "gateway URL {gateway_url:?} must start with http:// or https://"
            )));
        }
        let max_connections = match o.max_connections {
            Some(n) => n,
            None => match env("CYXCLOUD_MAX_CONNECTIONS") {
                Some(v) => v.parse().map_err(|_| {
                    ClientError::Config(format!("CYXCLOUD_MAX_CONNECTIONS={v:?} is not a number"))
                })?,
                None => p.max_connections.unwrap_or(32),
            },
        };
        if max_connections == 0 {
            return Err(ClientError::Config(
                "max connections must be at least 1".into(),
            ));
        }
        Ok(Settings {
            home,
            profile,
            gateway_url,
            grpc_url: env("CYXCLOUD_GRPC").or(p.grpc_url),
            default_bucket: env("CYXCLOUD_BUCKET").or(p.default_bucket),
            max_connections,
            secret_store: env("CYXCLOUD_SECRET_STORE")
                .or(p.secret_store)
                .unwrap_or_else(|| "auto".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_newer_versions() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = ConfigFile {
            version: CONFIG_VERSION,
            default_profile: Some("work".into()),
            ..Default::default()
        };
        c.profile_mut("work").gateway_url = Some("https://g.example".into());
        c.profile_mut("work").max_connections = Some(4);
        c.save(dir.path()).unwrap();
        assert_eq!(ConfigFile::load(dir.path()).unwrap(), c);
        std::fs::write(ConfigFile::path(dir.path()), "version = 99\n").unwrap();
        assert!(matches!(
            ConfigFile::load(dir.path()),
            Err(ClientError::Config(_))
        ));
        std::fs::write(ConfigFile::path(dir.path()), "profiles = 3\n").unwrap();
        assert!(matches!(
            ConfigFile::load(dir.path()),
            Err(ClientError::Config(_))
        ));
    }

    #[test]
    fn a_missing_file_is_an_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ConfigFile::load(dir.path()).unwrap().profiles.is_empty());
    }
}
