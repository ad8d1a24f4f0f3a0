//! CloudEvents 1.0 as Call Automation sends them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, PrimitiveDateTime};

use super::model::{OperationDetails, OperationEvent, ResultInformation};

/// The events tonegate sends: the operation event types.
pub use super::model::OperationEventType as EventName;

/// The CloudEvent `type` of an event: `Microsoft.Communication.<Name>`.
pub(super) fn event_type(name: EventName) -> String {
    format!("Microsoft.Communication.{}", name.name())
}

/// `data` of a CloudEvent: the common fields, then the per-event ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventData {
    /// The call.
    pub call_connection_id: String,
    /// Server call id.
    pub server_call_id: String,
    /// Correlation id.
    pub correlation_id: String,
    /// The operation's context, if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_context: Option<String>,
    /// Result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_information: Option<ResultInformation>,
    /// Per-event fields (`recognitionType`, `dtmfResult`, `tone`, `sequenceId`,
    /// `failedPlaySourceIndex`, ...).
    #[serde(flatten)]
    pub details: OperationDetails,
}

/// The ids of the call an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallIds {
    /// The call.
    pub call_connection_id: String,
    /// Server call id.
    pub server_call_id: String,
    /// Correlation id.
    pub correlation_id: String,
}

/// One CloudEvent 1.0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    /// Unique per event; stable across delivery retries.
    pub id: String,
    /// `calling/callConnections/<id>`.
    pub source: String,
    /// `Microsoft.Communication.<Name>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `1.0`.
    pub specversion: String,
    /// `application/json`.
    pub datacontenttype: String,
    /// RFC 3339 UTC time.
    pub time: String,
    /// `calling/callConnections/<id>`.
    pub subject: String,
    /// The payload.
    pub data: EventData,
}

impl CloudEvent {
    /// An event of `name` about `data.call_connection_id`.
    pub fn new(name: EventName, id: String, time: SystemTime, data: EventData) -> CloudEvent {
        let source = format!("calling/callConnections/{}", data.call_connection_id);
        CloudEvent {
            id,
            subject: source.clone(),
            source,
            kind: event_type(name),
            specversion: "1.0".to_owned(),
            datacontenttype: "application/json".to_owned(),
            time: format_time(time),
            data,
        }
    }

    /// The CloudEvent of a media-operation event of the call `call`.
    pub fn from_operation(
        event: &OperationEvent,
        call: CallIds,
        id: String,
        time: SystemTime,
    ) -> CloudEvent {
        let data = EventData {
            call_connection_id: call.call_connection_id,
            server_call_id: call.server_call_id,
            correlation_id: call.correlation_id,
            operation_context: event.meta.operation_context.clone(),
            result_information: Some(event.result_information.clone()),
            details: event.details.clone(),
        };
        CloudEvent::new(event.event, id, time, data)
    }

    /// The event name without the `Microsoft.Communication.` prefix.
    pub fn name(&self) -> &str {
        self.kind
            .strip_prefix("Microsoft.Communication.")
            .unwrap_or(&self.kind)
    }
}

/// RFC 3339 in UTC with 7 fractional digits, as ACS writes it:
/// `2024-07-23T21:51:40.1282466+00:00`. Times before 1970 read as 1970, times after
/// 9999 as the last instant of 9999.
pub fn format_time(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let at = i128::try_from(since.as_nanos())
        .ok()
        .and_then(|nanos| OffsetDateTime::from_unix_timestamp_nanos(nanos).ok())
        .unwrap_or(PrimitiveDateTime::MAX.assume_utc());
    let (year, month, day) = at.to_calendar_date();
    format!(
        "{year:04}-{:02}-{day:02}T{:02}:{:02}:{:02}.{:07}+00:00",
        u8::from(month),
        at.hour(),
        at.minute(),
        at.second(),
        at.nanosecond() / 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_like_acs() {
        let t = UNIX_EPOCH + Duration::new(1_721_771_500, 128_246_600);
        assert_eq!(format_time(t), "2024-07-23T21:51:40.1282466+00:00");
        assert_eq!(format_time(UNIX_EPOCH), "1970-01-01T00:00:00.0000000+00:00");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert!(format_time(leap).starts_with("2000-02-29T00:00:00"));
        let far = UNIX_EPOCH + Duration::from_secs(1 << 40); // beyond year 9999
        assert_eq!(format_time(far), "9999-12-31T23:59:59.9999999+00:00");
    }

    #[test]
    fn cloud_event_shape() {
        let details = OperationDetails {
            recognition_type: Some(super::super::model::RecognitionType::Dtmf),
            ..OperationDetails::default()
        };
        let e = CloudEvent::new(
            EventName::RecognizeCompleted,
            "e1".into(),
            UNIX_EPOCH,
            EventData {
                call_connection_id: "c1".into(),
                server_call_id: "s".into(),
                correlation_id: "k".into(),
                operation_context: Some("r1".into()),
                result_information: Some(ResultInformation::new(200, 8514, "stop tone")),
                details,
            },
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["type"], "Microsoft.Communication.RecognizeCompleted");
        assert_eq!(v["source"], "calling/callConnections/c1");
        assert_eq!(v["subject"], "calling/callConnections/c1");
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["data"]["callConnectionId"], "c1");
        assert_eq!(v["data"]["resultInformation"]["subCode"], 8514);
        assert_eq!(v["data"]["recognitionType"], "dtmf");
        let back: CloudEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.name(), "RecognizeCompleted");
    }
}
