//! Free-text search over names, descriptions and tags.

use super::{Plugin, Registry};

impl Registry {
    /// The plugins matching every whitespace-separated term of `text` (case-insensitive,
    /// in the name, qualified name, description, docs or tags). Name matches come first,
    /// then the registry order.
    pub fn search(&self, text: &str) -> Vec<&Plugin> {
        let terms: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
        if terms.is_empty() {
            return self.plugins().iter().collect();
        }
        let mut hits: Vec<(bool, &Plugin)> = self
            .plugins()
            .iter()
            .filter_map(|p| {
                let name = p.qualified_name().to_lowercase();
                let text = format!(
                    "{} {} {}",
                    p.summary(),
                    p.docs(),
                    p.tags().collect::<Vec<_>>().join(" ")
                )
                .to_lowercase();
                terms
                    .iter()
                    .all(|t| name.contains(t.as_str()) || text.contains(t.as_str()))
                    .then(|| (!terms.iter().any(|t| name.contains(t.as_str())), p))
            })
            .collect();
        hits.sort_by_key(|(by_text_only, _)| *by_text_only);
        hits.into_iter().map(|(_, p)| p).collect()
    }
}
