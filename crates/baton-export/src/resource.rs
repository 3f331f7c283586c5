//! The resource: what the process is, from the SDK's defaults, AWS detection, the environment
//! and the set-up's own settings, in that order of precedence (later wins).

use std::path::Path;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::resource::{
    EnvResourceDetector, SdkProvidedResourceDetector, TelemetryResourceDetector,
};

/// The file Kubernetes mounts into every pod with a service account.
const K8S_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
/// What Linux says of the machine; on EC2 the vendor is "Amazon EC2".
const DMI_VENDOR_FILE: &str = "/sys/devices/virtual/dmi/id/sys_vendor";
const DMI_ASSET_TAG_FILE: &str = "/sys/devices/virtual/dmi/id/board_asset_tag";
const HYPERVISOR_UUID_FILE: &str = "/sys/hypervisor/uuid";

/// Which AWS platform the process looks like it runs on, from signs that cost nothing to
/// read (environment variables, files): only that platform's detector then runs, so that a
/// process off AWS never waits on the instance metadata service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Platform {
    Lambda,
    Ecs,
    Eks,
    Ec2,
}

pub(crate) fn platform() -> Option<Platform> {
    let set = |name: &str| var(name).is_some();
    if set("AWS_LAMBDA_FUNCTION_NAME") {
        return Some(Platform::Lambda);
    }
    if set("ECS_CONTAINER_METADATA_URI_V4") {
        return Some(Platform::Ecs);
    }
    if Path::new(K8S_NAMESPACE_FILE).exists() {
        // A pod: EKS when on AWS; the detector asks the instance metadata service.
        return on_ec2_hardware().then_some(Platform::Eks);
    }
    on_ec2_hardware().then_some(Platform::Ec2)
}

/// Whether this Linux machine is an EC2 instance, by what the kernel shows of it.
fn on_ec2_hardware() -> bool {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    read(DMI_VENDOR_FILE).trim() == "Amazon EC2"
        || read(DMI_ASSET_TAG_FILE).trim().starts_with("i-")
        || read(HYPERVISOR_UUID_FILE)
            .trim()
            .to_ascii_lowercase()
            .starts_with("ec2")
}

#[cfg(feature = "aws-detectors")]
fn detector(platform: Platform) -> Box<dyn opentelemetry_sdk::resource::ResourceDetector> {
    use opentelemetry_aws::detector::{
        Ec2ResourceDetector, EcsResourceDetector, EksResourceDetector, LambdaResourceDetector,
    };
    match platform {
        Platform::Lambda => Box::new(LambdaResourceDetector),
        Platform::Ecs => Box::new(EcsResourceDetector),
        Platform::Eks => Box::new(EksResourceDetector),
        Platform::Ec2 => Box::new(Ec2ResourceDetector),
    }
}

/// Builds the resource.
///
/// Precedence, lowest first: the SDK's defaults (`service.name` = `unknown_service`,
/// `telemetry.sdk.*`), what the AWS detector of this platform finds, `OTEL_RESOURCE_ATTRIBUTES`
/// and `OTEL_SERVICE_NAME`, then `attributes` and `service_name` given in code. Where no name
/// was given anywhere and the process is a Lambda function, the service is named after the
/// function.
pub(crate) fn build(detect: bool, attributes: &[KeyValue], service_name: Option<&str>) -> Resource {
    let mut builder = Resource::builder_empty()
        .with_detector(Box::new(SdkProvidedResourceDetector))
        .with_detector(Box::new(TelemetryResourceDetector));
    let platform = if detect { platform() } else { None };
    #[cfg(feature = "aws-detectors")]
    if let Some(platform) = platform {
        builder = builder.with_detector(detector(platform));
    }
    builder = builder
        .with_detector(Box::new(EnvResourceDetector::new()))
        // Again, so that OTEL_SERVICE_NAME wins over a detector's or the env's service.name.
        .with_detector(Box::new(SdkProvidedResourceDetector))
        .with_attributes(attributes.iter().cloned());
    let named_somewhere = service_name.is_some()
        || var("OTEL_SERVICE_NAME").is_some()
        || attributes
            .iter()
            .any(|kv| kv.key.as_str() == "service.name")
        || var("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|v| {
            v.split(',')
                .any(|kv| kv.trim().starts_with("service.name="))
        });
    if let Some(name) = service_name {
        builder = builder.with_service_name(name.to_owned());
    } else if !named_somewhere
        && platform == Some(Platform::Lambda)
        && let Some(function) = var("AWS_LAMBDA_FUNCTION_NAME")
    {
        builder = builder.with_service_name(function);
    }
    builder.build()
}

/// An environment variable, unset when empty.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
