//! The protocol logic of the gateway's pinned relay, without any Node.js binding: HTTP/2 frames,
//! HPACK, the gRPC framing and protobuf fields of Spark Connect requests the gateway routes by, and
//! the masking that keeps the backend token out of responses. Each module mirrors TypeScript of
//! `src/gateway/wire/` or `src/gateway/proxy/`, and the addon's parity tests hold the two to the
//! same results.

pub mod frames;
pub mod grpc_status_text;
pub mod hpack;
pub mod mask;
pub mod relay;
pub mod scan;
