//! Accounts, keys, buckets, listings and status. Each command translates arguments, calls
//! the client SDK and prints; the logic lives in `cyxcloud-client`.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use cyxcloud_client::config::{ConfigFile, Overrides, Settings};
use cyxcloud_client::{
    Api, Client, ClientError, ObjectInfo, Passphrase, SecretName, SecretStore, parse_uri,
};
use cyxcloud_core::ErasureProfile;
use serde_json::json;

use crate::{Cmd, Global};

fn prompt_secret(what: &str) -> std::io::Result<String> {
    rpassword::prompt_password(format!("{what}: "))
}

/// Everything a command needs: settings, the secret store and the passphrase source.
pub struct Ctx {
    pub settings: Settings,
    pub store: Arc<SecretStore>,
    pub pass: Arc<Passphrase>,
    pub global: Global,
}

impl Ctx {
    pub fn new(global: &Global) -> Result<Self> {
        let settings = Settings::resolve(&Overrides {
            profile: global.config_profile.clone(),
            gateway_url: global.gateway.clone(),
            max_connections: global.max_connections,
        })?;
        let store = Arc::new(SecretStore::open(&settings)?);
        let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        let pass = Arc::new(Passphrase::new(if interactive {
            Some(prompt_secret)
        } else {
            None
        }));
        Ok(Ctx {
            settings,
            store,
            pass,
            global: global.clone(),
        })
    }

    /// CYXCLOUD_API_KEY, else the stored key.
    pub fn api_key(&self) -> Result<Option<String>> {
        if let Ok(k) = std::env::var("CYXCLOUD_API_KEY")
            && !k.trim().is_empty()
        {
            return Ok(Some(k.trim().to_string()));
        }
        Ok(self
            .store
            .get(SecretName::ApiKey, &self.pass)?
            .map(|s| s.expose().to_string()))
    }

    pub fn api(&self) -> Result<Api> {
        Ok(Api::new(&self.settings.gateway_url, self.api_key()?)?)
    }

    pub async fn client(&self) -> Result<Client> {
        Ok(Client::connect(
            self.api()?,
            self.settings.grpc_url.as_deref(),
            self.settings.max_connections,
            Some(self.store.clone()),
            self.pass.clone(),
        )
        .await?)
    }

    pub fn info(&self, msg: impl std::fmt::Display) {
        if !self.global.quiet {
            eprintln!("{msg}");
        }
    }

    /// `-b` or the profile's default bucket.
    pub fn bucket(&self, b: Option<&str>) -> Result<String> {
        b.map(str::to_string)
            .or_else(|| self.settings.default_bucket.clone())
            .ok_or_else(|| {
                ClientError::InvalidArgument(
                    "no bucket: pass -b BUCKET or set default_bucket with `cyxcloud configure`"
                        .into(),
                )
                .into()
            })
    }
}

pub async fn dispatch(global: Global, cmd: Cmd) -> Result<()> {
    if let Cmd::Dev(a) = cmd {
        return crate::dev::run(&global, a).await;
    }
    let ctx = Ctx::new(&global)?;
    match cmd {
        Cmd::Configure(a) => configure(&ctx, a).await,
        Cmd::Signup(a) => login(&ctx, a, true).await,
        Cmd::Login(a) => login(&ctx, a, false).await,
        Cmd::Logout => logout(&ctx).await,
        Cmd::Keys(k) => keys(&ctx, k).await,
        Cmd::Mb(a) => mb(&ctx, a).await,
        Cmd::Rb { bucket } => {
            ctx.api()?.delete_bucket(&bucket).await?;
            ctx.info(format!("Removed bucket {bucket}"));
            Ok(())
        }
        Cmd::Ls(a) => ls(&ctx, a).await,
        Cmd::Upload(a) => crate::transfer::upload(&ctx, a).await,
        Cmd::Download(a) => crate::transfer::download(&ctx, a).await,
        Cmd::Cat { uri } => crate::transfer::cat(&ctx, &uri).await,
        Cmd::Rm(a) => rm(&ctx, a).await,
        Cmd::Stat { uri } => stat(&ctx, &uri).await,
        Cmd::Status { bucket } => status(&ctx, bucket.as_deref()).await,
        Cmd::Node(_) | Cmd::Gateway(_) | Cmd::Completions { .. } | Cmd::Dev(_) => {
            unreachable!("handled in main")
        }
    }
}

#[derive(Args)]
pub struct ConfigureArgs {
    /// Gateway URL (e.g. https://gateway.cyxwiz.com)
    #[arg(long = "gateway-url")]
    pub gateway_url: Option<String>,
    /// API key (cyxk_live_...); prefer --api-key-stdin so it stays out of shell history
    #[arg(long)]
    pub api_key: Option<String>,
    /// Read the API key from the first line of stdin
    #[arg(long, conflicts_with = "api_key")]
    pub api_key_stdin: bool,
    /// Bucket used when a command names none
    #[arg(long)]
    pub default_bucket: Option<String>,
    /// Where to keep secrets: auto, keyring or file
    #[arg(long)]
    pub secret_store: Option<String>,
    /// Gateway gRPC URL (asked from the gateway when unset)
    #[arg(long)]
    pub grpc_url: Option<String>,
}

fn ask(question: &str, default: Option<&str>) -> Result<Option<String>> {
    let mut err = std::io::stderr();
    match default {
        Some(d) => write!(err, "{question} [{d}]: ")?,
        None => write!(err, "{question}: ")?,
    }
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim();
    Ok(if line.is_empty() {
        default.map(str::to_string)
    } else {
        Some(line.to_string())
    })
}

async fn configure(ctx: &Ctx, a: ConfigureArgs) -> Result<()> {
    let home = &ctx.settings.home;
    let mut file = ConfigFile::load(home)?;
    let interactive = std::io::stdin().is_terminal()
        && a.gateway_url.is_none()
        && a.api_key.is_none()
        && !a.api_key_stdin;
    let p = file.profile_mut(&ctx.settings.profile).clone();
    let gateway = match a.gateway_url {
        Some(g) => g,
        None if interactive => {
            ask("Gateway URL", Some(&ctx.settings.gateway_url))?.unwrap_or_default()
        }
        None => ctx.settings.gateway_url.clone(),
    };
    let key = if a.api_key_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Some(line.trim().to_string())
    } else if let Some(k) = a.api_key {
        Some(k)
    } else if interactive {
        let k = prompt_secret("API Key (empty: keep the stored one)")?;
        (!k.trim().is_empty()).then(|| k.trim().to_string())
    } else {
        None
    };
    {
        let prof = file.profile_mut(&ctx.settings.profile);
        prof.gateway_url = Some(gateway.trim_end_matches('/').to_string());
        if a.default_bucket.is_some() {
            prof.default_bucket = a.default_bucket;
        }
        if a.secret_store.is_some() {
            prof.secret_store = a.secret_store;
        }
        if a.grpc_url.is_some() {
            prof.grpc_url = a.grpc_url;
        }
    }
    // Check the key works before keeping it.
    if let Some(k) = &key {
        let acct = Api::new(&gateway, Some(k.clone()))?
            .account()
            .await
            .context("checking the API key")?;
        file.profile_mut(&ctx.settings.profile).email = acct.email.clone().or(p.email);
    }
    let path = file.save(home)?;
    let settings = Settings::resolve(&Overrides {
        profile: Some(ctx.settings.profile.clone()),
        ..Default::default()
    })?;
    if let Some(k) = key {
        SecretStore::open(&settings)?.set(SecretName::ApiKey, &k, &ctx.pass)?;
    }
    ctx.info(format!("Configuration saved to {}", path.display()));
    Ok(())
}

#[derive(Args)]
pub struct LoginArgs {
    #[arg(long)]
    pub email: Option<String>,
    /// Read the password from the first line of stdin
    #[arg(long)]
    pub password_stdin: bool,
}

async fn login(ctx: &Ctx, a: LoginArgs, signup: bool) -> Result<()> {
    let email = match a.email {
        Some(e) => e,
        None => ask("E-mail", None)?.context("an e-mail address is needed")?,
    };
    let password = if a.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        prompt_secret("Password")?
    };
    let api = Api::new(&ctx.settings.gateway_url, None)?;
    let session = if signup {
        api.signup(&email, &password).await?
    } else {
        api.login(&email, &password).await?
    };
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "this machine".into());
    let key = api
        .create_key(
            Some(&session.tokens.access_token),
            &format!("cyxcloud CLI on {host}"),
            &["read", "write"],
            None,
        )
        .await?;
    let mut file = ConfigFile::load(&ctx.settings.home)?;
    let prof = file.profile_mut(&ctx.settings.profile);
    prof.gateway_url = Some(ctx.settings.gateway_url.clone());
    prof.email = Some(email.clone());
    file.save(&ctx.settings.home)?;
    ctx.store.set(SecretName::ApiKey, &key.key, &ctx.pass)?;
    ctx.store.set(
        SecretName::RefreshToken,
        &session.tokens.refresh_token,
        &ctx.pass,
    )?;
    ctx.info(format!(
        "{} {email}; API key {} stored in the {}",
        if signup {
            "Created account"
        } else {
            "Logged in as"
        },
        key.info.access_key_id,
        ctx.store.backend_name()
    ));
    Ok(())
}

async fn logout(ctx: &Ctx) -> Result<()> {
    if let Some(rt) = ctx.store.get(SecretName::RefreshToken, &ctx.pass)? {
        let _ = Api::new(&ctx.settings.gateway_url, None)?
            .logout(rt.expose())
            .await;
    }
    for n in [
        SecretName::ApiKey,
        SecretName::RefreshToken,
        SecretName::MasterKey,
    ] {
        ctx.store.delete(n, &ctx.pass)?;
    }
    ctx.info("Logged out; stored secrets removed");
    Ok(())
}

#[derive(Subcommand)]
pub enum KeysCmd {
    /// Create an API key; its secret is shown once
    Create {
        #[arg(long)]
        name: String,
        /// Read-only key
        #[arg(long)]
        read_only: bool,
        /// Expiry (RFC 3339)
        #[arg(long)]
        expires: Option<String>,
    },
    /// List API keys
    List,
    /// Revoke an API key
    Revoke { id: String },
}

async fn keys(ctx: &Ctx, k: KeysCmd) -> Result<()> {
    let api = ctx.api()?;
    match k {
        KeysCmd::Create {
            name,
            read_only,
            expires,
        } => {
            let perms: &[&str] = if read_only {
                &["read"]
            } else {
                &["read", "write"]
            };
            let k = api
                .create_key(None, &name, perms, expires.as_deref())
                .await?;
            if ctx.global.json {
                println!(
                    "{}",
                    json!({ "id": k.info.id, "name": k.info.name, "access_key_id": k.info.access_key_id,
                            "permissions": k.info.permissions, "expires_at": k.info.expires_at, "key": k.key })
                );
            } else {
                println!("id:                {}", k.info.id);
                println!("access key id:     {}", k.info.access_key_id);
                println!("key (shown once):  {}", k.key);
            }
        }
        KeysCmd::List => {
            let keys = api.list_keys().await?;
            if ctx.global.json {
                println!("{}", serde_json::to_string_pretty(&keys)?);
            } else {
                for k in keys {
                    println!(
                        "{:<36} {:<22} {:<11} {:<8} {}",
                        k.id,
                        k.access_key_id,
                        k.permissions.join(","),
                        if k.revoked { "revoked" } else { "active" },
                        k.name
                    );
                }
            }
        }
        KeysCmd::Revoke { id } => {
            api.revoke_key(&id).await?;
            ctx.info(format!("Revoked {id}"));
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct MbArgs {
    pub bucket: String,
    /// Anyone may read objects in the bucket
    #[arg(long)]
    pub public: bool,
    /// Erasure profile: basic, standard, high-durability, extreme, efficient
    #[arg(long, conflicts_with = "ec")]
    pub profile: Option<String>,
    /// Custom erasure coding, data+parity (e.g. 8+6)
    #[arg(long)]
    pub ec: Option<String>,
}

pub fn parse_profile(profile: Option<&str>, ec: Option<&str>) -> Result<Option<ErasureProfile>> {
    let p = match (profile, ec) {
        (Some(name), _) => Some(
            ErasureProfile::NAMED
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, p)| *p)
                .ok_or_else(|| {
                    ClientError::InvalidArgument(format!(
                        "unknown profile {name:?}; one of {}",
                        ErasureProfile::NAMED
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?,
        ),
        (None, Some(ec)) => {
            let (k, m) = ec
                .split_once('+')
                .and_then(|(k, m)| Some((k.trim().parse().ok()?, m.trim().parse().ok()?)))
                .ok_or_else(|| {
                    ClientError::InvalidArgument(format!(
                        "--ec {ec:?}: expected data+parity, e.g. 8+6"
                    ))
                })?;
            Some(
                ErasureProfile::new(k, m)
                    .map_err(|e| ClientError::InvalidArgument(format!("--ec {ec}: {e}")))?,
            )
        }
        (None, None) => None,
    };
    Ok(p)
}

async fn mb(ctx: &Ctx, a: MbArgs) -> Result<()> {
    let p = parse_profile(a.profile.as_deref(), a.ec.as_deref())?;
    let ec = p.map(|p| (p.data_shards() as u32, p.parity_shards() as u32));
    ctx.api()?.create_bucket(&a.bucket, a.public, ec).await?;
    ctx.info(format!(
        "Created bucket {} ({}{})",
        a.bucket,
        if a.public { "public" } else { "private" },
        p.map(|p| format!(", {p}")).unwrap_or_default()
    ));
    Ok(())
}

#[derive(Args)]
pub struct LsArgs {
    /// cyx://bucket/prefix or bucket/prefix; nothing lists buckets
    pub target: Option<String>,
    /// Long form: size, date, encryption
    #[arg(short, long)]
    pub long: bool,
    /// Everything under the prefix, not just one level
    #[arg(short, long)]
    pub recursive: bool,
}

pub fn human(n: u64) -> String {
    const U: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < U.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[u])
    }
}

fn date(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn object_json(o: &ObjectInfo) -> serde_json::Value {
    json!({
        "bucket": o.bucket, "key": o.key, "size": o.size, "etag": o.etag,
        "content_type": o.content_type, "last_modified": date(o.last_modified),
        "client_encrypted": o.client_encrypted, "stored_bytes": o.stored_bytes,
        "erasure_config": o.erasure.as_ref().map(|e| json!({"data_shards": e.data_shards, "parity_shards": e.parity_shards})),
        "user_metadata": o.user_metadata,
    })
}

async fn ls(ctx: &Ctx, a: LsArgs) -> Result<()> {
    let Some(target) = a.target else {
        let buckets = ctx.api()?.buckets().await?;
        if ctx.global.json {
            println!("{}", serde_json::to_string_pretty(&buckets)?);
        } else {
            for b in buckets {
                if a.long {
                    println!(
                        "{:<20} {:<8} {:>3}+{:<3} {:>8} objects {:>10}  {}",
                        b.created_at,
                        b.visibility,
                        b.erasure_config.data_shards,
                        b.erasure_config.parity_shards,
                        b.object_count,
                        human(b.used_bytes),
                        b.bucket
                    );
                } else {
                    println!("{}", b.bucket);
                }
            }
        }
        return Ok(());
    };
    let (bucket, prefix) = parse_uri(&target)?;
    let client = ctx.client().await?;
    let (objects, prefixes) = client
        .list_all(&bucket, &prefix, if a.recursive { "" } else { "/" })
        .await?;
    if ctx.global.json {
        let objs: Vec<_> = objects.iter().map(object_json).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "objects": objs, "prefixes": prefixes }))?
        );
        return Ok(());
    }
    for p in &prefixes {
        if a.long {
            println!("{:>20} {:>10}  {p}", "", "PRE");
        } else {
            println!("{p}");
        }
    }
    for o in &objects {
        if a.long {
            println!(
                "{:>20} {:>10}  {}{}",
                date(o.last_modified),
                human(o.size),
                o.key,
                if o.client_encrypted {
                    ""
                } else {
                    "  (server-side)"
                }
            );
        } else {
            println!("{}", o.key);
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct RmArgs {
    /// cyx://bucket/key (or a prefix with --recursive)
    pub uri: Option<String>,
    #[arg(short, long)]
    pub bucket: Option<String>,
    #[arg(short, long)]
    pub key: Option<String>,
    /// Delete every object under the prefix
    #[arg(short, long)]
    pub recursive: bool,
}

async fn rm(ctx: &Ctx, a: RmArgs) -> Result<()> {
    let (bucket, key) = match (a.uri, a.key) {
        (Some(u), None) => parse_uri(&u)?,
        (None, Some(k)) => (ctx.bucket(a.bucket.as_deref())?, k),
        _ => bail!(ClientError::InvalidArgument(
            "give cyx://bucket/key, or -b BUCKET -k KEY".into()
        )),
    };
    let client = ctx.client().await?;
    if a.recursive {
        let (objects, _) = client.list_all(&bucket, &key, "").await?;
        for o in &objects {
            client.delete(&bucket, &o.key).await?;
            ctx.info(format!("deleted cyx://{bucket}/{}", o.key));
        }
        ctx.info(format!("{} objects deleted", objects.len()));
    } else {
        if key.is_empty() {
            bail!(ClientError::InvalidArgument(
                "no key given (use --recursive to delete a prefix)".into()
            ));
        }
        client.delete(&bucket, &key).await?;
        ctx.info(format!("deleted cyx://{bucket}/{key}"));
    }
    Ok(())
}

async fn stat(ctx: &Ctx, uri: &str) -> Result<()> {
    let (bucket, key) = parse_uri(uri)?;
    let o = ctx.client().await?.stat(&bucket, &key).await?;
    if ctx.global.json {
        println!("{}", serde_json::to_string_pretty(&object_json(&o))?);
        return Ok(());
    }
    println!("URI:           cyx://{}/{}", o.bucket, o.key);
    println!("Size:          {} ({} bytes)", human(o.size), o.size);
    println!("Stored:        {} on nodes", human(o.stored_bytes));
    println!("Content-Type:  {}", o.content_type);
    println!("ETag:          {}", o.etag);
    println!("Modified:      {}", date(o.last_modified));
    println!(
        "Encryption:    {}",
        if o.client_encrypted {
            "end to end (AES-256-GCM, your key)"
        } else {
            "server-side (gateway key)"
        }
    );
    if let Some(e) = &o.erasure {
        println!("Erasure:       {}+{}", e.data_shards, e.parity_shards);
    }
    for (k, v) in &o.user_metadata {
        println!("Meta {k}: {v}");
    }
    Ok(())
}

async fn status(ctx: &Ctx, bucket: Option<&str>) -> Result<()> {
    let api = ctx.api()?;
    let acct = api.account().await?;
    let quota = acct.quotas.storage_bytes;
    let used = acct.usage.storage_used_bytes;
    let pct = |u: u64| {
        if quota == 0 {
            0.0
        } else {
            u as f64 * 100.0 / quota as f64
        }
    };
    match bucket {
        Some(b) => {
            let s = api.bucket(b).await?;
            if ctx.global.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "bucket": s.bucket, "visibility": s.visibility, "erasure_config": s.erasure_config,
                        "object_count": s.object_count, "used_bytes": s.used_bytes,
                        "account_used_bytes": used, "quota_bytes": quota, "used_percent": pct(used),
                        "subscription": null,
                    }))?
                );
            } else {
                let vis = if s.visibility == "public" {
                    "Public"
                } else {
                    "Private"
                };
                println!("Bucket: {} ({vis})", s.bucket);
                println!(
                    "Used: {} / {} ({:.0}%)",
                    human(used),
                    human(quota),
                    pct(used)
                );
                println!("Bucket data: {}", human(s.used_bytes));
                println!("Objects: {}", s.object_count);
                println!(
                    "Erasure: {}+{}",
                    s.erasure_config.data_shards, s.erasure_config.parity_shards
                );
                println!("Subscription: none (storage plans are not offered yet)");
            }
        }
        None => {
            if ctx.global.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "account": acct.id, "email": acct.email, "used_bytes": used, "quota_bytes": quota,
                        "used_percent": pct(used), "gateway": ctx.settings.gateway_url, "profile": ctx.settings.profile,
                        "secret_store": ctx.store.backend_name(), "subscription": null,
                    }))?
                );
            } else {
                println!("Account: {}", acct.email.as_deref().unwrap_or(&acct.id));
                println!("Gateway: {}", ctx.settings.gateway_url);
                println!(
                    "Used: {} / {} ({:.0}%)",
                    human(used),
                    human(quota),
                    pct(used)
                );
                println!("Subscription: none (storage plans are not offered yet)");
            }
        }
    }
    Ok(())
}
