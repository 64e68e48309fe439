//! Tor bootstrap progress, as events for the UI.

use arti_client::status::BootstrapStatus;

/// How far arti is in connecting to the Tor network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapProgress {
    /// 0–100.
    pub percent: u8,
    /// arti's description, for people (not for parsing).
    pub description: String,
    /// Whether streams can be opened now.
    pub ready: bool,
    /// Why bootstrap is stuck, if arti thinks it is.
    pub blocked: Option<String>,
}

impl From<&BootstrapStatus> for BootstrapProgress {
    fn from(status: &BootstrapStatus) -> Self {
        // as_frac() is within 0..=1; the cast saturates anyway.
        let percent = (status.as_frac().clamp(0.0, 1.0) * 100.0).round() as u8;
        BootstrapProgress {
            percent,
            description: status.to_string(),
            ready: status.ready_for_traffic(),
            blocked: status.blocked().map(|b| b.to_string()),
        }
    }
}
