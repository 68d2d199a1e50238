"""Real local servers that speak the providers' protocols, for sender and end-to-end tests.

* :class:`fakes.slack.FakeSlack`: the Slack Web API methods slawatch uses;
* :class:`fakes.twilio.FakeTwilio`: Twilio's Messages endpoint;
* :class:`fakes.smtp.FakeSmtp`: an aiosmtpd server, plain, STARTTLS or implicit TLS, with or
  without AUTH.

Each binds 127.0.0.1 on a port the OS picks, runs in background threads, records every request
it receives, and can be told to fail the next requests (rate limits, 5xx, timeouts, provider
error codes). Pytest fixtures wrapping them live in :mod:`fakes.fixtures`; use them with
``from fakes.fixtures import fake_slack, fake_twilio, fake_smtp  # noqa: F401`` in a conftest
or test module (``tests/`` is on ``sys.path``).
"""
