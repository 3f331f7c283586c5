//! EventBridge errors as [`CallError`]s.

use std::fmt::Display;

use aws_sdk_eventbridge::operation::RequestId;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use baton::CallError;

/// From an SDK error that carries AWS error metadata.
pub(crate) fn from_metadata(error: &(impl ProvideErrorMetadata + Display)) -> CallError {
    let meta = error.meta();
    let mut info = CallError::new(
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
