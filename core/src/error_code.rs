//! The specification's error codes and JSON error body, shared by the gateway (which sends
//! them) and the client (which shows them and maps them to exit codes).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! codes {
    ($( $(#[$doc:meta])* $v:ident = ($s:literal, $http:literal) ),* $(,)?) => {
        /// An error code from the specification's "Error Codes" table.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode { $( $(#[$doc])* $v ),* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$v),*];
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$v => $s),* }
            }
            /// The HTTP status the specification assigns.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$v => $http),* }
            }
        }

        impl FromStr for ErrorCode {
            type Err = UnknownErrorCode;
            fn from_str(s: &str) -> Result<Self, UnknownErrorCode> {
                match s { $($s => Ok(ErrorCode::$v),)* _ => Err(UnknownErrorCode(s.to_string())) }
            }
        }
    };
}

codes! {
    /// JWT token invalid or expired.
    AuthInvalidToken = ("AUTH_INVALID_TOKEN", 401),
    /// Missing required permissions.
    AuthInsufficientPermissions = ("AUTH_INSUFFICIENT_PERMISSIONS", 403),
    /// Wallet signature invalid.
    AuthWalletMismatch = ("AUTH_WALLET_MISMATCH", 403),
    /// Bucket does not exist.
    StorageBucketNotFound = ("STORAGE_BUCKET_NOT_FOUND", 404),
    /// Object does not exist.
    StorageObjectNotFound = ("STORAGE_OBJECT_NOT_FOUND", 404),
    /// Storage quota exhausted.
    StorageQuotaExceeded = ("STORAGE_QUOTA_EXCEEDED", 507),
    /// Cannot delete non-empty bucket.
    StorageBucketNotEmpty = ("STORAGE_BUCKET_NOT_EMPTY", 409),
    /// No storage nodes online.
    NetworkNoNodesAvailable = ("NETWORK_NO_NODES_AVAILABLE", 503),
    /// Could not reach write quorum.
    NetworkQuorumFailed = ("NETWORK_QUORUM_FAILED", 503),
    /// Node did not respond.
    NetworkNodeTimeout = ("NETWORK_NODE_TIMEOUT", 504),
    /// Not enough CYXWIZ tokens.
    PaymentInsufficientBalance = ("PAYMENT_INSUFFICIENT_BALANCE", 402),
    /// Subscription has lapsed.
    PaymentSubscriptionExpired = ("PAYMENT_SUBSCRIPTION_EXPIRED", 402),
    /// Blockchain transaction failed.
    PaymentTransactionFailed = ("PAYMENT_TRANSACTION_FAILED", 500),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown error code {0:?}")]
pub struct UnknownErrorCode(pub String);

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The specification's JSON error format:
/// `{"error": {"code", "message", "details", "request_id", "timestamp"}}`.
/// `code` is a string so S3-style codes (NoSuchBucket, ...) travel in the same envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error: ErrorBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub request_id: String,
    /// RFC 3339.
    pub timestamp: String,
}

impl ErrorBody {
    /// The typed code, when the body carries one of the specification's codes.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.code.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_specification() {
        assert_eq!(ErrorCode::ALL.len(), 13);
        assert_eq!(ErrorCode::StorageQuotaExceeded.http_status(), 507);
        assert_eq!(ErrorCode::NetworkNodeTimeout.http_status(), 504);
        assert_eq!(ErrorCode::PaymentTransactionFailed.http_status(), 500);
        for c in ErrorCode::ALL {
            assert_eq!(c.as_str().parse::<ErrorCode>().unwrap(), *c);
            let prefix = c.as_str().split('_').next().unwrap();
            assert!(["AUTH", "STORAGE", "NETWORK", "PAYMENT"].contains(&prefix));
        }
        assert!("NOPE".parse::<ErrorCode>().is_err());
    }

    #[test]
    fn error_body_json_shape() {
        let json = r#"{"error":{"code":"STORAGE_QUOTA_EXCEEDED","message":"Storage quota of 10 GB exceeded",
            "details":{"quota_bytes":10737418240,"used_bytes":11274289152},
            "request_id":"req-abc123","timestamp":"2024-01-15T10:30:00Z"}}"#;
        let r: ErrorResponse = serde_json::from_str(json).unwrap();
        assert_eq!(r.error.error_code(), Some(ErrorCode::StorageQuotaExceeded));
        assert_eq!(r.error.details["quota_bytes"], 10737418240u64);
        let back: ErrorResponse =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
