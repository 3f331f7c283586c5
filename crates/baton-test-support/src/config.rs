//! An SDK configuration pointed at the stub.

/// The region every stubbed client is configured with.
pub const REGION: &str = "eu-west-1";

/// The endpoint every stubbed client is configured with. The `.invalid` top-level domain never
/// resolves, so a request that escaped the stub would fail rather than reach a real service.
pub const ENDPOINT: &str = "http://stub.invalid";

/// Builds an `aws-sdk-*` config builder for tests.
///
/// The SDK crates' config builders are different types with the same methods, so this is a
/// macro: `$sdk` is the SDK crate's name as the calling crate sees it (`aws_sdk_sqs`,
/// `aws_sdk_sns`, …).
///
/// - `sdk_config!(aws_sdk_sqs)`: latest behavior version, region [`REGION`](crate::REGION) and
///   fixed test credentials; no endpoint and no HTTP client (add your own, for example a
///   loopback server's address).
/// - `sdk_config!(aws_sdk_sqs, stub)`: the same, sending to `stub` (any HTTP client that is
///   `Clone`, usually a [`Stub`](crate::Stub); it is cloned, so `stub` and `&stub` both work)
///   at endpoint [`ENDPOINT`](crate::ENDPOINT).
///
/// The result is the SDK's `config::Builder`, so more settings (interceptors, retry config)
/// can follow before `.build()`.
///
/// ```ignore
/// let stub = baton_test_support::Stub::new(answer);
/// let client = aws_sdk_sns::Client::from_conf(
///     baton_test_support::sdk_config!(aws_sdk_sns, stub)
///         .interceptor(propagation.interceptor())
///         .build(),
/// );
/// ```
#[macro_export]
macro_rules! sdk_config {
    ($sdk:ident) => {
        $sdk::config::Builder::new()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .region($sdk::config::Region::new($crate::REGION))
            .credentials_provider($sdk::config::Credentials::new(
                "test",
                "test",
                ::core::option::Option::None,
                ::core::option::Option::None,
                "baton-test-support",
            ))
    };
    ($sdk:ident, $stub:expr) => {
        $crate::sdk_config!($sdk)
            .endpoint_url($crate::ENDPOINT)
            .http_client(($stub).clone())
    };
}
