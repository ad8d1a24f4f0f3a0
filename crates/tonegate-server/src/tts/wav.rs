//! WAV files written to a pipe: the writer could not seek back to fill in the sizes, so
//! the header announces more than follows (espeak-ng writes `0x7ffff000`, many HTTP
//! services `0xffffffff`). [`seal`] sets them to what the bytes hold, so the decoder
//! reads to the end instead of reporting a truncated file.

/// Sets the RIFF size and the data chunk's size of `wav` to the bytes it holds (whole
/// sample frames only) where the header announces more. A file that is not RIFF/WAVE,
/// or has no data chunk, is left alone (the decoder says what is wrong with it).
pub(crate) fn seal(wav: &mut [u8]) {
    if wav.len() < 12 || &wav[..4] != b"RIFF" || &wav[8..12] != b"WAVE" {
        return;
    }
    let mut block_align = 1u32;
    let mut pos = 12usize;
    while pos + 8 <= wav.len() {
        let len = read_u32(wav, pos + 4);
        let body = pos + 8;
        match &wav[pos..pos + 4] {
            b"fmt " if body + 14 <= wav.len() => {
                block_align =
                    u32::from(u16::from_le_bytes([wav[body + 12], wav[body + 13]])).max(1);
            }
            b"data" => {
                let held = u32::try_from(wav.len() - body).unwrap_or(u32::MAX);
                if len > held {
                    let whole = held - held % block_align;
                    write_u32(wav, pos + 4, whole);
                    let riff = u32::try_from(body - 8)
                        .unwrap_or(u32::MAX)
                        .saturating_add(whole);
                    write_u32(wav, 4, riff);
                }
                return;
            }
            _ => {}
        }
        let Some(next) = usize::try_from(len)
            .ok()
            .and_then(|len| body.checked_add(len)?.checked_add(len % 2))
        else {
            return;
        };
        pos = next;
    }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn write_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 16-bit mono header announcing `announced` data bytes, then `held` bytes.
    fn streamed(announced: u32, held: usize) -> Vec<u8> {
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&announced.wrapping_add(36).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
        wav.extend_from_slice(&1u16.to_le_bytes()); // mono
        wav.extend_from_slice(&22_050u32.to_le_bytes());
        wav.extend_from_slice(&44_100u32.to_le_bytes());
        wav.extend_from_slice(&2u16.to_le_bytes()); // block align
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&announced.to_le_bytes());
        wav.extend(std::iter::repeat_n(0u8, held));
        wav
    }

    #[test]
    fn streamed_sizes_become_what_is_held() {
        let mut wav = streamed(0x7fff_f000, 1_001);
        seal(&mut wav);
        assert_eq!(read_u32(&wav, 40), 1_000, "whole 2-byte frames only");
        assert_eq!(read_u32(&wav, 4), 36 + 1_000);
        let mut wav = streamed(u32::MAX, 400);
        seal(&mut wav);
        assert_eq!(read_u32(&wav, 40), 400);
        let decoded =
            tonegate_core::player::Prompt::decode_wav(&wav, std::time::Duration::MAX).unwrap();
        assert_eq!(decoded.len_samples(), 200);
    }

    #[test]
    fn honest_and_foreign_files_are_left_alone() {
        let honest = streamed(400, 400);
        let mut sealed = honest.clone();
        seal(&mut sealed);
        assert_eq!(sealed, honest);
        for junk in [
            &b"not a wav"[..],
            b"RIFF\0\0\0\0WAVEfmt \xff\xff\xff\xff",
            b"",
        ] {
            let mut bytes = junk.to_vec();
            seal(&mut bytes);
            assert_eq!(bytes, junk);
        }
    }
}
