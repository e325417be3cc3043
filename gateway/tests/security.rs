//! Authorization matrix, credentials, quotas and bad input: each gets the right error, stores
//! nothing and leaves usage unchanged.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn code<E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug>(
    e: &aws_sdk_s3::error::SdkError<E>,
) -> String {
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => s.err().code().unwrap_or("").to_string(),
        other => format!("{other:?}"),
    }
}

/// Send raw bytes, return the status code and the response text.
async fn raw(addr: &str, req: &[u8], close_after: bool) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req).await.unwrap();
    if close_after {
        s.shutdown().await.unwrap();
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn authorization_matrix() {
    let mut net = Net::start(6, None).await;
    let base = net.http.clone();
    let owner = signup(&base, "owner@example.com").await;
    let other = signup(&base, "other@example.com").await;
    let o = s3_for(&base, &owner);
    let x = s3_for(&base, &other);
    o.create_bucket().bucket("private-b").send().await.unwrap();
    let r = http()
        .put(format!("{base}/s3/public-b"))
        .bearer_auth(&owner.token)
        .json(&json!({ "visibility": "public", "erasure_config": { "data_shards": 4, "parity_shards": 2 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["visibility"], "public");
    for b in ["private-b", "public-b"] {
        o.put_object()
            .bucket(b)
            .key("f")
            .body(ByteStream::from_static(b"hello"))
            .send()
            .await
            .unwrap();
    }
    let anon = http();
    for (bucket, public) in [("private-b", false), ("public-b", true)] {
        // read
        assert!(o.get_object().bucket(bucket).key("f").send().await.is_ok());
        assert_eq!(
            x.get_object().bucket(bucket).key("f").send().await.is_ok(),
            public,
            "other read {bucket}"
        );
        let r = anon.get(format!("{base}/{bucket}/f")).send().await.unwrap();
        assert_eq!(r.status().is_success(), public, "anonymous read {bucket}");
        if public {
            assert_eq!(r.text().await.unwrap(), "hello");
        } else {
            assert_eq!(r.status(), 403);
            assert!(
                r.text()
                    .await
                    .unwrap()
                    .contains("<Code>AccessDenied</Code>")
            );
        }
        // a key that does not exist: only those who may read the bucket learn that
        let e = x
            .get_object()
            .bucket(bucket)
            .key("missing")
            .send()
            .await
            .unwrap_err();
        let want = if public { "NoSuchKey" } else { "AccessDenied" };
        assert_eq!(code(&e), want, "other read of a missing key in {bucket}");
        // list
        assert!(o.list_objects_v2().bucket(bucket).send().await.is_ok());
        assert_eq!(
            x.list_objects_v2().bucket(bucket).send().await.is_ok(),
            public
        );
        assert_eq!(
            anon.get(format!("{base}/s3/{bucket}?list-type=2"))
                .send()
                .await
                .unwrap()
                .status()
                .is_success(),
            public
        );
        // write
        let e = x
            .put_object()
            .bucket(bucket)
            .key("g")
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "AccessDenied");
        assert_eq!(
            anon.put(format!("{base}/{bucket}/g"))
                .body("x")
                .send()
                .await
                .unwrap()
                .status(),
            403
        );
        // delete
        let e = x
            .delete_object()
            .bucket(bucket)
            .key("f")
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e), "AccessDenied");
        assert_eq!(
            anon.delete(format!("{base}/{bucket}/f"))
                .send()
                .await
                .unwrap()
                .status(),
            403
        );
        assert!(x.delete_bucket().bucket(bucket).send().await.is_err());
        // still there
        assert!(o.head_object().bucket(bucket).key("f").send().await.is_ok());
    }
    // Listing buckets needs credentials and shows only one's own.
    assert_eq!(
        anon.get(format!("{base}/")).send().await.unwrap().status(),
        403
    );
    assert!(x.list_buckets().send().await.unwrap().buckets().is_empty());

    // A read-only key reads but cannot write.
    let r = http()
        .post(format!("{base}/api/v1/auth/api-keys"))
        .bearer_auth(&owner.token)
        .json(&json!({ "name": "ro", "permissions": ["read"] }))
        .send()
        .await
        .unwrap();
    let k: Value = r.json().await.unwrap();
    let ro = s3(
        &base,
        k["access_key_id"].as_str().unwrap(),
        k["key"].as_str().unwrap(),
    );
    assert!(
        ro.get_object()
            .bucket("private-b")
            .key("f")
            .send()
            .await
            .is_ok()
    );
    let e = ro
        .put_object()
        .bucket("private-b")
        .key("h")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AccessDenied");

    // Keys: listed without secrets, revoked keys stop working at once.
    let list: Value = http()
        .get(format!("{base}/api/v1/auth/api-keys"))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = list.to_string();
    assert!(!text.contains(&owner.api_key), "secrets must not be listed");
    assert_eq!(list["keys"].as_array().unwrap().len(), 2);
    let id = k["id"].as_str().unwrap();
    let r = http()
        .delete(format!("{base}/api/v1/auth/api-keys/{id}"))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let e = ro
        .get_object()
        .bucket("private-b")
        .key("f")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 401);

    // Wrong secret: SignatureDoesNotMatch; unknown key id: InvalidAccessKeyId.
    let bad = s3(&base, &owner.access_key_id, "not-the-secret");
    let e = bad.list_buckets().send().await.unwrap_err();
    assert_eq!(code(&e), "SignatureDoesNotMatch");
    let bad = s3(&base, "CYXNOSUCHKEY0000000", "x");
    assert_eq!(
        code(&bad.list_buckets().send().await.unwrap_err()),
        "InvalidAccessKeyId"
    );
    // Expired presigned URL.
    let pc = aws_sdk_s3::presigning::PresigningConfig::builder()
        .start_time(std::time::SystemTime::now() - Duration::from_secs(120))
        .expires_in(Duration::from_secs(60))
        .build()
        .unwrap();
    let url = o
        .get_object()
        .bucket("private-b")
        .key("f")
        .presigned(pc)
        .await
        .unwrap();
    let r = http().get(url.uri()).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("AccessDenied"));

    // Sessions: refresh rotates, logout revokes.
    let login: Value = http()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "email": "owner@example.com", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = login["tokens"]["refresh_token"].as_str().unwrap();
    let r = http()
        .post(format!("{base}/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http()
        .post(format!("{base}/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a refresh token works once");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "AUTH_INVALID_TOKEN");
    assert!(
        v["error"]["request_id"]
            .as_str()
            .unwrap()
            .starts_with("req-")
    );
    let r = http()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "email": "owner@example.com", "password": "wrong password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wallet_login_once_within_five_minutes() {
    use ed25519_dalek::Signer;
    let mut net = Net::start(0, None).await;
    let base = net.http.clone();
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let wallet = bs58::encode(key.verifying_key().to_bytes()).into_string();
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let fmt = &time::format_description::well_known::Rfc3339;
    let msg = format!("Sign in to CyxCloud at {}", now.format(fmt).unwrap());
    let sig = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        key.sign(msg.as_bytes()).to_bytes(),
    );
    let body = json!({ "wallet_address": wallet, "signature": sig, "message": msg });
    let r = http()
        .post(format!("{base}/api/v1/auth/wallet"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["user"]["wallet_address"], wallet.as_str());
    let r = http()
        .post(format!("{base}/api/v1/auth/wallet"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "replayed signature");
    let old = format!(
        "Sign in to CyxCloud at {}",
        (now - time::Duration::minutes(6)).format(fmt).unwrap()
    );
    let sig = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        key.sign(old.as_bytes()).to_bytes(),
    );
    let r = http()
        .post(format!("{base}/api/v1/auth/wallet"))
        .json(&json!({ "wallet_address": wallet, "signature": sig, "message": old }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "AUTH_WALLET_MISMATCH");
    let other = ed25519_dalek::SigningKey::from_bytes(&[10; 32]);
    let msg2 = format!(
        "Sign in to CyxCloud at {}",
        (now - time::Duration::seconds(1)).format(fmt).unwrap()
    );
    let sig = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        other.sign(msg2.as_bytes()).to_bytes(),
    );
    let r = http()
        .post(format!("{base}/api/v1/auth/wallet"))
        .json(&json!({ "wallet_address": wallet, "signature": sig, "message": msg2 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "signature by another key");
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quota_and_bad_input_store_nothing() {
    let mut net = Net::start_with(6, None, |c| c.storage.default_quota_bytes = 3 << 20).await;
    let base = net.http.clone();
    let addr = net.gw().http_addr.to_string();
    let u = signup(&base, "q@example.com").await;
    let c = s3_for(&base, &u);
    c.create_bucket().bucket("bk1").send().await.unwrap();
    c.put_object()
        .bucket("bk1")
        .key("two")
        .body(ByteStream::from(data(2 << 20, 1)))
        .send()
        .await
        .unwrap();
    let before = usage(&base, &u.api_key).await;
    assert_eq!(before, 2 << 20);

    // Over quota: 507 InsufficientStorage, with the spec's JSON for JSON clients.
    let e = c
        .put_object()
        .bucket("bk1")
        .key("big")
        .body(ByteStream::from(data(2 << 20, 2)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InsufficientStorage");
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 507);
    let r = http()
        .put(format!("{base}/s3/bk1/big"))
        .header("x-api-key", &u.api_key)
        .header("accept", "application/json")
        .body(data(2 << 20, 2))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 507);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "STORAGE_QUOTA_EXCEEDED");
    assert_eq!(v["error"]["details"]["quota_bytes"], 3 << 20);
    assert!(v["error"]["timestamp"].as_str().unwrap().ends_with('Z'));
    // Overwriting with a smaller object is always allowed.
    c.put_object()
        .bucket("bk1")
        .key("two")
        .body(ByteStream::from(data(1 << 20, 3)))
        .send()
        .await
        .unwrap();
    let before = usage(&base, &u.api_key).await;
    assert_eq!(before, 1 << 20);

    let key = &u.api_key;
    let put = |path: &str, extra: &str, body: &[u8]| {
        let mut r = format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\n{extra}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    // Malformed XML.
    let body = b"<Delete><Object><Key>x</Key></Delete>";
    let req = format!(
        "POST /bk1?delete HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (s, t) = raw(&addr, &[req.as_bytes(), body].concat(), false).await;
    assert_eq!(s, 400, "{t}");
    assert!(t.contains("MalformedXML"), "{t}");
    // Invalid bucket names, keys with .. or NUL.
    let (s, t) = raw(
        &addr,
        &put("/Bad_Bucket", "Connection: close\r\n", b""),
        false,
    )
    .await;
    assert_eq!(s, 400, "{t}");
    assert!(t.contains("InvalidBucketName"));
    for k in ["/bk1/a/../b", "/bk1/a%00b", "/bk1/.."] {
        let (s, t) = raw(&addr, &put(k, "Connection: close\r\n", b"data"), false).await;
        assert_eq!(s, 400, "{k}: {t}");
    }
    // Oversized headers.
    let big = format!("X-Big: {}\r\n", "a".repeat(20_000));
    let (s, _) = raw(
        &addr,
        &put("/bk1/hdr", &format!("{big}Connection: close\r\n"), b"x"),
        false,
    )
    .await;
    assert!(s == 400 || s == 431, "oversized headers: {s}");
    // Content-MD5 mismatch.
    let (s, t) = raw(
        &addr,
        &put(
            "/bk1/md5",
            "Content-MD5: AAAAAAAAAAAAAAAAAAAAAA==\r\nConnection: close\r\n",
            b"hello",
        ),
        false,
    )
    .await;
    assert_eq!(s, 400);
    assert!(t.contains("BadDigest"), "{t}");
    // Content-Length longer than the body (client closes early): nothing stored.
    for size in [100usize, 300_000] {
        let mut req = format!(
            "PUT /bk1/short HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\nContent-Length: {}\r\n\r\n",
            size * 2
        )
        .into_bytes();
        req.extend(data(size, 9));
        let _ = raw(&addr, &req, true).await;
    }
    // Content-Length shorter than the body: the extra bytes are the next (bad) request.
    let mut req = put("/bk1/long", "", b"12345");
    req.extend_from_slice(b"GARBAGE\r\n\r\n");
    let (s, _) = raw(&addr, &req, true).await;
    assert_eq!(s, 200, "the declared 5 bytes are an object");
    assert_eq!(
        c.get_object()
            .bucket("bk1")
            .key("long")
            .send()
            .await
            .unwrap()
            .content_length(),
        Some(5)
    );
    c.delete_object()
        .bucket("bk1")
        .key("long")
        .send()
        .await
        .unwrap();
    // A client that disconnects mid-upload of a large object.
    {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "PUT /bk1/cut HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\nContent-Length: {}\r\n\r\n",
            2 << 20
        );
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(&data(1 << 20, 4)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for k in ["short", "md5", "cut", "hdr"] {
        assert!(
            c.head_object().bucket("bk1").key(k).send().await.is_err(),
            "{k} must not exist"
        );
    }
    assert_eq!(usage(&base, &u.api_key).await, before);
    let keys: Vec<String> = c
        .list_objects_v2()
        .bucket("bk1")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect();
    assert_eq!(keys, ["two"]);
    // Failed uploads' shards are queued and deleted from the nodes.
    let db = net.gw().state.db.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while db.pending_deletion_count().await.unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "orphan shards were not deleted"
        );
        net.gw().state.janitor_kick.notify_one();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_records_first_writer_wins_and_rotation_needs_the_current_one() {
    let net = Net::start(0, None).await;
    let base = net.http.clone();
    let info: Value = http()
        .get(format!("{base}/api/v1/info"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["grpc_port"].as_u64().unwrap() as u16,
        net.grpc.rsplit(':').next().unwrap().parse::<u16>().unwrap()
    );
    let u = signup(&base, "keyrec@example.com").await;
    let put = |body: Value, key: String| {
        let base = base.clone();
        async move {
            http()
                .put(format!("{base}/api/v1/account/key-record"))
                .header("x-api-key", key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let get = || async {
        get_json(&format!("{base}/api/v1/account/key-record"), &u.api_key).await["key_record"]
            .clone()
    };
    assert_eq!(get().await, Value::Null);
    let a = json!({"version": 1, "kind": "passphrase", "key_id": "aa"});
    let b = json!({"version": 1, "kind": "passphrase", "key_id": "bb"});
    let r: Value = put(json!({ "key_record": a }), u.api_key.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["key_record"], a);
    // A second machine racing with another salt gets the first record back.
    let r: Value = put(json!({ "key_record": b }), u.api_key.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(r["key_record"], a);
    // Rotation must name the current record.
    let r = put(json!({ "key_record": b, "replaces": b }), u.api_key.clone()).await;
    assert_eq!(r.status(), 412);
    let r = put(json!({ "key_record": b, "replaces": a }), u.api_key.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(get().await, b);
    // Bad bodies and anonymous callers change nothing.
    assert_eq!(
        put(json!({ "key_record": "x" }), u.api_key.clone())
            .await
            .status(),
        400
    );
    let big = json!({ "key_record": { "pad": "x".repeat(5000) } });
    assert_eq!(put(big, u.api_key.clone()).await.status(), 400);
    let r = http()
        .put(format!("{base}/api/v1/account/key-record"))
        .json(&json!({"key_record": a}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(get().await, b);
    // The account's buckets, as JSON.
    s3_for(&base, &u)
        .create_bucket()
        .bucket("kr-bucket")
        .send()
        .await
        .unwrap();
    let l = get_json(&format!("{base}/api/v1/buckets"), &u.api_key).await;
    assert_eq!(l["buckets"][0]["bucket"], "kr-bucket");
    assert_eq!(l["buckets"][0]["object_count"], 0);
}
