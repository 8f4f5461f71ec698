//! Files a test plants: programs and links in directories a test mounts or
//! runs in.

use std::path::Path;

/// Writes `text` to `path` as a program anyone may run (mode 0755).
pub fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// Makes `link` a symlink to `target` (written as given: relative targets
/// stay relative).
pub fn symlink(target: impl AsRef<Path>, link: &Path) {
    std::os::unix::fs::symlink(target.as_ref(), link).unwrap_or_else(|e| {
        panic!(
            "symlink {} -> {}: {e}",
            link.display(),
            target.as_ref().display()
        )
    });
}

/// Makes the directory `path` (and its parents), returning it.
pub fn dir(path: &Path) -> &Path {
    std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    path
}
