//! What rules match on: the service (from the resource, known when the sampler is built) and
//! the request (from the span's attributes, read once per decision).

use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::Resource;

/// Span and resource attribute keys (OpenTelemetry semantic conventions, current and older).
mod key {
    pub(super) const SERVICE_NAME: &str = "service.name";
    pub(super) const CLOUD_PLATFORM: &str = "cloud.platform";
    pub(super) const CLOUD_RESOURCE_ID: &str = "cloud.resource_id";
    pub(super) const ECS_CONTAINER_ARN: &str = "aws.ecs.container.arn";

    pub(super) const HTTP_REQUEST_METHOD: &str = "http.request.method";
    pub(super) const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
    pub(super) const HTTP_METHOD: &str = "http.method";
    pub(super) const URL_PATH: &str = "url.path";
    pub(super) const HTTP_TARGET: &str = "http.target";
    pub(super) const URL_FULL: &str = "url.full";
    pub(super) const HTTP_URL: &str = "http.url";
    pub(super) const SERVER_ADDRESS: &str = "server.address";
    pub(super) const HTTP_HOST: &str = "http.host";
    pub(super) const NET_HOST_NAME: &str = "net.host.name";
}

/// The X-Ray origin (`ServiceType`) for an OpenTelemetry `cloud.platform` value.
pub fn service_type_for_platform(platform: &str) -> Option<&'static str> {
    Some(match platform {
        "aws_ec2" => "AWS::EC2::Instance",
        "aws_ecs" => "AWS::ECS::Container",
        "aws_eks" => "AWS::EKS::Container",
        "aws_elastic_beanstalk" => "AWS::ElasticBeanstalk::Environment",
        "aws_lambda" => "AWS::Lambda::Function",
        _ => return None,
    })
}

/// The service-level facts rules match on. Empty strings mean "unknown" (only `*` matches them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServiceInfo {
    pub(crate) name: String,
    pub(crate) service_type: String,
    /// `None`: not known from the resource; read `cloud.resource_id` from each span.
    pub(crate) resource_arn: Option<String>,
}

impl ServiceInfo {
    pub(crate) fn from_resource(resource: &Resource) -> Self {
        let text = |k: &'static str| match resource.get_ref(&opentelemetry::Key::from_static_str(k))
        {
            Some(Value::String(s)) => Some(s.as_str().to_owned()),
            _ => None,
        };
        let service_type = text(key::CLOUD_PLATFORM)
            .and_then(|p| service_type_for_platform(&p))
            .unwrap_or_default()
            .to_owned();
        let resource_arn = text(key::ECS_CONTAINER_ARN).or_else(|| text(key::CLOUD_RESOURCE_ID));
        ServiceInfo {
            name: text(key::SERVICE_NAME).unwrap_or_default(),
            service_type,
            resource_arn,
        }
    }
}

/// Which request-level facts the current rules look at; the others are not searched for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    pub(crate) method: bool,
    pub(crate) path: bool,
    pub(crate) host: bool,
    pub(crate) resource_arn: bool,
}

impl Needs {
    pub(crate) fn or(self, other: Needs) -> Needs {
        Needs {
            method: self.method || other.method,
            path: self.path || other.path,
            host: self.host || other.host,
            resource_arn: self.resource_arn || other.resource_arn,
        }
    }

    fn any(self) -> bool {
        self.method || self.path || self.host || self.resource_arn
    }
}

/// A method that no packed pattern equals (packed methods are ASCII, never `0xff`).
const UNPACKABLE_METHOD: u128 = u128::MAX;

/// The request-level facts of one span, borrowed from its attributes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    /// `method` packed for exact comparison (see `engine::pack_method`).
    pub(crate) method_key: u128,
    pub(crate) path: &'a str,
    pub(crate) host: &'a str,
    pub(crate) resource_arn: &'a str,
    pub(crate) attributes: &'a [KeyValue],
}

/// The path of an absolute URL (`scheme://host/path?query`), `/` if it has none.
fn path_of_url(url: &str) -> Option<&str> {
    let after_scheme = &url[url.find("://")? + 3..];
    // The authority ends at the first `/`, `?` or `#`; only a `/` starts a path (a `/` in the
    // query or fragment of a URL without a path is not one).
    Some(match after_scheme.find(['/', '?', '#']) {
        Some(at) if after_scheme[at..].starts_with('/') => &after_scheme[at..],
        _ => "/",
    })
}

fn without_query(path: &str) -> &str {
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

impl<'a> Request<'a> {
    /// One pass over the attributes, looking only for what `needs` asks; the newer
    /// semantic-convention key wins over the older one.
    pub(crate) fn from_attributes(attributes: &'a [KeyValue], needs: Needs) -> Self {
        let (mut method, mut old_method, mut method_original) = (None, None, None);
        let (mut url_path, mut target, mut url) = (None, None, None);
        let (mut server, mut old_host) = (None, None);
        let mut arn = None;
        if needs.any() {
            for kv in attributes {
                let Value::String(value) = &kv.value else {
                    continue;
                };
                let value = value.as_str();
                let key = kv.key.as_str();
                // Dispatch on the length first: most keys are none of these and stop here.
                match key.len() {
                    8 if needs.path => match key {
                        key::URL_PATH => url_path = Some(value),
                        key::URL_FULL => url = Some(value),
                        key::HTTP_URL => url = url.or(Some(value)),
                        _ => {}
                    },
                    9 if needs.host && key == key::HTTP_HOST => old_host = Some(value),
                    11 => match key {
                        key::HTTP_METHOD if needs.method => old_method = Some(value),
                        key::HTTP_TARGET if needs.path => target = Some(value),
                        _ => {}
                    },
                    13 if needs.host && key == key::NET_HOST_NAME => {
                        old_host = old_host.or(Some(value));
                    }
                    14 if needs.host && key == key::SERVER_ADDRESS => server = Some(value),
                    17 if needs.resource_arn && key == key::CLOUD_RESOURCE_ID => {
                        arn = Some(value);
                    }
                    19 if needs.method && key == key::HTTP_REQUEST_METHOD => method = Some(value),
                    28 if needs.method && key == key::HTTP_REQUEST_METHOD_ORIGINAL => {
                        method_original = Some(value);
                    }
                    _ => {}
                }
            }
        }
        let mut method = method.or(old_method).unwrap_or("");
        // Semantic conventions write `_OTHER` for methods they do not know, and keep the real
        // one aside.
        if method == "_OTHER" {
            method = method_original.unwrap_or(method);
        }
        let path = url_path
            .or_else(|| target.map(without_query))
            .or_else(|| url.and_then(path_of_url).map(without_query))
            .unwrap_or("");
        Request {
            method,
            method_key: if needs.method {
                crate::engine::pack_method(method).unwrap_or(UNPACKABLE_METHOD)
            } else {
                UNPACKABLE_METHOD
            },
            path,
            host: server.or(old_host).unwrap_or(""),
            resource_arn: arn.unwrap_or(""),
            attributes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl<'a> Request<'a> {
        fn from_attributes_all(attributes: &'a [KeyValue]) -> Self {
            let all = Needs {
                method: true,
                path: true,
                host: true,
                resource_arn: true,
            };
            Request::from_attributes(attributes, all)
        }
    }

    #[test]
    fn request_reads_new_and_old_keys() {
        let new = [
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("url.path", "/api/v1/orders"),
            KeyValue::new("server.address", "shop.example.com"),
        ];
        let r = Request::from_attributes_all(&new);
        assert_eq!(
            (r.method, r.path, r.host),
            ("POST", "/api/v1/orders", "shop.example.com")
        );

        let old = [
            KeyValue::new("http.method", "GET"),
            KeyValue::new("http.target", "/health?verbose=1"),
            KeyValue::new("http.host", "old.example.com"),
        ];
        let r = Request::from_attributes_all(&old);
        assert_eq!(
            (r.method, r.path, r.host),
            ("GET", "/health", "old.example.com")
        );

        let url_only = [KeyValue::new("url.full", "https://h.example.com/a/b?c=d")];
        assert_eq!(Request::from_attributes_all(&url_only).path, "/a/b");
        let bare = [KeyValue::new("http.url", "https://h.example.com")];
        assert_eq!(Request::from_attributes_all(&bare).path, "/");
        // A `/` after the host but inside the query or fragment is not a path.
        for url in [
            "https://h.example.com?next=/admin/x",
            "https://h.example.com#/admin",
            "https://h.example.com:8443?a=/b#/c",
        ] {
            let only = [KeyValue::new("url.full", url)];
            assert_eq!(Request::from_attributes_all(&only).path, "/", "{url}");
        }

        let other = [
            KeyValue::new("http.request.method", "_OTHER"),
            KeyValue::new("http.request.method_original", "PURGE"),
        ];
        assert_eq!(Request::from_attributes_all(&other).method, "PURGE");

        let none = Request::from_attributes_all(&[]);
        assert_eq!((none.method, none.path, none.host), ("", "", ""));
    }

    #[test]
    fn service_from_resource() {
        let resource = Resource::builder_empty()
            .with_attributes([
                KeyValue::new("service.name", "orders"),
                KeyValue::new("cloud.platform", "aws_ecs"),
                KeyValue::new(
                    "aws.ecs.container.arn",
                    "arn:aws:ecs:eu-west-1:1:container/x",
                ),
            ])
            .build();
        let info = ServiceInfo::from_resource(&resource);
        assert_eq!(info.name, "orders");
        assert_eq!(info.service_type, "AWS::ECS::Container");
        assert_eq!(
            info.resource_arn.as_deref(),
            Some("arn:aws:ecs:eu-west-1:1:container/x")
        );
        assert_eq!(
            service_type_for_platform("aws_lambda"),
            Some("AWS::Lambda::Function")
        );
        assert_eq!(
            service_type_for_platform("aws_ec2"),
            Some("AWS::EC2::Instance")
        );
        assert_eq!(service_type_for_platform("gcp_compute_engine"), None);
    }
}
