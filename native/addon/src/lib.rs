//! N-API bindings of sparkplane-wire, loaded by `src/gateway/native/native-core.ts`.

mod hpack_api;
mod mask_api;
mod relay_api;
mod response_api;
mod scan_api;
mod socket_link;

use napi_derive::napi;

/// The version of the addon, which the loader checks against the package's.
#[napi]
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
