"""The relay: Alertmanager's notifications in, pushes, SMS and calls out; acknowledgements
back in as Alertmanager silences (``pagerkit relay``).

In: Alertmanager's webhooks (``app``: one message per group, tier, member and firing
start), Twilio's and Pushover's callbacks, and a person's tap on a signed link. Through:
``texts`` (what each channel says), ``links`` (signed acknowledgement links),
``providers`` (Twilio, Pushover, chat). Out: the page at the provider; an acknowledgement
(a link's button, a key press on a call, an SMS reply: ``app``) as a silence through
``pagerkit.alertmanager``; ``ackpage`` renders what the person sees; ``expiry`` ends the
silence when the alert resolves; ``metrics`` counts it all.

Nothing imports the relay but the command line. Public modules are listed in ``__all__``.
"""

__all__ = ["app", "config", "metrics"]
