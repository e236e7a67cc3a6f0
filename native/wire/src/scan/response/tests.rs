//! The response scan held to the TypeScript: each method's ids, every cut, and every way a first
//! message can fail to name them; a large message streamed, its ids kept and nothing else.

use super::*;
use crate::scan::test_bytes::{framed, len_field, tag, varint};
use crate::scan::ErrorCode;

fn scan(method: Method, chunks: &[&[u8]]) -> ResponseScan {
    let mut scan = ResponseScan::new(method);
    for chunk in chunks {
        scan.push(chunk);
    }
    scan
}

/// The error a scan ended with, which must have left it done without ids.
fn ended(scan: &ResponseScan) -> (ErrorCode, &str) {
    assert!(scan.done() && scan.ids().is_none(), "{scan:?}");
    let error = scan.error().expect("an error");
    (error.code, &error.message)
}

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

/// A response of `method` with every id it can carry, in field-number order as Spark's
/// encoder writes them, among fields of other numbers; and the ids it carries.
fn response(method: Method, label: &str) -> (Vec<u8>, ResponseIds) {
    let fields = method.response();
    let named = [
        (Some(fields.session_id), "session"),
        (fields.server_side_session_id, "server"),
        (fields.operation_id, "op"),
        (fields.new_session_id, "new"),
        (fields.new_server_side_session_id, "new-server"),
    ];
    let mut ids: Vec<_> = named
        .iter()
        .filter_map(|&(field, name)| Some((field?, format!("{name}-{label}"))))
        .collect();
    // Every other number up to 16, some of them ids in other methods' responses, and a varint:
    // none is read.
    ids.extend(
        (1..=16)
            .filter(|n| !named.iter().any(|&(f, _)| f == Some(*n)))
            .map(|n| (n, format!("other ✓ {n}"))),
    );
    ids.sort();
    let mut body: Vec<u8> = ids
        .iter()
        .flat_map(|(n, text)| len_field(*n, text.as_bytes()))
        .collect();
    body.extend([tag(20, 0), varint(1 << 40)].concat());
    let text = |field: Option<u32>, name: &str| field.map(|_| format!("{name}-{label}"));
    let expected = ResponseIds {
        session_id: text(Some(fields.session_id), "session"),
        server_side_session_id: text(fields.server_side_session_id, "server"),
        operation_id: text(fields.operation_id, "op"),
        new_session_id: text(fields.new_session_id, "new"),
        new_server_side_session_id: text(fields.new_server_side_session_id, "new-server"),
    };
    (body, expected)
}

#[test]
fn reads_the_ids_of_each_method() {
    for &method in Method::ALL {
        let (body, expected) = response(method, "1");
        let (second, _) = response(method, "2");
        let stream = [framed(&body, false), framed(&second, false)].concat();
        let scan = scan(method, &[&stream]);
        assert!(scan.done(), "{method:?}");
        assert_eq!(scan.ids(), Some(&expected), "{method:?}");
        assert_eq!(scan.error(), None);
    }
    let (body, _) = response(Method::CloneSession, "c");
    let ids = scan(Method::CloneSession, &[&framed(&body, false)])
        .ids()
        .cloned();
    assert_eq!(ids.unwrap().new_session_id, some("new-c"));
    assert!(!response_names_operations(Method::Config));
    let naming: Vec<_> = Method::ALL
        .iter()
        .filter(|&&m| response_names_operations(m))
        .collect();
    assert_eq!(
        naming,
        [
            &Method::ExecutePlan,
            &Method::ReattachExecute,
            &Method::ReleaseExecute,
            &Method::CloneSession
        ]
    );
}

#[test]
fn is_done_once_the_first_message_is_whole_wherever_it_is_cut() {
    for &method in Method::ALL {
        let (body, expected) = response(method, "x");
        let first = framed(&body, false);
        let stream = [first.clone(), framed(b"\x0a\x01z", false)].concat();
        for at in 0..=stream.len() {
            let mut scan = ResponseScan::new(method);
            scan.push(&stream[..at]);
            assert_eq!(scan.done(), at >= first.len(), "{method:?} cut at {at}");
            assert_eq!(scan.ids().is_some(), at >= first.len());
            scan.push(&stream[at..]);
            assert_eq!(scan.ids(), Some(&expected), "{method:?} cut at {at}");
            for end in at..=stream.len() {
                let scan = self::scan(method, &[&stream[..at], &stream[at..end], &stream[end..]]);
                assert_eq!(scan.ids(), Some(&expected), "{method:?} cut at {at}, {end}");
            }
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(scan(method, &bytes).ids(), Some(&expected));
    }
}

#[test]
fn keeps_the_last_string_of_each_field_empty_ones_too() {
    let body = [
        len_field(4, b"first"),
        len_field(1, b"s"),
        len_field(4, b"\xff"), // not UTF-8, but replaced
        len_field(4, b"last"),
        [tag(4, 0), varint(7)].concat(), // not a string: passed over
        len_field(1, b""),
        len_field(12, b"\xff"), // no operation id in a ConfigResponse
    ]
    .concat();
    let scan = scan(Method::Config, &[&framed(&body, false)]);
    let expected = ResponseIds {
        session_id: some(""),
        server_side_session_id: some("last"),
        ..ResponseIds::default()
    };
    assert_eq!(scan.ids(), Some(&expected));
    let bom = len_field(2, b"\xef\xbb\xbfs");
    let ids = self::scan(Method::GetStatus, &[&framed(&bom, false)])
        .ids()
        .cloned();
    assert_eq!(ids.unwrap().server_side_session_id, some("\u{feff}s"));
    // An empty message names nothing, and is read.
    assert_eq!(
        self::scan(Method::Config, &[&framed(b"", false)]).ids(),
        Some(&ResponseIds::default())
    );
}

#[test]
fn ends_without_ids_for_a_compressed_first_message() {
    let (body, _) = response(Method::ExecutePlan, "z");
    let stream = [framed(&body, true), framed(&body, false)].concat();
    for at in 0..=stream.len() {
        let mut scan = ResponseScan::new(Method::ExecutePlan);
        scan.push(&stream[..at]);
        assert_eq!(scan.done(), at >= 5, "cut at {at}");
        scan.push(&stream[at..]);
        assert!(scan.done() && scan.ids().is_none() && scan.error().is_none());
    }
    assert!(scan(Method::Config, &[&framed(b"", true)]).done());
}

#[test]
fn ends_without_ids_for_a_first_message_that_is_not_protobuf() {
    let ok = len_field(1, b"s");
    let cases: [(&[u8], &str); 4] = [
        (&[&ok[..], &[0x0a, 0x05, b'a']].concat(), "malformed protobuf in the Config response at byte 3: field 1 claims 5 bytes but only 1 remain"),
        (&[0x80], "malformed protobuf in the Config response at byte 1: the message ends inside a field tag"),
        (&[0x0b], "malformed protobuf in the Config response at byte 0: field 1 uses groups (wire type 3), which Spark Connect never sends"),
        (&[&ok[..], &[0x00]].concat(), "malformed protobuf in the Config response at byte 3: field number 0 is not a valid field"),
    ];
    for (body, message) in cases {
        let stream = [framed(body, false), framed(&ok, false)].concat();
        for at in 0..=stream.len() {
            let scan = scan(Method::Config, &[&stream[..at], &stream[at..]]);
            assert_eq!(
                ended(&scan),
                (ErrorCode::MalformedMessage, message),
                "cut at {at}"
            );
        }
    }
    // Seventeen session ids are a flood, not a response.
    let flood = len_field(1, b"s").repeat(17);
    assert_eq!(
        ended(&scan(Method::Config, &[&framed(&flood, false)])).1,
        "malformed protobuf in the Config response at byte 48: field 1 occurs more than 16 times"
    );
    // A message that never ends is never done.
    let short = framed(&ok, false);
    assert!(!scan(Method::Config, &[&short[..short.len() - 1]]).done());
}

#[test]
fn ends_without_ids_when_the_framing_is_not_grpc() {
    let ok = framed(&len_field(1, b"s"), false);
    let not_grpc = ended(&scan(Method::Config, &[b"\x16\x03\x01\x00\xc8"]))
        .1
        .to_owned();
    assert!(not_grpc.contains("begins with a TLS record"), "{not_grpc}");
    let too_large = scan(Method::Config, &[b"\x00\x80\x00\x00\x00"]);
    assert_eq!(ended(&too_large).0, ErrorCode::MessageTooLarge);
    // The TypeScript decoder refuses a whole chunk before its first message is read: a bad
    // header after that message in the same chunk leaves no ids; in a later chunk it is not
    // looked at.
    let stream = [&ok[..], b"\x02\x00\x00\x00\x00"].concat();
    assert_eq!(
        ended(&scan(Method::Config, &[&stream])).0,
        ErrorCode::MalformedMessage
    );
    let later = scan(Method::Config, &[&ok, b"\x02\x00\x00\x00\x00"]);
    assert_eq!(
        later.ids().and_then(|ids| ids.session_id.as_deref()),
        Some("s")
    );
}

#[test]
fn ends_without_ids_when_an_id_is_not_utf8_or_too_long() {
    let body = [len_field(1, b"s"), len_field(4, b"\xc0\x80")].concat();
    assert_eq!(
        ended(&scan(Method::Config, &[&framed(&body, false)])),
        (ErrorCode::MalformedMessage, "malformed protobuf in the Config response at byte 3: serverSideSessionId (field 4) is not valid UTF-8")
    );
    // CloneSession's new server-side session id is read too, so it must be UTF-8 as well.
    let body = [
        len_field(1, b"s"),
        len_field(3, b"n"),
        len_field(4, b"\xff"),
    ]
    .concat();
    assert_eq!(
        ended(&scan(Method::CloneSession, &[&framed(&body, false)])).1,
        "malformed protobuf in the CloneSession response at byte 6: newServerSideSessionId (field 4) is not valid UTF-8"
    );
    let long = vec![b'o'; 64 * 1024 + 1];
    let body = [
        len_field(1, b"s"),
        len_field(12, &long),
        len_field(12, b"op"),
    ]
    .concat();
    assert_eq!(
        ended(&scan(Method::ExecutePlan, &[&framed(&body, false)])),
        (ErrorCode::BadRequest, "the ExecutePlan response has a operationId (field 12) too long for the gateway to read; Spark Connect sends ids of a few dozen bytes")
    );
    // Exactly the capture limit is read.
    let body = len_field(12, &long[1..]);
    let ids = scan(Method::ExecutePlan, &[&framed(&body, false)])
        .ids()
        .cloned();
    assert_eq!(
        ids.unwrap().operation_id.map(|id| id.len()),
        Some(64 * 1024)
    );
}

/// Bytes the scan holds on to.
fn retained(scan: &ResponseScan) -> usize {
    let values = &scan.values;
    let last: usize = values
        .last
        .iter()
        .flatten()
        .map(|(_, value)| value.capacity())
        .sum();
    values.arriving.capacity() + last
}

#[test]
fn streams_a_large_first_message_keeping_only_its_ids() {
    let arrow = len_field(
        2,
        &[len_field(1, b"\x05"), len_field(2, &vec![7; 8 << 20])].concat(),
    );
    let before = [
        len_field(1, b"session"),
        arrow.clone(),
        len_field(12, b"op"),
        len_field(15, b"server"),
    ]
    .concat();
    let after = [
        arrow.clone(),
        len_field(1, b"session"),
        len_field(12, b"op"),
        len_field(15, b"server"),
    ]
    .concat();
    let expected = ResponseIds {
        session_id: some("session"),
        server_side_session_id: some("server"),
        operation_id: some("op"),
        ..ResponseIds::default()
    };
    for body in [before, after] {
        let stream = framed(&body, false);
        let mut scan = ResponseScan::new(Method::ExecutePlan);
        let mut most = 0;
        for chunk in stream.chunks(16 * 1024 + 3) {
            assert!(!scan.done());
            scan.push(chunk);
            most = most.max(retained(&scan));
        }
        assert_eq!(scan.ids(), Some(&expected));
        assert!(most < 1024, "held {most} bytes");
    }
    // An oversized id is skipped as it streams by, not kept.
    let body = [len_field(1, b"s"), len_field(12, &vec![b'o'; 4 << 20])].concat();
    let mut scan = ResponseScan::new(Method::ExecutePlan);
    let stream = framed(&body, false);
    for chunk in stream.chunks(64 * 1024) {
        scan.push(chunk);
        assert!(retained(&scan) < 1024);
    }
    assert_eq!(ended(&scan).0, ErrorCode::BadRequest);
}

#[test]
fn reads_nothing_once_done() {
    let (body, expected) = response(Method::ReleaseExecute, "d");
    let mut scan = ResponseScan::new(Method::ReleaseExecute);
    scan.push(&framed(&body, false));
    scan.push(b"\xff\xff\xff\xff\xff not gRPC");
    assert_eq!((scan.done(), scan.ids()), (true, Some(&expected)));
    assert_eq!(retained(&scan), 0);
}
