//! The table of figures and ratios the benchmark prints.

use std::collections::BTreeMap;

#[derive(Default, Clone)]
pub(crate) struct Row {
    pub(crate) cells: BTreeMap<&'static str, String>,
    pub(crate) values: BTreeMap<&'static str, f64>,
}

pub(crate) struct Table {
    pub(crate) rows: Vec<(String, Row, bool)>,
}

impl Table {
    pub(crate) fn add(
        &mut self,
        line: &str,
        kind: &'static str,
        text: String,
        value: f64,
        higher_is_better: bool,
    ) {
        if let Some((_, row, _)) = self.rows.iter_mut().find(|(l, _, _)| l == line) {
            row.cells.insert(kind, text);
            row.values.insert(kind, value);
        } else {
            let mut row = Row::default();
            row.cells.insert(kind, text);
            row.values.insert(kind, value);
            self.rows.push((line.to_string(), row, higher_is_better));
        }
    }

    pub(crate) fn print(&self) {
        println!(
            "\n| line | ours | Godot mp server | TCPServer+WebSocketPeer | ours / mp | ours / tcp |"
        );
        println!("|---|---|---|---|---|---|");
        for (line, row, higher) in &self.rows {
            let cell = |k: &str| row.cells.get(k).cloned().unwrap_or_else(|| "-".into());
            let ratio = |k: &str| match (row.values.get("ours"), row.values.get(k)) {
                (Some(o), Some(t)) if *t > 0.0 && *o >= 0.0 => {
                    let r = o / t;
                    // Within 2 % counts as equal (run-to-run noise is larger).
                    let worse = if *higher { r < 0.98 } else { r > 1.02 };
                    format!("{r:.2}x{}", if worse { " (worse)" } else { "" })
                }
                _ => "-".into(),
            };
            println!(
                "| {line} | {} | {} | {} | {} | {} |",
                cell("ours"),
                cell("godot_mp"),
                cell("tcp"),
                ratio("godot_mp"),
                ratio("tcp")
            );
        }
    }
}
