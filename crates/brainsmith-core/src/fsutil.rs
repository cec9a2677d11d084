//! Writing files so that a reader never sees half of one, and nothing but a regular file
//! is ever replaced; reading inputs so that an endless one (`/dev/zero`, a pipe that never
//! ends) is refused instead of filling memory.
//!
//! The temporary file is created exclusively (`O_EXCL`) under an unpredictable name by the
//! `tempfile` crate, so nothing planted in the directory beforehand (a symlink, a FIFO) is
//! opened in its place. The destination is resolved first: a symlink is followed, as
//! `open` would follow it, and its final target is replaced atomically (the link itself
//! stays); a destination that exists and is not a regular file (a directory, a FIFO, a
//! device, a socket) is refused before anything is written.

use std::ffi::OsStr;
use std::io::{Error, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

/// The most a model file may hold: 2 GiB, the most a protobuf message (an ONNX model whose
/// weights are inside it) can be.
pub(crate) const MODEL_LIMIT: u64 = 2 << 30;

/// The most a blueprint file may hold: 64 MiB of TOML, far more than any build needs.
pub(crate) const BLUEPRINT_LIMIT: u64 = 64 << 20;

/// Reads the whole of `path`, a `what` (a model, a blueprint), of at most `limit` bytes.
///
/// A regular file or a pipe (a FIFO, `/dev/stdin` when it is one, a shell's `<(...)`) is
/// read; anything else (a device such as `/dev/zero`, a directory, a socket) is refused
/// before it is opened, with what it is. A regular file larger than `limit` is refused
/// from its size, before any of it is read; a pipe, once it has given more than `limit`
/// bytes.
pub fn read_input(path: &Path, limit: u64, what: &str) -> std::io::Result<Vec<u8>> {
    // Checked before opening too: opening a device can do something (a tape rewinds).
    readable(&std::fs::metadata(path)?.file_type(), what)?;
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    // Again on what was opened, in case the path changed in between.
    readable(&meta.file_type(), what)?;
    let too_large = || {
        Error::new(
            ErrorKind::InvalidData,
            format!(
                "it holds more than {}, the most {what} may be; is it the right file?",
                size(limit)
            ),
        )
    };
    if meta.is_file() && meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    if meta.is_file() {
        bytes.reserve_exact(usize::try_from(meta.len()).unwrap_or(0));
    }
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// A regular file or a FIFO; anything else is an error saying what it is.
fn readable(kind: &std::fs::FileType, what: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    let fifo = std::os::unix::fs::FileTypeExt::is_fifo(kind);
    #[cfg(not(unix))]
    let fifo = false;
    if kind.is_file() || fifo {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidInput,
        format!(
            "it is {}; {what} is read from a regular file or a pipe",
            describe(kind)
        ),
    ))
}

/// `limit` for a message: "2 GiB", "64 MiB", or bytes.
fn size(limit: u64) -> String {
    match limit {
        l if l >= 1 << 30 && l % (1 << 30) == 0 => format!("{} GiB", l >> 30),
        l if l >= 1 << 20 && l % (1 << 20) == 0 => format!("{} MiB", l >> 20),
        l => format!("{l} bytes"),
    }
}

/// The buffer between [`write_atomic_with`]'s writer and the temporary file: std's own
/// default. A larger one saves no system call where it matters: the model's encoder
/// gathers its own chunks and writes them (and every weight) past this buffer, and a
/// short command would only pay for its fresh pages.
const WRITE_BUFFER: usize = 8 << 10;

/// How many symlinks in a row are followed before giving up (Linux's own limit).
const MAX_SYMLINKS: usize = 40;

/// Whether an atomic write waits for the disk before its rename.
///
/// Both kinds are atomic for everyone who reads the destination while the system runs: it
/// holds the old file or the whole new one, and a write that fails leaves the old one.
/// They differ after a crash of the system itself (a power loss, a kernel panic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// The temporary file is `fsync`ed before the rename, so after a crash the destination
    /// still holds the old file or the whole new one. The default.
    #[default]
    Synced,
    /// Renamed without an `fsync`: the kernel writes the data back when it likes, so a
    /// crash soon after the write can leave the destination empty or short. What
    /// `onnx.save`, compilers and most build tools do; it saves the disk's write time,
    /// which on a model of hundreds of megabytes is most of a run.
    Unsynced,
}

/// Writes `bytes` to an exclusively created temporary file beside the destination, syncs
/// it, then renames it over the destination. The destination is `path`, or what `path`
/// finally points to when it is a symlink; see [`output_target`] for what is refused. On
/// any error the temporary file is removed and the destination is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// [`write_atomic`] for content that is written piece by piece rather than held whole:
/// `write` writes it into the temporary file (through a buffer; a write of at least the
/// buffer's size goes to the file directly), which is then flushed, synced and renamed
/// over the destination. An error from `write` leaves the destination untouched, as any
/// other does.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_atomic_durable(path, Durability::Synced, write)
}

/// [`write_atomic_with`], synced before the rename or not as `durability` says.
pub fn write_atomic_durable(
    path: &Path,
    durability: Durability,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
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
    let mut file = std::io::BufWriter::with_capacity(WRITE_BUFFER, tmp.as_file_mut());
    write(&mut file)?;
    file.flush()?;
    drop(file);
    if durability == Durability::Synced {
        tmp.as_file().sync_all()?;
    }
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
pub fn output_target(path: &Path) -> std::io::Result<PathBuf> {
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

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fsutil-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Writes `bytes` into the FIFO `path` from another thread, ignoring a reader that
    /// stops early.
    fn feed(path: &Path, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
        let path = path.to_owned();
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            let _ = f.write_all(&bytes);
        })
    }

    #[test]
    fn files_and_pipes_are_read_up_to_the_limit() {
        let dir = scratch("limit");
        let file = dir.join("file");
        std::fs::write(&file, b"0123456789").unwrap();
        assert_eq!(read_input(&file, 10, "a test").unwrap(), b"0123456789");
        let err = read_input(&file, 9, "a test").unwrap_err().to_string();
        assert_eq!(
            err,
            "it holds more than 9 bytes, the most a test may be; is it the right file?"
        );

        let fifo = dir.join("fifo");
        mkfifo(&fifo);
        let writer = feed(&fifo, b"0123456789".to_vec());
        assert_eq!(read_input(&fifo, 10, "a test").unwrap(), b"0123456789");
        writer.join().unwrap();
        // An endless pipe is cut at the limit.
        let writer = feed(&fifo, vec![0; 1 << 20]);
        let err = read_input(&fifo, 1000, "a test").unwrap_err().to_string();
        assert!(err.contains("more than 1000 bytes"), "{err}");
        drop(writer);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_the_destination_and_no_temporary_file() {
        for durability in [Durability::Synced, Durability::Unsynced] {
            failed_write(durability);
        }
    }

    fn failed_write(durability: Durability) {
        let dir = scratch(&format!("failed-{durability:?}"));
        let out = dir.join("out");
        std::fs::write(&out, b"before").unwrap();
        let err = write_atomic_durable(&out, durability, |file| {
            // More than the buffer, so part of it reaches the temporary file.
            file.write_all(&vec![7; 3 * WRITE_BUFFER])?;
            Err(Error::other("the encoder failed"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "the encoder failed");
        assert_eq!(std::fs::read(&out).unwrap(), b"before");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

        // Written in many steps of every size, the content arrives whole.
        let bytes: Vec<u8> = (0..(WRITE_BUFFER * 20 + 12345))
            .map(|i| (i % 251) as u8)
            .collect();
        write_atomic_durable(&out, durability, |file| {
            for part in bytes.chunks(WRITE_BUFFER * 3 / 2 + 1) {
                file.write_all(&part[..1])?;
                file.write_all(&part[1..])?;
            }
            Ok(())
        })
        .unwrap();
        assert!(std::fs::read(&out).unwrap() == bytes);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn devices_and_directories_are_refused_unread() {
        let err = read_input(Path::new("/dev/zero"), 10, "a test").unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is a character device; a test is read from a regular file or a pipe"
        );
        let err = read_input(&std::env::temp_dir(), 10, "a test").unwrap_err();
        assert!(err.to_string().starts_with("it is a directory;"), "{err}");
        assert_eq!(size(MODEL_LIMIT), "2 GiB");
        assert_eq!(size(BLUEPRINT_LIMIT), "64 MiB");
    }
}
