//! The metadata store: sqlx over SQLite (embedded default) or PostgreSQL (shared by several
//! gateways), one set of queries for both through sqlx's `Any` driver, and versioned
//! migrations per dialect. Every multi-row change runs in one transaction, so a crash leaves
//! either the old or the new state.
//!
//! Times are unix seconds in BIGINT columns; flags are 0/1 BIGINTs; ids are text.
//! Placeholders are `$n` in ascending order (SQLite numbers `$n` parameters by first use).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Row};

use crate::error::{GatewayError, Result};

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A random identifier: `prefix` followed by 32 hex digits.
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("operating system random number generator failed");
    format!("{prefix}{}", hex::encode(b))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The schema versions, oldest first; each is applied once, in its own transaction.
fn migrator(d: Dialect) -> Migrator {
    let scripts: [(i64, &'static str, &'static str); 4] = match d {
        Dialect::Sqlite => [
            (
                1,
                "init",
                include_str!("../migrations/sqlite/0001_init.sql"),
            ),
            (
                2,
                "client uploads",
                include_str!("../migrations/sqlite/0002_client_uploads.sql"),
            ),
            (
                3,
                "key records",
                include_str!("../migrations/sqlite/0003_key_records.sql"),
            ),
            (
                4,
                "usage counter",
                include_str!("../migrations/sqlite/0004_usage_counter.sql"),
            ),
        ],
        Dialect::Postgres => [
            (
                1,
                "init",
                include_str!("../migrations/postgres/0001_init.sql"),
            ),
            (
                2,
                "client uploads",
                include_str!("../migrations/postgres/0002_client_uploads.sql"),
            ),
            (
                3,
                "key records",
                include_str!("../migrations/postgres/0003_key_records.sql"),
            ),
            (
                4,
                "usage counter",
                include_str!("../migrations/postgres/0004_usage_counter.sql"),
            ),
        ],
    };
    Migrator {
        migrations: Cow::Owned(
            scripts
                .into_iter()
                .map(|(v, name, sql)| {
                    Migration::new(
                        v,
                        Cow::Borrowed(name),
                        MigrationType::Simple,
                        Cow::Borrowed(sql),
                        false,
                    )
                })
                .collect(),
        ),
        ..Migrator::DEFAULT
    }
}

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 4;

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub wallet_address: Option<String>,
    pub quota_bytes: u64,
    pub created_at: i64,
}

fn user_from(r: &AnyRow) -> Result<User> {
    Ok(User {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        password_hash: r.try_get("password_hash")?,
        wallet_address: r.try_get("wallet_address")?,
        quota_bytes: r.try_get::<i64, _>("quota_bytes")? as u64,
        created_at: r.try_get("created_at")?,
    })
}

#[derive(Clone, Debug)]
pub struct ApiKey {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub access_key_id: String,
    pub sealed_secret: Vec<u8>,
    pub can_read: bool,
    pub can_write: bool,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn key_from(r: &AnyRow) -> Result<ApiKey> {
    Ok(ApiKey {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        name: r.try_get("name")?,
        access_key_id: r.try_get("access_key_id")?,
        sealed_secret: r.try_get("sealed_secret")?,
        can_read: r.try_get::<i64, _>("can_read")? != 0,
        can_write: r.try_get::<i64, _>("can_write")? != 0,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub name: String,
    pub owner_id: String,
    pub public: bool,
    pub data_shards: u32,
    pub parity_shards: u32,
    pub created_at: i64,
}

impl Bucket {
    pub fn profile(&self) -> cyxcloud_core::ErasureProfile {
        cyxcloud_core::ErasureProfile::new(self.data_shards as usize, self.parity_shards as usize)
            .unwrap_or(cyxcloud_core::ErasureProfile::STANDARD)
    }
}

/// The names of the columns a bucket is read from.
struct BucketColumns {
    name: &'static str,
    owner_id: &'static str,
    public: &'static str,
    data_shards: &'static str,
    parity_shards: &'static str,
    created_at: &'static str,
}

/// The `buckets` table's own names.
const BUCKET_COLUMNS: BucketColumns = BucketColumns {
    name: "name",
    owner_id: "owner_id",
    public: "public",
    data_shards: "data_shards",
    parity_shards: "parity_shards",
    created_at: "created_at",
};

/// The names [`Db::bucket_with_object`] gives them, apart from the object's columns.
const JOINED_BUCKET_COLUMNS: BucketColumns = BucketColumns {
    name: "b_name",
    owner_id: "b_owner_id",
    public: "b_public",
    data_shards: "b_data_shards",
    parity_shards: "b_parity_shards",
    created_at: "b_created_at",
};

fn bucket_from(r: &AnyRow) -> Result<Bucket> {
    bucket_from_columns(r, &BUCKET_COLUMNS)
}

fn bucket_from_columns(r: &AnyRow, c: &BucketColumns) -> Result<Bucket> {
    Ok(Bucket {
        name: r.try_get(c.name)?,
        owner_id: r.try_get(c.owner_id)?,
        public: r.try_get::<i64, _>(c.public)? != 0,
        data_shards: r.try_get::<i64, _>(c.data_shards)? as u32,
        parity_shards: r.try_get::<i64, _>(c.parity_shards)? as u32,
        created_at: r.try_get(c.created_at)?,
    })
}

/// A committed object's record. `layout` holds the encoded data layout (see `layout`);
/// `inline_data` small objects kept in the database.
#[derive(Clone, Debug)]
pub struct Object {
    pub bucket: String,
    pub key: String,
    pub object_id: String,
    pub owner_id: String,
    pub size: u64,
    pub stored_bytes: u64,
    pub content_type: String,
    pub etag: String,
    pub last_modified: i64,
    pub user_metadata: BTreeMap<String, String>,
    pub client_encrypted: bool,
    pub layout: Option<Vec<u8>>,
    pub inline_data: Option<Vec<u8>>,
}

const OBJECT_COLS: &str = "bucket, key, object_id, owner_id, size, stored_bytes, content_type, etag, \
     last_modified, user_metadata, client_encrypted, manifest, inline_data";
const OBJECT_LIST_COLS: &str = "bucket, key, object_id, owner_id, size, stored_bytes, content_type, etag, \
     last_modified, user_metadata, client_encrypted, NULL AS manifest, NULL AS inline_data";

fn object_from(r: &AnyRow) -> Result<Object> {
    let meta: String = r.try_get("user_metadata")?;
    Ok(Object {
        bucket: r.try_get("bucket")?,
        key: r.try_get("key")?,
        object_id: r.try_get("object_id")?,
        owner_id: r.try_get("owner_id")?,
        size: r.try_get::<i64, _>("size")? as u64,
        stored_bytes: r.try_get::<i64, _>("stored_bytes")? as u64,
        content_type: r.try_get("content_type")?,
        etag: r.try_get("etag")?,
        last_modified: r.try_get("last_modified")?,
        user_metadata: serde_json::from_str(&meta)
            .map_err(|e| GatewayError::Internal(format!("user metadata: {e}")))?,
        client_encrypted: r.try_get::<i64, _>("client_encrypted")? != 0,
        layout: r.try_get("manifest")?,
        inline_data: r.try_get("inline_data")?,
    })
}

/// One shard location of a committed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardLoc {
    pub chunk_index: u64,
    pub shard_index: u32,
    pub shard_id: [u8; 32],
    pub node_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRow {
    pub id: String,
    pub peer_id: String,
    pub public_key: [u8; 32],
    pub grpc_address: String,
    pub node_type: String,
    pub status: String,
    pub capacity_bytes: u64,
    pub used_bytes: u64,
    pub chunk_count: u64,
    pub datacenter: String,
    pub rack: String,
    pub region: String,
    pub last_seen: i64,
    pub joined_at: i64,
    pub first_offline_at: Option<i64>,
    pub status_changed_at: i64,
    pub auth_token_hash: String,
    pub command: Option<String>,
}

#[cfg(test)]
impl NodeRow {
    /// A miner with 1 GiB of capacity and nothing stored, for tests.
    pub(crate) fn for_test(id: &str, status: &str) -> Self {
        NodeRow {
            id: id.into(),
            peer_id: String::new(),
            public_key: [0; 32],
            grpc_address: "127.0.0.1:1".into(),
            node_type: "miner".into(),
            status: status.into(),
            capacity_bytes: 1 << 30,
            used_bytes: 0,
            chunk_count: 0,
            datacenter: String::new(),
            rack: String::new(),
            region: String::new(),
            last_seen: 0,
            joined_at: 0,
            first_offline_at: None,
            status_changed_at: 0,
            auth_token_hash: String::new(),
            command: None,
        }
    }
}

fn node_from(r: &AnyRow) -> Result<NodeRow> {
    let pk: Vec<u8> = r.try_get("public_key")?;
    Ok(NodeRow {
        id: r.try_get("id")?,
        peer_id: r.try_get("peer_id")?,
        public_key: pk
            .try_into()
            .map_err(|_| GatewayError::Internal("node public key length".into()))?,
        grpc_address: r.try_get("grpc_address")?,
        node_type: r.try_get("node_type")?,
        status: r.try_get("status")?,
        capacity_bytes: r.try_get::<i64, _>("capacity_bytes")? as u64,
        used_bytes: r.try_get::<i64, _>("used_bytes")? as u64,
        chunk_count: r.try_get::<i64, _>("chunk_count")? as u64,
        datacenter: r.try_get("datacenter")?,
        rack: r.try_get("rack")?,
        region: r.try_get("region")?,
        last_seen: r.try_get("last_seen")?,
        joined_at: r.try_get("joined_at")?,
        first_offline_at: r.try_get("first_offline_at")?,
        status_changed_at: r.try_get("status_changed_at")?,
        auth_token_hash: r.try_get("auth_token_hash")?,
        command: r.try_get("command")?,
    })
}

#[derive(Clone, Debug)]
pub struct Upload {
    pub id: String,
    pub kind: String,
    pub bucket: String,
    pub key: String,
    pub owner_id: String,
    pub object_id: String,
    pub content_type: String,
    pub user_metadata: BTreeMap<String, String>,
    pub data_shards: u32,
    pub parity_shards: u32,
    pub chunk_size: u64,
    pub client_encrypted: bool,
    pub resume_token: Option<String>,
    pub gateway_instance: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The rich client's wrapped data key record (opaque).
    pub encryption: Option<Vec<u8>>,
}

fn upload_from(r: &AnyRow) -> Result<Upload> {
    let meta: String = r.try_get("user_metadata")?;
    Ok(Upload {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        bucket: r.try_get("bucket")?,
        key: r.try_get("key")?,
        owner_id: r.try_get("owner_id")?,
        object_id: r.try_get("object_id")?,
        content_type: r.try_get("content_type")?,
        user_metadata: serde_json::from_str(&meta)
            .map_err(|e| GatewayError::Internal(format!("user metadata: {e}")))?,
        data_shards: r.try_get::<i64, _>("data_shards")? as u32,
        parity_shards: r.try_get::<i64, _>("parity_shards")? as u32,
        chunk_size: r.try_get::<i64, _>("chunk_size")? as u64,
        client_encrypted: r.try_get::<i64, _>("client_encrypted")? != 0,
        resume_token: r.try_get("resume_token")?,
        gateway_instance: r.try_get("gateway_instance")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        encryption: r.try_get("encryption")?,
    })
}

#[derive(Clone, Debug)]
pub struct Part {
    pub part_number: u32,
    pub size: u64,
    pub etag: String,
    pub layout: Vec<u8>,
    pub stored_bytes: u64,
    pub created_at: i64,
}

/// A new object to commit.
pub struct NewObject<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub object_id: &'a str,
    pub owner_id: &'a str,
    pub size: u64,
    pub stored_bytes: u64,
    pub content_type: &'a str,
    pub etag: &'a str,
    pub user_metadata: &'a BTreeMap<String, String>,
    pub client_encrypted: bool,
    pub layout: Option<&'a [u8]>,
    pub inline_data: Option<&'a [u8]>,
    pub shards: &'a [ShardLoc],
    /// The upload this commits; its other placed shards become pending deletions.
    pub upload_id: Option<&'a str>,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    dialect: Dialect,
    /// SQLite has one writer at a time; queueing writers here instead of in SQLite's busy
    /// handler (which sleeps in growing steps) keeps commit latency flat under load.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// SQLite object commits go through one committer task that groups the commits waiting
    /// at the same moment into one transaction: one fsync for many small objects.
    committer: Option<tokio::sync::mpsc::Sender<CommitJob>>,
    /// API keys recently read, by access key id and by key hash (see [`KeyCache`]).
    keys: Arc<KeyCache>,
}

/// How long a looked-up API key may be used without reading it again. Every S3 request
/// reads its key, and the read is a third of the work of a small GET. A key revoked
/// through this gateway is dropped at once; one revoked through another gateway sharing
/// the database stops working here within this time.
pub const KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);
const KEY_CACHE_MAX: usize = 4096;

/// A small, short-lived cache of API key records. Only keys that exist are kept, so a key
/// created through another gateway works here at once.
#[derive(Default)]
struct KeyCache {
    map: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, ApiKey)>>,
}

impl KeyCache {
    fn get(&self, k: &str) -> Option<ApiKey> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(k) {
            Some((at, key)) if at.elapsed() < KEY_CACHE_TTL => Some(key.clone()),
            _ => None,
        }
    }

    fn put(&self, k: String, key: &ApiKey) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= KEY_CACHE_MAX {
            map.retain(|_, (at, _)| at.elapsed() < KEY_CACHE_TTL);
            if map.len() >= KEY_CACHE_MAX {
                map.clear();
            }
        }
        map.insert(k, (std::time::Instant::now(), key.clone()));
    }

    fn forget(&self, id: &str) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, (_, key)| key.id != id);
    }
}

/// An object commit handed to the committer task, and where its answer goes.
struct CommitJob {
    object: OwnedObject,
    reply: tokio::sync::oneshot::Sender<Result<Option<String>>>,
}

/// [`NewObject`] with owned fields, so another task can commit it.
struct OwnedObject {
    bucket: String,
    key: String,
    object_id: String,
    owner_id: String,
    size: u64,
    stored_bytes: u64,
    content_type: String,
    etag: String,
    user_metadata: BTreeMap<String, String>,
    client_encrypted: bool,
    layout: Option<Vec<u8>>,
    inline_data: Option<Vec<u8>>,
    shards: Vec<ShardLoc>,
    upload_id: Option<String>,
}

impl OwnedObject {
    fn of(o: &NewObject<'_>) -> Self {
        OwnedObject {
            bucket: o.bucket.to_owned(),
            key: o.key.to_owned(),
            object_id: o.object_id.to_owned(),
            owner_id: o.owner_id.to_owned(),
            size: o.size,
            stored_bytes: o.stored_bytes,
            content_type: o.content_type.to_owned(),
            etag: o.etag.to_owned(),
            user_metadata: o.user_metadata.clone(),
            client_encrypted: o.client_encrypted,
            layout: o.layout.map(<[u8]>::to_vec),
            inline_data: o.inline_data.map(<[u8]>::to_vec),
            shards: o.shards.to_vec(),
            upload_id: o.upload_id.map(str::to_owned),
        }
    }

    fn borrow(&self) -> NewObject<'_> {
        NewObject {
            bucket: &self.bucket,
            key: &self.key,
            object_id: &self.object_id,
            owner_id: &self.owner_id,
            size: self.size,
            stored_bytes: self.stored_bytes,
            content_type: &self.content_type,
            etag: &self.etag,
            user_metadata: &self.user_metadata,
            client_encrypted: self.client_encrypted,
            layout: self.layout.as_deref(),
            inline_data: self.inline_data.as_deref(),
            shards: &self.shards,
            upload_id: self.upload_id.as_deref(),
        }
    }
}

/// The most commits one group transaction takes.
const MAX_GROUP: usize = 128;

/// The committer task: takes the first waiting commit, then every other one already queued,
/// and runs them in one transaction, each inside its own savepoint so a refused commit
/// (quota, missing bucket) rolls back alone. Ends when the last [`Db`] handle is dropped.
async fn run_committer(
    pool: AnyPool,
    writer: Arc<tokio::sync::Mutex<()>>,
    mut rx: tokio::sync::mpsc::Receiver<CommitJob>,
) {
    let mut batch = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut batch, MAX_GROUP).await > 0 {
        let jobs: Vec<CommitJob> = std::mem::take(&mut batch);
        let _guard = writer.lock().await;
        match commit_group(&pool, &jobs).await {
            Ok(results) => {
                for (job, r) in jobs.into_iter().zip(results) {
                    let _ = job.reply.send(r);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, commits = jobs.len(), "group commit failed");
                for job in jobs {
                    let _ = job
                        .reply
                        .send(Err(GatewayError::Internal(format!("metadata commit: {e}"))));
                }
            }
        }
    }
}

/// The transaction a spawned BEGIN ([`Db::tx`]) opened.
async fn join_begin(
    begin: tokio::task::JoinHandle<std::result::Result<Tx<'static>, sqlx::Error>>,
) -> Result<Tx<'static>> {
    match begin.await {
        Ok(tx) => Ok(tx?),
        Err(e) => Err(GatewayError::Internal(format!(
            "beginning a transaction: {e}"
        ))),
    }
}

/// One transaction for a group of commits. The outer error means nothing was committed.
async fn commit_group(pool: &AnyPool, jobs: &[CommitJob]) -> Result<Vec<Result<Option<String>>>> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        if jobs.len() == 1 {
            results.push(commit_in(&mut tx, Dialect::Sqlite, &job.object.borrow()).await);
            continue;
        }
        sqlx::query("SAVEPOINT object_commit")
            .execute(&mut *tx)
            .await?;
        let r = commit_in(&mut tx, Dialect::Sqlite, &job.object.borrow()).await;
        if r.is_err() {
            sqlx::query("ROLLBACK TO object_commit")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("RELEASE object_commit")
            .execute(&mut *tx)
            .await?;
        results.push(r);
    }
    if results.iter().all(Result::is_err) {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(results)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation() || d.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

impl Db {
    /// Connect and apply migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            Dialect::Postgres
        };
        let mut opts = AnyPoolOptions::new().max_connections(if max_connections == 0 {
            16
        } else {
            max_connections
        });
        if dialect == Dialect::Sqlite {
            // Checking a connection before each use costs a round trip to its worker thread:
            // 9% of all CPU in a profile of 4 KiB GETs. An embedded file has no server or
            // proxy that could drop an idle connection (PostgreSQL keeps the check).
            opts = opts.test_before_acquire(false);
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    use sqlx::Executor;
                    // WAL lets readers run beside the writer; FULL syncs each commit.
                    conn.execute(
                        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                         PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000;",
                    )
                    .await?;
                    Ok(())
                })
            });
        }
        let pool = opts.connect(url).await?;
        migrator(dialect).run(&pool).await?;
        let writer = Arc::new(tokio::sync::Mutex::new(()));
        let committer = (dialect == Dialect::Sqlite).then(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(4 * MAX_GROUP);
            tokio::spawn(run_committer(pool.clone(), writer.clone(), rx));
            tx
        });
        Ok(Db {
            pool,
            dialect,
            writer,
            committer,
            keys: Arc::default(),
        })
    }

    /// Begin a transaction. SQLite transactions take the write lock up front: a deferred one
    /// that reads and then writes fails with SQLITE_BUSY when another writer got there first.
    /// The guard keeps other writers of this process queued until the caller is done.
    ///
    /// The BEGIN runs in a task of its own. A caller dropped while it was under way (a
    /// request whose client disconnected) could leave the pooled connection inside the
    /// transaction with no rollback queued (sqlx raises the transaction depth its
    /// rollback-on-drop keys on only after the BEGIN is acknowledged and checked): on
    /// SQLite that connection kept the write lock, and every other writer waited out the
    /// busy timeout and failed. Now the transaction always reaches a `Transaction`, which
    /// rolls back when dropped unused.
    async fn tx(&self) -> Result<(Tx<'static>, Option<tokio::sync::OwnedMutexGuard<()>>)> {
        let pool = self.pool.clone();
        Ok(match self.dialect {
            Dialect::Sqlite => {
                let guard = self.writer.clone().lock_owned().await;
                let begin = tokio::spawn(async move { pool.begin_with("BEGIN IMMEDIATE").await });
                (join_begin(begin).await?, Some(guard))
            }
            Dialect::Postgres => {
                let begin = tokio::spawn(async move { pool.begin().await });
                (join_begin(begin).await?, None)
            }
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub async fn close(&self) {
        self.pool.close().await
    }

    // ---- users -------------------------------------------------------------------------

    pub async fn create_user(
        &self,
        email: Option<&str>,
        password_hash: Option<&str>,
        wallet: Option<&str>,
        quota: u64,
    ) -> Result<User> {
        let id = new_id("user-");
        let now = now();
        let r = sqlx::query(
            "INSERT INTO users (id, email, password_hash, wallet_address, quota_bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(email)
        .bind(password_hash)
        .bind(wallet)
        .bind(quota as i64)
        .bind(now)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(User {
                id,
                email: email.map(str::to_owned),
                password_hash: password_hash.map(str::to_owned),
                wallet_address: wallet.map(str::to_owned),
                quota_bytes: quota,
                created_at: now,
            }),
            Err(e) if is_unique_violation(&e) => Err(GatewayError::Conflict(
                "an account with this email or wallet already exists".into(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    async fn user_where(&self, col: &str, v: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!("SELECT * FROM users WHERE {col} = $1"))
            .bind(v)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<User>> {
        self.user_where("id", id).await
    }
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        self.user_where("email", email).await
    }
    pub async fn user_by_wallet(&self, wallet: &str) -> Result<Option<User>> {
        self.user_where("wallet_address", wallet).await
    }

    /// The account's client key record (opaque JSON), if one was stored.
    pub async fn key_record(&self, user_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT key_record FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<Option<String>, _>(0)?,
            None => None,
        })
    }

    /// Store the account's client key record unless one exists already (first writer wins,
    /// so two machines set up at once cannot end up with different salts). Returns the record
    /// now stored.
    pub async fn init_key_record(&self, user_id: &str, record: &str) -> Result<Option<String>> {
        sqlx::query("UPDATE users SET key_record = $1 WHERE id = $2 AND key_record IS NULL")
            .bind(record)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        self.key_record(user_id).await
    }

    /// Replace the key record (passphrase rotation), only if it still is `expected`.
    pub async fn replace_key_record(
        &self,
        user_id: &str,
        expected: &str,
        record: &str,
    ) -> Result<bool> {
        let r = sqlx::query("UPDATE users SET key_record = $1 WHERE id = $2 AND key_record = $3")
            .bind(record)
            .bind(user_id)
            .bind(expected)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    pub async fn set_quota(&self, user_id: &str, quota: u64) -> Result<()> {
        sqlx::query("UPDATE users SET quota_bytes = $1 WHERE id = $2")
            .bind(quota as i64)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Plaintext bytes of the user's committed objects.
    pub async fn usage(&self, user_id: &str) -> Result<u64> {
        let v: Option<i64> = sqlx::query_scalar("SELECT used_bytes FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(v.unwrap_or(0).max(0) as u64)
    }

    // ---- sessions ----------------------------------------------------------------------

    pub async fn insert_refresh(&self, hash: &str, user_id: &str, expires_at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, user_id, expires_at, revoked) VALUES ($1, $2, $3, 0)",
        )
        .bind(hash)
        .bind(user_id)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Revoke a refresh token; returns its user when it was valid (rotation: each refresh
    /// token is used once).
    pub async fn take_refresh(&self, hash: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "UPDATE refresh_tokens SET revoked = 1 WHERE token_hash = $1 AND revoked = 0 \
             AND expires_at > $2 RETURNING user_id",
        )
        .bind(hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.try_get("user_id")).transpose()?)
    }

    /// Record a wallet sign-in signature; false if it was used before.
    pub async fn use_wallet_signature(&self, signature: &str) -> Result<bool> {
        let r = sqlx::query("INSERT INTO wallet_logins (signature, used_at) VALUES ($1, $2)")
            .bind(signature)
            .bind(now())
            .execute(&self.pool)
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    // ---- API keys ----------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn insert_api_key(
        &self,
        user_id: &str,
        name: &str,
        key_hash: &str,
        access_key_id: &str,
        sealed_secret: &[u8],
        can_read: bool,
        can_write: bool,
        expires_at: Option<i64>,
    ) -> Result<ApiKey> {
        let id = new_id("key-");
        let now = now();
        sqlx::query(
            "INSERT INTO api_keys (id, user_id, name, key_hash, access_key_id, sealed_secret, \
             can_read, can_write, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(name)
        .bind(key_hash)
        .bind(access_key_id)
        .bind(sealed_secret)
        .bind(can_read as i64)
        .bind(can_write as i64)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(ApiKey {
            id,
            user_id: user_id.into(),
            name: name.into(),
            access_key_id: access_key_id.into(),
            sealed_secret: sealed_secret.to_vec(),
            can_read,
            can_write,
            created_at: now,
            expires_at,
            revoked_at: None,
        })
    }

    pub async fn api_keys(&self, user_id: &str) -> Result<Vec<ApiKey>> {
        let rows = sqlx::query("SELECT * FROM api_keys WHERE user_id = $1 ORDER BY created_at, id")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from).collect()
    }

    /// The key with this hash; may be up to [`KEY_CACHE_TTL`] old.
    pub async fn api_key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        self.api_key_where("key_hash", hash).await
    }

    /// The key with this access key id; may be up to [`KEY_CACHE_TTL`] old.
    pub async fn api_key_by_access_id(&self, access_key_id: &str) -> Result<Option<ApiKey>> {
        self.api_key_where("access_key_id", access_key_id).await
    }

    async fn api_key_where(&self, column: &'static str, value: &str) -> Result<Option<ApiKey>> {
        let cache_key = format!("{column}:{value}");
        if let Some(k) = self.keys.get(&cache_key) {
            return Ok(Some(k));
        }
        let row = sqlx::query(&format!("SELECT * FROM api_keys WHERE {column} = $1"))
            .bind(value)
            .fetch_optional(&self.pool)
            .await?;
        let key = row.as_ref().map(key_from).transpose()?;
        if let Some(k) = &key {
            self.keys.put(cache_key, k);
        }
        Ok(key)
    }

    /// Revoke one of the user's keys; false if there is no such key.
    pub async fn revoke_api_key(&self, user_id: &str, id: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(user_id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.keys.forget(id);
        Ok(r.rows_affected() == 1)
    }

    // ---- gateway keys ------------------------------------------------------------------

    /// The sealed key `name`, creating it with `fresh` if absent (first gateway wins).
    pub async fn gateway_key(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>> {
        let insert = match self.dialect {
            Dialect::Sqlite => "INSERT OR IGNORE INTO gateway_keys (name, sealed) VALUES ($1, $2)",
            Dialect::Postgres => {
                "INSERT INTO gateway_keys (name, sealed) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"
            }
        };
        sqlx::query(insert)
            .bind(name)
            .bind(fresh)
            .execute(&self.pool)
            .await?;
        Ok(
            sqlx::query_scalar("SELECT sealed FROM gateway_keys WHERE name = $1")
                .bind(name)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    // ---- buckets -----------------------------------------------------------------------

    pub async fn create_bucket(&self, b: &Bucket) -> Result<()> {
        let r = sqlx::query(
            "INSERT INTO buckets (name, owner_id, public, data_shards, parity_shards, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&b.name)
        .bind(&b.owner_id)
        .bind(b.public as i64)
        .bind(b.data_shards as i64)
        .bind(b.parity_shards as i64)
        .bind(b.created_at)
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => match self.bucket(&b.name).await? {
                Some(existing) if existing.owner_id == b.owner_id => {
                    Err(GatewayError::BucketAlreadyOwnedByYou)
                }
                _ => Err(GatewayError::BucketAlreadyExists),
            },
            Err(e) => Err(e.into()),
        }
    }

    pub async fn bucket(&self, name: &str) -> Result<Option<Bucket>> {
        let row = sqlx::query("SELECT * FROM buckets WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(bucket_from).transpose()
    }

    pub async fn buckets_of(&self, owner: &str) -> Result<Vec<Bucket>> {
        let rows = sqlx::query("SELECT * FROM buckets WHERE owner_id = $1 ORDER BY name")
            .bind(owner)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(bucket_from).collect()
    }

    /// Objects and plaintext bytes in a bucket.
    pub async fn bucket_stats(&self, name: &str) -> Result<(u64, u64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS bytes FROM objects WHERE bucket = $1",
        )
        .bind(name)
        .fetch_one(&self.pool)
        .await?;
        Ok((
            row.try_get::<i64, _>("n")? as u64,
            row.try_get::<i64, _>("bytes")? as u64,
        ))
    }

    /// Delete an empty bucket and its abandoned multipart uploads.
    pub async fn delete_bucket(&self, name: &str) -> Result<()> {
        let (mut tx, _writer) = self.tx().await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM objects WHERE bucket = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        if n > 0 {
            return Err(GatewayError::BucketNotEmpty);
        }
        let ups: Vec<String> = sqlx::query_scalar("SELECT id FROM uploads WHERE bucket = $1")
            .bind(name)
            .fetch_all(&mut *tx)
            .await?;
        for u in &ups {
            release_upload(&mut tx, u).await?;
        }
        let r = sqlx::query("DELETE FROM buckets WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(GatewayError::NoSuchBucket);
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- objects -----------------------------------------------------------------------

    pub async fn object(&self, bucket: &str, key: &str) -> Result<Option<Object>> {
        let row = sqlx::query(&format!(
            "SELECT {OBJECT_COLS} FROM objects WHERE bucket = $1 AND key = $2"
        ))
        .bind(bucket)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(object_from).transpose()
    }

    /// The bucket and, if it holds one, the object at `key`, read in one statement: what
    /// every GET and HEAD of an object needs, in one round trip to the database instead
    /// of two. None if there is no such bucket.
    pub async fn bucket_with_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<(Bucket, Option<Object>)>> {
        // The bucket's columns are renamed (JOINED_BUCKET_COLUMNS) so that none collides
        // with one of the object's, which keep their names for `object_from`.
        let row = sqlx::query(
            "SELECT b.name AS b_name, b.owner_id AS b_owner_id, b.public AS b_public, \
             b.data_shards AS b_data_shards, b.parity_shards AS b_parity_shards, \
             b.created_at AS b_created_at, o.* \
             FROM buckets b LEFT JOIN objects o ON o.bucket = b.name AND o.key = $2 \
             WHERE b.name = $1",
        )
        .bind(bucket)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let b = bucket_from_columns(&r, &JOINED_BUCKET_COLUMNS)?;
        let o = match r.try_get::<Option<String>, _>("object_id")? {
            Some(_) => Some(object_from(&r)?),
            None => None,
        };
        Ok(Some((b, o)))
    }

    /// Objects of `bucket` whose key starts with `prefix`, from `from` on (`inclusive` or
    /// strictly after), in byte order of keys on both databases, at most `limit`.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        from: &str,
        inclusive: bool,
        limit: usize,
    ) -> Result<Vec<Object>> {
        // Range scan on the primary key: prefix <= key < successor(prefix).
        let upper = prefix_upper_bound(prefix);
        let (lower, inclusive) = if from.as_bytes() > prefix.as_bytes() {
            (from, inclusive)
        } else if from == prefix {
            (prefix, inclusive)
        } else {
            (prefix, true)
        };
        let collate = match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " COLLATE \"C\"",
        };
        let cmp = if inclusive { ">=" } else { ">" };
        let mut sql = format!(
            "SELECT {OBJECT_LIST_COLS} FROM objects WHERE bucket = $1 AND key{collate} {cmp} $2"
        );
        if upper.is_some() {
            sql.push_str(&format!(" AND key{collate} < $3"));
        }
        sql.push_str(&format!(
            " ORDER BY key{collate} LIMIT {}",
            limit.clamp(1, 100_000)
        ));
        let mut q = sqlx::query(&sql).bind(bucket).bind(lower);
        if let Some(u) = &upper {
            q = q.bind(u.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(object_from).collect()
    }

    pub async fn object_shards(&self, object_id: &str) -> Result<Vec<ShardLoc>> {
        let rows = sqlx::query(
            "SELECT chunk_index, shard_index, shard_id, node_id FROM shards WHERE object_id = $1 \
             ORDER BY chunk_index, shard_index",
        )
        .bind(object_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: Vec<u8> = r.try_get("shard_id")?;
                Ok(ShardLoc {
                    chunk_index: r.try_get::<i64, _>("chunk_index")? as u64,
                    shard_index: r.try_get::<i64, _>("shard_index")? as u32,
                    shard_id: id
                        .try_into()
                        .map_err(|_| GatewayError::Internal("shard id length".into()))?,
                    node_id: r.try_get("node_id")?,
                })
            })
            .collect()
    }

    /// Commit an object in one transaction: check the owner's quota, replace any previous
    /// object under the key (its shards become pending deletions), record the shards, and
    /// close the upload (its unused shards become pending deletions). Returns the replaced
    /// object's id, if any.
    pub async fn commit_object(&self, o: &NewObject<'_>) -> Result<Option<String>> {
        if let Some(committer) = &self.committer {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let job = CommitJob {
                object: OwnedObject::of(o),
                reply,
            };
            let gone = || GatewayError::Internal("the metadata committer has stopped".into());
            committer.send(job).await.map_err(|_| gone())?;
            return answer.await.map_err(|_| gone())?;
        }
        // Two commits of one key racing on PostgreSQL: the loser sees a unique violation and
        // retries, replacing the winner's object (last writer wins, as in S3).
        let mut attempt = 0;
        loop {
            match self.commit_once(o).await {
                Err(GatewayError::Database(e)) if is_unique_violation(&e) && attempt < 3 => {
                    attempt += 1;
                }
                r => return r,
            }
        }
    }

    async fn commit_once(&self, o: &NewObject<'_>) -> Result<Option<String>> {
        let (mut tx, _writer) = self.tx().await?;
        let r = commit_in(&mut tx, self.dialect, o).await?;
        tx.commit().await?;
        Ok(r)
    }

    /// Delete an object; its shards become pending deletions. True if it existed.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool> {
        let (mut tx, _writer) = self.tx().await?;
        let id: Option<String> =
            sqlx::query_scalar("SELECT object_id FROM objects WHERE bucket = $1 AND key = $2")
                .bind(bucket)
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(id) = id else {
            return Ok(false);
        };
        drop_object_rows(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(true)
    }

    // ---- uploads -----------------------------------------------------------------------

    pub async fn create_upload(&self, u: &Upload) -> Result<()> {
        sqlx::query(
            "INSERT INTO uploads (id, kind, bucket, key, owner_id, object_id, content_type, user_metadata, \
             data_shards, parity_shards, chunk_size, client_encrypted, resume_token, gateway_instance, \
             created_at, updated_at, encryption) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17)",
        )
        .bind(&u.id)
        .bind(&u.kind)
        .bind(&u.bucket)
        .bind(&u.key)
        .bind(&u.owner_id)
        .bind(&u.object_id)
        .bind(&u.content_type)
        .bind(serde_json::to_string(&u.user_metadata).unwrap_or_else(|_| "{}".into()))
        .bind(u.data_shards as i64)
        .bind(u.parity_shards as i64)
        .bind(u.chunk_size as i64)
        .bind(u.client_encrypted as i64)
        .bind(&u.resume_token)
        .bind(&u.gateway_instance)
        .bind(u.created_at)
        .bind(u.updated_at)
        .bind(&u.encryption)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn upload(&self, id: &str) -> Result<Option<Upload>> {
        let row = sqlx::query("SELECT * FROM uploads WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(upload_from).transpose()
    }

    pub async fn upload_by_resume_token(
        &self,
        bucket: &str,
        key: &str,
        owner: &str,
        token: &str,
    ) -> Result<Option<Upload>> {
        let row = sqlx::query(
            "SELECT * FROM uploads WHERE bucket = $1 AND key = $2 AND owner_id = $3 AND resume_token = $4 \
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(bucket)
        .bind(key)
        .bind(owner)
        .bind(token)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(upload_from).transpose()
    }

    /// Multipart uploads of a bucket, by key then upload id.
    pub async fn multipart_uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<Upload>> {
        let rows = sqlx::query(
            "SELECT * FROM uploads WHERE bucket = $1 AND kind = 'multipart' ORDER BY key, id",
        )
        .bind(bucket)
        .fetch_all(&self.pool)
        .await?;
        let mut v: Vec<Upload> = rows.iter().map(upload_from).collect::<Result<_>>()?;
        v.retain(|u| u.key.starts_with(prefix));
        Ok(v)
    }

    /// Uploads last touched before `cutoff` (of `kind`, or any kind).
    pub async fn stale_uploads(&self, kind: &str, cutoff: i64) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM uploads WHERE kind = $1 AND updated_at < $2")
                .bind(kind)
                .bind(cutoff)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Uploads of `kind` that earlier runs of this gateway left behind: instance ids are
    /// `<gateway id>:<run id>`, so these are the ones with our gateway id and another run.
    pub async fn uploads_of_earlier_runs(&self, kind: &str, current: &str) -> Result<Vec<String>> {
        let gateway = current.split(':').next().unwrap_or(current);
        Ok(sqlx::query_scalar(
            "SELECT id FROM uploads WHERE kind = $1 AND gateway_instance LIKE $2 AND gateway_instance <> $3",
        )
        .bind(kind)
        .bind(format!("{gateway}:%"))
        .bind(current)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn touch_upload(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE uploads SET updated_at = $1 WHERE id = $2")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Abort an upload: its parts go, its placed shards become pending deletions.
    pub async fn abort_upload(&self, id: &str) -> Result<bool> {
        let (mut tx, _writer) = self.tx().await?;
        let existed = release_upload(&mut tx, id).await?;
        tx.commit().await?;
        Ok(existed)
    }

    /// Note that shards are about to be stored for an upload (before they are sent), so a
    /// crash can never leave shards nobody will delete.
    pub async fn record_upload_shards(
        &self,
        upload_id: &str,
        shards: &[([u8; 32], String)],
    ) -> Result<()> {
        let (mut tx, _writer) = self.tx().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM uploads WHERE id = $1")
            .bind(upload_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(GatewayError::NoSuchUpload);
        }
        let sql = match self.dialect {
            Dialect::Sqlite => {
                "INSERT OR IGNORE INTO upload_shards (upload_id, shard_id, node_id) VALUES ($1, $2, $3)"
            }
            Dialect::Postgres => {
                "INSERT INTO upload_shards (upload_id, shard_id, node_id) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING"
            }
        };
        for (id, node) in shards {
            sqlx::query(sql)
                .bind(upload_id)
                .bind(&id[..])
                .bind(node)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn upload_shards(&self, upload_id: &str) -> Result<Vec<([u8; 32], String)>> {
        let rows = sqlx::query("SELECT shard_id, node_id FROM upload_shards WHERE upload_id = $1")
            .bind(upload_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let id: Vec<u8> = r.try_get("shard_id")?;
                Ok((
                    id.try_into()
                        .map_err(|_| GatewayError::Internal("shard id length".into()))?,
                    r.try_get("node_id")?,
                ))
            })
            .collect()
    }

    /// Keep a rich-client chunk's manifest entry (replacing an earlier one of that index).
    pub async fn put_upload_chunk(&self, upload_id: &str, index: u64, entry: &[u8]) -> Result<()> {
        let (mut tx, _writer) = self.tx().await?;
        sqlx::query("DELETE FROM upload_chunks WHERE upload_id = $1 AND chunk_index = $2")
            .bind(upload_id)
            .bind(index as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO upload_chunks (upload_id, chunk_index, entry) VALUES ($1, $2, $3)",
        )
        .bind(upload_id)
        .bind(index as i64)
        .bind(entry)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE uploads SET updated_at = $1 WHERE id = $2")
            .bind(now())
            .bind(upload_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn upload_chunks(&self, upload_id: &str) -> Result<Vec<(u64, Vec<u8>)>> {
        let rows = sqlx::query(
            "SELECT chunk_index, entry FROM upload_chunks WHERE upload_id = $1 ORDER BY chunk_index",
        )
        .bind(upload_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<i64, _>("chunk_index")? as u64,
                    r.try_get("entry")?,
                ))
            })
            .collect()
    }

    pub async fn put_part(&self, upload_id: &str, p: &Part) -> Result<Option<Part>> {
        let (mut tx, _writer) = self.tx().await?;
        let old =
            sqlx::query("SELECT * FROM upload_parts WHERE upload_id = $1 AND part_number = $2")
                .bind(upload_id)
                .bind(p.part_number as i64)
                .fetch_optional(&mut *tx)
                .await?
                .as_ref()
                .map(part_from)
                .transpose()?;
        sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1 AND part_number = $2")
            .bind(upload_id)
            .bind(p.part_number as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO upload_parts (upload_id, part_number, size, etag, chunks, stored_bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(upload_id)
        .bind(p.part_number as i64)
        .bind(p.size as i64)
        .bind(&p.etag)
        .bind(&p.layout)
        .bind(p.stored_bytes as i64)
        .bind(p.created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE uploads SET updated_at = $1 WHERE id = $2")
            .bind(now())
            .bind(upload_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(old)
    }

    pub async fn parts(&self, upload_id: &str) -> Result<Vec<Part>> {
        let rows =
            sqlx::query("SELECT * FROM upload_parts WHERE upload_id = $1 ORDER BY part_number")
                .bind(upload_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(part_from).collect()
    }

    // ---- shard deletion ----------------------------------------------------------------

    /// Pending deletions due now, oldest first.
    pub async fn due_deletions(&self, limit: usize) -> Result<Vec<([u8; 32], String, u32)>> {
        let rows = sqlx::query(&format!(
            "SELECT shard_id, node_id, attempts FROM pending_deletions WHERE next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT {limit}"
        ))
        .bind(now())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let id: Vec<u8> = r.try_get("shard_id")?;
                Ok((
                    id.try_into()
                        .map_err(|_| GatewayError::Internal("shard id length".into()))?,
                    r.try_get("node_id")?,
                    r.try_get::<i64, _>("attempts")? as u32,
                ))
            })
            .collect()
    }

    /// True if a committed object or an open upload still uses this shard on this node.
    pub async fn shard_in_use(&self, shard: &[u8; 32], node: &str) -> Result<bool> {
        let a: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM shards WHERE shard_id = $1 AND node_id = $2 LIMIT 1")
                .bind(&shard[..])
                .bind(node)
                .fetch_optional(&self.pool)
                .await?;
        let b: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM upload_shards WHERE shard_id = $1 AND node_id = $2 LIMIT 1",
        )
        .bind(&shard[..])
        .bind(node)
        .fetch_optional(&self.pool)
        .await?;
        Ok(a.is_some() || b.is_some())
    }

    pub async fn finish_deletion(&self, shard: &[u8; 32], node: &str) -> Result<()> {
        sqlx::query("DELETE FROM pending_deletions WHERE shard_id = $1 AND node_id = $2")
            .bind(&shard[..])
            .bind(node)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn retry_deletion(&self, shard: &[u8; 32], node: &str, at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE pending_deletions SET attempts = attempts + 1, next_attempt_at = $1 \
             WHERE shard_id = $2 AND node_id = $3",
        )
        .bind(at)
        .bind(&shard[..])
        .bind(node)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// True if a committed object or an open upload already uses this object id.
    pub async fn object_id_in_use(&self, object_id: &str) -> Result<bool> {
        let a: Option<i64> = sqlx::query_scalar("SELECT 1 FROM objects WHERE object_id = $1")
            .bind(object_id)
            .fetch_optional(&self.pool)
            .await?;
        let b: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM uploads WHERE object_id = $1 LIMIT 1")
                .bind(object_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(a.is_some() || b.is_some())
    }

    pub async fn upload_count(&self, kind: &str) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE kind = $1")
            .bind(kind)
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    pub async fn pending_deletion_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pending_deletions")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    // ---- nodes -------------------------------------------------------------------------

    pub async fn upsert_node(&self, n: &NodeRow) -> Result<()> {
        let (mut tx, _writer) = self.tx().await?;
        sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(&n.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO nodes (id, peer_id, public_key, grpc_address, node_type, status, capacity_bytes, \
             used_bytes, chunk_count, datacenter, rack, region, last_seen, joined_at, first_offline_at, \
             status_changed_at, auth_token_hash, command) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(&n.id)
        .bind(&n.peer_id)
        .bind(&n.public_key[..])
        .bind(&n.grpc_address)
        .bind(&n.node_type)
        .bind(&n.status)
        .bind(n.capacity_bytes as i64)
        .bind(n.used_bytes as i64)
        .bind(n.chunk_count as i64)
        .bind(&n.datacenter)
        .bind(&n.rack)
        .bind(&n.region)
        .bind(n.last_seen)
        .bind(n.joined_at)
        .bind(n.first_offline_at)
        .bind(n.status_changed_at)
        .bind(&n.auth_token_hash)
        .bind(&n.command)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn node(&self, id: &str) -> Result<Option<NodeRow>> {
        let row = sqlx::query("SELECT * FROM nodes WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(node_from).transpose()
    }

    pub async fn nodes(&self) -> Result<Vec<NodeRow>> {
        let rows = sqlx::query("SELECT * FROM nodes ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(node_from).collect()
    }

    pub async fn node_heartbeat(
        &self,
        id: &str,
        used: u64,
        chunks: u64,
        capacity: u64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE nodes SET last_seen = $1, used_bytes = $2, chunk_count = $3, capacity_bytes = $4 \
             WHERE id = $5",
        )
        .bind(now())
        .bind(used as i64)
        .bind(chunks as i64)
        .bind(capacity as i64)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn set_node_status(
        &self,
        id: &str,
        status: &str,
        first_offline_at: Option<i64>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE nodes SET status = $1, first_offline_at = $2, status_changed_at = $3 WHERE id = $4",
        )
        .bind(status)
        .bind(first_offline_at)
        .bind(now())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn set_node_command(&self, id: &str, command: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE nodes SET command = $1 WHERE id = $2")
            .bind(command)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Remove a node and every record of shards on it (the specification's 7-day removal).
    pub async fn remove_node(&self, id: &str) -> Result<()> {
        let (mut tx, _writer) = self.tx().await?;
        sqlx::query("DELETE FROM shards WHERE node_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM pending_deletions WHERE node_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn part_from(r: &AnyRow) -> Result<Part> {
    Ok(Part {
        part_number: r.try_get::<i64, _>("part_number")? as u32,
        size: r.try_get::<i64, _>("size")? as u64,
        etag: r.try_get("etag")?,
        layout: r.try_get("chunks")?,
        stored_bytes: r.try_get::<i64, _>("stored_bytes")? as u64,
        created_at: r.try_get("created_at")?,
    })
}

/// The smallest string greater than every string starting with `prefix`, if any.
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(c) = chars.pop() {
        if let Some(n) = (c as u32 + 1..=0x10FFFF).find_map(char::from_u32) {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Queue every shard of `object_id` for deletion and drop its rows.
/// The statements of one object commit, inside the caller's transaction: check the owner's
/// quota, replace any previous object under the key (its shards become pending deletions),
/// record the shards, and close the upload. Returns the replaced object's id, if any.
async fn commit_in(tx: &mut Tx<'_>, dialect: Dialect, o: &NewObject<'_>) -> Result<Option<String>> {
    // Serialise commits of one owner so concurrent uploads cannot both pass the quota.
    // One statement reads everything the commit decides on: the writer lock is held for
    // every round trip, so fewer round trips is more commits per second.
    let lock = match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE OF u",
    };
    let (quota, used, bucket_exists, old_id, old_size): (
        i64,
        i64,
        Option<i64>,
        Option<String>,
        Option<i64>,
    ) = sqlx::query_as(&format!(
        "SELECT u.quota_bytes, u.used_bytes, \
                (SELECT CAST(1 AS BIGINT) FROM buckets WHERE name = $2), o.object_id, o.size \
         FROM users u LEFT JOIN objects o ON o.bucket = $2 AND o.key = $3 \
         WHERE u.id = $1{lock}"
    ))
    .bind(o.owner_id)
    .bind(o.bucket)
    .bind(o.key)
    .fetch_one(&mut **tx)
    .await?;
    let old: Option<(String, i64)> = old_id.zip(old_size);
    if bucket_exists.is_none() {
        return Err(GatewayError::NoSuchBucket);
    }
    let used = used.max(0) as u64;
    let freed = old.as_ref().map(|(_, s)| *s as u64).unwrap_or(0);
    if o.size > freed && used - freed.min(used) + o.size > quota as u64 {
        return Err(GatewayError::QuotaExceeded {
            quota: quota as u64,
            used,
            requested: o.size,
        });
    }
    if let Some((old_id, _)) = &old {
        drop_object_rows(tx, old_id).await?;
    }
    sqlx::query(&format!(
        "INSERT INTO objects ({OBJECT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(o.bucket)
    .bind(o.key)
    .bind(o.object_id)
    .bind(o.owner_id)
    .bind(o.size as i64)
    .bind(o.stored_bytes as i64)
    .bind(o.content_type)
    .bind(o.etag)
    .bind(now())
    .bind(serde_json::to_string(o.user_metadata).unwrap_or_else(|_| "{}".into()))
    .bind(o.client_encrypted as i64)
    .bind(o.layout)
    .bind(o.inline_data)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE users SET used_bytes = used_bytes + $1 WHERE id = $2")
        .bind(o.size as i64)
        .bind(o.owner_id)
        .execute(&mut **tx)
        .await?;
    for s in o.shards {
        sqlx::query(
            "INSERT INTO shards (object_id, chunk_index, shard_index, shard_id, node_id) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(o.object_id)
        .bind(s.chunk_index as i64)
        .bind(s.shard_index as i64)
        .bind(&s.shard_id[..])
        .bind(&s.node_id)
        .execute(&mut **tx)
        .await?;
        if let Some(u) = o.upload_id {
            sqlx::query(
                "DELETE FROM upload_shards WHERE upload_id = $1 AND shard_id = $2 AND node_id = $3",
            )
            .bind(u)
            .bind(&s.shard_id[..])
            .bind(&s.node_id)
            .execute(&mut **tx)
            .await?;
        }
    }
    if let Some(u) = o.upload_id {
        release_upload(tx, u).await?;
    }
    Ok(old.map(|(id, _)| id))
}

async fn drop_object_rows(tx: &mut Tx<'_>, object_id: &str) -> Result<()> {
    queue_deletions(
        tx,
        "SELECT DISTINCT shard_id, node_id FROM shards WHERE object_id = $1",
        object_id,
    )
    .await?;
    sqlx::query("DELETE FROM shards WHERE object_id = $1")
        .bind(object_id)
        .execute(&mut **tx)
        .await?;
    // The counter moves in the same transaction as the row.
    sqlx::query(
        "UPDATE users SET used_bytes = used_bytes - \
         (SELECT size FROM objects WHERE object_id = $1) \
         WHERE id = (SELECT owner_id FROM objects WHERE object_id = $1)",
    )
    .bind(object_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM objects WHERE object_id = $1")
        .bind(object_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Close an upload: every shard still recorded for it becomes a pending deletion.
async fn release_upload(tx: &mut Tx<'_>, upload_id: &str) -> Result<bool> {
    queue_deletions(
        tx,
        "SELECT shard_id, node_id FROM upload_shards WHERE upload_id = $1",
        upload_id,
    )
    .await?;
    sqlx::query("DELETE FROM upload_shards WHERE upload_id = $1")
        .bind(upload_id)
        .execute(&mut **tx)
        .await?;
    for table in ["upload_parts", "upload_chunks"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE upload_id = $1"))
            .bind(upload_id)
            .execute(&mut **tx)
            .await?;
    }
    let r = sqlx::query("DELETE FROM uploads WHERE id = $1")
        .bind(upload_id)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() > 0)
}

async fn queue_deletions(tx: &mut Tx<'_>, select: &str, arg: &str) -> Result<()> {
    let rows = sqlx::query(select).bind(arg).fetch_all(&mut **tx).await?;
    let now = now();
    for r in rows {
        let id: Vec<u8> = r.try_get("shard_id")?;
        let node: String = r.try_get("node_id")?;
        sqlx::query(
            "INSERT INTO pending_deletions (shard_id, node_id, attempts, next_attempt_at) \
             VALUES ($1, $2, 0, $3) ON CONFLICT (shard_id, node_id) DO NOTHING",
        )
        .bind(&id[..])
        .bind(&node)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request dropped while its transaction begins (a client that disconnects) must not
    /// leave a pooled connection inside a transaction: that connection would hold SQLite's
    /// write lock, and every other writer would wait out the busy timeout and fail.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_dropped_while_it_begins_leaves_no_transaction_open() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
        let db = Db::connect(&url, 4).await.unwrap();
        db.upsert_node(&NodeRow::for_test("n", "online"))
            .await
            .unwrap();
        for i in 0..400u64 {
            let d = db.clone();
            let write =
                tokio::spawn(async move { d.upsert_node(&NodeRow::for_test("n", "online")).await });
            // Dropped at a different moment each time, often while BEGIN is on its way.
            for _ in 0..i % 5 {
                tokio::task::yield_now().await;
            }
            std::thread::sleep(std::time::Duration::from_micros(i % 13 * 20));
            write.abort();
            let _ = write.await;
            let other = tokio::time::timeout(
                std::time::Duration::from_secs(3),
                db.node_heartbeat("n", i, i, 1 << 30),
            )
            .await;
            assert!(
                matches!(other, Ok(Ok(()))),
                "round {i}: a dropped write left the database locked ({other:?})"
            );
        }
    }

    /// Whether the test key reads as revoked, by access key id and by hash.
    async fn revoked(db: &Db) -> (bool, bool) {
        let by_id = db.api_key_by_access_id("CYXCACHE").await.unwrap().unwrap();
        let by_hash = db.api_key_by_hash("hash-1").await.unwrap().unwrap();
        (by_id.revoked_at.is_some(), by_hash.revoked_at.is_some())
    }

    /// Two gateways on one database: a key revoked through one stops working through the
    /// other within [`KEY_CACHE_TTL`], and at once through the one that revoked it.
    #[tokio::test]
    async fn revoked_keys_leave_every_gateways_cache() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
        let (a, b) = (
            Db::connect(&url, 2).await.unwrap(),
            Db::connect(&url, 2).await.unwrap(),
        );
        let u = a
            .create_user(Some("k@example.com"), None, None, 1 << 30)
            .await
            .unwrap();
        let k = a
            .insert_api_key(
                &u.id, "k", "hash-1", "CYXCACHE", b"sealed", true, true, None,
            )
            .await
            .unwrap();
        for db in [&a, &b] {
            let got = db.api_key_by_access_id("CYXCACHE").await.unwrap().unwrap();
            assert!(got.revoked_at.is_none());
            assert!(db.api_key_by_hash("hash-1").await.unwrap().is_some());
        }
        assert!(a.api_key_by_access_id("CYXNONE").await.unwrap().is_none());
        assert!(a.revoke_api_key(&u.id, &k.id).await.unwrap());
        // The revoking gateway forgets the key at once, under both lookups.
        assert_eq!(revoked(&a).await, (true, true));
        // The other one may still hold it, but not for longer than the TTL.
        tokio::time::sleep(KEY_CACHE_TTL + std::time::Duration::from_millis(50)).await;
        assert_eq!(revoked(&b).await, (true, true));
    }

    /// The joined read gives what the two separate reads give.
    #[tokio::test]
    async fn bucket_with_object_matches_separate_reads() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
        let db = Db::connect(&url, 2).await.unwrap();
        let u = db
            .create_user(Some("o@example.com"), None, None, 1 << 30)
            .await
            .unwrap();
        let b = Bucket {
            name: "joined".into(),
            owner_id: u.id.clone(),
            public: true,
            data_shards: 8,
            parity_shards: 6,
            created_at: 7,
        };
        db.create_bucket(&b).await.unwrap();
        assert!(
            db.bucket_with_object("absent", "k")
                .await
                .unwrap()
                .is_none()
        );
        let (got, none) = db.bucket_with_object("joined", "k").await.unwrap().unwrap();
        assert_eq!(got, db.bucket("joined").await.unwrap().unwrap());
        assert!(none.is_none());
        let meta = BTreeMap::from([("a".to_string(), "b".to_string())]);
        db.commit_object(&NewObject {
            bucket: "joined",
            key: "k",
            object_id: "obj-1",
            owner_id: &u.id,
            size: 3,
            stored_bytes: 3,
            content_type: "text/plain",
            etag: "e",
            user_metadata: &meta,
            client_encrypted: false,
            layout: None,
            inline_data: Some(b"abc"),
            shards: &[],
            upload_id: None,
        })
        .await
        .unwrap();
        let (got, o) = db.bucket_with_object("joined", "k").await.unwrap().unwrap();
        assert_eq!(got, b);
        let (o, want) = (o.unwrap(), db.object("joined", "k").await.unwrap().unwrap());
        assert_eq!(
            (&o.key, &o.object_id, o.size, &o.etag, &o.user_metadata),
            (
                &want.key,
                &want.object_id,
                want.size,
                &want.etag,
                &want.user_metadata
            )
        );
        assert_eq!(o.inline_data.as_deref(), Some(&b"abc"[..]));
        assert!(
            db.bucket_with_object("joined", "other")
                .await
                .unwrap()
                .unwrap()
                .1
                .is_none()
        );
    }

    #[test]
    fn key_cache_is_bounded() {
        let c = KeyCache::default();
        let key = |i: usize| ApiKey {
            id: format!("key-{i}"),
            user_id: "u".into(),
            name: String::new(),
            access_key_id: format!("A{i}"),
            sealed_secret: Vec::new(),
            can_read: true,
            can_write: false,
            created_at: 0,
            expires_at: None,
            revoked_at: None,
        };
        for i in 0..KEY_CACHE_MAX * 3 {
            c.put(format!("a:{i}"), &key(i));
            assert!(c.map.lock().unwrap().len() <= KEY_CACHE_MAX);
        }
        let last = KEY_CACHE_MAX * 3 - 1;
        assert_eq!(
            c.get(&format!("a:{last}")).unwrap().id,
            format!("key-{last}")
        );
        c.forget(&format!("key-{last}"));
        assert!(c.get(&format!("a:{last}")).is_none());
    }

    #[test]
    fn upper_bound_of_prefixes() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("a/").as_deref(), Some("a0"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
    }
}
