//! Writing files so that a reader never sees half of one, and nothing but a regular file
//! is ever replaced.
//!
//! The temporary file is created exclusively (`O_EXCL`) under an unpredictable name by the
//! `tempfile` crate, so nothing planted in the directory beforehand (a symlink, a FIFO) is
//! opened in its place. The destination is resolved first: a symlink is followed, as
//! `open` would follow it, and its final target is replaced atomically (the link itself
//! stays); a destination that exists and is not a regular file (a directory, a FIFO, a
//! device, a socket) is refused before anything is written.

use std::ffi::OsStr;
use std::io::{Error, ErrorKind, Write};
use std::path::{Path, PathBuf};

/// How many symlinks in a row are followed before giving up (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

/// Writes `bytes` to an exclusively created temporary file beside the destination, syncs
/// it, then renames it over the destination. The destination is `path`, or what `path`
/// finally points to when it is a symlink; see [`output_target`] for what is refused. On
/// any error the temporary file is removed and the destination is untouched.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target = output_target(path)?;
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = target.file_name().ok_or_else(|| {
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
    tmp.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// What [`write_atomic`] would replace for `path`: `path` itself, or, when it is a symlink,
/// the file it finally points to (which need not exist yet).
///
/// Refused, with an error that says what the path is: a destination that exists and is
/// not a regular file; a chain of more than 40 symlinks; and a symlink that the kernel's
/// `protected_symlinks` rule would not follow either (one in a sticky, world-writable
/// directory such as `/tmp`, owned by neither that directory's owner nor this process's
/// user), because following it is how another local user redirects the write.
pub(crate) fn output_target(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_owned();
    for _ in 0..MAX_SYMLINKS {
        let meta = match std::fs::symlink_metadata(&current) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        };
        let kind = meta.file_type();
        if kind.is_file() {
            return Ok(current);
        }
        if !kind.is_symlink() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{}{} is {}, not a regular file; only a regular file (or a new path) \
                     is replaced: name one",
                    current.display(),
                    if current == path {
                        String::new()
                    } else {
                        format!(" (where {} points)", path.display())
                    },
                    describe(&kind)
                ),
            ));
        }
        check_symlink_owner(&current, &meta)?;
        let link = std::fs::read_link(&current)?;
        current = match current.parent() {
            Some(parent) if link.is_relative() => parent.join(link),
            _ => link,
        };
    }
    Err(Error::new(
        ErrorKind::InvalidInput,
        format!(
            "{} is a chain of more than {MAX_SYMLINKS} symlinks (a loop?); name the file itself",
            path.display()
        ),
    ))
}

/// What a non-regular file is, for a message: "a directory", "a FIFO", ...
fn describe(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// The `protected_symlinks` rule: in a sticky, world-writable directory, a symlink is
/// followed only when its owner owns the directory or is this process's user. Reading the
/// link ourselves bypasses the kernel's own check, so it is made here.
#[cfg(unix)]
fn check_symlink_owner(link: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dir = link
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir_meta = std::fs::metadata(dir)?;
    let sticky_and_shared = dir_meta.mode() & 0o1002 == 0o1002;
    if !sticky_and_shared || meta.uid() == dir_meta.uid() || Some(meta.uid()) == process_uid() {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "{} is a symlink owned by another user (uid {}) in the shared directory {}; \
             it is not followed, as the kernel would not follow it: remove it or name \
             another path",
            link.display(),
            meta.uid(),
            dir.display()
        ),
    ))
}

#[cfg(not(unix))]
fn check_symlink_owner(_: &Path, _: &std::fs::Metadata) -> std::io::Result<()> {
    Ok(())
}

/// This process's effective user, where the system shows it without a system call std
/// lacks (Linux's `/proc/self` belongs to it); `None` elsewhere, and then only the
/// directory owner's symlinks are followed in a shared directory.
#[cfg(unix)]
fn process_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// `.NAME.` with the name shortened to keep the temporary name well under `NAME_MAX`.
fn prefix(file_name: &OsStr) -> String {
    let name = file_name.to_string_lossy();
    let short: String = name.chars().take(100).collect();
    format!(".{short}.")
}
