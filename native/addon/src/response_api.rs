//! `ResponseScan` and `responseNamesOperations` of the NativeCore interface
//! (src/gateway/native/native-core.ts): the scan of a call's first response message for the ids
//! the gateway records, as createResponseScan in src/gateway/proxy/session-bookkeeping.ts. Like
//! that one it never throws on response bytes; only a method name the table does not know is
//! refused, as the TypeScript's type refuses it.

// napi-derive registers exports only outside test builds, where the functions then look unused.
#![cfg_attr(test, allow(dead_code))]

use napi::bindgen_prelude::{Either, Undefined};
use napi::Error;
use napi_derive::napi;
use sparkplane_wire::scan::{self, Method, ResponseIds};

type Result<T> = napi::Result<T, &'static str>;

/// The ids of a first response, as ResponseIds in src/gateway/wire/spark-connect.ts: an id the
/// response does not carry is absent, not null.
#[napi(object)]
pub struct NativeResponseIds {
    pub session_id: Option<String>,
    pub server_side_session_id: Option<String>,
    pub operation_id: Option<String>,
    pub new_session_id: Option<String>,
    pub new_server_side_session_id: Option<String>,
}

#[napi]
pub struct ResponseScan {
    scan: scan::ResponseScan,
}

#[napi]
impl ResponseScan {
    /// `method` is a SparkConnectService method name.
    #[napi(constructor)]
    pub fn new(method: String) -> Result<Self> {
        Ok(ResponseScan {
            scan: scan::ResponseScan::new(known(&method)?),
        })
    }

    /// Feeds response bytes (gRPC-framed, cut anywhere); once `done`, they are not looked at.
    #[napi]
    pub fn push(&mut self, chunk: &[u8]) {
        self.scan.push(chunk);
    }

    /// The first message was read, or could not be.
    #[napi(getter)]
    pub fn done(&self) -> bool {
        self.scan.done()
    }

    /// The first message's ids; undefined until it was read whole, and for good when it could
    /// not be read (compressed, malformed, an id too long or not UTF-8).
    #[napi(getter, ts_return_type = "NativeResponseIds | undefined")]
    pub fn ids(&self) -> Either<NativeResponseIds, Undefined> {
        match self.scan.ids() {
            Some(ids) => Either::A(js_ids(ids)),
            None => Either::B(()),
        }
    }
}

/// Whether a response of `method` can carry ids beyond the server-side session id.
#[napi]
pub fn response_names_operations(method: String) -> Result<bool> {
    Ok(scan::response_names_operations(known(&method)?))
}

fn known(method: &str) -> Result<Method> {
    Method::from_name(method).ok_or_else(|| {
        Error::new(
            "ERR_INVALID_ARG_VALUE",
            format!("'{method}' is not a SparkConnectService method the gateway knows"),
        )
    })
}

fn js_ids(ids: &ResponseIds) -> NativeResponseIds {
    NativeResponseIds {
        session_id: ids.session_id.clone(),
        server_side_session_id: ids.server_side_session_id.clone(),
        operation_id: ids.operation_id.clone(),
        new_session_id: ids.new_session_id.clone(),
        new_server_side_session_id: ids.new_server_side_session_id.clone(),
    }
}
