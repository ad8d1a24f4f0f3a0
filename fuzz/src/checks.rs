//! The properties the fuzz targets assert, one public function per target, one file per
//! target under `checks/`.
//!
//! Each function takes the raw fuzz input and panics (with a message naming the property)
//! when a property fails; it returns normally otherwise. These files depend only on
//! `std`, `tonegate-dsp`, `tonegate-core` and the crates that build the oracles, because
//! they are compiled twice: as `tonegate_fuzz::checks` by the fuzz crate and, through
//! `#[path]`, by `tests/fuzz_regressions.rs`, which replays the committed crash inputs
//! under plain `cargo test`. The module paths are explicit so both find the same files.

#[path = "checks/input.rs"]
mod input;
#[path = "checks/jwt_fixture.rs"]
mod jwt_fixture;

#[path = "checks/api_auth.rs"]
mod api_auth;
#[path = "checks/api_request.rs"]
mod api_request;
#[path = "checks/detector_chunking.rs"]
mod detector_chunking;
#[path = "checks/g711_round_trip.rs"]
mod g711_round_trip;
#[path = "checks/jwks_parse.rs"]
mod jwks_parse;
#[path = "checks/jwt_verify.rs"]
mod jwt_verify;
#[path = "checks/proto_frame.rs"]
mod proto_frame;
#[path = "checks/resampler_chunking.rs"]
mod resampler_chunking;
#[path = "checks/stream_query.rs"]
mod stream_query;
#[path = "checks/wav_read.rs"]
mod wav_read;

use input::Input;

pub use api_auth::api_auth;
pub use api_request::api_request;
pub use detector_chunking::{detector_chunking, detector_digits};
pub use g711_round_trip::{g711_round_trip, g711_sample};
pub use jwks_parse::jwks_parse;
pub use jwt_verify::jwt_verify;
pub use proto_frame::proto_frame;
pub use resampler_chunking::resampler_chunking;
pub use stream_query::stream_query;
pub use wav_read::wav_read;
