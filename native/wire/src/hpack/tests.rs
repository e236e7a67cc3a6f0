//! The decoder and encoder against RFC 7541 Appendix C, the limits and every error of the
//! TypeScript module, and a model of the dynamic table under random use.

use super::huffman::{CODES, CODE_LENGTHS};
use super::*;

type Fields = Vec<Field>;

fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn fields(list: &[(&str, &str)]) -> Fields {
    list.iter()
        .map(|(name, value)| (name.as_bytes().to_vec(), value.as_bytes().to_vec()))
        .collect()
}

/// Huffman-codes `octets`, padding with `padding` bits of `padding_bit` beyond the octet boundary.
fn huffman(octets: &[u8], extra_padding_bits: usize, padding_bit: u8) -> Vec<u8> {
    let mut bits = Vec::new();
    for &octet in octets {
        let length = CODE_LENGTHS[usize::from(octet)];
        for bit in (0..length).rev() {
            bits.push((CODES[usize::from(octet)] >> bit) as u8 & 1);
        }
    }
    let padding = (8 - bits.len() % 8) % 8 + extra_padding_bits;
    bits.extend(std::iter::repeat_n(padding_bit, padding));
    bits.chunks(8)
        .map(|byte| byte.iter().fold(0, |all, bit| all << 1 | bit))
        .collect()
}

fn integer(flags: u8, mask: u8, value: usize) -> Vec<u8> {
    if value < usize::from(mask) {
        return vec![flags | value as u8];
    }
    let mut out = vec![flags | mask];
    let mut rest = value - usize::from(mask);
    while rest >= 0x80 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
    out
}

/// The dynamic table, newest first, read through indexed fields (which never change it).
fn table_of(decoder: &mut HpackDecoder, entries: usize) -> Fields {
    let block: Vec<u8> = (0..entries)
        .map(|index| 0x80 | (62 + index) as u8)
        .collect();
    decoder.decode(&block).unwrap()
}

fn decoder() -> HpackDecoder {
    HpackDecoder::new(4096, 64 * 1024)
}

/// Decoding fails with the message ending in "; close the connection…" around `problem`.
fn rejects(decoder: &mut HpackDecoder, block: &[u8], problem: &str, offset: usize) {
    let error = decoder.decode(block).unwrap_err();
    assert_eq!(
        error.message,
        format!("HPACK header block: {problem}; close the connection with COMPRESSION_ERROR")
    );
    assert_eq!(error.offset, Some(offset), "{}", error.message);
}

#[test]
fn c2_literal_and_indexed_representations() {
    // C.2.1: literal with indexing adds the field.
    let mut with_indexing = decoder();
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    let expected = fields(&[("custom-key", "custom-header")]);
    assert_eq!(with_indexing.decode(&block).unwrap(), expected);
    assert_eq!(table_of(&mut with_indexing, 1), expected);
    assert_eq!(with_indexing.table_changes(), 1);

    // C.2.2 and C.2.3: without indexing and never indexed leave the table empty.
    for (block, expected) in [
        (
            "040c 2f73 616d 706c 652f 7061 7468",
            (":path", "/sample/path"),
        ),
        (
            "1008 7061 7373 776f 7264 0673 6563 7265 74",
            ("password", "secret"),
        ),
    ] {
        let mut plain = decoder();
        assert_eq!(plain.decode(&hex(block)).unwrap(), fields(&[expected]));
        rejects(
            &mut plain,
            &hex("be"),
            "index 62 at byte 0 is past the dynamic table (0 entries)",
            0,
        );
        assert_eq!(plain.table_changes(), 0);
    }

    // C.2.4: an indexed static field.
    assert_eq!(
        decoder().decode(&hex("82")).unwrap(),
        fields(&[(":method", "GET")])
    );
}

const DATE1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

fn requests() -> [Fields; 3] {
    [
        fields(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
        ]),
        fields(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", "/"),
            (":authority", "www.example.com"),
            ("cache-control", "no-cache"),
        ]),
        fields(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ]),
    ]
}

fn request_tables() -> [Fields; 3] {
    [
        fields(&[(":authority", "www.example.com")]),
        fields(&[
            ("cache-control", "no-cache"),
            (":authority", "www.example.com"),
        ]),
        fields(&[
            ("custom-key", "custom-value"),
            ("cache-control", "no-cache"),
            (":authority", "www.example.com"),
        ]),
    ]
}

fn responses() -> [Fields; 3] {
    [
        fields(&[
            (":status", "302"),
            ("cache-control", "private"),
            ("date", DATE1),
            ("location", "https://www.example.com"),
        ]),
        fields(&[
            (":status", "307"),
            ("cache-control", "private"),
            ("date", DATE1),
            ("location", "https://www.example.com"),
        ]),
        fields(&[
            (":status", "200"),
            ("cache-control", "private"),
            ("date", DATE2),
            ("location", "https://www.example.com"),
            ("content-encoding", "gzip"),
            ("set-cookie", COOKIE),
        ]),
    ]
}

/// Each step evicts the oldest entries to stay within 256 bytes.
fn response_tables() -> [Fields; 3] {
    [
        fields(&[
            ("location", "https://www.example.com"),
            ("date", DATE1),
            ("cache-control", "private"),
            (":status", "302"),
        ]),
        fields(&[
            (":status", "307"),
            ("location", "https://www.example.com"),
            ("date", DATE1),
            ("cache-control", "private"),
        ]),
        fields(&[
            ("set-cookie", COOKIE),
            ("content-encoding", "gzip"),
            ("date", DATE2),
        ]),
    ]
}

fn appendix_sequence(
    max_table_size: u32,
    blocks: [&str; 3],
    expected: [Fields; 3],
    tables: [Fields; 3],
) {
    let mut decoder = HpackDecoder::new(max_table_size, 64 * 1024);
    for (step, block) in blocks.iter().enumerate() {
        assert_eq!(
            decoder.decode(&hex(block)).unwrap(),
            expected[step],
            "block {}",
            step + 1
        );
        let table = &tables[step];
        assert_eq!(
            &table_of(&mut decoder, table.len()),
            table,
            "table after block {}",
            step + 1
        );
        assert_eq!(decoder.table_changes(), step as u64 + 1);
    }
    let past = tables[2].len() + 62;
    rejects(
        &mut decoder,
        &[0x80 | past as u8],
        &format!(
            "index {past} at byte 0 is past the dynamic table ({} entries)",
            tables[2].len()
        ),
        0,
    );
}

#[test]
fn c3_requests_without_huffman() {
    appendix_sequence(
        4096,
        [
            "828684410f7777772e6578616d706c652e636f6d",
            "828684be58086e6f2d6361636865",
            "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
        ],
        requests(),
        request_tables(),
    );
}

#[test]
fn c4_requests_with_huffman() {
    appendix_sequence(
        4096,
        [
            "828684418cf1e3c2e5f23a6ba0ab90f4ff",
            "828684be5886a8eb10649cbf",
            "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
        ],
        requests(),
        request_tables(),
    );
}

#[test]
fn c5_responses_without_huffman() {
    appendix_sequence(
        256,
        [
            "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
            "4803333037c1c0bf",
            "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
        ],
        responses(),
        response_tables(),
    );
}

#[test]
fn c6_responses_with_huffman() {
    appendix_sequence(
        256,
        [
            "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
            "4883640effc1c0bf",
            "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
        ],
        responses(),
        response_tables(),
    );
}

#[test]
fn size_updates_at_the_start_of_a_block_evict_down_to_the_new_size() {
    let mut decoder = decoder();
    decoder
        .decode(&hex("400161016240016301644001650166"))
        .unwrap();
    assert_eq!(
        table_of(&mut decoder, 3),
        fields(&[("e", "f"), ("c", "d"), ("a", "b")])
    );
    // 34 bytes per entry: room for two, then none, then the size is raised back.
    let mut block = integer(0x20, 0x1f, 68);
    block.push(0x82);
    assert_eq!(
        decoder.decode(&block).unwrap(),
        fields(&[(":method", "GET")])
    );
    assert_eq!(table_of(&mut decoder, 2), fields(&[("e", "f"), ("c", "d")]));
    let mut block = vec![0x20];
    block.extend(integer(0x20, 0x1f, 4096));
    decoder.decode(&block).unwrap();
    rejects(
        &mut decoder,
        &hex("be"),
        "index 62 at byte 0 is past the dynamic table (0 entries)",
        0,
    );
}

#[test]
fn counts_the_blocks_that_changed_the_table_and_only_those() {
    let mut decoder = decoder();
    assert_eq!(decoder.table_changes(), 0);
    decoder.decode(&hex("4001610162 4001630164")).unwrap();
    assert_eq!(decoder.table_changes(), 1, "two entries added by one block");
    decoder.decode(&hex("be 82 0001780179 1001780179")).unwrap();
    assert_eq!(
        decoder.table_changes(),
        1,
        "indexed fields and literals without indexing"
    );
    decoder.decode(&integer(0x20, 0x1f, 100)).unwrap();
    assert_eq!(decoder.table_changes(), 2, "a size update");
    decoder.decode(&[]).unwrap();
    assert_eq!(decoder.table_changes(), 2, "an empty block");
}

#[test]
fn an_entry_larger_than_the_table_empties_it_without_an_error() {
    let mut decoder = HpackDecoder::new(64, 64 * 1024);
    decoder.decode(&hex("4001610162")).unwrap();
    let big = "x".repeat(40);
    let mut block = vec![0x40, 1, b'y', 40];
    block.extend(big.as_bytes());
    assert_eq!(decoder.decode(&block).unwrap(), fields(&[("y", &big)]));
    rejects(
        &mut decoder,
        &hex("be"),
        "index 62 at byte 0 is past the dynamic table (0 entries)",
        0,
    );
}

#[test]
fn an_entry_too_large_keeps_the_name_it_took_from_an_evicted_entry() {
    // The name comes from the entry the addition evicts: it is still handed out whole.
    let mut decoder = HpackDecoder::new(100, 64 * 1024);
    decoder.decode(&hex("4003 6b6b6b 0176")).unwrap();
    let mut block = vec![0x7e, 70];
    block.extend([b'w'; 70]);
    assert_eq!(
        decoder.decode(&block).unwrap(),
        fields(&[("kkk", &"w".repeat(70))])
    );
    assert_eq!(table_of(&mut decoder, 0), Fields::new());
    // And one that fits, named after the entry it evicts.
    decoder.decode(&hex("4003 6b6b6b 0176")).unwrap();
    assert_eq!(
        decoder.decode(&hex("7e 0278 78")).unwrap(),
        fields(&[("kkk", "xx")])
    );
    assert_eq!(table_of(&mut decoder, 1), fields(&[("kkk", "xx")]));
}

#[test]
fn rejects_a_size_update_after_a_field_or_above_the_announced_maximum() {
    rejects(
        &mut decoder(),
        &hex("8220"),
        "table size update at byte 1 follows a header field",
        1,
    );
    rejects(
        &mut HpackDecoder::new(100, 64 * 1024),
        &integer(0x20, 0x1f, 101),
        "table size update at byte 0 asks for 101 bytes, above the 100 this side allows",
        0,
    );
    // allowTableSize raises the limit, without resizing the table itself.
    let mut decoder = HpackDecoder::new(100, 64 * 1024);
    decoder.allow_table_size(8192);
    assert_eq!(decoder.table_changes(), 0);
    decoder.decode(&integer(0x20, 0x1f, 8192)).unwrap();
    rejects(
        &mut decoder,
        &integer(0x20, 0x1f, 8193),
        "table size update at byte 0 asks for 8193 bytes, above the 8192 this side allows",
        0,
    );
}

#[test]
fn rejects_bad_indexes_integers_and_string_lengths_naming_the_byte_offset() {
    let cases: [(&str, &str, usize); 9] = [
        ("82 80", "index 0 at byte 1 is not a valid table index", 1),
        (
            "7e 01 61",
            "index 62 at byte 0 is past the dynamic table (0 entries)",
            0,
        ),
        (
            "82 ff",
            "integer at byte 1 is cut off by the end of the block",
            1,
        ),
        (
            "ff ff ff ff ff 7f",
            "integer at byte 0 is larger than 2^31",
            0,
        ),
        (
            "ff 80 80 80 80 80 00",
            "integer at byte 0 has more than 5 continuation bytes",
            0,
        ),
        (
            "00 05 6162",
            "string at byte 1 is 5 bytes long but only 2 remain",
            1,
        ),
        (
            "00 7f ffffff0f",
            "string at byte 1 is 33554558 bytes long but only 0 remain",
            1,
        ),
        (
            "00",
            "a string literal should start at byte 1, past the block",
            1,
        ),
        (
            "0f 10",
            "a string literal should start at byte 2, past the block",
            2,
        ),
    ];
    for (block, problem, offset) in cases {
        rejects(&mut decoder(), &hex(block), problem, offset);
    }
    // 2^31 itself is accepted as an integer, and then is past every table.
    rejects(
        &mut decoder(),
        &hex("ff 81 ff ff ff 07"),
        "index 2147483648 at byte 0 is past the dynamic table (0 entries)",
        0,
    );
    rejects(
        &mut decoder(),
        &hex("ff 82 ff ff ff 07"),
        "integer at byte 0 is larger than 2^31",
        0,
    );
    // Five continuation bytes are allowed; a sixth cut off by the end is reported as cut off.
    rejects(
        &mut decoder(),
        &hex("ff 80 80 80 80 80"),
        "integer at byte 0 is cut off by the end of the block",
        0,
    );
    assert_eq!(
        decoder().decode(&hex("0f 83 80 80 80 00 0178")).unwrap(),
        fields(&[("accept-ranges", "x")]),
        "non-minimal encodings are accepted"
    );
}

fn huffman_literal(coded: &[u8]) -> Vec<u8> {
    let mut block = vec![0x00, 0x01, b'a'];
    block.extend(integer(0x80, 0x7f, coded.len()));
    block.extend(coded);
    block
}

#[test]
fn rejects_huffman_strings_with_eos_overlong_padding_or_padding_that_is_not_all_ones() {
    assert_eq!(
        decoder()
            .decode(&huffman_literal(&huffman(b"ok", 0, 1)))
            .unwrap(),
        fields(&[("a", "ok")])
    );
    assert_eq!(
        decoder().decode(&huffman_literal(&[])).unwrap(),
        fields(&[("a", "")])
    );
    rejects(
        &mut decoder(),
        &huffman_literal(&hex("ffffffff")),
        "Huffman string at byte 3 contains the EOS symbol",
        3,
    );
    let padding = "Huffman string at byte 3 ends with padding that is not up to 7 one bits";
    for coded in [
        huffman(b"a", 8, 1),
        hex("ff"),
        huffman(b"a", 0, 0),
        huffman(b"", 8, 1),
    ] {
        rejects(&mut decoder(), &huffman_literal(&coded), padding, 3);
    }
    // EOS wins over bad padding, as in the TypeScript, which stops at the EOS.
    rejects(
        &mut decoder(),
        &huffman_literal(&hex("ffffffff 00")),
        "Huffman string at byte 3 contains the EOS symbol",
        3,
    );
}

#[test]
fn decodes_every_octet_through_the_huffman_table() {
    let all: Vec<u8> = (0..=255).collect();
    let coded = huffman(&all, 0, 1);
    let mut block = vec![0x00, 0x01, b'x'];
    block.extend(integer(0x80, 0x7f, coded.len()));
    block.extend(&coded);
    assert_eq!(
        decoder().decode(&block).unwrap(),
        vec![(b"x".to_vec(), all)]
    );
    // Every octet alone, so that each code ends with every amount of padding it can have.
    for octet in 0..=255u8 {
        let coded = huffman(&[octet, octet, octet], 0, 1);
        let block = huffman_literal(&coded);
        assert_eq!(
            decoder().decode(&block).unwrap(),
            vec![(b"a".to_vec(), vec![octet; 3])],
            "octet {octet}"
        );
    }
}

#[test]
fn bounds_the_decoded_header_list_counting_32_bytes_per_field() {
    let block = hex("0001610162 0001630164");
    assert_eq!(HpackDecoder::new(4096, 68).decode(&block).unwrap().len(), 2);
    rejects(
        &mut HpackDecoder::new(4096, 67),
        &block,
        "header list exceeds 67 bytes at byte 5",
        5,
    );
}

#[test]
fn refuses_every_block_after_a_failure_since_the_tables_may_disagree() {
    let mut decoder = decoder();
    rejects(
        &mut decoder,
        &hex("80"),
        "index 0 at byte 0 is not a valid table index",
        0,
    );
    let error = decoder.decode(&hex("82")).unwrap_err();
    assert_eq!(
        error.message,
        "HPACK decoder is unusable since an earlier block failed (HPACK header block: index 0 at byte 0 is not a valid table index; close the connection with COMPRESSION_ERROR)"
    );
    assert_eq!(error.offset, Some(0));
}

#[test]
fn checks_limits_as_javascript_numbers() {
    assert_eq!(checked_limit(0.0, "maxTableSize"), Ok(0));
    assert_eq!(checked_limit(2147483647.0, "maxTableSize"), Ok(2147483647));
    for (value, text) in [
        (-1.0, "-1"),
        (1.5, "1.5"),
        (2147483648.0, "2147483648"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (1e21, "1e+21"),
        (-1.5e-7, "-1.5e-7"),
        (0.000001, "0.000001"),
    ] {
        assert_eq!(
            checked_limit(value, "table size"),
            Err(format!(
                "table size must be an integer from 0 to 2^31 - 1, got {text}"
            ))
        );
    }
}

#[test]
fn encodes_static_indexes_and_literals_without_indexing_never_huffman() {
    let hex_of = |block: Vec<u8>| {
        block
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect::<String>()
    };
    assert_eq!(hex_of(encode_header_block(&[(":method", "POST")])), "83");
    assert_eq!(
        hex_of(encode_header_block(&[("content-type", "application/grpc")])),
        format!("0f1010{}", hex_of(b"application/grpc".to_vec()))
    );
    assert_eq!(
        hex_of(encode_header_block(&[("te", "trailers")])),
        "0002746508747261696c657273"
    );
    assert_eq!(hex_of(encode_header_block(&[(":status", "500")])), "8e");
    assert_eq!(
        hex_of(encode_header_block(&[(":status", "201")])),
        "0803323031"
    );
    assert_eq!(
        hex_of(encode_header_block(&[("www-authenticate", "")])),
        "bd"
    );
    assert_eq!(hex_of(encode_header_block(&[("via", "x")])), "0f2d0178");
    assert!(encode_header_block::<&str, &str>(&[]).is_empty());
    // A name index from 15 on and a long value take continuation bytes.
    let long = "v".repeat(300);
    let block = encode_header_block(&[("accept", long.as_str())]);
    assert_eq!(&block[..5], &[0x0f, 0x04, 0x7f, 0xad, 0x01]);
    assert_eq!(block.len(), 5 + 300);
}

#[test]
fn every_static_field_and_name_round_trips() {
    for (position, (name, value)) in static_table::STATIC_TABLE.iter().enumerate() {
        let block = encode_header_block(&[(*name, *value)]);
        let first = static_table::STATIC_TABLE
            .iter()
            .position(|entry| entry == &(*name, *value))
            .unwrap();
        assert_eq!(
            block,
            vec![0x80 | (first + 1) as u8],
            "entry {}",
            position + 1
        );
        let other = encode_header_block(&[(*name, &b"\xffother"[..])]);
        assert_eq!(
            decoder().decode(&other).unwrap(),
            vec![(name.to_vec(), b"\xffother".to_vec())]
        );
    }
}

#[test]
fn round_trips_through_the_decoder_without_touching_its_dynamic_table() {
    let mut mirror = decoder();
    mirror
        .decode(&hex("400161016240016301644001650166"))
        .unwrap();
    let long = "v".repeat(70_000);
    let list = fields(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/spark.connect.SparkConnectService/ExecutePlan"),
        (":authority", ""),
        ("content-type", "application/grpc"),
        ("x-long", &long),
        ("", ""),
    ]);
    let mut with_latin1 = list.clone();
    with_latin1.push((b"x-latin1".to_vec(), b"caf\xe9 \xff\x00".to_vec()));
    for _ in 0..3 {
        let block = encode_header_block(&with_latin1);
        assert_eq!(
            HpackDecoder::new(4096, 1 << 20).decode(&block).unwrap(),
            with_latin1
        );
        assert_eq!(
            mirror.decode(&encode_header_block(&list[..5])).unwrap(),
            list[..5]
        );
    }
    assert_eq!(
        table_of(&mut mirror, 3),
        fields(&[("e", "f"), ("c", "d"), ("a", "b")])
    );
}

#[test]
fn the_block_encoder_refuses_characters_that_are_not_octets() {
    let utf16 = |text: &str| text.encode_utf16().collect::<Vec<u16>>();
    let mut encoder = BlockEncoder::new();
    encoder
        .push_utf16(&utf16("x-latin1"), &utf16("caf\u{e9}\u{ff}"))
        .unwrap();
    let before = encoder.block().to_vec();
    assert_eq!(
        before,
        encode_header_block(&[("x-latin1", &b"caf\xe9\xff"[..])])
    );
    let error = encoder
        .push_utf16(&utf16("x-name"), &utf16("caf\u{e9} \u{20ac}"))
        .unwrap_err();
    assert_eq!(
        error.message,
        "header \"x-name\" has a character above U+00FF; send such values percent- or base64-encoded"
    );
    assert_eq!(error.offset, None);
    assert_eq!(encoder.block(), &before[..], "the block is left as it was");
    // The name is quoted as JSON.stringify quotes it, lone surrogates included.
    let mut name = utf16("q\"\\\u{8}\u{c}\n\r\t\u{1}\u{7f}\u{e9}\u{20ac}\u{1f600}");
    name.push(0xd800);
    let error = encoder.push_utf16(&name, &[]).unwrap_err();
    assert_eq!(
        error.message,
        "header \"q\\\"\\\\\\b\\f\\n\\r\\t\\u0001\u{7f}\u{e9}\u{20ac}\u{1f600}\\ud800\" has a character above U+00FF; send such values percent- or base64-encoded"
    );
    encoder.clear();
    assert!(encoder.block().is_empty());
}

/// A small deterministic generator, so that a failing case can be replayed.
struct Prng(u64);

impl Prng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % bound as u64) as usize
    }
}

#[test]
fn the_dynamic_table_matches_a_plain_model_under_random_use() {
    let size_of = |entries: &Fields| {
        entries
            .iter()
            .map(|(name, value)| name.len() + value.len() + 32)
            .sum::<usize>()
    };
    let mut random = Prng(0x5eed);
    let mut evicted = 0;
    for round in 0..100 {
        let mut decoder = HpackDecoder::new(4096, u32::MAX >> 1);
        // The model: newest first, evicting from the back, as RFC 7541 §4.4 describes.
        let mut model = Fields::new();
        let mut max = 4096;
        for step in 0..100 {
            let mut block = Vec::new();
            let mut expected = Fields::new();
            if random.below(8) == 0 {
                max = [0, 50, 100, 256, 4096][random.below(5)];
                block.extend(integer(0x20, 0x1f, max));
                while size_of(&model) > max {
                    model.pop();
                }
            }
            for _ in 0..1 + random.below(4) {
                let value: Vec<u8> = (0..random.below(120))
                    .map(|_| random.below(256) as u8)
                    .collect();
                let name = if !model.is_empty() && random.below(2) == 0 {
                    let index = random.below(model.len());
                    block.extend(integer(0x40, 0x3f, 62 + index));
                    model[index].0.clone()
                } else {
                    let name: Vec<u8> = (0..random.below(20))
                        .map(|_| b'a' + random.below(26) as u8)
                        .collect();
                    block.push(0x40);
                    block.extend(integer(0x00, 0x7f, name.len()));
                    block.extend(&name);
                    name
                };
                block.extend(integer(0x00, 0x7f, value.len()));
                block.extend(&value);
                let size = name.len() + value.len() + 32;
                while !model.is_empty() && size_of(&model) + size > max {
                    model.pop();
                    evicted += 1;
                }
                if size <= max {
                    model.insert(0, (name.clone(), value.clone()));
                }
                expected.push((name, value));
            }
            assert_eq!(
                decoder.decode(&block).unwrap(),
                expected,
                "round {round} step {step}"
            );
            assert_eq!(
                table_of(&mut decoder, model.len()),
                model,
                "round {round} step {step}"
            );
        }
    }
    assert!(evicted > 1000, "only {evicted} evictions");
}

#[test]
fn a_block_seen_before_decodes_against_the_table_as_it_is_now() {
    let mut decoder = decoder();
    decoder.decode(&hex("4003782d61 0131")).unwrap(); // x-a: 1, added
    let path = huffman_literal(&huffman(b"/spark.connect.SparkConnectService/Config", 0, 1));
    let mut again = vec![0x80 | 62, 0x83];
    again.extend(&path);
    let expected = |newest: (&str, &str)| {
        fields(&[
            newest,
            (":method", "POST"),
            ("a", "/spark.connect.SparkConnectService/Config"),
        ])
    };
    assert_eq!(decoder.decode(&again).unwrap(), expected(("x-a", "1")));
    assert_eq!(decoder.decode(&again).unwrap(), expected(("x-a", "1")));
    decoder.decode(&hex("4003782d62 0132")).unwrap(); // x-b: 2, added
    assert_eq!(decoder.decode(&again).unwrap(), expected(("x-b", "2")));
    // A block that adds to the table adds again each time it comes.
    let adds = hex("4003782d61 0131");
    decoder.decode(&adds).unwrap();
    decoder.decode(&adds).unwrap();
    assert_eq!(
        table_of(&mut decoder, 4),
        fields(&[("x-a", "1"), ("x-a", "1"), ("x-b", "2"), ("x-a", "1")])
    );
    assert_eq!(decoder.decode(&again).unwrap(), expected(("x-a", "1")));
    // As does a size update.
    let update = integer(0x20, 0x1f, 100);
    decoder.decode(&update).unwrap();
    decoder.decode(&hex("4003782d63 0133")).unwrap(); // x-c: 3, added
    decoder.decode(&update).unwrap();
    assert_eq!(table_of(&mut decoder, 1), fields(&[("x-c", "3")]));
}

/// A literal field without indexing, name and value Huffman-coded.
fn huffman_literal_name(name: &[u8], value: &[u8]) -> Vec<u8> {
    let mut block = vec![0x00];
    for octets in [name, value] {
        let coded = huffman(octets, 0, 1);
        block.extend(integer(0x80, 0x7f, coded.len()));
        block.extend(coded);
    }
    block
}

#[test]
fn decodes_blocks_seen_before_as_a_decoder_that_decodes_every_block() {
    let mut random = Prng(0xb10c);
    for round in 0..20 {
        let mut remembering = decoder();
        let mut plain = decoder().without_repeats();
        // Ten entries the indexed fields below name; more come and go.
        let mut seed = Vec::new();
        for entry in 0..10u8 {
            seed.extend([0x40, 0x02, b'k', b'a' + entry, 0x01, b'0' + entry]);
        }
        remembering.decode(&seed).unwrap();
        plain.decode(&seed).unwrap();
        let pool: Vec<Vec<u8>> = (0..12)
            .map(|_| {
                let mut block = Vec::new();
                for _ in 0..1 + random.below(6) {
                    match random.below(8) {
                        0 => block.extend([
                            0x40,
                            0x01,
                            b'n',
                            0x02,
                            b'v',
                            b'a' + random.below(26) as u8,
                        ]),
                        1 | 2 => block.push(0x80 | (1 + random.below(61)) as u8),
                        3 | 4 => block.push(0x80 | (62 + random.below(10)) as u8),
                        5 => block.extend(huffman_literal_name(
                            b"x-id",
                            &[b'a' + random.below(26) as u8; 9],
                        )),
                        6 => block.extend(
                            integer(0x00, 0x0f, 62 + random.below(10))
                                .into_iter()
                                .chain([0x01, b'z']),
                        ),
                        _ => block.extend(huffman_literal_name(
                            b":path",
                            b"/spark.connect.SparkConnectService/Config",
                        )),
                    }
                }
                block
            })
            .collect();
        for step in 0..500 {
            let block = &pool[random.below(pool.len())];
            assert_eq!(
                remembering.decode(block).unwrap(),
                plain.decode(block).unwrap(),
                "round {round} step {step}"
            );
            assert_eq!(remembering.table_changes(), plain.table_changes());
        }
    }
}

fn decode_all(decoder: &mut HpackDecoder, block: &[u8]) -> Vec<(String, String)> {
    decoder
        .decode(block)
        .unwrap()
        .into_iter()
        .map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
        .collect()
}

fn owned(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_table_encoder_indexes_what_repeats_once_the_peer_settings_are_read() {
    let call = [
        (":method", "POST"),
        (":path", "/spark.connect.SparkConnectService/Config"),
        (":authority", "127.0.0.1:15002"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("grpc-timeout", "999m"),
        ("authorization", "Bearer t"),
        ("user-agent", "grpc-python/1.70"),
    ];
    let mut encoder = TableEncoder::new();
    let mut decoder = decoder();
    let encode = |encoder: &mut TableEncoder| {
        encoder.clear();
        for (name, value) in call {
            encoder.push(name.as_bytes(), value.as_bytes());
        }
        encoder.block().to_vec()
    };
    // Before the peer's SETTINGS: literals, as the stateless encoder writes them.
    let plain = encode(&mut encoder);
    assert_eq!(plain, encode_header_block(&call));
    assert_eq!(encoder.changes(), 0);
    encoder.peer_settings(None);
    let first = encode(&mut encoder);
    assert!(encoder.changes() > 0);
    let changes = encoder.changes();
    let second = encode(&mut encoder);
    assert_eq!(encoder.changes(), changes, "nothing added the second time");
    for block in [&plain, &first, &second] {
        assert_eq!(decode_all(&mut decoder, block), owned(&call));
    }
    // Indexed: :method (static), :path, :authority, content-type, te, user-agent; a literal each
    // for the deadline and the credentials.
    let literals = encode_header_block(&[("grpc-timeout", "999m"), ("authorization", "Bearer t")]);
    assert_eq!(second.len(), 6 + literals.len(), "{second:02x?}");
    assert!(first.len() > plain.len() - 10);
}

#[test]
fn the_table_encoder_shrinks_its_table_with_a_size_update_when_the_peer_asks() {
    let mut encoder = TableEncoder::new();
    encoder.peer_settings(Some(65536)); // more than it uses: nothing to say
    let mut decoder = decoder();
    let mut block = |encoder: &mut TableEncoder, list: &[(&str, &str)]| {
        encoder.clear();
        for (name, value) in list {
            encoder.push(name.as_bytes(), value.as_bytes());
        }
        let block = encoder.block().to_vec();
        assert_eq!(decode_all(&mut decoder, &block), owned(list));
        block
    };
    let a = block(&mut encoder, &[("x-a", "1"), ("x-b", "2")]);
    assert_eq!(a[0], 0x40, "added, no size update");
    let changes = encoder.changes();
    encoder.peer_settings(Some(40)); // room for one entry of 3 + 1 + 32
    assert!(encoder.changes() > changes);
    let b = block(&mut encoder, &[("x-a", "1")]);
    assert_eq!(b[..2], integer(0x20, 0x1f, 40)[..], "{b:02x?}");
    assert_eq!(b[2], 0x00, "too large for half the table: a literal");
    encoder.peer_settings(Some(0));
    let c = block(&mut encoder, &[("x-b", "2")]);
    assert_eq!(c, hex("20 0003782d62 0132"));
}

#[test]
fn the_table_encoder_agrees_with_a_decoder_under_random_use() {
    let mut random = Prng(0x7ab1e);
    let names = [
        "x-a",
        "x-bb",
        ":path",
        "content-type",
        "grpc-timeout",
        "x-long",
    ];
    for round in 0..50 {
        let mut encoder = TableEncoder::new();
        encoder.peer_settings(None);
        let mut decoder = decoder();
        for step in 0..200 {
            if random.below(40) == 0 {
                encoder.peer_settings(Some([0, 100, 600, 2000, 4096][random.below(5)]));
            }
            let list: Vec<(String, String)> = (0..1 + random.below(8))
                .map(|_| {
                    let name = names[random.below(names.len())];
                    let length = if name == "x-long" {
                        300 + random.below(2000)
                    } else {
                        1 + random.below(40)
                    };
                    let value = format!("{}{}", random.below(30), "v".repeat(length));
                    (name.to_string(), value)
                })
                .collect();
            encoder.clear();
            for (name, value) in &list {
                encoder.push(name.as_bytes(), value.as_bytes());
            }
            assert_eq!(
                decode_all(&mut decoder, encoder.block()),
                list,
                "round {round} step {step}"
            );
        }
    }
}

#[test]
fn a_small_block_naming_large_entries_decodes_alike_every_time() {
    let mut decoder = decoder();
    let value = "v".repeat(1000);
    let mut add = vec![0x40, 0x03, b'x', b'-', b'a'];
    add.extend(integer(0x00, 0x7f, value.len()));
    add.extend(value.as_bytes());
    decoder.decode(&add).unwrap();
    // Four fields of 1003 octets each from a 4-byte block: more than a kept block holds.
    let block = [0x80 | 62; 4];
    let expected = fields(&[("x-a", value.as_str()); 4]);
    for _ in 0..3 {
        assert_eq!(decoder.decode(&block).unwrap(), expected);
    }
}
