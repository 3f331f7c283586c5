//! The environment the set-up reads (`OTEL_*`, AWS platform variables), each case in a child
//! process of its own so that no variable leaks into another test: the child runs
//! [`child`] with the variables set; the parent holds the receivers and checks what came.

mod common;

use std::collections::HashMap;
use std::process::Command;

use baton_export::{Exporter, Setup};
use common::Receiver;
use opentelemetry::trace::Tracer;

/// Set in the child's environment to make [`child`] run.
const CHILD: &str = "BATON_EXPORT_TEST_CHILD";

/// The child: set up from the environment alone, send one span, shut down. With
/// `BATON_EXPORT_TEST_CHILD=daemon` the exporter is the X-Ray daemon's; with `error` the
/// set-up must fail, and its message is printed.
#[test]
fn child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let mut setup = Setup::new();
    if mode == "daemon" {
        setup = setup.with_exporter(Exporter::xray_daemon());
    }
    match setup.build() {
        Ok(telemetry) => {
            assert_ne!(mode, "error", "the set-up should have failed");
            telemetry.tracer("child").in_span("from the child", |_| {});
            telemetry.shutdown().unwrap();
        }
        Err(error) => {
            assert_eq!(mode, "error", "{error}");
            println!("SETUP ERROR: {error}");
        }
    }
}

/// Runs [`child`] in a process of its own with `vars` (and nothing else of ours) set;
/// returns what it printed.
async fn run_child(mode: &str, vars: &[(&str, String)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode);
    for (name, _) in std::env::vars() {
        if name.starts_with("OTEL_") || name.starts_with("AWS_") || name.starts_with("ECS_") {
            command.env_remove(name);
        }
    }
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    stdout
}

fn var(name: &str, value: impl Into<String>) -> (&str, String) {
    (name, value.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_protocol_headers_service_name_and_resource_come_from_otel_variables() {
    let receiver = Receiver::start().await;
    run_child(
        "otlp",
        &[
            var(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{}", receiver.addr),
            ),
            var("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            var(
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-team=payments,authorization=Bearer%20abc",
            ),
            var("OTEL_SERVICE_NAME", "orders"),
            var(
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment.name=staging,service.version=1.2.3",
            ),
            var("OTEL_TRACES_SAMPLER", "always_on"),
        ],
    )
    .await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    // `/v1/traces` is added to the base endpoint.
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("x-team"), Some("payments"));
    assert_eq!(request.header("authorization"), Some("Bearer abc"));
    let spans = receiver.spans();
    let (resource, span) = &spans[0];
    assert_eq!(span.name, "from the child");
    assert_eq!(resource["service.name"], "orders");
    assert_eq!(resource["deployment.environment.name"], "staging");
    assert_eq!(resource["service.version"], "1.2.3");
    assert!(!resource.contains_key("cloud.platform"), "{resource:?}");
}

#[cfg(feature = "aws-detectors")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_lambda_the_function_is_detected_and_names_the_service_gzip_on() {
    let receiver = Receiver::start().await;
    run_child(
        "otlp",
        &[
            // The traces endpoint is taken as it is.
            var(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                format!("http://{}/custom/traces", receiver.addr),
            ),
            var("OTEL_TRACES_SAMPLER", "always_on"),
            var("AWS_LAMBDA_FUNCTION_NAME", "orders-fn"),
            var("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            var("AWS_REGION", "eu-west-1"),
            var("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ],
    )
    .await;
    let requests = receiver.requests();
    assert_eq!(requests[0].path, "/custom/traces");
    assert_eq!(
        requests[0].header("content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(requests[0].header("content-encoding"), Some("gzip"));
    let spans = receiver.spans();
    let (resource, _) = &spans[0];
    assert_eq!(resource["service.name"], "orders-fn");
    assert_eq!(resource["cloud.provider"], "aws");
    assert_eq!(resource["cloud.platform"], "aws_lambda");
    assert_eq!(resource["faas.name"], "orders-fn");
    assert_eq!(resource["cloud.region"], "eu-west-1");
}

/// A stand-in for the ECS task metadata endpoint (v4): `GET /task` and `GET /`.
#[cfg(feature = "aws-detectors")]
async fn ecs_metadata() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|request: hyper::Request<_>| async move {
                    let body = match request.uri().path() {
                        "/task" => serde_json::json!({
                            "Cluster": "arn:aws:ecs:us-west-2:123456789012:cluster/shop",
                            "TaskARN": "arn:aws:ecs:us-west-2:123456789012:task/shop/0123456789abcdef",
                            "Family": "checkout",
                            "Revision": "7",
                            "AvailabilityZone": "us-west-2a",
                            "LaunchType": "FARGATE"
                        }),
                        _ => serde_json::json!({
                            "ContainerARN": "arn:aws:ecs:us-west-2:123456789012:container/shop/0123/abcd",
                            "DockerId": "0123456789abcdef-1234",
                            "Name": "checkout",
                            "Image": "checkout:1.0",
                            "ImageID": "sha256:00"
                        }),
                    };
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from(body.to_string())),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// ECS (Fargate) detected from its metadata endpoint, and the daemon exporter turning the
/// resource into the segment's origin, as X-Ray shows it.
#[cfg(feature = "aws-detectors")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_ecs_fargate_the_task_is_detected_and_segments_say_so() {
    let metadata = ecs_metadata().await;
    let mut daemon = baton_trace::Collector::bind("127.0.0.1:0".parse().unwrap())
        .unwrap()
        .spawn();
    run_child(
        "daemon",
        &[
            var(
                "ECS_CONTAINER_METADATA_URI_V4",
                format!("http://{metadata}"),
            ),
            var("AWS_XRAY_DAEMON_ADDRESS", daemon.local_addr().to_string()),
            var("OTEL_SERVICE_NAME", "checkout"),
            var("OTEL_TRACES_SAMPLER", "always_on"),
        ],
    )
    .await;
    let trace = daemon
        .wait_for(|t| !t.is_empty(), std::time::Duration::from_secs(10))
        .await
        .expect("the segment");
    let segment = &trace.nodes()[0];
    assert_eq!(segment.name, "checkout");
    assert_eq!(segment.origin.as_deref(), Some("AWS::ECS::Fargate"));
    // The detector's attributes are kept in the resource; what X-Ray shows is the origin.
    daemon.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_variables_are_refused_with_what_was_wrong() {
    let cases: [(&str, &str, &str); 4] = [
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "carrier-pigeon",
            "is not an OTLP protocol",
        ),
        ("OTEL_TRACES_EXPORTER", "zipkin", "is not supported"),
        ("OTEL_TRACES_SAMPLER", "sometimes", "is not supported"),
        (
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "soon",
            "not a number of milliseconds",
        ),
    ];
    let mut seen = HashMap::new();
    for (name, value, expected) in cases {
        let printed = run_child("error", &[var(name, value)]).await;
        assert!(
            printed.contains("SETUP ERROR") && printed.contains(expected) && printed.contains(name),
            "{name}={value}: {printed}"
        );
        seen.insert(name, printed);
    }
    assert_eq!(seen.len(), 4);
}
