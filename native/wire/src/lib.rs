//! The protocol logic of the gateway's pinned relay, without any Node.js binding: HTTP/2 frames,
//! HPACK, and the gRPC framing and protobuf fields of Spark Connect requests the gateway routes by.
//! Each module mirrors a TypeScript module of `src/gateway/wire/`, and the addon's parity tests
//! hold the two to the same results.

pub mod frames;
pub mod hpack;
pub mod scan;
