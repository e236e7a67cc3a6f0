//! The server's half of a pinned connection, as response-side.ts: its frames go to the client as
//! they came, stream ids mapped back, read along only for what a call record needs (response
//! headers and trailers, the first response message's ids) and what the client may now send.
//!
//! Header blocks pass as they came while the client's HPACK table follows the server's encoder.
//! It stops following when a block that changed the server's table cannot go to the client, or
//! when the relay must change a block (it names the backend token): from then on every block is
//! decoded and re-encoded without the dynamic table. With a backend token, response bytes pass
//! through a masker that keeps the token out of them.

use crate::frames::{frame_of, unpadded, Located, FLAG_END_HEADERS, FLAG_END_STREAM};
use crate::frames::{DEFAULT_MAX_FRAME_PAYLOAD, MAX_FRAME_PAYLOAD, TYPE_CONTINUATION};
use crate::frames::{TYPE_DATA, TYPE_HEADERS};
use crate::hpack::BlockEncoder;
use crate::mask::{header_names_secret, mask_header_value, mask_in_text, Masked};

use super::headers::HeaderList;
use super::output::*;
use super::requests::RawFrame;
use super::{Engine, Event, MAX_MIRRORED_TABLE};

/// A response header block still waiting for its CONTINUATION frames: the block so far and the
/// frames as they came (relayed unchanged unless the block is re-encoded).
pub(super) struct OpenBlock {
    stream_id: u32,
    end_stream: bool,
    block: Vec<u8>,
    frames: Vec<u8>,
    starts: Vec<usize>,
}

/// What the relay reads of a response header block.
pub(super) struct ResponseBlock {
    /// The last grpc-status and grpc-message in it, as read on a trailers block.
    status: Option<i32>,
    message: Option<Vec<u8>>,
    /// All fields, when the block may be re-encoded (re-encoding, or a backend token to check).
    fields: Option<HeaderList>,
    leading_updates: Vec<u8>,
    table_changed: bool,
}

/// The leading dynamic table size updates of a header block, which a re-encoded block keeps.
fn leading_size_updates(block: &[u8]) -> &[u8] {
    let mut at = 0;
    while at < block.len() && block[at] & 0xe0 == 0x20 {
        let prefix = block[at] & 0x1f;
        at += 1;
        if prefix == 0x1f {
            while at < block.len() {
                let byte = block[at];
                at += 1;
                if byte & 0x80 == 0 {
                    break;
                }
            }
        }
    }
    &block[..at.min(block.len())]
}

impl Engine {
    /// Bytes the server sent. `chunk` may be changed in place: the output refers to it.
    pub fn server_bytes(&mut self, chunk: &mut [u8], now: f64, out: &mut Output) {
        self.now = now;
        if self.closed {
            return;
        }
        let mut located = std::mem::take(&mut self.located);
        located.clear();
        let parsed = self.response_frames.push_located(chunk, &mut located);
        let mut failure = parsed.err().map(|error| error.to_string());
        for place in located.drain(..) {
            if self.closed {
                break;
            }
            let handled = match place {
                Located::Chunk { start, len } => self.on_server_frame(
                    RawFrame {
                        raw: &mut chunk[start..start + len],
                        at: Some(start),
                    },
                    out,
                ),
                Located::Owned(mut raw) => self.on_server_frame(
                    RawFrame {
                        raw: &mut raw,
                        at: None,
                    },
                    out,
                ),
            };
            if let Err(message) = handled {
                failure = Some(message);
                break;
            }
        }
        self.located = located;
        if let Some(message) = failure {
            let authority =
                String::from_utf8_lossy(self.authority.as_deref().unwrap_or(b"?")).into_owned();
            let detail = format!(
                "the Spark Connect server {authority} sent what the gateway cannot relay: Error: {message}"
            );
            self.events.push(Event::RelayFailed {
                detail: detail.clone(),
            });
            self.fail_connection(INTERNAL_ERROR, "relay-failed", &detail, out);
        }
    }

    fn on_server_frame(&mut self, mut frame: RawFrame<'_>, out: &mut Output) -> Result<(), String> {
        let (frame_type, flags, stream_id) = {
            let parsed = frame_of(frame.raw);
            (parsed.frame_type, parsed.flags, parsed.stream_id)
        };
        if self.response_block.is_some() || frame_type == TYPE_HEADERS {
            return self.on_response_header_frame(frame, out);
        }
        match frame_type {
            TYPE_DATA => self.on_response_data(frame, out),
            TYPE_RST_STREAM => {
                self.on_server_reset(frame, stream_id, out);
                Ok(())
            }
            TYPE_SETTINGS => {
                if flags & FLAG_ACK == 0 {
                    self.on_server_settings(&mut frame);
                }
                frame.pass(out, Side::Client);
                Ok(())
            }
            TYPE_WINDOW_UPDATE => {
                if stream_id == 0 {
                    frame.pass(out, Side::Client);
                } else if let Some(&client_id) = self.by_upstream_id.get(&stream_id) {
                    frame.relay(out, Side::Client, client_id);
                }
                Ok(())
            }
            TYPE_PING => {
                frame.pass(out, Side::Client);
                Ok(())
            }
            TYPE_GOAWAY => {
                self.on_server_goaway(frame.raw, out);
                Ok(())
            }
            TYPE_CONTINUATION => Err("the server sent CONTINUATION without HEADERS".to_owned()),
            TYPE_PUSH_PROMISE => Err("the server sent PUSH_PROMISE".to_owned()),
            _ => Ok(()),
        }
    }

    fn on_response_header_frame(
        &mut self,
        frame: RawFrame<'_>,
        out: &mut Output,
    ) -> Result<(), String> {
        let parsed = frame_of(frame.raw);
        match self.response_block.take() {
            None => {
                if parsed.frame_type != TYPE_HEADERS {
                    return Err("a CONTINUATION frame without HEADERS".to_owned());
                }
                let part = match unpadded(&parsed) {
                    Some(part) if parsed.stream_id != 0 => part,
                    _ => return Err("a malformed HEADERS frame".to_owned()),
                };
                let end_stream = parsed.flags & FLAG_END_STREAM != 0;
                if parsed.flags & FLAG_END_HEADERS != 0 {
                    let stream_id = parsed.stream_id;
                    let block = self.decode_response_block(part)?;
                    let mut frames = [frame];
                    return self.on_response_header_block(
                        stream_id,
                        end_stream,
                        block,
                        &mut frames,
                        out,
                    );
                }
                self.response_block = Some(OpenBlock {
                    stream_id: parsed.stream_id,
                    end_stream,
                    block: part.to_vec(),
                    frames: frame.raw.to_vec(),
                    starts: vec![0],
                });
                Ok(())
            }
            Some(mut open) => {
                if parsed.frame_type != TYPE_CONTINUATION || parsed.stream_id != open.stream_id {
                    return Err("a header block was cut off by another frame".to_owned());
                }
                open.block.extend_from_slice(parsed.payload);
                open.starts.push(open.frames.len());
                open.frames.extend_from_slice(frame.raw);
                if parsed.flags & FLAG_END_HEADERS == 0 {
                    self.response_block = Some(open);
                    return Ok(());
                }
                let OpenBlock {
                    stream_id,
                    end_stream,
                    block,
                    mut frames,
                    starts,
                } = open;
                let decoded = self.decode_response_block(&block)?;
                let mut pieces = split_frames(&mut frames, &starts);
                self.on_response_header_block(stream_id, end_stream, decoded, &mut pieces, out)
            }
        }
    }

    /// Decodes a whole response header block: the server's HPACK table changes whatever becomes
    /// of it. The fields are kept only when the block may have to be re-encoded.
    fn decode_response_block(&mut self, block: &[u8]) -> Result<ResponseBlock, String> {
        let changes = self.response_decoder.table_changes();
        let keep = self.reencoding || self.config.backend_token.is_some();
        let mut decoded = ResponseBlock {
            status: None,
            message: None,
            fields: keep.then(HeaderList::with_capacity),
            leading_updates: if keep {
                leading_size_updates(block).to_vec()
            } else {
                Vec::new()
            },
            table_changed: false,
        };
        self.response_decoder
            .decode_with(block, |name, value| {
                if name == b"grpc-status" {
                    decoded.status = Some(grpc_status_number(value));
                } else if name == b"grpc-message" {
                    decoded.message = Some(value.to_vec());
                }
                if let Some(fields) = &mut decoded.fields {
                    fields.push(name, value);
                }
            })
            .map_err(|error| error.message)?;
        decoded.table_changed = self.response_decoder.table_changes() != changes;
        Ok(decoded)
    }

    fn on_response_header_block(
        &mut self,
        upstream_id: u32,
        end_stream: bool,
        block: ResponseBlock,
        frames: &mut [RawFrame<'_>],
        out: &mut Output,
    ) -> Result<(), String> {
        let Some(&client_id) = self.by_upstream_id.get(&upstream_id) else {
            if block.table_changed {
                self.reencoding = true;
            }
            return Ok(());
        };
        let token = self.config.backend_token.as_deref();
        if let (false, Some(token), Some(fields)) = (self.reencoding, token, &block.fields) {
            if fields.iter().any(|(n, v)| header_names_secret(n, v, token)) {
                self.reencoding = true;
            }
        }
        let Some(stream) = self.streams.get_mut(&client_id) else {
            return Ok(());
        };
        let trailer_block = stream.response_started || end_stream;
        stream.response_started = true;
        // Bytes the masker held back were not the token after all: the message ends with the call.
        if let Some(masker) = &mut stream.masker {
            let held = masker.flush();
            if !held.is_empty() {
                out.data(Side::Client, client_id, &held, false);
            }
        }
        if let (true, Some(fields)) = (self.reencoding, &block.fields) {
            let mut encoder = BlockEncoder::new();
            let mut reencoded = block.leading_updates.clone();
            for (name, value) in fields.iter() {
                match token {
                    None => encoder.push(name, value),
                    Some(token) => {
                        let name = mask_in_text(name, token).unwrap_or_else(|| name.to_vec());
                        let value = mask_header_value(&name, value, token)
                            .unwrap_or_else(|| value.to_vec());
                        encoder.push(&name, &value);
                    }
                }
            }
            reencoded.extend_from_slice(encoder.block());
            let max = DEFAULT_MAX_FRAME_PAYLOAD as usize;
            out.header_frames(Side::Client, client_id, &reencoded, end_stream, max);
        } else {
            for frame in frames.iter_mut() {
                frame.relay(out, Side::Client, client_id);
            }
        }
        if trailer_block {
            if let Some(status) = block.status {
                stream.status = status;
            }
            if let Some(message) = block.message {
                stream.message = message;
            }
        }
        if end_stream {
            self.upstream_ended(client_id, out);
        }
        Ok(())
    }

    fn on_response_data(
        &mut self,
        mut frame: RawFrame<'_>,
        out: &mut Output,
    ) -> Result<(), String> {
        let parsed = frame_of(frame.raw);
        let (upstream_id, flags, payload_len) =
            (parsed.stream_id, parsed.flags, parsed.payload.len());
        let Some((start, end)) = unpadded(&parsed).map(|payload| {
            let start = payload.as_ptr() as usize - frame.raw.as_ptr() as usize;
            (start, start + payload.len())
        }) else {
            return Err("the server sent a malformed DATA frame".to_owned());
        };
        let Some(&client_id) = self.by_upstream_id.get(&upstream_id) else {
            // The call is over for the client: the server gets its flow-control credit back.
            out.window_update(Side::Server, 0, payload_len as u32);
            return Ok(());
        };
        let Some(stream) = self.streams.get_mut(&client_id) else {
            return Ok(());
        };
        stream.response_started = true;
        stream.bytes_out += (end - start) as u64;
        if let Some(scan) = &mut stream.response_scan {
            if !scan.done() {
                scan.push(&frame.raw[start..end]);
            }
        }
        let end_stream = flags & FLAG_END_STREAM != 0;
        match &mut stream.masker {
            None => frame.relay(out, Side::Client, client_id),
            Some(masker) => {
                let masked = masker.push(&mut frame.raw[start..end]);
                let padding = (payload_len - (end - start)) as u32;
                let mut send = match masked {
                    Masked::InPlace if padding == 0 && !(end_stream && masker.held_bytes() > 0) => {
                        frame.relay(out, Side::Client, client_id);
                        None
                    }
                    Masked::InPlace => Some(frame.raw[start..end].to_vec()),
                    Masked::Replaced(bytes) => Some(bytes),
                };
                if let Some(bytes) = &mut send {
                    if end_stream && masker.held_bytes() > 0 {
                        bytes.extend_from_slice(&masker.flush());
                    }
                    if !bytes.is_empty() || end_stream {
                        out.data(Side::Client, client_id, bytes, end_stream);
                    }
                    // Sent without its padding, which the client so never gives credit for.
                    if padding > 0 {
                        out.window_update(Side::Server, 0, padding);
                        if !end_stream {
                            out.window_update(Side::Server, upstream_id, padding);
                        }
                    }
                }
            }
        }
        if end_stream {
            self.upstream_ended(client_id, out);
        }
        Ok(())
    }

    fn on_server_reset(&mut self, mut frame: RawFrame<'_>, upstream_id: u32, out: &mut Output) {
        let Some(&client_id) = self.by_upstream_id.get(&upstream_id) else {
            return;
        };
        frame.relay(out, Side::Client, client_id);
        let Some(stream) = self.streams.get_mut(&client_id) else {
            return;
        };
        if stream.status == -1 {
            let payload = &frame.raw[9..];
            let code: i64 = if payload.len() == 4 {
                i64::from(u32::from_be_bytes([
                    payload[0], payload[1], payload[2], payload[3],
                ]))
            } else {
                -1
            };
            stream.status = if code == i64::from(CANCEL) { 1 } else { 13 };
            stream.message =
                format!("the Spark Connect server reset the call (HTTP/2 error {code})")
                    .into_bytes();
        }
        self.upstream_ended(client_id, out);
    }

    fn on_server_settings(&mut self, frame: &mut RawFrame<'_>) {
        let mut clamp = Vec::new();
        let limit = self.config.max_concurrent_streams;
        let mut table_size = None;
        for (at, id, value) in parse_settings(&frame.raw[9..]).into_iter().flatten() {
            // The client is held to the gateway's stream limit, as on a terminated connection.
            if id == SETTING_MAX_CONCURRENT_STREAMS && value > limit {
                clamp.push((9 + at + 2, limit));
            }
            // The client's encoder may grow its table to what it reads here, and the relay
            // mirrors that table: the client reads no more than the relay mirrors.
            if id == SETTING_HEADER_TABLE_SIZE {
                table_size = Some(value);
                if value > MAX_MIRRORED_TABLE {
                    clamp.push((9 + at + 2, MAX_MIRRORED_TABLE));
                }
                self.request_decoder
                    .allow_table_size(value.min(MAX_MIRRORED_TABLE));
            }
            if id == SETTING_MAX_FRAME_SIZE {
                let max = value.clamp(DEFAULT_MAX_FRAME_PAYLOAD, MAX_FRAME_PAYLOAD);
                self.request_frames.set_max_payload(max);
            }
        }
        for (at, value) in clamp {
            frame.raw[at..at + 4].copy_from_slice(&value.to_be_bytes());
        }
        // The gateway's own encoder writes every request block the server reads.
        self.encoder.peer_settings(table_size);
    }

    fn on_server_goaway(&mut self, raw: &[u8], out: &mut Output) {
        let payload = &raw[9..];
        let last = if payload.len() >= 8 {
            u32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) & 0x7fff_ffff
        } else {
            0
        };
        // Calls the server will not process are answered; the client goes to a new connection.
        let mut untaken: Vec<(u32, u32)> = self
            .by_upstream_id
            .iter()
            .filter(|(&upstream_id, _)| upstream_id > last)
            .map(|(&upstream_id, &client_id)| (upstream_id, client_id))
            .collect();
        untaken.sort_unstable();
        let authority =
            String::from_utf8_lossy(self.authority.as_deref().unwrap_or(b"?")).into_owned();
        for (_, client_id) in untaken {
            let message = format!(
                "the Spark Connect server {authority} is shutting down and did not take the call; retry it"
            );
            self.answer_fault(client_id, "GW_BACKEND_UNREACHABLE", message, out);
        }
        self.go_away(
            self.last_client_id,
            "the Spark Connect server is going away",
            out,
        );
    }

    /// The server ended the call (END_STREAM or RST_STREAM).
    fn upstream_ended(&mut self, client_id: u32, out: &mut Output) {
        if let Some(stream) = self.streams.get_mut(&client_id) {
            if stream.status == -1 {
                let authority = String::from_utf8_lossy(self.authority.as_deref().unwrap_or(b"?"));
                stream.status = 2;
                stream.message = format!(
                    "the Spark Connect server {authority} ended the call without a gRPC status"
                )
                .into_bytes();
            }
        }
        self.finish(client_id, out);
        self.maybe_end();
    }
}

/// The frames of a block that came in several, each as its own mutable piece.
fn split_frames<'a>(frames: &'a mut [u8], starts: &[usize]) -> Vec<RawFrame<'a>> {
    let mut pieces = Vec::with_capacity(starts.len());
    let mut rest = frames;
    for index in 0..starts.len() {
        let len = match starts.get(index + 1) {
            Some(next) => next - starts[index],
            None => rest.len(),
        };
        let (piece, tail) = rest.split_at_mut(len);
        pieces.push(RawFrame {
            raw: piece,
            at: None,
        });
        rest = tail;
    }
    pieces
}

/// A grpc-status value as `Number()` reads it (blank is 0); one that is not a number is UNKNOWN.
fn grpc_status_number(value: &[u8]) -> i32 {
    let text = std::str::from_utf8(value).unwrap_or("x").trim();
    if text.is_empty() {
        return 0;
    }
    text.parse::<i32>().unwrap_or(2)
}
