//! The error codes of the distribution spec and the JSON envelope they travel in.

use serde::{Deserialize, Serialize};

/// An error code from the distribution spec's error table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The blob is not in the repository.
    BlobUnknown,
    /// The upload failed or its data was rejected.
    BlobUploadInvalid,
    /// The upload session does not exist.
    BlobUploadUnknown,
    /// The given digest does not match the content or is malformed.
    DigestInvalid,
    /// The manifest references a blob or manifest the repository lacks.
    ManifestBlobUnknown,
    /// The manifest is malformed or of an unknown type.
    ManifestInvalid,
    /// The manifest is not in the repository.
    ManifestUnknown,
    /// The repository name is invalid.
    NameInvalid,
    /// The repository is not known to the registry.
    NameUnknown,
    /// The content is larger or smaller than allowed or declared.
    SizeInvalid,
    /// Authentication is required.
    Unauthorized,
    /// The caller may not perform this action.
    Denied,
    /// The operation is not supported.
    Unsupported,
    /// Too many requests from this client.
    TooManyRequests,
    /// A failure inside the registry. Not in the spec's table; it is the code
    /// Distribution sends with a 500, so clients already print it well.
    Unknown,
}

impl ErrorCode {
    /// The code as written on the wire, e.g. `BLOB_UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BlobUnknown => "BLOB_UNKNOWN",
            ErrorCode::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            ErrorCode::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            ErrorCode::DigestInvalid => "DIGEST_INVALID",
            ErrorCode::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            ErrorCode::ManifestInvalid => "MANIFEST_INVALID",
            ErrorCode::ManifestUnknown => "MANIFEST_UNKNOWN",
            ErrorCode::NameInvalid => "NAME_INVALID",
            ErrorCode::NameUnknown => "NAME_UNKNOWN",
            ErrorCode::SizeInvalid => "SIZE_INVALID",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Denied => "DENIED",
            ErrorCode::Unsupported => "UNSUPPORTED",
            ErrorCode::TooManyRequests => "TOOMANYREQUESTS",
            ErrorCode::Unknown => "UNKNOWN",
        }
    }

    /// The HTTP status that usually accompanies the code (an endpoint may pick
    /// another where the spec says so, e.g. 416 or 413).
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BlobUnknown
            | ErrorCode::BlobUploadUnknown
            | ErrorCode::ManifestUnknown
            | ErrorCode::NameUnknown => 404,
            ErrorCode::BlobUploadInvalid
            | ErrorCode::DigestInvalid
            | ErrorCode::ManifestBlobUnknown
            | ErrorCode::ManifestInvalid
            | ErrorCode::NameInvalid
            | ErrorCode::SizeInvalid => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::Denied => 403,
            ErrorCode::Unsupported => 405,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::Unknown => 500,
        }
    }
}

/// One entry of the error envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorEntry {
    /// The error code, e.g. `BLOB_UNKNOWN`.
    pub code: String,
    /// A human-readable message.
    pub message: String,
    /// Optional structured detail.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
}

/// The error envelope: `{"errors":[{"code":..,"message":..,"detail":..}]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The errors, most relevant first.
    pub errors: Vec<ErrorEntry>,
}

impl ErrorBody {
    /// An envelope holding one error.
    pub fn single(code: ErrorCode, message: impl Into<String>, detail: serde_json::Value) -> Self {
        ErrorBody {
            errors: vec![ErrorEntry {
                code: code.as_str().to_owned(),
                message: message.into(),
                detail,
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_matches_the_spec_shape() {
        let body = ErrorBody::single(
            ErrorCode::BlobUnknown,
            "no such blob",
            serde_json::Value::Null,
        );
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"errors":[{"code":"BLOB_UNKNOWN","message":"no such blob"}]}"#
        );
        assert_eq!(ErrorCode::TooManyRequests.as_str(), "TOOMANYREQUESTS");
        assert_eq!(ErrorCode::ManifestUnknown.status(), 404);
    }
}
