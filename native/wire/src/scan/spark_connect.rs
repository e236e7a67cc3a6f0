//! What the gateway knows of Spark Connect, as `src/gateway/wire/spark-connect.ts`: which fields
//! of each SparkConnectService request name its session, user and operation, and which fields of
//! its responses name the server's ids; `read_routing_fields`, which reads a whole request message
//! (and `read_captured_routing_fields` what an incremental scan captured). Responses are read in
//! `response`. Field numbers are Spark's
//! (sql/connect/common/src/main/protobuf/spark/connect/base.proto).

use std::borrow::Cow;

use super::message::{for_each_field, ReadError};
use super::proto::{
    scan_message, CapturedField, Oversized, ScanSpec, DEFAULT_MAX_OCCURRENCES, MAX_CAPTURED_FIELDS,
    WIRE_LEN,
};
use super::{decode_utf8, ErrorCode, ScanError};

/// Every Spark Connect request starts `string session_id = 1; UserContext user_context = 2;`.
pub const SESSION_ID_FIELD: u32 = 1;
pub const USER_CONTEXT_FIELD: u32 = 2;
/// UserContext { string user_id = 1; string user_name = 2; repeated Any extensions = 999; }
pub const USER_ID_FIELD: u32 = 1;
pub const USER_NAME_FIELD: u32 = 2;

/// Request field numbers beyond session_id (1) and user_context (2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestFields {
    pub operation_id: Option<u32>,
    /// client_observed_server_side_session_id
    pub observed_server_side_session_id: Option<u32>,
    pub new_session_id: Option<u32>,
}

impl RequestFields {
    const NONE: RequestFields = RequestFields {
        operation_id: None,
        observed_server_side_session_id: None,
        new_session_id: None,
    };
}

/// Response field numbers: every response names its session; the rest only some responses carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseFields {
    pub session_id: u32,
    pub server_side_session_id: Option<u32>,
    pub operation_id: Option<u32>,
    pub new_session_id: Option<u32>,
    pub new_server_side_session_id: Option<u32>,
}

impl ResponseFields {
    const fn session(session_id: u32) -> Self {
        ResponseFields {
            session_id,
            server_side_session_id: None,
            operation_id: None,
            new_session_id: None,
            new_server_side_session_id: None,
        }
    }
}

/// The fields one scan captures, in the TypeScript's order, and how many there are.
#[derive(Clone, Copy)]
struct Capture {
    fields: [u32; 5],
    len: usize,
}

impl Capture {
    /// The defined ones of `fields`, as `definedFields` in the TypeScript.
    const fn defined(fields: [Option<u32>; 5]) -> Self {
        let mut capture = Capture {
            fields: [0; 5],
            len: 0,
        };
        let mut index = 0;
        while index < fields.len() {
            if let Some(field) = fields[index] {
                capture.fields[capture.len] = field;
                capture.len += 1;
            }
            index += 1;
        }
        capture
    }

    fn spec(&self, subject: &'static str) -> ScanSpec<'_> {
        ScanSpec::new(&self.fields[..self.len], subject)
    }
}

/// What the scans of one method's requests and responses need, made once at compile time.
struct MethodInfo {
    name: &'static str,
    request: RequestFields,
    subject: &'static str,
    /// session_id, user_context, then the request's other fields.
    capture: Capture,
    response: ResponseFields,
    response_subject: &'static str,
    response_capture: Capture,
}

impl MethodInfo {
    const fn new(
        name: &'static str,
        [subject, response_subject]: [&'static str; 2],
        request: RequestFields,
        response: ResponseFields,
    ) -> Self {
        MethodInfo {
            name,
            request,
            subject,
            capture: Capture::defined([
                Some(SESSION_ID_FIELD),
                Some(USER_CONTEXT_FIELD),
                request.operation_id,
                request.observed_server_side_session_id,
                request.new_session_id,
            ]),
            response,
            response_subject,
            response_capture: Capture::defined([
                Some(response.session_id),
                response.server_side_session_id,
                response.operation_id,
                response.new_session_id,
                response.new_server_side_session_id,
            ]),
        }
    }
}

/// Declares the methods once: the enum, its names, and the table of their request fields and,
/// after `=>`, their response fields.
macro_rules! spark_connect_methods {
    ($(
        $(#[$doc:meta])* $name:ident { $($key:ident: $field:expr),* $(,)? }
            => { session_id: $session:expr $(, $response_key:ident: $response_field:expr)* $(,)? },
    )*) => {
        /// A SparkConnectService method.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Method {
            $($(#[$doc])* $name,)*
        }

        impl Method {
            pub const ALL: &'static [Method] = &[$(Method::$name,)*];

            /// The method of a gRPC method name, None for a name not in the table.
            pub fn from_name(name: &str) -> Option<Method> {
                match name {
                    $(stringify!($name) => Some(Method::$name),)*
                    _ => None,
                }
            }
        }

        static METHODS: [MethodInfo; Method::ALL.len()] = [$(
            MethodInfo::new(
                stringify!($name),
                [
                    concat!("the ", stringify!($name), " request"),
                    concat!("the ", stringify!($name), " response"),
                ],
                RequestFields { $($key: Some($field),)* ..RequestFields::NONE },
                ResponseFields {
                    $($response_key: Some($response_field),)*
                    ..ResponseFields::session($session)
                },
            ),
        )*];
    };
}

spark_connect_methods! {
    ExecutePlan { operation_id: 6, observed_server_side_session_id: 8 }
        => { session_id: 1, server_side_session_id: 15, operation_id: 12 },
    AnalyzePlan { observed_server_side_session_id: 17 }
        => { session_id: 1, server_side_session_id: 15 },
    Config { observed_server_side_session_id: 8 }
        => { session_id: 1, server_side_session_id: 4 },
    AddArtifacts { observed_server_side_session_id: 7 }
        => { session_id: 2, server_side_session_id: 3 },
    ArtifactStatus { observed_server_side_session_id: 5 }
        => { session_id: 2, server_side_session_id: 3 },
    /// operation_id = 6 shares a oneof with operation_tag = 5.
    Interrupt { operation_id: 6, observed_server_side_session_id: 7 }
        => { session_id: 1, server_side_session_id: 3 },
    /// Answered with ExecutePlanResponses, as ExecutePlan is.
    ReattachExecute { operation_id: 3, observed_server_side_session_id: 6 }
        => { session_id: 1, server_side_session_id: 15, operation_id: 12 },
    ReleaseExecute { operation_id: 3, observed_server_side_session_id: 7 }
        => { session_id: 1, server_side_session_id: 3, operation_id: 2 },
    /// Has no client_observed_server_side_session_id.
    ReleaseSession {} => { session_id: 1, server_side_session_id: 2 },
    FetchErrorDetails { observed_server_side_session_id: 5 }
        => { session_id: 4, server_side_session_id: 3 },
    CloneSession { observed_server_side_session_id: 5, new_session_id: 4 }
        => {
            session_id: 1,
            server_side_session_id: 2,
            new_session_id: 3,
            new_server_side_session_id: 4,
        },
    GetStatus { observed_server_side_session_id: 4 }
        => { session_id: 1, server_side_session_id: 2 },
}

/// The method whose request fields are read for a method the table does not know: the gateway's
/// GENERIC_ROUTING (src/gateway/proxy/stream-proxy.ts), whose requests carry only the fields every
/// request starts with.
pub const GENERIC_ROUTING: Method = Method::ReleaseSession;

impl Method {
    fn info(self) -> &'static MethodInfo {
        &METHODS[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn request(self) -> RequestFields {
        self.info().request
    }

    /// What `read_routing_fields` scans a request of this method for.
    pub fn request_scan_spec(self) -> ScanSpec<'static> {
        let info = self.info();
        info.capture.spec(info.subject)
    }

    pub fn response(self) -> ResponseFields {
        self.info().response
    }

    /// What a response of this method is scanned for: all of its response fields.
    pub fn response_scan_spec(self) -> ScanSpec<'static> {
        let info = self.info();
        info.response_capture.spec(info.response_subject)
    }
}

/// The routing fields of one request: borrowed from the message, except a user_context sent in
/// several pieces, which is read from the pieces joined.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoutingFields<'a> {
    pub session_id: Option<&'a str>,
    pub user_id: Option<Cow<'a, str>>,
    pub user_name: Option<Cow<'a, str>>,
    pub operation_id: Option<&'a str>,
    pub observed_server_side_session_id: Option<&'a str>,
    pub new_session_id: Option<&'a str>,
}

/// The routing fields of `message`, a whole request of the method named `method`; a name the
/// table does not know is read as GENERIC_ROUTING.
pub fn scan_request<'a>(method: &str, message: &'a [u8]) -> Result<RoutingFields<'a>, ScanError> {
    read_routing_fields(
        message,
        Method::from_name(method).unwrap_or(GENERIC_ROUTING),
    )
}

/// The routing fields of a whole request of `method`. Like the server, it keeps the last
/// occurrence of a string and merges repeated user_context messages; it refuses an id too long to
/// capture and a string that is not UTF-8, checking the fields in the TypeScript's order so that
/// a request with several faults gets the same error.
pub fn read_routing_fields(message: &[u8], method: Method) -> Result<RoutingFields<'_>, ScanError> {
    let spec = method.request_scan_spec();
    let mut occurrences = Occurrences::default();
    let oversized = scan_message(message, &spec, |place, captured| {
        occurrences.add(place, captured)
    })?;
    occurrences.read(method, oversized)
}

/// The routing fields of the occurrences a scan of a request of `method` captured so far (with
/// `method.request_scan_spec()`), as `readRoutingFields` reads a scanner part-way through a
/// message: what is not complete yet counts as absent.
pub fn read_captured_routing_fields<'a>(
    captured: impl IntoIterator<Item = (usize, CapturedField<'a>)>,
    oversized: Oversized,
    method: Method,
) -> Result<RoutingFields<'a>, ScanError> {
    let mut occurrences = Occurrences::default();
    for (place, field) in captured {
        occurrences.add(place, field);
    }
    occurrences.read(method, oversized)
}

/// What the routing fields are read from: the last LEN occurrence of each captured field (its
/// tag's offset and its value), and every LEN user_context. No more than the occurrence limit
/// can come, so neither needs the heap.
struct Occurrences<'a> {
    last: [Option<(usize, &'a [u8])>; MAX_CAPTURED_FIELDS],
    contexts: [&'a [u8]; DEFAULT_MAX_OCCURRENCES as usize],
    context_count: usize,
}

impl Default for Occurrences<'_> {
    fn default() -> Self {
        Occurrences {
            last: [None; MAX_CAPTURED_FIELDS],
            contexts: [&[]; DEFAULT_MAX_OCCURRENCES as usize],
            context_count: 0,
        }
    }
}

impl<'a> Occurrences<'a> {
    fn add(&mut self, place: usize, captured: CapturedField<'a>) {
        if captured.wire_type != WIRE_LEN {
            return;
        }
        self.last[place] = Some((captured.start, captured.value));
        if captured.field == USER_CONTEXT_FIELD && self.context_count < self.contexts.len() {
            self.contexts[self.context_count] = captured.value;
            self.context_count += 1;
        }
    }

    fn read(self, method: Method, oversized: Oversized) -> Result<RoutingFields<'a>, ScanError> {
        let spec = method.request_scan_spec();
        let subject = spec.subject;
        let last_string = |field: Option<u32>, name: &str| {
            let Some(field) = field else {
                return Ok(None);
            };
            let last = spec.place(field).and_then(|place| self.last[place]);
            last_string(&spec, oversized, field, name, last)
        };
        let request = method.request();
        let mut out = RoutingFields {
            session_id: last_string(Some(SESSION_ID_FIELD), "session_id")?,
            operation_id: last_string(request.operation_id, "operation_id")?,
            observed_server_side_session_id: last_string(
                request.observed_server_side_session_id,
                "client_observed_server_side_session_id",
            )?,
            new_session_id: last_string(request.new_session_id, "new_session_id")?,
            ..RoutingFields::default()
        };
        reject_oversized(&spec, oversized, USER_CONTEXT_FIELD, "user_context")?;
        match &self.contexts[..self.context_count] {
            [] => {}
            [only] => {
                let (user_id, user_name) = read_user_context(only, subject)?;
                out.user_id = user_id.map(Cow::Borrowed);
                out.user_name = user_name.map(Cow::Borrowed);
            }
            several => {
                // Concatenated occurrences decode exactly as protobuf merges them.
                let joined = several.concat();
                let (user_id, user_name) = read_user_context(&joined, subject)?;
                out.user_id = user_id.map(|text| Cow::Owned(text.to_owned()));
                out.user_name = user_name.map(|text| Cow::Owned(text.to_owned()));
            }
        }
        Ok(out)
    }
}

/// A string field as the TypeScript's `lastString` reads it from the last LEN occurrence (its tag's
/// offset and value): refused when an occurrence was too long to capture or it is not UTF-8.
pub(crate) fn last_string<'v>(
    spec: &ScanSpec<'_>,
    oversized: Oversized,
    field: u32,
    name: &str,
    last: Option<(usize, &'v [u8])>,
) -> Result<Option<&'v str>, ScanError> {
    reject_oversized(spec, oversized, field, name)?;
    let Some((start, value)) = last else {
        return Ok(None);
    };
    decode_utf8(value).map(Some).ok_or_else(|| {
        ScanError::malformed(
            spec.subject,
            start,
            format_args!("{name} (field {field}) is not valid UTF-8"),
        )
    })
}

/// An id too long to capture would be the one the server keeps, so reading on would misroute.
fn reject_oversized(
    spec: &ScanSpec<'_>,
    oversized: Oversized,
    field: u32,
    name: &str,
) -> Result<(), ScanError> {
    match spec.place(field) {
        Some(place) if oversized.contains(place) => Err(ScanError {
            code: ErrorCode::BadRequest,
            message: format!(
                "{} has a {name} (field {field}) too long for the gateway to read; Spark Connect sends ids of a few dozen bytes",
                spec.subject
            ),
        }),
        _ => Ok(()),
    }
}

/// The last user_id and user_name of a UserContext; everything else is skipped, and checked only
/// as far as skipping it needs.
fn read_user_context<'b>(
    bytes: &'b [u8],
    subject: &str,
) -> Result<(Option<&'b str>, Option<&'b str>), ScanError> {
    let mut user_id = None;
    let mut user_name = None;
    for_each_field(bytes, |field, wire_type, reader| {
        match (field, wire_type) {
            (USER_ID_FIELD, WIRE_LEN) => user_id = Some(reader.string()?),
            (USER_NAME_FIELD, WIRE_LEN) => user_name = Some(reader.string()?),
            _ => reader.skip(wire_type, field)?,
        }
        Ok::<(), ReadError>(())
    })
    .map_err(|failure| {
        ScanError::malformed(
            &format!("the user_context of {subject}"),
            failure.at,
            format_args!("{}", failure.error),
        )
    })?;
    Ok((user_id, user_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::test_bytes::len_field;

    fn user_context(user_id: &str, user_name: Option<&str>) -> Vec<u8> {
        let mut context = len_field(USER_ID_FIELD, user_id.as_bytes());
        if let Some(name) = user_name {
            context.extend(len_field(USER_NAME_FIELD, name.as_bytes()));
        }
        len_field(USER_CONTEXT_FIELD, &context)
    }

    fn error(method: &str, message: &[u8]) -> (ErrorCode, String) {
        let error = scan_request(method, message).unwrap_err();
        (error.code, error.message)
    }

    #[test]
    fn has_the_typescript_method_table() {
        let table: Vec<_> = Method::ALL
            .iter()
            .map(|method| {
                let request = method.request();
                (
                    method.name(),
                    request.operation_id,
                    request.observed_server_side_session_id,
                    request.new_session_id,
                )
            })
            .collect();
        assert_eq!(
            table,
            vec![
                ("ExecutePlan", Some(6), Some(8), None),
                ("AnalyzePlan", None, Some(17), None),
                ("Config", None, Some(8), None),
                ("AddArtifacts", None, Some(7), None),
                ("ArtifactStatus", None, Some(5), None),
                ("Interrupt", Some(6), Some(7), None),
                ("ReattachExecute", Some(3), Some(6), None),
                ("ReleaseExecute", Some(3), Some(7), None),
                ("ReleaseSession", None, None, None),
                ("FetchErrorDetails", None, Some(5), None),
                ("CloneSession", None, Some(5), Some(4)),
                ("GetStatus", None, Some(4), None),
            ]
        );
        for &method in Method::ALL {
            assert_eq!(Method::from_name(method.name()), Some(method));
        }
        assert_eq!(Method::from_name("executePlan"), None);
        assert_eq!(Method::from_name("toString"), None);
    }

    #[test]
    fn has_the_typescript_response_fields() {
        let table: Vec<_> = Method::ALL
            .iter()
            .map(|method| {
                let response = method.response();
                (
                    method.name(),
                    response.session_id,
                    response.server_side_session_id,
                    response.operation_id,
                    response.new_session_id,
                    response.new_server_side_session_id,
                )
            })
            .collect();
        assert_eq!(
            table,
            vec![
                ("ExecutePlan", 1, Some(15), Some(12), None, None),
                ("AnalyzePlan", 1, Some(15), None, None, None),
                ("Config", 1, Some(4), None, None, None),
                ("AddArtifacts", 2, Some(3), None, None, None),
                ("ArtifactStatus", 2, Some(3), None, None, None),
                ("Interrupt", 1, Some(3), None, None, None),
                ("ReattachExecute", 1, Some(15), Some(12), None, None),
                ("ReleaseExecute", 1, Some(3), Some(2), None, None),
                ("ReleaseSession", 1, Some(2), None, None, None),
                ("FetchErrorDetails", 4, Some(3), None, None, None),
                ("CloneSession", 1, Some(2), None, Some(3), Some(4)),
                ("GetStatus", 1, Some(2), None, None, None),
            ]
        );
    }

    #[test]
    fn builds_response_scan_specs_as_the_typescript_does() {
        // Every response field is captured, in the order responseScanSpec lists them.
        let spec = Method::ExecutePlan.response_scan_spec();
        assert_eq!(spec.capture, &[1, 15, 12]);
        assert_eq!(spec.subject, "the ExecutePlan response");
        assert_eq!(
            (spec.max_capture_bytes, spec.max_occurrences),
            (64 * 1024, 16)
        );
        assert_eq!(
            Method::ReleaseExecute.response_scan_spec().capture,
            &[1, 3, 2]
        );
        assert_eq!(
            Method::CloneSession.response_scan_spec().capture,
            &[1, 2, 3, 4]
        );
        assert_eq!(
            Method::FetchErrorDetails.response_scan_spec().capture,
            &[4, 3]
        );
    }

    #[test]
    fn builds_request_scan_specs_as_the_typescript_does() {
        let spec = Method::ExecutePlan.request_scan_spec();
        assert_eq!(spec.capture, &[1, 2, 6, 8]);
        assert_eq!(spec.subject, "the ExecutePlan request");
        assert_eq!(spec.max_capture_bytes, 64 * 1024);
        assert_eq!(spec.max_occurrences, 16);
        assert_eq!(
            Method::CloneSession.request_scan_spec().capture,
            &[1, 2, 5, 4]
        );
        assert_eq!(Method::ReleaseSession.request_scan_spec().capture, &[1, 2]);
    }

    #[test]
    fn reads_the_routing_fields_of_a_request() {
        let message = [
            len_field(1, b"session-1"),
            user_context("alice", Some("Alice")),
            len_field(3, b"plan bytes"),
            len_field(6, b"op-1"),
            len_field(8, b"server-1"),
        ]
        .concat();
        let fields = scan_request("ExecutePlan", &message).unwrap();
        assert_eq!(
            fields,
            RoutingFields {
                session_id: Some("session-1"),
                user_id: Some(Cow::Borrowed("alice")),
                user_name: Some(Cow::Borrowed("Alice")),
                operation_id: Some("op-1"),
                observed_server_side_session_id: Some("server-1"),
                new_session_id: None,
            }
        );
        // Config has no operation id: field 6 is something else there, and field 8 is its own.
        let config = scan_request("Config", &message).unwrap();
        assert_eq!(config.operation_id, None);
        assert_eq!(config.observed_server_side_session_id, Some("server-1"));
        let clone = [
            len_field(1, b"s"),
            len_field(4, b"new"),
            len_field(5, b"old"),
        ]
        .concat();
        let fields = scan_request("CloneSession", &clone).unwrap();
        assert_eq!(fields.new_session_id, Some("new"));
        assert_eq!(fields.observed_server_side_session_id, Some("old"));
        assert_eq!(
            scan_request("Config", &[]).unwrap(),
            RoutingFields::default()
        );
    }

    #[test]
    fn reads_an_unknown_method_as_generic_routing() {
        let message = [len_field(1, b"s"), len_field(6, b"op"), len_field(8, b"x")].concat();
        let fields = scan_request("NotAMethod", &message).unwrap();
        assert_eq!(fields.session_id, Some("s"));
        assert_eq!(
            (fields.operation_id, fields.observed_server_side_session_id),
            (None, None)
        );
        assert_eq!(
            error("NotAMethod", &[0x80]).1,
            "malformed protobuf in the ReleaseSession request at byte 1: the message ends inside a field tag"
        );
    }

    #[test]
    fn keeps_the_last_string_and_ignores_other_wire_types() {
        let message = [
            len_field(1, b"first"),
            len_field(1, b""),
            len_field(1, b"last"),
            vec![0x08, 0x05], // session_id as a varint: not a string, not read
        ]
        .concat();
        assert_eq!(
            scan_request("Config", &message).unwrap().session_id,
            Some("last")
        );
        let empty = len_field(1, b"");
        assert_eq!(scan_request("Config", &empty).unwrap().session_id, Some(""));
        let bom = len_field(1, b"\xef\xbb\xbfs");
        assert_eq!(
            scan_request("Config", &bom).unwrap().session_id,
            Some("\u{feff}s")
        );
    }

    #[test]
    fn merges_repeated_user_contexts() {
        let message = [
            user_context("alice", Some("Alice")),
            len_field(1, b"s"),
            user_context("bob", None),
        ]
        .concat();
        let fields = scan_request("AnalyzePlan", &message).unwrap();
        assert_eq!(fields.user_id.as_deref(), Some("bob"));
        assert_eq!(fields.user_name.as_deref(), Some("Alice"));
        // A field cut at the end of one occurrence goes on in the next, as it does when merged.
        let cut = [len_field(2, &[0x0a, 0x03, b'a']), len_field(2, b"bc")].concat();
        let fields = scan_request("AnalyzePlan", &cut).unwrap();
        assert_eq!(fields.user_id.as_deref(), Some("abc"));
    }

    #[test]
    fn refuses_ids_too_long_to_read() {
        let long = vec![b'x'; 64 * 1024 + 1];
        let message = [len_field(6, &long), len_field(6, b"op")].concat();
        assert_eq!(
            error("ExecutePlan", &message),
            (
                ErrorCode::BadRequest,
                "the ExecutePlan request has a operation_id (field 6) too long for the gateway to read; Spark Connect sends ids of a few dozen bytes".into()
            )
        );
        let message = len_field(2, &long);
        assert_eq!(
            error("Config", &message).1,
            "the Config request has a user_context (field 2) too long for the gateway to read; Spark Connect sends ids of a few dozen bytes"
        );
        // Exactly the limit is read.
        let message = len_field(1, &long[1..]);
        assert_eq!(
            scan_request("Config", &message)
                .unwrap()
                .session_id
                .map(str::len),
            Some(65536)
        );
    }

    #[test]
    fn refuses_strings_that_are_not_utf8_in_the_typescript_order() {
        let message = [
            len_field(5, b"ok"),
            len_field(8, b"\xff"),
            len_field(1, b"\xc0\x80"),
        ]
        .concat();
        assert_eq!(
            error("ExecutePlan", &message),
            (
                ErrorCode::MalformedMessage,
                "malformed protobuf in the ExecutePlan request at byte 7: session_id (field 1) is not valid UTF-8".into()
            )
        );
        let message = [len_field(8, b"\xff"), len_field(2, &[0x0a, 0x01, 0xff])].concat();
        assert_eq!(
            error("ExecutePlan", &message).1,
            "malformed protobuf in the ExecutePlan request at byte 0: client_observed_server_side_session_id (field 8) is not valid UTF-8"
        );
        // An invalid id that a later one replaced is not read.
        let message = [len_field(1, b"\xff"), len_field(1, b"ok")].concat();
        assert_eq!(
            scan_request("Config", &message).unwrap().session_id,
            Some("ok")
        );
    }

    #[test]
    fn reports_a_malformed_user_context_at_its_byte() {
        let message = len_field(2, &[0x0a, 0x01, 0xff]);
        assert_eq!(
            error("Config", &message),
            (
                ErrorCode::MalformedMessage,
                "malformed protobuf in the user_context of the Config request at byte 0: The encoded data was not valid for encoding utf-8".into()
            )
        );
        let message = [user_context("a", None), len_field(2, &[0x12, 0x05])].concat();
        assert_eq!(
            error("Config", &message).1,
            "malformed protobuf in the user_context of the Config request at byte 3: premature EOF"
        );
        // Fields of a wire type user_context does not expect are skipped, groups included.
        let message = len_field(2, &[0x08, 0x01, 0x13, 0x14, 0x0a, 0x01, b'u']);
        assert_eq!(
            scan_request("Config", &message).unwrap().user_id.as_deref(),
            Some("u")
        );
        // A user_context sent as a varint is not a message, and not read.
        assert_eq!(
            scan_request("Config", &[0x10, 0x01]).unwrap(),
            RoutingFields::default()
        );
    }
}
