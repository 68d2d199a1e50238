"""Rendering and sending benchmark: what one notification costs before and at the provider.

* render: ``Renderer.render`` per channel on the example context (the SMS case includes fitting
  a long title into one segment, which re-renders the template during its binary search);
* send: one message through the real sender to the local fake server (slack_sdk -> FakeSlack,
  twilio -> FakeTwilio, smtplib -> aiosmtpd), wall time including the HTTP/SMTP round trip.

CPU time for rendering (``time.process_time``), wall time for sends; best of ``--repeat``.
Run: ``.venv/bin/python bench/render_bench.py [--messages N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import timedelta
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.slack import FakeSlack
from fakes.smtp import FakeSmtp
from fakes.twilio import FakeTwilio
from slawatch.config.secrets import Secret
from slawatch.render import Renderer, example_context
from slawatch.senders.email import SmtpEmailSender
from slawatch.senders.slack import SlackSender
from slawatch.senders.sms import TwilioSmsSender


def best(repeat: int, func, clock=time.process_time) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = clock()
        func()
        times.append(clock() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    n = args.messages
    renderer = Renderer()
    ctx = example_context("breach")
    long_ctx = example_context("breach")
    long_ctx["incident"] = {**long_ctx["incident"], "title": "Checkout fails " * 40}
    print(f"render ({n} messages, CPU ms per message, best of {args.repeat})")
    for channel, context, label in (
        ("email", ctx, "email (subject+text+html)"),
        ("slack", ctx, "slack (Block Kit JSON)"),
        ("sms", ctx, "sms (fits as is)"),
        ("sms", long_ctx, "sms (600-char title cut)"),
    ):
        seconds = best(
            args.repeat,
            lambda c=channel, x=context: [renderer.render("breach", c, x) for _ in range(n)],
        )
        print(f"  {label:28} {seconds / n * 1000:7.3f}")

    sends = max(20, n // 10)
    print(f"send to local fake servers ({sends} messages, wall ms per message)")
    with FakeSlack() as slack, FakeTwilio() as twilio, FakeSmtp() as smtp:
        slack_sender = SlackSender(Secret(slack.token, "env:T"), base_url=slack.base_url)
        sms_sender = TwilioSmsSender(
            twilio.account_sid, Secret(twilio.auth_token, "env:T"), from_="+15005550006",
            base_url=twilio.url, timeout=timedelta(seconds=5),
        )  # fmt: skip
        email_sender = SmtpEmailSender(
            "127.0.0.1", smtp.port, from_="a@example.com", security="none"
        )
        for label, sender, channel, address in (
            ("slack chat.postMessage", slack_sender, "slack", "#support"),
            ("twilio Messages.json", sms_sender, "sms", "+359881234567"),
            ("smtp (plain, no auth)", email_sender, "email", "lead@example.com"),
        ):
            message = renderer.render("breach", channel, ctx)
            seconds = best(
                args.repeat,
                lambda s=sender, m=message, a=address: [
                    s.send(m, a, thread_ref=None) for _ in range(sends)
                ],
                clock=time.perf_counter,
            )
            print(f"  {label:28} {seconds / sends * 1000:7.2f}")


if __name__ == "__main__":
    main()
