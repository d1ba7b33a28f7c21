//! Answers an oversized unary request with `RESOURCE_EXHAUSTED`.
//!
//! tonic checks `max_decoding_message_size` before a handler runs and answers with a
//! trailers-only `OUT_OF_RANGE` response, so the status can only be rewritten on the
//! response headers, by this layer around every service.

use tonic::Status;
use tonic::codegen::http;

use super::convert::{is_oversized, oversized_as_resource_exhausted};

/// The layer for `Server::builder().layer(..)`.
pub(crate) fn layer<B>() -> tower::util::MapResponseLayer<fn(http::Response<B>) -> http::Response<B>>
{
    tower::util::MapResponseLayer::new(rewrite_oversized::<B>)
}

fn rewrite_oversized<B>(mut response: http::Response<B>) -> http::Response<B> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    if is_oversized(&status) {
        let replaced = oversized_as_resource_exhausted(status);
        if let Err(error) = replaced.add_header(response.headers_mut()) {
            tracing::warn!(%error, "could not rewrite an oversized-message status");
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oversized_rejection_becomes_resource_exhausted() {
        let rejected = Status::out_of_range(
            "Error, decoded message length too large: found 200 bytes, the limit is: 100 bytes",
        );
        let response = rewrite_oversized(rejected.into_http::<String>());
        let status = Status::from_header_map(response.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("found 200 bytes"), "{status:?}");
    }

    #[test]
    fn other_statuses_pass_unchanged() {
        let response =
            rewrite_oversized(Status::out_of_range("k past the end").into_http::<String>());
        let status = Status::from_header_map(response.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::OutOfRange);
    }
}
