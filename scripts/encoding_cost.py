"""What embed=model costs: seconds to encode 1,000 of the built-in corpus's documents through
vssbench's own encoder (vssbench/data/embedding.py), on this machine's CPU.

No model can be downloaded here, so the models are made here, shaped as real ones (the speed of
a model does not depend on its weights): a model2vec static model over the corpus's words (the
test model, at a real model's dim), and, where sentence-transformers is installed, a BERT-base
shaped transformer (12 layers, 768 wide, random weights) with a WordPiece vocabulary trained on
the corpus, mean-pooled. Each is timed `--repeats` times; the median and the range are printed.

    uv run python scripts/encoding_cost.py --docs 2000
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir

from vssbench.config import dataset
from vssbench.data import embedding
from vssbench.data.load import document_texts, load_dataset

CONF = Path(__file__).resolve().parent.parent / "conf"


def corpus_texts(n: int, cache_dir: str) -> list[str]:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = dataset.checked(
            compose(config_name="config", overrides=["scale=10k", f"cache_dir={cache_dir}"])
        )
    data = load_dataset(dataset.data_spec(cfg), Path(cache_dir))
    return document_texts(data.corpus_path)[:n]


def static_model(out: Path, texts: list[str], dim: int) -> Path:
    from model2vec import StaticModel
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = sorted({w for t in texts for w in t.split()})
    vocab = {"[UNK]": 0, "[PAD]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    vectors = np.random.default_rng(0).standard_normal((len(vocab), dim)).astype(np.float32)
    StaticModel(vectors=vectors, tokenizer=tokenizer, normalize=True).save_pretrained(str(out))
    return out


def bert_base_model(out: Path, texts: list[str]) -> tuple[Path, float]:
    """A BERT-base shaped sentence-transformers model; also its mean tokens per document."""
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    raw = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    raw.train_from_iterator(texts, vocab_size=30000, show_progress=False)
    tokenizer = BertTokenizerFast(tokenizer_object=raw._tokenizer)
    base = out / "base"
    shape = BertConfig(vocab_size=tokenizer.vocab_size, max_position_embeddings=512)
    BertModel(shape).save_pretrained(base)
    tokenizer.save_pretrained(base)
    transformer = models.Transformer(str(base), max_seq_length=256)
    pooling = models.Pooling(transformer.get_word_embedding_dimension())
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(out / "st"))
    tokens = np.mean([min(len(tokenizer(t)["input_ids"]), 256) for t in texts])
    return out / "st", float(tokens)


def timed(path: Path, texts: list[str], repeats: int) -> list[float]:
    spec = embedding.describe(str(path))
    embedding.encode(spec, texts[:64], "document")  # loaded once (as in a run) and warm
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        embedding.encode(spec, texts, "document")
        seconds.append(time.perf_counter() - start)
    return seconds


def report(name: str, seconds: list[float], n: int) -> None:
    per = [s / n * 1000 for s in seconds]
    print(
        f"{name}: {statistics.median(per):.3f} s per 1,000 documents "
        f"(median of {len(per)}, range {min(per):.3f}-{max(per):.3f}; {n} documents)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000, help="documents encoded per repeat")
    parser.add_argument("--bert-docs", type=int, default=200, help="documents for the BERT model")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", default=".cache/vssbench")
    args = parser.parse_args()
    texts = corpus_texts(args.docs, args.cache_dir)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for dim in (256, 1024):
            path = static_model(root / f"static-{dim}", texts, dim)
            report(f"model2vec static, dim {dim}", timed(path, texts, args.repeats), len(texts))
        try:
            import sentence_transformers  # noqa: F401
        except ImportError:
            print("BERT-base shape: skipped (sentence-transformers is not installed)")
            return
        bert, tokens = bert_base_model(root / "bert", texts)
        few = texts[: args.bert_docs]
        label = f"BERT-base shape, 768 wide, {tokens:.0f} tokens per document on average"
        report(label, timed(bert, few, args.repeats), len(few))


if __name__ == "__main__":
    main()
