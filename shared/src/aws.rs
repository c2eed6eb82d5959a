//! The AWS SDK's configuration: one loader for every client (the functions, the tools,
//! the tests).
//!
//! HTTPS goes through rustls with *ring*. The SDK's default client
//! (`default-https-client`) brings AWS-LC, a second crypto library of several MB in every
//! function beside the ring that reqwest already uses (issue 12: binary size). Ring serves
//! TLS 1.2 and 1.3 with the same cipher suites DynamoDB offers.

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The SDK's HTTPS client: hyper and rustls with ring, connections pooled per instance.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// `aws_config::defaults` (credentials, region and endpoints from the environment) with
/// [`https_client`].
pub fn sdk_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https_client())
}
