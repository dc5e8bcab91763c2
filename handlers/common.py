"""Steps several handlers end with: show a request's style screen, ask for its prompt, start it, or do what
a rule (bot/rules.py) says comes next. Not a router."""

from __future__ import annotations

from aiogram.fsm.context import FSMContext

from bot import screens
from bot.delivery import Delivery
from bot.records import JobRecord
from bot.requests import Refused, Requests
from bot.rules import Rule, Then
from bot.states import Ask
from bot.telegram import PressedMessage
from locales import Texts


async def show_draft(
    message: PressedMessage,
    record: JobRecord,
    texts: Texts,
    requests: Requests,
    *,
    reply: bool = True,
    notice: str = "",
    default_style: str | None = "",
) -> None:
    """The style screen of `record`, replying to `message` (or below it); `default_style` "" = the server's."""
    text, markup = screens.draft_screen(
        texts,
        record,
        requests.styles,
        requests.default_style if default_style == "" else default_style,
        offer_beautify=requests.can_beautify(),
    )
    send = message.reply if reply else message.answer
    sent = await send(notice + text, reply_markup=markup)
    record.message_id = sent.message_id
    await requests.save(record)


async def ask_for_prompt(message: PressedMessage, record: JobRecord, question: str, state: FSMContext) -> None:
    """Ask for the prompt `record` needs; the answer completes it (handlers/prompt.py, state Ask.prompt)."""
    await state.set_state(Ask.prompt)
    await state.update_data(draft=record.id)
    await message.reply(question)


async def start_request(
    record: JobRecord,
    texts: Texts,
    requests: Requests,
    delivery: Delivery,
    acted_on: PressedMessage,
    *,
    edit: bool = False,
    note: str = "",
) -> None:
    """Submit the request; delivery shows its status (editing `acted_on` with `edit`, else replying to it), after
    `note` if any. A refusal is told in reply to `acted_on`, the message the user acted on."""
    try:
        await requests.submit(record, texts)
    except Refused as refused:
        await delivery.tell(acted_on, record.owner, note + refused.text)
        return
    if edit:
        await delivery.start(record, texts, edit=acted_on.message_id, note=note)
    else:
        await delivery.start(record, texts, reply_to=acted_on, note=note)


async def follow_rule(
    rule: Rule,
    record: JobRecord,
    message: PressedMessage,
    texts: Texts,
    state: FSMContext,
    requests: Requests,
    delivery: Delivery,
    question: str = "",
) -> None:
    """What comes after a rule made `record` from a press under `message`."""
    if rule.then == Then.START:
        await start_request(record, texts, requests, delivery, message)
    elif rule.then == Then.PICK_STYLE:
        await show_draft(message, record, texts, requests, default_style=None)
    elif rule.then == Then.ASK_INSTRUCTION:
        await state.set_state(Ask.instruction)
        await state.update_data(draft=record.id)
        await message.reply(question or texts(rule.question))
    elif record.prompt.strip():  # ASK_PROMPT, with a prompt already (a photo's caption): its style screen
        await show_draft(message, record, texts, requests, reply=False)
    else:
        await ask_for_prompt(message, record, question or texts(rule.question), state)
