"""GSM-7 counting, transliteration and the one-segment fit, as pure functions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from slawatch.render.sms import (
    GSM7_BASIC,
    GSM7_EXTENDED,
    encode_sms,
    fit_sms,
    gsm7_length,
    is_gsm7,
    segments,
    transliterate,
)


def test_gsm7_extension_characters_count_two() -> None:
    assert gsm7_length("a€[]") == 7
    assert is_gsm7("Zürich café ñ @£$¥ {}")
    assert not is_gsm7("ç")  # only capital Ç is in the basic table
    assert segments("x" * 160) == 1 and segments("x" * 161) == 2
    assert segments("€" * 80) == 1 and segments("€" * 81) == 2
    assert segments("я" * 70) == 1 and segments("я" * 71) == 2


@given(
    st.text(
        st.one_of(
            st.sampled_from(GSM7_BASIC + GSM7_EXTENDED), st.characters(codec="utf-8"), st.just("ç")
        ),
        max_size=200,
    )
)
def test_gsm7_counting_is_the_per_character_definition(text: str) -> None:
    """The set and ``str.count`` shortcuts say what the tables say, character by character."""
    assert is_gsm7(text) == all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in text)
    assert gsm7_length(text) == sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)


def test_transliteration_keeps_words_and_drops_emoji() -> None:
    assert transliterate("Щастливи Жени") == ("Shtastlivi Zheni", 0)
    assert transliterate("ΑΘΗΝΑ δίκτυο") == ("AThINA diktyo", 0)
    assert transliterate("“quoted” — ok… 🔥") == ('"quoted" - ok... ', 0)
    text, lost = transliterate("漢字")
    assert text == "??" and lost == 2


def test_encode_prefers_gsm_and_switches_to_ucs2_when_words_would_be_lost() -> None:
    assert encode_sms("Ошибка базы").encoding == "gsm7"
    assert encode_sms("Ошибка базы").text == "Oshibka bazy"
    chinese = encode_sms("Server down: 数据库宕机")
    assert chinese.encoding == "ucs2" and chinese.text == "Server down: 数据库宕机"


def render_line(ctx: Mapping[str, Any]) -> str:
    inc = ctx["incident"]
    return f"ID-1 high due Mon 09:00 EET: {ctx['account']['name']}: {inc['title']}"


def test_fit_cuts_the_title_to_the_longest_prefix_that_fits() -> None:
    ctx = {"incident": {"title": "word " * 100}, "account": {"name": "ACME"}}
    fitted = fit_sms(render_line, ctx)
    assert fitted.segments == 1 and fitted.length <= 160
    assert fitted.text.startswith("ID-1 high due Mon 09:00 EET: ACME: word word")
    assert fitted.text.endswith("...")
    # one more character of title would not fit
    assert fitted.length >= 160 - len("word ") - len("...")


def test_fit_leaves_short_messages_alone() -> None:
    ctx = {"incident": {"title": "short"}, "account": {"name": "ACME"}}
    assert fit_sms(render_line, ctx).text == "ID-1 high due Mon 09:00 EET: ACME: short"
