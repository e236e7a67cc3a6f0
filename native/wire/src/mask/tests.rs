//! The masker over responses cut at every point and at random, against masking each message
//! whole: what it sends, holds and gives back.

use super::*;

pub(super) const SECRET: &[u8] = b"backend-token-0123456789abcdef";

pub(super) fn mask_of(secret: &[u8]) -> Vec<u8> {
    vec![b'*'; secret.len()]
}

/// A gRPC message (uncompressed) with `body`.
fn message(body: &[u8]) -> Vec<u8> {
    let mut message = vec![0];
    message.extend_from_slice(&(body.len() as u32).to_be_bytes());
    message.extend_from_slice(body);
    message
}

/// Where each whole message of `stream` ends.
fn message_ends(stream: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    while let Some(prefix) = stream.get(at..at + 5) {
        at += 5 + u32::from_be_bytes(prefix[1..].try_into().unwrap()) as usize;
        if at > stream.len() {
            break;
        }
        ends.push(at);
    }
    ends
}

/// What a client gets when `stream` arrives cut at `cuts` (ascending): what each push let go,
/// then what `flush` gives back. After each push, whatever is held must be a possible start of
/// the secret inside the message still open.
fn through(masker: &mut SecretMasker, stream: &[u8], cuts: &[usize]) -> Vec<u8> {
    let ends = message_ends(stream);
    let mut out = Vec::new();
    let mut from = 0;
    for &cut in cuts.iter().chain([stream.len()].iter()) {
        let mut chunk = stream[from..cut].to_vec();
        match masker.push(&mut chunk) {
            Masked::InPlace => out.extend_from_slice(&chunk),
            Masked::Replaced(bytes) => out.extend_from_slice(&bytes),
        }
        let open_from = ends
            .iter()
            .rev()
            .find(|&&end| end <= cut)
            .map_or(0, |&end| end);
        let held = masker.held_bytes();
        assert!(held < SECRET.len(), "held {held} bytes after byte {cut}");
        assert!(
            held <= cut - open_from,
            "held {held} bytes of a complete message at {cut}"
        );
        from = cut;
    }
    out.extend_from_slice(&masker.flush());
    out
}

/// The body with every secret masked at once, as a masker seeing the whole message would.
fn masked_whole(body: &[u8]) -> Vec<u8> {
    mask_in_text(body, SECRET).unwrap_or_else(|| body.to_vec())
}

pub(super) fn with_secret(before: &[u8], after: &[u8], secret: &[u8]) -> Vec<u8> {
    [before, secret, after].concat()
}

#[test]
fn masks_a_chunk_in_place_keeping_every_length() {
    let mut masker = SecretMasker::new(SECRET);
    let body = [b"conf ", SECRET, b" and ", SECRET, b"."].concat();
    let mut chunk = message(&body);
    assert_eq!(masker.push(&mut chunk), Masked::InPlace);
    let expected = [
        b"conf ",
        &mask_of(SECRET)[..],
        b" and ",
        &mask_of(SECRET),
        b".",
    ]
    .concat();
    assert_eq!(chunk, message(&expected));
    assert_eq!(masker.held_bytes(), 0);
}

#[test]
fn masks_a_secret_cut_at_every_point_and_every_pair_of_points() {
    let stream = [
        message(b"a"),
        message(&with_secret(b"x=", b";", SECRET)),
        message(b"tail"),
    ]
    .concat();
    let expected = [
        message(b"a"),
        message(&with_secret(b"x=", b";", &mask_of(SECRET))),
        message(b"tail"),
    ]
    .concat();
    for first in 0..=stream.len() {
        for second in first..=stream.len() {
            let mut masker = SecretMasker::new(SECRET);
            let out = through(&mut masker, &stream, &[first, second]);
            assert_eq!(out, expected, "cut at {first} and {second}");
            assert_eq!(masker.held_bytes(), 0);
        }
    }
}

#[test]
fn masks_secrets_spread_over_many_small_chunks() {
    let twice = [SECRET, SECRET].concat();
    let stream = [message(&twice), message(SECRET)].concat();
    let cuts: Vec<usize> = (3..stream.len()).step_by(3).collect();
    let out = through(&mut SecretMasker::new(SECRET), &stream, &cuts);
    let masked_twice = [mask_of(SECRET), mask_of(SECRET)].concat();
    assert_eq!(
        out,
        [message(&masked_twice), message(&mask_of(SECRET))].concat()
    );
}

#[test]
fn never_holds_back_the_end_of_a_complete_message() {
    let mut masker = SecretMasker::new(SECRET);
    let mut first = message(&with_secret(b"reply ends with ", b"", &SECRET[..10]));
    assert_eq!(masker.push(&mut first), Masked::InPlace);
    assert_eq!(masker.held_bytes(), 0);
    // The start of the next message looks like the secret's start too, and that message is open.
    let mut next = message(&with_secret(b"", b"xyz", &SECRET[..12]))[..5 + 12].to_vec();
    let Masked::Replaced(sent) = masker.push(&mut next) else {
        panic!("the possible start of the secret should be held");
    };
    assert_eq!(sent, &next[..5], "the prefix goes");
    assert_eq!(masker.held_bytes(), 12);
    // The rest of the message shows it was not the secret: the held bytes go first, unmasked.
    let mut rest = b"xyz".to_vec();
    let Masked::Replaced(sent) = masker.push(&mut rest) else {
        panic!("the held bytes should go before the chunk");
    };
    assert_eq!(sent, with_secret(b"", b"xyz", &SECRET[..12]));
    assert_eq!(masker.held_bytes(), 0);
}

#[test]
fn does_not_take_the_bytes_of_two_messages_for_the_secret() {
    let stream = [message(&SECRET[..15]), message(&SECRET[15..])].concat();
    assert_eq!(
        through(&mut SecretMasker::new(SECRET), &stream, &[7, 20]),
        stream
    );
}

#[test]
fn gives_back_what_it_held_when_the_stream_ends_inside_a_message() {
    let mut masker = SecretMasker::new(SECRET);
    // The prefix announces 8 bytes: the message ends with them, so nothing is held.
    let mut whole = message(&SECRET[..8]);
    assert_eq!(masker.push(&mut whole), Masked::InPlace);
    let mut open = message(&with_secret(b"xy", b"more", &SECRET[..8]))[..5 + 10].to_vec();
    assert_eq!(masker.push(&mut open), Masked::Replaced(open[..7].to_vec()));
    assert_eq!(masker.held_bytes(), 8);
    // An empty chunk changes nothing.
    assert_eq!(masker.push(&mut []), Masked::Replaced(Vec::new()));
    assert_eq!(masker.held_bytes(), 8);
    assert_eq!(masker.flush(), &SECRET[..8]);
    assert_eq!(masker.held_bytes(), 0);
    assert_eq!(masker.flush(), b"");
}

#[test]
fn leaves_the_chunk_alone_when_held_bytes_go_before_it() {
    let mut masker = SecretMasker::new(SECRET);
    let stream = message(&with_secret(b"", b"!", SECRET));
    let mut head = stream[..5 + 4].to_vec();
    assert_eq!(
        masker.push(&mut head),
        Masked::Replaced(stream[..5].to_vec())
    );
    let mut tail = stream[5 + 4..].to_vec();
    let untouched = tail.clone();
    let expected = [&mask_of(SECRET)[..], b"!"].concat();
    assert_eq!(masker.push(&mut tail), Masked::Replaced(expected));
    assert_eq!(
        tail, untouched,
        "masked in a new buffer, as Buffer.concat does"
    );
}

#[test]
fn follows_four_byte_lengths_and_empty_messages() {
    // A message of 0x0102 bytes ending with a possible start of the secret is complete, so
    // nothing of it is held; one announcing 2^24 + 2 bytes stays open through its first bytes, so
    // a possible start is held there; empty messages end at their prefix.
    let mut masker = SecretMasker::new(SECRET);
    let mut long = message(&with_secret(&[b'p'; 0x0102 - 3], b"", &SECRET[..3]));
    assert_eq!(&long[1..5], &[0, 0, 1, 2]);
    assert_eq!(masker.push(&mut long), Masked::InPlace);
    let mut stream = [message(b""), message(b"")].concat();
    stream.extend_from_slice(&[0, 1, 0, 0, 2]);
    stream.extend_from_slice(&SECRET[..3]);
    let expected = stream[..stream.len() - 3].to_vec();
    let mut out = Vec::new();
    for &byte in &stream {
        let mut chunk = [byte];
        match masker.push(&mut chunk) {
            Masked::InPlace => out.extend_from_slice(&chunk),
            Masked::Replaced(bytes) => out.extend_from_slice(&bytes),
        }
    }
    assert_eq!(out, expected);
    assert_eq!(masker.held_bytes(), 3);
}

#[test]
fn an_empty_secret_masks_and_holds_nothing() {
    let mut masker = SecretMasker::new(b"");
    let mut chunk = message(b"anything")[..7].to_vec();
    let before = chunk.clone();
    assert_eq!(masker.push(&mut chunk), Masked::InPlace);
    assert_eq!(chunk, before);
    assert_eq!(masker.held_bytes(), 0);
    assert_eq!(masker.flush(), b"");
    assert_eq!(mask_in_text(b"text", b""), None);
    assert_eq!(mask_header_value(b"x", b"text", b""), None);
    assert!(!header_names_secret(b"x", b"", b""));
}

/// test/support/prng.ts, so that a seed gives the cases the TypeScript test draws from it.
struct Prng(u32);

impl Prng {
    fn below(&mut self, bound: usize) -> usize {
        let state = self.0 ^ self.0 >> 15;
        self.0 = state.wrapping_mul(0x2c1b_3c6d).wrapping_add(0x9e37_79b9);
        self.0 as usize % bound
    }
}

#[test]
fn matches_masking_each_message_whole_over_random_streams_and_cuts() {
    let mut random = Prng(7);
    let mut masked = 0;
    let pieces: [&[u8]; 6] = [
        b"ab",
        SECRET,
        &SECRET[..9],
        &SECRET[4..],
        b"b",
        &SECRET[..1],
    ];
    for round in 0..300 {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for _ in 0..1 + random.below(4) {
            let mut body = Vec::new();
            for _ in 0..random.below(6) {
                body.extend_from_slice(pieces[random.below(pieces.len())]);
            }
            let whole = masked_whole(&body);
            masked += usize::from(whole != body);
            stream.extend_from_slice(&message(&body));
            expected.extend_from_slice(&message(&whole));
        }
        let mut cuts: Vec<usize> = (0..random.below(8))
            .map(|_| 1 + random.below(stream.len().saturating_sub(1).max(1)))
            .filter(|&cut| cut < stream.len())
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let out = through(&mut SecretMasker::new(SECRET), &stream, &cuts);
        assert_eq!(out, expected, "round {round}, cuts {cuts:?}");
    }
    assert!(masked > 100, "messages with the secret in them: {masked}");
}
