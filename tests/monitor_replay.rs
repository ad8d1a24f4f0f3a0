//! A committed vector streamed into a real server over the raw dialect shows on the
//! monitor's feature stream exactly what `detect --plot` draws from the file: the same
//! block ends, the same tone and broadband levels (after the stream's whole-dB
//! quantisation) and the same rejected windows with their reasons.
//!
//! The file is 16-bit PCM at 8 kHz and is streamed as `s16le` at 8 kHz, a lossless
//! coding, so the server's detector sees the very samples the plot recorder sees.

mod common;

use std::time::Duration;

use common::{Sse, send_binary, send_text};
use tonegate::SampleRate;
use tonegate::dsp::dtmf::{self, Profile, Rejection};
use tonegate::media::wav::WavReader;
use tonegate::plot::Recording;
use tonegate::server::Config;
use tonegate::session::features::{OUTBOUND, RECORD_LEN};

const TOKEN: &str = "monitor-replay-token";
const CALL: &str = "call-replayed";

/// The feature stream's one-byte level: whole dB above -120 re full scale.
fn quantised(db: f32) -> u8 {
    (db.clamp(-120.0, 135.0) + 120.0).round() as u8
}

/// The number a rejection reason travels as in a record's verdict byte.
fn reason_code(reason: Rejection) -> u8 {
    match reason {
        Rejection::FrequencyOffset => 0,
        Rejection::Level => 1,
        Rejection::Twist => 2,
        Rejection::EnergyShare => 3,
        Rejection::Harmonics => 4,
        Rejection::TooShort => 5,
    }
}

fn end_ms(record: &[u8]) -> u32 {
    u32::from_le_bytes(record[1..5].try_into().unwrap())
}

#[tokio::test]
async fn a_streamed_vector_shows_on_the_feature_stream_as_the_plot_draws_it() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/plot/talk_off.wav");
    let mut reader = WavReader::new(std::fs::File::open(path).unwrap()).unwrap();
    assert_eq!((reader.channels(), reader.sample_rate()), (1, 8_000));
    let mut samples = vec![0.0; reader.len_frames() as usize];
    let read = reader.read_frames(&mut samples).unwrap();
    samples.truncate(read);
    let plot = Recording::analyse(
        &samples,
        SampleRate::HZ_8000,
        dtmf::Config::for_profile(Profile::Default),
    )
    .unwrap();
    assert!(
        !plot.rejected.is_empty(),
        "the talk-off vector has rejected windows"
    );

    let server = common::start(Config {
        event_token: Some(TOKEN.to_owned()),
        monitor_buffer_frames: 10_000,
        ..Config::default()
    })
    .await;
    let mut ws = common::connect(server.addr, "/media/raw").await;
    send_text(
        &mut ws,
        format!(r#"{{"type":"start","callId":"{CALL}","encoding":"s16le","sampleRate":8000}}"#),
    )
    .await;
    common::wait_until("the call listed", Duration::from_secs(20), || {
        server.handle.registry().calls().iter().any(|c| c == CALL)
    })
    .await;
    let mut features = Sse::connect(
        server.addr,
        &format!("/v1/monitor/calls/{CALL}/features?access_token={TOKEN}"),
    )
    .await;
    // The session turns its tap on after the first message it handles while watched.
    send_text(&mut ws, r#"{"type":"mark","name":"watched"}"#).await;
    for frame in samples.chunks(160) {
        send_binary(
            &mut ws,
            common::encode(frame, tonegate::codec::Encoding::S16le),
        )
        .await;
    }

    let last_end = plot.blocks.last().unwrap().end_ms as u32;
    let mut streamed: Vec<[u8; RECORD_LEN]> = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while streamed.last().is_none_or(|r| end_ms(r) < last_end) {
            let (name, data) = features.next_named().await.expect("stream open");
            assert_eq!(name, "features", "no record lost");
            let bytes = common::unb64(&data);
            streamed.extend(
                bytes
                    .chunks_exact(RECORD_LEN)
                    .filter(|r| r[0] != OUTBOUND)
                    .map(|r| <[u8; RECORD_LEN]>::try_from(r).unwrap()),
            );
        }
    })
    .await
    .expect("every block of the file in time");

    assert_eq!(streamed.len(), plot.blocks.len());
    for (record, block) in streamed.iter().zip(&plot.blocks) {
        assert_eq!(end_ms(record), block.end_ms as u32, "{record:?} {block:?}");
        let tones: Vec<u8> = block.tone_db.iter().map(|&db| quantised(db)).collect();
        assert_eq!(&record[5..13], &tones[..], "at {} ms", block.end_ms);
        assert_eq!(
            record[13],
            quantised(block.level_db),
            "at {} ms",
            block.end_ms
        );
    }
    // Each rejected window the plot shades is a rejected block with the same reason and
    // key on the stream, and the stream rejects nothing else.
    let rejected_on_stream: Vec<(u32, u8, u8)> = streamed
        .iter()
        .filter(|r| r[14] & 3 == 3)
        .map(|r| (end_ms(r), r[14] >> 2, r[15]))
        .collect();
    let rejected_in_plot: Vec<(u32, u8, u8)> = plot
        .rejected
        .iter()
        .map(|w| {
            (
                w.end_ms as u32,
                reason_code(w.reason),
                w.digit.as_char() as u8,
            )
        })
        .collect();
    assert_eq!(rejected_on_stream, rejected_in_plot);
}
