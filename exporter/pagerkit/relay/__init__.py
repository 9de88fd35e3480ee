"""The relay: Alertmanager's notifications in, pushes, SMS and calls out; acknowledgements
back in as Alertmanager silences (``pagerkit relay``).

In: Alertmanager's webhooks (``app``: one message per group, tier, member and firing
start), Twilio's and Pushover's callbacks, and a person's tap on a signed link. Through:
``texts`` (what each channel says), ``links`` (signed acknowledgement links),
``providers`` (Twilio, Pushover, chat) and ``vonage``, tried in the routing spec's order
by ``failover``, ``memory`` (what was sent, bounded). Out: the
page at the provider; an acknowledgement of the paged incident (a link's button, a key
press on a call, an SMS reply: ``acks``) as a silence through ``pagerkit.alertmanager``;
``ackpage`` renders what the person sees; ``expiry`` ends the silence when the alert
resolves; ``metrics`` counts it all. Beside each Alertmanager peer stands a relay:
``peers`` tells the others what was sent and polls the heartbeat they heard, and
``heartbeat`` pages the person on call itself when no relay heard the Watchdog for a while.

Nothing imports the relay but the command line. Public modules are listed in ``__all__``.
"""

__all__ = ["app", "config", "metrics"]
