//! [`PluginError`]: what plugins return, with the context callers add on the way up.

use std::fmt;

/// An error raised by a plugin, carrying a chain of context ("while applying X").
///
/// Any `std::error::Error` converts into it with `?`; [`PluginError::new`] makes one from
/// a message.
pub struct PluginError {
    message: String,
    context: Vec<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl PluginError {
    /// An error with a message.
    pub fn new(message: impl fmt::Display) -> Self {
        PluginError {
            message: message.to_string(),
            context: Vec::new(),
            source: None,
        }
    }

    /// Adds what the caller was doing; shown before the message.
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.context.push(context.to_string());
        self
    }

    /// The innermost message, without context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The underlying error, when this one was converted from another.
    pub fn source(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for context in self.context.iter().rev() {
            write!(f, "{context}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl fmt::Debug for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for PluginError {
    fn from(error: E) -> Self {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(inner) = source {
            message.push_str(": ");
            message.push_str(&inner.to_string());
            source = inner.source();
        }
        PluginError {
            message,
            context: Vec::new(),
            source: Some(Box::new(error)),
        }
    }
}
