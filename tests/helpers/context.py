"""A request context shaped like oslo.context's, for tests of what notifications carry.

``to_dict()`` gives every value; ``redacted_copy()`` is a copy without the credentials
(``auth_token``, ``auth_token_info``, ``service_token``), as oslo.context's is. Notifiers
send the redacted copy; they never send a plain dict context.
"""

from __future__ import annotations

from typing import Any

CREDENTIALS = ("auth_token", "auth_token_info", "service_token")


class RequestContext:
    def __init__(self, **values: Any) -> None:
        self.values = values

    def to_dict(self) -> dict[str, Any]:
        return dict(self.values)

    def redacted_copy(self) -> RequestContext:
        return RequestContext(**{k: v for k, v in self.values.items() if k not in CREDENTIALS})
