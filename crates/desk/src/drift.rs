//! Token clocks: each token's drift history as a chart, and the tokens
//! whose next sign-in may fail because their clock has moved since their
//! last accepted code.
//!
//! Entra accepts a sign-in code within ±1 minute (30 s tokens; ±2 minutes
//! for 60 s tokens) of the drift it measured last time, and an activation
//! code within ±1 day (±2 days). A token that is not used for months keeps
//! drifting — vendors quote about a minute every six months — until its
//! codes fall outside the sign-in window; then it has to be re-activated
//! (deactivate, activate with a fresh code). The desk predicts the drift
//! since the last use from the token's own history (the slope of its
//! measurements, when they span a day or more) or else the vendors' rate,
//! and flags a token when that reaches half its window, or when its drift
//! passes 10 minutes (beyond which vendors say only a manual re-sync helps).
//!
//! Drift comes from the local directory (`GET /api/tokens`); Microsoft
//! Graph does not report it, so against a real tenant these pages say so.

use std::fmt::Write as _;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use oathvault_store::{DeskDevice, DriftSample};

use crate::DeskState;
use crate::pages::{Frame, Operator, enc, render, store_failed};

/// Vendors' figure: about a minute every six months.
const VENDOR_RATE_PER_DAY: f64 = 60.0 / 182.5;
/// Past this, vendors say only a manual re-sync helps.
const FAR: i64 = 600;

pub(crate) fn routes() -> Router<Arc<DeskState>> {
    Router::new().route("/drift", get(drift_page))
}

/// The drift rate (seconds a day) from a history: the least-squares slope
/// when the measurements span at least a day, else the vendors' rate.
#[must_use]
pub(crate) fn rate_per_day(history: &[DriftSample]) -> (f64, bool) {
    let (Some(first), Some(last)) = (history.first(), history.last()) else {
        return (VENDOR_RATE_PER_DAY, false);
    };
    if history.len() < 2 || last.at - first.at < 86_400 {
        return (VENDOR_RATE_PER_DAY, false);
    }
    #[allow(
        clippy::cast_precision_loss,
        reason = "times and drifts are far below 2^52"
    )]
    let points: Vec<(f64, f64)> = history
        .iter()
        .map(|s| ((s.at - first.at) as f64 / 86_400.0, s.drift as f64))
        .collect();
    #[allow(clippy::cast_precision_loss, reason = "at most 500 points")]
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= 0.0 {
        return (VENDOR_RATE_PER_DAY, false);
    }
    ((sxy / sxx).abs(), true)
}

/// What the desk says about a token's clock.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outlook {
    /// Days since the last accepted code.
    pub idle_days: f64,
    /// Predicted drift since then (seconds, either way).
    pub predicted: f64,
    /// Entra's sign-in window around the last drift (seconds, either way).
    pub window: i64,
    /// Whether the rate is the token's own (else the vendors').
    pub measured_rate: bool,
    /// The warning, if any.
    pub warning: Option<String>,
}

/// The outlook of a token with `drift` (seconds), last used at `last_used`
/// (Unix seconds), with this history, at `now`.
#[must_use]
pub(crate) fn outlook(
    d: &DeskDevice,
    drift: i64,
    last_used: Option<i64>,
    history: &[DriftSample],
    now: i64,
) -> Outlook {
    let window = if d.interval == 60 { 120 } else { 60 };
    #[allow(clippy::cast_precision_loss, reason = "seconds far below 2^52")]
    let idle_days = last_used.map_or(0.0, |t| (now - t).max(0) as f64 / 86_400.0);
    let (rate, measured_rate) = rate_per_day(history);
    let predicted = rate * idle_days;
    #[allow(clippy::cast_precision_loss, reason = "small")]
    let half = window as f64 / 2.0;
    let warning = if drift.abs() >= FAR {
        Some(format!(
            "{} min off: past what a sign-in or activation window allows after a long rest; re-sync with the vendor's tool or replace",
            drift.abs() / 60
        ))
    } else if predicted >= half {
        Some(format!(
            "idle {idle_days:.0} days: it has probably drifted {predicted:.0} s more, near Entra's ±{window} s sign-in window — ask the user to sign in, or re-activate"
        ))
    } else {
        None
    };
    Outlook {
        idle_days,
        predicted,
        window,
        measured_rate,
        warning,
    }
}

/// An SVG line chart of a drift history (seconds over time), or `None`
/// with fewer than one measurement. Only numbers the desk computed go into
/// the markup.
#[must_use]
pub(crate) fn chart(history: &[DriftSample]) -> Option<String> {
    let (first, last) = (history.first()?, history.last()?);
    let (w, h, pad) = (640.0_f64, 200.0_f64, 36.0_f64);
    let span = (last.at - first.at).max(1);
    let lo = history.iter().map(|s| s.drift).min()?.min(-60);
    let hi = history.iter().map(|s| s.drift).max()?.max(60);
    #[allow(clippy::cast_precision_loss, reason = "chart coordinates")]
    let x = |at: i64| pad + (at - first.at) as f64 / span as f64 * (w - 2.0 * pad);
    #[allow(clippy::cast_precision_loss, reason = "chart coordinates")]
    let y = |v: i64| pad + (hi - v) as f64 / (hi - lo).max(1) as f64 * (h - 2.0 * pad);
    let mut svg = format!(
        "<svg class=\"drift-chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Clock drift over time\">"
    );
    let _ = write!(
        svg,
        "<line class=\"zero\" x1=\"{pad}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
        w - pad,
        y(0),
        y(0)
    );
    let _ = write!(
        svg,
        "<text x=\"2\" y=\"{:.1}\">{hi} s</text><text x=\"2\" y=\"{:.1}\">{lo} s</text><text x=\"2\" y=\"{:.1}\">0</text>",
        y(hi) + 4.0,
        y(lo) + 4.0,
        y(0) + 4.0
    );
    let points: Vec<String> = history
        .iter()
        .map(|s| format!("{:.1},{:.1}", x(s.at), y(s.drift)))
        .collect();
    let _ = write!(svg, "<polyline points=\"{}\"/>", points.join(" "));
    for s in history {
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"><title>{} s at {}</title></circle>",
            x(s.at),
            y(s.drift),
            s.drift,
            oathvault_web::when(s.at)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{pad}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text></svg>",
        h - 6.0,
        oathvault_web::when(first.at),
        w - pad,
        h - 6.0,
        oathvault_web::when(last.at)
    );
    Some(svg)
}

struct Row {
    d: DeskDevice,
    drift: i64,
    outlook: Outlook,
}

#[derive(Template)]
#[template(path = "drift.html")]
struct DriftPage {
    frame: Frame,
    at_risk: Vec<Row>,
    others: Vec<Row>,
    reported: bool,
}

impl DriftPage {
    #[allow(clippy::unused_self, reason = "called from the template")]
    fn enc(&self, s: &str) -> String {
        enc(s)
    }
}

async fn drift_page(State(st): State<Arc<DeskState>>, op: Operator) -> Response {
    let tokens = match st.store.desk_drifting(2000).await {
        Ok(t) => t,
        Err(e) => return store_failed(&op, &e),
    };
    let mut at_risk = Vec::new();
    let mut others = Vec::new();
    for d in tokens {
        let Some(drift) = d.drift else { continue };
        let history = match st.store.desk_drift_history(&d.serial).await {
            Ok(h) => h,
            Err(e) => return store_failed(&op, &e),
        };
        let outlook = outlook(
            &d,
            drift,
            oathvault_otp::clock::unix_of(&d.last_used),
            &history,
            op.now,
        );
        let row = Row { d, drift, outlook };
        if row.outlook.warning.is_some() {
            at_risk.push(row);
        } else if others.len() < 200 {
            others.push(row);
        }
    }
    render(
        StatusCode::OK,
        &DriftPage {
            frame: op.frame("drift"),
            reported: !at_risk.is_empty() || !others.is_empty(),
            at_risk,
            others,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(interval: i64) -> DeskDevice {
        DeskDevice {
            serial: "S".into(),
            interval,
            ..DeskDevice::default()
        }
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(
            oathvault_otp::clock::unix_of("1970-01-01T00:00:00Z"),
            Some(0)
        );
        assert_eq!(
            oathvault_otp::clock::unix_of("2009-02-13T23:31:30Z"),
            Some(1_234_567_890)
        );
        assert_eq!(
            oathvault_otp::clock::unix_of("2026-11-27T09:45:07Z"),
            Some(1_795_772_707)
        );
        assert_eq!(
            oathvault_otp::clock::unix_of("2024-02-29T12:00:00.123Z"),
            Some(1_709_208_000)
        );
        assert_eq!(oathvault_otp::clock::unix_of("yesterday"), None);
        assert_eq!(oathvault_otp::clock::unix_of("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn the_slope_of_a_history_or_the_vendors_rate() {
        assert_eq!(rate_per_day(&[]), (VENDOR_RATE_PER_DAY, false));
        // Two seconds a day, measured over ten days.
        let h: Vec<DriftSample> = (0..=10)
            .map(|d| DriftSample {
                at: 1_000_000 + d * 86_400,
                drift: 5 + 2 * d,
            })
            .collect();
        let (rate, measured) = rate_per_day(&h);
        assert!(measured);
        assert!((rate - 2.0).abs() < 1e-9, "{rate}");
        // Within a day: not enough to measure.
        let short = [
            DriftSample { at: 0, drift: 0 },
            DriftSample {
                at: 3600,
                drift: 30,
            },
        ];
        assert_eq!(rate_per_day(&short), (VENDOR_RATE_PER_DAY, false));
    }

    #[test]
    fn warnings_for_idle_tokens_and_far_clocks() {
        let now = 100 * 86_400;
        // Used yesterday, small drift: fine.
        let o = outlook(&token(30), 12, Some(now - 86_400), &[], now);
        assert_eq!(o.window, 60);
        assert!(o.warning.is_none(), "{o:?}");
        // A year idle at the vendors' rate: ~120 s more, past half of ±60 s.
        let o = outlook(&token(30), 12, Some(now - 365 * 86_400), &[], now);
        assert!(o.predicted > 100.0 && o.predicted < 130.0, "{o:?}");
        assert!(o.warning.as_deref().unwrap().contains("idle 365 days"));
        // A 60 s token has twice the window: 100 days idle is fine.
        let o = outlook(&token(60), 0, Some(now - 100 * 86_400), &[], now);
        assert_eq!(o.window, 120);
        assert!(o.warning.is_none(), "{o:?}");
        // Eleven minutes off.
        let o = outlook(&token(30), -660, Some(now), &[], now);
        assert!(o.warning.as_deref().unwrap().starts_with("11 min off"));
    }

    #[test]
    fn the_chart_holds_only_numbers_and_dates() {
        assert_eq!(chart(&[]), None);
        let svg = chart(&[
            DriftSample {
                at: 1_796_000_000,
                drift: -4,
            },
            DriftSample {
                at: 1_796_100_000,
                drift: 26,
            },
        ])
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("26 s at"));
    }
}
