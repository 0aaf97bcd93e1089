//! Safetensors read as a stream (`weights::stream`): every chunking of a file
//! hands the sink each tensor exactly once with exactly its bytes, holds at
//! most one tensor at a time, and a truncated, overlong or malformed stream
//! ends in an error naming the file and the tensor.

use std::collections::BTreeMap;
use webfm::weights::safetensors::{Dtype, SafeTensors};
use webfm::weights::safetensors_write::{serialize, Entry};
use webfm::weights::stream::SafetensorsStream;

fn file() -> Vec<u8> {
    let a: Vec<u8> = (0..4 * 3 * 5).map(|i| i as u8).collect();
    let b: Vec<u8> = (0..2 * 7).map(|i| (i * 3) as u8).collect();
    let c: Vec<u8> = (0..4 * 64).map(|i| (i * 7) as u8).collect();
    let entries = [
        Entry { name: "a.weight", dtype: Dtype::F32, shape: &[3, 5], bytes: &a },
        Entry { name: "empty", dtype: Dtype::F32, shape: &[0, 4], bytes: &[] },
        Entry { name: "b.half", dtype: Dtype::F16, shape: &[7], bytes: &b },
        Entry { name: "c.codes", dtype: Dtype::U32, shape: &[8, 8], bytes: &c },
    ];
    serialize("t.safetensors", &entries, &BTreeMap::new()).unwrap()
}

/// The tensors a stream handed over: (name, bytes).
type Handed = Vec<(String, Vec<u8>)>;

/// Streams `bytes` in chunks of `size`; returns the (name, bytes) handed over.
fn stream(bytes: &[u8], size: usize) -> (webfm::Result<()>, Handed, usize) {
    let mut s = SafetensorsStream::new("t.safetensors");
    let mut got = Vec::new();
    let mut sink = |t: &webfm::weights::safetensors::TensorInfo, b: &[u8]| {
        got.push((t.name.clone(), b.to_vec()));
        Ok(())
    };
    for chunk in bytes.chunks(size) {
        if let Err(e) = s.push(chunk, &mut sink) {
            return (Err(e), got, s.peak_buffered());
        }
    }
    let peak = s.peak_buffered();
    (s.finish().map(|_| ()), got, peak)
}

#[test]
fn every_chunking_hands_over_each_tensor_once_with_its_bytes() {
    let bytes = file();
    let whole = SafeTensors::parse("t.safetensors", &bytes).unwrap();
    let want: Vec<(String, Vec<u8>)> = whole.tensors().map(|t| (t.name.to_string(), t.bytes.to_vec())).collect();
    let header = 8 + whole.header.header_len as usize;
    for size in [1, 2, 3, 7, 8, 9, 64, 255, bytes.len()] {
        let (r, got, peak) = stream(&bytes, size);
        r.unwrap_or_else(|e| panic!("chunks of {size}: {e}"));
        assert_eq!(got, want, "chunks of {size}");
        // The header, or one tensor: never the whole data area.
        assert!(peak <= header.max(4 * 64), "chunks of {size}: held {peak} bytes");
    }
}

#[test]
fn a_truncated_stream_names_the_first_incomplete_tensor() {
    let bytes = file();
    for cut in [1, 10, 4 * 64 + 1] {
        let (r, got, _) = stream(&bytes[..bytes.len() - cut], 13);
        let e = r.unwrap_err().to_string();
        let want = if cut > 4 * 64 { "b.half" } else { "c.codes" };
        assert!(e.contains("t.safetensors") && e.contains(want) && e.contains("truncated"), "cut {cut}: {e}");
        assert!(got.iter().all(|(n, _)| n != want), "cut {cut}: {want} was handed over");
    }
    let (r, _, _) = stream(&bytes[..5], 2);
    assert!(r.unwrap_err().to_string().contains("header"));
}

#[test]
fn bytes_past_the_last_tensor_and_bad_headers_are_errors() {
    let mut bytes = file();
    bytes.extend([0, 0, 0]);
    let e = stream(&bytes, 100).0.unwrap_err().to_string();
    assert!(e.contains("after the last tensor"), "{e}");
    // A header length past the cap fails as soon as its 8 bytes arrive.
    let mut huge = (1u64 << 40).to_le_bytes().to_vec();
    huge.extend([b'{'; 16]);
    let (r, got, peak) = stream(&huge, 8);
    assert!(r.unwrap_err().to_string().contains("header length"));
    assert!(got.is_empty() && peak <= 16);
    // Malformed JSON.
    let mut bad = 4u64.to_le_bytes().to_vec();
    bad.extend(b"{\"a\"");
    assert!(stream(&bad, 3).0.unwrap_err().to_string().contains("JSON"));
}
