//! The engine driven as the gateway drives it, with scripted bytes on both sides: a call routed by
//! the gateway and then from the route cache, its response mapped back, the relay's own answers,
//! resets, and input that is not HTTP/2 at all, which must end the connection and never panic.

use super::output::*;
use super::*;
use crate::frames::{FrameParser, FLAG_END_HEADERS, FLAG_END_STREAM, TYPE_DATA, TYPE_HEADERS};
use crate::hpack::encode_header_block;

const CONFIG_PATH: &str = "/spark.connect.SparkConnectService/Config";

fn config() -> Config {
    Config {
        max_concurrent_streams: 100,
        max_message_bytes: 128 << 20,
        whole_first_message_bytes: 256 << 10,
        backend_token: None,
        authenticating: false,
        rewrite_user_id: false,
        summarize_plain_calls: false,
    }
}

fn frame(frame_type: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Output::default();
    out.frame(Side::Client, frame_type, flags, stream_id, payload);
    out.scratch
}

fn request_headers(stream_id: u32, path: &str) -> Vec<u8> {
    request_headers_with(stream_id, path, &[])
}

/// A request's HEADERS frame with `extra` fields after the usual ones.
fn request_headers_with(stream_id: u32, path: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut fields = vec![
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "gateway"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ];
    fields.extend_from_slice(extra);
    frame(
        TYPE_HEADERS,
        FLAG_END_HEADERS,
        stream_id,
        &encode_header_block(&fields),
    )
}

fn len_field(field: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![field << 3 | 2, value.len() as u8];
    out.extend_from_slice(value);
    out
}

/// A gRPC-framed request with session_id and user_context.user_id.
fn request_message(session: &str, user: &str) -> Vec<u8> {
    let mut body = len_field(1, session.as_bytes());
    body.extend(len_field(2, &len_field(1, user.as_bytes())));
    let mut message = vec![0];
    message.extend_from_slice(&(body.len() as u32).to_be_bytes());
    message.extend(body);
    message
}

fn call(stream_id: u32, session: &str) -> Vec<u8> {
    call_with(stream_id, session, &[])
}

/// A call whose header block carries `extra` fields too.
fn call_with(stream_id: u32, session: &str, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut bytes = request_headers_with(stream_id, CONFIG_PATH, extra);
    bytes.extend(frame(
        TYPE_DATA,
        FLAG_END_STREAM,
        stream_id,
        &request_message(session, "u"),
    ));
    bytes
}

fn opened_connection() -> (Engine, Output) {
    let mut out = Output::default();
    let mut engine = Engine::new(config(), 0.0, &mut out);
    out.clear();
    let mut hello = CLIENT_PREFACE.to_vec();
    hello.extend(frame(TYPE_SETTINGS, 0, 0, &[]));
    engine.client_bytes(&mut hello, 0.0, &mut out);
    (engine, out)
}

/// The frames of one side's output: (type, flags, stream id, payload).
fn frames_of(bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let mut parser = FrameParser::new(1 << 24);
    let mut frames = Vec::new();
    parser
        .push(bytes, |f| {
            frames.push((f.frame_type, f.flags, f.stream_id, f.payload.to_vec()))
        })
        .unwrap();
    frames
}

fn feed_client(engine: &mut Engine, bytes: &[u8], now: f64) -> (Output, Vec<u8>) {
    let mut chunk = bytes.to_vec();
    let mut out = Output::default();
    engine.client_bytes(&mut chunk, now, &mut out);
    (out, chunk)
}

#[test]
fn routes_a_call_by_the_gateway_then_from_the_cache_and_maps_the_response_back() {
    let (mut engine, _) = opened_connection();
    let (out, _) = feed_client(&mut engine, &call(1, "s1"), 1.0);
    assert!(out.server.is_empty(), "held until routed");
    let events: Vec<Event> = engine.take_events().collect();
    let [Event::Route(route)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(route.session_id.as_deref(), Some("s1"));
    assert_eq!(route.user_id.as_deref(), Some("u"));
    assert_eq!(route.method, Some(Method::Config));

    let mut out = Output::default();
    engine.pin(b"backend:1", &mut out);
    engine.forward(1, 7, true, true, &mut out);
    let sent = out.side_bytes(Side::Server, &[]);
    assert!(sent.starts_with(CLIENT_PREFACE));
    let frames = frames_of(&sent[CLIENT_PREFACE.len()..]);
    let kinds: Vec<(u8, u32)> = frames.iter().map(|f| (f.0, f.2)).collect();
    assert_eq!(
        kinds,
        [(TYPE_SETTINGS, 0), (TYPE_HEADERS, 1), (TYPE_DATA, 1)]
    );
    let mut decoder = crate::hpack::HpackDecoder::new(4096, 1 << 20);
    let fields = decoder.decode(&frames[1].3).unwrap();
    assert!(fields.contains(&(b":authority".to_vec(), b"backend:1".to_vec())));

    // The same session again: forwarded at once, with the next server stream id.
    let (out, chunk) = feed_client(&mut engine, &call(3, "s1"), 2.0);
    let events: Vec<Event> = engine.take_events().collect();
    assert!(
        matches!(
            events.as_slice(),
            [Event::Forwarded {
                stream: 3,
                slot: 7,
                method: Some(Method::Config)
            }]
        ),
        "{events:?}"
    );
    let ids: Vec<u32> = frames_of(&out.side_bytes(Side::Server, &chunk))
        .iter()
        .map(|f| f.2)
        .collect();
    assert_eq!(ids, [3, 3]);

    // The server answers call 1 (its stream 1): the client gets stream 1, and its end.
    let headers = encode_header_block(&[(":status", "200"), ("content-type", "application/grpc")]);
    let trailers = encode_header_block(&[("grpc-status", "0")]);
    let mut response = frame(TYPE_HEADERS, FLAG_END_HEADERS, 1, &headers);
    response.extend(frame(TYPE_DATA, 0, 1, &[0, 0, 0, 0, 0]));
    response.extend(frame(
        TYPE_HEADERS,
        FLAG_END_HEADERS | FLAG_END_STREAM,
        1,
        &trailers,
    ));
    let mut out = Output::default();
    engine.server_bytes(&mut response, 5.0, &mut out);
    let relayed = frames_of(&out.side_bytes(Side::Client, &response));
    assert_eq!(relayed.iter().map(|f| f.2).collect::<Vec<_>>(), [1, 1, 1]);
    let events: Vec<Event> = engine.take_events().collect();
    let [Event::Completed(done)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!((done.stream, done.slot, done.status), (1, 7, 0));
    assert_eq!((done.duration_ms, done.bytes_out), (4.0, 5));
    assert!(done.forwarded);

    // A new epoch (a session ended somewhere): the gateway is asked again.
    engine.set_epoch(1);
    feed_client(&mut engine, &call(5, "s1"), 6.0);
    let events: Vec<Event> = engine.take_events().collect();
    assert!(matches!(events.as_slice(), [Event::Route(_)]), "{events:?}");
}

/// The server's answer to its stream `upstream_id`: headers, one empty message, `status`.
fn response(upstream_id: u32, status: &str) -> Vec<u8> {
    let headers = encode_header_block(&[(":status", "200"), ("content-type", "application/grpc")]);
    let trailers = encode_header_block(&[("grpc-status", status)]);
    let mut bytes = frame(TYPE_HEADERS, FLAG_END_HEADERS, upstream_id, &headers);
    bytes.extend(frame(TYPE_DATA, 0, upstream_id, &[0, 0, 0, 0, 0]));
    bytes.extend(frame(
        TYPE_HEADERS,
        FLAG_END_HEADERS | FLAG_END_STREAM,
        upstream_id,
        &trailers,
    ));
    bytes
}

#[test]
fn sums_up_the_ok_unary_calls_of_cached_sessions_when_told_to() {
    let mut out = Output::default();
    let config = Config {
        summarize_plain_calls: true,
        ..config()
    };
    let mut engine = Engine::new(config, 0.0, &mut out);
    let mut hello = CLIENT_PREFACE.to_vec();
    hello.extend(frame(TYPE_SETTINGS, 0, 0, &[]));
    engine.client_bytes(&mut hello, 0.0, &mut out);
    // The first call is the gateway's to route, and reported as ever.
    feed_client(&mut engine, &call(1, "s1"), 1.0);
    engine.take_events().count();
    let mut out = Output::default();
    engine.pin(b"backend:1", &mut out);
    engine.forward(1, 7, true, true, &mut out);
    let mut first = response(1, "0");
    engine.server_bytes(&mut first, 2.0, &mut Output::default());
    let events: Vec<Event> = engine.take_events().collect();
    assert!(
        matches!(events.as_slice(), [Event::Completed(_)]),
        "{events:?}"
    );
    assert_eq!(engine.take_summaries().count(), 0);

    // Two calls from the cache: no event, a summary of two started.
    let mut two = call(3, "s1");
    two.extend(call(5, "s1"));
    feed_client(&mut engine, &two, 3.0);
    assert_eq!(engine.take_events().count(), 0);
    let summaries: Vec<CallSummary> = engine.take_summaries().collect();
    let [started] = summaries.as_slice() else {
        panic!("{summaries:?}")
    };
    assert_eq!((started.slot, started.method), (7, Method::Config));
    assert_eq!((started.started, started.durations_ms.len()), (1 + 1, 0));

    // One ends OK (summed up with its duration and bytes), the other with an error (an event).
    let mut answers = response(3, "0");
    answers.extend(response(5, "13"));
    engine.server_bytes(&mut answers, 7.5, &mut Output::default());
    let events: Vec<Event> = engine.take_events().collect();
    let [Event::Completed(failed)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(
        (failed.stream, failed.status, failed.forwarded),
        (5, 13, true)
    );
    let summaries: Vec<CallSummary> = engine.take_summaries().collect();
    let [ended] = summaries.as_slice() else {
        panic!("{summaries:?}")
    };
    assert_eq!(
        (ended.started, ended.durations_ms.as_slice()),
        (0, &[4.5][..])
    );
    assert_eq!(ended.bytes_out, 5);
    assert!(ended.bytes_in > 0);
}

#[test]
fn answers_what_it_refuses_itself_and_what_the_gateway_refuses() {
    let (mut engine, _) = opened_connection();
    let mut bytes = request_headers(1, "/not a method");
    bytes.extend(frame(TYPE_DATA, FLAG_END_STREAM, 1, &[0, 0, 0, 0, 0]));
    let (out, chunk) = feed_client(&mut engine, &bytes, 0.0);
    let answer = frames_of(&out.side_bytes(Side::Client, &chunk));
    // The trailers-only answer, then the DATA's credit back.
    assert_eq!(answer[0].0, TYPE_HEADERS);
    assert_eq!(answer[0].1 & FLAG_END_STREAM, FLAG_END_STREAM);
    let events: Vec<Event> = engine.take_events().collect();
    let [Event::Completed(done)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!((done.status, done.fault), (12, Some("GW_UNIMPLEMENTED")));
    assert_eq!(done.message, b"/not a method is not a gRPC method path");

    feed_client(&mut engine, &request_headers(3, CONFIG_PATH), 0.0);
    let mut out = Output::default();
    engine.answer_error(3, 14, "gone: 100%", 1.0, &mut out);
    let answer = frames_of(&out.side_bytes(Side::Client, &[]));
    let mut decoder = crate::hpack::HpackDecoder::new(4096, 1 << 20);
    let fields = decoder.decode(&answer[0].3).unwrap();
    assert!(fields.contains(&(b"grpc-message".to_vec(), b"gone: 100%25".to_vec())));
    // The request was still open: it is ended with NO_ERROR.
    assert_eq!(
        answer.last().map(|f| (f.0, f.2)),
        Some((TYPE_RST_STREAM, 3))
    );
}

#[test]
fn relays_a_client_reset_and_cancels_the_call() {
    let (mut engine, _) = opened_connection();
    feed_client(&mut engine, &call(1, "s"), 0.0);
    engine.take_events().count();
    let mut out = Output::default();
    engine.pin(b"b", &mut out);
    engine.forward(1, 1, false, false, &mut out);
    let reset = frame(TYPE_RST_STREAM, 0, 1, &CANCEL.to_be_bytes());
    let (out, chunk) = feed_client(&mut engine, &reset, 3.0);
    let sent = frames_of(&out.side_bytes(Side::Server, &chunk));
    assert_eq!(
        sent,
        [(TYPE_RST_STREAM, 0, 1, CANCEL.to_be_bytes().to_vec())]
    );
    let events: Vec<Event> = engine.take_events().collect();
    let [Event::Completed(done)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(
        (done.status, done.message.as_slice()),
        (1, &b"cancelled by the client"[..])
    );
    assert_eq!(engine.open_calls(), 0);
}

#[test]
fn ends_a_connection_whose_preface_is_wrong() {
    let mut out = Output::default();
    let mut engine = Engine::new(config(), 0.0, &mut out);
    let (out, _) = feed_client(&mut engine, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0.0);
    let sent = frames_of(&out.side_bytes(Side::Client, &[]));
    assert_eq!(sent[0].0, TYPE_GOAWAY);
    assert!(engine.closed());
}

/// A small deterministic generator (xorshift), so a failure repeats.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn never_panics_on_mangled_traffic_from_either_side() {
    let mut random = Random(0x5eed_1234_abcd_ef01);
    let mut valid = Vec::new();
    for stream in (1..40).step_by(2) {
        valid.extend(call(stream, &format!("session-{}", stream % 5)));
    }
    let headers = encode_header_block(&[(":status", "200"), ("grpc-status", "0")]);
    let mut response = Vec::new();
    for stream in (1..20).step_by(2) {
        response.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, stream, &headers));
        response.extend(frame(
            TYPE_DATA,
            FLAG_END_STREAM,
            stream,
            &[0, 0, 0, 0, 1, 7],
        ));
    }
    for round in 0..400 {
        let mut config = config();
        config.backend_token = (round % 2 == 0).then(|| b"secret".to_vec());
        config.authenticating = round % 3 == 0;
        config.rewrite_user_id = round % 3 == 0;
        let mut out = Output::default();
        let mut engine = Engine::new(config, 0.0, &mut out);
        let mut client = CLIENT_PREFACE.to_vec();
        client.extend(frame(TYPE_SETTINGS, 0, 0, &[0, 1, 0, 0, 0x10, 0]));
        client.extend(&valid);
        let mut server = frame(TYPE_SETTINGS, 0, 0, &[0, 5, 0, 0, 0x40, 0]);
        server.extend(&response);
        for bytes in [&mut client, &mut server] {
            for _ in 0..1 + random.below(8) {
                let at = random.below(bytes.len());
                bytes[at] = random.next() as u8;
            }
        }
        let mut now = 0.0;
        let (mut c, mut s) = (0, 0);
        while c < client.len() || s < server.len() {
            now += 1.0;
            out.clear();
            if c < client.len() {
                let end = (c + 1 + random.below(200)).min(client.len());
                engine.client_bytes(&mut client[c..end].to_vec(), now, &mut out);
                c = end;
            }
            let decisions: Vec<Event> = engine.take_events().collect();
            for event in decisions {
                match event {
                    Event::Route(route) => {
                        engine.pin(b"b", &mut out);
                        if random.below(4) == 0 {
                            engine.answer_error(route.stream, 14, "no", now, &mut out);
                        } else if random.below(8) == 0 {
                            engine.send_away(route.stream, &mut out);
                        } else {
                            engine.forward(route.stream, 1, true, false, &mut out);
                        }
                    }
                    Event::Authenticate { stream, .. } => {
                        engine.authenticated(stream, "u", now + 5.0, now, &mut out)
                    }
                    _ => {}
                }
            }
            if s < server.len() && engine.pinned() {
                let end = (s + 1 + random.below(300)).min(server.len());
                engine.server_bytes(&mut server[s..end].to_vec(), now, &mut out);
                s = end;
            } else if !engine.pinned() {
                s = server.len();
            }
            engine.expire(50.0, now, &mut out);
            engine.take_events().count();
        }
        engine.server_gone("gone", now, &mut out);
        engine.client_closed(now);
        assert_eq!(engine.open_calls(), 0, "round {round}");
        assert_eq!(engine.held_bytes(), 0, "round {round}");
    }
}

/// Per-call cost of the engine alone, calls of a cached session: `cargo test --release -p
/// sparkplane-wire relay::tests::engine_cost -- --ignored --nocapture`.
#[test]
#[ignore]
fn engine_cost() {
    let (mut engine, _) = opened_connection();
    feed_client(&mut engine, &call(1, "s1"), 0.0);
    engine.take_events().count();
    let mut out = Output::default();
    engine.pin(b"b", &mut out);
    engine.forward(1, 1, true, true, &mut out);
    let headers = encode_header_block(&[(":status", "200"), ("content-type", "application/grpc")]);
    let trailers = encode_header_block(&[("grpc-status", "0")]);
    let batch = 16u32;
    let rounds = 20_000u32;
    let mut stream = 3u32;
    let mut upstream = 3u32;
    let mut chunks = Vec::new();
    for _ in 0..rounds {
        let mut client = Vec::new();
        for i in 0..batch {
            client.extend(call(stream + 2 * i, "s1"));
        }
        let mut server = Vec::new();
        for i in 0..batch {
            let id = upstream + 2 * i;
            server.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, id, &headers));
            server.extend(frame(TYPE_DATA, 0, id, &[0, 0, 0, 0, 2, 8, 1]));
            server.extend(frame(
                TYPE_HEADERS,
                FLAG_END_HEADERS | FLAG_END_STREAM,
                id,
                &trailers,
            ));
        }
        chunks.push((client, server));
        stream += 2 * batch;
        upstream += 2 * batch;
    }
    let started = std::time::Instant::now();
    let mut events = 0;
    for (client, server) in &mut chunks {
        out.clear();
        engine.client_bytes(client, 1.0, &mut out);
        events += engine.take_events().count();
        out.clear();
        engine.server_bytes(server, 2.0, &mut out);
        events += engine.take_events().count();
    }
    let calls = f64::from(rounds * batch);
    println!(
        "{:.0} ns per call ({} events, {} open)",
        started.elapsed().as_nanos() as f64 / calls,
        events,
        engine.open_calls()
    );
}

#[test]
fn indexes_request_fields_for_the_server_once_its_settings_are_read() {
    let (mut engine, _) = opened_connection();
    let mut decoder = crate::hpack::HpackDecoder::new(4096, 1 << 20);
    // The request blocks the server gets, decoded in order by one decoder, as the server does:
    // their lengths, and the first octet of the first.
    let mut send = |engine: &mut Engine, id: u32, value: &str| -> (Vec<usize>, u8) {
        let bytes = call_with(id, "s1", &[("x-n", value)]);
        let (mut out, chunk) = feed_client(engine, &bytes, 1.0);
        let events: Vec<Event> = engine.take_events().collect();
        for event in events {
            if let Event::Route(route) = event {
                engine.pin(b"backend:1", &mut out);
                engine.forward(route.stream, 7, true, true, &mut out);
            }
        }
        let mut sent = out.side_bytes(Side::Server, &chunk);
        if sent.starts_with(CLIENT_PREFACE) {
            sent.drain(..CLIENT_PREFACE.len());
        }
        let mut lengths = Vec::new();
        let mut first = 0;
        for (kind, _, stream, payload) in frames_of(&sent) {
            if kind != TYPE_HEADERS {
                continue;
            }
            let fields = decoder.decode(&payload).unwrap();
            let field = |name: &[u8]| {
                fields
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            };
            assert_eq!(field(b":path").unwrap(), CONFIG_PATH.as_bytes());
            assert_eq!(field(b":authority").unwrap(), b"backend:1");
            assert_eq!(field(b"x-n").unwrap(), value.as_bytes(), "stream {stream}");
            if lengths.is_empty() {
                first = payload[0];
            }
            lengths.push(payload.len());
        }
        (lengths, first)
    };
    // Before the server's SETTINGS: literals only.
    let (before, _) = send(&mut engine, 1, "1");
    let mut settings = frame(TYPE_SETTINGS, 0, 0, &[]);
    engine.server_bytes(&mut settings, 1.0, &mut Output::default());
    let (first, _) = send(&mut engine, 3, "2");
    let (second, _) = send(&mut engine, 5, "2");
    assert_eq!((before.len(), first.len(), second.len()), (1, 1, 1));
    assert!(first[0] >= before[0] - 2, "{before:?} {first:?}");
    assert!(second[0] < 8, "{before:?} {first:?} {second:?}");
    // A new value each call: entries come and go, and the server reads every block right.
    let padding = "v".repeat(200);
    for n in 0..60u32 {
        let (sent, _) = send(&mut engine, 7 + 2 * n, &format!("{n}{padding}"));
        assert_eq!(sent.len(), 1, "call {n}");
    }
    // The server asks for a smaller table: the next block starts with the size update.
    let mut smaller = frame(TYPE_SETTINGS, 0, 0, &[0, 1, 0, 0, 0, 0x40]);
    engine.server_bytes(&mut smaller, 2.0, &mut Output::default());
    let (sent, first_octet) = send(&mut engine, 131, "x");
    assert_eq!(
        (sent.len(), first_octet),
        (1, 0x3f),
        "a size update of 64 first"
    );
}
