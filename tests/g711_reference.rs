//! The G.711 coders against reference tables made by sox (`testdata/g711/`, made by
//! `testdata/make_g711_reference.sh`; `testdata/g711/README.md` says what each file is).

use std::path::Path;

use tonegate::codec::g711::{alaw_to_linear, linear_to_alaw, linear_to_ulaw, ulaw_to_linear};

/// Reads a reference file and checks its length.
fn reference(name: &str, len: usize) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/g711")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(bytes.len(), len, "{}", path.display());
    bytes
}

/// The 256 decoded values in a `*_decode.s16` file, indexed by code.
fn decode_table(name: &str) -> Vec<i16> {
    reference(name, 512)
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect()
}

/// Every i16 value with its index in a `*_encode*.u8` file.
fn every_i16() -> impl Iterator<Item = (usize, i16)> {
    (i16::MIN..=i16::MAX).map(|x| ((i32::from(x) + 32_768) as usize, x))
}

/// Asserts `ours` equals `want` everywhere, reporting the first differences.
fn assert_same<T: PartialEq + std::fmt::Debug>(
    what: &str,
    pairs: impl Iterator<Item = (String, T, T)>,
) {
    let diffs: Vec<_> = pairs.filter(|(_, ours, want)| ours != want).collect();
    assert!(
        diffs.is_empty(),
        "{what}: {} differences, first: {:?}",
        diffs.len(),
        &diffs[..diffs.len().min(8)]
    );
}

#[test]
fn ulaw_decoding_matches_sox_for_all_256_codes() {
    let want = decode_table("ulaw_decode.s16");
    assert_same(
        "mu-law decode",
        (0..=255u8).map(|c| (format!("{c:#04x}"), ulaw_to_linear(c), want[usize::from(c)])),
    );
}

#[test]
fn alaw_decoding_matches_sox_for_all_256_codes() {
    let want = decode_table("alaw_decode.s16");
    assert_same(
        "A-law decode",
        (0..=255u8).map(|c| (format!("{c:#04x}"), alaw_to_linear(c), want[usize::from(c)])),
    );
}

#[test]
fn ulaw_encoding_matches_the_g711_reference_for_all_65536_values() {
    let want = reference("ulaw_encode.u8", 65_536);
    assert_same(
        "mu-law encode",
        every_i16().map(|(i, x)| (x.to_string(), linear_to_ulaw(x), want[i])),
    );
}

#[test]
fn alaw_encoding_matches_the_g711_reference_for_all_65536_values() {
    let want = reference("alaw_encode.u8", 65_536);
    assert_same(
        "A-law encode",
        every_i16().map(|(i, x)| (x.to_string(), linear_to_alaw(x), want[i])),
    );
}

#[test]
fn every_code_survives_a_round_trip_except_ulaw_negative_zero() {
    for code in 0..=255u8 {
        assert_eq!(
            linear_to_alaw(alaw_to_linear(code)),
            code,
            "A-law {code:#04x}"
        );
        // mu-law 0x7F is -0: it decodes to 0, which encodes as +0, 0xFF.
        let want = if code == 0x7F { 0xFF } else { code };
        assert_eq!(
            linear_to_ulaw(ulaw_to_linear(code)),
            want,
            "mu-law {code:#04x}"
        );
    }
}

/// What sox does to a 16-bit sample before its Sun-derived G.711 coder sees it: round to
/// `bits` bits, half up, saturating at the top (libsox `SOX_SAMPLE_TO_SIGNED`).
fn sox_round(x: i16, bits: u32) -> i32 {
    let shift = 16 - bits;
    ((i32::from(x) + (1 << (shift - 1))) >> shift).min((1 << (bits - 1)) - 1)
}

#[test]
fn sox_encoders_differ_only_by_rounding_before_coding() {
    // A-law: sox rounds to 13 bits; its coder then matches G.191 on that value.
    let sox = reference("alaw_encode_sox_rounding.u8", 65_536);
    assert_same(
        "sox A-law as G.191 after rounding",
        every_i16().map(|(i, x)| {
            let rounded = (sox_round(x, 13) << 3) as i16;
            (x.to_string(), linear_to_alaw(rounded), sox[i])
        }),
    );
    let differing = every_i16()
        .filter(|&(i, x)| linear_to_alaw(x) != sox[i])
        .count();
    // Rounding moves each of the 255 decision values down by 4: 4 inputs each.
    assert_eq!(differing, 255 * 4, "A-law inputs sox codes differently");

    // mu-law: sox rounds to 14 bits and takes the magnitude of a negative value t as -t,
    // where G.191 takes the ones' complement of the input; -t is what G.191 gives for the
    // 16-bit input 4t - 1.
    let sox = reference("ulaw_encode_sox_rounding.u8", 65_536);
    assert_same(
        "sox mu-law as G.191 after rounding",
        every_i16().map(|(i, x)| {
            let t = sox_round(x, 14);
            // (At t = -8192 both saturate, so -32768 stands in for -32769.)
            let input = if t < 0 {
                (4 * t - 1).max(-32_768)
            } else {
                4 * t
            } as i16;
            (x.to_string(), linear_to_ulaw(input), sox[i])
        }),
    );
    let differing = every_i16()
        .filter(|&(i, x)| linear_to_ulaw(x) != sox[i])
        .count();
    // Rounding moves each of the 255 decision values toward zero by 2: 2 inputs each.
    assert_eq!(differing, 255 * 2, "mu-law inputs sox codes differently");
}

/// Checks G.711's own definition against a coder: the inputs that give one output value
/// form one interval, and the output value is its centre. As integers, the interval
/// `lo..=hi` stands for the reals `[lo, hi + 1)`, whose centre is `(lo + hi + 1) / 2`. The
/// two end intervals run on to saturation, so only their inner edges count.
fn assert_decision_intervals_centred(law: &str, encode: fn(i16) -> u8, decode: fn(u8) -> i16) {
    let value = |x: i16| decode(encode(x));
    let mut runs = Vec::new();
    let mut lo = i16::MIN;
    for x in i16::MIN..i16::MAX {
        if value(x + 1) != value(x) {
            runs.push((lo, x));
            lo = x + 1;
        }
    }
    runs.push((lo, i16::MAX));
    let mut values: Vec<i16> = runs.iter().map(|&(lo, _)| value(lo)).collect();
    assert!(values.is_sorted(), "{law}: outputs out of order");
    values.dedup();
    assert_eq!(
        values.len(),
        runs.len(),
        "{law}: an output value in two intervals"
    );
    let inner = &runs[1..runs.len() - 1];
    for &(lo, hi) in inner {
        let centre = i32::from(lo) + i32::from(hi) + 1;
        assert_eq!(2 * i32::from(value(lo)), centre, "{law}: {lo}..={hi}");
    }
    // One interval per code, but mu-law's two codes for zero share one.
    let distinct = if law == "mu-law" { 255 } else { 256 };
    assert_eq!(runs.len(), distinct, "{law}");
}

#[test]
fn each_output_is_the_centre_of_its_decision_interval() {
    assert_decision_intervals_centred("mu-law", linear_to_ulaw, ulaw_to_linear);
    assert_decision_intervals_centred("A-law", linear_to_alaw, alaw_to_linear);
}
