//! The settings every service shares, and the one place their builders are written.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use opentelemetry::Context;
use opentelemetry::trace::{SpanRef, TraceContextExt};

use opentelemetry::metrics::Meter;

use super::Start;
use crate::metrics::{Measure, MessagingMetrics};
use crate::{
    Delivery, LinkPolicy, MessagingSpan, MessagingSystem, OnSend, SendSpans, TracerHandle,
};

/// The size limit a service's settings start with: 256 KiB, the message (SQS, SNS), request
/// (EventBridge) and input (Step Functions) limit those services had for years, so that Baton's
/// additions never push a message over the limit of a destination still set to it.
pub const DEFAULT_SIZE_LIMIT: usize = 256 * 1024;

/// The smallest size limit a setting takes (smaller values are raised to it): 1 KiB, SQS's
/// smallest `MaximumMessageSize`.
pub const MIN_SIZE_LIMIT: usize = 1024;

/// The largest size limit a setting takes (larger values are lowered to it): 1 MiB, the
/// largest message any of the services accepts.
pub const MAX_SIZE_LIMIT: usize = 1024 * 1024;

/// A function called with each processing span just after it starts: the consumer's way to add
/// attributes of its own (a tenant, a message group) or to learn the span's ids. The settings
/// of every service crate take one (`with_on_process`); `start_process_span`, `SqsWorker` and
/// the Lambda adapters call it.
///
/// ```
/// use baton::driver::OnProcess;
/// use opentelemetry::KeyValue;
///
/// let on_process = OnProcess::new(|span| {
///     span.set_attribute(KeyValue::new("shop.tenant", "acme"));
/// });
/// # drop(on_process);
/// ```
///
/// A hook that panics is caught and logged (`tracing`, target `baton`); the message is
/// processed all the same.
#[derive(Clone)]
pub struct OnProcess(Arc<dyn Fn(&SpanRef<'_>) + Send + Sync>);

impl OnProcess {
    /// Wraps `hook`.
    pub fn new(hook: impl Fn(&SpanRef<'_>) + Send + Sync + 'static) -> Self {
        OnProcess(Arc::new(hook))
    }

    /// Calls the hook with the active span of `cx`.
    pub fn call(&self, cx: &Context) {
        let span = cx.span();
        if std::panic::catch_unwind(AssertUnwindSafe(|| (self.0)(&span))).is_err() {
            tracing::warn!(
                target: "baton",
                "an on_process hook panicked; the process span goes on without what it would \
                 have added"
            );
        }
    }
}

impl fmt::Debug for OnProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnProcess(..)")
    }
}

/// The settings every service's propagation has, with the same defaults and the same
/// validation everywhere: the tracer, the hooks, the link policy, the region, the environment
/// and the size limit. A service's settings type holds one and gets its builders from
/// [`common_builders!`](crate::common_builders).
#[derive(Clone, Debug)]
pub struct Common {
    tracer: TracerHandle,
    on_send: Option<OnSend>,
    on_process: Option<OnProcess>,
    link_policy: LinkPolicy,
    env: fn(&str) -> Option<String>,
    region: Option<String>,
    server: Option<(String, Option<u16>)>,
    size_limit: usize,
    metrics: Option<MessagingMetrics>,
    probe: Option<super::ServerProbe>,
    body_size: bool,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            tracer: TracerHandle::default(),
            on_send: None,
            on_process: None,
            link_policy: LinkPolicy::default(),
            env: crate::process_env,
            region: None,
            server: None,
            size_limit: DEFAULT_SIZE_LIMIT,
            metrics: None,
            probe: None,
            body_size: false,
        }
    }
}

impl Common {
    /// Spans from `tracer` instead of the global tracer provider's.
    #[must_use]
    pub fn with_tracer(mut self, tracer: TracerHandle) -> Self {
        self.tracer = tracer;
        self
    }

    /// Calls `hook` with each send span just before it ends.
    #[must_use]
    pub fn with_on_send(mut self, hook: OnSend) -> Self {
        self.on_send = Some(hook);
        self
    }

    /// Calls `hook` with each processing span just after it starts.
    #[must_use]
    pub fn with_on_process(mut self, hook: OnProcess) -> Self {
        self.on_process = Some(hook);
        self
    }

    /// How processing spans relate to the producer.
    #[must_use]
    pub fn with_link_policy(mut self, policy: LinkPolicy) -> Self {
        self.link_policy = policy;
        self
    }

    /// Environment variables read with `env` instead of from the process.
    #[must_use]
    pub fn with_environment(mut self, env: fn(&str) -> Option<String>) -> Self {
        self.env = env;
        self
    }

    /// The region recorded as `cloud.region` (the interceptor reads the client's own when none
    /// is set here).
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// The host (and port, when not the scheme's default) the Tower form records as
    /// `server.address` / `server.port` (the interceptor reads them from each request).
    #[must_use]
    pub fn with_server_address(mut self, address: impl Into<String>, port: Option<u16>) -> Self {
        self.server = Some((address.into(), port));
        self
    }

    /// Where the Tower form learns the server of each call when no address is set (see
    /// [`ServerProbe`](super::ServerProbe)).
    #[must_use]
    pub fn with_server_probe(mut self, probe: super::ServerProbe) -> Self {
        self.probe = Some(probe);
        self
    }

    /// The server probe, if one was given.
    pub fn server_probe(&self) -> Option<&super::ServerProbe> {
        self.probe.as_ref()
    }

    /// `region` unless a region is set already (for building the Tower form from a client).
    #[must_use]
    pub fn with_default_region(mut self, region: Option<&str>) -> Self {
        if self.region.is_none() {
            self.region = region.map(str::to_owned);
        }
        self
    }

    /// The size limit, clamped to [`MIN_SIZE_LIMIT`]`..=`[`MAX_SIZE_LIMIT`].
    #[must_use]
    pub fn with_size_limit(mut self, bytes: usize) -> Self {
        self.size_limit = bytes.clamp(MIN_SIZE_LIMIT, MAX_SIZE_LIMIT);
        self
    }

    /// Records the conventions' messaging metrics on `meter` (see [`crate::metrics`]); none
    /// are recorded without one.
    #[must_use]
    pub fn with_meter(mut self, meter: &Meter) -> Self {
        self.metrics = Some(MessagingMetrics::new(meter));
        self
    }

    /// Records `messaging.message.body.size` on the spans of single messages (off by default:
    /// the conventions make it opt-in).
    #[must_use]
    pub fn with_body_size(mut self, on: bool) -> Self {
        self.body_size = on;
        self
    }

    /// Whether spans record `messaging.message.body.size` (see
    /// [`with_body_size`](Self::with_body_size)).
    pub fn records_body_size(&self) -> bool {
        self.body_size
    }

    /// `messaging.message.body.size` of `body`, for a send span or a batch entry's span, when
    /// these settings record it (see [`with_body_size`](Self::with_body_size)).
    pub fn body_size(&self, body: &str) -> Option<opentelemetry::KeyValue> {
        self.body_size.then(|| crate::span::body_size(body.len()))
    }

    /// The metrics' instruments, when a meter was given.
    pub fn metrics(&self) -> Option<&MessagingMetrics> {
        self.metrics.as_ref()
    }

    /// Starts measuring an operation, when a meter was given.
    pub fn measure(
        &self,
        system: MessagingSystem,
        operation: crate::Operation,
        name: &'static str,
        destination: &str,
    ) -> Option<Measure> {
        self.metrics
            .as_ref()
            .map(|m| m.start(system, operation, name, destination.to_owned()))
    }

    /// Starts measuring the processing of one message of `system` handled for `destination`,
    /// when a meter was given (a Lambda adapter's push delivery ends it with
    /// [`Measure::finish_pushed`]).
    pub fn measure_process(&self, system: MessagingSystem, destination: &str) -> Option<Measure> {
        self.metrics
            .as_ref()
            .map(|m| m.start_process(system, destination.to_owned()))
    }

    /// The tracer spans start with.
    pub fn tracer(&self) -> &TracerHandle {
        &self.tracer
    }

    /// The send hook, if one is set.
    pub fn on_send(&self) -> Option<&OnSend> {
        self.on_send.as_ref()
    }

    /// The link policy.
    pub fn link_policy(&self) -> LinkPolicy {
        self.link_policy
    }

    /// The environment reader.
    pub fn env(&self) -> fn(&str) -> Option<String> {
        self.env
    }

    /// The region set in the settings, if any.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// The server address set for the Tower form, if any.
    pub fn server_address(&self) -> Option<(&str, Option<u16>)> {
        self.server
            .as_ref()
            .map(|(host, port)| (host.as_str(), *port))
    }

    /// The size limit (see [`with_size_limit`](Self::with_size_limit)).
    pub fn size_limit(&self) -> usize {
        self.size_limit
    }

    /// Inside Lambda, the invocation's `Lineage`: from the current context's
    /// [`LambdaInvocationTrace`](crate::LambdaInvocationTrace), else from `_X_AMZN_TRACE_ID`
    /// (see [`invocation_lineage`](crate::invocation_lineage)).
    pub fn lineage(&self) -> Option<String> {
        self.lineage_in(&Context::current())
    }

    /// The `Lineage` a send in `cx` (its send span's context) passes on: the invocation's
    /// trace header in `cx`, else in the current context, else `_X_AMZN_TRACE_ID`; `None`
    /// outside Lambda, where only the (cached) function name is looked up.
    pub fn lineage_in(&self, cx: &Context) -> Option<String> {
        crate::invocation_lineage(cx, self.env)
    }

    /// Starts the spans of a send call: `send {destination}` under the caller's context, with
    /// the region of `start`, the service's own `attributes` (a queue URL, a body size: given
    /// here, they cost less than set on the started span) and the send hook of these settings.
    pub fn send_spans<K>(
        &self,
        system: MessagingSystem,
        destination: String,
        operation: &'static str,
        batch_len: Option<usize>,
        start: &Start<'_>,
        attributes: impl IntoIterator<Item = opentelemetry::KeyValue>,
    ) -> SendSpans<K> {
        let measure = self.measure(system, crate::Operation::Send, operation, &destination);
        SendSpans::start(
            &self.tracer,
            system,
            destination,
            operation,
            batch_len,
            start.region,
            start.parent,
            attributes,
        )
        .with_on_send(self.on_send.clone())
        .with_measure(measure)
    }

    /// Starts the processing span of `delivery`, handled for `destination`, under the link
    /// policy, calls the process hook, and returns the producer's context with the span active.
    pub fn start_delivery(
        &self,
        delivery: &(impl Delivery + ?Sized),
        destination: &str,
    ) -> Context {
        self.start_process(
            self.process_span(delivery, destination),
            &delivery.producer_context(),
        )
    }

    /// The processing span of `delivery` ([`Delivery::process_span`]), with its body size when
    /// these settings record it.
    fn process_span(
        &self,
        delivery: &(impl Delivery + ?Sized),
        destination: &str,
    ) -> MessagingSpan {
        let span = delivery.process_span(destination);
        match delivery.body_size() {
            Some(bytes) if self.body_size => span.body_size(bytes),
            _ => span,
        }
    }

    /// [`start_delivery`](Self::start_delivery) inside the span active in `enclosing` (a batch,
    /// a Lambda invocation): under [`LinkPolicy::Link`](crate::LinkPolicy::Link) the process
    /// span becomes a child of that span, linked to the producer, as the semantic conventions
    /// draw a batch's messages; under `Parent` it continues the producer's trace as always.
    /// Either way the returned context keeps the values `enclosing` carries for the whole
    /// invocation (its [`LambdaInvocationTrace`](crate::LambdaInvocationTrace)), and the
    /// producer's pass-on fields. Without a valid span in `enclosing`, the same as
    /// `start_delivery`.
    pub fn start_delivery_within(
        &self,
        delivery: &(impl Delivery + ?Sized),
        destination: &str,
        enclosing: &Context,
    ) -> Context {
        let span = self.process_span(delivery, destination);
        let mut producer = delivery.producer_context();
        if let Some(trace) = enclosing.get::<crate::LambdaInvocationTrace>() {
            producer = producer.with_value(trace.clone());
        }
        let enclosing_span = enclosing.span();
        let nest =
            self.link_policy == crate::LinkPolicy::Link && enclosing_span.span_context().is_valid();
        if !nest {
            return self.start_process(span, &producer);
        }
        let producer_span = producer.span();
        let span = span.link(producer_span.span_context());
        let mut parent = enclosing.clone();
        if let Some(fields) = producer.get::<crate::PassOnFields>() {
            parent = parent.with_value(fields.clone());
        }
        use opentelemetry::baggage::BaggageExt as _;
        let baggage = producer.baggage();
        if !baggage.is_empty() {
            parent = parent.with_baggage(baggage.iter().map(|(k, (v, m))| {
                opentelemetry::baggage::KeyValueMetadata::new(k.clone(), v.clone(), m.clone())
            }));
        }
        let cx = self.tracer.start(span, &parent);
        if let Some(hook) = &self.on_process {
            hook.call(&cx);
        }
        cx
    }

    /// Starts the processing span `span` of a message whose producer context is `producer`,
    /// under the link policy, calls the process hook, and returns the context with the span
    /// active (see [`TracerHandle::start_process`]).
    pub fn start_process(&self, span: MessagingSpan, producer: &Context) -> Context {
        let cx = self.tracer.start_process(span, producer, self.link_policy);
        if let Some(hook) = &self.on_process {
            hook.call(&cx);
        }
        cx
    }
}

/// Writes the builders of the shared settings into a service's settings type, once for every
/// crate: `with_tracer`, `with_on_send`, `with_on_process`, `with_link_policy`,
/// `with_environment`, `with_region`, `with_size_limit`, and the `link_policy` and `tracer`
/// getters. Use it inside the `impl` block of a type whose field `$field` is a
/// [`Common`](crate::driver::Common); `$limit` says in words what the size limit bounds.
#[macro_export]
macro_rules! common_builders {
    ($field:ident, $limit:literal) => {
        /// Starts Baton's spans with `tracer` instead of the global tracer provider's.
        #[must_use]
        pub fn with_tracer(mut self, tracer: $crate::TracerHandle) -> Self {
            self.$field = self.$field.with_tracer(tracer);
            self
        }

        /// Calls `hook` with each `send` span just before it ends, after Baton recorded the
        /// call's outcome on it (request id, message id, error): read its ids to log them, or
        /// add attributes of your own. Both forms (interceptor and Tower) call it; see
        /// [`baton::OnSend`]($crate::OnSend).
        #[must_use]
        pub fn with_on_send(
            mut self,
            hook: impl Fn(&$crate::driver::SpanRef<'_>) + Send + Sync + 'static,
        ) -> Self {
            self.$field = self.$field.with_on_send($crate::OnSend::new(hook));
            self
        }

        /// Calls `hook` with each processing span just after it starts (in
        /// `start_process_span`, and in the runners built on these settings): add attributes
        /// of your own, or read its ids. See
        /// [`baton::driver::OnProcess`]($crate::driver::OnProcess).
        #[must_use]
        pub fn with_on_process(
            mut self,
            hook: impl Fn(&$crate::driver::SpanRef<'_>) + Send + Sync + 'static,
        ) -> Self {
            self.$field = self
                .$field
                .with_on_process($crate::driver::OnProcess::new(hook));
            self
        }

        /// How processing spans relate to the producer (see
        /// [`LinkPolicy`]($crate::LinkPolicy)).
        #[must_use]
        pub fn with_link_policy(mut self, policy: $crate::LinkPolicy) -> Self {
            self.$field = self.$field.with_link_policy(policy);
            self
        }

        /// Reads environment variables with `env` instead of the process environment (for
        /// tests). Baton reads `AWS_LAMBDA_FUNCTION_NAME` and `_X_AMZN_TRACE_ID`: inside
        /// Lambda, the invocation's `Lineage` goes into each trace header that has none of its
        /// own, so that Lambda's recursive-loop detection keeps working.
        #[must_use]
        pub fn with_environment(mut self, env: fn(&str) -> Option<String>) -> Self {
            self.$field = self.$field.with_environment(env);
            self
        }

        /// The region recorded on spans as `cloud.region`. The interceptor reads the client's
        /// own region when none is set here; the Tower layer cannot see the client it wraps,
        /// so `service(client)` takes it from the client, or set it here.
        #[must_use]
        pub fn with_region(mut self, region: impl Into<String>) -> Self {
            self.$field = self.$field.with_region(region);
            self
        }

        /// The host (and port, when not the scheme's default) the Tower form records as
        /// `server.address` / `server.port`: the Tower layer cannot see where the client it
        /// wraps sends. The interceptor reads them from each request by itself.
        #[must_use]
        pub fn with_server_address(
            mut self,
            address: impl Into<String>,
            port: Option<u16>,
        ) -> Self {
            self.$field = self.$field.with_server_address(address, port);
            self
        }

        /// Records `messaging.message.body.size`, the size in bytes of one message's body, on
        /// the spans of single messages whose body Baton sees: SQS and SNS sends of one
        /// message and each entry of their batches, and the processing spans of SQS messages,
        /// SNS notifications and Kinesis records (EventBridge events and Step Functions
        /// executions have no such body, and Kinesis sends do not record it). Off by default:
        /// the semantic conventions make the attribute opt-in.
        #[must_use]
        pub fn with_body_size(mut self, on: bool) -> Self {
            self.$field = self.$field.with_body_size(on);
            self
        }

        #[doc = concat!("The size limit Baton keeps its additions within: ", $limit, ".")]
        /// Baton never adds a carrier that would push past it (it skips the carrier and says
        /// so in a `tracing` event). Default 256 KiB
        /// ([`DEFAULT_SIZE_LIMIT`]($crate::driver::DEFAULT_SIZE_LIMIT)) unless the sentence
        /// above says otherwise; clamped to 1 KiB ..= 1 MiB, the same in every Baton service
        /// crate.
        #[must_use]
        pub fn with_size_limit(mut self, bytes: usize) -> Self {
            self.$field = self.$field.with_size_limit(bytes);
            self
        }

        /// Records the semantic conventions' messaging metrics on `meter`
        /// (`messaging.client.operation.duration`, `messaging.client.sent.messages`, …; see
        /// [`baton::metrics`]($crate::metrics)) in both forms. Off by default: without a meter
        /// nothing is measured.
        #[must_use]
        pub fn with_meter(mut self, meter: &$crate::driver::Meter) -> Self {
            self.$field = self.$field.with_meter(meter);
            self
        }

        /// The configured link policy.
        pub fn link_policy(&self) -> $crate::LinkPolicy {
            self.$field.link_policy()
        }

        /// The tracer Baton's spans start with.
        pub fn tracer(&self) -> &$crate::TracerHandle {
            self.$field.tracer()
        }
    };
}

/// The client service a service crate's `service(client)` wraps, with its shared settings
/// made ready for it: the region taken from the client (unless one is set), and, unless a
/// server address is set, a [`ServerProbe`](crate::driver::ServerProbe) on a copy of the client
/// for the first call (see [`Probed`](crate::driver::Probed)), given to the settings. `$sdk` is
/// the SDK crate (`aws_sdk_sqs`), `$common` the settings' `Common` field (changed in place),
/// `$service` makes the client service from a client (`SqsService::new`), and the optional
/// `$probe` is the probe to use (one that learns from some calls only).
#[doc(hidden)]
#[macro_export]
macro_rules! tower_service {
    ($sdk:ident, $client:expr, $common:expr, $service:expr) => {
        $crate::tower_service!(
            $sdk,
            $client,
            $common,
            $service,
            $crate::driver::ServerProbe::new()
        )
    };
    ($sdk:ident, $client:expr, $common:expr, $service:expr, $probe:expr) => {{
        let client: $sdk::Client = $client;
        let region = client.config().region().map(|r| r.as_ref().to_owned());
        $common = ::std::mem::take(&mut $common).with_default_region(region.as_deref());
        if $common.server_address().is_none() {
            let probe: $crate::driver::ServerProbe = $probe;
            $common = ::std::mem::take(&mut $common).with_server_probe(probe.clone());
            let learning = $sdk::Client::from_conf(
                client
                    .config()
                    .to_builder()
                    .interceptor(probe.clone())
                    .build(),
            );
            $crate::driver::Probed::new($service(client), $service(learning), probe)
        } else {
            $crate::driver::Probed::plain($service(client))
        }
    }};
}
