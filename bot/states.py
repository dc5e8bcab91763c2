"""FSM states. Photos being collected for a mix are FSM data ("photos", "album", "caption"), not a state."""

from aiogram.fsm.state import State, StatesGroup


class Ask(StatesGroup):
    prompt = State()  # the bot asked for a prompt; data "draft" = the record waiting for it
    instruction = State()  # the bot asked what should change (an edit); data "draft" = the record waiting for it


class Train(StatesGroup):
    # An administrator sends the pictures of a style to train (/train_style); data "training" = {"name", "files"
    # (file ids), "captions", "counter" (the message that counts them), "warned"}.
    pictures = State()
