"""A Qwen2-VL processor for pictures only.

transformers 5's `Qwen2VLProcessor` insists on a video processor, which needs torchvision, which does not load on
CPU-only hosts with the registry's (CUDA) torchvision wheel. Kandinsky 5 and Qwen-Image-Edit only ever give it
pictures: this subclass takes the image processor, the tokenizer and the chat template, and saves and loads like
the original (a model folder's model_index.json names this module and class).
"""

from __future__ import annotations

from typing import Any

from transformers import Qwen2VLProcessor
from transformers.processing_utils import ProcessorMixin


class ImageQwen2VLProcessor(Qwen2VLProcessor):
    def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs: Any):
        self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
        self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)
