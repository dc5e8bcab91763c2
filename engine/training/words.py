"""A word-level tokenizer for the tiny-shapes kit's language models (its captioner and its translator): one id per
word of the kit's vocabulary, built offline (no hub), saved and loaded as any fast tokenizer (tokenizer.json)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)  # ids 0, 1, 2, 3


def word_tokenizer(words: Iterable[str], end_with_eos: bool = False) -> Any:
    """Lower-cased, split at spaces, an id per word (unknown words: <unk>); `end_with_eos`: every encoded text ends
    with </s>, as a seq2seq encoder's input does (MarianMT's tokenizer does the same)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    # The words as the normalizer below leaves them (lower case, е for ё)
    words = {word.lower().replace("ё", "е") for word in words}
    vocab = {token: i for i, token in enumerate(dict.fromkeys([*SPECIALS, *sorted(words)]))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    # ё is written е as often as not: both read as е
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFC(), normalizers.Lowercase(), normalizers.Replace("ё", "е")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    if end_with_eos:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}", special_tokens=[(EOS, vocab[EOS])]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=64,
        model_input_names=["input_ids", "attention_mask"],  # no token_type_ids: a generate() would refuse them
    )
