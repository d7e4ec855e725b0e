"""The Temporal backend: the same workflow versions run as one generic interpreter workflow on
Temporal (``interpreter``), whose activities are Flowwright's node code (``activities``), with
step rows and events written back to the shared store (``recorder``); ``runtime`` is the
:class:`~engine.runtime.Runtime` that starts and controls them."""
