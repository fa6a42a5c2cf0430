//! A ZIP writer that appends to a byte buffer a file at a time, so that an archive can be
//! streamed into an S3 multipart upload without ever being held whole.
//!
//! - Entries are stored, not deflated: PDFs are compressed already, and a stored entry's
//!   CRC-32 and sizes are known before its header is written (the whole file is in hand), so
//!   no data descriptors are needed and every reader handles the result.
//! - ZIP64 records are written only when needed (more than 65,535 entries, or an offset or
//!   size past 4 GiB): a 100,000-report archive is both.
//! - What is kept between entries is the central directory (about 100 bytes an entry), the
//!   only part of a ZIP that depends on every file.
//! - Every timestamp is the one given at creation: the same files give the same bytes.

/// Appends ZIP structures to caller-owned buffers.
#[derive(Debug)]
pub struct ZipWriter {
    /// Bytes written so far (the next entry's offset).
    offset: u64,
    central: Vec<u8>,
    entries: u64,
    dos_time: u16,
    dos_date: u16,
}

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const END64: u32 = 0x0606_4b50;
const LOCATOR64: u32 = 0x0706_4b50;
/// Bit 11: names are UTF-8.
const UTF8: u16 = 1 << 11;
const MAX32: u64 = 0xFFFF_FFFF;

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// MS-DOS time and date of `epoch` (UTC; DOS cannot say before 1980).
fn dos(epoch: i64) -> (u16, u16) {
    let d = crate::domain::Date::from_epoch(epoch);
    if d.year < 1980 {
        return (0, (1 << 5) | 1);
    }
    let secs = epoch.rem_euclid(86_400);
    let time = ((secs / 3600) << 11) | (((secs % 3600) / 60) << 5) | ((secs % 60) / 2);
    let date = ((d.year.min(2107) - 1980) << 9) as u32 | (d.month << 5) | d.day;
    (time as u16, date as u16)
}

impl ZipWriter {
    /// Every entry is dated `epoch` (seconds since 1970).
    pub fn new(epoch: i64) -> Self {
        let (dos_time, dos_date) = dos(epoch);
        Self { offset: 0, central: Vec::new(), entries: 0, dos_time, dos_date }
    }

    /// Takes up an archive after its first `offset` bytes, holding `entries` files whose
    /// central directory entries are `central` (what [`Self::central`] gave).
    pub fn resume(epoch: i64, offset: u64, entries: u64, central: Vec<u8>) -> Self {
        Self { offset, central, entries, ..Self::new(epoch) }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.offset
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The central directory so far.
    pub fn central(&self) -> &[u8] {
        &self.central
    }

    /// Appends the file `name` holding `data` to `out`.
    pub fn add(&mut self, name: &str, data: &[u8], out: &mut Vec<u8>) {
        let crc = crc32fast::hash(data);
        let size = data.len() as u64;
        let big = size >= MAX32;
        let before = out.len();
        // Local header: sizes in a ZIP64 extra field when they do not fit.
        put32(out, LOCAL);
        put16(out, if big { 45 } else { 20 });
        put16(out, UTF8);
        put16(out, 0); // stored
        put16(out, self.dos_time);
        put16(out, self.dos_date);
        put32(out, crc);
        put32(out, if big { MAX32 as u32 } else { size as u32 });
        put32(out, if big { MAX32 as u32 } else { size as u32 });
        put16(out, name.len() as u16);
        put16(out, if big { 20 } else { 0 });
        out.extend_from_slice(name.as_bytes());
        if big {
            put16(out, 1);
            put16(out, 16);
            put64(out, size);
            put64(out, size);
        }
        out.extend_from_slice(data);

        // Its central directory entry: ZIP64 fields for whatever does not fit, in the order
        // the format gives (uncompressed size, compressed size, offset).
        let far = self.offset >= MAX32;
        let mut extra = Vec::new();
        if big {
            put64(&mut extra, size);
            put64(&mut extra, size);
        }
        if far {
            put64(&mut extra, self.offset);
        }
        let c = &mut self.central;
        put32(c, CENTRAL);
        put16(c, (3 << 8) | 45); // made by: Unix, 4.5
        put16(c, if big || far { 45 } else { 20 });
        put16(c, UTF8);
        put16(c, 0);
        put16(c, self.dos_time);
        put16(c, self.dos_date);
        put32(c, crc);
        put32(c, if big { MAX32 as u32 } else { size as u32 });
        put32(c, if big { MAX32 as u32 } else { size as u32 });
        put16(c, name.len() as u16);
        put16(c, if extra.is_empty() { 0 } else { extra.len() as u16 + 4 });
        put16(c, 0); // comment
        put16(c, 0); // disk
        put16(c, 0); // internal attributes
        put32(c, 0o100_644 << 16); // a regular file, rw-r--r--
        put32(c, if far { MAX32 as u32 } else { self.offset as u32 });
        c.extend_from_slice(name.as_bytes());
        if !extra.is_empty() {
            put16(c, 1);
            put16(c, extra.len() as u16);
            c.extend_from_slice(&extra);
        }
        self.entries += 1;
        self.offset += (out.len() - before) as u64;
    }

    /// Appends the central directory and the end records; the archive is complete.
    pub fn finish(self, out: &mut Vec<u8>) {
        let cd_offset = self.offset;
        let cd_size = self.central.len() as u64;
        out.extend_from_slice(&self.central);
        let zip64 = self.entries >= 0xFFFF || cd_offset >= MAX32 || cd_size >= MAX32;
        if zip64 {
            let end64 = cd_offset + cd_size;
            put32(out, END64);
            put64(out, 44);
            put16(out, (3 << 8) | 45);
            put16(out, 45);
            put32(out, 0);
            put32(out, 0);
            put64(out, self.entries);
            put64(out, self.entries);
            put64(out, cd_size);
            put64(out, cd_offset);
            put32(out, LOCATOR64);
            put32(out, 0);
            put64(out, end64);
            put32(out, 1);
        }
        put32(out, END);
        put16(out, 0);
        put16(out, 0);
        let n = if zip64 { 0xFFFF } else { self.entries as u16 };
        put16(out, n);
        put16(out, n);
        put32(out, if zip64 { MAX32 as u32 } else { cd_size as u32 });
        put32(out, if zip64 { MAX32 as u32 } else { cd_offset as u32 });
        put16(out, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_dates() {
        // 2026-11-23 13:45:30 UTC.
        let (t, d) = dos(1_795_441_530);
        assert_eq!((d >> 9) + 1980, 2026);
        assert_eq!(((d >> 5) & 0xF, d & 0x1F), (11, 23));
        assert_eq!((t >> 11, (t >> 5) & 0x3F, (t & 0x1F) * 2), (13, 45, 30));
        assert_eq!(dos(0), (0, (1 << 5) | 1));
    }

    /// The layout a reader walks: the end record points at the central directory, which
    /// points at each local header, whose data is the file.
    #[test]
    fn entries_can_be_found_from_the_end() {
        let mut out = Vec::new();
        let mut z = ZipWriter::new(1_795_441_530);
        z.add("a.txt", b"hello", &mut out);
        z.add("dir/b.pdf", b"%PDF-1.7 ...", &mut out);
        z.finish(&mut out);
        let end = out.len() - 22;
        assert_eq!(u32::from_le_bytes(out[end..end + 4].try_into().unwrap()), END);
        let entries = u16::from_le_bytes(out[end + 10..end + 12].try_into().unwrap());
        let cd = u32::from_le_bytes(out[end + 16..end + 20].try_into().unwrap()) as usize;
        assert_eq!(entries, 2);
        let mut at = cd;
        let mut names = Vec::new();
        for _ in 0..entries {
            assert_eq!(u32::from_le_bytes(out[at..at + 4].try_into().unwrap()), CENTRAL);
            let crc = u32::from_le_bytes(out[at + 16..at + 20].try_into().unwrap());
            let size = u32::from_le_bytes(out[at + 24..at + 28].try_into().unwrap()) as usize;
            let name_len = u16::from_le_bytes(out[at + 28..at + 30].try_into().unwrap()) as usize;
            let local = u32::from_le_bytes(out[at + 42..at + 46].try_into().unwrap()) as usize;
            let name = std::str::from_utf8(&out[at + 46..at + 46 + name_len]).unwrap().to_string();
            assert_eq!(u32::from_le_bytes(out[local..local + 4].try_into().unwrap()), LOCAL);
            let data_at = local + 30 + name_len;
            assert_eq!(crc32fast::hash(&out[data_at..data_at + size]), crc);
            names.push((name, out[data_at..data_at + size].to_vec()));
            at += 46 + name_len;
        }
        assert_eq!(names[0], ("a.txt".to_string(), b"hello".to_vec()));
        assert_eq!(names[1].1, b"%PDF-1.7 ...".to_vec());
    }

    #[test]
    fn many_entries_get_zip64_end_records() {
        let mut out = Vec::new();
        let mut z = ZipWriter::new(0);
        for i in 0..70_000 {
            z.add(&format!("{i}"), b"", &mut out);
        }
        z.finish(&mut out);
        let end = out.len() - 22;
        assert_eq!(u16::from_le_bytes(out[end + 10..end + 12].try_into().unwrap()), 0xFFFF);
        let locator = end - 20;
        assert_eq!(u32::from_le_bytes(out[locator..locator + 4].try_into().unwrap()), LOCATOR64);
        let end64 = u64::from_le_bytes(out[locator + 8..locator + 16].try_into().unwrap()) as usize;
        assert_eq!(u32::from_le_bytes(out[end64..end64 + 4].try_into().unwrap()), END64);
        assert_eq!(u64::from_le_bytes(out[end64 + 32..end64 + 40].try_into().unwrap()), 70_000);
    }
}
