//! Real-client tests: aws-sdk-s3 against a gateway with real node processes, on SQLite and
//! on PostgreSQL (one shared suite).

mod common;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier};
use common::*;
use std::time::Duration;

async fn get_bytes(c: &aws_sdk_s3::Client, b: &str, k: &str) -> Vec<u8> {
    c.get_object()
        .bucket(b)
        .key(k)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {k}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

fn code<E: aws_sdk_s3::error::ProvideErrorMetadata + std::fmt::Debug>(
    e: &aws_sdk_s3::error::SdkError<E>,
) -> String {
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => s.err().code().unwrap_or("").to_string(),
        other => format!("{other:?}"),
    }
}

fn status<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}

/// The shared suite: CRUD, listing, ranges, conditionals, multipart, copy, presigning,
/// quotas. Both base paths (`/s3` and the root) are exercised.
async fn suite(net: &Net) {
    let base = &net.http;
    let alice = signup(base, "alice@example.com").await;
    let c = s3_for(&format!("{base}/s3/"), &alice);
    let root = s3_for(base, &alice);

    // Buckets.
    c.create_bucket().bucket("photos").send().await.unwrap();
    let e = c.create_bucket().bucket("photos").send().await.unwrap_err();
    assert_eq!(code(&e), "BucketAlreadyOwnedByYou");
    let e = c
        .create_bucket()
        .bucket("Bad_Name")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidBucketName");
    root.head_bucket().bucket("photos").send().await.unwrap();
    let names: Vec<String> = c
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .map(|b| b.name().unwrap().to_string())
        .collect();
    assert_eq!(names, ["photos"]);

    // Small (inline) and multi-chunk objects, byte for byte, with metadata.
    let small = data(1000, 1);
    let big = data(3 * (1 << 20) + 12345, 2);
    c.put_object()
        .bucket("photos")
        .key("small.bin")
        .content_type("image/x-test")
        .metadata("camera", "pinhole")
        .body(ByteStream::from(small.clone()))
        .send()
        .await
        .unwrap();
    let put = root
        .put_object()
        .bucket("photos")
        .key("dir/big.bin")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap();
    let md5 = format!("\"{:032x}\"", md5_of(&big));
    assert_eq!(
        put.e_tag(),
        Some(md5.as_str()),
        "single-part ETag is the MD5"
    );
    assert_eq!(get_bytes(&c, "photos", "small.bin").await, small);
    assert_eq!(get_bytes(&root, "photos", "dir/big.bin").await, big);
    let h = c
        .head_object()
        .bucket("photos")
        .key("small.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_length(), Some(1000));
    assert_eq!(h.content_type(), Some("image/x-test"));
    assert_eq!(
        h.metadata().unwrap().get("camera").map(String::as_str),
        Some("pinhole")
    );
    let raw = http()
        .head(format!("{base}/s3/photos/small.bin"))
        .header("x-api-key", &alice.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["x-cyx-visibility"], "private");
    assert_eq!(raw.headers()["x-cyx-erasure-config"], "4+2");
    assert!(raw.headers().contains_key("x-amz-request-id"));

    // Ranges across chunk boundaries.
    for (a, b) in [
        (0u64, 9u64),
        ((1 << 20) - 5, (1 << 20) + 5),
        (100, 3 * (1 << 20) + 12344),
    ] {
        let r = c
            .get_object()
            .bucket("photos")
            .key("dir/big.bin")
            .range(format!("bytes={a}-{b}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.content_range(),
            Some(format!("bytes {a}-{b}/{}", big.len()).as_str())
        );
        let got = r.body.collect().await.unwrap().into_bytes();
        assert_eq!(&got[..], &big[a as usize..=b as usize]);
    }
    let r = c
        .get_object()
        .bucket("photos")
        .key("dir/big.bin")
        .range("bytes=-7")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &r.body.collect().await.unwrap().into_bytes()[..],
        &big[big.len() - 7..]
    );
    let e = c
        .get_object()
        .bucket("photos")
        .key("small.bin")
        .range("bytes=5000-")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 416);

    // Conditional requests.
    let etag = h.e_tag().unwrap().to_string();
    let e = c
        .get_object()
        .bucket("photos")
        .key("small.bin")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 304);
    let e = c
        .get_object()
        .bucket("photos")
        .key("small.bin")
        .if_match("\"nope\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 412);
    c.get_object()
        .bucket("photos")
        .key("small.bin")
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    let future = aws_sdk_s3::primitives::DateTime::from_secs(4_000_000_000);
    let e = c
        .get_object()
        .bucket("photos")
        .key("small.bin")
        .if_modified_since(future)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 304);

    // Keys with unicode, spaces and &+% round-trip through listing.
    let odd = ["naïve ファイル.txt", "a b/c&d+e%f.txt", "x=y?z#w.txt"];
    for k in odd {
        c.put_object()
            .bucket("photos")
            .key(k)
            .body(ByteStream::from(k.as_bytes().to_vec()))
            .send()
            .await
            .unwrap();
        assert_eq!(get_bytes(&root, "photos", k).await, k.as_bytes());
    }
    let listed: Vec<String> = c
        .list_objects_v2()
        .bucket("photos")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect();
    for k in odd {
        assert!(
            listed.contains(&k.to_string()),
            "{k} missing from {listed:?}"
        );
    }

    // Delimiters and pagination over more than 1,000 keys.
    c.create_bucket().bucket("many").send().await.unwrap();
    let mut want = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1100 {
        let key = if i % 10 == 0 {
            format!("d{:02}/k{i:04}", i % 7)
        } else {
            format!("k{i:04}")
        };
        want.push(key.clone());
        let c = c.clone();
        tasks.spawn(async move {
            c.put_object()
                .bucket("many")
                .key(key)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .unwrap();
        });
        if tasks.len() >= 32 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    want.sort();
    let mut got = Vec::new();
    let mut pages = 0;
    let mut p = c
        .list_objects_v2()
        .bucket("many")
        .into_paginator()
        .page_size(250)
        .send();
    while let Some(page) = p.next().await {
        let page = page.unwrap();
        pages += 1;
        got.extend(page.contents().iter().map(|o| o.key().unwrap().to_string()));
    }
    assert_eq!(got, want);
    assert_eq!(pages, 5);
    // 7 common prefixes and 990 top-level keys.
    let r = c
        .list_objects_v2()
        .bucket("many")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert!(!r.is_truncated().unwrap());
    assert_eq!((r.common_prefixes().len(), r.contents().len()), (7, 990));
    let r = c
        .list_objects_v2()
        .bucket("many")
        .delimiter("/")
        .max_keys(5)
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = r
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(prefixes, ["d00/", "d01/", "d02/", "d03/", "d04/"]);
    let r2 = c
        .list_objects_v2()
        .bucket("many")
        .delimiter("/")
        .max_keys(3)
        .continuation_token(r.next_continuation_token().unwrap())
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = r2
        .common_prefixes()
        .iter()
        .map(|p| p.prefix().unwrap())
        .collect();
    assert_eq!(prefixes, ["d05/", "d06/"]);
    assert_eq!(r2.contents()[0].key(), Some("k0001"));
    let r = c
        .list_objects_v2()
        .bucket("many")
        .prefix("d03/")
        .start_after("d03/k0300")
        .send()
        .await
        .unwrap();
    assert!(r.contents().iter().all(|o| o.key().unwrap() > "d03/k0300"));
    let v1 = c
        .list_objects()
        .bucket("many")
        .marker("k1090")
        .send()
        .await
        .unwrap();
    assert_eq!(v1.contents().len(), 9);
    let e = c.delete_bucket().bucket("many").send().await.unwrap_err();
    assert_eq!(code(&e), "BucketNotEmpty");

    // DeleteObjects.
    let ids: Vec<ObjectIdentifier> = want[..600]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(k).build().unwrap())
        .collect();
    let d = c
        .delete_objects()
        .bucket("many")
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(d.deleted().len(), 600);
    let left = c
        .list_objects_v2()
        .bucket("many")
        .send()
        .await
        .unwrap()
        .key_count();
    assert_eq!(left, Some(500));

    // Copy (inline and chunked sources), and REPLACE metadata.
    c.copy_object()
        .bucket("photos")
        .key("copy/big.bin")
        .copy_source("photos/dir/big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&c, "photos", "copy/big.bin").await, big);
    c.copy_object()
        .bucket("photos")
        .key("copy/small.bin")
        .copy_source("photos/small.bin")
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .metadata("camera", "box")
        .send()
        .await
        .unwrap();
    let h = c
        .head_object()
        .bucket("photos")
        .key("copy/small.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.metadata().unwrap().get("camera").map(String::as_str),
        Some("box")
    );

    // Multipart with 5 MiB parts (and a short last part), listed while in progress.
    let parts_data = [data(5 << 20, 3), data(5 << 20, 4), data(1234, 5)];
    let up = c
        .create_multipart_upload()
        .bucket("photos")
        .key("mp.bin")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, d) in parts_data.iter().enumerate() {
        let r = c
            .upload_part()
            .bucket("photos")
            .key("mp.bin")
            .upload_id(uid)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(d.clone()))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    let lp = c
        .list_parts()
        .bucket("photos")
        .key("mp.bin")
        .upload_id(uid)
        .send()
        .await
        .unwrap();
    assert_eq!(lp.parts().len(), 3);
    let lu = c
        .list_multipart_uploads()
        .bucket("photos")
        .send()
        .await
        .unwrap();
    assert_eq!(lu.uploads().len(), 1);
    let e = c
        .complete_multipart_upload()
        .bucket("photos")
        .key("mp.bin")
        .upload_id(uid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(vec![done[1].clone(), done[0].clone()]))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidPartOrder");
    let r = c
        .complete_multipart_upload()
        .bucket("photos")
        .key("mp.bin")
        .upload_id(uid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert!(r.e_tag().unwrap().ends_with("-3\""));
    let whole: Vec<u8> = parts_data.concat();
    assert_eq!(get_bytes(&c, "photos", "mp.bin").await, whole);
    let r = c
        .get_object()
        .bucket("photos")
        .key("mp.bin")
        .range(format!("bytes={}-{}", (5 << 20) - 3, (5 << 20) + 3))
        .send()
        .await
        .unwrap();
    assert_eq!(
        &r.body.collect().await.unwrap().into_bytes()[..],
        &whole[(5 << 20) - 3..(5 << 20) + 4]
    );

    // UploadPartCopy (what aws cli and rclone use to copy large objects server-side): a
    // ranged part of the multipart object, a whole inline object, then a bad range.
    let up = c
        .create_multipart_upload()
        .bucket("photos")
        .key("mp-copy.bin")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap();
    let (a, b) = ((5 << 20) - 10, (10 << 20) + 9);
    let p1 = c
        .upload_part_copy()
        .bucket("photos")
        .key("mp-copy.bin")
        .upload_id(uid)
        .part_number(1)
        .copy_source("photos/mp.bin")
        .copy_source_range(format!("bytes={a}-{b}"))
        .send()
        .await
        .unwrap();
    let p2 = c
        .upload_part_copy()
        .bucket("photos")
        .key("mp-copy.bin")
        .upload_id(uid)
        .part_number(2)
        .copy_source("photos/small.bin")
        .send()
        .await
        .unwrap();
    let e = c
        .upload_part_copy()
        .bucket("photos")
        .key("mp-copy.bin")
        .upload_id(uid)
        .part_number(3)
        .copy_source("photos/small.bin")
        .copy_source_range("bytes=0-999999999")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArgument");
    let copied: Vec<_> = [p1, p2]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(p.copy_part_result().unwrap().e_tag().unwrap())
                .build()
        })
        .collect();
    c.complete_multipart_upload()
        .bucket("photos")
        .key("mp-copy.bin")
        .upload_id(uid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(copied))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let small_now = get_bytes(&c, "photos", "small.bin").await;
    let mut want = whole[a..=b].to_vec();
    want.extend_from_slice(&small_now);
    assert_eq!(get_bytes(&c, "photos", "mp-copy.bin").await, want);

    // An aborted multipart upload charges nothing and leaves nothing.
    let before = usage(base, &alice.api_key).await;
    let up = c
        .create_multipart_upload()
        .bucket("photos")
        .key("gone.bin")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap();
    c.upload_part()
        .bucket("photos")
        .key("gone.bin")
        .upload_id(uid)
        .part_number(1)
        .body(ByteStream::from(data(2 << 20, 6)))
        .send()
        .await
        .unwrap();
    c.abort_multipart_upload()
        .bucket("photos")
        .key("gone.bin")
        .upload_id(uid)
        .send()
        .await
        .unwrap();
    assert_eq!(usage(base, &alice.api_key).await, before);
    let e = c
        .head_object()
        .bucket("photos")
        .key("gone.bin")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 404);

    // Presigned GET and PUT.
    let pc = PresigningConfig::expires_in(Duration::from_secs(300)).unwrap();
    let url = root
        .get_object()
        .bucket("photos")
        .key("small.bin")
        .presigned(pc.clone())
        .await
        .unwrap();
    let got = http().get(url.uri()).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().to_vec(), small);
    let url = c
        .put_object()
        .bucket("photos")
        .key("presigned.txt")
        .presigned(pc)
        .await
        .unwrap();
    let r = http()
        .put(url.uri())
        .body("via presigned URL")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(
        get_bytes(&c, "photos", "presigned.txt").await,
        b"via presigned URL"
    );

    // Overwrite and delete keep usage exact.
    let u0 = usage(base, &alice.api_key).await;
    c.put_object()
        .bucket("photos")
        .key("small.bin")
        .body(ByteStream::from(vec![1u8; 10]))
        .send()
        .await
        .unwrap();
    assert_eq!(usage(base, &alice.api_key).await, u0 - 990);
    c.delete_object()
        .bucket("photos")
        .key("small.bin")
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket("photos")
        .key("small.bin")
        .send()
        .await
        .unwrap(); // idempotent
    assert_eq!(usage(base, &alice.api_key).await, u0 - 1000);
    let e = c
        .get_object()
        .bucket("photos")
        .key("small.bin")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "NoSuchKey");

    // A missing bucket and a missing key are told apart, for GET and HEAD alike.
    let e = c
        .get_object()
        .bucket("no-such-bucket")
        .key("small.bin")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "NoSuchBucket");
    let e = c
        .head_object()
        .bucket("photos")
        .key("small.bin")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 404);
    let e = c
        .head_object()
        .bucket("no-such-bucket")
        .key("small.bin")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 404);
}

fn md5_of(b: &[u8]) -> u128 {
    use md5::Digest;
    u128::from_be_bytes(md5::Md5::digest(b).into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_suite_on_sqlite() {
    let mut net = Net::start(6, None).await;
    suite(&net).await;
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_suite_on_postgres() {
    let pg = Postgres::start();
    let mut net = Net::start(6, Some(&pg.url)).await;
    suite(&net).await;
    net.stop().await;
}
