//! What the Step Functions middleware does, shared by the Tower layer and the interceptor.

use baton::driver::Common;
use baton::driver::Probed;

use crate::{SfnInterceptor, SfnLayer, SfnService, TracedSfn};

/// Settings of Baton's Step Functions propagation.
///
/// By default every StartExecution and StartSyncExecution gets a PRODUCER span whose context
/// goes into the request's `traceHeader`, which Step Functions shows in DescribeExecution and
/// X-Ray follows. Step Functions does not hand that header on to what its tasks send (an SQS
/// `sendMessage` task's message carries no `AWSTraceHeader`), so states cannot read it;
/// [`with_input_field`](Self::with_input_field) also puts it into the execution input, where a
/// state can pass it on (for instance as an `X-Amzn-Trace-Id` message attribute, which Baton's
/// SQS consumers read):
///
/// ```json
/// "MessageAttributes": {
///   "X-Amzn-Trace-Id": { "DataType": "String", "StringValue.$": "$.traceHeader" }
/// }
/// ```
#[derive(Clone, Debug, Default)]
pub struct SfnPropagation {
    pub(crate) common: Common,
    pub(crate) input_field: Option<String>,
}

impl SfnPropagation {
    /// The defaults (see the type's documentation).
    pub fn new() -> Self {
        Self::default()
    }

    baton::common_builders!(
        common,
        "the largest execution input the state machine takes (Step Functions' limit is \
         256 KiB). Baton adds the input field only while the input stays within it"
    );

    /// Also adds the trace header to the execution input, as field `field` of its JSON object
    /// (commonly `"traceHeader"`). An input that is not a JSON object, already has the field,
    /// or would exceed the size limit is sent as given (with a `tracing` event); no input
    /// becomes an object holding only the field.
    pub fn with_input_field(mut self, field: impl Into<String>) -> Self {
        self.input_field = Some(field.into());
        self
    }

    /// The Tower form in one call: `client` as an [`SfnService`] wrapped in this propagation,
    /// with `cloud.region` taken from the client's configuration and `server.address` from
    /// where its calls go (see [`baton::driver::ServerProbe`]).
    pub fn service(&self, client: aws_sdk_sfn::Client) -> TracedSfn<Probed<SfnService>> {
        let mut settings = self.clone();
        let client = SfnService::header_client(&client);
        let service =
            baton::tower_service!(aws_sdk_sfn, client, settings.common, SfnService::prepared);
        TracedSfn::new(service, settings)
    }

    /// The SDK interceptor with these settings.
    pub fn interceptor(&self) -> SfnInterceptor {
        SfnInterceptor::new(self.clone())
    }

    /// The Tower layer with these settings.
    pub fn layer(&self) -> SfnLayer {
        SfnLayer::new(self.clone())
    }
}
