//! Segment documents without a socket: the conversion the exporter does, for any transport.

use opentelemetry::Key;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SpanData;

use crate::document::{self, Settings};
use crate::exporter::{DEFAULT_MAX_DATAGRAM_SIZE, MAX_DATAGRAM_SIZE, MIN_DATAGRAM_SIZE};

/// Turns spans into X-Ray daemon datagrams (the `{"format":"json","version":1}` line, then one
/// segment document) exactly as [`XrayExporter`](crate::XrayExporter) does, but hands them to
/// the caller instead of a socket. The local trace view uses it to show spans that arrive over
/// OTLP the way X-Ray would; use it to send documents over another transport, or to see what
/// a batch of spans becomes.
///
/// ```
/// use opentelemetry::trace::{Span, SpanKind, Tracer, TracerProvider};
/// use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
/// use opentelemetry_sdk::Resource;
/// use baton_xray::SegmentEncoder;
///
/// let spans = InMemorySpanExporter::default();
/// let provider = SdkTracerProvider::builder()
///     .with_id_generator(baton::XrayIdGenerator::default())
///     .with_simple_exporter(spans.clone())
///     .build();
/// provider.tracer("example").span_builder("GET /orders").with_kind(SpanKind::Server).start(&provider.tracer("example")).end();
///
/// let resource = Resource::builder_empty()
///     .with_service_name("orders")
///     .with_attribute(opentelemetry::KeyValue::new("cloud.platform", "aws_ecs"))
///     .build();
/// let encoder = SegmentEncoder::new().with_resource(&resource);
/// let mut documents = Vec::new();
/// encoder.encode(&spans.get_finished_spans().unwrap(), |datagram| documents.push(datagram.to_owned()));
/// assert_eq!(documents.len(), 1);
/// assert!(documents[0].contains(r#""name":"orders""#));
/// assert!(documents[0].contains(r#""origin":"AWS::ECS::Container""#));
/// ```
#[derive(Clone, Debug)]
pub struct SegmentEncoder {
    pub(crate) settings: Settings,
    explicit_service_name: bool,
}

impl Default for SegmentEncoder {
    fn default() -> Self {
        SegmentEncoder::new()
    }
}

impl SegmentEncoder {
    /// An encoder that names segments after each span (until given a service name or a
    /// resource), writes no `origin`, and keeps datagrams within 64,000 bytes.
    pub fn new() -> Self {
        SegmentEncoder {
            settings: Settings {
                service_name: None,
                origin: None,
                max_datagram: DEFAULT_MAX_DATAGRAM_SIZE,
            },
            explicit_service_name: false,
        }
    }

    /// Names every segment `name`, whatever resource comes later.
    #[must_use]
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.settings.service_name = Some(name.into());
        self.explicit_service_name = true;
        self
    }

    /// Takes what X-Ray shows of the process from `resource`: segments are named after its
    /// `service.name` (unless [`with_service_name`](Self::with_service_name) named them), and
    /// carry the `origin` its `cloud.platform` implies (see [`xray_origin`]).
    #[must_use]
    pub fn with_resource(mut self, resource: &Resource) -> Self {
        self.set_resource(resource);
        self
    }

    pub(crate) fn set_resource(&mut self, resource: &Resource) {
        if !self.explicit_service_name
            && let Some(name) = resource.get_ref(&Key::from_static_str("service.name"))
        {
            self.settings.service_name = Some(name.as_str().into_owned());
        }
        self.settings.origin = xray_origin(resource);
    }

    /// The largest datagram, header included (default 64,000; kept between 1,024 and 65,000
    /// bytes).
    #[must_use]
    pub fn with_max_datagram_size(mut self, bytes: usize) -> Self {
        self.settings.max_datagram = bytes.clamp(MIN_DATAGRAM_SIZE, MAX_DATAGRAM_SIZE);
        self
    }

    /// The segment name in use: the one given, or the resource's `service.name`.
    pub fn service_name(&self) -> Option<&str> {
        self.settings.service_name.as_deref()
    }

    /// Converts `spans` and hands each datagram to `each`. Returns how many spans had to be
    /// written with their details left out because alone they did not fit a datagram.
    pub fn encode(&self, spans: &[SpanData], mut each: impl FnMut(&str)) -> u64 {
        document::encode(spans, &self.settings, |datagram, _| each(datagram)).truncated
    }
}

/// The X-Ray `origin` (the kind of AWS resource the service runs on) for a resource, from its
/// `cloud.platform` as OpenTelemetry's AWS resource detectors set it:
///
/// | `cloud.platform` | origin |
/// |---|---|
/// | `aws_ec2` | `AWS::EC2::Instance` |
/// | `aws_ecs` | `AWS::ECS::Container` (`AWS::ECS::EC2` or `AWS::ECS::Fargate` when `aws.ecs.launchtype` says which) |
/// | `aws_eks` | `AWS::EKS::Container` |
/// | `aws_elastic_beanstalk` | `AWS::ElasticBeanstalk::Environment` |
/// | `aws_lambda` | `AWS::Lambda::Function` |
/// | `aws_app_runner` | `AWS::AppRunner::Service` |
///
/// Anything else (no platform, another cloud) has no origin: X-Ray then shows the service
/// without a resource type.
///
/// ```
/// use opentelemetry::KeyValue;
/// use opentelemetry_sdk::Resource;
///
/// let fargate = Resource::builder_empty()
///     .with_attributes([
///         KeyValue::new("cloud.platform", "aws_ecs"),
///         KeyValue::new("aws.ecs.launchtype", "fargate"),
///     ])
///     .build();
/// assert_eq!(baton_xray::xray_origin(&fargate), Some("AWS::ECS::Fargate"));
/// assert_eq!(baton_xray::xray_origin(&Resource::builder_empty().build()), None);
/// ```
pub fn xray_origin(resource: &Resource) -> Option<&'static str> {
    let platform = resource.get_ref(&Key::from_static_str("cloud.platform"))?;
    Some(match &*platform.as_str() {
        "aws_ec2" => "AWS::EC2::Instance",
        "aws_ecs" => {
            let launch = resource.get_ref(&Key::from_static_str("aws.ecs.launchtype"));
            match launch.map(|l| l.as_str().to_ascii_lowercase()).as_deref() {
                Some("ec2") => "AWS::ECS::EC2",
                Some("fargate") => "AWS::ECS::Fargate",
                _ => "AWS::ECS::Container",
            }
        }
        "aws_eks" => "AWS::EKS::Container",
        "aws_elastic_beanstalk" => "AWS::ElasticBeanstalk::Environment",
        "aws_lambda" => "AWS::Lambda::Function",
        "aws_app_runner" => "AWS::AppRunner::Service",
        _ => return None,
    })
}
