//! Output: one JSON line per figure on stdout as it is measured, and a
//! human table on stderr at the end.

/// One figure beside the limit it is compared with.
pub(crate) struct Row {
    name: String,
    value: f64,
    unit: &'static str,
    limit_name: String,
    limit_value: f64,
}

impl Row {
    /// `value / limit_value`, or 0 when the limit is 0.
    fn ratio(&self) -> f64 {
        if self.limit_value == 0.0 { 0.0 } else { self.value / self.limit_value }
    }
}

/// Every row printed so far.
#[derive(Default)]
pub(crate) struct Report {
    rows: Vec<Row>,
}

/// The `q` quantile of `values` (the nearest rank below; 0 if empty).
pub(crate) fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0.0)
}

/// A finite number for JSON (non-finite values would print as `null`).
fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

impl Report {
    /// Prints `name` as one JSON line and keeps it for the table.
    pub(crate) fn figure(
        &mut self,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        limit_name: impl Into<String>,
        limit_value: f64,
    ) {
        let row = Row {
            name: name.into(),
            value: finite(value),
            unit,
            limit_name: limit_name.into(),
            limit_value: finite(limit_value),
        };
        let line = serde_json::json!({
            "name": row.name,
            "value": row.value,
            "unit": row.unit,
            "limit_name": row.limit_name,
            "limit_value": row.limit_value,
            "ratio": finite(row.ratio()),
        });
        println!("{line}");
        self.rows.push(row);
    }

    /// A limit on its own line (compared with itself).
    pub(crate) fn limit(&mut self, name: &str, value: f64, unit: &'static str) {
        self.figure(format!("limit.{name}"), value, unit, name, value);
    }

    /// The growth of a per-message cost: `cost` at `size` over `base` at
    /// the smallest size, against issue 14's target of 1.2.
    pub(crate) fn growth(&mut self, figure: &str, size: usize, cost: f64, base: f64) {
        let x = if base == 0.0 { 0.0 } else { cost / base };
        self.figure(format!("{figure}.growth.{size}"), x, "x", "target (issue 14)", 1.2);
    }

    /// The human table.
    pub(crate) fn table(&self) -> String {
        let mut s = format!(
            "{:<34} {:>14} {:<9} {:<44} {:>14} {:>8}\n",
            "figure", "value", "unit", "limit", "limit value", "ratio"
        );
        for r in &self.rows {
            s.push_str(&format!(
                "{:<34} {:>14.2} {:<9} {:<44} {:>14.2} {:>8.3}\n",
                r.name,
                r.value,
                r.unit,
                r.limit_name,
                r.limit_value,
                r.ratio()
            ));
        }
        s
    }
}
