//! HTTP/2 frames as bytes (RFC 9113 §4): a push parser that cuts a connection's byte stream into
//! whole frames, and `unpadded`, a frame's payload without its padding. It mirrors
//! `createFrameParser` and `unpadded` of `src/gateway/wire/h2-frames.ts`, errors included; what a
//! frame means to a call is decided by the relay that reads them.

use std::fmt;

pub const FRAME_HEADER_BYTES: usize = 9;
/// SETTINGS_MAX_FRAME_SIZE's initial value, and the least any peer may announce.
pub const DEFAULT_MAX_FRAME_PAYLOAD: u32 = 16_384;
/// The largest frame payload HTTP/2 can express (a 24-bit length).
pub const MAX_FRAME_PAYLOAD: u32 = 0xff_ffff;

pub const TYPE_DATA: u8 = 0x0;
pub const TYPE_HEADERS: u8 = 0x1;
pub const TYPE_CONTINUATION: u8 = 0x9;

pub const FLAG_END_STREAM: u8 = 0x1;
pub const FLAG_END_HEADERS: u8 = 0x4;
pub const FLAG_PADDED: u8 = 0x8;
pub const FLAG_PRIORITY: u8 = 0x20;

/// One whole frame, borrowed from the chunk it arrived in or from the parser that completed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub frame_type: u8,
    pub flags: u8,
    /// The stream id without the reserved bit.
    pub stream_id: u32,
    /// The payload, padding included (see `unpadded`).
    pub payload: &'a [u8],
    /// Header and payload as they arrived.
    pub raw: &'a [u8],
}

impl<'a> Frame<'a> {
    /// The frame in `raw`, which holds exactly its header and its payload.
    fn from_raw(raw: &'a [u8]) -> Self {
        Frame {
            frame_type: raw[3],
            flags: raw[4],
            stream_id: u32::from_be_bytes([raw[5], raw[6], raw[7], raw[8]]) & 0x7fff_ffff,
            payload: &raw[FRAME_HEADER_BYTES..],
            raw,
        }
    }
}

/// A frame longer than the parser accepts; the text is the TypeScript FrameSizeError's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSizeError {
    pub length: u32,
    pub limit: u32,
}

impl fmt::Display for FrameSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an HTTP/2 frame of {} bytes is larger than the {} allowed",
            self.length, self.limit
        )
    }
}

impl std::error::Error for FrameSizeError {}

/// A cut frame larger than this gives its buffer back once emitted, so one large frame does not
/// keep its memory for the rest of the connection.
const KEPT_CAPACITY: usize = FRAME_HEADER_BYTES + DEFAULT_MAX_FRAME_PAYLOAD as usize;

/// Cuts a byte stream into frames, whatever the boundaries of the chunks it is pushed in.
#[derive(Debug)]
pub struct FrameParser {
    max_payload: u32,
    // A frame cut by a chunk's end: its bytes so far, header first. Only a cut frame's bytes are
    // copied; `pending_total` is its whole size once its header is complete (and checked), 0
    // before. The buffer grows to the frame's size only after its length passed the check.
    pending: Vec<u8>,
    pending_total: usize,
    // A frame too large ends the connection: every later push reports it again rather than read
    // the rest of the stream from a position that is no longer a frame boundary.
    failed: Option<FrameSizeError>,
}

impl FrameParser {
    pub fn new(max_payload: u32) -> Self {
        FrameParser {
            max_payload,
            pending: Vec::new(),
            pending_total: 0,
            failed: None,
        }
    }

    /// The largest payload accepted, checked as soon as a frame's header is complete.
    pub fn max_payload(&self) -> u32 {
        self.max_payload
    }

    /// Changes the limit, as a peer's SETTINGS_MAX_FRAME_SIZE does; applies to frames whose
    /// header is not complete yet.
    pub fn set_max_payload(&mut self, max_payload: u32) {
        self.max_payload = max_payload;
    }

    /// Bytes of an incomplete frame held until the rest arrives.
    pub fn pending_bytes(&self) -> usize {
        self.pending.len()
    }

    /// Calls `on_frame` for every whole frame; a frame cut by the chunk's end waits for the next.
    /// Frames before an oversized one are emitted before the error is returned.
    pub fn push<F>(&mut self, chunk: &[u8], mut on_frame: F) -> Result<(), FrameSizeError>
    where
        F: FnMut(Frame<'_>),
    {
        if let Some(error) = self.failed {
            return Err(error);
        }
        let mut at = 0;
        if !self.pending.is_empty() {
            at = self.resume(chunk, &mut on_frame)?;
            if !self.pending.is_empty() {
                return Ok(());
            }
        }
        // Whole frames are passed on where they lie in the chunk, without a copy.
        while chunk.len() - at >= FRAME_HEADER_BYTES {
            let length = self.checked(payload_length(&chunk[at..]))?;
            let end = at + FRAME_HEADER_BYTES + length;
            if end > chunk.len() {
                break;
            }
            on_frame(Frame::from_raw(&chunk[at..end]));
            at = end;
        }
        // The rest is the start of a frame; copied, as the caller may reuse the chunk it gave.
        if at < chunk.len() {
            self.resume(&chunk[at..], &mut on_frame)?;
        }
        Ok(())
    }

    /// Goes on with a cut frame; returns how much of `chunk` it took.
    fn resume<F>(&mut self, chunk: &[u8], on_frame: &mut F) -> Result<usize, FrameSizeError>
    where
        F: FnMut(Frame<'_>),
    {
        let mut at = 0;
        if self.pending_total == 0 {
            let used = (FRAME_HEADER_BYTES - self.pending.len()).min(chunk.len());
            self.pending.extend_from_slice(&chunk[..used]);
            at = used;
            if self.pending.len() < FRAME_HEADER_BYTES {
                return Ok(at);
            }
            let length = self.checked(payload_length(&self.pending))?;
            self.pending.reserve_exact(length);
            self.pending_total = FRAME_HEADER_BYTES + length;
        }
        let used = (self.pending_total - self.pending.len()).min(chunk.len() - at);
        self.pending.extend_from_slice(&chunk[at..at + used]);
        at += used;
        if self.pending.len() == self.pending_total {
            on_frame(Frame::from_raw(&self.pending));
            self.pending_total = 0;
            if self.pending.capacity() > KEPT_CAPACITY {
                self.pending = Vec::new();
            } else {
                self.pending.clear();
            }
        }
        Ok(at)
    }

    fn checked(&mut self, length: u32) -> Result<usize, FrameSizeError> {
        if length > self.max_payload {
            let error = FrameSizeError {
                length,
                limit: self.max_payload,
            };
            self.failed = Some(error);
            return Err(error);
        }
        Ok(length as usize)
    }
}

/// Where a whole frame is: in the chunk pushed (its bytes may be changed in place there), or
/// copied out of the parser because it came in pieces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Located {
    Chunk { start: usize, len: usize },
    Owned(Vec<u8>),
}

impl FrameParser {
    /// [`FrameParser::push`], saying where each frame is rather than lending it, so that the
    /// caller may change the chunk while it reads the frames.
    pub fn push_located(
        &mut self,
        chunk: &[u8],
        out: &mut Vec<Located>,
    ) -> Result<(), FrameSizeError> {
        let base = chunk.as_ptr() as usize;
        let end = base + chunk.len();
        self.push(chunk, |frame| {
            let at = frame.raw.as_ptr() as usize;
            if at >= base && at + frame.raw.len() <= end && !frame.raw.is_empty() {
                out.push(Located::Chunk {
                    start: at - base,
                    len: frame.raw.len(),
                });
            } else {
                out.push(Located::Owned(frame.raw.to_vec()));
            }
        })
    }
}

/// The frame whose header and payload are exactly `raw`.
pub fn frame_of(raw: &[u8]) -> Frame<'_> {
    Frame::from_raw(raw)
}

/// The 24-bit length at the start of a frame header.
fn payload_length(header: &[u8]) -> u32 {
    u32::from_be_bytes([0, header[0], header[1], header[2]])
}

/// A frame's payload without its padding (and, for HEADERS, its priority fields); None when the
/// frame is too short for what its flags announce.
pub fn unpadded<'a>(frame: &Frame<'a>) -> Option<&'a [u8]> {
    let payload = frame.payload;
    let priority = frame.frame_type == TYPE_HEADERS && frame.flags & FLAG_PRIORITY != 0;
    if frame.flags & FLAG_PADDED == 0 {
        if priority {
            return payload.get(5..);
        }
        return Some(payload);
    }
    let padding = usize::from(*payload.first()?);
    let start = if priority { 6 } else { 1 };
    let end = payload.len().checked_sub(padding)?;
    if end < start {
        return None;
    }
    Some(&payload[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(frame_type: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
        let length = payload.len() as u32;
        let mut raw = length.to_be_bytes()[1..].to_vec();
        raw.push(frame_type);
        raw.push(flags);
        raw.extend_from_slice(&stream_id.to_be_bytes());
        raw.extend_from_slice(payload);
        raw
    }

    #[derive(Debug, PartialEq, Eq)]
    struct Seen {
        frame_type: u8,
        flags: u8,
        stream_id: u32,
        payload: Vec<u8>,
        raw: Vec<u8>,
    }

    fn seen(frame: Frame<'_>) -> Seen {
        Seen {
            frame_type: frame.frame_type,
            flags: frame.flags,
            stream_id: frame.stream_id,
            payload: frame.payload.to_vec(),
            raw: frame.raw.to_vec(),
        }
    }

    /// Pushes `pieces` in order; each is scribbled over once pushed, as a socket may reuse it.
    fn parse_in(
        max_payload: u32,
        pieces: &[&[u8]],
    ) -> (Vec<Seen>, Result<(), FrameSizeError>, usize) {
        let mut parser = FrameParser::new(max_payload);
        let mut frames = Vec::new();
        for piece in pieces {
            let mut chunk = piece.to_vec();
            let result = parser.push(&chunk, |frame| frames.push(seen(frame)));
            chunk.fill(0xee);
            if result.is_err() {
                return (frames, result, parser.pending_bytes());
            }
        }
        (frames, Ok(()), parser.pending_bytes())
    }

    /// Frames of every size class: empty, a few bytes, and larger than the pieces they are cut in.
    fn sample() -> Vec<Vec<u8>> {
        vec![
            encode(0x4, 1, 0, &[]),
            encode(TYPE_HEADERS, 4, 1, &[1, 2, 3, 4, 5]),
            encode(TYPE_DATA, 1, 3, &[7; 3000]),
            encode(0x8, 0, 0, &[0, 1, 0, 0]),
            encode(TYPE_DATA, 0, 0x7fff_fffd, b"last"),
        ]
    }

    fn expected(frames: &[Vec<u8>]) -> Vec<Seen> {
        frames
            .iter()
            .map(|raw| seen(Frame::from_raw(raw)))
            .collect()
    }

    /// A small deterministic generator (xorshift64*), so a failing case replays from its seed.
    struct Prng(u64);

    impl Prng {
        fn below(&mut self, bound: usize) -> usize {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % bound
        }
    }

    #[test]
    fn parses_frames_in_one_chunk() {
        let frames = sample();
        let all = frames.concat();
        let (seen, result, pending) = parse_in(16_384, &[&all]);
        assert_eq!(result, Ok(()));
        assert_eq!(seen, expected(&frames));
        assert_eq!(pending, 0);
    }

    #[test]
    fn parses_frames_cut_at_every_point() {
        let frames = sample();
        let all = frames.concat();
        for cut in 0..=all.len() {
            let (seen, result, pending) = parse_in(16_384, &[&all[..cut], &all[cut..]]);
            assert_eq!(result, Ok(()), "cut at {cut}");
            assert_eq!(seen, expected(&frames), "cut at {cut}");
            assert_eq!(pending, 0, "cut at {cut}");
        }
    }

    #[test]
    fn parses_frames_cut_at_every_pair_of_points() {
        // Small frames, so that every pair of cuts stays quick.
        let frames = vec![
            encode(0x4, 1, 0, &[]),
            encode(TYPE_HEADERS, 4, 1, &[1, 2, 3, 4, 5]),
            encode(TYPE_DATA, 1, 3, &[9; 20]),
            encode(0x6, 0, 0, &[1; 8]),
        ];
        let all = frames.concat();
        for first in 0..=all.len() {
            for second in first..=all.len() {
                let pieces = [&all[..first], &all[first..second], &all[second..]];
                let (seen, result, _) = parse_in(16_384, &pieces);
                assert_eq!(result, Ok(()), "cuts at {first}, {second}");
                assert_eq!(seen, expected(&frames), "cuts at {first}, {second}");
            }
        }
    }

    #[test]
    fn parses_frames_fed_one_byte_at_a_time() {
        let frames = sample();
        let all = frames.concat();
        let mut parser = FrameParser::new(16_384);
        let mut got = Vec::new();
        for (index, byte) in all.iter().enumerate() {
            parser
                .push(std::slice::from_ref(byte), |frame| got.push(seen(frame)))
                .unwrap();
            let emitted: usize = got.iter().map(|frame| frame.raw.len()).sum();
            assert_eq!(parser.pending_bytes(), index + 1 - emitted);
        }
        assert_eq!(got, expected(&frames));
    }

    #[test]
    fn holds_an_incomplete_frame_across_empty_chunks() {
        let frame = encode(TYPE_DATA, 0, 5, b"abc");
        let (seen, result, pending) = parse_in(16_384, &[&frame[..4], &[], &frame[4..10], &[]]);
        assert_eq!(result, Ok(()));
        assert!(seen.is_empty());
        assert_eq!(pending, 10);
        let (seen, _, pending) = parse_in(16_384, &[&frame[..4], &[], &frame[4..], &[]]);
        assert_eq!(seen, expected(&[frame]));
        assert_eq!(pending, 0);
    }

    #[test]
    fn masks_the_reserved_bit_of_the_stream_id() {
        let mut frame = encode(TYPE_DATA, 0, 0x7fff_ffff, b"x");
        frame[5] |= 0x80;
        let (seen, _, _) = parse_in(16_384, &[&frame]);
        assert_eq!(seen[0].stream_id, 0x7fff_ffff);
    }

    #[test]
    fn accepts_a_payload_of_exactly_the_limit() {
        let frame = encode(TYPE_DATA, 0, 1, &[1; 100]);
        for cut in 0..=frame.len() {
            let (seen, result, _) = parse_in(100, &[&frame[..cut], &frame[cut..]]);
            assert_eq!(result, Ok(()));
            assert_eq!(seen.len(), 1);
        }
    }

    #[test]
    fn refuses_a_frame_over_the_limit_once_its_header_is_complete() {
        let small = encode(TYPE_DATA, 0, 1, &[1; 10]);
        let large = encode(TYPE_DATA, 0, 1, &[2; 101]);
        let all = [small.clone(), large].concat();
        let error = FrameSizeError {
            length: 101,
            limit: 100,
        };
        assert_eq!(
            error.to_string(),
            "an HTTP/2 frame of 101 bytes is larger than the 100 allowed"
        );
        for cut in 0..=all.len() {
            let (seen, result, _) = parse_in(100, &[&all[..cut], &all[cut..]]);
            assert_eq!(result, Err(error), "cut at {cut}");
            assert_eq!(seen, expected(std::slice::from_ref(&small)), "cut at {cut}");
        }
        // Only the header is needed to refuse it: the payload is never awaited nor collected.
        let header_end = small.len() + FRAME_HEADER_BYTES;
        let (_, result, _) = parse_in(100, &[&all[..header_end]]);
        assert_eq!(result, Err(error));
        let (_, result, pending) = parse_in(
            100,
            &[&all[..header_end - 4], &all[header_end - 4..header_end]],
        );
        assert_eq!(result, Err(error));
        assert_eq!(pending, FRAME_HEADER_BYTES);
        let (_, result, _) = parse_in(100, &[&all[..small.len() + FRAME_HEADER_BYTES - 1]]);
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn keeps_failing_after_a_frame_over_the_limit() {
        let mut parser = FrameParser::new(4);
        let large = encode(TYPE_DATA, 0, 1, &[0; 5]);
        let error = parser.push(&large, |_| ()).unwrap_err();
        let small = encode(TYPE_DATA, 0, 1, &[0; 1]);
        let mut emitted = 0;
        assert_eq!(parser.push(&small, |_| emitted += 1), Err(error));
        assert_eq!(emitted, 0);
    }

    #[test]
    fn applies_a_changed_limit_to_the_next_header() {
        let frame = encode(TYPE_DATA, 0, 1, &[0; 50]);
        let mut parser = FrameParser::new(10);
        parser.push(&frame[..5], |_| ()).unwrap();
        parser.set_max_payload(50);
        assert_eq!(parser.max_payload(), 50);
        let mut count = 0;
        parser.push(&frame[5..], |_| count += 1).unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn gives_back_the_buffer_of_a_large_cut_frame() {
        let frame = encode(TYPE_DATA, 0, 1, &[3; 100_000]);
        let mut parser = FrameParser::new(MAX_FRAME_PAYLOAD);
        parser.push(&frame[..50_000], |_| ()).unwrap();
        let mut got = Vec::new();
        parser
            .push(&frame[50_000..], |frame| got.push(seen(frame)))
            .unwrap();
        assert_eq!(got, expected(&[frame]));
        assert_eq!(parser.pending.capacity(), 0);
    }

    #[test]
    fn parses_random_streams_in_random_pieces() {
        let mut random = Prng(0x5eed_1234_abcd_0001);
        let mut refused = 0;
        let mut whole = 0;
        for _ in 0..500 {
            let max_payload = 1 + random.below(300) as u32;
            let mut frames = Vec::new();
            for _ in 0..random.below(8) {
                let length = random.below(max_payload as usize + 40);
                let payload: Vec<u8> = (0..length).map(|_| random.below(256) as u8).collect();
                let stream_id = random.below(1 << 31) as u32 | ((random.below(2) as u32) << 31);
                frames.push(encode(
                    random.below(10) as u8,
                    random.below(256) as u8,
                    stream_id,
                    &payload,
                ));
            }
            let mut all = frames.concat();
            // Sometimes a frame cut off at the end of the stream.
            let cut_end = random.below(4) == 0 && !all.is_empty();
            if cut_end {
                all.truncate(all.len() - 1 - random.below(all.len()));
            }
            let mut pieces = Vec::new();
            let mut at = 0;
            while at < all.len() {
                let size = (1 + random.below(64)).min(all.len() - at);
                pieces.push(&all[at..at + size]);
                at += size;
            }
            let (seen, result, _) = parse_in(max_payload, &pieces);
            // What a single pass over the bytes expects: frames up to the first too long, or
            // up to the first the stream's end cuts off.
            let mut want = Vec::new();
            let mut want_result = Ok(());
            let mut at = 0;
            while all.len() - at >= FRAME_HEADER_BYTES {
                let length = payload_length(&all[at..]);
                if length > max_payload {
                    want_result = Err(FrameSizeError {
                        length,
                        limit: max_payload,
                    });
                    break;
                }
                let end = at + FRAME_HEADER_BYTES + length as usize;
                if end > all.len() {
                    break;
                }
                want.push(seen_of(&all[at..end]));
                at = end;
            }
            assert_eq!(seen, want);
            assert_eq!(result, want_result);
            if result.is_err() {
                refused += 1;
            } else {
                whole += 1;
            }
        }
        // Both outcomes in numbers, so that the comparison above is not vacuous.
        assert!(
            refused > 50 && whole > 50,
            "refused {refused}, whole {whole}"
        );
    }

    fn seen_of(raw: &[u8]) -> Seen {
        seen(Frame::from_raw(raw))
    }

    fn frame<'a>(frame_type: u8, flags: u8, payload: &'a [u8]) -> Frame<'a> {
        Frame {
            frame_type,
            flags,
            stream_id: 1,
            payload,
            raw: payload,
        }
    }

    #[test]
    fn unpads_data_and_headers() {
        let plain: &[u8] = b"abc";
        assert_eq!(unpadded(&frame(TYPE_DATA, 0, plain)), Some(plain));
        // PRIORITY means nothing on DATA.
        assert_eq!(
            unpadded(&frame(TYPE_DATA, FLAG_PRIORITY, plain)),
            Some(plain)
        );
        let padded: &[u8] = &[2, b'a', b'b', 0, 0];
        assert_eq!(
            unpadded(&frame(TYPE_DATA, FLAG_PADDED, padded)),
            Some(&b"ab"[..])
        );
        let all_padding: &[u8] = &[4, 0, 0, 0, 0];
        assert_eq!(
            unpadded(&frame(TYPE_DATA, FLAG_PADDED, all_padding)),
            Some(&[][..])
        );
        let prioritized: &[u8] = &[0, 0, 0, 3, 16, b'h'];
        assert_eq!(
            unpadded(&frame(TYPE_HEADERS, FLAG_PRIORITY, prioritized)),
            Some(&b"h"[..])
        );
        let both: &[u8] = &[1, 0, 0, 0, 3, 16, b'h', 0];
        assert_eq!(
            unpadded(&frame(TYPE_HEADERS, FLAG_PADDED | FLAG_PRIORITY, both)),
            Some(&b"h"[..])
        );
        let empty_block: &[u8] = &[0, 0, 0, 0, 3, 16];
        assert_eq!(
            unpadded(&frame(
                TYPE_HEADERS,
                FLAG_PADDED | FLAG_PRIORITY,
                empty_block
            )),
            Some(&[][..])
        );
    }

    #[test]
    fn refuses_padding_or_priority_longer_than_the_frame() {
        assert_eq!(unpadded(&frame(TYPE_DATA, FLAG_PADDED, &[])), None);
        assert_eq!(unpadded(&frame(TYPE_DATA, FLAG_PADDED, &[1])), None);
        assert_eq!(
            unpadded(&frame(TYPE_DATA, FLAG_PADDED, &[5, 0, 0, 0, 0])),
            None
        );
        assert_eq!(unpadded(&frame(TYPE_DATA, FLAG_PADDED, &[255])), None);
        assert_eq!(unpadded(&frame(TYPE_HEADERS, FLAG_PRIORITY, &[0; 4])), None);
        assert_eq!(
            unpadded(&frame(TYPE_HEADERS, FLAG_PADDED | FLAG_PRIORITY, &[0; 5])),
            None
        );
        assert_eq!(
            unpadded(&frame(
                TYPE_HEADERS,
                FLAG_PADDED | FLAG_PRIORITY,
                &[1, 0, 0, 0, 0, 0]
            )),
            None
        );
    }
}
