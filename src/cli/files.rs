//! Reading a command's input and writing its output (`-` is the standard stream), and the
//! DiAGRAM network a command may load.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use super::*;

pub(crate) fn read_input(path: &PathBuf) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path)
    }
}

pub(crate) fn write_output(path: &PathBuf, bytes: &[u8]) -> std::io::Result<()> {
    if path.as_os_str() == "-" {
        return std::io::stdout().write_all(bytes);
    }
    // A device, pipe or socket (`-o /dev/null`, a FIFO) is written to as it is: renaming a file
    // over it would replace it (run as root, `-o /dev/null` once turned /dev/null into a
    // regular file).
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        return std::fs::OpenOptions::new().write(true).open(path)?.write_all(bytes);
    }
    // Written beside the target and renamed, so a reader never sees half a PDF.
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// The network named on the command line, if any (a named but broken one is an error).
pub(crate) fn load_scorer(model: Option<PathBuf>) -> Result<Option<Arc<Scorer>>, reportq::scoring::NetworkError> {
    model.map(|p| reportq::scoring::load(Some(&p))).transpose()
}
