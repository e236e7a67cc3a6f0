//! The client's half of a pinned connection, as pinned-connection.ts and pinned-calls.ts read it:
//! the preface, the connection's own frames (SETTINGS, PING, WINDOW_UPDATE, GOAWAY), request
//! header blocks (the client's HPACK table mirrored), and each call's frames, held until the call
//! is routed and then relayed with the server's stream id.

use crate::frames::{frame_of, unpadded, Located, FLAG_END_HEADERS, FLAG_END_STREAM};
use crate::frames::{TYPE_CONTINUATION, TYPE_DATA, TYPE_HEADERS};
use crate::hpack::encode_header_block;
use crate::scan::spark_connect::GENERIC_ROUTING;
use crate::scan::FirstMessagePeek;

use super::headers::{method_path, spark_connect_method, HeaderList, RequestHead};
use super::output::*;
use super::{Engine, Event, Opened, State, Stream, MAX_HELD_BYTES, MAX_MIRRORED_TABLE};

/// A client fault that ends the connection with an HTTP/2 error.
pub(super) struct Fault {
    pub code: u32,
    pub message: String,
}

pub(super) fn protocol(message: &str) -> Fault {
    Fault {
        code: PROTOCOL_ERROR,
        message: message.to_owned(),
    }
}

/// A header block whose HEADERS frame did not end it: CONTINUATION frames follow.
pub(super) struct OpenBlock {
    stream_id: u32,
    end_stream: bool,
    block: Vec<u8>,
}

/// A frame of the chunk being read (`at` is where it starts in the chunk), or one copied.
pub(super) struct RawFrame<'a> {
    pub raw: &'a mut [u8],
    pub at: Option<usize>,
}

impl RawFrame<'_> {
    /// Sends the frame to `side` with `stream_id`: rewritten in place when it lies in the chunk.
    pub fn relay(&mut self, out: &mut Output, side: Side, stream_id: u32) {
        match self.at {
            Some(at) => {
                set_stream_id(self.raw, stream_id);
                out.input(side, at, self.raw.len());
            }
            None => out.frame_as(side, self.raw, stream_id),
        }
    }

    /// Sends the frame to `side` as it is.
    pub fn pass(&mut self, out: &mut Output, side: Side) {
        match self.at {
            Some(at) => out.input(side, at, self.raw.len()),
            None => out.bytes(side, self.raw),
        }
    }
}

const PREFACE_WRONG: &str = "the HTTP/2 preface is wrong";
const HELD_TOO_MUCH: &str = "more than 16777216 bytes of calls not yet routed";

impl Engine {
    /// Bytes the client sent. `chunk` may be changed in place: the output refers to it.
    pub fn client_bytes(&mut self, chunk: &mut [u8], now: f64, out: &mut Output) {
        self.now = now;
        if self.closed {
            return;
        }
        let mut start = 0;
        if self.preface_seen < CLIENT_PREFACE.len() {
            // Compared whole once complete, as the TypeScript does.
            let need = CLIENT_PREFACE.len() - self.preface_seen;
            let take = need.min(chunk.len());
            self.before_pin.extend_from_slice(&chunk[..take]);
            self.preface_seen += take;
            start = take;
            if self.preface_seen < CLIENT_PREFACE.len() {
                return;
            }
            let wrong = self.before_pin != CLIENT_PREFACE;
            self.before_pin.clear();
            if wrong {
                self.fail_connection(PROTOCOL_ERROR, "not-http2", PREFACE_WRONG, out);
                return;
            }
        }
        let mut located = std::mem::take(&mut self.located);
        located.clear();
        let parsed = self
            .request_frames
            .push_located(&chunk[start..], &mut located);
        for place in located.drain(..) {
            if self.closed {
                break;
            }
            let handled = match place {
                Located::Chunk { start: at, len } => {
                    let at = start + at;
                    self.on_client_frame(
                        RawFrame {
                            raw: &mut chunk[at..at + len],
                            at: Some(at),
                        },
                        out,
                    )
                }
                Located::Owned(mut raw) => self.on_client_frame(
                    RawFrame {
                        raw: &mut raw,
                        at: None,
                    },
                    out,
                ),
            };
            if let Err(fault) = handled {
                self.fail_connection(fault.code, "http2-frame-error", &fault.message, out);
            }
        }
        self.located = located;
        if let Err(error) = parsed {
            let text = error.to_string();
            self.fail_connection(FRAME_SIZE_ERROR, "http2-frame-error", &text, out);
        }
        if self.held_bytes > MAX_HELD_BYTES {
            self.fail_connection(ENHANCE_YOUR_CALM, "http2-held-bytes", HELD_TOO_MUCH, out);
        }
    }

    fn on_client_frame(&mut self, mut frame: RawFrame<'_>, out: &mut Output) -> Result<(), Fault> {
        let (frame_type, flags, stream_id) = {
            let parsed = frame_of(frame.raw);
            (parsed.frame_type, parsed.flags, parsed.stream_id)
        };
        if self.closed {
            return Ok(());
        }
        if self.request_block.is_some() || frame_type == TYPE_HEADERS {
            return self.on_request_header_frame(frame.raw, out);
        }
        match frame_type {
            TYPE_DATA => self.on_request_data(frame, out),
            TYPE_CONTINUATION => Err(protocol("a CONTINUATION frame without HEADERS")),
            TYPE_RST_STREAM => {
                if !self.resets.take(self.now) {
                    self.fail_connection(
                        ENHANCE_YOUR_CALM,
                        "http2-rapid-reset",
                        "the client reset streams faster than the gateway allows",
                        out,
                    );
                    return Ok(());
                }
                self.on_client_reset(frame, stream_id, out);
                Ok(())
            }
            TYPE_SETTINGS => {
                self.on_client_settings(frame, flags, stream_id, out);
                Ok(())
            }
            TYPE_PING => {
                if self.pinned() {
                    frame.pass(out, Side::Server);
                } else if flags & FLAG_ACK == 0 {
                    let payload = frame.raw[9..].to_vec();
                    out.frame(Side::Client, TYPE_PING, FLAG_ACK, 0, &payload);
                }
                Ok(())
            }
            TYPE_WINDOW_UPDATE => {
                self.on_client_window_update(frame, stream_id, out);
                Ok(())
            }
            TYPE_GOAWAY => {
                if self.goaway_last.is_none() {
                    self.goaway_last = Some(self.last_client_id);
                }
                if self.pinned() {
                    frame.pass(out, Side::Server);
                }
                self.maybe_end();
                Ok(())
            }
            TYPE_PUSH_PROMISE => Err(protocol("a client sent PUSH_PROMISE")),
            // PRIORITY and unknown frame types carry nothing a call needs (RFC 9113 §5.1, §5.5).
            _ => Ok(()),
        }
    }

    fn on_request_header_frame(&mut self, raw: &[u8], out: &mut Output) -> Result<(), Fault> {
        let frame = frame_of(raw);
        match self.request_block.take() {
            None => {
                if frame.frame_type != TYPE_HEADERS {
                    return Err(protocol("a CONTINUATION frame without HEADERS"));
                }
                let part = match unpadded(&frame) {
                    Some(part) if frame.stream_id != 0 => part,
                    _ => return Err(protocol("a malformed HEADERS frame")),
                };
                let end_stream = frame.flags & FLAG_END_STREAM != 0;
                if frame.flags & FLAG_END_HEADERS != 0 {
                    return self.on_request_header_block(frame.stream_id, end_stream, part, out);
                }
                self.request_block = Some(OpenBlock {
                    stream_id: frame.stream_id,
                    end_stream,
                    block: part.to_vec(),
                });
                Ok(())
            }
            Some(mut open) => {
                if frame.frame_type != TYPE_CONTINUATION || frame.stream_id != open.stream_id {
                    return Err(protocol("a header block was cut off by another frame"));
                }
                open.block.extend_from_slice(frame.payload);
                if frame.flags & FLAG_END_HEADERS == 0 {
                    self.request_block = Some(open);
                    return Ok(());
                }
                self.on_request_header_block(open.stream_id, open.end_stream, &open.block, out)
            }
        }
    }

    fn on_request_header_block(
        &mut self,
        stream_id: u32,
        end_stream: bool,
        block: &[u8],
        out: &mut Output,
    ) -> Result<(), Fault> {
        // Decoded even for a call that is refused: the client's HPACK table changes either way.
        let mut fields = self
            .spare_headers
            .pop()
            .unwrap_or_else(HeaderList::with_capacity);
        self.request_decoder
            .decode_with(block, |name, value| fields.push(name, value))
            .map_err(|error| Fault {
                code: COMPRESSION_ERROR,
                message: error.message,
            })?;
        if let Some(existing) = self.streams.get_mut(&stream_id) {
            // Request trailers: rare in gRPC, relayed when the call is at its server.
            match existing.state {
                State::Upstream => {
                    let list: Vec<(&[u8], &[u8])> = fields.iter().collect();
                    let mut encoded = Vec::new();
                    self.encoder.owed_update(&mut encoded);
                    encoded.extend_from_slice(&encode_header_block(&list));
                    out.header_frames(
                        Side::Server,
                        existing.upstream_id,
                        &encoded,
                        end_stream,
                        crate::frames::DEFAULT_MAX_FRAME_PAYLOAD as usize,
                    );
                }
                State::Peeking | State::Routing => {
                    if end_stream {
                        existing.client_ended = true;
                    }
                    let message = "the request sent trailers before its first message";
                    self.answer_fault(stream_id, "GW_BAD_REQUEST", message.to_owned(), out);
                    return Ok(());
                }
                State::Answering => {}
            }
            if end_stream {
                existing.client_ended = true;
            }
            return Ok(());
        }
        // Trailers of a call already over (the client had not seen its end yet): nothing to do.
        if stream_id % 2 == 1 && stream_id <= self.last_client_id {
            return Ok(());
        }
        if stream_id.is_multiple_of(2) {
            let message = format!("stream {stream_id} is not a new client stream");
            self.fail_connection(PROTOCOL_ERROR, "http2-frame-error", &message, out);
            return Ok(());
        }
        self.last_client_id = stream_id;
        if self.goaway_last.is_some_and(|last| stream_id > last) {
            return Ok(());
        }
        let limit = self.config.max_concurrent_streams;
        if self.streams.len() >= limit as usize {
            if !self.refusals.take(self.now) {
                let message = format!("the client kept opening more than {limit} streams");
                self.fail_connection(ENHANCE_YOUR_CALM, "http2-stream-flood", &message, out);
            } else {
                out.rst_stream(Side::Client, stream_id, REFUSED_STREAM);
            }
            return Ok(());
        }
        self.open(stream_id, fields, end_stream, out);
        Ok(())
    }

    fn open(&mut self, client_id: u32, headers: HeaderList, end_stream: bool, out: &mut Output) {
        let (is_grpc, path_read) = headers.grpc_request();
        let parts = method_path(path_read);
        let method = parts.and_then(|(service, name)| spark_connect_method(service, name));
        let health = parts == Some((b"grpc.health.v1.Health", b"Check"));
        let is_method = parts.is_some();
        // Copied into the buffer of the call box about to be reused, if there is one.
        let mut path = self
            .spare
            .last_mut()
            .map(|stream| std::mem::take(&mut stream.path))
            .unwrap_or_default();
        path.clear();
        path.extend_from_slice(path_read);
        let method_read = method.unwrap_or(GENERIC_ROUTING);
        let (max, whole) = (
            self.config.max_message_bytes,
            self.config.whole_first_message_bytes,
        );
        // A finished call's box is reused with the buffers it grew: a call allocates little.
        let stream = match self.spare.pop() {
            Some(mut stream) => {
                stream.peek.reset(method_read, max, whole);
                stream.reuse(client_id, method, path, headers, end_stream, self.now);
                stream
            }
            None => Box::new(Stream {
                client_id,
                upstream_id: 0,
                state: State::Peeking,
                method,
                path,
                headers,
                peek: FirstMessagePeek::new(method_read, max, whole),
                held: Vec::new(),
                held_frames: Vec::new(),
                held_data_bytes: 0,
                key: Vec::new(),
                slot: 0,
                principal: String::new(),
                masker: None,
                response_scan: None,
                client_ended: end_stream,
                response_started: false,
                identity_pending: false,
                forwarded: false,
                summarized: false,
                opened_at: self.now,
                bytes_in: 0,
                bytes_out: 0,
                status: -1,
                message: Vec::new(),
                fault: None,
                compressed: None,
                compressed_ready: None,
            }),
        };
        self.streams.insert(client_id, stream);
        let opened = |engine: &mut Engine, kind: Opened| {
            let Some(stream) = engine.streams.get_mut(&client_id) else {
                return;
            };
            stream.state = State::Answering;
            let head = RequestHead::of(&stream.headers);
            engine.events.push(Event::Opened {
                stream: client_id,
                kind,
                head,
            });
        };
        if !is_grpc {
            opened(self, Opened::NotGrpc);
        } else if !is_method {
            let path = self
                .streams
                .get(&client_id)
                .map(|s| s.path.as_slice())
                .unwrap_or_default();
            let message = format!(
                "{} is not a gRPC method path",
                String::from_utf8_lossy(path)
            );
            self.answer_fault(client_id, "GW_UNIMPLEMENTED", message, out);
        } else if health {
            opened(self, Opened::HealthCheck);
        } else if end_stream {
            let message =
                "the request carried no message; a Spark Connect call sends one request message";
            self.answer_fault(client_id, "GW_BAD_REQUEST", message.to_owned(), out);
        }
    }

    fn on_request_data(&mut self, mut frame: RawFrame<'_>, out: &mut Output) -> Result<(), Fault> {
        let parsed = frame_of(frame.raw);
        let (stream_id, flags, payload_len) =
            (parsed.stream_id, parsed.flags, parsed.payload.len() as u32);
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            if stream_id == 0 || stream_id > self.last_client_id {
                return Err(protocol("DATA on an idle stream"));
            }
            // A call that is over (answered, reset): the client gets its flow-control credit back.
            out.window_update(Side::Client, 0, payload_len);
            return Ok(());
        };
        let Some(payload) = unpadded(&parsed) else {
            return Err(protocol("a malformed DATA frame"));
        };
        let end_stream = flags & FLAG_END_STREAM != 0;
        if end_stream {
            stream.client_ended = true;
        }
        if stream.state == State::Answering {
            out.window_update(Side::Client, 0, payload_len);
            return Ok(());
        }
        let pushed = stream.peek.push(payload).map(|()| {
            let recheck = stream.identity_pending && stream.peek.first_message_done();
            if recheck {
                stream.identity_pending = false;
            }
            recheck
        });
        let recheck = match pushed {
            Ok(recheck) => recheck,
            Err(error) => {
                self.answer_fault(stream_id, error.code.as_str(), error.message, out);
                out.window_update(Side::Client, 0, payload_len);
                return Ok(());
            }
        };
        stream.bytes_in += payload.len() as u64;
        if stream.compressed.is_some() || stream.peek.compressed() {
            stream.add_compressed(payload);
        }
        if recheck && self.identity_fault(stream_id, out) {
            out.window_update(Side::Client, 0, payload_len);
            return Ok(());
        }
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return Ok(());
        };
        if stream.state == State::Upstream {
            frame.relay(out, Side::Server, stream.upstream_id);
            return Ok(());
        }
        stream.hold(frame.raw);
        stream.held_data_bytes += payload_len;
        self.held_bytes += frame.raw.len();
        if stream.state != State::Peeking {
            return Ok(());
        }
        if stream.peek.routable() {
            self.route(stream_id, out);
        } else if let Some(message) = stream.compressed_first_message() {
            stream.compressed_ready = Some(message);
            self.route(stream_id, out);
        } else if end_stream {
            let message = "the request ended in the middle of its first message";
            self.answer_fault(stream_id, "GW_BAD_REQUEST", message.to_owned(), out);
        }
        Ok(())
    }

    fn on_client_reset(&mut self, mut frame: RawFrame<'_>, stream_id: u32, out: &mut Output) {
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        if stream.status == -1 {
            stream.status = 1;
            stream.message = b"cancelled by the client".to_vec();
        }
        if stream.state == State::Upstream {
            frame.relay(out, Side::Server, stream.upstream_id);
        }
        self.finish(stream_id, out);
        self.maybe_end();
    }

    fn on_client_settings(
        &mut self,
        mut frame: RawFrame<'_>,
        flags: u8,
        stream_id: u32,
        out: &mut Output,
    ) {
        if stream_id != 0 || parse_settings(&frame.raw[9..]).is_none() {
            let message = "a malformed SETTINGS frame";
            self.fail_connection(PROTOCOL_ERROR, "http2-frame-error", message, out);
            return;
        }
        if flags & FLAG_ACK != 0 {
            // The first ACK answers the gateway's own SETTINGS; the server never sent those.
            if !self.own_settings_acked {
                self.own_settings_acked = true;
            } else if self.pinned() {
                frame.pass(out, Side::Server);
            }
            return;
        }
        let mut clamp = Vec::new();
        for (at, id, value) in parse_settings(&frame.raw[9..]).into_iter().flatten() {
            if id != SETTING_HEADER_TABLE_SIZE {
                continue;
            }
            // The server's encoder may grow its table to what it reads here, and the relay
            // mirrors that table: the server reads no more than the relay mirrors.
            if value > MAX_MIRRORED_TABLE {
                clamp.push(9 + at + 2);
            }
            self.response_decoder
                .allow_table_size(value.min(MAX_MIRRORED_TABLE));
        }
        for at in clamp {
            frame.raw[at..at + 4].copy_from_slice(&MAX_MIRRORED_TABLE.to_be_bytes());
        }
        if self.pinned() {
            frame.pass(out, Side::Server);
        } else {
            self.before_pin.extend_from_slice(frame.raw);
        }
    }

    fn on_client_window_update(
        &mut self,
        mut frame: RawFrame<'_>,
        stream_id: u32,
        out: &mut Output,
    ) {
        if frame.raw.len() != 9 + 4 {
            let message = "a malformed WINDOW_UPDATE";
            self.fail_connection(FRAME_SIZE_ERROR, "http2-frame-error", message, out);
            return;
        }
        if stream_id == 0 {
            let increment =
                u32::from_be_bytes([frame.raw[9], frame.raw[10], frame.raw[11], frame.raw[12]])
                    & 0x7fff_ffff;
            // What the client gave back for DATA the gateway sent itself is not the server's.
            let kept = u64::from(increment).min(self.injected);
            self.injected -= kept;
            let share = increment - kept as u32;
            if share == 0 {
                return;
            }
            if share != increment {
                let mut update = Vec::with_capacity(13);
                update.extend_from_slice(&[0, 0, 4, TYPE_WINDOW_UPDATE, 0, 0, 0, 0, 0]);
                update.extend_from_slice(&share.to_be_bytes());
                if self.pinned() {
                    out.bytes(Side::Server, &update);
                } else {
                    self.before_pin.extend_from_slice(&update);
                }
            } else if self.pinned() {
                frame.pass(out, Side::Server);
            } else {
                self.before_pin.extend_from_slice(frame.raw);
            }
            return;
        }
        let Some(stream) = self.streams.get_mut(&stream_id) else {
            return;
        };
        match stream.state {
            State::Upstream => frame.relay(out, Side::Server, stream.upstream_id),
            State::Peeking | State::Routing => {
                stream.hold(frame.raw);
                self.held_bytes += frame.raw.len();
            }
            State::Answering => {}
        }
    }
}
