//! Reading the text chunks of a PNG file without decoding its pixels and
//! with bounded memory: chunks are walked one by one, image data is skipped,
//! and text larger than `MAX_TEXT` is skipped rather than loaded.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Largest text chunk read (compressed or not), in bytes. Real metadata is
/// a few kilobytes; a ComfyUI workflow can reach a few hundred.
const MAX_TEXT: usize = 8 << 20;
const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// One text chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct TextChunk {
    /// The keyword ("parameters", "prompt", ...).
    pub keyword: String,
    /// The text.
    pub text: String,
}

/// Why a file's text could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    /// Not a PNG at all.
    #[error("not a PNG file")]
    NotPng,
    /// Cut off before any text chunk was found.
    #[error("the file is truncated")]
    Truncated,
    /// Reading failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The text chunks (tEXt, zTXt, iTXt) of the PNG at `path`.
pub fn read_text_chunks(path: &Path) -> Result<Vec<TextChunk>, ChunkError> {
    let file = std::fs::File::open(path)?;
    read_text_chunks_from(std::io::BufReader::new(file))
}

/// The text chunks of a PNG stream. A file cut off after its text chunks
/// still gives them; chunks with a bad CRC, an unknown compression or an
/// oversized text are skipped.
pub fn read_text_chunks_from(mut r: impl Read + Seek) -> Result<Vec<TextChunk>, ChunkError> {
    let mut sig = [0u8; 8];
    if read_full(&mut r, &mut sig)? < 8 || sig != SIGNATURE {
        return Err(ChunkError::NotPng);
    }
    let mut chunks = Vec::new();
    loop {
        let mut head = [0u8; 8];
        let got = read_full(&mut r, &mut head)?;
        if got < 8 {
            return truncated_unless_found(chunks, got == 0);
        }
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = [head[4], head[5], head[6], head[7]];
        if &kind == b"IEND" {
            return Ok(chunks);
        }
        let is_text = matches!(&kind, b"tEXt" | b"zTXt" | b"iTXt");
        if !is_text || len > MAX_TEXT {
            // Skip data + CRC without reading it into memory.
            let here = r.stream_position()?;
            let end = r.seek(SeekFrom::End(0))?;
            let target = here + len as u64 + 4;
            if target > end {
                return truncated_unless_found(chunks, false);
            }
            r.seek(SeekFrom::Start(target))?;
            continue;
        }
        let mut data = vec![0u8; len];
        let mut crc = [0u8; 4];
        if read_full(&mut r, &mut data)? < len || read_full(&mut r, &mut crc)? < 4 {
            return truncated_unless_found(chunks, false);
        }
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&kind);
        hasher.update(&data);
        if hasher.finalize() != u32::from_be_bytes(crc) {
            continue;
        }
        if let Some(chunk) = decode_text(&kind, &data) {
            chunks.push(chunk);
        }
    }
}

fn truncated_unless_found(
    chunks: Vec<TextChunk>,
    clean_eof: bool,
) -> Result<Vec<TextChunk>, ChunkError> {
    if chunks.is_empty() && !clean_eof {
        Err(ChunkError::Truncated)
    } else {
        Ok(chunks)
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn decode_text(kind: &[u8; 4], data: &[u8]) -> Option<TextChunk> {
    let nul = data.iter().position(|&b| b == 0)?;
    let keyword = latin1(&data[..nul]);
    let rest = &data[nul + 1..];
    let text = match kind {
        b"tEXt" => latin1(rest),
        b"zTXt" => {
            let (&method, compressed) = rest.split_first()?;
            (method == 0).then_some(())?;
            latin1(&inflate(compressed)?)
        }
        b"iTXt" => {
            let (&compressed, rest) = rest.split_first()?;
            let (&method, rest) = rest.split_first()?;
            let lang_end = rest.iter().position(|&b| b == 0)?;
            let rest = &rest[lang_end + 1..];
            let tk_end = rest.iter().position(|&b| b == 0)?;
            let body = &rest[tk_end + 1..];
            let bytes = match (compressed, method) {
                (0, _) => body.to_vec(),
                (1, 0) => inflate(body)?,
                _ => return None,
            };
            // iTXt is UTF-8 by definition; repair rather than drop bad bytes.
            String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
        }
        _ => return None,
    };
    Some(TextChunk { keyword, text })
}

/// zlib-inflate at most [`MAX_TEXT`] bytes (a tiny "zip bomb" chunk cannot
/// expand without bound).
fn inflate(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .take(MAX_TEXT as u64 + 1)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() <= MAX_TEXT).then_some(out)
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}
