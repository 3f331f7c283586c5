//! The worker's seam to SQS: the four calls it makes, behind a trait so unit tests can drive
//! the worker with an in-memory queue. The real implementation is [`SdkQueue`].

use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    BatchResultErrorEntry, ChangeMessageVisibilityBatchRequestEntry,
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// A failed call, with the whole cause chain in its text (for the logs), and the service's
/// error code where there is one (`timeout` when no answer came in time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CallFailed(pub(crate) String, pub(crate) Option<String>);

impl std::fmt::Display for CallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl CallFailed {
    fn from_sdk<E: std::error::Error + ProvideErrorMetadata>(error: E) -> Self {
        let code = error.code().map(str::to_owned);
        CallFailed(DisplayErrorContext(error).to_string(), code)
    }

    /// Its `error.type`: the service's code, or `_OTHER`.
    pub(crate) fn error_type(&self) -> &str {
        self.1.as_deref().unwrap_or("_OTHER")
    }
}

/// One entry of a batch call: an id unique in the batch and the message's receipt handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) receipt_handle: String,
}

/// An entry a batch call could not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryFailed {
    pub(crate) id: String,
    pub(crate) code: String,
    /// The caller's fault (such as an expired receipt handle): retrying will not help.
    pub(crate) sender_fault: bool,
}

/// The attribute names each ReceiveMessage asks for (see `Settings::receive_names`).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ReceiveNames {
    pub(crate) system: Vec<MessageSystemAttributeName>,
    pub(crate) message: Vec<String>,
}

pub(crate) trait Queue: Send + Sync + 'static {
    /// Sets the attribute names every later receive asks for.
    fn ask_for(&mut self, names: ReceiveNames);

    /// ReceiveMessage with the attribute names set by `ask_for`.
    fn receive(
        &self,
        max: i32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> impl Future<Output = Result<Vec<Message>, CallFailed>> + Send;

    /// DeleteMessageBatch; the entries it could not delete.
    fn delete(
        &self,
        entries: Vec<Entry>,
    ) -> impl Future<Output = Result<Vec<EntryFailed>, CallFailed>> + Send;

    /// ChangeMessageVisibilityBatch to `timeout` from now.
    fn change_visibility(
        &self,
        entries: Vec<Entry>,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<EntryFailed>, CallFailed>> + Send;

    /// The queue's own visibility timeout.
    fn visibility_timeout(&self) -> impl Future<Output = Result<Duration, CallFailed>> + Send;
}

/// Asks for a persistent connection on each of the worker's requests.
///
/// HTTP/1.1 keeps connections open by default, and the SDK sends no `Connection` header. SQS
/// keeps them open, but LocalStack's gateway (hypercorn) answers `Connection: close` to every
/// request that does not ask for keep-alive in so many words, so without this header each of
/// the worker's calls opened a new TCP connection there (2,700 for 3,000 messages), and
/// LocalStack spent a tenth of its time accepting them. Node's HTTP agent sends the header,
/// which is part of why `sqs-consumer` drained LocalStack faster (issue 22).
#[derive(Debug)]
struct KeepAlive;

impl aws_sdk_sqs::config::Intercept for KeepAlive {
    fn name(&self) -> &'static str {
        "BatonWorkerKeepAlive"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_sqs::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _components: &aws_sdk_sqs::config::RuntimeComponents,
        _cfg: &mut aws_sdk_sqs::config::ConfigBag,
    ) -> Result<(), aws_sdk_sqs::error::BoxError> {
        let headers = context.request_mut().headers_mut();
        if !headers.contains_key("connection") {
            headers.insert("connection", "keep-alive");
        }
        Ok(())
    }
}

/// The worker's own client: the user's (same connection pool, interceptors and settings) with
/// [`KeepAlive`] added.
pub(crate) fn worker_client(client: &Client) -> Client {
    Client::from_conf(client.config().to_builder().interceptor(KeepAlive).build())
}

/// SQS through the AWS SDK.
#[derive(Clone, Debug)]
pub(crate) struct SdkQueue {
    pub(crate) client: Client,
    pub(crate) url: String,
    pub(crate) names: ReceiveNames,
}

/// How long a call other than ReceiveMessage may take, and how much longer than its wait time
/// a ReceiveMessage may take. The SDK's defaults bound only connecting; a server that accepts
/// a call and never answers would otherwise stall the worker for good.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// `call`, or a [`CallFailed`] once `limit` has passed.
async fn bounded<T, E: std::error::Error + ProvideErrorMetadata>(
    limit: Duration,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, CallFailed> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(CallFailed::from_sdk),
        Err(_) => Err(CallFailed(
            format!("no answer within {limit:?}"),
            Some("timeout".to_owned()),
        )),
    }
}

/// The entries a batch call reported as failed.
fn failures(failed: Vec<BatchResultErrorEntry>) -> Vec<EntryFailed> {
    failed
        .into_iter()
        .map(|f| EntryFailed {
            id: f.id,
            code: f.code,
            sender_fault: f.sender_fault,
        })
        .collect()
}

/// The longest visibility timeout SQS allows.
pub(crate) const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

impl Queue for SdkQueue {
    fn ask_for(&mut self, names: ReceiveNames) {
        self.names = names;
    }

    async fn receive(
        &self,
        max: i32,
        wait: Duration,
        visibility: Option<Duration>,
    ) -> Result<Vec<Message>, CallFailed> {
        let call = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max)
            .wait_time_seconds(secs(wait))
            .set_visibility_timeout(visibility.map(secs))
            .set_message_system_attribute_names(Some(self.names.system.clone()))
            .set_message_attribute_names(
                (!self.names.message.is_empty()).then(|| self.names.message.clone()),
            )
            .send();
        let output = bounded(wait + CALL_TIMEOUT, call).await?;
        Ok(output.messages.unwrap_or_default())
    }

    async fn delete(&self, entries: Vec<Entry>) -> Result<Vec<EntryFailed>, CallFailed> {
        let entries = entries
            .into_iter()
            .map(|e| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(e.id)
                    .receipt_handle(e.receipt_handle)
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        let call = self
            .client
            .delete_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send();
        let output = bounded(CALL_TIMEOUT, call).await?;
        Ok(failures(output.failed))
    }

    async fn change_visibility(
        &self,
        entries: Vec<Entry>,
        timeout: Duration,
    ) -> Result<Vec<EntryFailed>, CallFailed> {
        let timeout = secs(timeout);
        let entries = entries
            .into_iter()
            .map(|e| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(e.id)
                    .receipt_handle(e.receipt_handle)
                    .visibility_timeout(timeout)
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        let call = self
            .client
            .change_message_visibility_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send();
        let output = bounded(CALL_TIMEOUT, call).await?;
        Ok(failures(output.failed))
    }

    async fn visibility_timeout(&self) -> Result<Duration, CallFailed> {
        let call = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send();
        let output = bounded(CALL_TIMEOUT, call).await?;
        let seconds = output
            .attributes
            .as_ref()
            .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout))
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| {
                CallFailed(
                    "GetQueueAttributes returned no VisibilityTimeout".into(),
                    None,
                )
            })?;
        // SQS allows at most 12 hours; a larger answer would overflow the heartbeat's clock.
        Ok(Duration::from_secs(seconds.min(MAX_VISIBILITY.as_secs())))
    }
}
