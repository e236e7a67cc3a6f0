//! `parseFrames`, `scanRequest` and `FirstMessagePeek` of the NativeCore interface
//! (src/gateway/native/native-core.ts): the frame parser, the Spark Connect request scan and the
//! first-message peek of sparkplane-wire. Errors are thrown with the TypeScript's message and, as
//! `code`, the GatewayError code (scan, peek) or FRAME_SIZE_ERROR.
//!
//! `scanRequest` runs for every call the pinned relay routes, so it talks to Node-API directly
//! where napi-rs would cost more than the scan itself: the method name is read into a stack buffer
//! rather than a String, and the result's properties are defined in one call rather than one call
//! each (each call into the engine costs about as much as the whole scan).

// napi-derive registers exports only outside test builds, where the functions then look unused.
#![cfg_attr(test, allow(dead_code))]

use std::ffi::CStr;
use std::ptr;

use napi::bindgen_prelude::{Buffer, BufferSlice, ToNapiValue};
use napi::{sys, Env, Error, JsValue, Unknown};
use napi_derive::napi;
use sparkplane_wire::frames::FrameParser;
use sparkplane_wire::scan::{
    scan_request as scan_routing_fields, FirstMessagePeek as Peek, RoutingFields, ScanError,
};

type Result<T> = napi::Result<T, &'static str>;

/// One HTTP/2 frame, its payload copied out of the chunks it came in.
#[napi(object)]
pub struct NativeFrame {
    #[napi(js_name = "type")]
    pub frame_type: u32,
    pub flags: u32,
    pub stream_id: u32,
    pub payload: Buffer,
}

/// Every whole frame in `chunks` fed in order to one parser.
#[napi]
pub fn parse_frames(chunks: Vec<BufferSlice>, max_payload: u32) -> Result<Vec<NativeFrame>> {
    let mut parser = FrameParser::new(max_payload);
    let mut frames = Vec::new();
    for chunk in &chunks {
        parser
            .push(chunk, |frame| {
                frames.push(NativeFrame {
                    frame_type: frame.frame_type.into(),
                    flags: frame.flags.into(),
                    stream_id: frame.stream_id,
                    payload: frame.payload.to_vec().into(),
                })
            })
            .map_err(|error| Error::new("FRAME_SIZE_ERROR", error.to_string()))?;
    }
    Ok(frames)
}

/// An object made here with Node-API, returned as it is.
pub struct Made(sys::napi_value);

impl ToNapiValue for Made {
    unsafe fn to_napi_value(_env: sys::napi_env, made: Self) -> napi::Result<sys::napi_value> {
        Ok(made.0)
    }
}

/// Longer than any SparkConnectService method name: a longer name, cut to fit, matches none and
/// is read as the generic method, as its whole text would be.
const METHOD_NAME_BYTES: usize = 32;

/// The routing fields (NativeRoutingFields) of `message`, a whole request (not gRPC-framed) of the
/// SparkConnectService method `method`; a field the request does not carry is absent, not null.
#[napi(ts_return_type = "NativeRoutingFields")]
pub fn scan_request(env: Env, method: Unknown, message: BufferSlice) -> Result<Made> {
    let env = env.raw();
    let mut name = [0u8; METHOD_NAME_BYTES];
    let mut length = 0;
    // SAFETY: the buffer is as long as said; Node-API writes whole characters and a NUL into it.
    let status = unsafe {
        sys::napi_get_value_string_utf8(
            env,
            method.raw(),
            name.as_mut_ptr().cast(),
            name.len(),
            &mut length,
        )
    };
    if status != sys::Status::napi_ok {
        return Err(Error::new(
            "ERR_INVALID_ARG_TYPE",
            "scanRequest takes the method name as a string".to_owned(),
        ));
    }
    let method = std::str::from_utf8(&name[..length]).unwrap_or_default();
    let fields = scan_routing_fields(method, &message).map_err(thrown)?;
    routing_object(env, &fields)
}

/// The first request message of a call read as its bytes arrive, as createFirstMessagePeek in
/// src/gateway/proxy/first-message-peek.ts; a compressed first message is left to that one.
#[napi]
pub struct FirstMessagePeek {
    peek: Peek,
}

#[napi]
impl FirstMessagePeek {
    /// `method` is a SparkConnectService method name (another is read as GENERIC_ROUTING); the
    /// limits are JavaScript numbers, refused unless whole and from 0 to 2^53 - 1 rather than
    /// wrapped without a word.
    #[napi(constructor)]
    pub fn new(method: String, max_message_bytes: f64, whole_message_bytes: f64) -> Result<Self> {
        let max_message_bytes = limit(max_message_bytes, "maxMessageBytes")?;
        let whole_message_bytes = limit(whole_message_bytes, "wholeMessageBytes")?;
        Ok(FirstMessagePeek {
            peek: Peek::for_method_name(&method, max_message_bytes, whole_message_bytes),
        })
    }

    /// Feeds request bytes; throws for a malformed or oversize message, and again on every push
    /// after.
    #[napi]
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        self.peek.push(chunk).map_err(thrown)
    }

    /// Whether the routing fields are known.
    #[napi]
    pub fn routable(&self) -> bool {
        self.peek.routable()
    }

    #[napi(getter)]
    pub fn first_message_done(&self) -> bool {
        self.peek.first_message_done()
    }

    /// The first message is compressed, which this peek does not inflate.
    #[napi(getter)]
    pub fn compressed(&self) -> bool {
        self.peek.compressed()
    }

    /// The routing fields captured so far, as readRoutingFields reads the TypeScript peek's
    /// scanner.
    #[napi(ts_return_type = "NativeRoutingFields")]
    pub fn routing_fields(&self, env: Env) -> Result<Made> {
        let fields = self.peek.routing_fields().map_err(thrown)?;
        routing_object(env.raw(), &fields)
    }
}

fn thrown(error: ScanError) -> Error<&'static str> {
    Error::new(error.code.as_str(), error.message)
}

/// Numbers above 2^53 are not exact in JavaScript, so no limit is meant to be one.
const LARGEST_LIMIT: f64 = 9_007_199_254_740_991.0;

fn limit(value: f64, what: &str) -> Result<u64> {
    if value.fract() == 0.0 && (0.0..=LARGEST_LIMIT).contains(&value) {
        return Ok(value as u64);
    }
    Err(Error::new(
        "ERR_OUT_OF_RANGE",
        format!("{what} must be an integer from 0 to 2^53 - 1, got {value}"),
    ))
}

/// A NativeRoutingFields object: a field the request does not carry is absent, not null.
fn routing_object(env: sys::napi_env, fields: &RoutingFields<'_>) -> Result<Made> {
    // In the order the TypeScript's readRoutingFields sets them.
    let present: [(&CStr, Option<&str>); 6] = [
        (c"sessionId", fields.session_id),
        (c"operationId", fields.operation_id),
        (
            c"observedServerSideSessionId",
            fields.observed_server_side_session_id,
        ),
        (c"newSessionId", fields.new_session_id),
        (c"userId", fields.user_id.as_deref()),
        (c"userName", fields.user_name.as_deref()),
    ];
    let mut properties = [sys::napi_property_descriptor {
        utf8name: ptr::null(),
        name: ptr::null_mut(),
        method: None,
        getter: None,
        setter: None,
        value: ptr::null_mut(),
        // As an object literal's properties are.
        attributes: sys::PropertyAttributes::writable
            | sys::PropertyAttributes::enumerable
            | sys::PropertyAttributes::configurable,
        data: ptr::null_mut(),
    }; 6];
    let mut count = 0;
    for (key, value) in present {
        let Some(text) = value else { continue };
        let property = &mut properties[count];
        property.utf8name = key.as_ptr();
        // SAFETY: `text` is UTF-8 of the given length; ids are far below the engine's limit.
        let status = unsafe {
            sys::napi_create_string_utf8(
                env,
                text.as_ptr().cast(),
                text.len() as isize,
                &mut property.value,
            )
        };
        check(status)?;
        count += 1;
    }
    let mut object = ptr::null_mut();
    // SAFETY: `properties` holds `count` descriptors, each with a NUL-terminated name and a value.
    unsafe {
        check(sys::napi_create_object(env, &mut object))?;
        if count > 0 {
            check(sys::napi_define_properties(
                env,
                object,
                count,
                properties.as_ptr(),
            ))?;
        }
    }
    Ok(Made(object))
}

fn check(status: sys::napi_status) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(
            "GW_INTERNAL",
            format!("the native scan could not build its result (Node-API status {status})"),
        ))
    }
}
