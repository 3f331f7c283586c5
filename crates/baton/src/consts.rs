//! Names and limits, in one place.

/// The HTTP header (and OpenTelemetry carrier field) that holds an X-Ray trace header.
pub const XRAY_HEADER: &str = "X-Amzn-Trace-Id";

/// The SQS message system attribute that holds an X-Ray trace header.
pub const AWS_TRACE_HEADER: &str = "AWSTraceHeader";

/// The W3C trace context fields, as OpenTelemetry instrumentations write them.
pub const TRACEPARENT: &str = "traceparent";
/// The W3C trace state field.
pub const TRACESTATE: &str = "tracestate";

/// The longest trace header, in bytes, that Baton writes for the next hop. Longer input is
/// still read (in time proportional to its length), but only as many of its fields are passed
/// on as fit in this bound, which other readers may hold headers to.
pub const MAX_HEADER_LEN: usize = 1024;

/// The longest `Lineage` value Baton reads or passes on.
pub const MAX_LINEAGE_LEN: usize = 256;

/// The trace-state entry that marks an open sampling decision: `deferred` for an upstream
/// `Sampled=?`, `unset` for an upstream header without `Sampled` (written back without one).
pub(crate) const DEFERRED_STATE_KEY: &str = "xray-sampled";
pub(crate) const DEFERRED_STATE_VALUE: &str = "deferred";
pub(crate) const UNSET_STATE_VALUE: &str = "unset";

/// The version of the OpenTelemetry semantic conventions Baton's spans follow (messaging,
/// AWS SQS and SNS, cloud): receive spans are CLIENT, process spans CONSUMER, send and create
/// spans PRODUCER; SNS is `aws.sns`, SQS `aws_sqs`.
pub const SEMCONV_VERSION: &str = "1.44.0";

/// Span attribute keys from the OpenTelemetry messaging and cloud semantic conventions.
pub mod attr {
    /// `messaging.system`: `aws_sqs`, `aws.sns`, …
    pub const MESSAGING_SYSTEM: &str = "messaging.system";
    /// `messaging.operation.type`: `send`, `receive`, `process`, `settle`.
    pub const MESSAGING_OPERATION_TYPE: &str = "messaging.operation.type";
    /// `messaging.operation.name`: the system-specific operation (`SendMessage`, …).
    pub const MESSAGING_OPERATION_NAME: &str = "messaging.operation.name";
    /// `messaging.destination.name`: queue, topic, bus or state machine name.
    pub const MESSAGING_DESTINATION_NAME: &str = "messaging.destination.name";
    /// `messaging.message.id`.
    pub const MESSAGING_MESSAGE_ID: &str = "messaging.message.id";
    /// `messaging.batch.message_count`.
    pub const MESSAGING_BATCH_MESSAGE_COUNT: &str = "messaging.batch.message_count";
    /// `cloud.region`.
    pub const CLOUD_REGION: &str = "cloud.region";
    /// `aws.request_id`.
    pub const AWS_REQUEST_ID: &str = "aws.request_id";
    /// `error.type`.
    pub const ERROR_TYPE: &str = "error.type";
    /// `aws.sqs.queue.url`.
    pub const AWS_SQS_QUEUE_URL: &str = "aws.sqs.queue.url";
    /// `server.address`: the host the call went to.
    pub const SERVER_ADDRESS: &str = "server.address";
    /// `server.port`: its port, recorded when it is not the scheme's default.
    pub const SERVER_PORT: &str = "server.port";
    /// `aws.sns.topic.arn`.
    pub const AWS_SNS_TOPIC_ARN: &str = "aws.sns.topic.arn";
    /// `messaging.message.body.size`: the size of one message's body, in bytes.
    pub const MESSAGING_MESSAGE_BODY_SIZE: &str = "messaging.message.body.size";
    /// `baton.messaging.time_in_queue_ms`: how long a message waited between being sent and
    /// this delivery, in milliseconds (the conventions define no attribute for it).
    pub const BATON_TIME_IN_QUEUE_MS: &str = "baton.messaging.time_in_queue_ms";
    /// `baton.messaging.receive_count`: how many times the message has been received, this
    /// delivery included (SQS's `ApproximateReceiveCount`); above 1 means a redelivery.
    pub const BATON_RECEIVE_COUNT: &str = "baton.messaging.receive_count";
    /// `baton.aws.sqs.message_group_id`: the FIFO message group of the message.
    pub const BATON_SQS_MESSAGE_GROUP_ID: &str = "baton.aws.sqs.message_group_id";
    /// `http.response.status_code` (the service's HTTP status, for a failed call).
    pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
}
