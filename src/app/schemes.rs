//! `hookwall schemes`: the built-in provider table, for a terminal or as README's Markdown
//! table (a test keeps README equal to `hookwall schemes --markdown`).

use crate::signature::catalogue::{self, Preset, presets};

/// The listing (or one scheme's entry); `markdown` gives README's table.
pub(crate) fn render(name: Option<&str>, markdown: bool) -> Result<String, String> {
    match name {
        None => Ok(table(markdown)),
        Some(name) => {
            let preset = catalogue::find(name)
                .ok_or_else(|| format!("unknown scheme {name:?}; `hookwall schemes` lists them"))?;
            let mut out = entry(preset);
            if let Some(spec) = preset.spec() {
                out.push_str("\nas a route's own description (scheme = \"hmac\"):\n");
                out.push_str(&spec.as_toml());
            }
            Ok(out)
        }
    }
}

fn table(markdown: bool) -> String {
    let mut out = String::new();
    if markdown {
        out.push_str(
            "| scheme | provider kind | headers | signed | secret (where to find it) | docs |\n",
        );
        out.push_str("|---|---|---|---|---|---|\n");
        for preset in presets() {
            out.push_str(&format!(
                "| `{}`{} | {} | {} | {} | {} | [docs]({}) |\n",
                preset.name,
                aliases(preset),
                preset.category.name(),
                code(&preset.headers()),
                code(&preset.signed()),
                preset.secret,
                preset.docs
            ));
        }
        return out;
    }
    for preset in presets() {
        out.push_str(&entry(preset));
    }
    out.push_str("\nhmac\n  your own: see README, \"Custom schemes\"\n");
    out
}

fn entry(preset: &Preset) -> String {
    let mut out = format!("{}{}\n", preset.name, aliases(preset));
    out.push_str(&format!("  kind     {}\n", preset.category.name()));
    out.push_str(&format!("  headers  {}\n", preset.headers()));
    out.push_str(&format!("  signed   {}\n", preset.signed()));
    out.push_str(&format!("  key      {}\n", preset.key()));
    out.push_str(&format!("  secret   {}\n", preset.secret));
    out.push_str(&format!("  docs     {}\n", preset.docs));
    out
}

fn aliases(preset: &Preset) -> String {
    if preset.aliases.is_empty() {
        String::new()
    } else {
        format!(" (also: {})", preset.aliases.join(", "))
    }
}

/// Markdown code span, with `|` escaped so it cannot split the table cell.
fn code(text: &str) -> String {
    format!("`{}`", text.replace('|', "\\|"))
}

#[cfg(test)]
mod tests {
    /// README's scheme table is `hookwall schemes --markdown`, between two markers.
    #[test]
    fn readme_scheme_table_is_generated_from_the_catalogue() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md");
        let start = "<!-- schemes:start (hookwall schemes --markdown) -->\n";
        let end = "<!-- schemes:end -->";
        let from = readme.find(start).expect("the schemes:start marker") + start.len();
        let to = readme[from..].find(end).expect("the schemes:end marker") + from;
        assert_eq!(
            &readme[from..to],
            super::render(None, true).unwrap(),
            "README's scheme table is stale: replace it with `hookwall schemes --markdown`"
        );
    }
}
