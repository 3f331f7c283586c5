//! EC2 and EKS detection, where the detectors really look: the instance metadata service at its
//! fixed address `169.254.169.254`, the kernel's DMI vendor file, and the service-account file
//! Kubernetes mounts into a pod. Each case runs in a child process in network and mount
//! namespaces of its own (made with `unshare`: as root, or in a user namespace of its own
//! otherwise): there the child puts `169.254.169.254` on its own loopback, serves a stand-in
//! for the metadata service on it (AWS's own mock is not in the registries this machine
//! reaches), and mounts the files over a private tmpfs, so nothing outside the child sees any
//! of it. The set-up then exports one span
//! over OTLP to a receiver in the child, which checks the resource it carried.

#![cfg(feature = "aws-detectors")]

mod common;

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton_export::{Exporter, Protocol, Setup};
use common::Receiver;
use opentelemetry::KeyValue;
use opentelemetry::trace::Tracer;

/// Set in the child's environment to make [`child`] run: `ec2`, `eks`, or `ec2-no-imds`.
const CHILD: &str = "BATON_EXPORT_PLATFORM_CHILD";

const IDENTITY_DOCUMENT: &str = r#"{
    "accountId": "123456789012", "architecture": "x86_64",
    "availabilityZone": "eu-west-1b", "imageId": "ami-0123456789abcdef0",
    "instanceId": "i-0123456789abcdef0", "instanceType": "m7i.large",
    "region": "eu-west-1", "privateIp": "10.0.0.12", "version": "2017-09-30"
}"#;
const TOKEN: &str = "AQAEAbatonTestToken==";

/// What the stand-in metadata service was asked: (method, path, token header).
type Asked = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

/// A stand-in for IMDSv2 on `169.254.169.254:80`: a token for `PUT /latest/api/token`, then,
/// with that token only, the identity document, the host name and the EKS cluster tag.
async fn metadata_service() -> Asked {
    let asked: Asked = Arc::default();
    let listener = tokio::net::TcpListener::bind("169.254.169.254:80")
        .await
        .expect("bind 169.254.169.254:80 in the child's network namespace");
    let log = asked.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
                    let log = log.clone();
                    async move {
                        let token = request
                            .headers()
                            .get("x-aws-ec2-metadata-token")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        let path = request.uri().path().to_owned();
                        log.lock().unwrap().push((
                            request.method().to_string(),
                            path.clone(),
                            token.clone(),
                        ));
                        let authorized = token.as_deref() == Some(TOKEN);
                        let (status, body) = match (request.method().as_str(), path.as_str()) {
                            ("PUT", "/latest/api/token")
                                if request
                                    .headers()
                                    .contains_key("x-aws-ec2-metadata-token-ttl-seconds") =>
                            {
                                (200, TOKEN.to_owned())
                            }
                            (_, _) if !authorized => (401, String::new()),
                            ("GET", "/latest/dynamic/instance-identity/document") => {
                                (200, IDENTITY_DOCUMENT.to_owned())
                            }
                            ("GET", "/latest/meta-data/hostname") => {
                                (200, "ip-10-0-0-12.eu-west-1.compute.internal".to_owned())
                            }
                            ("GET", "/latest/meta-data/tags/instance/aws:eks:cluster-name") => {
                                (200, "shop".to_owned())
                            }
                            _ => (404, String::new()),
                        };
                        let mut response = hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from(body),
                        ));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    asked
}

/// The child, inside its namespaces (see [`run_in_namespaces`]): set up from the environment
/// with an OTLP exporter to a receiver of its own, send one span, and check the resource.
#[test]
fn child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let asked = if mode == "ec2-no-imds" {
            // Something at the address that takes connections and never answers (a metadata
            // service behind a hop limit, or turned off behind a firewall that drops).
            let silent = tokio::net::TcpListener::bind("169.254.169.254:80")
                .await
                .unwrap();
            tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((stream, _)) = silent.accept().await {
                    held.push(stream);
                }
            });
            None
        } else {
            Some(metadata_service().await)
        };
        let receiver = Receiver::start().await;
        let url = receiver.url();
        let started = Instant::now();
        let telemetry = tokio::task::spawn_blocking(move || {
            Setup::new()
                .with_exporter(
                    Exporter::otlp()
                        .with_endpoint(url)
                        .with_protocol(Protocol::HttpProtobuf),
                )
                .build()
                .expect("the set-up")
        })
        .await
        .unwrap();
        let took = started.elapsed();
        telemetry.tracer("child").in_span("on the instance", |_| {});
        tokio::task::spawn_blocking(move || telemetry.shutdown().unwrap())
            .await
            .unwrap();
        let spans = receiver.wait_for_spans(1, Duration::from_secs(10)).await;
        let (resource, _) = spans.first().expect("the span reached the receiver");
        let get = |key: &str| resource.get(key).map(String::as_str);
        let origin = baton_xray::xray_origin(
            &opentelemetry_sdk::Resource::builder_empty()
                .with_attributes(
                    resource
                        .iter()
                        .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
                )
                .build(),
        );
        match mode.as_str() {
            "ec2" => {
                let expected: HashMap<&str, &str> = HashMap::from([
                    ("cloud.provider", "aws"),
                    ("cloud.platform", "aws_ec2"),
                    ("cloud.account.id", "123456789012"),
                    ("cloud.region", "eu-west-1"),
                    ("cloud.availability_zone", "eu-west-1b"),
                    ("host.id", "i-0123456789abcdef0"),
                    ("host.type", "m7i.large"),
                    ("host.image.id", "ami-0123456789abcdef0"),
                    ("host.name", "ip-10-0-0-12.eu-west-1.compute.internal"),
                    ("host.arch", "amd64"),
                    ("service.name", "checkout"),
                ]);
                for (key, value) in &expected {
                    assert_eq!(get(key), Some(*value), "{key} in {resource:?}");
                }
                assert_eq!(origin, Some("AWS::EC2::Instance"));
            }
            "eks" => {
                for (key, value) in [
                    ("cloud.provider", "aws"),
                    ("cloud.platform", "aws_eks"),
                    ("k8s.cluster.name", "shop"),
                    ("k8s.namespace.name", "shop"),
                    (
                        "aws.eks.cluster.arn",
                        "arn:aws:eks:eu-west-1:123456789012:cluster/shop",
                    ),
                    ("service.name", "checkout"),
                ] {
                    assert_eq!(get(key), Some(value), "{key} in {resource:?}");
                }
                assert_eq!(origin, Some("AWS::EKS::Container"));
            }
            "ec2-no-imds" => {
                // EC2 hardware, but the metadata service never answers: the set-up goes on,
                // without the instance's attributes, after the detector's one-second timeout.
                assert!(took >= Duration::from_millis(900), "{took:?}");
                assert_eq!(get("cloud.platform"), None, "{resource:?}");
                assert_eq!(get("host.id"), None, "{resource:?}");
                assert_eq!(get("service.name"), Some("checkout"));
                assert_eq!(origin, None);
            }
            other => panic!("unknown mode {other}"),
        }
        println!("SET-UP TOOK {} ms", took.as_millis());
        assert!(took < Duration::from_secs(5), "the set-up took {took:?}");
        if let Some(asked) = asked {
            let asked = asked.lock().unwrap().clone();
            // IMDSv2: the token first, every later request with it.
            assert_eq!(
                (asked[0].0.as_str(), asked[0].1.as_str()),
                ("PUT", "/latest/api/token")
            );
            assert!(
                asked[1..]
                    .iter()
                    .all(|(_, _, t)| t.as_deref() == Some(TOKEN)),
                "{asked:?}"
            );
            assert!(
                asked
                    .iter()
                    .any(|(_, p, _)| p == "/latest/dynamic/instance-identity/document")
            );
        }
    });
}

/// Runs [`child`] as `mode` in new network and mount namespaces, after making there what an EC2
/// instance (and for `eks`, a pod) shows: `169.254.169.254` on loopback, the DMI vendor
/// "Amazon EC2" (a tmpfs over `/sys/devices/virtual`), and for `eks` the service-account
/// namespace file (a tmpfs over `/run`). Returns what the child printed.
fn run_in_namespaces(mode: &str) -> String {
    // `/var/run` is hidden in every mode, so that a host that is itself a Kubernetes pod does
    // not turn the EC2 cases into EKS ones.
    let mut script = String::from(
        "set -e
         ip link set lo up
         ip addr add 169.254.169.254/32 dev lo
         mount -t tmpfs baton-test /sys/devices/virtual
         mkdir -p /sys/devices/virtual/dmi/id
         echo 'Amazon EC2' > /sys/devices/virtual/dmi/id/sys_vendor
         mount -t tmpfs baton-test /var/run
        ",
    );
    if mode == "eks" {
        script.push_str(
            "mkdir -p /var/run/secrets/kubernetes.io/serviceaccount
             echo shop > /var/run/secrets/kubernetes.io/serviceaccount/namespace
            ",
        );
    }
    script.push_str(r#"exec "$0" --exact child --nocapture --test-threads=1"#);
    // Bounded: a child that hangs is killed after a minute, and the test fails.
    let mut command = Command::new("timeout");
    command.args(["--kill-after=5", "60", "unshare"]);
    // Root makes the namespaces outright; anyone else in a user namespace of their own, where
    // the kernel allows that.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        command.args(["--user", "--map-root-user"]);
    }
    command
        .args(["--net", "--mount", "--propagation", "private", "--fork"])
        .args(["sh", "-c", &script])
        .arg(std::env::current_exe().unwrap())
        // Only what the child needs: no OTEL_*, AWS_* or other variable of the host's.
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(CHILD, mode)
        .env("OTEL_SERVICE_NAME", "checkout")
        .env("OTEL_TRACES_SAMPLER", "always_on");
    let output = command
        .output()
        .expect("run unshare (util-linux) to make the child's namespaces");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the {mode} child failed (its namespaces need root, or unprivileged user \
         namespaces):\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("SET-UP TOOK"),
        "the child did not run its checks:\n{stdout}\n{stderr}"
    );
    stdout
}

#[test]
fn on_ec2_the_instance_is_detected_over_imdsv2() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    run_in_namespaces("ec2");
}

#[test]
fn on_eks_the_cluster_is_detected() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    run_in_namespaces("eks");
}

#[test]
fn on_ec2_without_a_metadata_service_the_set_up_goes_on_quickly() {
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let printed = run_in_namespaces("ec2-no-imds");
    eprintln!("{printed}");
}
