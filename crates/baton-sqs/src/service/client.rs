//! The innermost service: an SDK client that executes [`SqsRequest`]s.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::operation::change_message_visibility::ChangeMessageVisibilityInput;
use aws_sdk_sqs::operation::change_message_visibility_batch::ChangeMessageVisibilityBatchInput;
use aws_sdk_sqs::operation::delete_message::DeleteMessageInput;
use aws_sdk_sqs::operation::delete_message_batch::DeleteMessageBatchInput;
use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesInput;
use aws_sdk_sqs::operation::get_queue_url::GetQueueUrlInput;
use aws_sdk_sqs::operation::receive_message::ReceiveMessageInput;
use aws_sdk_sqs::operation::send_message::SendMessageInput;
use aws_sdk_sqs::operation::send_message_batch::SendMessageBatchInput;
use tower::Service;

use super::request::{SqsRequest, SqsResponse};

/// An SQS client as a `tower::Service<SqsRequest>`: it sends each operation input with the
/// SDK and answers with its output. Errors are the SDK's, as [`aws_sdk_sqs::Error`].
///
/// Always ready; concurrency and retries are for the layers around it (and the SDK's own
/// retry policy, which still applies inside).
#[derive(Clone, Debug)]
pub struct SqsService {
    client: Client,
}

impl SqsService {
    /// Wraps `client`.
    pub fn new(client: Client) -> Self {
        SqsService { client }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// The future of [`SqsService`]: the SDK's futures have no nameable type, so it is boxed here,
/// once per call, at the innermost layer only.
pub type SqsFuture = Pin<Box<dyn Future<Output = Result<SqsResponse, aws_sdk_sqs::Error>> + Send>>;

// Each input goes back into its builder field by field. The inputs are `#[non_exhaustive]`,
// so a field the SDK adds later would be dropped here without a compile error: the unit test
// `builders_carry_every_input_field` compares these lists with the SDK's own field lists.
pub(crate) fn send_message(
    input: SendMessageInput,
) -> aws_sdk_sqs::operation::send_message::builders::SendMessageInputBuilder {
    SendMessageInput::builder()
        .set_queue_url(input.queue_url)
        .set_message_body(input.message_body)
        .set_delay_seconds(input.delay_seconds)
        .set_message_attributes(input.message_attributes)
        .set_message_system_attributes(input.message_system_attributes)
        .set_message_deduplication_id(input.message_deduplication_id)
        .set_message_group_id(input.message_group_id)
}

pub(crate) fn send_message_batch(
    input: SendMessageBatchInput,
) -> aws_sdk_sqs::operation::send_message_batch::builders::SendMessageBatchInputBuilder {
    SendMessageBatchInput::builder()
        .set_queue_url(input.queue_url)
        .set_entries(input.entries)
}

#[allow(deprecated)] // `attribute_names` is deprecated but still part of the input
pub(crate) fn receive_message(
    input: ReceiveMessageInput,
) -> aws_sdk_sqs::operation::receive_message::builders::ReceiveMessageInputBuilder {
    ReceiveMessageInput::builder()
        .set_queue_url(input.queue_url)
        .set_attribute_names(input.attribute_names)
        .set_message_system_attribute_names(input.message_system_attribute_names)
        .set_message_attribute_names(input.message_attribute_names)
        .set_max_number_of_messages(input.max_number_of_messages)
        .set_visibility_timeout(input.visibility_timeout)
        .set_wait_time_seconds(input.wait_time_seconds)
        .set_receive_request_attempt_id(input.receive_request_attempt_id)
}

pub(crate) fn delete_message(
    input: DeleteMessageInput,
) -> aws_sdk_sqs::operation::delete_message::builders::DeleteMessageInputBuilder {
    DeleteMessageInput::builder()
        .set_queue_url(input.queue_url)
        .set_receipt_handle(input.receipt_handle)
}

pub(crate) fn delete_message_batch(
    input: DeleteMessageBatchInput,
) -> aws_sdk_sqs::operation::delete_message_batch::builders::DeleteMessageBatchInputBuilder {
    DeleteMessageBatchInput::builder()
        .set_queue_url(input.queue_url)
        .set_entries(input.entries)
}

pub(crate) fn change_message_visibility(
    input: ChangeMessageVisibilityInput,
) -> aws_sdk_sqs::operation::change_message_visibility::builders::ChangeMessageVisibilityInputBuilder
{
    ChangeMessageVisibilityInput::builder()
        .set_queue_url(input.queue_url)
        .set_receipt_handle(input.receipt_handle)
        .set_visibility_timeout(input.visibility_timeout)
}

pub(crate) fn change_message_visibility_batch(
    input: ChangeMessageVisibilityBatchInput,
) -> aws_sdk_sqs::operation::change_message_visibility_batch::builders::ChangeMessageVisibilityBatchInputBuilder
{
    ChangeMessageVisibilityBatchInput::builder()
        .set_queue_url(input.queue_url)
        .set_entries(input.entries)
}

pub(crate) fn get_queue_url(
    input: GetQueueUrlInput,
) -> aws_sdk_sqs::operation::get_queue_url::builders::GetQueueUrlInputBuilder {
    GetQueueUrlInput::builder()
        .set_queue_name(input.queue_name)
        .set_queue_owner_aws_account_id(input.queue_owner_aws_account_id)
}

pub(crate) fn get_queue_attributes(
    input: GetQueueAttributesInput,
) -> aws_sdk_sqs::operation::get_queue_attributes::builders::GetQueueAttributesInputBuilder {
    GetQueueAttributesInput::builder()
        .set_queue_url(input.queue_url)
        .set_attribute_names(input.attribute_names)
}

impl Service<SqsRequest> for SqsService {
    type Response = SqsResponse;
    type Error = aws_sdk_sqs::Error;
    type Future = SqsFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: SqsRequest) -> Self::Future {
        let client = self.client.clone();
        Box::pin(async move {
            let response = match request {
                SqsRequest::SendMessage(i) => {
                    SqsResponse::SendMessage(send_message(i).send_with(&client).await?)
                }
                SqsRequest::SendMessageBatch(i) => {
                    SqsResponse::SendMessageBatch(send_message_batch(i).send_with(&client).await?)
                }
                SqsRequest::ReceiveMessage(i) => {
                    SqsResponse::ReceiveMessage(receive_message(i).send_with(&client).await?)
                }
                SqsRequest::DeleteMessage(i) => {
                    SqsResponse::DeleteMessage(delete_message(i).send_with(&client).await?)
                }
                SqsRequest::DeleteMessageBatch(i) => SqsResponse::DeleteMessageBatch(
                    delete_message_batch(i).send_with(&client).await?,
                ),
                SqsRequest::ChangeMessageVisibility(i) => SqsResponse::ChangeMessageVisibility(
                    change_message_visibility(i).send_with(&client).await?,
                ),
                SqsRequest::ChangeMessageVisibilityBatch(i) => {
                    SqsResponse::ChangeMessageVisibilityBatch(
                        change_message_visibility_batch(i)
                            .send_with(&client)
                            .await?,
                    )
                }
                SqsRequest::GetQueueUrl(i) => {
                    SqsResponse::GetQueueUrl(get_queue_url(i).send_with(&client).await?)
                }
                SqsRequest::GetQueueAttributes(i) => SqsResponse::GetQueueAttributes(
                    get_queue_attributes(i).send_with(&client).await?,
                ),
            };
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_sqs::types::{
        ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
        MessageAttributeValue, MessageSystemAttributeName, MessageSystemAttributeNameForSends,
        MessageSystemAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry,
    };

    use super::*;
    /// Every field is set, the input goes through its conversion, and comes out equal; and
    /// the input type has no field beyond those (so an SDK update that adds one fails here
    /// instead of silently dropping it).
    fn check<I: std::fmt::Debug + PartialEq>(
        input: I,
        round_trip: impl FnOnce(I) -> I,
        expected: &[&str],
    ) {
        let debug = format!("{input:#?}");
        assert_eq!(
            baton_test_support::debug_fields(&debug),
            expected,
            "fields of {debug}"
        );
        let unset = debug
            .lines()
            .any(|l| l.starts_with("    ") && !l.starts_with("     ") && l.ends_with(": None,"));
        assert!(!unset, "set every field in the test: {debug}");
        let before = format!("{input:?}");
        let after = round_trip(input);
        assert_eq!(format!("{after:?}"), before);
    }

    fn attr() -> MessageAttributeValue {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value("v")
            .build()
            .unwrap()
    }

    #[test]
    #[allow(deprecated)]
    fn builders_carry_every_input_field() {
        check(
            SendMessageInput::builder()
                .queue_url("q")
                .message_body("b")
                .delay_seconds(1)
                .message_attributes("a", attr())
                .message_system_attributes(
                    MessageSystemAttributeNameForSends::AwsTraceHeader,
                    MessageSystemAttributeValue::builder()
                        .data_type("String")
                        .string_value("h")
                        .build()
                        .unwrap(),
                )
                .message_deduplication_id("d")
                .message_group_id("g")
                .build()
                .unwrap(),
            |i| send_message(i).build().unwrap(),
            &[
                "queue_url",
                "message_body",
                "delay_seconds",
                "message_attributes",
                "message_system_attributes",
                "message_deduplication_id",
                "message_group_id",
            ],
        );
        check(
            SendMessageBatchInput::builder()
                .queue_url("q")
                .entries(
                    SendMessageBatchRequestEntry::builder()
                        .id("1")
                        .message_body("b")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
            |i| send_message_batch(i).build().unwrap(),
            &["queue_url", "entries"],
        );
        check(
            ReceiveMessageInput::builder()
                .queue_url("q")
                .attribute_names(QueueAttributeName::All)
                .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
                .message_attribute_names("a")
                .max_number_of_messages(10)
                .visibility_timeout(30)
                .wait_time_seconds(20)
                .receive_request_attempt_id("r")
                .build()
                .unwrap(),
            |i| receive_message(i).build().unwrap(),
            &[
                "queue_url",
                "attribute_names",
                "message_system_attribute_names",
                "message_attribute_names",
                "max_number_of_messages",
                "visibility_timeout",
                "wait_time_seconds",
                "receive_request_attempt_id",
            ],
        );
        check(
            DeleteMessageInput::builder()
                .queue_url("q")
                .receipt_handle("r")
                .build()
                .unwrap(),
            |i| delete_message(i).build().unwrap(),
            &["queue_url", "receipt_handle"],
        );
        check(
            DeleteMessageBatchInput::builder()
                .queue_url("q")
                .entries(
                    DeleteMessageBatchRequestEntry::builder()
                        .id("1")
                        .receipt_handle("r")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
            |i| delete_message_batch(i).build().unwrap(),
            &["queue_url", "entries"],
        );
        check(
            ChangeMessageVisibilityInput::builder()
                .queue_url("q")
                .receipt_handle("r")
                .visibility_timeout(5)
                .build()
                .unwrap(),
            |i| change_message_visibility(i).build().unwrap(),
            &["queue_url", "receipt_handle", "visibility_timeout"],
        );
        check(
            ChangeMessageVisibilityBatchInput::builder()
                .queue_url("q")
                .entries(
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id("1")
                        .receipt_handle("r")
                        .visibility_timeout(5)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
            |i| change_message_visibility_batch(i).build().unwrap(),
            &["queue_url", "entries"],
        );
        check(
            GetQueueUrlInput::builder()
                .queue_name("n")
                .queue_owner_aws_account_id("1")
                .build()
                .unwrap(),
            |i| get_queue_url(i).build().unwrap(),
            &["queue_name", "queue_owner_aws_account_id"],
        );
        check(
            GetQueueAttributesInput::builder()
                .queue_url("q")
                .attribute_names(QueueAttributeName::All)
                .build()
                .unwrap(),
            |i| get_queue_attributes(i).build().unwrap(),
            &["queue_url", "attribute_names"],
        );
    }
}
