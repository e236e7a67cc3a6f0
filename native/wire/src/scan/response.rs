//! The ids a call's first response message carries, read as its bytes arrive, as
//! `createResponseScan` of `src/gateway/proxy/session-bookkeeping.ts` with `responseScanSpec` and
//! `readResponseIds` of `src/gateway/wire/spark-connect.ts`: Spark 4's server-side session id, an
//! operation id, a cloned session's new id. The gateway learns from them and relays the response
//! whatever they say, so the scan never fails: a response it cannot read simply names nothing.
//!
//! Only the first message is read, and only its captured fields are kept (the last string of
//! each, at most 64 KiB), so an ExecutePlan response carrying megabytes of Arrow costs no more
//! than a small one.

use super::grpc_frame::{GrpcEvent, GrpcMessageDecoder};
use super::proto::{FieldEnd, FieldScanner, FieldSink, Oversized, MAX_CAPTURED_FIELDS, WIRE_LEN};
use super::spark_connect::{last_string, Method};
use super::ScanError;

/// The gRPC length the TypeScript's decoder accepts for a response: any a 31-bit length can say.
const MAX_RESPONSE_MESSAGE_BYTES: u64 = 0x7fff_ffff;

/// The ids of one response, each the last occurrence of its field, as `ResponseIds` in the
/// TypeScript. An id the response sent empty is `Some("")`: the caller decides what empty means.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponseIds {
    pub session_id: Option<String>,
    pub server_side_session_id: Option<String>,
    pub operation_id: Option<String>,
    pub new_session_id: Option<String>,
    /// CloneSession's: read, as the TypeScript reads it, though the gateway has no use for it yet.
    pub new_server_side_session_id: Option<String>,
}

/// Whether a response of `method` can carry ids beyond the server-side session id, as
/// `responseNamesOperations`: a session whose server-side id is known needs no scan otherwise.
pub fn response_names_operations(method: Method) -> bool {
    let response = method.response();
    response.operation_id.is_some() || response.new_session_id.is_some()
}

/// Scans the first message of a response stream for its ids.
#[derive(Clone, Debug)]
pub struct ResponseScan {
    method: Method,
    decoder: GrpcMessageDecoder,
    /// Set once the first message started, unless it is compressed.
    scanner: Option<FieldScanner<'static>>,
    values: LastValues,
    done: bool,
    ids: Option<ResponseIds>,
    error: Option<ScanError>,
}

impl ResponseScan {
    pub fn new(method: Method) -> Self {
        ResponseScan {
            method,
            decoder: GrpcMessageDecoder::new(MAX_RESPONSE_MESSAGE_BYTES),
            scanner: None,
            values: LastValues::default(),
            done: false,
            ids: None,
            error: None,
        }
    }

    /// Feeds response DATA payload bytes, gRPC-framed, cut anywhere. Once `done`, it reads no
    /// more. A compressed first message (this scan does not inflate), one that is not protobuf,
    /// and an id too long or not UTF-8 all end the scan without ids, as the TypeScript's caller
    /// ends it when `push` throws.
    pub fn push(&mut self, chunk: &[u8]) {
        if self.done {
            return;
        }
        let ResponseScan {
            method,
            decoder,
            scanner,
            values,
            ..
        } = self;
        let mut ending: Option<Result<Option<ResponseIds>, ScanError>> = None;
        let framed = decoder.push(chunk, |event| {
            if ending.is_some() {
                return;
            }
            match event {
                GrpcEvent::Start {
                    compressed: true, ..
                } => ending = Some(Ok(None)),
                GrpcEvent::Start { length, .. } => {
                    let spec = method.response_scan_spec();
                    *scanner = Some(FieldScanner::new(spec, length as usize));
                }
                GrpcEvent::Data(bytes) => {
                    if let Some(Err(error)) = scanner.as_mut().map(|s| s.push(bytes, values)) {
                        ending = Some(Err(error));
                    }
                }
                GrpcEvent::End => {
                    let read = scanner.as_mut().map(|scanner| {
                        scanner.end()?;
                        read_ids(*method, scanner.oversized(), values)
                    });
                    ending = Some(read.transpose());
                }
            }
        });
        // The TypeScript decoder reads the whole chunk before the scan acts on any of it, so a
        // framing error anywhere in the chunk, even after the first message, ends the scan
        // without ids.
        match framed.map(|()| ending) {
            Ok(None) => {}
            Ok(Some(Ok(ids))) => self.finish(ids, None),
            Ok(Some(Err(error))) | Err(error) => self.finish(None, Some(error)),
        }
    }

    /// The first message was read (or could not be): later bytes are not looked at.
    pub fn done(&self) -> bool {
        self.done
    }

    /// The first message's ids, once it was read whole and they could be read.
    pub fn ids(&self) -> Option<&ResponseIds> {
        self.ids.as_ref()
    }

    /// Why a finished scan has no ids, in the TypeScript's words (None when it has them, when it
    /// is not done, or when the first message was compressed).
    pub fn error(&self) -> Option<&ScanError> {
        self.error.as_ref()
    }

    fn finish(&mut self, ids: Option<ResponseIds>, error: Option<ScanError>) {
        self.done = true;
        self.ids = ids;
        self.error = error;
        self.scanner = None;
        self.values = LastValues::default();
    }
}

/// `readResponseIds`: every response field of `method`, each checked as `lastString` checks it,
/// in the TypeScript's order.
fn read_ids(
    method: Method,
    oversized: Oversized,
    values: &LastValues,
) -> Result<ResponseIds, ScanError> {
    let spec = method.response_scan_spec();
    let read = |field: Option<u32>, name: &str| -> Result<Option<String>, ScanError> {
        let Some(field) = field else {
            return Ok(None);
        };
        let last = spec.place(field).and_then(|place| values.last(place));
        Ok(last_string(&spec, oversized, field, name, last)?.map(str::to_owned))
    };
    let response = method.response();
    Ok(ResponseIds {
        session_id: read(Some(response.session_id), "sessionId")?,
        server_side_session_id: read(response.server_side_session_id, "serverSideSessionId")?,
        operation_id: read(response.operation_id, "operationId")?,
        new_session_id: read(response.new_session_id, "newSessionId")?,
        new_server_side_session_id: read(
            response.new_server_side_session_id,
            "newServerSideSessionId",
        )?,
    })
}

/// Keeps the last LEN occurrence of each captured field, all `readResponseIds` reads: at most one
/// value per field and the one arriving, each no longer than the scanner's capture limit.
#[derive(Clone, Debug, Default)]
struct LastValues {
    /// The captured value still arriving.
    arriving: Vec<u8>,
    /// By place in the spec's `capture`: the occurrence's tag offset and its value.
    last: [Option<(usize, Vec<u8>)>; MAX_CAPTURED_FIELDS],
}

impl LastValues {
    fn last(&self, place: usize) -> Option<(usize, &[u8])> {
        let (start, value) = self.last[place].as_ref()?;
        Some((*start, value))
    }
}

impl FieldSink for LastValues {
    fn value_bytes(&mut self, bytes: &[u8]) {
        self.arriving.extend_from_slice(bytes);
    }

    fn captured(&mut self, place: usize, field: FieldEnd) {
        // A VARINT, I32 or I64 occurrence is no string: lastString passes over it.
        if field.wire_type == WIRE_LEN {
            let slot = self.last[place].get_or_insert_with(Default::default);
            slot.0 = field.start;
            // The replaced value's buffer takes the next one.
            std::mem::swap(&mut slot.1, &mut self.arriving);
        }
        self.arriving.clear();
    }
}

#[cfg(test)]
mod tests;
