//! The client's one error type. Every failure a user can meet has a variant that says what
//! happened and, where the gateway or the specification names one, its error code.

use cyxcloud_core::ErrorCode;

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Missing or invalid configuration (no gateway URL, no API key, bad profile).
    #[error("configuration: {0}")]
    Config(String),
    /// A local file or stream could not be read or written.
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The gateway answered with an error. `code` is the specification's code when it gave
    /// one (STORAGE_QUOTA_EXCEEDED, ...), else the S3 code.
    #[error("{code}: {message}")]
    Gateway {
        status: u16,
        code: String,
        message: String,
    },
    /// The gateway or a node could not be reached at all.
    #[error("NETWORK_NODE_TIMEOUT: {0}")]
    Unreachable(String),
    /// Too few nodes stored (or can serve) a chunk.
    #[error("NETWORK_QUORUM_FAILED: {0}")]
    Quorum(String),
    /// The passphrase or key does not open this account's or object's data.
    #[error("wrong passphrase or key: {0}")]
    WrongKey(String),
    /// No encryption key is available (no passphrase given and none stored).
    #[error("no encryption key: {0}")]
    NoKey(String),
    /// The OS keyring or the encrypted secrets file failed.
    #[error("secret store: {0}")]
    Secrets(String),
    /// Data failed verification or decoding (a corrupt manifest, shard or chunk).
    #[error("integrity: {0}")]
    Integrity(String),
    /// The caller asked for something impossible (bad URI, bad range, bad profile).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl ClientError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        ClientError::Io {
            what: what.into(),
            source,
        }
    }

    /// The specification's error code when this error has one.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Gateway { code, status, .. } => {
                code.parse().ok().or(match (*status, code.as_str()) {
                    (404, "NoSuchBucket") => Some(ErrorCode::StorageBucketNotFound),
                    (404, "NoSuchKey") => Some(ErrorCode::StorageObjectNotFound),
                    (409, "BucketNotEmpty") => Some(ErrorCode::StorageBucketNotEmpty),
                    (507, _) => Some(ErrorCode::StorageQuotaExceeded),
                    (401, _) => Some(ErrorCode::AuthInvalidToken),
                    (403, _) => Some(ErrorCode::AuthInsufficientPermissions),
                    _ => None,
                })
            }
            ClientError::Quorum(_) => Some(ErrorCode::NetworkQuorumFailed),
            ClientError::Unreachable(_) => Some(ErrorCode::NetworkNodeTimeout),
            _ => None,
        }
    }

    /// Whether retrying the same request later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable(_) | ClientError::Quorum(_) => true,
            ClientError::Gateway { status, .. } => *status >= 500 && *status != 507,
            _ => false,
        }
    }

    pub(crate) fn from_status(s: tonic::Status) -> Self {
        use tonic::Code;
        let msg = s.message().to_string();
        // The gateway puts the specification's code first: "NETWORK_QUORUM_FAILED: ...".
        let (code, message) = match msg.split_once(": ") {
            Some((c, m))
                if !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') =>
            {
                (c.to_string(), m.to_string())
            }
            _ => (
                match s.code() {
                    Code::NotFound => "NotFound",
                    Code::Unauthenticated => "Unauthenticated",
                    Code::PermissionDenied => "AccessDenied",
                    Code::InvalidArgument => "InvalidArgument",
                    Code::FailedPrecondition => "FailedPrecondition",
                    Code::ResourceExhausted => "ResourceExhausted",
                    Code::Unavailable => "Unavailable",
                    Code::DeadlineExceeded => "Timeout",
                    _ => "InternalError",
                }
                .to_string(),
                msg,
            ),
        };
        if code == ErrorCode::NetworkQuorumFailed.as_str() {
            return ClientError::Quorum(message);
        }
        if s.code() == Code::Unavailable && code == "Unavailable" {
            return ClientError::Unreachable(message);
        }
        let status = match s.code() {
            Code::NotFound => 404,
            Code::Unauthenticated => 401,
            Code::PermissionDenied => 403,
            Code::InvalidArgument | Code::OutOfRange => 400,
            Code::FailedPrecondition | Code::AlreadyExists => 409,
            Code::ResourceExhausted => 507,
            Code::Unavailable => 503,
            Code::DeadlineExceeded => 504,
            _ => 500,
        };
        ClientError::Gateway {
            status,
            code,
            message,
        }
    }
}

impl From<cyxcloud_core::Error> for ClientError {
    fn from(e: cyxcloud_core::Error) -> Self {
        match e {
            cyxcloud_core::Error::DecryptFailed => ClientError::WrongKey(
                "the data key does not open this object (wrong passphrase, or a tampered object)"
                    .into(),
            ),
            other => ClientError::Integrity(other.to_string()),
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_connect() || e.is_timeout() {
            ClientError::Unreachable(format!("gateway: {e}"))
        } else {
            ClientError::Unreachable(e.to_string())
        }
    }
}
