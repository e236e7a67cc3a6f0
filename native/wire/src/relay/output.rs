//! What one step of a pinned connection sends each way. Frames relayed unchanged stay where they
//! arrived (a range of the chunk being read, its stream id rewritten in place), so a response
//! streamed through the gateway is never copied; frames the relay makes or changes, and frames
//! that came in pieces, are written into one scratch buffer. Both sides get an ordered list of
//! pieces that the binding turns into socket writes.

use crate::frames::{
    FLAG_END_HEADERS, FLAG_END_STREAM, TYPE_CONTINUATION, TYPE_DATA, TYPE_HEADERS,
};

pub const TYPE_RST_STREAM: u8 = 0x3;
pub const TYPE_SETTINGS: u8 = 0x4;
pub const TYPE_PUSH_PROMISE: u8 = 0x5;
pub const TYPE_PING: u8 = 0x6;
pub const TYPE_GOAWAY: u8 = 0x7;
pub const TYPE_WINDOW_UPDATE: u8 = 0x8;
pub const FLAG_ACK: u8 = 0x1;

pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const INTERNAL_ERROR: u32 = 0x2;
pub const FRAME_SIZE_ERROR: u32 = 0x6;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const COMPRESSION_ERROR: u32 = 0x9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

pub const SETTING_HEADER_TABLE_SIZE: u16 = 0x1;
pub const SETTING_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTING_MAX_FRAME_SIZE: u16 = 0x5;

pub const CLIENT_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A run of bytes for one side: from the chunk being read, or from the scratch buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece {
    Input { start: usize, len: usize },
    Scratch { start: usize, len: usize },
}

/// The two sides of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// The bytes one step sends each way, and the scratch they may refer to.
#[derive(Default, Debug)]
pub struct Output {
    pub client: Vec<Piece>,
    pub server: Vec<Piece>,
    pub scratch: Vec<u8>,
}

impl Output {
    pub fn clear(&mut self) {
        self.client.clear();
        self.server.clear();
        self.scratch.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.client.is_empty() && self.server.is_empty()
    }

    fn pieces(&mut self, side: Side) -> &mut Vec<Piece> {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    /// Bytes of the chunk being read, sent as they are (after any rewrite in place).
    pub fn input(&mut self, side: Side, start: usize, len: usize) {
        if len == 0 {
            return;
        }
        let pieces = self.pieces(side);
        if let Some(Piece::Input { start: s, len: l }) = pieces.last_mut() {
            if *s + *l == start {
                *l += len;
                return;
            }
        }
        pieces.push(Piece::Input { start, len });
    }

    /// Marks the scratch written since `from` as the next bytes of `side`.
    fn scratch_since(&mut self, side: Side, from: usize) {
        let len = self.scratch.len() - from;
        if len == 0 {
            return;
        }
        let pieces = self.pieces(side);
        if let Some(Piece::Scratch { start: s, len: l }) = pieces.last_mut() {
            if *s + *l == from {
                *l += len;
                return;
            }
        }
        pieces.push(Piece::Scratch { start: from, len });
    }

    /// Bytes copied into the scratch buffer.
    pub fn bytes(&mut self, side: Side, bytes: &[u8]) {
        let from = self.scratch.len();
        self.scratch.extend_from_slice(bytes);
        self.scratch_since(side, from);
    }

    /// A frame with `stream_id` in place of the one in `raw`.
    pub fn frame_as(&mut self, side: Side, raw: &[u8], stream_id: u32) {
        let from = self.scratch.len();
        self.scratch.extend_from_slice(raw);
        self.scratch[from + 5..from + 9].copy_from_slice(&stream_id.to_be_bytes());
        self.scratch_since(side, from);
    }

    pub fn frame(&mut self, side: Side, frame_type: u8, flags: u8, stream_id: u32, payload: &[u8]) {
        let from = self.scratch.len();
        push_frame_header(
            &mut self.scratch,
            payload.len(),
            frame_type,
            flags,
            stream_id,
        );
        self.scratch.extend_from_slice(payload);
        self.scratch_since(side, from);
    }

    pub fn window_update(&mut self, side: Side, stream_id: u32, increment: u32) {
        if increment > 0 {
            self.frame(
                side,
                TYPE_WINDOW_UPDATE,
                0,
                stream_id,
                &increment.to_be_bytes(),
            );
        }
    }

    pub fn rst_stream(&mut self, side: Side, stream_id: u32, code: u32) {
        self.frame(side, TYPE_RST_STREAM, 0, stream_id, &code.to_be_bytes());
    }

    pub fn goaway(&mut self, side: Side, last_stream_id: u32, code: u32, debug: &str) {
        let mut payload = Vec::with_capacity(8 + debug.len());
        payload.extend_from_slice(&(last_stream_id & 0x7fff_ffff).to_be_bytes());
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(debug.as_bytes());
        self.frame(side, TYPE_GOAWAY, 0, 0, &payload);
    }

    pub fn settings(&mut self, side: Side, settings: &[(u16, u32)]) {
        let mut payload = Vec::with_capacity(settings.len() * 6);
        for (id, value) in settings {
            payload.extend_from_slice(&id.to_be_bytes());
            payload.extend_from_slice(&value.to_be_bytes());
        }
        self.frame(side, TYPE_SETTINGS, 0, 0, &payload);
    }

    /// A header block as HEADERS and the CONTINUATION frames it needs at `max_payload` each.
    pub fn header_frames(
        &mut self,
        side: Side,
        stream_id: u32,
        block: &[u8],
        end_stream: bool,
        max_payload: usize,
    ) {
        let from = self.scratch.len();
        let mut at = 0;
        let mut first = true;
        loop {
            let piece = &block[at..block.len().min(at + max_payload)];
            at += piece.len();
            let last = at >= block.len();
            let frame_type = if first {
                TYPE_HEADERS
            } else {
                TYPE_CONTINUATION
            };
            let mut flags = if last { FLAG_END_HEADERS } else { 0 };
            if first && end_stream {
                flags |= FLAG_END_STREAM;
            }
            push_frame_header(&mut self.scratch, piece.len(), frame_type, flags, stream_id);
            self.scratch.extend_from_slice(piece);
            first = false;
            if last {
                break;
            }
        }
        self.scratch_since(side, from);
    }

    /// A DATA frame (unpadded) carrying `payload`.
    pub fn data(&mut self, side: Side, stream_id: u32, payload: &[u8], end_stream: bool) {
        let flags = if end_stream { FLAG_END_STREAM } else { 0 };
        self.frame(side, TYPE_DATA, flags, stream_id, payload);
    }

    /// The bytes of `side` laid end to end, given the chunk the input pieces refer to (tests).
    pub fn side_bytes(&self, side: Side, input: &[u8]) -> Vec<u8> {
        let pieces = match side {
            Side::Client => &self.client,
            Side::Server => &self.server,
        };
        let mut out = Vec::new();
        for piece in pieces {
            match *piece {
                Piece::Input { start, len } => out.extend_from_slice(&input[start..start + len]),
                Piece::Scratch { start, len } => {
                    out.extend_from_slice(&self.scratch[start..start + len])
                }
            }
        }
        out
    }
}

fn push_frame_header(out: &mut Vec<u8>, len: usize, frame_type: u8, flags: u8, stream_id: u32) {
    let length = len as u32;
    out.extend_from_slice(&length.to_be_bytes()[1..]);
    out.push(frame_type);
    out.push(flags);
    out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
}

/// Rewrites the stream id of the frame whose header starts at `raw`.
pub fn set_stream_id(raw: &mut [u8], stream_id: u32) {
    raw[5..9].copy_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
}

/// The settings of a SETTINGS payload; None when its length is not a multiple of 6.
pub fn parse_settings(payload: &[u8]) -> Option<impl Iterator<Item = (usize, u16, u32)> + '_> {
    if !payload.len().is_multiple_of(6) {
        return None;
    }
    Some(payload.chunks_exact(6).enumerate().map(|(index, setting)| {
        let id = u16::from_be_bytes([setting[0], setting[1]]);
        let value = u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]]);
        (index * 6, id, value)
    }))
}
