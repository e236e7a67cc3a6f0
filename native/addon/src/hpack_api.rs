//! N-API bindings of `sparkplane_wire::hpack`: the `HpackDecoder` class and `encodeHeaderBlock`
//! that `NativeCore` in src/gateway/native/native-core.ts declares.
//!
//! Header names and values cross as latin1 strings, one character per octet, built and read with
//! Node-API's own calls rather than through Rust `String`s: decoding allocates nothing per field
//! beyond the JavaScript strings, and encoding reuses its buffers from call to call. Errors are
//! thrown as the TypeScript throws them: an HpackError's message, code and offset.

// napi-derive registers exports only outside test builds, where the functions then look unused.
#![cfg_attr(test, allow(dead_code))]

use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::ptr;

use napi::bindgen_prelude::{Array, ToNapiValue};
use napi::{sys, Env, Error, JsValue, Result, Status, Unknown};
use napi_derive::napi;
use sparkplane_wire::hpack::{self, BlockEncoder, HpackError};

/// A JavaScript value built here with Node-API, returned as it is.
pub struct Built(sys::napi_value);

impl ToNapiValue for Built {
    unsafe fn to_napi_value(_env: sys::napi_env, built: Self) -> Result<sys::napi_value> {
        Ok(built.0)
    }
}

/// Mirrors one peer encoder's dynamic table, as createHpackDecoder in wire/hpack.ts.
#[napi]
pub struct HpackDecoder {
    decoder: hpack::HpackDecoder,
    /// The strings of the block being decoded, reused from block to block.
    strings: Vec<sys::napi_value>,
}

#[napi]
impl HpackDecoder {
    /// Limits are JavaScript numbers checked as the TypeScript checks them (integers from 0 to
    /// 2^31 - 1), rather than wrapped into a u32 without a word.
    #[napi(constructor)]
    pub fn new(env: Env, max_table_size: f64, max_header_list_bytes: f64) -> Result<Self> {
        let max_table_size = limit(&env, max_table_size, "maxTableSize")?;
        let max_header_list_bytes = limit(&env, max_header_list_bytes, "maxHeaderListBytes")?;
        Ok(HpackDecoder {
            decoder: hpack::HpackDecoder::new(max_table_size, max_header_list_bytes),
            strings: Vec::new(),
        })
    }

    /// The fields of one complete block as [name0, value0, name1, value1, …].
    #[napi]
    pub fn decode(&mut self, env: Env, block: &[u8]) -> Result<Built> {
        let raw = env.raw();
        let strings = &mut self.strings;
        strings.clear();
        let mut status = sys::Status::napi_ok;
        let decoded = self.decoder.decode_with(block, |name, value| {
            for octets in [name, value] {
                let mut string = ptr::null_mut();
                if status == sys::Status::napi_ok {
                    status = unsafe {
                        sys::napi_create_string_latin1(
                            raw,
                            octets.as_ptr().cast(),
                            octets.len() as isize,
                            &mut string,
                        )
                    };
                }
                strings.push(string);
            }
        });
        if let Err(error) = decoded {
            return Err(hpack_error(raw, &error));
        }
        check(status, "Failed to create a header string")?;
        let array = array_of(raw, strings);
        strings.clear();
        array.map(Built)
    }

    #[napi]
    pub fn allow_table_size(&mut self, env: Env, size: f64) -> Result<()> {
        let size = limit(&env, size, "table size")?;
        self.decoder.allow_table_size(size);
        Ok(())
    }

    #[napi(getter)]
    pub fn table_changes(&self) -> f64 {
        self.decoder.table_changes() as f64
    }
}

// Node-API sets array elements one call at a time, each costing about four times what creating
// a header string does (measured on Node 24: ~95 ns against ~25 ns); one call of `Array.of` with
// all the strings as arguments costs about as much as setting three. So the decoder keeps
// `Array.of` (per thread, which is per Node-API environment), and sets elements one by one only
// for lists too long to pass as arguments.
const MOST_ARGUMENTS: usize = 4096;

thread_local! {
    static ARRAY_OF: Cell<(sys::napi_env, sys::napi_ref)> =
        const { Cell::new((ptr::null_mut(), ptr::null_mut())) };
}

/// A new JavaScript array of `values`.
fn array_of(env: sys::napi_env, values: &[sys::napi_value]) -> Result<sys::napi_value> {
    let mut array = ptr::null_mut();
    if values.is_empty() {
        check(
            unsafe { sys::napi_create_array(env, &mut array) },
            "Failed to create an empty array",
        )?;
        return Ok(array);
    }
    if values.len() > MOST_ARGUMENTS {
        check(
            unsafe { sys::napi_create_array_with_length(env, values.len(), &mut array) },
            "Failed to create the array of header strings",
        )?;
        for (index, &value) in values.iter().enumerate() {
            check(
                unsafe { sys::napi_set_element(env, array, index as u32, value) },
                "Failed to fill the array of header strings",
            )?;
        }
        return Ok(array);
    }
    let mut of = ptr::null_mut();
    let (cached_env, reference) = ARRAY_OF.get();
    if cached_env == env {
        check(
            unsafe { sys::napi_get_reference_value(env, reference, &mut of) },
            "Failed to read Array.of",
        )?;
    } else {
        let mut global = ptr::null_mut();
        let mut constructor = ptr::null_mut();
        let mut reference = ptr::null_mut();
        check(
            unsafe { sys::napi_get_global(env, &mut global) },
            "Failed to read globalThis",
        )?;
        check(
            unsafe {
                sys::napi_get_named_property(env, global, c"Array".as_ptr(), &mut constructor)
            },
            "Failed to read Array",
        )?;
        check(
            unsafe { sys::napi_get_named_property(env, constructor, c"of".as_ptr(), &mut of) },
            "Failed to read Array.of",
        )?;
        check(
            unsafe { sys::napi_create_reference(env, of, 1, &mut reference) },
            "Failed to keep Array.of",
        )?;
        ARRAY_OF.set((env, reference));
    }
    // Called on undefined, Array.of makes a plain array.
    let mut undefined = ptr::null_mut();
    check(
        unsafe { sys::napi_get_undefined(env, &mut undefined) },
        "Failed to get undefined",
    )?;
    check(
        unsafe {
            sys::napi_call_function(
                env,
                undefined,
                of,
                values.len(),
                values.as_ptr(),
                &mut array,
            )
        },
        "Failed to create the array of header strings",
    )?;
    Ok(array)
}

/// The buffers of `encodeHeaderBlock`, kept between calls.
#[derive(Default)]
struct EncodeScratch {
    encoder: BlockEncoder,
    name: Vec<u16>,
    value: Vec<u16>,
}

thread_local! {
    static ENCODE_SCRATCH: RefCell<EncodeScratch> = RefCell::default();
}

/// The stateless encoder of wire/hpack.ts over [name0, value0, name1, value1, …].
#[napi]
pub fn encode_header_block(env: Env, fields: Array) -> Result<Built> {
    let raw = env.raw();
    if fields.len() % 2 != 0 {
        return Err(Error::new(
            Status::InvalidArg,
            format!(
                "encodeHeaderBlock takes [name0, value0, name1, value1, …], got {} strings",
                fields.len()
            ),
        ));
    }
    ENCODE_SCRATCH.with(|cell| {
        // Reading an element may run JavaScript (a getter) that encodes too: it gets its own.
        let mut own = None;
        let mut shared = cell.try_borrow_mut().ok();
        let scratch = match shared.as_deref_mut() {
            Some(scratch) => scratch,
            None => own.insert(EncodeScratch::default()),
        };
        scratch.encoder.clear();
        for index in (0..fields.len()).step_by(2) {
            read_utf16(raw, fields.raw(), index, &mut scratch.name)?;
            read_utf16(raw, fields.raw(), index + 1, &mut scratch.value)?;
            scratch
                .encoder
                .push_utf16(&scratch.name, &scratch.value)
                .map_err(|error| hpack_error(raw, &error))?;
        }
        let block = scratch.encoder.block();
        let mut buffer = ptr::null_mut();
        check(
            unsafe {
                sys::napi_create_buffer_copy(
                    raw,
                    block.len(),
                    block.as_ptr().cast(),
                    ptr::null_mut(),
                    &mut buffer,
                )
            },
            "Failed to create the header block buffer",
        )?;
        Ok(Built(buffer))
    })
}

/// Reads element `index` of `array`, a string, as UTF-16 code units into `units`.
fn read_utf16(
    env: sys::napi_env,
    array: sys::napi_value,
    index: u32,
    units: &mut Vec<u16>,
) -> Result<()> {
    let mut string = ptr::null_mut();
    check(
        unsafe { sys::napi_get_element(env, array, index, &mut string) },
        "Failed to read the field list",
    )?;
    units.clear();
    if units.capacity() < 256 {
        units.reserve(256);
    }
    // One call into the room there is; only a string that may not have fitted is measured.
    let mut written = 0;
    let status = unsafe {
        sys::napi_get_value_string_utf16(
            env,
            string,
            units.as_mut_ptr(),
            units.capacity(),
            &mut written,
        )
    };
    if status == sys::Status::napi_string_expected {
        return Err(Error::new(
            Status::StringExpected,
            format!("encodeHeaderBlock takes strings, but element {index} is not one"),
        ));
    }
    check(status, "Failed to read a header string")?;
    if written + 1 >= units.capacity() {
        let mut length = 0;
        check(
            unsafe {
                sys::napi_get_value_string_utf16(env, string, ptr::null_mut(), 0, &mut length)
            },
            "Failed to measure a header string",
        )?;
        units.reserve(length + 1);
        check(
            unsafe {
                sys::napi_get_value_string_utf16(
                    env,
                    string,
                    units.as_mut_ptr(),
                    length + 1,
                    &mut written,
                )
            },
            "Failed to read a header string",
        )?;
    }
    // Node-API wrote `written` units (and a terminating 0 after them) into the reserved room.
    unsafe { units.set_len(written) };
    Ok(())
}

/// A limit checked as the TypeScript's checkedLimit, which throws a RangeError.
fn limit(env: &Env, value: f64, what: &str) -> Result<u32> {
    hpack::checked_limit(value, what).map_err(|message| {
        let raw = env.raw();
        let built = string(raw, &message).and_then(|message| {
            let mut error = ptr::null_mut();
            check(
                unsafe { sys::napi_create_range_error(raw, ptr::null_mut(), message, &mut error) },
                "Failed to create a RangeError",
            )?;
            Ok(error)
        });
        thrown(raw, built, message)
    })
}

/// The JavaScript twin of the TypeScript's HpackError: an Error with its message, its name,
/// code GW_HPACK and the offset (-1 when encoding).
fn hpack_error(env: sys::napi_env, error: &HpackError) -> Error {
    let built = (|| {
        let code = string(env, "GW_HPACK")?;
        let message = string(env, &error.message)?;
        let mut object = ptr::null_mut();
        check(
            unsafe { sys::napi_create_error(env, code, message, &mut object) },
            "Failed to create an Error",
        )?;
        let mut offset = ptr::null_mut();
        let at = error.offset.map_or(-1, |offset| offset as i64);
        check(
            unsafe { sys::napi_create_int64(env, at, &mut offset) },
            "Failed to create a number",
        )?;
        set(env, object, c"offset", offset)?;
        set(env, object, c"name", string(env, "HpackError")?)?;
        Ok(object)
    })();
    thrown(env, built, error.message.clone())
}

/// The error napi-rs throws: the object built, or one with the message if building it failed.
fn thrown(env: sys::napi_env, built: Result<sys::napi_value>, message: String) -> Error {
    match built {
        Ok(object) => Error::from(unsafe { Unknown::from_raw_unchecked(env, object) }),
        Err(_) => Error::new(Status::GenericFailure, message),
    }
}

fn string(env: sys::napi_env, text: &str) -> Result<sys::napi_value> {
    let mut value = ptr::null_mut();
    check(
        unsafe {
            sys::napi_create_string_utf8(env, text.as_ptr().cast(), text.len() as isize, &mut value)
        },
        "Failed to create a string",
    )?;
    Ok(value)
}

fn set(
    env: sys::napi_env,
    object: sys::napi_value,
    key: &CStr,
    value: sys::napi_value,
) -> Result<()> {
    check(
        unsafe { sys::napi_set_named_property(env, object, key.as_ptr(), value) },
        "Failed to set a property of an Error",
    )
}

fn check(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(Error::new(Status::from(status), what.to_owned()))
    }
}
