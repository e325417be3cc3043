//! AWS Signature Version 4: header and presigned-URL authentication, and the aws-chunked
//! body encoding (signed chunks, unsigned chunks with trailers, trailer signatures).
//!
//! The canonical request is built from the path the client actually sent (so requests under
//! `/s3/...` and at the root both verify), re-encoded with AWS's rules so that clients which
//! escape differently still match.

use std::collections::BTreeMap;

use ring::hmac;
use sha2::{Digest, Sha256};

use crate::error::{GatewayError, Result};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// Largest clock difference accepted for header-signed requests.
pub const MAX_SKEW_SECS: i64 = 15 * 60;
/// Longest presigned URL lifetime (AWS's limit).
pub const MAX_PRESIGN_SECS: i64 = 7 * 24 * 3600;
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Percent-encode with AWS's rules: unreserved characters stay, everything else is %XX.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decode %XX escapes (a `+` stays a `+`, as in AWS's canonical form).
pub fn percent_decode(s: &str) -> Result<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| GatewayError::InvalidArgument("URL escapes are not valid UTF-8".into()))
}

/// Decoded query parameters, in order.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

fn canonical_query(params: &[(String, String)], skip_signature: bool) -> String {
    let mut enc: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| !(skip_signature && k == "X-Amz-Signature"))
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    enc.sort();
    enc.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn hmac_sign(key: &[u8], msg: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), msg)
        .as_ref()
        .to_vec()
}

/// The SigV4 signing key for a date, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Key {
    let k = hmac_sign(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac_sign(&k, region.as_bytes());
    let k = hmac_sign(&k, service.as_bytes());
    let k = hmac_sign(&k, b"aws4_request");
    hmac::Key::new(hmac::HMAC_SHA256, &k)
}

fn sign_hex(key: &hmac::Key, msg: &str) -> String {
    hex::encode(hmac::sign(key, msg.as_bytes()).as_ref())
}

/// Constant-time comparison of hex signatures.
fn sig_eq(a: &str, b: &str) -> bool {
    crate::auth::ct_eq(a.as_bytes(), b.as_bytes())
}

/// A request's SigV4 credentials, before the secret is known.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
    pub amz_date: String,
    pub presigned: bool,
    pub expires: Option<i64>,
}

impl Parsed {
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// What the body verification needs after the headers verified.
#[derive(Clone)]
pub struct Signed {
    pub key: hmac::Key,
    pub scope: String,
    pub amz_date: String,
    pub seed_signature: String,
}

/// Parse `Authorization: AWS4-HMAC-SHA256 ...` or presigned query parameters. `None` when
/// the request carries no SigV4 credentials.
pub fn parse(headers: &http::HeaderMap, query: &[(String, String)]) -> Option<Result<Parsed>> {
    if let Some(auth) = headers.get(http::header::AUTHORIZATION) {
        let auth = auth.to_str().ok()?;
        let rest = auth.strip_prefix(ALGORITHM)?;
        return Some(parse_header(rest.trim(), headers));
    }
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if q("X-Amz-Algorithm").is_some() {
        return Some(parse_presigned(q));
    }
    None
}

fn malformed(m: &str) -> GatewayError {
    GatewayError::InvalidArgument(format!("malformed SigV4 credentials: {m}"))
}

fn split_credential(cred: &str) -> Result<(String, String, String, String)> {
    let parts: Vec<&str> = cred.split('/').collect();
    if parts.len() != 5 || parts[4] != "aws4_request" || parts[1].len() != 8 {
        return Err(malformed(
            "Credential must be AKID/yyyymmdd/region/service/aws4_request",
        ));
    }
    Ok((
        parts[0].to_string(),
        parts[1].to_string(),
        parts[2].to_string(),
        parts[3].to_string(),
    ))
}

fn parse_header(rest: &str, headers: &http::HeaderMap) -> Result<Parsed> {
    let mut cred = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            cred = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v);
        }
    }
    let (cred, signed, sig) = match (cred, signed, sig) {
        (Some(c), Some(h), Some(s)) => (c, h, s),
        _ => {
            return Err(malformed(
                "Credential, SignedHeaders and Signature are required",
            ));
        }
    };
    let (access_key_id, date, region, service) = split_credential(cred)?;
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| malformed("x-amz-date header missing"))?;
    Ok(Parsed {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed.split(';').map(str::to_string).collect(),
        signature: sig.to_string(),
        amz_date,
        presigned: false,
        expires: None,
    })
}

fn parse_presigned<'a>(q: impl Fn(&str) -> Option<&'a str>) -> Result<Parsed> {
    if q("X-Amz-Algorithm") != Some(ALGORITHM) {
        return Err(malformed("X-Amz-Algorithm must be AWS4-HMAC-SHA256"));
    }
    let cred = q("X-Amz-Credential").ok_or_else(|| malformed("X-Amz-Credential missing"))?;
    let (access_key_id, date, region, service) = split_credential(cred)?;
    let expires: i64 = q("X-Amz-Expires")
        .ok_or_else(|| malformed("X-Amz-Expires missing"))?
        .parse()
        .map_err(|_| malformed("X-Amz-Expires is not a number"))?;
    if !(1..=MAX_PRESIGN_SECS).contains(&expires) {
        return Err(GatewayError::InvalidArgument(
            "X-Amz-Expires must be between 1 and 604800 seconds".into(),
        ));
    }
    Ok(Parsed {
        access_key_id,
        date,
        region,
        service,
        signed_headers: q("X-Amz-SignedHeaders")
            .ok_or_else(|| malformed("X-Amz-SignedHeaders missing"))?
            .split(';')
            .map(str::to_string)
            .collect(),
        signature: q("X-Amz-Signature")
            .ok_or_else(|| malformed("X-Amz-Signature missing"))?
            .to_string(),
        amz_date: q("X-Amz-Date")
            .ok_or_else(|| malformed("X-Amz-Date missing"))?
            .to_string(),
        presigned: true,
        expires: Some(expires),
    })
}

/// Parse `yyyymmddThhmmssZ`.
pub fn parse_amz_date(s: &str) -> Result<i64> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::PrimitiveDateTime::parse(s, &fmt)
        .map(|t| t.assume_utc().unix_timestamp())
        .map_err(|_| malformed("date must be yyyymmddThhmmssZ"))
}

/// Verify the request signature. `raw_path` is the path as received (still escaped).
pub fn verify(
    p: &Parsed,
    secret: &str,
    method: &http::Method,
    raw_path: &str,
    query: &[(String, String)],
    headers: &http::HeaderMap,
    now: i64,
) -> Result<Signed> {
    let t = parse_amz_date(&p.amz_date)?;
    if !p.amz_date.starts_with(&p.date) {
        return Err(malformed("credential date and request date differ"));
    }
    if p.presigned {
        if now > t + p.expires.unwrap_or(0) {
            return Err(GatewayError::ExpiredRequest);
        }
        if t - now > MAX_SKEW_SECS {
            return Err(GatewayError::RequestTimeTooSkewed);
        }
    } else if (now - t).abs() > MAX_SKEW_SECS {
        return Err(GatewayError::RequestTimeTooSkewed);
    }
    if !p.signed_headers.iter().any(|h| h == "host") {
        return Err(malformed("the host header must be signed"));
    }
    let payload = if p.presigned {
        headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .unwrap_or(UNSIGNED_PAYLOAD)
            .to_string()
    } else {
        headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| malformed("x-amz-content-sha256 header missing"))?
            .to_string()
    };
    let mut canon_headers = String::new();
    for name in &p.signed_headers {
        let values: Vec<String> = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| {
                let s = String::from_utf8_lossy(v.as_bytes());
                s.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(GatewayError::SignatureDoesNotMatch(format!(
                "signed header {name} is missing"
            )));
        }
        canon_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let path = percent_decode(raw_path)?;
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        method.as_str(),
        uri_encode(&path, true),
        canonical_query(query, p.presigned),
        canon_headers,
        p.signed_headers.join(";"),
        payload
    );
    let scope = p.scope();
    let sts = format!(
        "{ALGORITHM}\n{}\n{scope}\n{}",
        p.amz_date,
        sha256_hex(canonical.as_bytes())
    );
    let key = signing_key(secret, &p.date, &p.region, &p.service);
    let expect = sign_hex(&key, &sts);
    if !sig_eq(&expect, &p.signature) {
        return Err(GatewayError::SignatureDoesNotMatch(
            "the signature we calculated does not match the one you provided; check your key and signing method".into(),
        ));
    }
    Ok(Signed {
        key,
        scope,
        amz_date: p.amz_date.clone(),
        seed_signature: p.signature.clone(),
    })
}

/// How the request body is to be checked.
#[derive(Clone)]
pub enum PayloadCheck {
    None,
    /// Plain body whose SHA-256 must equal this hex digest.
    Sha256(String),
    /// aws-chunked body; `Some` when chunk signatures must be verified.
    Chunked {
        signed: Option<Box<Signed>>,
        trailer: bool,
    },
}

/// Decide the payload check from `x-amz-content-sha256`.
pub fn payload_check(headers: &http::HeaderMap, signed: Option<&Signed>) -> Result<PayloadCheck> {
    let v = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(match v {
        "" | UNSIGNED_PAYLOAD => PayloadCheck::None,
        STREAMING_SIGNED | STREAMING_SIGNED_TRAILER => match signed {
            Some(s) => PayloadCheck::Chunked {
                signed: Some(Box::new(s.clone())),
                trailer: v == STREAMING_SIGNED_TRAILER,
            },
            None => {
                return Err(GatewayError::InvalidRequest(
                    "signed streaming payload without a signature".into(),
                ));
            }
        },
        STREAMING_UNSIGNED_TRAILER => PayloadCheck::Chunked {
            signed: None,
            trailer: true,
        },
        h if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            PayloadCheck::Sha256(h.to_ascii_lowercase())
        }
        other => {
            return Err(GatewayError::InvalidArgument(format!(
                "unsupported x-amz-content-sha256 value {other:?}"
            )));
        }
    })
}

/// Incremental decoder of an aws-chunked body. Feed bytes; it returns payload bytes and
/// checks every chunk signature (and the trailer signature) as it goes.
pub struct ChunkedDecoder {
    signed: Option<Signed>,
    prev_sig: String,
    state: State,
    buf: Vec<u8>,
    remaining: usize,
    chunk_sig: String,
    hasher: Sha256,
    pub trailers: BTreeMap<String, String>,
    trailer_text: String,
    done: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Header,
    Data,
    DataEnd,
    Trailers,
    Done,
}

/// Longest chunk header line accepted (size, extensions).
const MAX_LINE: usize = 4096;

fn bad_chunk(m: &str) -> GatewayError {
    GatewayError::InvalidRequest(format!("aws-chunked body: {m}"))
}

impl ChunkedDecoder {
    pub fn new(signed: Option<Signed>) -> Self {
        let prev_sig = signed
            .as_ref()
            .map(|s| s.seed_signature.clone())
            .unwrap_or_default();
        ChunkedDecoder {
            signed,
            prev_sig,
            state: State::Header,
            buf: Vec::new(),
            remaining: 0,
            chunk_sig: String::new(),
            hasher: Sha256::new(),
            trailers: BTreeMap::new(),
            trailer_text: String::new(),
            done: false,
        }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    fn take_line(&mut self, input: &mut &[u8]) -> Result<Option<String>> {
        if let Some(pos) = input.iter().position(|&b| b == b'\n') {
            self.buf.extend_from_slice(&input[..pos + 1]);
            *input = &input[pos + 1..];
            let line = std::mem::take(&mut self.buf);
            let line = String::from_utf8(line).map_err(|_| bad_chunk("header is not UTF-8"))?;
            let line = line
                .strip_suffix("\r\n")
                .or_else(|| line.strip_suffix('\n'))
                .unwrap_or(&line)
                .to_string();
            return Ok(Some(line));
        }
        self.buf.extend_from_slice(input);
        *input = &[];
        if self.buf.len() > MAX_LINE {
            return Err(bad_chunk("header line too long"));
        }
        Ok(None)
    }

    fn check_chunk_signature(&mut self) -> Result<()> {
        if let Some(s) = &self.signed {
            let digest = hex::encode(std::mem::take(&mut self.hasher).finalize());
            let sts = format!(
                "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{digest}",
                s.amz_date, s.scope, self.prev_sig
            );
            let expect = sign_hex(&s.key, &sts);
            if !sig_eq(&expect, &self.chunk_sig) {
                return Err(GatewayError::SignatureDoesNotMatch(
                    "aws-chunked chunk signature does not match".into(),
                ));
            }
            self.prev_sig = expect;
        }
        Ok(())
    }

    /// Decode `input`, appending payload bytes to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        while !input.is_empty() {
            match self.state {
                State::Header => {
                    let Some(line) = self.take_line(&mut input)? else {
                        return Ok(());
                    };
                    let (size, ext) = line.split_once(';').unwrap_or((line.as_str(), ""));
                    let size = usize::from_str_radix(size.trim(), 16)
                        .map_err(|_| bad_chunk("chunk size is not hexadecimal"))?;
                    self.chunk_sig = ext
                        .trim()
                        .strip_prefix("chunk-signature=")
                        .unwrap_or("")
                        .to_string();
                    if self.signed.is_some() && self.chunk_sig.is_empty() {
                        return Err(bad_chunk("chunk signature missing"));
                    }
                    self.remaining = size;
                    if size == 0 {
                        self.check_chunk_signature()?;
                        self.state = State::Trailers;
                    } else {
                        self.state = State::Data;
                    }
                }
                State::Data => {
                    let n = self.remaining.min(input.len());
                    if self.signed.is_some() {
                        self.hasher.update(&input[..n]);
                    }
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    self.remaining -= n;
                    if self.remaining == 0 {
                        self.check_chunk_signature()?;
                        self.state = State::DataEnd;
                    }
                }
                State::DataEnd => {
                    let Some(line) = self.take_line(&mut input)? else {
                        return Ok(());
                    };
                    if !line.is_empty() {
                        return Err(bad_chunk("chunk data longer than its size"));
                    }
                    self.state = State::Header;
                }
                State::Trailers => {
                    let Some(line) = self.take_line(&mut input)? else {
                        return Ok(());
                    };
                    if line.is_empty() {
                        self.finish_trailers()?;
                        self.state = State::Done;
                        self.done = true;
                    } else {
                        let (k, v) = line
                            .split_once(':')
                            .ok_or_else(|| bad_chunk("trailer line without ':'"))?;
                        let k = k.trim().to_ascii_lowercase();
                        let v = v.trim().to_string();
                        if k != "x-amz-trailer-signature" {
                            self.trailer_text.push_str(&format!("{k}:{v}\n"));
                        }
                        self.trailers.insert(k, v);
                        if self.trailers.len() > 64 {
                            return Err(bad_chunk("too many trailers"));
                        }
                    }
                }
                State::Done => {
                    if input.iter().all(|b| b.is_ascii_whitespace()) {
                        return Ok(());
                    }
                    return Err(bad_chunk("data after the final chunk"));
                }
            }
        }
        Ok(())
    }

    /// Call at end of body: errors if the body stopped early.
    pub fn finish(&mut self) -> Result<()> {
        if self.state == State::Trailers && self.buf.is_empty() {
            // Some clients end right after the final chunk's line without a blank line.
            self.finish_trailers()?;
            self.state = State::Done;
            self.done = true;
        }
        if !self.done {
            return Err(GatewayError::IncompleteBody);
        }
        Ok(())
    }

    fn finish_trailers(&mut self) -> Result<()> {
        if let (Some(s), Some(sig)) = (&self.signed, self.trailers.get("x-amz-trailer-signature")) {
            let sts = format!(
                "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
                s.amz_date,
                s.scope,
                self.prev_sig,
                sha256_hex(self.trailer_text.as_bytes())
            );
            if !sig_eq(&sign_hex(&s.key, &sts), sig) {
                return Err(GatewayError::SignatureDoesNotMatch(
                    "trailer signature does not match".into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of AWS's "Signature Calculations for the Authorization Header" page
    // (GET object with a range, example credentials published by AWS).
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn aws_documented_get_object_example() {
        let mut h = http::HeaderMap::new();
        h.insert("host", "examplebucket.s3.amazonaws.com".parse().unwrap());
        h.insert("range", "bytes=0-9".parse().unwrap());
        h.insert("x-amz-content-sha256", EMPTY_SHA256.parse().unwrap());
        h.insert("x-amz-date", "20130524T000000Z".parse().unwrap());
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
                .parse()
                .unwrap(),
        );
        let p = parse(&h, &[]).unwrap().unwrap();
        let now = parse_amz_date("20130524T000100Z").unwrap();
        verify(&p, SECRET, &http::Method::GET, "/test.txt", &[], &h, now).unwrap();
        let e = verify(&p, "wrong", &http::Method::GET, "/test.txt", &[], &h, now);
        assert!(matches!(e, Err(GatewayError::SignatureDoesNotMatch(_))));
        let e = verify(
            &p,
            SECRET,
            &http::Method::GET,
            "/test.txt",
            &[],
            &h,
            now + 3600,
        );
        assert!(matches!(e, Err(GatewayError::RequestTimeTooSkewed)));
        let e = verify(&p, SECRET, &http::Method::GET, "/other.txt", &[], &h, now);
        assert!(matches!(e, Err(GatewayError::SignatureDoesNotMatch(_))));
    }

    #[test]
    fn aws_documented_presigned_example() {
        let q = parse_query(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        )
        .unwrap();
        let mut h = http::HeaderMap::new();
        h.insert("host", "examplebucket.s3.amazonaws.com".parse().unwrap());
        let p = parse(&h, &q).unwrap().unwrap();
        let t = parse_amz_date("20130524T000000Z").unwrap();
        verify(&p, SECRET, &http::Method::GET, "/test.txt", &q, &h, t + 60).unwrap();
        let e = verify(
            &p,
            SECRET,
            &http::Method::GET,
            "/test.txt",
            &q,
            &h,
            t + 86401,
        );
        assert!(matches!(e, Err(GatewayError::ExpiredRequest)));
    }

    // AWS's aws-chunked example ("Signature Calculation: Transfer Payload in Multiple
    // Chunks"): 66560 bytes of 'a' in chunks of 65536 and 1024.
    #[test]
    fn aws_documented_chunked_example() {
        let key = signing_key(SECRET, "20130524", "us-east-1", "s3");
        let signed = Signed {
            key,
            scope: "20130524/us-east-1/s3/aws4_request".into(),
            amz_date: "20130524T000000Z".into(),
            seed_signature: "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
                .into(),
        };
        let mut body = Vec::new();
        body.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
        body.extend(std::iter::repeat_n(b'a', 65536));
        body.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
        body.extend(std::iter::repeat_n(b'a', 1024));
        body.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
        // Feed in awkward pieces to exercise the state machine.
        for piece_len in [1usize, 7, 4096, body.len()] {
            let mut d = ChunkedDecoder::new(Some(signed.clone()));
            let mut out = Vec::new();
            for piece in body.chunks(piece_len) {
                d.feed(piece, &mut out).unwrap();
            }
            d.finish().unwrap();
            assert_eq!(out.len(), 66560);
        }
        let mut tampered = body.clone();
        tampered[200] = b'b';
        let mut d = ChunkedDecoder::new(Some(signed.clone()));
        let mut out = Vec::new();
        let r = d.feed(&tampered, &mut out);
        assert!(matches!(r, Err(GatewayError::SignatureDoesNotMatch(_))));
        let mut d = ChunkedDecoder::new(Some(signed));
        d.feed(&body[..60000], &mut out).unwrap();
        assert!(matches!(d.finish(), Err(GatewayError::IncompleteBody)));
    }

    #[test]
    fn unsigned_chunks_with_trailers() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        let mut d = ChunkedDecoder::new(None);
        let mut out = Vec::new();
        d.feed(body, &mut out).unwrap();
        d.finish().unwrap();
        assert_eq!(out, b"hello world");
        assert_eq!(d.trailers["x-amz-checksum-crc32"], "DUoRhQ==");
        let mut d = ChunkedDecoder::new(None);
        assert!(d.feed(b"zz\r\n", &mut out).is_err());
        let mut d = ChunkedDecoder::new(None);
        assert!(d.feed(b"2\r\nabc\r\n", &mut out).is_err());
    }

    #[test]
    fn encoding_rules() {
        assert_eq!(uri_encode("a b+c/d~é", true), "a%20b%2Bc/d~%C3%A9");
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
        assert_eq!(percent_decode("a%20b+c").unwrap(), "a b+c");
        let q = parse_query("b=2&a=1&a=0&list-type=2&prefix=").unwrap();
        assert_eq!(
            canonical_query(&q, false),
            "a=0&a=1&b=2&list-type=2&prefix="
        );
    }
}
