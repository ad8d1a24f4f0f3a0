//! The HTTP engine for neural voices: any service with an OpenAI-compatible speech
//! endpoint, `POST {tts_http_url}/v1/audio/speech` with `{"model", "voice", "input",
//! "response_format": "wav"}` and, with `tts_http_api_key`, `Authorization: Bearer`.
//!
//! The URL is the operator's setting only (nothing in a request can change where tonegate
//! sends text), and requests go through the server's client for operator-named URLs: no
//! redirects followed (the key never travels elsewhere), `http_ca_certs` trusted, the
//! reply read up to `tts_max_output_bytes`. Such services take plain text, so SSML is
//! sent as its text; the voice is `voiceName` when the operator listed it in
//! `tts_http_voices`, else `tts_voice` (default `alloy`).

use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use tonegate_core::api::model::{Speech, SpeechFailure, SpeechInput};

use super::engine::{Engine, EngineError, Job};
use super::ssml;

/// The voice when neither the request nor `tts_voice` names one.
const DEFAULT_VOICE: &str = "alloy";

/// Where and how to reach the speech service.
pub(crate) struct Settings {
    /// Base URL (`http://127.0.0.1:8880`); `/v1/audio/speech` is appended.
    pub(crate) base_url: String,
    /// Sent as a bearer token, if set.
    pub(crate) api_key: Option<String>,
    /// `model` of every request.
    pub(crate) model: String,
    /// Voices `voiceName` may choose.
    pub(crate) voices: Vec<String>,
    /// `voice` otherwise.
    pub(crate) default_voice: Option<String>,
}

/// An OpenAI-compatible speech service.
pub(crate) struct Http {
    endpoint: url::Url,
    api_key: Option<String>,
    model: String,
    voices: Vec<String>,
    default_voice: String,
    client: reqwest::Client,
}

impl Http {
    /// The engine, or why its URL cannot be used (the error names the setting).
    pub(crate) fn new(settings: Settings, client: reqwest::Client) -> Result<Http, String> {
        let base = tonegate_core::api::check_http_url(&settings.base_url)
            .map_err(|why| format!("tts_http_url {why}"))?;
        let endpoint = base
            .join(&format!(
                "{}/v1/audio/speech",
                base.path().trim_end_matches('/')
            ))
            .map_err(|e| format!("tts_http_url: {e}"))?;
        Ok(Http {
            endpoint,
            api_key: settings.api_key,
            model: settings.model,
            voices: settings.voices,
            default_voice: settings
                .default_voice
                .unwrap_or_else(|| DEFAULT_VOICE.to_owned()),
            client,
        })
    }

    async fn post(&self, job: &Job, max_bytes: u64) -> Result<Vec<u8>, EngineError> {
        let body = serde_json::json!({
            "model": self.model,
            "voice": job.voice,
            "input": job.input.as_str(),
            "response_format": "wav",
        });
        let mut request = self
            .client
            .post(self.endpoint.clone())
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| {
            EngineError::bad_request(
                "the speech service cannot be reached",
                format!("speech service: {}", crate::http::download_error(e)),
            )
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(refused(status));
        }
        let bytes = crate::http::read_limited(response, (max_bytes, "tts_max_output_bytes"))
            .await
            .map_err(|e| {
                EngineError::bad_request(
                    format!("the speech service's answer is {e}"),
                    format!("speech service: {e}"),
                )
            })?;
        Ok(bytes.to_vec())
    }
}

/// A refusal by the service, in the class of its status.
fn refused(status: StatusCode) -> EngineError {
    let message = format!("the speech service answered HTTP {}", status.as_u16());
    let public = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            SpeechFailure::Unauthorized(message.clone())
        }
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => {
            SpeechFailure::TimedOut(message.clone())
        }
        StatusCode::TOO_MANY_REQUESTS => SpeechFailure::Busy(message.clone()),
        _ => SpeechFailure::BadRequest(message.clone()),
    };
    EngineError {
        public,
        detail: message,
    }
}

impl Engine for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    fn prepare(&self, speech: &Speech) -> Result<Job, EngineError> {
        let listed = speech.voice_name.as_deref().and_then(|name| {
            self.voices
                .iter()
                .find(|v| v.eq_ignore_ascii_case(name))
                .cloned()
        });
        if listed.is_none() && speech.voice_name.is_some() {
            tracing::info!(
                field = "voiceName",
                voice = %self.default_voice,
                "voiceName is not in tts_http_voices; speaking with {}",
                self.default_voice
            );
        }
        let text = match &speech.input {
            SpeechInput::Text(text) => text.clone(),
            SpeechInput::Ssml(doc) => ssml::to_text(doc)
                .map_err(|e| EngineError::bad_request(e.to_string(), e.to_string()))?,
        };
        Ok(Job {
            voice: listed.unwrap_or_else(|| self.default_voice.clone()),
            input: SpeechInput::Text(text),
        })
    }

    fn synthesize<'a>(
        &'a self,
        job: &'a Job,
        max_bytes: u64,
    ) -> BoxFuture<'a, Result<Vec<u8>, EngineError>> {
        Box::pin(self.post(job, max_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(base: &str) -> Result<Http, String> {
        Http::new(
            Settings {
                base_url: base.to_owned(),
                api_key: None,
                model: "tts-1".to_owned(),
                voices: vec!["nova".to_owned()],
                default_voice: None,
            },
            client(),
        )
    }

    /// The server's client for operator-named URLs (it brings the TLS provider).
    fn client() -> reqwest::Client {
        let webhook =
            crate::webhook::Webhook::new(&crate::Config::default(), &crate::Metrics::new());
        webhook.unwrap().client().clone()
    }

    #[test]
    fn the_endpoint_is_under_the_base_url() {
        let url = |base| engine(base).unwrap().endpoint.to_string();
        assert_eq!(
            url("http://127.0.0.1:8880"),
            "http://127.0.0.1:8880/v1/audio/speech"
        );
        assert_eq!(
            url("https://tts.example/api/"),
            "https://tts.example/api/v1/audio/speech"
        );
        assert!(engine("ftp://x").err().unwrap().contains("tts_http_url"));
    }

    #[test]
    fn listed_voices_pass_and_ssml_becomes_text() {
        let http = engine("http://127.0.0.1:1").unwrap();
        let job = |voice: &str, input| {
            http.prepare(&Speech {
                input,
                voice_name: Some(voice.to_owned()),
                source_locale: None,
            })
            .unwrap()
        };
        let spoken = job(
            "NOVA",
            SpeechInput::Ssml("<speak>Hi <break/>there</speak>".into()),
        );
        assert_eq!(spoken.voice, "nova");
        assert_eq!(spoken.input, SpeechInput::Text("Hi there".into()));
        assert_eq!(
            job("en-US-JennyNeural", SpeechInput::Text("x".into())).voice,
            "alloy"
        );
    }

    #[test]
    fn refusals_keep_their_class() {
        assert!(matches!(
            refused(StatusCode::UNAUTHORIZED).public,
            SpeechFailure::Unauthorized(_)
        ));
        assert!(matches!(
            refused(StatusCode::TOO_MANY_REQUESTS).public,
            SpeechFailure::Busy(_)
        ));
        assert!(matches!(
            refused(StatusCode::GATEWAY_TIMEOUT).public,
            SpeechFailure::TimedOut(_)
        ));
        assert!(matches!(
            refused(StatusCode::BAD_REQUEST).public,
            SpeechFailure::BadRequest(_)
        ));
    }
}
