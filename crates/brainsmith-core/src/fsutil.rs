//! Writing files so that a reader never sees half of one.
//!
//! The temporary file is created exclusively (`O_EXCL`) under an unpredictable name by the
//! `tempfile` crate, so nothing planted in the directory beforehand (a symlink, a FIFO) is
//! opened in its place.

use std::ffi::OsStr;
use std::io::{Error, ErrorKind, Write};
use std::path::Path;

/// Writes `bytes` to an exclusively created temporary file beside `path`, syncs it, then
/// renames it over `path`. On any error the temporary file is removed and `path` is
/// untouched.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path.file_name().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidInput,
            "the path names no file; name the file to write",
        )
    })?;
    // The name only helps a person who finds a leftover after a crash; the random part
    // is what makes it unpredictable, `O_EXCL` what makes it safe.
    let prefix = prefix(file_name);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // What `File::create` gives a file: read and write for everyone, less the umask (the
    // temporary file's default, owner-only, would otherwise become the output's).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    // Dropping the `NamedTempFile` inside the error removes the temporary file.
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// `.NAME.` with the name shortened to keep the temporary name well under `NAME_MAX`.
fn prefix(file_name: &OsStr) -> String {
    let name = file_name.to_string_lossy();
    let short: String = name.chars().take(100).collect();
    format!(".{short}.")
}
