//! SQS errors as [`CallError`]s.

use std::error::Error as StdError;
use std::fmt::Display;

use aws_sdk_sqs::operation::RequestId;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
pub(crate) use baton::CallError as ErrorInfo;

/// From an SDK error that carries AWS error metadata.
pub(crate) fn from_metadata(error: &(impl ProvideErrorMetadata + Display)) -> ErrorInfo {
    let meta = error.meta();
    let mut info = ErrorInfo::new(
        meta.message()
            .map_or_else(|| error.to_string(), str::to_owned),
    );
    if let Some(code) = meta.code() {
        info = info.with_code(code);
    }
    if let Some(id) = meta.request_id() {
        info = info.with_request_id(id);
    }
    info
}

/// From any error: the SQS service error is looked for behind boxes and sources (a tower layer
/// may have boxed it); otherwise only the message is known.
pub(crate) fn from_any(error: &(dyn StdError + 'static)) -> ErrorInfo {
    let mut current: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(sqs) = e.downcast_ref::<aws_sdk_sqs::Error>() {
            return from_metadata(sqs);
        }
        current = e.source();
    }
    ErrorInfo::from_display(error)
}
