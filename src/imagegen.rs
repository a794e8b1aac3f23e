//! Generated images for multipart uploads, and a sniffer that checks an upload is
//! a real image.
//!
//! The ContraVento backend decodes every uploaded photo (Pillow) and re-encodes it,
//! so a probe that budgets "photo upload < 2 s for a 5 MB file" has to send a
//! genuinely decodable image of exactly that size. No image crate and no deflate
//! encoder is used (an encoder cannot hit an exact byte size); the checksums come
//! from `crc32fast` and `adler2`, which flate2 links already:
//!
//! * PNGs are 8-bit RGB whose IDAT uses *stored* (uncompressed) deflate blocks, so
//!   the pixels themselves fill the file and the size is a closed formula.
//! * JPEGs are baseline YCbCr 4:2:0 whose entropy-coded data is written directly
//!   from pseudo-random quantised coefficients: any coefficient set decodes, so no
//!   DCT is needed, and the scan grows MCU row by MCU row until the budget is used.
//!
//! Whatever the pixels cannot fill exactly is padded with a private ancillary PNG
//! chunk or JPEG COM segments, which every decoder skips. Pixel counts are capped
//! well below Pillow's decompression-bomb threshold; beyond the cap the extra size
//! is padding.

/// Image formats the generator can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
}

impl ImageFormat {
    /// Media type for a `Content-Type` header or multipart part.
    pub fn mime(&self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
        }
    }

    /// File name extension, without the dot.
    pub fn extension(&self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpg",
        }
    }

    /// Parses `png`, `jpeg` or `jpg`, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("png") {
            Some(ImageFormat::Png)
        } else if s.eq_ignore_ascii_case("jpeg") || s.eq_ignore_ascii_case("jpg") {
            Some(ImageFormat::Jpeg)
        } else {
            None
        }
    }
}

/// What `sniff` learned from a file's headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// A decodable image of exactly `size` bytes; below `min_size(format)` the smallest
/// image (`min_size` bytes) is returned. The same arguments always give the same bytes.
pub fn generate(format: ImageFormat, size: usize, seed: u64) -> Vec<u8> {
    match format {
        ImageFormat::Png => png(size.max(PNG_MIN_SIZE), seed),
        ImageFormat::Jpeg => jpeg(size.max(JPEG_MIN_SIZE), seed),
    }
}

/// Smallest size `generate` can produce for a format; every larger size is exact.
pub fn min_size(format: ImageFormat) -> usize {
    match format {
        ImageFormat::Png => PNG_MIN_SIZE,
        ImageFormat::Jpeg => JPEG_MIN_SIZE,
    }
}

/// Checks the bytes are a structurally valid PNG or JPEG; the error is a short reason.
///
/// Every PNG chunk CRC is verified; JPEG segments are walked up to EOI. Pixel data is
/// not decoded. Never panics and allocates nothing, whatever lengths the input claims.
pub fn sniff(bytes: &[u8]) -> Result<ImageInfo, &'static str> {
    if bytes.starts_with(&PNG_SIGNATURE) {
        sniff_png(bytes)
    } else if bytes.starts_with(&[0xFF, 0xD8]) {
        sniff_jpeg(bytes)
    } else {
        Err("not an image")
    }
}

/// Kept far below Pillow's decompression-bomb warning (~89 Mpx) so a backend never
/// refuses a probe image for its pixel count; larger sizes are padded instead.
const MAX_PIXELS: usize = 40_000_000;

// ---------------------------------------------------------------------------------
// Checksums

// `crc32fast` and `adler2`, both linked already (flate2 decodes response
// bodies with them).

/// CRC-32 (ISO-HDLC) as used by PNG chunks.
fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

#[cfg(test)]
fn adler32(data: &[u8]) -> u32 {
    adler2::adler32_slice(data)
}

/// Triangle wave with period 512 and range 0..=255: gradients that wrap without a seam.
fn tri(v: u32) -> u32 {
    let v = v & 511;
    if v < 256 { v } else { 511 - v }
}

// ---------------------------------------------------------------------------------
// PNG generation

const PNG_SIGNATURE: [u8; 8] = *b"\x89PNG\r\n\x1a\n";
/// Length, type and CRC around every chunk's data.
const CHUNK_OVERHEAD: usize = 12;
const STORED_BLOCK_MAX: usize = 65_535;
/// Block header byte plus LEN and NLEN.
const STORED_BLOCK_OVERHEAD: usize = 5;
/// Signature, IHDR, IDAT framing, zlib header and Adler-32, IEND: everything but
/// the raw scanlines, their stored-block headers and padding.
const PNG_FIXED: usize =
    PNG_SIGNATURE.len() + CHUNK_OVERHEAD + 13 + CHUNK_OVERHEAD + 2 + 4 + CHUNK_OVERHEAD;
/// From here on every size is reachable: 80 is a 1x3 image, 81..=83 are other tiny
/// images, and 84+ can always be a 1x1 image plus a padding chunk. The 1x1 image
/// alone is 72 bytes, but 73, 74 and 79 cannot be made at all.
const PNG_MIN_SIZE: usize = 80;
/// Ancillary (lowercase 1st letter), private (2nd), reserved bit clear (uppercase
/// 3rd), safe to copy (lowercase 4th): decoders must ignore it.
const PNG_PAD_CHUNK: &[u8; 4] = b"paDd";
/// Pillow reads an unknown chunk into memory in one go; keep each piece modest.
const PNG_PAD_CHUNK_MAX: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PngLayout {
    width: usize,
    height: usize,
    /// Zero-length stored blocks: 5 bytes each, closing gaps a padding chunk can't.
    empty_blocks: usize,
    /// Bytes of padding chunks, overhead included: 0 or at least `CHUNK_OVERHEAD`.
    padding: usize,
}

fn png_raw_len(width: usize, height: usize) -> usize {
    height * (1 + 3 * width)
}

fn png_unpadded_len(width: usize, height: usize, empty_blocks: usize) -> usize {
    let raw = png_raw_len(width, height);
    PNG_FIXED + raw + STORED_BLOCK_OVERHEAD * (raw.div_ceil(STORED_BLOCK_MAX) + empty_blocks)
}

/// Tallest image of this width within `size` (0 if none), under the pixel cap.
fn png_max_height(size: usize, width: usize) -> usize {
    let cap = MAX_PIXELS / width;
    let row = 1 + 3 * width;
    // Ignoring block headers overshoots by about 5/65535 of the rows; walk back.
    let mut height = (size.saturating_sub(PNG_FIXED) / row).min(cap);
    while height > 0 && png_unpadded_len(width, height, 0) > size {
        height -= 1;
    }
    height
}

/// Picks dimensions whose encoding is as close to `size` as possible while leaving a
/// gap that padding can fill exactly (0 or at least one chunk overhead).
fn png_layout(size: usize) -> PngLayout {
    let size = size.max(PNG_MIN_SIZE);
    let mut best: Option<PngLayout> = None;
    let mut consider = |width: usize, height: usize, empty_blocks: usize| {
        if width == 0 || height == 0 || width * height > MAX_PIXELS {
            return;
        }
        let len = png_unpadded_len(width, height, empty_blocks);
        let Some(padding) = size.checked_sub(len) else {
            return;
        };
        if (padding == 0 || padding >= CHUNK_OVERHEAD) && best.is_none_or(|b| padding < b.padding) {
            best = Some(PngLayout {
                width,
                height,
                empty_blocks,
                padding,
            });
        }
    };
    if size < 1024 {
        // Near the minimum a row is smaller than a chunk overhead, so search exhaustively.
        for width in 1..=8 {
            for height in 1..=8 {
                for empty in 0..=2 {
                    consider(width, height, empty);
                }
            }
        }
    }
    // 4:3 landscape like a camera photo. One row less always leaves room for a padding
    // chunk once a row is at least 12 bytes, which holds at these widths.
    let pixels = ((size - PNG_FIXED) / 3).min(MAX_PIXELS);
    let w0 = (pixels * 4 / 3).isqrt().max(1);
    for width in [w0, w0 - 1] {
        if width == 0 {
            continue;
        }
        let h_max = png_max_height(size, width);
        for height in h_max.saturating_sub(2)..=h_max {
            for empty in 0..=2 {
                consider(width, height, empty);
            }
        }
    }
    best.expect("every size >= PNG_MIN_SIZE has a layout")
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).expect("PNG chunk fits u32");
    out.extend_from_slice(&len.to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Splits `padding` (0 or >= 12) into padding chunks of random bytes.
fn png_padding(out: &mut Vec<u8>, mut padding: usize, rng: &mut fastrand::Rng) {
    let mut data = Vec::new();
    while padding > 0 {
        let mut take = padding.min(PNG_PAD_CHUNK_MAX + CHUNK_OVERHEAD);
        if (1..CHUNK_OVERHEAD).contains(&(padding - take)) {
            take -= CHUNK_OVERHEAD;
        }
        data.resize(take - CHUNK_OVERHEAD, 0);
        rng.fill(&mut data);
        png_chunk(out, PNG_PAD_CHUNK, &data);
        padding -= take;
    }
}

/// Feeds raw zlib payload into stored deflate blocks, starting a block header every
/// 65535 bytes and flagging the last one.
struct StoredWriter {
    remaining_total: usize,
    remaining_block: usize,
}

impl StoredWriter {
    fn write(&mut self, out: &mut Vec<u8>, mut data: &[u8]) {
        while !data.is_empty() {
            if self.remaining_block == 0 {
                let len = self.remaining_total.min(STORED_BLOCK_MAX);
                let last = len == self.remaining_total;
                out.push(u8::from(last));
                out.extend_from_slice(&(len as u16).to_le_bytes());
                out.extend_from_slice(&(!(len as u16)).to_le_bytes());
                self.remaining_block = len;
            }
            let n = data.len().min(self.remaining_block);
            out.extend_from_slice(&data[..n]);
            self.remaining_block -= n;
            self.remaining_total -= n;
            data = &data[n..];
        }
    }
}

fn png(size: usize, seed: u64) -> Vec<u8> {
    let layout = png_layout(size);
    let PngLayout {
        width,
        height,
        empty_blocks,
        padding,
    } = layout;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&PNG_SIGNATURE);

    let mut ihdr = [0u8; 13];
    ihdr[0..4].copy_from_slice(&(width as u32).to_be_bytes());
    ihdr[4..8].copy_from_slice(&(height as u32).to_be_bytes());
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // truecolour RGB; compression, filter and interlace stay 0
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_padding(&mut out, padding, &mut rng);

    let raw_len = png_raw_len(width, height);
    let deflate_len =
        raw_len + STORED_BLOCK_OVERHEAD * (raw_len.div_ceil(STORED_BLOCK_MAX) + empty_blocks);
    let idat_len = u32::try_from(2 + deflate_len + 4).expect("pixel cap keeps IDAT below 2 GiB");
    out.extend_from_slice(&idat_len.to_be_bytes());
    let idat_start = out.len();
    out.extend_from_slice(b"IDAT");
    // CMF/FLG: deflate, 32 KiB window, no preset dictionary, check bits valid.
    out.extend_from_slice(&[0x78, 0x01]);
    for _ in 0..empty_blocks {
        out.extend_from_slice(&[0x00, 0x00, 0x00, 0xFF, 0xFF]);
    }

    // A wrapping colour gradient (phases from the seed) under per-pixel noise, so the
    // picture looks like something and no two seeds look alike.
    let (phase_r, phase_g, phase_b) = (rng.u32(0..512), rng.u32(0..512), rng.u32(0..512));
    let columns: Vec<u32> = (0..width).map(|x| (x * 512 / width) as u32).collect();
    let mut stored = StoredWriter {
        remaining_total: raw_len,
        remaining_block: 0,
    };
    // Running Adler-32, the zlib trailer.
    let mut adler = adler2::Adler32::new();
    let mut row = vec![0u8; 1 + 3 * width];
    for y in 0..height {
        let vy = (y * 512 / height) as u32;
        // row[0] stays 0: filter type None.
        for (px, &vx) in row[1..].chunks_exact_mut(3).zip(&columns) {
            let noise = rng.u32(..);
            let jitter = |v: u32, shift: u32| {
                let n = ((noise >> shift) & 0x1F) as i32 - 16;
                (tri(v) as i32 + n).clamp(0, 255) as u8
            };
            px[0] = jitter(vx + phase_r, 0);
            px[1] = jitter(vy + phase_g, 8);
            px[2] = jitter(vx / 2 + vy / 2 + phase_b, 16);
        }
        adler.write_slice(&row);
        stored.write(&mut out, &row);
    }
    out.extend_from_slice(&adler.checksum().to_be_bytes());
    let crc = crc32(&out[idat_start..]);
    out.extend_from_slice(&crc.to_be_bytes());
    png_chunk(&mut out, b"IEND", &[]);
    debug_assert_eq!(out.len(), size);
    out
}

// ---------------------------------------------------------------------------------
// JPEG generation

/// JPEG Annex K.1 tables in natural order, scaled to quality 90 below so the random
/// coefficients make fine grain rather than blotches.
const LUMA_QUANT_50: [u8; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const CHROMA_QUANT_50: [u8; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];
/// Natural-order index of each zigzag position; DQT stores tables in zigzag order.
const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// Annex K.3 Huffman tables: code counts per length 1..=16, then symbols.
const DC_LUMA_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_CHROMA_BITS: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const DC_VALUES: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const AC_LUMA_BITS: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D];
const AC_LUMA_VALUES: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
    0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
    0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
    0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];
const AC_CHROMA_BITS: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
const AC_CHROMA_VALUES: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33, 0x52, 0xF0,
    0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18, 0x19, 0x1A, 0x26,
    0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5,
    0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3,
    0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA,
    0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
    0xF9, 0xFA,
];

/// Encoder view of a Huffman table: `(code << 8) | length` per symbol (Annex C).
const fn huffman_codes(bits: &[u8; 16], values: &[u8]) -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut code = 0u32;
    let mut k = 0;
    let mut len = 1;
    while len <= 16 {
        let mut i = 0;
        while i < bits[len - 1] {
            table[values[k] as usize] = (code << 8) | len as u32;
            code += 1;
            k += 1;
            i += 1;
        }
        code <<= 1;
        len += 1;
    }
    table
}

const DC_LUMA_CODES: [u32; 256] = huffman_codes(&DC_LUMA_BITS, &DC_VALUES);
const DC_CHROMA_CODES: [u32; 256] = huffman_codes(&DC_CHROMA_BITS, &DC_VALUES);
const AC_LUMA_CODES: [u32; 256] = huffman_codes(&AC_LUMA_BITS, &AC_LUMA_VALUES);
const AC_CHROMA_CODES: [u32; 256] = huffman_codes(&AC_CHROMA_BITS, &AC_CHROMA_VALUES);

const JPEG_SOI_LEN: usize = 2;
const JPEG_APP0_LEN: usize = 2 + 16;
const JPEG_DQT_LEN: usize = 4 + 2 * 65;
const JPEG_SOF_LEN: usize = 4 + 6 + 3 * 3;
const JPEG_DHT_LEN: usize =
    4 + 2 * (17 + DC_VALUES.len()) + (17 + AC_LUMA_VALUES.len()) + (17 + AC_CHROMA_VALUES.len());
const JPEG_SOS_LEN: usize = 4 + 1 + 2 * 3 + 3;
const JPEG_EOI_LEN: usize = 2;
/// Everything but the entropy-coded data and the padding, with the JFIF APP0.
const JPEG_FIXED: usize = JPEG_SOI_LEN
    + JPEG_APP0_LEN
    + JPEG_DQT_LEN
    + JPEG_SOF_LEN
    + JPEG_DHT_LEN
    + JPEG_SOS_LEN
    + JPEG_EOI_LEN;
/// A flat grey 16x16 MCU codes as 4 bytes: luma blocks "00"+"1010" (DC 0, EOB), chroma "00"+"00".
const JPEG_FLAT_MCU_LEN: usize = 4;
const JPEG_MIN_SIZE: usize = JPEG_FIXED + JPEG_FLAT_MCU_LEN;
/// Smallest COM segment (marker and length, no payload).
const COM_MIN: usize = 4;
const COM_MAX: usize = 2 + 65_535;
/// Measured average for the coefficient statistics in `encode_block` (~3.2 bits per
/// pixel, like a high-quality camera JPEG: 5 MiB is about 13 Mpx); only used to
/// pick a width that makes the result roughly 4:3.
const JPEG_EST_BYTES_PER_MCU: usize = 101;
const JPEG_MAX_MCUS: usize = MAX_PIXELS / 256;
/// Frame dimensions are 16-bit.
const JPEG_MAX_MCU_SIDE: usize = 65_535 / 16;

/// Entropy-coded segment writer with 0xFF byte stuffing.
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    nbits: u32,
}

#[derive(Clone, Copy)]
struct BitWriterMark {
    len: usize,
    acc: u64,
    nbits: u32,
}

impl BitWriter {
    /// Appends `len` (at most 27) low bits of `bits`.
    #[inline(always)]
    fn put(&mut self, bits: u32, len: u32) {
        // Fewer than 32 bits are pending, so 27 more still fit the accumulator.
        self.acc = (self.acc << len) | u64::from(bits & ((1u32 << len) - 1));
        self.nbits += len;
        // Flushing 32 bits at a time keeps the branch predictable: this is the hot
        // loop of a 5 MB JPEG and per-byte branching made it several times slower.
        if self.nbits >= 32 {
            self.nbits -= 32;
            let word = (self.acc >> self.nbits) as u32;
            if has_zero_byte(!word) {
                for byte in word.to_be_bytes() {
                    self.push_stuffed(byte);
                }
            } else {
                self.out.extend_from_slice(&word.to_be_bytes());
            }
        }
    }

    #[inline(always)]
    fn put_code(&mut self, table: &[u32; 256], symbol: usize) {
        let entry = table[symbol];
        self.put(entry >> 8, entry & 0xFF);
    }

    /// A Huffman code and the value bits after it, in one go.
    #[inline(always)]
    fn put_symbol(&mut self, table: &[u32; 256], symbol: usize, value: u32, size: u32) {
        let entry = table[symbol];
        let value = value & ((1u32 << size) - 1);
        self.put(((entry >> 8) << size) | value, (entry & 0xFF) + size);
    }

    fn push_stuffed(&mut self, byte: u8) {
        self.out.push(byte);
        if byte == 0xFF {
            self.out.push(0);
        }
    }

    /// Pending bits as whole bytes, the last one padded with 1-bits as the spec asks.
    fn tail(&self) -> impl Iterator<Item = u8> {
        let pad = (8 - self.nbits % 8) % 8;
        let bytes = (self.nbits + pad) / 8;
        let value = (self.acc << pad) | ((1u64 << pad) - 1);
        (0..bytes).rev().map(move |i| (value >> (8 * i)) as u8)
    }

    fn flushed_len(&self) -> usize {
        self.out.len()
            + self
                .tail()
                .map(|b| if b == 0xFF { 2 } else { 1 })
                .sum::<usize>()
    }

    fn finish(mut self) -> Vec<u8> {
        let tail: Vec<u8> = self.tail().collect();
        for byte in tail {
            self.push_stuffed(byte);
        }
        self.out
    }

    fn mark(&self) -> BitWriterMark {
        BitWriterMark {
            len: self.out.len(),
            acc: self.acc,
            nbits: self.nbits,
        }
    }

    fn reset(&mut self, mark: BitWriterMark) {
        self.out.truncate(mark.len);
        self.acc = mark.acc;
        self.nbits = mark.nbits;
    }
}

/// Whether any byte of `v` is zero (the classic SWAR test, exact).
fn has_zero_byte(v: u32) -> bool {
    v.wrapping_sub(0x0101_0101) & !v & 0x8080_8080 != 0
}

/// JPEG magnitude category and the value bits that follow the Huffman code.
fn category(v: i32) -> (u32, u32) {
    if v == 0 {
        return (0, 0);
    }
    let size = 32 - v.unsigned_abs().leading_zeros();
    let bits = if v < 0 { (v - 1) as u32 } else { v as u32 };
    (size, bits & ((1 << size) - 1))
}

struct Component {
    dc_codes: &'static [u32; 256],
    ac_codes: &'static [u32; 256],
    /// Highest zigzag index that may carry a coefficient; chroma is smoother.
    ac_end: usize,
}

const LUMA: Component = Component {
    dc_codes: &DC_LUMA_CODES,
    ac_codes: &AC_LUMA_CODES,
    ac_end: 44,
};
const CHROMA: Component = Component {
    dc_codes: &DC_CHROMA_CODES,
    ac_codes: &AC_CHROMA_CODES,
    ac_end: 14,
};

fn encode_block(
    w: &mut BitWriter,
    rng: &mut fastrand::Rng,
    comp: &Component,
    dc: i32,
    pred: &mut i32,
) {
    let (size, bits) = category(dc - *pred);
    *pred = dc;
    w.put_symbol(comp.dc_codes, size as usize, bits, size);
    // Symbols and value bits are drawn directly: every (run, size) pair with run <= 15
    // is in the table and every bit pattern is a valid value of its size, so no ZRL and
    // no DCT are needed. Zero runs lengthen with frequency, as in real photos.
    let mut k = 0;
    loop {
        let x = rng.u32(..);
        let run = ((((x & 0xF) as usize) * (k + 4)) >> 5).min(15);
        let pos = k + run + 1;
        if pos > comp.ac_end {
            break;
        }
        let size = if pos < 16 { 3 } else { 1 } + ((x >> 4) & 3);
        w.put_symbol(comp.ac_codes, (run << 4) | size as usize, x >> 8, size);
        k = pos;
    }
    if k < 63 {
        w.put_code(comp.ac_codes, 0x00); // EOB
    }
}

/// Seed-dependent look of the picture: gradient phases per channel.
struct Scene {
    phase_y: u32,
    phase_cb: u32,
    phase_cr: u32,
    /// Blocks per gradient period horizontally and vertically.
    span_x: u32,
    span_y: u32,
}

impl Scene {
    /// Quantised DC for a block whose mean sample is `(tri(level) - 128) * amplitude / 256`
    /// away from mid-grey: DC = 8 * mean offset / q0, with q0 = 3 at quality 90.
    fn dc(level: u32, amplitude: i32) -> i32 {
        (tri(level) as i32 - 128) * amplitude * 8 / (3 * 256)
    }

    fn encode_row(
        &self,
        w: &mut BitWriter,
        rng: &mut fastrand::Rng,
        mcus_wide: usize,
        row: usize,
        preds: &mut [i32; 3],
    ) {
        for mx in 0..mcus_wide {
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let bx = (2 * mx + dx) as u32;
                let by = (2 * row + dy) as u32;
                let level = bx * 512 / self.span_x + by * 256 / self.span_y + self.phase_y;
                encode_block(w, rng, &LUMA, Self::dc(level, 220), &mut preds[0]);
            }
            let (cx, cy) = (mx as u32 * 2, row as u32 * 2);
            let cb = cx * 256 / self.span_x + self.phase_cb;
            let cr = cy * 512 / self.span_y + self.phase_cr;
            encode_block(w, rng, &CHROMA, Self::dc(cb, 120), &mut preds[1]);
            encode_block(w, rng, &CHROMA, Self::dc(cr, 120), &mut preds[2]);
        }
    }
}

/// Encodes as many MCU rows as fit in `budget` bytes; returns the scan and its size
/// in MCUs. Falls back to one flat MCU, which always fits a budget from `JPEG_MIN_SIZE`.
fn jpeg_scan(budget: usize, seed: u64) -> (Vec<u8>, usize, usize) {
    let est_mcus = (budget / JPEG_EST_BYTES_PER_MCU).min(JPEG_MAX_MCUS);
    let mut mcus_wide = (est_mcus * 4 / 3).isqrt().clamp(1, JPEG_MAX_MCU_SIDE);
    loop {
        let mut rng = fastrand::Rng::with_seed(seed);
        let scene = Scene {
            phase_y: rng.u32(0..512),
            phase_cb: rng.u32(0..512),
            phase_cr: rng.u32(0..512),
            span_x: (2 * mcus_wide) as u32,
            span_y: (2 * (mcus_wide * 3 / 4).max(1)) as u32,
        };
        let max_rows = (JPEG_MAX_MCUS / mcus_wide).min(JPEG_MAX_MCU_SIDE);
        let mut w = BitWriter {
            out: Vec::with_capacity(budget.min(64 << 20)),
            acc: 0,
            nbits: 0,
        };
        let mut preds = [0i32; 3];
        let mut rows = 0;
        while rows < max_rows {
            let mark = w.mark();
            scene.encode_row(&mut w, &mut rng, mcus_wide, rows, &mut preds);
            if w.flushed_len() > budget {
                // Nothing is encoded after this, so the DC predictors need no rollback.
                w.reset(mark);
                break;
            }
            rows += 1;
        }
        if rows > 0 {
            return (w.finish(), mcus_wide, rows);
        }
        if mcus_wide == 1 {
            break;
        }
        mcus_wide /= 2;
    }
    // Four luma blocks then two chroma blocks, each DC difference 0 and EOB.
    let mut w = BitWriter {
        out: Vec::new(),
        acc: 0,
        nbits: 0,
    };
    for _ in 0..4 {
        w.put_code(&DC_LUMA_CODES, 0);
        w.put_code(&AC_LUMA_CODES, 0);
    }
    for _ in 0..2 {
        w.put_code(&DC_CHROMA_CODES, 0);
        w.put_code(&AC_CHROMA_CODES, 0);
    }
    let scan = w.finish();
    debug_assert_eq!(scan.len(), JPEG_FLAT_MCU_LEN);
    (scan, 1, 1)
}

fn jpeg_segment(out: &mut Vec<u8>, marker: u8, payload: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    let len = u16::try_from(payload.len() + 2).expect("JPEG segment fits u16");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
}

fn dht_entry(payload: &mut Vec<u8>, class_id: u8, bits: &[u8; 16], values: &[u8]) {
    payload.push(class_id);
    payload.extend_from_slice(bits);
    payload.extend_from_slice(values);
}

fn jpeg(size: usize, seed: u64) -> Vec<u8> {
    let (scan, mcus_wide, mcus_high) = jpeg_scan(size - JPEG_FIXED, seed);
    let mut padding = size - JPEG_FIXED - scan.len();
    // COM segments can't be shorter than 4 bytes; dropping the optional JFIF APP0
    // turns a 1..=3 byte gap into one they can fill.
    let jfif = !(1..COM_MIN).contains(&padding);
    if !jfif {
        padding += JPEG_APP0_LEN;
    }

    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&[0xFF, 0xD8]);
    if jfif {
        // Version 1.01, aspect ratio 1:1, no thumbnail.
        jpeg_segment(
            &mut out,
            0xE0,
            b"JFIF\0\x01\x01\x00\x00\x01\x00\x01\x00\x00",
        );
    }
    let mut dqt = Vec::with_capacity(130);
    for (id, table) in [(0u8, &LUMA_QUANT_50), (1, &CHROMA_QUANT_50)] {
        dqt.push(id);
        // Quality 90 scaling as in libjpeg: q * 20 / 100, rounded, at least 1.
        dqt.extend(
            ZIGZAG
                .iter()
                .map(|&i| ((u32::from(table[usize::from(i)]) * 20 + 50) / 100).max(1) as u8),
        );
    }
    jpeg_segment(&mut out, 0xDB, &dqt);
    let (width, height) = ((mcus_wide * 16) as u16, (mcus_high * 16) as u16);
    let mut sof = vec![8];
    sof.extend_from_slice(&height.to_be_bytes());
    sof.extend_from_slice(&width.to_be_bytes());
    // Y at 2x2 sampling with table 0, Cb and Cr at 1x1 with table 1: 4:2:0.
    sof.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    jpeg_segment(&mut out, 0xC0, &sof);
    let mut dht = Vec::with_capacity(JPEG_DHT_LEN);
    dht_entry(&mut dht, 0x00, &DC_LUMA_BITS, &DC_VALUES);
    dht_entry(&mut dht, 0x10, &AC_LUMA_BITS, &AC_LUMA_VALUES);
    dht_entry(&mut dht, 0x01, &DC_CHROMA_BITS, &DC_VALUES);
    dht_entry(&mut dht, 0x11, &AC_CHROMA_BITS, &AC_CHROMA_VALUES);
    jpeg_segment(&mut out, 0xC4, &dht);

    // A separate stream, so padding bytes do not repeat the coefficient draws.
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x9E37_79B9_7F4A_7C15);
    let mut payload = Vec::new();
    while padding > 0 {
        let mut take = padding.min(COM_MAX);
        if (1..COM_MIN).contains(&(padding - take)) {
            take -= COM_MIN;
        }
        payload.resize(take - COM_MIN, 0);
        rng.fill(&mut payload);
        jpeg_segment(&mut out, 0xFE, &payload);
        padding -= take;
    }

    jpeg_segment(&mut out, 0xDA, &[3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0]);
    out.extend_from_slice(&scan);
    out.extend_from_slice(&[0xFF, 0xD9]);
    debug_assert_eq!(out.len(), size);
    out
}

// ---------------------------------------------------------------------------------
// Sniffing

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn sniff_png(bytes: &[u8]) -> Result<ImageInfo, &'static str> {
    const TRUNCATED: &str = "truncated PNG";
    let mut pos = PNG_SIGNATURE.len();
    let mut header: Option<(u32, u32, u8)> = None;
    let mut seen_plte = false;
    // 0: no IDAT yet, 1: inside the IDAT run, 2: after it (IDATs must be consecutive).
    let mut idat_state = 0;
    loop {
        let len = be32(bytes, pos).ok_or(TRUNCATED)?;
        if len > 0x7FFF_FFFF {
            return Err("bad PNG chunk length");
        }
        let data_start = pos + 8;
        let data_end = data_start.checked_add(len as usize).ok_or(TRUNCATED)?;
        let kind: [u8; 4] = bytes
            .get(pos + 4..data_start)
            .ok_or(TRUNCATED)?
            .try_into()
            .map_err(|_| TRUNCATED)?;
        let crc = be32(bytes, data_end).ok_or(TRUNCATED)?;
        if !kind.iter().all(u8::is_ascii_alphabetic) {
            return Err("bad PNG chunk type");
        }
        if crc32(&bytes[pos + 4..data_end]) != crc {
            return Err("bad PNG CRC");
        }
        let data = &bytes[data_start..data_end];
        if header.is_none() && &kind != b"IHDR" {
            return Err("PNG without IHDR");
        }
        if idat_state == 1 && &kind != b"IDAT" {
            idat_state = 2;
        }
        match &kind {
            b"IHDR" => {
                if header.is_some() || data.len() != 13 {
                    return Err("bad PNG header");
                }
                let width = be32(data, 0).ok_or(TRUNCATED)?;
                let height = be32(data, 4).ok_or(TRUNCATED)?;
                let (depth, colour) = (data[8], data[9]);
                let depth_ok = match colour {
                    0 => matches!(depth, 1 | 2 | 4 | 8 | 16),
                    3 => matches!(depth, 1 | 2 | 4 | 8),
                    2 | 4 | 6 => matches!(depth, 8 | 16),
                    _ => false,
                };
                let dims_ok =
                    (1..=0x7FFF_FFFF).contains(&width) && (1..=0x7FFF_FFFF).contains(&height);
                if !depth_ok || !dims_ok || data[10] != 0 || data[11] != 0 || data[12] > 1 {
                    return Err("bad PNG header");
                }
                header = Some((width, height, colour));
            }
            b"PLTE" => seen_plte = true,
            b"IDAT" => {
                if idat_state == 2 {
                    return Err("non-consecutive PNG IDAT");
                }
                if header.is_some_and(|(_, _, colour)| colour == 3) && !seen_plte {
                    return Err("indexed PNG without PLTE");
                }
                idat_state = 1;
            }
            b"IEND" => {
                if idat_state == 0 {
                    return Err("PNG without IDAT");
                }
                if data_end + 4 != bytes.len() {
                    return Err("data after PNG IEND");
                }
                let (width, height, _) = header.ok_or("PNG without IHDR")?;
                return Ok(ImageInfo {
                    format: ImageFormat::Png,
                    width,
                    height,
                });
            }
            _ if kind[0].is_ascii_uppercase() => return Err("unknown critical PNG chunk"),
            _ => {}
        }
        pos = data_end + 4;
    }
}

fn sniff_jpeg(bytes: &[u8]) -> Result<ImageInfo, &'static str> {
    const TRUNCATED: &str = "truncated JPEG";
    let mut pos = 2;
    let mut frame: Option<(u32, u32)> = None;
    let mut scanned = false;
    loop {
        match bytes.get(pos) {
            None => return Err(TRUNCATED),
            Some(0xFF) => {}
            Some(_) => return Err("bad JPEG marker"),
        }
        // Any number of 0xFF fill bytes may precede a marker.
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *bytes.get(pos).ok_or(TRUNCATED)?;
        pos += 1;
        match marker {
            0xD9 => {
                let (width, height) = frame.ok_or("JPEG without frame header")?;
                if !scanned {
                    return Err("JPEG without scan");
                }
                if pos != bytes.len() {
                    return Err("data after JPEG EOI");
                }
                return Ok(ImageInfo {
                    format: ImageFormat::Jpeg,
                    width,
                    height,
                });
            }
            0x00 | 0xD8 => return Err("bad JPEG marker"),
            // Standalone markers: TEM and restart markers carry no length.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let len = usize::from(be16(bytes, pos).ok_or(TRUNCATED)?);
        if len < 2 {
            return Err("bad JPEG segment length");
        }
        let segment = bytes.get(pos + 2..pos + len).ok_or(TRUNCATED)?;
        pos += len;
        match marker {
            // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                if frame.is_some() {
                    return Err("multiple JPEG frame headers");
                }
                let height = be16(segment, 1).ok_or("bad JPEG frame header")?;
                let width = be16(segment, 3).ok_or("bad JPEG frame header")?;
                let components = usize::from(*segment.get(5).ok_or("bad JPEG frame header")?);
                // Height 0 defers to a DNL marker; nothing we generate or accept uses it.
                if components == 0
                    || segment.len() != 6 + 3 * components
                    || width == 0
                    || height == 0
                {
                    return Err("bad JPEG frame header");
                }
                frame = Some((u32::from(width), u32::from(height)));
            }
            0xDA => {
                if frame.is_none() {
                    return Err("JPEG without frame header");
                }
                let components = usize::from(*segment.first().ok_or("bad JPEG scan header")?);
                if !(1..=4).contains(&components) || segment.len() != 1 + 2 * components + 3 {
                    return Err("bad JPEG scan header");
                }
                // Skip entropy-coded data: 0xFF is either stuffed (FF 00), a restart
                // marker, or the start of the next marker.
                loop {
                    let rest = bytes.get(pos..).ok_or(TRUNCATED)?;
                    let at = rest.iter().position(|&b| b == 0xFF).ok_or(TRUNCATED)?;
                    match rest.get(at + 1) {
                        None => return Err(TRUNCATED),
                        Some(0x00 | 0xD0..=0xD7) => pos += at + 2,
                        Some(_) => {
                            pos += at;
                            break;
                        }
                    }
                }
                scanned = true;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        // The IEND chunk CRC every PNG ends with.
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        // Must agree with the bitwise definition at every length and alignment.
        let bitwise = |data: &[u8]| {
            let mut crc = !0u32;
            for &byte in data {
                crc ^= u32::from(byte);
                for _ in 0..8 {
                    crc = if crc & 1 != 0 {
                        0xEDB8_8320 ^ (crc >> 1)
                    } else {
                        crc >> 1
                    };
                }
            }
            !crc
        };
        let mut rng = fastrand::Rng::with_seed(3);
        let data: Vec<u8> = (0..300).map(|_| rng.u8(..)).collect();
        for start in 0..9 {
            for end in start..data.len() {
                assert_eq!(crc32(&data[start..end]), bitwise(&data[start..end]));
            }
        }
    }

    #[test]
    fn adler32_matches_known_values() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        // Long enough to need several modulo reductions: 0xFF bytes are the worst case.
        let data = vec![0xFF; 100_000];
        let (mut a, mut b) = (1u64, 0u64);
        for &byte in &data {
            a = (a + u64::from(byte)) % 65_521;
            b = (b + a) % 65_521;
        }
        assert_eq!(adler32(&data), ((b << 16) | a) as u32);
        // Split updates must equal one update.
        let mut split = adler2::Adler32::new();
        split.write_slice(&data[..12_345]);
        split.write_slice(&data[12_345..]);
        assert_eq!(split.checksum(), adler32(&data));
    }

    #[test]
    fn jpeg_category_encodes_negative_values_as_ones_complement() {
        assert_eq!(category(0), (0, 0));
        assert_eq!(category(1), (1, 1));
        assert_eq!(category(-1), (1, 0));
        assert_eq!(category(-3), (2, 0));
        assert_eq!(category(5), (3, 5));
        assert_eq!(category(-1023), (10, 0));
        assert_eq!(category(1023), (10, 1023));
    }

    #[test]
    fn huffman_tables_follow_annex_k() {
        let code = |bits: u32, len: u32| (bits << 8) | len;
        // Spot checks against the code lists printed in Annex K.3.
        assert_eq!(DC_LUMA_CODES[0], code(0b00, 2));
        assert_eq!(DC_LUMA_CODES[11], code(0b1_1111_1110, 9));
        assert_eq!(AC_LUMA_CODES[0x00], code(0b1010, 4));
        assert_eq!(AC_LUMA_CODES[0x01], code(0b00, 2));
        assert_eq!(AC_LUMA_CODES[0xFA], code(0b1111_1111_1111_1110, 16));
        assert_eq!(AC_CHROMA_CODES[0x00], code(0b00, 2));
        assert_eq!(DC_CHROMA_CODES[11], code(0b111_1111_1110, 11));
        assert_eq!(JPEG_FIXED, 609);
    }

    #[test]
    fn png_layout_is_exact_for_every_small_size() {
        for size in 0..60_000 {
            check_layout(size);
        }
    }

    #[test]
    fn png_layout_is_exact_around_block_and_cap_boundaries() {
        let mut centres = vec![1 << 20, 5 << 20, 10_000_000];
        centres.extend((1..=40).map(|k| k * (STORED_BLOCK_MAX + 12)));
        centres.extend((1..=40).map(|k| PNG_FIXED + k * STORED_BLOCK_MAX));
        // Around the pixel cap and far beyond it, where padding takes over.
        centres.extend([3 * MAX_PIXELS, 3 * MAX_PIXELS + 50_000, 1 << 31, 3 << 30]);
        for centre in centres {
            for size in centre - 300..centre + 300 {
                check_layout(size);
            }
        }
    }

    fn check_layout(size: usize) {
        let l = png_layout(size);
        let target = size.max(PNG_MIN_SIZE);
        assert_eq!(
            png_unpadded_len(l.width, l.height, l.empty_blocks) + l.padding,
            target,
            "{size}: {l:?}"
        );
        assert!(
            l.padding == 0 || l.padding >= CHUNK_OVERHEAD,
            "{size}: {l:?}"
        );
        assert!(l.width * l.height <= MAX_PIXELS, "{size}: {l:?}");
        if (10_000..=3 * MAX_PIXELS).contains(&target) {
            // Pixels, not padding, fill the file: at most about one row is padding.
            assert!(l.padding <= 2 * (1 + 3 * l.width) + 40, "{size}: {l:?}");
        }
    }

    #[test]
    fn png_min_size_is_the_first_size_from_which_all_are_reachable() {
        // 79 has no layout at all, which is why the minimum is 80 and not 72.
        let reachable = |size: usize| {
            (1..=8).any(|w| {
                (1..=8).any(|h| {
                    (0..=2).any(|e| {
                        let len = png_unpadded_len(w, h, e);
                        len == size || len + CHUNK_OVERHEAD <= size
                    })
                })
            })
        };
        assert!(!reachable(PNG_MIN_SIZE - 1));
        assert!((PNG_MIN_SIZE..PNG_MIN_SIZE + 200).all(reachable));
    }
}
