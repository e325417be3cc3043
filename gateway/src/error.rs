//! The gateway's one error type, and its mapping to each boundary: S3 error code and HTTP
//! status (XML body for S3 clients), the specification's JSON error body and code for JSON
//! clients, and gRPC status for the rich-client API. Internal details never reach clients.

use cyxcloud_core::ErrorCode;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    #[error("the specified bucket does not exist")]
    NoSuchBucket,
    #[error("the specified key does not exist")]
    NoSuchKey,
    #[error("the specified multipart upload does not exist")]
    NoSuchUpload,
    #[error("the requested bucket name is not available")]
    BucketAlreadyExists,
    #[error("you already own this bucket")]
    BucketAlreadyOwnedByYou,
    #[error("the bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error("invalid bucket name: {0}")]
    InvalidBucketName(String),
    #[error("invalid object key: {0}")]
    InvalidKey(String),
    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("missing or invalid credentials: {0}")]
    Unauthenticated(String),
    #[error("the AWS access key id does not exist in our records")]
    InvalidAccessKeyId,
    #[error("the request signature does not match: {0}")]
    SignatureDoesNotMatch(String),
    #[error("request has expired")]
    ExpiredRequest,
    #[error("the difference between the request time and the server's time is too large")]
    RequestTimeTooSkewed,
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("the XML is not well-formed or does not match the schema: {0}")]
    MalformedXml(String),
    #[error("the Content-MD5 does not match the body")]
    BadDigest,
    #[error("the Content-MD5 is not valid")]
    InvalidDigest,
    #[error("the body is shorter than the Content-Length")]
    IncompleteBody,
    #[error("the body is longer than the Content-Length")]
    BodyTooLong,
    #[error("your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge,
    #[error("your proposed upload is smaller than the minimum allowed size")]
    EntityTooSmall,
    #[error("one or more of the specified parts could not be found: {0}")]
    InvalidPart(String),
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    #[error("the requested range is not satisfiable")]
    InvalidRange { size: u64 },
    #[error("at least one of the preconditions you specified did not hold")]
    PreconditionFailed,
    #[error("not modified")]
    NotModified,
    #[error("storage quota of {quota} bytes exceeded: {used} used, {requested} requested")]
    QuotaExceeded {
        quota: u64,
        used: u64,
        requested: u64,
    },
    #[error("no storage nodes available: {0}")]
    NoNodes(String),
    #[error("could not reach write quorum: {0}")]
    QuorumFailed(String),
    #[error("a storage node did not respond in time")]
    NodeTimeout,
    #[error("object data is unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Conflict(String),
    #[error("wallet signature is invalid: {0}")]
    WalletMismatch(String),
    #[error("the specified method is not allowed against this resource")]
    MethodNotAllowed,
    #[error("{0} is not implemented")]
    NotImplemented(String),
    #[error("metadata store error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = GatewayError> = std::result::Result<T, E>;

impl From<cyxcloud_core::Error> for GatewayError {
    fn from(e: cyxcloud_core::Error) -> Self {
        GatewayError::Internal(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for GatewayError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        GatewayError::Internal(format!("migration: {e}"))
    }
}

/// How one error appears at the HTTP boundary.
pub struct HttpError {
    pub status: u16,
    /// The S3 error code (for XML bodies).
    pub s3_code: &'static str,
    /// The specification's code where one applies; else the S3 code (for JSON bodies).
    pub code: &'static str,
    pub message: String,
    pub details: serde_json::Value,
}

impl GatewayError {
    pub fn spec_code(&self) -> Option<ErrorCode> {
        use GatewayError::*;
        Some(match self {
            NoSuchBucket => ErrorCode::StorageBucketNotFound,
            NoSuchKey => ErrorCode::StorageObjectNotFound,
            BucketNotEmpty => ErrorCode::StorageBucketNotEmpty,
            QuotaExceeded { .. } => ErrorCode::StorageQuotaExceeded,
            NoNodes(_) => ErrorCode::NetworkNoNodesAvailable,
            QuorumFailed(_) => ErrorCode::NetworkQuorumFailed,
            NodeTimeout => ErrorCode::NetworkNodeTimeout,
            Unauthenticated(_) => ErrorCode::AuthInvalidToken,
            AccessDenied(_) => ErrorCode::AuthInsufficientPermissions,
            WalletMismatch(_) => ErrorCode::AuthWalletMismatch,
            _ => return None,
        })
    }

    pub fn to_http(&self) -> HttpError {
        use GatewayError::*;
        let (status, s3_code) = match self {
            NoSuchBucket => (404, "NoSuchBucket"),
            NoSuchKey => (404, "NoSuchKey"),
            NoSuchUpload => (404, "NoSuchUpload"),
            BucketAlreadyExists => (409, "BucketAlreadyExists"),
            BucketAlreadyOwnedByYou => (409, "BucketAlreadyOwnedByYou"),
            BucketNotEmpty => (409, "BucketNotEmpty"),
            InvalidBucketName(_) => (400, "InvalidBucketName"),
            InvalidKey(_) => (400, "InvalidArgument"),
            AccessDenied(_) => (403, "AccessDenied"),
            Unauthenticated(_) => (401, "AccessDenied"),
            InvalidAccessKeyId => (403, "InvalidAccessKeyId"),
            SignatureDoesNotMatch(_) => (403, "SignatureDoesNotMatch"),
            ExpiredRequest => (403, "AccessDenied"),
            RequestTimeTooSkewed => (403, "RequestTimeTooSkewed"),
            InvalidRequest(_) => (400, "InvalidRequest"),
            InvalidArgument(_) => (400, "InvalidArgument"),
            MalformedXml(_) => (400, "MalformedXML"),
            BadDigest => (400, "BadDigest"),
            InvalidDigest => (400, "InvalidDigest"),
            IncompleteBody => (400, "IncompleteBody"),
            BodyTooLong => (400, "InvalidRequest"),
            EntityTooLarge => (400, "EntityTooLarge"),
            EntityTooSmall => (400, "EntityTooSmall"),
            InvalidPart(_) => (400, "InvalidPart"),
            InvalidPartOrder => (400, "InvalidPartOrder"),
            InvalidRange { .. } => (416, "InvalidRange"),
            PreconditionFailed => (412, "PreconditionFailed"),
            NotModified => (304, "NotModified"),
            QuotaExceeded { .. } => (507, "InsufficientStorage"),
            NoNodes(_) | QuorumFailed(_) | Unavailable(_) => (503, "ServiceUnavailable"),
            NodeTimeout => (504, "GatewayTimeout"),
            Conflict(_) => (409, "Conflict"),
            WalletMismatch(_) => (403, "AccessDenied"),
            MethodNotAllowed => (405, "MethodNotAllowed"),
            NotImplemented(_) => (501, "NotImplemented"),
            Database(_) | Internal(_) => (500, "InternalError"),
        };
        let message = match self {
            // Never leak internals.
            Database(_) | Internal(_) => {
                "We encountered an internal error. Please try again.".into()
            }
            other => other.to_string(),
        };
        let details = match self {
            QuotaExceeded {
                quota,
                used,
                requested,
            } => serde_json::json!({
                "quota_bytes": quota,
                "used_bytes": used,
                "requested_bytes": requested,
            }),
            InvalidRange { size } => serde_json::json!({ "object_size": size }),
            _ => serde_json::Value::Null,
        };
        HttpError {
            status,
            s3_code,
            code: self.spec_code().map(|c| c.as_str()).unwrap_or(s3_code),
            message,
            details,
        }
    }

    pub fn is_internal(&self) -> bool {
        matches!(self, GatewayError::Database(_) | GatewayError::Internal(_))
    }
}

impl From<GatewayError> for tonic::Status {
    fn from(e: GatewayError) -> Self {
        use GatewayError::*;
        let h = e.to_http();
        let msg = format!("{}: {}", h.code, h.message);
        match e {
            NoSuchBucket | NoSuchKey | NoSuchUpload => tonic::Status::not_found(msg),
            BucketAlreadyExists | BucketAlreadyOwnedByYou | Conflict(_) => {
                tonic::Status::already_exists(msg)
            }
            BucketNotEmpty | PreconditionFailed => tonic::Status::failed_precondition(msg),
            AccessDenied(_) | WalletMismatch(_) => tonic::Status::permission_denied(msg),
            Unauthenticated(_)
            | InvalidAccessKeyId
            | SignatureDoesNotMatch(_)
            | ExpiredRequest
            | RequestTimeTooSkewed => tonic::Status::unauthenticated(msg),
            QuotaExceeded { .. } => tonic::Status::resource_exhausted(msg),
            NoNodes(_) | QuorumFailed(_) | Unavailable(_) => tonic::Status::unavailable(msg),
            NodeTimeout => tonic::Status::deadline_exceeded(msg),
            NotImplemented(_) => tonic::Status::unimplemented(msg),
            Database(_) | Internal(_) => tonic::Status::internal(msg),
            _ => tonic::Status::invalid_argument(msg),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_maps_to_507_with_spec_code_and_details() {
        let h = GatewayError::QuotaExceeded {
            quota: 10,
            used: 8,
            requested: 5,
        }
        .to_http();
        assert_eq!(
            (h.status, h.s3_code, h.code),
            (507, "InsufficientStorage", "STORAGE_QUOTA_EXCEEDED")
        );
        assert_eq!(h.details["quota_bytes"], 10);
    }

    #[test]
    fn internal_errors_are_hidden() {
        let h = GatewayError::Internal("secret path /var/x".into()).to_http();
        assert_eq!(h.status, 500);
        assert!(!h.message.contains("/var/x"));
        let s: tonic::Status = GatewayError::Internal("db password".into()).into();
        assert!(!s.message().contains("password"));
    }
}
