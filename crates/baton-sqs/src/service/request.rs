//! The SDK operation inputs and outputs the Tower form carries.

use aws_sdk_sqs::operation::change_message_visibility::{
    ChangeMessageVisibilityInput, ChangeMessageVisibilityOutput,
};
use aws_sdk_sqs::operation::change_message_visibility_batch::{
    ChangeMessageVisibilityBatchInput, ChangeMessageVisibilityBatchOutput,
};
use aws_sdk_sqs::operation::delete_message::{DeleteMessageInput, DeleteMessageOutput};
use aws_sdk_sqs::operation::delete_message_batch::{
    DeleteMessageBatchInput, DeleteMessageBatchOutput,
};
use aws_sdk_sqs::operation::get_queue_attributes::{
    GetQueueAttributesInput, GetQueueAttributesOutput,
};
use aws_sdk_sqs::operation::get_queue_url::{GetQueueUrlInput, GetQueueUrlOutput};
use aws_sdk_sqs::operation::receive_message::{ReceiveMessageInput, ReceiveMessageOutput};
use aws_sdk_sqs::operation::send_message::{SendMessageInput, SendMessageOutput};
use aws_sdk_sqs::operation::send_message_batch::{SendMessageBatchInput, SendMessageBatchOutput};

macro_rules! operations {
    ($( $(#[$doc:meta])* $variant:ident($input:ty => $output:ty), $into:ident; )*) => {
        /// An SQS operation's input, as the SDK defines it (`SendMessageInput::builder()…build()`).
        #[derive(Clone, Debug)]
        #[non_exhaustive]
        pub enum SqsRequest {
            $( $(#[$doc])* $variant($input), )*
        }

        /// The output of the operation of the matching [`SqsRequest`].
        #[derive(Clone, Debug)]
        #[non_exhaustive]
        pub enum SqsResponse {
            $( $(#[$doc])* $variant($output), )*
        }

        impl SqsRequest {
            /// The SQS operation name (`SendMessage`, …).
            pub fn operation(&self) -> &'static str {
                match self {
                    $( SqsRequest::$variant(_) => stringify!($variant), )*
                }
            }

            /// The operation input, as the driver's table of operations looks it up.
            pub(crate) fn input_mut(&mut self) -> &mut dyn std::any::Any {
                match self {
                    $( SqsRequest::$variant(input) => input, )*
                }
            }
        }

        impl SqsResponse {
            /// The SQS operation name (`SendMessage`, …).
            pub fn operation(&self) -> &'static str {
                match self {
                    $( SqsResponse::$variant(_) => stringify!($variant), )*
                }
            }

            /// The operation output, as the driver's table of operations looks it up.
            pub(crate) fn output(&self) -> &dyn std::any::Any {
                match self {
                    $( SqsResponse::$variant(output) => output, )*
                }
            }

            $(
                #[doc = concat!("The output, if this is the response to `", stringify!($variant), "`.")]
                pub fn $into(self) -> Option<$output> {
                    match self {
                        SqsResponse::$variant(output) => Some(output),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
            )*
        }

        $(
            impl From<$input> for SqsRequest {
                fn from(input: $input) -> Self {
                    SqsRequest::$variant(input)
                }
            }
        )*
    };
}

operations! {
    /// `SendMessage`: traced, `AWSTraceHeader` injected.
    SendMessage(SendMessageInput => SendMessageOutput), into_send_message;
    /// `SendMessageBatch`: traced, each entry gets its own context.
    SendMessageBatch(SendMessageBatchInput => SendMessageBatchOutput), into_send_message_batch;
    /// `ReceiveMessage`: asks for the trace carriers; traced with links to the producers.
    ReceiveMessage(ReceiveMessageInput => ReceiveMessageOutput), into_receive_message;
    /// `DeleteMessage`: passed through.
    DeleteMessage(DeleteMessageInput => DeleteMessageOutput), into_delete_message;
    /// `DeleteMessageBatch`: passed through.
    DeleteMessageBatch(DeleteMessageBatchInput => DeleteMessageBatchOutput), into_delete_message_batch;
    /// `ChangeMessageVisibility`: passed through.
    ChangeMessageVisibility(ChangeMessageVisibilityInput => ChangeMessageVisibilityOutput), into_change_message_visibility;
    /// `ChangeMessageVisibilityBatch`: passed through.
    ChangeMessageVisibilityBatch(ChangeMessageVisibilityBatchInput => ChangeMessageVisibilityBatchOutput), into_change_message_visibility_batch;
    /// `GetQueueUrl`: passed through.
    GetQueueUrl(GetQueueUrlInput => GetQueueUrlOutput), into_get_queue_url;
    /// `GetQueueAttributes`: passed through.
    GetQueueAttributes(GetQueueAttributesInput => GetQueueAttributesOutput), into_get_queue_attributes;
}
