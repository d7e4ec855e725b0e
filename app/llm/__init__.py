"""The one door to language models (the only package that imports litellm or instructor).

litellm fetches its price map from the internet when imported unless told otherwise; every module
of this package is imported after this file runs, so setting the variable here guarantees it is set
before litellm is ever imported (which only happens lazily, inside ``app.llm.providers``).
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
